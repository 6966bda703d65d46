"""Ties as documented: times equal but for floating-point rounding tie, and the
documented order (node order, topological position, the portfolio's member order)
decides them, in every list scheduler."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeoffload.model import Cluster, Dependency, Node, Problem, Task, TaskGraph
from edgeoffload.schedulers import PortfolioScheduler, get_scheduler
from edgeoffload.schedulers.ties import first_best, snap, ties, tolerance

LIST_SCHEDULERS = ("heft", "cpop", "peft")


def test_tolerance_is_relative_with_a_floor() -> None:
    assert tolerance(1e4) == pytest.approx(1e-5)
    assert tolerance(0.0) == tolerance(1e-9) == 1e-12
    assert ties(80.0 + 5e-12, 80.0) and ties(80.0 - 5e-12, 80.0)
    assert not ties(80.0 + 1e-6, 80.0)
    assert ties(0.0, 5e-13) and not ties(0.0, 1e-11)


def test_first_best_takes_the_first_of_the_tied() -> None:
    assert first_best([3.0, 2.0 + 1e-12, 2.0]) == 1
    assert first_best([3.0, 2.0 + 1e-6, 2.0]) == 2
    assert first_best([math.inf, 5.0, 5.0]) == 1
    assert first_best([1.0, 5.0 - 2.0**-50, 5.0], largest=True) == 1


def test_snap_merges_ties_and_keeps_the_order() -> None:
    values = np.array([1.0, 2.0 - 2.0**-50, 2.0, 0.5, 2.0 - 1e-6, 0.0, 1e-13])
    merged = snap(values)
    assert merged.tolist() == [1.0, 2.0, 2.0, 0.5, 2.0 - 1e-6, 1e-13, 1e-13]
    # monotone: a larger value never gets a smaller result
    order = np.argsort(values)
    assert (np.diff(merged[order]) >= 0).all()


def test_snap_groups_from_the_largest_without_chaining() -> None:
    # each neighbour ties the next, but the last is 1.5 tolerances below the first
    step = 0.75 * tolerance(1.0)
    values = [1.0, 1.0 - step, 1.0 - 2 * step]
    assert snap(values).tolist() == [1.0, 1.0, 1.0 - 2 * step]


def _one_task(on_first: float, on_others: float, nodes: int = 2) -> Problem:
    """One task; its time on the first node and on each other one given exactly."""
    graph = TaskGraph([Task("t", 1.0)])
    cluster = Cluster([Node(f"p{k}", 1.0) for k in range(nodes)])
    times = {f"p{k}": on_others for k in range(1, nodes)}
    return Problem(graph, cluster, exec_times={"t": {"p0": on_first, **times}})


# 2 nodes: the node-order scan; 13: the numpy path that visits nodes by increasing bound
@pytest.mark.parametrize("nodes", [2, 13])
@pytest.mark.parametrize("name", LIST_SCHEDULERS)
def test_finish_times_equal_but_for_rounding_go_to_the_lower_node(name: str, nodes: int) -> None:
    # 100 s on p0, and 100 s less 5e-12 s elsewhere: exact comparison would not pick p0
    tied = get_scheduler(name).schedule(_one_task(100.0, 100.0 - 5e-12, nodes))
    assert tied.assignment("t").node == "p0"
    # a real difference (1 µs) still wins, and of the equal others the first
    faster = get_scheduler(name).schedule(_one_task(100.0, 100.0 - 1e-6, nodes))
    assert faster.assignment("t").node == "p1"


def _two_chains(second_longer_by: float) -> Problem:
    """a → c and b → d on one node; d is longer than c by ``second_longer_by`` (relative),
    so every rank of b exceeds a's by about as much."""
    w = 3.0
    graph = TaskGraph(
        [Task("a", 1.0), Task("b", 1.0), Task("c", w), Task("d", w * (1 + second_longer_by))],
        [Dependency("a", "c", 0.0), Dependency("b", "d", 0.0)],
    )
    return Problem(graph, Cluster([Node("p", 1.0)]))


@pytest.mark.parametrize("name", LIST_SCHEDULERS)
def test_ranks_equal_but_for_rounding_go_by_topological_position(name: str) -> None:
    # b's ranks exceed a's by about 2^-52 relative (one ulp): a tie, so a (first in the
    # problem's order) goes first on the single node
    tied = get_scheduler(name).schedule(_two_chains(2.0**-52))
    assert tied.assignment("a").start == 0.0
    assert tied.assignment("b").start == 1.0
    # a real difference puts b first
    longer = get_scheduler(name).schedule(_two_chains(1e-6))
    assert longer.assignment("b").start == 0.0


def test_cpop_critical_path_node_ties_by_node_order() -> None:
    # the critical path's summed time is the same on both nodes but for 5e-12 s
    result = get_scheduler("cpop").schedule(_one_task(50.0, 50.0 - 5e-12))
    assert result.details["cpop"]["critical_path_node"] == "p0"


def test_portfolio_ties_go_to_the_member_listed_first() -> None:
    # on one task, every member gives 100 s or 100 s less 5e-12 s: a tie, so the first
    problem = _one_task(100.0, 100.0 - 5e-12)
    result = PortfolioScheduler(members=["local", "heft"]).schedule(problem)
    assert result.details["portfolio"]["chosen"] == "local"
