"""CPOP reproduces the paper's makespan and critical path."""

from __future__ import annotations

from edgeoffload.model import Problem
from edgeoffload.schedulers import CPOPScheduler
from edgeoffload.schedulers.cpop import critical_path
from edgeoffload.schedulers.ranks import downward_rank, upward_rank


def test_paper_example_makespan_is_86(paper_problem: Problem) -> None:
    assert CPOPScheduler().schedule(paper_problem).makespan == 86.0


def test_critical_path_is_t1_t2_t9_t10_on_p2(paper_problem: Problem) -> None:
    priority = upward_rank(paper_problem) + downward_rank(paper_problem)
    path = [paper_problem.graph.tasks[i].id for i in critical_path(paper_problem, priority)]
    assert path == ["T1", "T2", "T9", "T10"]
    result = CPOPScheduler().schedule(paper_problem)
    assert result.details["cpop"]["critical_path_node"] == "P2"
    assert {result.assignment(t).node for t in path} == {"P2"}
