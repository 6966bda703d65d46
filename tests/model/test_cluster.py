"""Nodes, links and clusters."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeoffload.errors import ModelError
from edgeoffload.model import Cluster, Link, Node, PowerProfile


class TestNode:
    @pytest.mark.parametrize("speed", [0.0, -1.0, math.nan, math.inf])
    def test_speed_must_be_positive_and_finite(self, speed: float) -> None:
        with pytest.raises(ModelError, match=r"node 'n'\.speed"):
            Node("n", speed)

    def test_speed_by_kind_overrides(self) -> None:
        gpu = Node("gpu", 1e9, speed_by_kind={"conv": 1e11})
        assert gpu.speed_for("conv") == 1e11
        assert gpu.speed_for("fc") == 1e9
        assert gpu.speed_for(None) == 1e9

    def test_bad_role(self) -> None:
        with pytest.raises(ModelError, match="role"):
            Node("n", 1.0, role="server")  # type: ignore[arg-type]

    @pytest.mark.parametrize("cores", [0, 1.5, True])
    def test_bad_cores(self, cores: object) -> None:
        with pytest.raises(ModelError, match="cores"):
            Node("n", 1.0, cores=cores)  # type: ignore[arg-type]

    def test_power_profile_checks_numbers(self) -> None:
        with pytest.raises(ModelError, match=r"power\.busy"):
            PowerProfile(1.0, -2.0, 1.0)


class TestCluster:
    def test_links_are_symmetric_and_default_applies_elsewhere(self) -> None:
        c = Cluster(
            [Node("a", 1.0), Node("b", 1.0), Node("c", 1.0)],
            {("a", "b"): Link(10.0, 0.5)},
            default_link=Link(2.0, 0.1),
        )
        assert c.link("b", "a") == Link(10.0, 0.5)
        assert c.link("a", "c") == Link(2.0, 0.1)
        assert c.link("a", "a") is None

    def test_no_default_link_means_instant(self) -> None:
        c = Cluster([Node("a", 1.0), Node("b", 1.0)])
        assert c.link("a", "b") is None
        latency, bandwidth = c.link_matrices()
        assert latency.tolist() == [[0.0, 0.0], [0.0, 0.0]]
        assert np.isinf(bandwidth).all()

    def test_link_matrices(self) -> None:
        c = Cluster([Node("a", 1.0), Node("b", 1.0)], {("b", "a"): Link(4.0, 0.25)})
        latency, bandwidth = c.link_matrices()
        assert latency.tolist() == [[0.0, 0.25], [0.25, 0.0]]
        assert bandwidth[0, 1] == bandwidth[1, 0] == 4.0
        assert np.isinf(bandwidth[0, 0])

    @pytest.mark.parametrize(
        ("links", "message"),
        [
            ({("a", "a"): Link(1.0)}, "linked to itself"),
            ({("a", "z"): Link(1.0)}, "unknown node 'z'"),
            ({("a", "b"): Link(1.0), ("b", "a"): Link(2.0)}, "linked twice"),
        ],
    )
    def test_bad_links(self, links: dict[tuple[str, str], Link], message: str) -> None:
        with pytest.raises(ModelError, match=message):
            Cluster([Node("a", 1.0), Node("b", 1.0)], links)

    def test_no_nodes(self) -> None:
        with pytest.raises(ModelError, match="at least one node"):
            Cluster([])

    def test_duplicate_nodes(self) -> None:
        with pytest.raises(ModelError, match="duplicate node id 'a'"):
            Cluster([Node("a", 1.0), Node("a", 2.0)])

    @pytest.mark.parametrize("bandwidth", [0.0, -1.0, math.inf])
    def test_bad_bandwidth(self, bandwidth: float) -> None:
        with pytest.raises(ModelError, match="bandwidth"):
            Link(bandwidth)

    def test_roles(self) -> None:
        c = Cluster([Node("c1", 1.0, role="camera"), Node("e", 2.0, role="edge")])
        assert [n.id for n in c.nodes_with_role("camera")] == ["c1"]
