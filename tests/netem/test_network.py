"""The emulated network, measured from inside: delays, rates, loss, cuts and teardown.

Timings come from a shared two-core machine, so the bounds are generous ratios: what is
checked is that the configured figures show up (a 20 ms link gives a round trip near
40 ms, not 1 ms or 100 ms), not their third digit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from edgeoffload.cli import main
from edgeoffload.netem import (
    EmulatedNetwork,
    LinkSpec,
    Topology,
    camera_cluster_topology,
    cleanup_stale,
    list_topologies,
)
from edgeoffload.netem.measure import (
    measure_rtt,
    measure_throughput,
    measure_udp_loss,
    probe_command,
    probe_server,
)
from edgeoffload.netem.network import _namespaces_present, state_root

pytestmark = pytest.mark.netns

MBIT = 1e6 / 8  # bytes/s per Mbit/s
PROBE = probe_command()


def topology_name(suffix: str) -> str:
    """A topology name unique to this test process (as the conftest's fixtures use)."""
    return f"t{os.getpid()}{suffix}"[:12]


@pytest.fixture(scope="module")
def probes(camera_net: EmulatedNetwork) -> Iterator[EmulatedNetwork]:
    """Probe servers on the edge server and on the client."""
    with probe_server(camera_net, "edge"), probe_server(camera_net, "client"):
        yield camera_net


@pytest.fixture
def restore_links(camera_net: EmulatedNetwork) -> Iterator[None]:
    """Put every link back as it was after the test (links are shared by the module)."""
    original = camera_net.topology
    yield
    for host in original.hosts:
        if camera_net.topology.host(host.name).link != host.link:
            camera_net.set_link(host.name, host.link)
        camera_net.restore(host.name)


def _ours(net: EmulatedNetwork) -> set[str]:
    return {ns for ns in _namespaces_present() if ns.startswith(f"eo-{net.name}-")}


class TestLayout:
    def test_one_namespace_per_host_and_the_switch(self, camera_net: EmulatedNetwork) -> None:
        """Every host is its own namespace with its address; the switch is one more."""
        assert _ours(camera_net) == set(camera_net.namespaces)
        for host in camera_net.topology.hosts:
            out = camera_net.run(host.name, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"])
            assert f"inet {host.address}/24" in out.stdout
        assert camera_net.shaper in ("netem", "forwarder")


class TestDelayAndRate:
    @pytest.mark.parametrize(
        ("src", "dst"),
        [
            pytest.param("client", "edge", id="20ms-link"),
            pytest.param("cam1", "edge", id="3ms-link"),
            pytest.param("cam1", "client", id="3ms-plus-20ms"),
        ],
    )
    def test_round_trip_is_twice_the_path_delay(
        self, probes: EmulatedNetwork, src: str, dst: str
    ) -> None:
        """The TCP round trip is near 2 × (delay of src's link + delay of dst's link)."""
        expected = 2 * probes.topology.link_between(src, dst).latency
        result = measure_rtt(probes, src, dst, count=20)
        assert expected * 0.9 <= result["median"] <= expected * 1.25 + 0.003, result
        assert min(result["rtts"]) >= expected * 0.9

    def test_throughput_near_the_rate(self, probes: EmulatedNetwork) -> None:
        """TCP through the 50 Mbit/s link gets most of it and never more."""
        rate = probes.topology.host("client").link.bandwidth
        assert rate == 50 * MBIT
        result = measure_throughput(probes, "client", "edge", nbytes=6_000_000)
        steady = result["second_half_bandwidth"]
        assert 0.6 * rate <= steady <= 1.02 * rate, result

    def test_transfer_time_as_the_cost_model_predicts(self, probes: EmulatedNetwork) -> None:
        """A 4 MB transfer takes about latency + data / bandwidth of the path (the cost model)."""
        link = probes.topology.link_between("client", "edge")
        nbytes = 4_000_000
        predicted = link.latency + nbytes / link.bandwidth
        result = measure_throughput(probes, "client", "edge", nbytes=nbytes)
        # TCP's handshake and slow start add a few round trips; frames carry headers
        assert 0.9 * predicted <= result["client_seconds"] <= 1.8 * predicted, result

    def test_set_link_changes_the_delay_live(
        self, probes: EmulatedNetwork, restore_links: None
    ) -> None:
        """Raising a link's delay while the network runs raises the round trip to match."""
        link = probes.topology.host("cam2").link
        probes.set_link("cam2", replace(link, delay=0.05))
        result = measure_rtt(probes, "cam2", "edge", count=10)
        assert 0.09 <= result["median"] <= 0.13, result


class TestLoss:
    def test_loss_drops_about_the_configured_fraction(
        self, probes: EmulatedNetwork, restore_links: None
    ) -> None:
        """With 10 % loss on the client's link, about 10 % of 1000 datagrams are lost."""
        link = probes.topology.host("client").link
        probes.set_link("client", replace(link, loss=0.10))
        result = measure_udp_loss(probes, "client", "edge", count=1000)
        assert 820 <= result["received"] <= 970, result
        if probes.shaper == "forwarder":
            lost = probes.forwarder_stats()["ports"]["client"]["lost"]
            assert lost >= result["sent"] - result["received"]


class TestCut:
    def _hold(self, net: EmulatedNetwork, user_timeout: float) -> subprocess.Popen[str]:
        argv = [*PROBE, "hold", net.address("edge"), "--user-timeout", str(user_timeout)]
        proc = net.popen("client", argv, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        for expected in ("connected", "ok"):
            assert json.loads(proc.stdout.readline())["event"] == expected
        return proc

    def _failure(self, proc: subprocess.Popen[str]) -> dict[str, object]:
        assert proc.stdout is not None
        event: dict[str, object] = json.loads(proc.stdout.readline())
        proc.wait(10)
        assert event["event"] == "failed", event
        return event

    def _connect(self, net: EmulatedNetwork, timeout: float) -> dict[str, object]:
        argv = [*PROBE, "connect", net.address("edge"), "--timeout", str(timeout)]
        out = net.run("client", argv, timeout=timeout + 30).stdout
        result: dict[str, object] = json.loads(out)
        return result

    def test_cut_fails_a_connection_in_bounded_time_and_restore_works(
        self, probes: EmulatedNetwork, restore_links: None
    ) -> None:
        """A cut link stalls a live connection until TCP_USER_TIMEOUT ends it; after the
        restore a new connection works at once."""
        proc = self._hold(probes, user_timeout=1.0)
        cut_at = time.monotonic()
        probes.cut("client")
        failure = self._failure(proc)
        took = float(failure["t"]) - cut_at  # type: ignore[arg-type]
        assert 0.5 <= took <= 6.0, failure
        assert "timed out" in str(failure["error"]).lower()
        during = self._connect(probes, timeout=1.0)
        assert during["ok"] is False
        restored_at = time.monotonic()
        probes.restore("client")
        after = self._connect(probes, timeout=3.0)
        assert after["ok"] is True, after
        assert time.monotonic() - restored_at < 10.0

    def test_cut_with_reset_fails_the_connection_at_once(
        self, probes: EmulatedNetwork, restore_links: None
    ) -> None:
        """With reset=True the endpoints see the connection aborted right away."""
        proc = self._hold(probes, user_timeout=30.0)
        cut_at = time.monotonic()
        probes.cut("client", reset=True)
        failure = self._failure(proc)
        assert float(failure["t"]) - cut_at < 1.0, failure  # type: ignore[arg-type]
        probes.restore("client")
        assert self._connect(probes, timeout=3.0)["ok"] is True


def _small(name: str) -> Topology:
    return camera_cluster_topology(
        name, cameras=1, camera_link=LinkSpec(delay=0.001), client_link=LinkSpec(delay=0.001)
    )


class TestTeardown:
    def test_down_removes_namespaces_processes_and_state(self) -> None:
        """After the context manager exits, no namespace, process or state folder is left."""
        with EmulatedNetwork(_small(topology_name("d"))) as net:
            sleeper = net.popen("cam1", ["sleep", "60"])
            assert _ours(net)
        assert not _ours(net)
        assert sleeper.poll() is not None
        assert not net.state_dir.exists()

    def test_stale_topology_of_a_crashed_run_is_cleaned_up(self, tmp_path: Path) -> None:
        """A topology whose owner was killed -9 is removed by cleanup_stale(), and only it."""
        name = topology_name("s")
        script = textwrap.dedent(
            f"""
            import time
            from edgeoffload.netem import EmulatedNetwork, LinkSpec, camera_cluster_topology
            topo = camera_cluster_topology(
                {name!r}, cameras=1, camera_link=LinkSpec(delay=0.001),
                client_link=LinkSpec(delay=0.001))
            net = EmulatedNetwork(topo).up()
            net.popen("edge", ["sleep", "120"])
            print("up", flush=True)
            time.sleep(120)
            """
        )
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "up"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        prefix = f"eo-{name}-"
        assert any(ns.startswith(prefix) for ns in _namespaces_present())
        entry = next(e for e in list_topologies() if e["name"] == name)
        assert entry["stale"] is True
        assert name in cleanup_stale()
        assert not any(ns.startswith(prefix) for ns in _namespaces_present())
        assert not (state_root() / name).exists()


class TestCommandLine:
    def test_up_exec_cut_restore_down(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The netem command builds a topology that outlives it, and tears it down."""
        name = topology_name("c")
        path = tmp_path / "topo.yaml"
        path.write_text(
            f"name: {name}\nhosts:\n  a: {{link: {{delay: 1ms}}}}\n  b: {{}}\n", encoding="utf-8"
        )
        try:
            assert main(["netem", "up", str(path)]) == 0
            assert name in capsys.readouterr().out
            assert main(["netem", "status", "--json"]) == 0
            status = json.loads(capsys.readouterr().out)
            mine = next(e for e in status if e["name"] == name)
            assert mine["owner"] is None
            assert len(mine["namespaces"]) == 3
            assert main(["netem", "exec", name, "a", "--", "ip", "-o", "addr"]) == 0
            assert main(["netem", "cut", name, "b"]) == 0
            assert main(["netem", "restore", name, "b"]) == 0
            assert main(["netem", "set", name, "b", "--delay", "5ms"]) == 0
            assert EmulatedNetwork.attach(name).topology.host("b").link.delay == 0.005
            assert main(["netem", "up", str(path)]) == 1  # already up
            assert "already up" in capsys.readouterr().err
        finally:
            assert main(["netem", "down", name]) == 0
        assert not any(ns.startswith(f"eo-{name}-") for ns in _namespaces_present())
        assert main(["netem", "cut", name, "b"]) == 1
