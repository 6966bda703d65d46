"""PEFT selects nodes by optimistic EFT, looking past the greedy choice."""

from __future__ import annotations

from edgeoffload.model import Cluster, Dependency, Link, Node, Problem, Task, TaskGraph
from edgeoffload.schedulers import HEFTScheduler, PEFTScheduler


def test_small_example_by_hand() -> None:
    """a on p0 (O_EFT 2+3 < 4+2); b ties and stays on p0; c goes to p1; makespan 5."""
    g = TaskGraph(
        [Task("a"), Task("b"), Task("c")], [Dependency("a", "b", 2.0), Dependency("a", "c", 1.0)]
    )
    c = Cluster([Node("p0", 1.0), Node("p1", 1.0)], default_link=Link(1.0))
    p = Problem(
        g, c, exec_times={"a": {"p0": 2, "p1": 4}, "b": {"p0": 3, "p1": 1}, "c": {"p0": 5, "p1": 2}}
    )
    result = PEFTScheduler().schedule(p)
    assert {a.task: (a.node, a.start, a.finish) for a in result} == {
        "a": ("p0", 0.0, 2.0),
        "b": ("p0", 2.0, 5.0),
        "c": ("p1", 3.0, 5.0),
    }


def test_look_ahead_beats_greedy_earliest_finish() -> None:
    """The first task is a little faster on p0, but its heavy successor only runs well on p1
    and the data between them is large: HEFT goes to p0 greedily, PEFT to p1."""
    g = TaskGraph([Task("a"), Task("b")], [Dependency("a", "b", 10.0)])
    c = Cluster([Node("p0", 1.0), Node("p1", 1.0)], default_link=Link(1.0))
    p = Problem(g, c, exec_times={"a": {"p0": 1, "p1": 2}, "b": {"p0": 50, "p1": 5}})
    heft, peft = HEFTScheduler().schedule(p), PEFTScheduler().schedule(p)
    assert heft.assignment("a").node == "p0" and heft.makespan == 16.0
    assert peft.assignment("a").node == "p1" and peft.makespan == 7.0


def test_paper_example_value_is_stable(paper_problem: Problem) -> None:
    """PEFT on the HEFT paper's example: 85 (a regression value of this implementation)."""
    assert PEFTScheduler().schedule(paper_problem).makespan == 85.0
