"""Topology files and link figures (no namespaces needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeoffload.errors import ModelError, ProblemFileError
from edgeoffload.netem import (
    EmulatedNetwork,
    LinkSpec,
    camera_cluster_topology,
    load_topology,
    topology_from_dict,
)
from edgeoffload.netem.topology import parse_bandwidth, parse_duration, parse_loss
from edgeoffload.workloads.devices import link_preset

REPO = Path(__file__).resolve().parents[2]


class TestUnits:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param("50Mbit/s", 6.25e6, id="mbit/s"),
            pytest.param("50mbit", 6.25e6, id="tc-style"),
            pytest.param("1Gbit/s", 1.25e8, id="gbit"),
            pytest.param("6MB/s", 6e6, id="bytes"),
            pytest.param(1000, 1000.0, id="number-is-bytes/s"),
            pytest.param(None, None, id="none-unlimited"),
            pytest.param("unlimited", None, id="unlimited"),
        ],
    )
    def test_bandwidth(self, text: object, expected: float | None) -> None:
        """Bandwidths read in bytes/s, with decimal bit and byte units."""
        assert parse_bandwidth(text) == expected

    @pytest.mark.parametrize("bad", ["50", "50mbps", "-1Mbit/s", "0", True, [1]])
    def test_bandwidth_errors(self, bad: object) -> None:
        """Unitless strings, ambiguous units and non-positive rates are refused."""
        with pytest.raises(ModelError):
            parse_bandwidth(bad)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [("20ms", 0.02), ("1.5 s", 1.5), ("300us", 3e-4), (0.004, 0.004), (0, 0.0)],
    )
    def test_duration(self, text: object, expected: float) -> None:
        """Durations read in seconds."""
        assert parse_duration(text) == pytest.approx(expected)

    @pytest.mark.parametrize("bad", ["20", "20 min", -0.1, 61, "x"])
    def test_duration_errors(self, bad: object) -> None:
        """Unitless strings, unknown units and values outside 0-60 s are refused."""
        with pytest.raises(ModelError):
            parse_duration(bad)

    def test_loss(self) -> None:
        """Loss is a probability or a percentage."""
        assert parse_loss("2%") == pytest.approx(0.02)
        assert parse_loss(0.1) == 0.1

    @pytest.mark.parametrize("bad", [1, 5, "5", "100%", -0.1])
    def test_loss_errors(self, bad: object) -> None:
        """A loss of 1 or more, or a bare number string, is refused (5 probably meant 5 %)."""
        with pytest.raises(ModelError):
            parse_loss(bad)


class TestTopologyFile:
    def test_shipped_example(self) -> None:
        """deploy/netem/camera-cluster.yaml reads, with the client on 20 ms, 50 Mbit/s."""
        topo = load_topology(REPO / "deploy" / "netem" / "camera-cluster.yaml")
        assert [h.name for h in topo.hosts] == ["edge", "cam1", "cam2", "cam3", "client"]
        client = topo.host("client").link
        assert (client.bandwidth, client.delay) == (6.25e6, 0.02)
        wifi = link_preset("wifi-ac")
        cam1 = topo.host("cam1").link
        assert (cam1.bandwidth, cam1.delay, cam1.jitter) == (wifi.bandwidth, wifi.latency, 5e-4)
        assert topo.host("cam3").link.loss == pytest.approx(0.002)

    def test_addresses_assigned_in_order_around_explicit_ones(self) -> None:
        """Hosts without an address take the subnet's free addresses in order."""
        topo = topology_from_dict(
            {"name": "x", "hosts": {"a": None, "b": {"address": "10.77.0.1"}, "c": {}}}
        )
        assert [h.address for h in topo.hosts] == ["10.77.0.2", "10.77.0.1", "10.77.0.3"]

    def test_preset_then_override(self) -> None:
        """Keys next to a preset override its figures."""
        topo = topology_from_dict(
            {"name": "x", "hosts": {"a": {"link": {"preset": "wifi-n", "delay": "10ms"}}}}
        )
        link = topo.host("a").link
        assert link.bandwidth == link_preset("wifi-n").bandwidth
        assert link.delay == 0.01

    @pytest.mark.parametrize(
        ("data", "where"),
        [
            pytest.param({"hosts": {"a": {}}}, "name", id="no-name"),
            pytest.param({"name": "Bad_Name", "hosts": {"a": {}}}, "name", id="bad-name"),
            pytest.param({"name": "x", "hosts": {}}, "hosts", id="no-hosts"),
            pytest.param({"name": "x", "hosts": {"hub": {}}}, "hosts.hub", id="reserved"),
            pytest.param({"name": "x", "hosts": {"a": {"colour": 1}}}, "hosts.a", id="key"),
            pytest.param(
                {"name": "x", "hosts": {"a": {"link": {"delay": "x"}}}},
                "hosts.a.link.delay",
                id="bad-delay",
            ),
            pytest.param(
                {"name": "x", "hosts": {"a": {"link": {"preset": "lte"}}}},
                "hosts.a.link.preset",
                id="bad-preset",
            ),
            pytest.param(
                {"name": "x", "subnet": "8.8.8.0/24", "hosts": {"a": {}}},
                "subnet",
                id="public-subnet",
            ),
            pytest.param(
                {"name": "x", "hosts": {"a": {"address": "10.78.0.1"}}},
                "hosts.a",
                id="outside-subnet",
            ),
            pytest.param(
                {
                    "name": "x",
                    "hosts": {"a": {"address": "10.77.0.1"}, "b": {"address": "10.77.0.1"}},
                },
                "hosts.b",
                id="same-address",
            ),
            pytest.param({"name": "x", "shaper": "tc", "hosts": {"a": {}}}, "shaper", id="shaper"),
            pytest.param({"name": "x", "hosts": {"a": {}}, "extra": 1}, "topology", id="top-key"),
        ],
    )
    def test_errors_name_the_key(self, data: object, where: str) -> None:
        """Each mistake is a ModelError naming where it is."""
        with pytest.raises(ModelError) as info:
            topology_from_dict(data)
        assert info.value.where == where

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file is a ProblemFileError naming it."""
        with pytest.raises(ProblemFileError, match=r"nothere\.yaml"):
            load_topology(tmp_path / "nothere.yaml")

    def test_round_trip(self) -> None:
        """to_dict() reads back into an equal topology."""
        topo = camera_cluster_topology("rt", client_link=LinkSpec(1e6, 0.02, 0.001, 0.01))
        assert topology_from_dict(topo.to_dict()) == topo


class TestPairFigures:
    def test_link_between_adds_delays_and_takes_the_smaller_rate(self) -> None:
        """A path crosses both access links: delays add up, the slower rate limits."""
        topo = camera_cluster_topology(
            "p",
            camera_link=LinkSpec(bandwidth=9e6, delay=0.003),
            client_link=LinkSpec(bandwidth=6.25e6, delay=0.02),
        )
        link = topo.link_between("cam1", "client")
        assert link.bandwidth == 6.25e6
        assert link.latency == pytest.approx(0.023)
        assert topo.link_between("edge", "cam2").latency == pytest.approx(0.003)


class TestQdiscArguments:
    """The tc arguments for each shaper (what the kernel gets; no namespaces needed)."""

    def test_forwarder_uses_tbf_for_rate_only(self) -> None:
        """With the forwarder, tc only limits the rate: tbf at the link's bit rate."""
        net = EmulatedNetwork(camera_cluster_topology("q"), shaper="forwarder")
        net.shaper = "forwarder"
        args = net._qdisc_args(LinkSpec(bandwidth=6.25e6, delay=0.02, loss=0.1))
        assert args[:3] == ["tbf", "rate", "50000000bit"]
        limit = int(args[args.index("limit") + 1])
        assert limit == pytest.approx(6.25e6 * 0.1)
        assert net._qdisc_args(LinkSpec(delay=0.02)) == []

    def test_netem_gets_delay_jitter_loss_and_rate(self) -> None:
        """With netem, one qdisc per veth end carries every figure."""
        net = EmulatedNetwork(camera_cluster_topology("q"), shaper="netem")
        net.shaper = "netem"
        args = net._qdisc_args(LinkSpec(bandwidth=6.25e6, delay=0.02, jitter=0.001, loss=0.01))
        text = " ".join(args)
        assert text.startswith("netem delay 20000us 1000us distribution normal")
        assert "loss 1.000000%" in text
        assert "rate 50000000bit" in text
        assert net._qdisc_args(LinkSpec()) == []
