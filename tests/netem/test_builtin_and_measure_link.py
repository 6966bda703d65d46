"""``load_topology`` with a built-in name, and ``measure_link``'s figures and JSON shape
(run on loopback through a stand-in for the network: no namespaces, no root)."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from edgeoffload.errors import ProblemFileError
from edgeoffload.netem import Topology, camera_cluster_topology, load_topology
from edgeoffload.netem.measure import measure_link
from edgeoffload.netem.topology import BUILTIN_TOPOLOGIES

REPO = Path(__file__).resolve().parents[2]


def test_camera_cluster_is_a_builtin_name() -> None:
    assert BUILTIN_TOPOLOGIES == ("camera-cluster",)
    topology = load_topology("camera-cluster")
    assert topology == camera_cluster_topology("demo")
    assert topology.name == "demo"
    assert [h.name for h in topology.hosts] == ["edge", "cam1", "cam2", "cam3", "client"]
    assert topology.address("edge") == "10.77.0.1"
    assert topology.host("cam1").link.bandwidth == pytest.approx(77.6e6 / 8)  # wifi-ac
    assert topology.host("edge").link.bandwidth is None  # unlimited


def test_a_file_spelled_like_a_builtin_is_read_as_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "camera-cluster").write_text(
        "name: mine\nhosts:\n  a: {link: {delay: 5ms}}\n  b: {}\n", encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    topology = load_topology("camera-cluster")
    assert topology.name == "mine"
    assert [h.name for h in topology.hosts] == ["a", "b"]


def test_files_still_load_and_unknown_names_are_refused() -> None:
    shipped = load_topology(REPO / "deploy" / "netem" / "camera-cluster.yaml")
    assert isinstance(shipped, Topology) and shipped.name == "demo"
    assert shipped.host("client").link.delay == pytest.approx(0.020)
    with pytest.raises(ProblemFileError):
        load_topology("no-such-topology")


class LoopbackNet:
    """Runs the probes as plain local processes; every host is 127.0.0.1."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.processes: list[subprocess.Popen[Any]] = []

    def address(self, host: str) -> str:
        self.topology.host(host)  # an unknown host fails as on a real network
        return "127.0.0.1"

    def popen(self, host: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        kwargs.setdefault("start_new_session", True)
        proc: subprocess.Popen[Any] = subprocess.Popen(list(argv), **kwargs)
        self.processes.append(proc)
        return proc

    def run(
        self, host: str, argv: Sequence[str], *, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=True
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_measure_link_reports_configured_and_measured_figures() -> None:
    topology = camera_cluster_topology("t")
    net = LoopbackNet(topology)
    result = measure_link(
        net,  # type: ignore[arg-type]  # a stand-in with the methods the probes use
        "client",
        "edge",
        nbytes=2_000_000,
        count=5,
        port=_free_port(),
    )
    assert list(result) == [
        "src",
        "dst",
        "configured",
        "rtt_median",
        "rtt_min",
        "throughput",
        "throughput_second_half",
    ]
    assert (result["src"], result["dst"]) == ("client", "edge")
    link = topology.link_between("client", "edge")
    assert result["configured"] == {"rtt": 2 * link.latency, "bandwidth": link.bandwidth}
    assert result["configured"]["rtt"] == pytest.approx(2 * 0.003)  # wifi-ac + unlimited edge
    assert result["configured"]["bandwidth"] == pytest.approx(77.6e6 / 8)
    assert 0 < result["rtt_min"] <= result["rtt_median"] < 1.0  # loopback
    assert result["throughput"] > 0 and result["throughput_second_half"] > 0
    assert all(p.poll() is not None for p in net.processes)  # the probe server is stopped
