"""Local and Edge, the papers' baselines."""

from __future__ import annotations

import pytest

from cases import SMALL_GRAPHS, multi_request_problem
from edgeoffload.errors import ModelError
from edgeoffload.model import Cluster, Node, Problem
from edgeoffload.schedulers import EdgeScheduler, LocalScheduler


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
