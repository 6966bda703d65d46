"""Properties on random DAGs and clusters (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
from edgeoffload.schedulers import LocalScheduler, PortfolioScheduler, get_scheduler
from edgeoffload.schedulers.ties import tolerance

ALGORITHMS = ("heft", "cpop", "peft", "dhs", "local", "edge")
positive = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False, allow_infinity=False)
non_negative = st.one_of(st.just(0.0), positive)


@st.composite
def problems(draw: st.DrawFn, max_tasks: int = 14, max_nodes: int = 5) -> Problem:
    """A random DAG (edges only from lower to higher index) on a random cluster, with
    optional pins, two requests with arrivals, busy nodes and explicit links."""
    n_nodes = draw(st.integers(1, max_nodes))
    nodes = []
    for k in range(n_nodes):
        role = "edge" if k == n_nodes - 1 and n_nodes > 1 else "camera"
        nodes.append(
            Node(
                f"n{k}",
                draw(positive),
                role=role,
                available_from=draw(st.one_of(st.just(0.0), st.floats(0, 5))),
            )
        )
    links = {}
    for a in range(n_nodes):
        for b in range(a + 1, n_nodes):
            if draw(st.booleans()):
                links[(f"n{a}", f"n{b}")] = Link(draw(positive), draw(st.floats(0, 1)))
    default = draw(st.one_of(st.none(), st.builds(Link, positive, st.floats(0, 1))))
    cluster = Cluster(nodes, links, default)

    n_tasks = draw(st.integers(1, max_tasks))
    use_requests = draw(st.booleans())
    tasks = []
    for i in range(n_tasks):
        pinned = (
            draw(st.one_of(st.none(), st.sampled_from([n.id for n in nodes])))
            if draw(st.integers(0, 5)) == 0
            else None
        )
        request = ("r0" if i < n_tasks // 2 else "r1") if use_requests else None
        tasks.append(Task(f"t{i}", draw(non_negative), pinned=pinned, request=request))
    deps = [
        Dependency(f"t{i}", f"t{j}", draw(non_negative))
        for j in range(n_tasks)
        for i in range(j)
        if draw(st.integers(0, 3)) == 0
    ]
    requests = []
    if use_requests:
        requests = [Request("r0", draw(st.floats(0, 3))), Request("r1", draw(st.floats(0, 3)))]
        used = {t.request for t in tasks}
        requests = [r for r in requests if r.id in used]
    return Problem(TaskGraph(tasks, deps), cluster, requests)


def lower_bound(problem: Problem) -> float:
    """Longest path with each task at its fastest allowed node, no communication, counting
    arrivals and busy nodes: no schedule can finish earlier."""
    graph, costs = problem.graph, problem.costs
    available = np.array([n.available_from for n in problem.cluster.nodes])
    finish = np.zeros(len(graph))
    for i in graph.topological_order:
        ready = max(
            [
                problem.release_time(i),
                *(finish[graph.index(p)] for p in graph.predecessors(graph.tasks[i].id)),
            ]
        )
        options = np.maximum(ready, available) + costs.exec[i]
        finish[i] = options[costs.allowed[i]].min()
    return float(finish.max())


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(problems())
def test_schedules_are_valid_and_above_the_lower_bound(problem: Problem) -> None:
    bound = lower_bound(problem)
    for name in ALGORITHMS:
        scheduler = get_scheduler(name)
        if scheduler.applies_to(problem) is not None:
            continue
        result = scheduler.schedule(problem)
        assert schedule_violations(problem, result) == [], name
        assert result.makespan >= bound * (1 - 1e-12) - 1e-12, name


@SETTINGS
@given(problems())
def test_portfolio_is_never_worse_than_a_member(problem: Problem) -> None:
    members = ("heft", "cpop", "peft", "local")
    best = PortfolioScheduler(members=members).schedule(problem)
    for name in members:
        makespan = get_scheduler(name).schedule(problem).makespan
        assert best.makespan <= makespan + tolerance(makespan)  # ties go to the first member


@SETTINGS
@given(st.data())
def test_local_on_one_node_is_total_work_over_speed(data: st.DataObject) -> None:
    speed = data.draw(positive)
    n = data.draw(st.integers(1, 15))
    tasks = [Task(f"t{i}", data.draw(non_negative)) for i in range(n)]
    deps = [
        Dependency(f"t{i}", f"t{j}", data.draw(non_negative))
        for j in range(n)
        for i in range(j)
        if data.draw(st.booleans())
    ]
    problem = Problem(TaskGraph(tasks, deps), Cluster([Node("only", speed)]))
    total = sum(t.work or 0.0 for t in tasks)
    assert math.isclose(
        LocalScheduler().schedule(problem).makespan, total / speed, rel_tol=1e-9, abs_tol=1e-12
    )
