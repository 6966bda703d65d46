"""The ``storage`` node role: it runs only the tasks pinned to it. No scheduler places an
unpinned task there, the validator flags one that is, and the simulator's ``rerun``
failure policy never moves an unpinned task there."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from edgeoffload.errors import ModelError
from edgeoffload.model import (
    Assignment,
    Cluster,
    Dependency,
    Link,
    Node,
    Problem,
    Schedule,
    Task,
    TaskGraph,
    schedule_violations,
    validate_schedule,
)
from edgeoffload.schedulers import get_scheduler
from edgeoffload.schedulers.dhs import classify_load, dhs_cameras
from edgeoffload.schedulers.placement import ListSchedule, usable_nodes
from edgeoffload.schedulers.ranks import mean_exec, mean_transfer
from edgeoffload.simulation import NodeFailure, SimConfig, simulate
from edgeoffload.workloads.generators import random_cluster, random_layered_dag

ALGORITHMS = ("heft", "cpop", "peft", "dhs", "portfolio", "edge", "local")


def storage_problem(seed: int) -> Problem:
    """A seeded random DAG on a random cluster plus the fastest node of all, a storage
    node, that a few entry and exit tasks are pinned to."""
    rng = np.random.default_rng(seed)
    graph = random_layered_dag(int(rng.integers(5, 40)), rng)
    base = random_cluster(int(rng.integers(1, 6)), rng)
    nodes = list(base.nodes)
    nodes[0] = replace(nodes[0], role="edge")
    storage = Node("store", 1e13, role="storage")  # far faster: tempting for a scheduler
    position = int(rng.integers(0, len(nodes) + 1))
    nodes.insert(position, storage)
    links = dict(base.links)
    for n in base.nodes:
        links[("store", n.id)] = Link(float(rng.uniform(1e6, 1e9)), 0.001)
    entries, exits = set(graph.entry_tasks()), set(graph.exit_tasks())
    pin_camera = bool(rng.integers(0, 2))
    tasks = []
    for t in graph.tasks:
        if t.id in entries and t.id == graph.tasks[0].id and pin_camera:
            tasks.append(replace(t, pinned=nodes[0 if position else 1].id))
        elif (t.id in entries or t.id in exits) and rng.random() < 0.3:
            tasks.append(replace(t, pinned="store", work=0.0))
        else:
            tasks.append(t)
    cluster = Cluster(nodes, links, base.default_link)
    return Problem(TaskGraph(tasks, graph.dependencies), cluster)


@pytest.mark.parametrize("seed", range(40))
def test_no_scheduler_puts_an_unpinned_task_on_storage(seed: int) -> None:
    problem = storage_problem(seed)
    for name in ALGORITHMS:
        scheduler = get_scheduler(name)
        if scheduler.applies_to(problem) is not None:
            assert name == "local"  # only when a request arrives at the storage node
            continue
        schedule = scheduler.checked_schedule(problem)
        validate_schedule(problem, schedule)
        for a in schedule:
            if problem.graph.task(a.task).pinned is None:
                assert problem.cluster.node(a.node).role != "storage", (name, a)


def test_the_validator_flags_an_unpinned_task_on_storage() -> None:
    graph = TaskGraph([Task("a", 1e9), Task("b", 0.0, pinned="s")], [Dependency("b", "a")])
    cluster = Cluster([Node("n", 1e9), Node("s", 1e9, role="storage")])
    problem = Problem(graph, cluster)
    bad = Schedule("x", [Assignment("b", "s", 0, 0), Assignment("a", "s", 0, 1)])
    violations = schedule_violations(problem, bad)
    assert violations == [
        "task 'a' is not pinned but runs on storage node 's'"
        " (a storage node runs only the tasks pinned to it)"
    ]
    good = Schedule("x", [Assignment("b", "s", 0, 0), Assignment("a", "n", 0, 1)])
    assert schedule_violations(problem, good) == []


def test_only_storage_nodes_is_infeasible() -> None:
    graph = TaskGraph([Task("a", 1e9)])
    problem = Problem(graph, Cluster([Node("s", 1e9, role="storage")]))
    with pytest.raises(Exception, match="may run on no node"):
        get_scheduler("heft").schedule(problem)


def test_dhs_counts_no_storage_node_as_a_camera() -> None:
    # no camera role: the nodes that run requests stand in for cameras, storage aside;
    # counting the idle storage node would halve the load and unbalance it
    graph = TaskGraph([Task("a", 1e9), Task("b", 1e9), Task("in", 0.0, pinned="s")])
    nodes = [Node("n1", 1e9), Node("n2", 1e9), Node("s", 1e12, role="storage")]
    problem = Problem(graph, Cluster(nodes))
    assert [n.id for n in dhs_cameras(problem)] == ["n1", "n2"]
    load = classify_load(problem)
    assert set(load.camera_times) == {"n1", "n2"}
    only_storage = Problem(TaskGraph([Task("a", 0.0, pinned="s")]), Cluster(nodes[2:]))
    assert [n.id for n in dhs_cameras(only_storage)] == ["s"]


def test_list_schedule_removes_storage_from_a_callers_mask() -> None:
    graph = TaskGraph([Task("a", 1e9), Task("b", 0.0, pinned="s")])
    problem = Problem(graph, Cluster([Node("n", 1e9), Node("s", 1e12, role="storage")]))
    everywhere = np.ones((2, 2), dtype=bool)
    state = ListSchedule(problem, everywhere)
    assert state.allowed.tolist() == [[True, False], [True, True]]
    assert usable_nodes(problem).tolist() == [[True, False], [False, True]]


def test_averages_leave_storage_out_for_unpinned_tasks() -> None:
    graph = TaskGraph(
        [Task("in", 0.0, pinned="s"), Task("a", 2e9), Task("b", 4e9)],
        [Dependency("in", "a", 1e6), Dependency("a", "b", 1e6)],
    )
    cluster = Cluster(
        [Node("n", 1e9), Node("m", 2e9), Node("s", 1.0, role="storage")],
        {("n", "s"): Link(1e9), ("m", "s"): Link(1e9)},
        Link(1e6),
    )
    problem = Problem(graph, cluster)
    assert mean_exec(problem).tolist() == [0.0, 1.5, 3.0]  # not (2 + 1 + 2e9) / 3
    # a -> b: only n <-> m, 1 s each way; in -> a: from any node to n or m
    transfer = mean_transfer(problem).tolist()
    assert transfer[1] == pytest.approx(1.0)
    # without a storage node the averages are the cost model's
    plain = Problem(
        TaskGraph([Task("a", 2e9)]), Cluster([Node("n", 1e9), Node("m", 2e9)], None, Link(1e6))
    )
    assert mean_exec(plain).tolist() == plain.costs.mean_exec().tolist()


def test_cpop_critical_path_node_is_never_storage() -> None:
    graph = TaskGraph([Task("a", 1e9), Task("b", 1e9)], [Dependency("a", "b", 10.0)])
    cluster = Cluster([Node("s", 1e15, role="storage"), Node("n", 1e9), Node("m", 2e9)])
    result = get_scheduler("cpop").schedule(Problem(graph, cluster))
    assert result.details["cpop"]["critical_path_node"] == "m"


def test_rerun_after_a_failure_never_moves_an_unpinned_task_to_storage() -> None:
    graph = TaskGraph(
        [Task("in", 0.0, pinned="s"), Task("a", 1e9), Task("b", 1e9)],
        [Dependency("in", "a", 1e3), Dependency("a", "b", 1e3)],
    )
    cluster = Cluster(
        [Node("p", 1e9), Node("s", 1e12, role="storage"), Node("q", 1e8)], None, Link(1e9)
    )
    problem = Problem(graph, cluster)
    schedule = get_scheduler("heft").schedule(problem)
    assert schedule.assignment("a").node == "p"
    config = SimConfig(failures=(NodeFailure("p", 0.5),), failure_policy="rerun")
    result = simulate(problem, schedule, config)
    assert result.completed
    assert result.tasks.get("a").node == "q" and result.tasks.get("b").node == "q"


@pytest.mark.parametrize("name", ALGORITHMS)
def test_a_storage_only_cluster_is_an_input_error_for_every_scheduler(name: str) -> None:
    # an input mistake (exit code 2 on the command line), whatever the scheduler, not a
    # numpy warning or an IndexError from inside one
    graph = TaskGraph([Task("in", 0.0, pinned="s"), Task("a", 1e9)], [Dependency("in", "a", 1.0)])
    problem = Problem(graph, Cluster([Node("s", 1e9, role="storage")]))
    with pytest.raises(ModelError, match="task 'a' may run on no node") as caught:
        get_scheduler(name).checked_schedule(problem)
    assert caught.value.where == "nodes"
