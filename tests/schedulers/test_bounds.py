"""The lower bound: below every scheduler's makespan, equal to it where it must be."""

from __future__ import annotations

import numpy as np
import pytest

from edgeoffload.model import Cluster, Dependency, Link, Node, Problem, Request, Task, TaskGraph
from edgeoffload.schedulers import available_schedulers, get_scheduler, lower_bound
from edgeoffload.schedulers.bounds import critical_path_bound, load_bound, solver_bound
from edgeoffload.workloads.generators import random_cluster, random_layered_dag

HEURISTICS = sorted(set(available_schedulers()) - {"optimal"})


def random_problem(seed: int) -> Problem:
    """Seeded: 1-14 tasks on 1-5 nodes, with pins, two requests, busy nodes and links."""
    rng = np.random.default_rng(seed)
    n_nodes, n_tasks = int(rng.integers(1, 6)), int(rng.integers(1, 15))
    nodes = [
        Node(
            f"n{p}",
            float(10 ** rng.uniform(-1, 2)),
            role="edge" if p == n_nodes - 1 and n_nodes > 1 else "camera",
            available_from=float(rng.choice([0.0, rng.uniform(0.0, 5.0)])),
        )
        for p in range(n_nodes)
    ]
    links = {
        (f"n{a}", f"n{b}"): Link(float(10 ** rng.uniform(-1, 2)), float(rng.uniform(0, 1)))
        for a in range(n_nodes)
        for b in range(a + 1, n_nodes)
        if rng.random() < 0.5
    }
    default = Link(float(10 ** rng.uniform(-1, 2))) if rng.random() < 0.7 else None
    use_requests = bool(rng.random() < 0.5)
    tasks = [
        Task(
            f"t{i}",
            float(rng.choice([0.0, rng.uniform(0.0, 100.0)])),
            pinned=f"n{rng.integers(n_nodes)}" if rng.random() < 0.15 else None,
            request=("r0" if i < n_tasks // 2 else "r1") if use_requests else None,
        )
        for i in range(n_tasks)
    ]
    deps = [
        Dependency(f"t{i}", f"t{j}", float(rng.uniform(0.0, 50.0)))
        for j in range(n_tasks)
        for i in range(j)
        if rng.random() < 0.25
    ]
    used = {t.request for t in tasks}
    requests = [
        r
        for r in (Request("r0", float(rng.uniform(0, 3))), Request("r1", float(rng.uniform(0, 3))))
        if r.id in used
    ]
    return Problem(TaskGraph(tasks, deps), Cluster(nodes, links, default), requests)


def below(bound: float, makespan: float) -> bool:
    return bound <= makespan + 1e-9 * max(1.0, abs(makespan))


@pytest.mark.parametrize("seed", range(150))
def test_the_bound_is_below_every_heuristic(seed: int) -> None:
    problem = random_problem(seed)
    bound = lower_bound(problem)
    for name in HEURISTICS:
        scheduler = get_scheduler(name)
        if scheduler.applies_to(problem) is None:
            assert below(bound, scheduler.schedule(problem).makespan), name


@pytest.mark.parametrize("seed", range(25))
def test_the_bound_is_below_the_optimum(seed: int) -> None:
    pytest.importorskip("ortools")
    problem = random_problem(1000 + seed)
    result = get_scheduler("optimal", time_limit=20).schedule(problem)
    assert below(lower_bound(problem), result.makespan)
    assert below(lower_bound(problem, result), result.makespan)
    assert lower_bound(problem, result) >= lower_bound(problem)


@pytest.mark.parametrize("seed", range(3))
def test_the_bound_is_below_on_large_layered_problems(seed: int) -> None:
    problem = Problem(random_layered_dag(300, seed), random_cluster(8, seed))
    bound = lower_bound(problem)
    assert 0 < bound <= get_scheduler("portfolio").schedule(problem).makespan


def test_a_single_task_is_exactly_its_best_finish() -> None:
    problem = Problem(
        TaskGraph([Task("a", 6.0, request="r")]),
        Cluster([Node("slow", 1.0), Node("fast", 3.0, available_from=1.5)]),
        [Request("r", 0.5)],
    )
    assert lower_bound(problem) == 3.5  # on fast: from 1.5, 2 s
    for name in HEURISTICS:
        if get_scheduler(name).applies_to(problem) is None and name not in ("local", "edge"):
            assert get_scheduler(name).schedule(problem).makespan == 3.5, name


def test_the_load_bound_is_total_work_over_total_speed() -> None:
    """Four independent tasks of 3 FLOP on speeds 1 and 3: 12 / 4 = 3 s, which the fast
    node (three tasks) and the slow one (one task) reach together."""
    problem = Problem(
        TaskGraph([Task(f"t{i}", 3.0) for i in range(4)]), Cluster([Node("a", 1.0), Node("b", 3.0)])
    )
    assert critical_path_bound(problem) == 1.0
    assert load_bound(problem) == pytest.approx(3.0, rel=1e-11)
    assert lower_bound(problem) == pytest.approx(3.0, rel=1e-11)
    if (
        available_schedulers().get("optimal")
        and get_scheduler("optimal").applies_to(problem) is None
    ):
        assert get_scheduler("optimal").schedule(problem).makespan == 3.0


def test_a_busy_node_counts_only_when_it_is_free_in_time() -> None:
    """A node free only at 100 s cannot raise the load bound of work done by 3 s."""
    tasks = TaskGraph([Task(f"t{i}", 1.0) for i in range(3)])
    problem = Problem(tasks, Cluster([Node("a", 1.0), Node("late", 1.0, available_from=100.0)]))
    assert load_bound(problem) == pytest.approx(3.0, rel=1e-11)
    assert get_scheduler("heft").schedule(problem).makespan == 3.0


def test_arrivals_and_pins_raise_the_critical_path() -> None:
    graph = TaskGraph(
        [Task("a", 2.0, pinned="slow", request="r"), Task("b", 4.0, request="r")],
        [Dependency("a", "b", 1e9)],
    )
    problem = Problem(graph, Cluster([Node("slow", 1.0), Node("fast", 4.0)]), [Request("r", 1.0)])
    assert critical_path_bound(problem) == 1.0 + 2.0 + 1.0  # transfers are taken as free


def test_unix_timestamps() -> None:
    base = random_problem(3)
    graph = TaskGraph(
        [Task(t.id, t.work, pinned=t.pinned, request="r") for t in base.graph.tasks],
        base.graph.dependencies,
    )
    problem = Problem(graph, base.cluster, [Request("r", 1.7e9)])
    bound = lower_bound(problem)
    assert bound >= 1.7e9
    for name in ("heft", "peft", "portfolio"):
        assert below(bound, get_scheduler(name).schedule(problem).makespan)


def test_the_solver_bound_is_read_from_the_details() -> None:
    from edgeoffload.model import Schedule

    assert solver_bound(Schedule("x", [], {"optimal": {"bound": 4.5}})) == 4.5
    assert solver_bound(Schedule("x", [])) is None
