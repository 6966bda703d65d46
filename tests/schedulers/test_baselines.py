"""Local and Edge, the papers' baselines, and Single (everything on the best node)."""

from __future__ import annotations

import pytest

from cases import SMALL_GRAPHS, multi_request_problem
from edgeoffload.errors import ModelError
from edgeoffload.model import (
    Cluster,
    Dependency,
    Link,
    Node,
    Problem,
    Task,
    TaskGraph,
    validate_schedule,
)
from edgeoffload.schedulers import EdgeScheduler, LocalScheduler, SingleNodeScheduler


def test_local_runs_each_request_on_its_camera() -> None:
    problem = multi_request_problem()
    result = LocalScheduler().schedule(problem)
    for task in problem.graph.tasks:
        expected = {"r1": "cam1", "r2": "cam2", "r3": "cam1"}[task.request or ""]
        assert result.assignment(task.id).node == expected


def test_local_on_one_node_is_total_work_over_speed() -> None:
    graph = SMALL_GRAPHS["diamond"]()
    problem = Problem(graph, Cluster([Node("only", 2e9)]))
    total = sum(t.work or 0.0 for t in graph.tasks)
    assert LocalScheduler().schedule(problem).makespan == pytest.approx(total / 2e9)


def test_edge_runs_everything_unpinned_on_the_edge_node() -> None:
    problem = multi_request_problem()
    result = EdgeScheduler().schedule(problem)
    for task in problem.graph.tasks:
        expected = task.pinned or "edge"
        assert result.assignment(task.id).node == expected
    # r1's input crosses cam1 -> edge: 2 ms + 600 kB at 10 MB/s
    assert result.assignment("r1/conv1").start == pytest.approx(0.002 + 0.06)


def test_edge_picks_the_fastest_edge_node() -> None:
    graph = SMALL_GRAPHS["chain"]()
    cluster = Cluster(
        [Node("e1", 1e9, role="edge"), Node("e2", 3e9, role="edge"), Node("e3", 3e9, role="edge")]
    )
    result = EdgeScheduler().schedule(Problem(graph, cluster))
    assert {a.node for a in result} == {"e2"}


def test_edge_without_an_edge_node_is_an_input_error(paper_problem: Problem) -> None:
    assert EdgeScheduler().applies_to(paper_problem) is not None
    with pytest.raises(ModelError, match="needs a node with role 'edge'"):
        EdgeScheduler().schedule(paper_problem)


def test_single_puts_everything_on_the_node_that_ends_first() -> None:
    # a chain with heavy data: spreading it pays for every transfer, one node pays none
    graph = TaskGraph(
        [Task("a", 2.0), Task("b", 2.0), Task("c", 2.0)],
        [Dependency("a", "b", 1e3), Dependency("b", "c", 1e3)],
    )
    nodes = [Node("slow", 1.0), Node("fast", 2.0), Node("s", 100.0, role="storage")]
    problem = Problem(graph, Cluster(nodes, default_link=Link(1.0, 0.0)))
    result = SingleNodeScheduler().schedule(problem)
    validate_schedule(problem, result)
    assert {a.node for a in result} == {"fast"}  # never the storage node, fast as it is
    assert result.makespan == 3.0
    assert result.details == {"single": {"node": "fast"}}


def test_single_ties_go_to_the_first_node_and_pins_stay() -> None:
    graph = TaskGraph([Task("src", 0.0, pinned="b"), Task("x", 4.0)], [Dependency("src", "x", 0.0)])
    problem = Problem(graph, Cluster([Node("a", 2.0), Node("b", 2.0)], default_link=Link(1.0, 0.0)))
    result = SingleNodeScheduler().schedule(problem)
    assert result.assignment("src").node == "b"
    assert result.details["single"]["node"] == "a"  # equal makespans: the first node
    only_storage = Problem(graph, Cluster([Node("b", 1.0, role="storage")]))
    assert SingleNodeScheduler().applies_to(only_storage) == "every node is a storage node"
