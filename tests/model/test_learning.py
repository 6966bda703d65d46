"""The cost model that learns: speeds per node and kind, links fitted from transfers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeoffload.errors import ModelError
from edgeoffload.model import Cluster, Dependency, Link, Node, Problem, Task, TaskGraph
from edgeoffload.model.learning import LearnedCosts
from edgeoffload.schedulers import get_scheduler
from edgeoffload.simulation import simulate

# what the cluster really is, and what calibration said it was
TRUE = Cluster(
    [Node("pi", 1e9, {"conv": 0.8e9}), Node("edge", 3e10, {"conv": 2e10})],
    {("pi", "edge"): Link(bandwidth=5e6, latency=0.004)},
)
CALIBRATED = Cluster(
    [Node("pi", 2e9), Node("edge", 5e10)],
    {("pi", "edge"): Link(bandwidth=2e7, latency=0.001)},
)


def true_seconds(node: str, work: float, kind: str | None) -> float:
    n = TRUE.node(node)
    return work / (n.speed_by_kind.get(kind, n.speed) if kind else n.speed)


def test_learns_the_speeds_the_nodes_show() -> None:
    costs = LearnedCosts(CALIBRATED)
    for work in (1e8, 5e8, 2e9):
        for node in ("pi", "edge"):
            for kind in ("conv", "fc"):
                costs.observe_task(node, work, kind, true_seconds(node, work, kind))
    assert costs.speed("pi", "conv") == pytest.approx(0.8e9)
    assert costs.speed("pi", "fc") == pytest.approx(1e9)
    assert costs.speed("edge", "conv") == pytest.approx(2e10)
    assert costs.speed("pi", "pool") == 2e9  # never measured: the calibrated figure


def test_follows_a_node_that_slows_down() -> None:
    costs = LearnedCosts(CALIBRATED, weight=0.2)
    for _ in range(20):
        costs.observe_task("pi", 1e9, "conv", 1.0)  # 1 GFLOP/s
    for _ in range(30):
        costs.observe_task("pi", 1e9, "conv", 4.0)  # throttled to a quarter
    assert costs.speed("pi", "conv") == pytest.approx(0.25e9, rel=0.01)  # 0.8^30 ≈ 0.1 %


def test_fits_latency_and_bandwidth_from_transfers_of_several_sizes() -> None:
    costs = LearnedCosts(CALIBRATED)
    for data in (1e3, 1e4, 1e5, 1e6, 3e6):
        costs.observe_transfer("pi", "edge", data, 0.004 + data / 5e6)
        costs.observe_transfer("edge", "pi", data, 0.004 + data / 5e6)  # either way round
    link = costs.link("edge", "pi")
    assert link is not None
    assert link.latency == pytest.approx(0.004, rel=1e-6)
    assert link.bandwidth == pytest.approx(5e6, rel=1e-6)


def test_one_size_keeps_the_calibrated_latency_and_fits_the_bandwidth() -> None:
    costs = LearnedCosts(CALIBRATED)
    for _ in range(5):
        costs.observe_transfer("pi", "edge", 1e6, 0.001 + 1e6 / 4e6)
    link = costs.link("pi", "edge")
    assert link is not None
    assert link.latency == 0.001 and link.bandwidth == pytest.approx(4e6)


def test_the_learned_cluster_predicts_what_the_true_one_does() -> None:
    # a small DAG: measure it on the "true" cluster, learn, and the learned cluster's
    # prediction of a schedule equals the true cluster's (no noise: to 1e-6)
    graph = TaskGraph(
        [
            Task("in", 0.0, pinned="pi"),
            Task("a", 4e8, "conv"),
            Task("b", 2e9, "conv"),
            Task("c", 3e8, "fc"),
        ],
        [
            Dependency("in", "a", 2e5),
            Dependency("a", "b", 1e6),
            Dependency("b", "c", 5e4),
            Dependency("a", "c", 3e5),
        ],
    )
    costs = LearnedCosts(CALIBRATED, weight=0.5)
    rng = np.random.default_rng(3)
    for _ in range(6):
        for node in ("pi", "edge"):
            for task in graph.tasks:
                if task.work:
                    work = task.work * rng.uniform(0.5, 2.0)
                    costs.observe_task(node, work, task.kind, true_seconds(node, work, task.kind))
        for data in rng.uniform(1e4, 2e6, size=4):
            costs.observe_transfer("pi", "edge", data, 0.004 + data / 5e6)
    learned = Problem(graph, costs.cluster())
    truth = Problem(graph, TRUE)
    np.testing.assert_allclose(learned.costs.exec, truth.costs.exec, rtol=1e-6)
    np.testing.assert_allclose(learned.costs.latency, truth.costs.latency, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(learned.costs.bandwidth, truth.costs.bandwidth, rtol=1e-6)
    plan = get_scheduler("heft").schedule(learned)
    replay = simulate(truth, plan)
    assert replay.makespan == pytest.approx(plan.makespan, rel=1e-6)
    calibrated = Problem(graph, CALIBRATED).costs.exec[1:]  # before learning: far off
    assert np.max(np.abs(calibrated / truth.costs.exec[1:] - 1)) > 0.5


def test_summary_and_untaught_things() -> None:
    costs = LearnedCosts(CALIBRATED)
    costs.observe_task("pi", 0.0, "conv", 0.01)  # a source: no work, nothing to learn
    costs.observe_task("pi", 1e9, None, 0.5)
    costs.observe_transfer("pi", "pi", 1e6, 0.1)  # one node: no link
    summary = costs.summary()
    assert summary == {
        "speeds": [{"node": "pi", "kind": None, "speed": pytest.approx(2e9), "executions": 1}],
        "links": [],
    }
    assert costs.cluster().node("pi").speed == pytest.approx(2e9)
    assert costs.link("pi", "edge") == CALIBRATED.link("pi", "edge")


@pytest.mark.parametrize(
    ("call", "where"),
    [
        (lambda c: c.observe_task("nope", 1.0, None, 1.0), "node"),
        (lambda c: c.observe_task("pi", -1.0, None, 1.0), "work"),
        (lambda c: c.observe_transfer("pi", "edge", 1.0, math.nan), "seconds"),
        (lambda c: LearnedCosts(CALIBRATED, weight=1.5), "weight"),
        (lambda c: LearnedCosts(CALIBRATED, weight=0.0), "weight"),
    ],
)
def test_bad_measurements_are_refused(call: object, where: str) -> None:
    with pytest.raises(ModelError) as caught:
        call(LearnedCosts(CALIBRATED))  # type: ignore[operator]
    assert caught.value.where == where
