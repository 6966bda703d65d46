"""HEFT reproduces the paper's schedule of its Fig. 2 example."""

from __future__ import annotations

from edgeoffload.model import Problem
from edgeoffload.schedulers import HEFTScheduler

# Topcuoglu et al. 2002, Fig. 4a: the HEFT schedule of the sample DAG (makespan 80)
PAPER_SCHEDULE = {
    "T1": ("P3", 0, 9),
    "T3": ("P3", 9, 28),
    "T4": ("P2", 18, 26),
    "T2": ("P1", 27, 40),
    "T5": ("P3", 28, 38),
    "T6": ("P2", 26, 42),
    "T9": ("P2", 56, 68),
    "T7": ("P3", 38, 49),
    "T8": ("P1", 57, 62),
    "T10": ("P2", 73, 80),
}


def test_paper_example_makespan_is_80(paper_problem: Problem) -> None:
    assert HEFTScheduler().schedule(paper_problem).makespan == 80.0


def test_paper_example_schedule_matches_the_figure(paper_problem: Problem) -> None:
    result = HEFTScheduler().schedule(paper_problem)
    got = {a.task: (a.node, a.start, a.finish) for a in result}
    assert got == PAPER_SCHEDULE


def test_insertion_fills_an_idle_gap() -> None:
    """y waits on p for x's data from q until t = 8; z, placed after y, fits in p's gap at 0."""
    from edgeoffload.model import Cluster, Dependency, Link, Node, Task, TaskGraph

    g = TaskGraph(
        [Task("x", pinned="q"), Task("y", pinned="p"), Task("z")], [Dependency("x", "y", 3.0)]
    )
    p = Problem(
        g,
        Cluster([Node("p", 1.0), Node("q", 1.0)], default_link=Link(1.0)),
        exec_times={"x": {"p": 5, "q": 5}, "y": {"p": 2, "q": 2}, "z": {"p": 1, "q": 2}},
    )
    result = HEFTScheduler().schedule(p)
    assert result.assignment("y").start == 8.0
    assert (result.assignment("z").node, result.assignment("z").start) == ("p", 0.0)
