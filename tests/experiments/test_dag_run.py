"""What ``edgeoffload run`` builds without running anything: quotas in the ratio of the
nodes' speeds, conditions as problems, calibrated scenarios."""

from __future__ import annotations

import pytest

from edgeoffload.errors import ModelError
from edgeoffload.experiments.dag_run import (
    calibrated_scenario,
    condition_problem,
    preset_quotas,
    scenario_document,
)
from edgeoffload.model import Cluster, Link, Node
from edgeoffload.workloads.scenarios import load_scenario, scenario_from_dict


class TestQuotas:
    def test_quotas_follow_the_speed_on_the_workload_within_the_budget(self) -> None:
        scenario = load_scenario("dhs-paper")
        problem = condition_problem(scenario, "B-L")
        quotas = preset_quotas(scenario.cluster, [problem], budget=1.6)
        assert sum(quotas.values()) == pytest.approx(1.6)
        assert max(quotas, key=quotas.__getitem__) == "edge"
        assert quotas["cam2"] == pytest.approx(quotas["cam3"])
        # the TX2 runs DNN layers on its GPU (121 GFLOP/s for every DNN kind), the Pi 27
        assert quotas["cam2"] / quotas["cam1"] == pytest.approx(121.36 / 27.18, rel=1e-3)

    def test_the_fastest_node_gets_at_most_cap_cores(self) -> None:
        cluster = Cluster([Node("a", 1e9), Node("b", 4e9)])
        assert preset_quotas(cluster, budget=8.0) == {"a": 0.25, "b": 1.0}
        assert preset_quotas(cluster, budget=1.0) == {"a": 0.2, "b": 0.8}
        with pytest.raises(ModelError, match="budget"):
            preset_quotas(cluster, budget=0.0)

    def test_per_kind_speeds_weigh_by_the_works_kinds(self) -> None:
        from edgeoffload.model import Problem, Task, TaskGraph

        cluster = Cluster([Node("cpu", 1e9), Node("gpu", 1e9, {"conv": 9e9})])
        conv = Problem(TaskGraph([Task("t", 1e9, kind="conv")]), cluster)
        other = Problem(TaskGraph([Task("t", 1e9, kind="fc")]), cluster)
        assert preset_quotas(cluster, [conv], budget=10)["cpu"] == pytest.approx(1 / 9)
        assert preset_quotas(cluster, [other], budget=10)["cpu"] == pytest.approx(1.0)


def test_condition_problem_granularity_and_scale() -> None:
    scenario = load_scenario("dhs-paper")
    layer = condition_problem(scenario, "B-L")
    block = condition_problem(scenario, "B-L", granularity="block", scale=0.5)
    assert len(block.graph) < len(layer.graph)
    total = sum(t.work or 0 for t in layer.graph.tasks)
    assert sum(t.work or 0 for t in block.graph.tasks) == pytest.approx(total / 2)


def test_calibrated_scenario_replaces_speeds_and_links_and_stays_valid() -> None:
    document = scenario_document("dhs-paper")
    nodes = [
        Node(d["id"], 1e9 * (k + 1), {"fc": 5e8}, role="camera")
        for k, d in enumerate(document["devices"])
    ]
    ids = [n.id for n in nodes]
    links = {(a, b): Link(1e8, 0.001) for i, a in enumerate(ids) for b in ids[i + 1 :]}
    out = calibrated_scenario(document, Cluster(nodes, links))
    scenario = scenario_from_dict(out)
    assert scenario.cluster.node("cam3").speed == 3e9
    assert scenario.cluster.node("cam3").speed_for("fc") == 5e8
    assert scenario.cluster.node("edge").role == "edge"  # kept from the document
    assert scenario.cluster.link("cam1", "cam4") == Link(1e8, 0.001)
    assert scenario.network.media == load_scenario("dhs-paper").network.media
    assert document["devices"][0].get("speed") is None  # the input is not changed
    with pytest.raises(ModelError, match="differ"):
        calibrated_scenario(document, Cluster(nodes[:2]))
