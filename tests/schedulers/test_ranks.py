"""Paper quantities: upward and downward rank, the optimistic cost table."""

from __future__ import annotations

import pytest

from edgeoffload.errors import ModelError
from edgeoffload.model import Cluster, Dependency, Link, Node, Problem, Task, TaskGraph
from edgeoffload.schedulers import HEFTScheduler
from edgeoffload.schedulers.ranks import (
    downward_rank,
    mean_exec,
    optimistic_cost_table,
    upward_rank,
)

# Topcuoglu et al. 2002, the rank_u column printed beside Fig. 2's example
PAPER_UPWARD_RANKS = {
    "T1": 108.0,
    "T2": 77.0,
    "T3": 80.0,
    "T4": 80.0,
    "T5": 69.0,
    "T6": 63.333,
    "T7": 42.667,
    "T8": 35.667,
    "T9": 44.333,
    "T10": 14.667,
}


def test_upward_ranks_of_the_paper_example(paper_problem: Problem) -> None:
    rank = upward_rank(paper_problem)
    for task_id, expected in PAPER_UPWARD_RANKS.items():
        assert rank[paper_problem.graph.index(task_id)] == pytest.approx(expected, abs=1e-3)


def test_entry_priority_is_the_critical_path_length(paper_problem: Problem) -> None:
    """rank_u + rank_d is 108 along the paper's critical path T1, T2, T9, T10."""
    priority = upward_rank(paper_problem) + downward_rank(paper_problem)
    for task_id in ("T1", "T2", "T9", "T10"):
        assert priority[paper_problem.graph.index(task_id)] == pytest.approx(108.0)
    assert priority[paper_problem.graph.index("T3")] < 108.0


def test_downward_rank_by_hand() -> None:
    """a -> b -> c with w̄ = 2, 4, 6 and c̄ = 1, 3: rank_d = 0, 3, 10."""
    g = TaskGraph(
        [Task("a", 2.0), Task("b", 4.0), Task("c", 6.0)],
        [Dependency("a", "b", 1.0), Dependency("b", "c", 3.0)],
    )
    p = Problem(g, Cluster([Node("p", 1.0), Node("q", 1.0)], default_link=Link(1.0)))
    assert downward_rank(p).tolist() == [0.0, 3.0, 10.0]
    assert upward_rank(p).tolist() == [16.0, 13.0, 6.0]


def test_optimistic_cost_table_by_hand() -> None:
    """a -> b (c̄ 2), a -> c (c̄ 1); w(b) = (3, 1), w(c) = (5, 2): OCT(a) = (3, 2)."""
    g = TaskGraph(
        [Task("a"), Task("b"), Task("c")], [Dependency("a", "b", 2.0), Dependency("a", "c", 1.0)]
    )
    c = Cluster([Node("p0", 1.0), Node("p1", 1.0)], default_link=Link(1.0))
    p = Problem(
        g, c, exec_times={"a": {"p0": 2, "p1": 4}, "b": {"p0": 3, "p1": 1}, "c": {"p0": 5, "p1": 2}}
    )
    assert optimistic_cost_table(p).tolist() == [[3.0, 2.0], [0.0, 0.0], [0.0, 0.0]]


def test_optimistic_cost_table_respects_pins() -> None:
    """A successor pinned to p0 can only be reached there: OCT(a, p1) pays c̄."""
    g = TaskGraph([Task("a", 1.0), Task("b", 3.0, pinned="p0")], [Dependency("a", "b", 5.0)])
    p = Problem(g, Cluster([Node("p0", 1.0), Node("p1", 3.0)], default_link=Link(1.0)))
    assert optimistic_cost_table(p).tolist() == [[3.0, 8.0], [0.0, 0.0]]


def test_mean_exec_averages() -> None:
    # one task, work 6, on nodes of speed 1, 2 and 3: times 6, 3 and 2
    problem = Problem(
        TaskGraph([Task("t", 6.0)]), Cluster([Node("a", 1.0), Node("b", 2.0), Node("c", 3.0)])
    )
    assert mean_exec(problem).tolist() == [pytest.approx(11 / 3)]  # the papers' mean
    assert mean_exec(problem, "harmonic").tolist() == [pytest.approx(3.0)]  # at speed 2
    assert mean_exec(problem, "best").tolist() == [2.0]
    with pytest.raises(ValueError, match="average must be one of"):
        mean_exec(problem, "median")


def test_heft_average_is_checked_and_reported() -> None:
    problem = Problem(
        TaskGraph([Task("t", 6.0)]), Cluster([Node("a", 1.0), Node("b", 2.0), Node("c", 3.0)])
    )
    assert HEFTScheduler().schedule(problem).details == {}
    assert HEFTScheduler(average="best").schedule(problem).details == {"heft": {"average": "best"}}
    with pytest.raises(ModelError, match="must be one of mean, harmonic, best"):
        HEFTScheduler(average="median")
