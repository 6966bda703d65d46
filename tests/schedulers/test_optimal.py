"""The optimal scheduler (CP-SAT): right against brute force, proven on 12 × 4, honest past
its time limit."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from edgeoffload.errors import ModelError
from edgeoffload.model import (
    Cluster,
    Dependency,
    Link,
    Node,
    Problem,
    Request,
    Task,
    TaskGraph,
    schedule_violations,
)
from edgeoffload.schedulers import OptimalScheduler, get_scheduler, lower_bound
from edgeoffload.workloads.generators import random_cluster, random_layered_dag

pytest.importorskip("ortools")


def random_problem(seed: int, n_tasks: int, n_nodes: int) -> Problem:
    """A seeded random DAG with everything the model has: pins, two requests with arrivals,
    busy nodes, per-link and default links, kinds, and execution-time overrides."""
    rng = np.random.default_rng(seed)
    nodes = [
        Node(
            f"n{p}",
            float(rng.uniform(1.0, 4.0)),
            speed_by_kind={"conv": float(rng.uniform(1.0, 8.0))} if p == 0 else {},
            available_from=float(rng.choice([0.0, 0.0, rng.uniform(0.0, 2.0)])),
        )
        for p in range(n_nodes)
    ]
    links = {
        (f"n{a}", f"n{b}"): Link(float(rng.uniform(0.5, 5.0)), float(rng.uniform(0.0, 0.3)))
        for a in range(n_nodes)
        for b in range(a + 1, n_nodes)
        if rng.random() < 0.5
    }
    cluster = Cluster(nodes, links, Link(float(rng.uniform(0.5, 5.0)), 0.1))
    use_requests = bool(rng.random() < 0.6)
    tasks = []
    for i in range(n_tasks):
        pinned = f"n{rng.integers(n_nodes)}" if rng.random() < 0.15 else None
        kind = "conv" if rng.random() < 0.3 else None
        request = ("r0" if i < n_tasks // 2 else "r1") if use_requests else None
        tasks.append(Task(f"t{i}", float(rng.uniform(0.0, 6.0)), kind, pinned, request))
    deps = [
        Dependency(f"t{i}", f"t{j}", float(rng.uniform(0.0, 4.0)))
        for j in range(n_tasks)
        for i in range(j)
        if rng.random() < 0.3
    ]
    requests = [Request("r0", 0.0), Request("r1", float(rng.uniform(0.0, 3.0)))]
    exec_times = {}
    if rng.random() < 0.3:
        exec_times = {"t0": {n.id: float(rng.uniform(0.1, 3.0)) for n in nodes}}
    return Problem(TaskGraph(tasks, deps), cluster, requests if use_requests else (), exec_times)


def brute_force_makespan(problem: Problem) -> float:
    """The minimum makespan over every assignment and every topological order, each task
    as early as possible given the tasks before it on its node (every schedule can be
    left-shifted into one of these without getting longer)."""
    graph, costs = problem.graph, problem.costs
    n, nodes = len(graph), range(len(problem.cluster))
    preds = [[(costs.edge_source[k], k) for k in graph.in_edges(i)] for i in range(n)]
    release = [problem.release_time(i) for i in range(n)]
    available = [node.available_from for node in problem.cluster.nodes]
    data = costs.data.tolist()
    orders = [
        order
        for order in itertools.permutations(range(n))
        if all(order.index(j) < order.index(i) for i in range(n) for j, _ in preds[i])
    ]
    best = np.inf
    choices = [[p for p in nodes if costs.allowed[i, p]] for i in range(n)]
    for assignment in itertools.product(*choices):
        for order in orders:
            free = list(available)
            finish = [0.0] * n
            for i in order:
                p = assignment[i]
                start = max(release[i], free[p])
                for j, k in preds[i]:
                    start = max(
                        start, finish[j] + costs.transfer_time_ix(data[k], assignment[j], p)
                    )
                finish[i] = start + float(costs.exec[i, p])
                free[p] = finish[i]
            best = min(best, max(finish))
    return float(best)


@pytest.mark.parametrize(
    ("seed", "n_tasks", "n_nodes"),
    [(s, 4, 3) for s in range(6)] + [(s, 5, 2) for s in range(6, 10)] + [(10, 6, 2), (11, 5, 3)],
)
def test_the_optimum_is_the_brute_force_one(seed: int, n_tasks: int, n_nodes: int) -> None:
    problem = random_problem(seed, n_tasks, n_nodes)
    result = OptimalScheduler(time_limit=20).schedule(problem)
    assert schedule_violations(problem, result) == []
    report = result.details["optimal"]
    assert report["proven"] is True
    best = brute_force_makespan(problem)
    assert result.makespan == pytest.approx(best, rel=1e-6, abs=1e-9)
    assert report["bound"] <= best * (1 + 1e-12) + 1e-12
    assert result.makespan - report["bound"] <= 1e-6 * report["bound"] + 1e-12


@pytest.mark.parametrize("seed", range(6))
def test_twelve_tasks_on_four_nodes_are_proven(seed: int) -> None:
    """Layered random DAGs (the benchmarks' generator) and the all-features generator."""
    for problem in (
        Problem(random_layered_dag(12, seed), random_cluster(4, seed)),
        random_problem(100 + seed, 12, 4),
    ):
        started = time.perf_counter()
        result = OptimalScheduler(time_limit=30).schedule(problem)
        elapsed = time.perf_counter() - started
        assert schedule_violations(problem, result) == []
        report = result.details["optimal"]
        assert report["proven"] is True, (report, elapsed)
        portfolio = get_scheduler("portfolio").schedule(problem)
        assert result.makespan <= portfolio.makespan
        assert lower_bound(problem, result) == report["bound"] >= lower_bound(problem)


def test_past_the_time_limit_it_returns_its_best_and_a_bound() -> None:
    problem = Problem(random_layered_dag(40, 0), random_cluster(5, 0))
    started = time.perf_counter()
    result = OptimalScheduler(time_limit=1).schedule(problem)
    assert time.perf_counter() - started < 15
    assert schedule_violations(problem, result) == []
    report = result.details["optimal"]
    assert report["proven"] is False
    assert lower_bound(problem) <= report["bound"] < result.makespan
    assert (
        result.makespan <= report["start"] == get_scheduler("portfolio").schedule(problem).makespan
    )
    assert report["gap"] == pytest.approx((result.makespan - report["bound"]) / result.makespan)


def test_a_single_task_is_at_its_bound() -> None:
    problem = Problem(
        TaskGraph([Task("a", 4.0)]),
        Cluster([Node("slow", 1.0), Node("fast", 2.0, available_from=1.0)]),
    )
    result = OptimalScheduler().schedule(problem)
    assert result.makespan == 3.0 == lower_bound(problem)
    assert result.details["optimal"]["proven"] is True


def test_same_input_same_schedule() -> None:
    first = OptimalScheduler().schedule(random_problem(7, 10, 3)).to_json()
    assert OptimalScheduler().schedule(random_problem(7, 10, 3)).to_json() == first


def test_unix_timestamps_move_schedule_and_bound_together() -> None:
    """Arrivals at 1.7e9 s: solved in relative time, the schedule and the bound moved back."""
    base = random_problem(3, 6, 3)
    late = (
        Problem(
            base.graph,
            base.cluster,
            [Request("r0", 1.7e9), Request("r1", 1.7e9 + 2.0)],
            base.exec_times,
        )
        if base.has_requests
        else Problem(
            TaskGraph(
                [Task(t.id, t.work, t.kind, t.pinned, "r0") for t in base.graph.tasks],
                base.graph.dependencies,
            ),
            base.cluster,
            [Request("r0", 1.7e9)],
            base.exec_times,
        )
    )
    result = OptimalScheduler().schedule(late)
    assert schedule_violations(late, result) == []
    report = result.details["optimal"]
    assert report["proven"] is True
    assert 1.7e9 < report["bound"] <= result.makespan
    assert lower_bound(late) <= report["bound"]


def test_parameters_are_checked() -> None:
    with pytest.raises(ModelError, match="time_limit"):
        get_scheduler("optimal", time_limit=0)
    with pytest.raises(ModelError, match="workers"):
        get_scheduler("optimal", workers=0)
    with pytest.raises(ModelError, match="max_tasks"):
        get_scheduler("optimal", max_tasks="many")


def test_too_large_is_refused_in_one_line_naming_the_parameter() -> None:
    problem = Problem(random_layered_dag(61, 0), random_cluster(3, 0))
    reason = OptimalScheduler().applies_to(problem)
    assert reason is not None and "\n" not in reason
    assert "max_tasks=60" in reason and "-p max_tasks=61" in reason
    with pytest.raises(ModelError, match="max_tasks"):
        OptimalScheduler().checked_schedule(problem, "optimal")
    assert OptimalScheduler(max_tasks=61).applies_to(problem) is None


def test_a_storage_node_runs_only_its_pinned_tasks() -> None:
    """The heuristics never put an unpinned task on a storage node; nor does the optimum,
    although the storage node is the fastest."""
    cluster = Cluster(
        [Node("store", 100.0, role="storage"), Node("a", 1.0), Node("b", 2.0)],
        default_link=Link(10.0),
    )
    graph = TaskGraph(
        [
            Task("in", 0.0, pinned="store"),
            Task("x", 4.0),
            Task("y", 2.0),
            Task("out", 0.0, pinned="store"),
        ],
        [
            Dependency("in", "x", 5.0),
            Dependency("in", "y", 5.0),
            Dependency("x", "out", 1.0),
            Dependency("y", "out", 1.0),
        ],
    )
    problem = Problem(graph, cluster)
    result = OptimalScheduler().schedule(problem)
    assert schedule_violations(problem, result) == []
    assert {result.assignment(t).node for t in ("x", "y")} <= {"a", "b"}
    assert result.details["optimal"]["proven"] is True
