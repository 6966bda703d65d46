"""The one cost model: execution and transfer times, and the schedulers' averages."""

from __future__ import annotations

import pytest

from edgeoffload.model import Cluster, Dependency, Link, Node, Problem, Task, TaskGraph


@pytest.fixture
def problem() -> Problem:
    g = TaskGraph(
        [Task("a", 4e9, kind="conv"), Task("b", 2e9), Task("c")],
        [Dependency("a", "b", 1e6), Dependency("b", "c", 3e6)],
    )
    c = Cluster(
        [Node("cpu", 1e9), Node("gpu", 2e9, speed_by_kind={"conv": 8e9}), Node("far", 4e9)],
        {("cpu", "gpu"): Link(1e6, 0.01)},
        default_link=Link(5e5, 0.1),
    )
    return Problem(g, c, exec_times={"c": {"cpu": 1.0, "gpu": 2.0, "far": 3.0}, "b": {"far": 0.25}})


def test_exec_time_is_work_over_speed_for_the_kind(problem: Problem) -> None:
    costs = problem.costs
    assert costs.exec_time("a", "cpu") == 4.0
    assert costs.exec_time("a", "gpu") == 0.5
    assert costs.exec_time("b", "gpu") == 1.0


def test_exec_times_table_overrides_work(problem: Problem) -> None:
    assert problem.costs.exec_time("c", "gpu") == 2.0
    assert problem.costs.exec_time("b", "far") == 0.25
    assert problem.costs.exec_time("b", "cpu") == 2.0


def test_transfer_time_is_latency_plus_data_over_bandwidth(problem: Problem) -> None:
    costs = problem.costs
    assert costs.transfer_time(1e6, "cpu", "gpu") == pytest.approx(0.01 + 1.0)
    assert costs.transfer_time(1e6, "gpu", "far") == pytest.approx(0.1 + 2.0)
    assert costs.transfer_time(1e6, "far", "far") == 0.0


def test_mean_exec_and_mean_transfer(problem: Problem) -> None:
    costs = problem.costs
    assert costs.mean_exec()[0] == pytest.approx((4.0 + 0.5 + 1.0) / 3)
    # latencies of the six ordered pairs: 0.01 twice, 0.1 four times; bandwidths likewise
    mean_latency = (2 * 0.01 + 4 * 0.1) / 6
    mean_inverse_bandwidth = (2 / 1e6 + 4 / 5e5) / 6
    assert costs.mean_transfer()[0] == pytest.approx(mean_latency + 1e6 * mean_inverse_bandwidth)


def test_one_node_has_no_mean_transfer() -> None:
    p = Problem(
        TaskGraph([Task("a", 1.0), Task("b", 1.0)], [Dependency("a", "b", 9.0)]),
        Cluster([Node("x", 1.0)], default_link=Link(1.0, 1.0)),
    )
    assert p.costs.mean_transfer().tolist() == [0.0]


def test_pinned_task_averages_over_its_pin_only() -> None:
    p = Problem(
        TaskGraph([Task("a", 6.0, pinned="slow")]), Cluster([Node("slow", 1.0), Node("fast", 3.0)])
    )
    assert p.costs.mean_exec().tolist() == [6.0]
    assert p.costs.allowed.tolist() == [[True, False]]
