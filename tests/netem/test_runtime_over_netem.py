"""The offloading runtime across an emulated network: scheduler, workers and client on
separate hosts with their own addresses, mutual TLS, Wi-Fi-like links, a link cut while a
call runs, and a worker cut off for longer than the scheduler keeps it that rejoins.

Started exactly as an operator would: ``edgeoffload certs``, ``edgeoffload scheduler`` on
the edge host, ``edgeoffload worker`` on each camera and on the edge host, and a client
program in the client's namespace that opens ``edgeoffload.connect(address, security=)``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edgeoffload.netem import EmulatedNetwork, LinkSpec, Topology, camera_cluster_topology

pytestmark = [pytest.mark.netns, pytest.mark.dask, pytest.mark.slow]

MBIT = 1e6 / 8  # bytes/s per Mbit/s
PORT = 8786
EDGEOFFLOAD = [sys.executable, "-m", "edgeoffload"]

APP = textwrap.dedent(
    """
    import socket
    import time
    from pathlib import Path

    import edgeoffload


    def _my_address():
        # the address this namespace uses towards the edge host (no packet is sent)
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.connect(("10.77.0.1", 9))
            return probe.getsockname()[0]
        finally:
            probe.close()


    @edgeoffload.offload(policy="always-remote")
    def double(x):
        return 2 * x, _my_address()


    @edgeoffload.offload(policy="always-remote")
    def size_of(blob):
        return len(blob)


    @edgeoffload.offload(policy="always-remote")
    def where_am_i():
        return _my_address()


    @edgeoffload.offload(policy="always-remote")
    def slow(x, marker, seconds):
        Path(marker).write_text(_my_address())
        time.sleep(seconds)
        return x + 1, _my_address()
    """
)

CLIENT = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, sys.argv[1])
    import edgeoffload
    import netapp

    def say(**data):
        print(json.dumps(data), flush=True)

    with edgeoffload.connect(
        sys.argv[2], security=sys.argv[3], wait_for_workers=4, timeout=90, max_retries=2,
        liveness_timeout=2.0,
    ) as session:
        say(phase="connected", workers=sorted(w.name for w in session.stats().workers))
        say(phase="double", results=[netapp.double(i) for i in range(4)],
            where=[r.where for r in session.stats().records])
        say(phase="slow")
        start = time.monotonic()
        value = netapp.slow(41, sys.argv[4], 2.0)
        record = session.stats().records[-1]
        say(phase="slow-done", value=value, where=record.where, outcome=record.outcome,
            attempts=[str(a) for a in record.attempts], seconds=time.monotonic() - start)
    """
)


DECIDE = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, sys.argv[1])
    import edgeoffload
    import netapp

    blob = bytes(1_000_000)
    address, certs = sys.argv[2], sys.argv[3]
    with edgeoffload.connect(address, security=certs, wait_for_workers=4, timeout=90) as s:
        sizes = [netapp.size_of(blob) for _ in range(6)]
        print(json.dumps({"sizes": sizes, "where": [r.where for r in s.stats().records]}))
    """
)


@pytest.fixture(scope="module")
def cluster_net(
    make_network: Callable[[Topology], EmulatedNetwork],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """Scheduler + edge worker on ``edge``, a worker per camera, all with mutual TLS."""
    pytest.importorskip("distributed")
    pytest.importorskip("cryptography")
    from edgeoffload.runtime.wire.security import make_certificates

    topology = camera_cluster_topology(
        f"r{os.getpid()}"[:12],
        camera_link=LinkSpec(bandwidth=77.6 * MBIT, delay=0.003),
        client_link=LinkSpec(bandwidth=50 * MBIT, delay=0.020),
    )
    folder = tmp_path_factory.mktemp("netem-runtime")
    certs = folder / "certs"
    net = make_network(topology)
    make_certificates(certs, [h.address for h in topology.hosts])
    edge = net.address("edge")
    address = f"tls://{edge}:{PORT}"
    scheduler_log = folder / "scheduler.log"
    _start(
        net,
        "edge",
        ["scheduler", "--host", edge, "--port", str(PORT), "--tls", str(certs), "--no-dashboard"],
        scheduler_log,
    )
    _wait_for(scheduler_log, "listening at", 60)
    workers = {"edge": ("edge", "edge-server")} | {
        f"cam{i}": ("camera", "jetson-tx2") for i in (1, 2, 3)
    }
    for name, (role, preset) in workers.items():
        argv = ["worker", "--name", name, "--scheduler", address, "--host", net.address(name)]
        argv += ["--tls", str(certs), "--role", role, "--preset", preset, "--no-nanny"]
        _start(net, name, argv, folder / f"worker-{name}.log")
    for name in workers:
        _wait_for(folder / f"worker-{name}.log", "listening at", 60)
    return {"net": net, "address": address, "certs": certs, "folder": folder}


def _start(net: EmulatedNetwork, host: str, args: list[str], log: Path) -> None:
    with log.open("wb") as out:
        net.popen(host, [*EDGEOFFLOAD, *args], stdout=out, stderr=subprocess.STDOUT)


def _wait_for(log: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise AssertionError(f"{log.name}: no {text!r} after {timeout} s:\n{log.read_text()[-3000:]}")


def test_client_in_its_own_namespace_offloads_over_tls_and_survives_a_cut(
    cluster_net: dict[str, Any],
) -> None:
    """Calls from the client host run on the other hosts; cutting the link of the worker
    running a call moves the call elsewhere and it still returns the right result."""
    net: EmulatedNetwork = cluster_net["net"]
    marker = cluster_net["folder"] / "started-at"
    argv = _client(cluster_net, "client.py", CLIENT, str(marker))
    client = net.popen("client", argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert client.stdout is not None
    events: dict[str, dict[str, Any]] = {}
    cut_host = None
    try:
        for line in client.stdout:
            event = json.loads(line)
            events[event["phase"]] = event
            if event["phase"] == "slow":
                deadline = time.monotonic() + 30
                while not marker.exists() and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert marker.exists(), "the slow call never started on a worker"
                time.sleep(0.05)
                started_at = marker.read_text().strip()
                cut_host = next(h.name for h in net.topology.hosts if h.address == started_at)
                net.cut(cut_host)
        client.wait(60)
    finally:
        if cut_host is not None:
            net.restore(cut_host)
        if client.poll() is None:
            client.kill()
    stderr = client.stderr.read() if client.stderr else ""
    assert client.returncode == 0, stderr[-3000:]

    assert events["connected"]["workers"] == ["cam1", "cam2", "cam3", "edge"]
    results = events["double"]["results"]
    assert [r[0] for r in results] == [0, 2, 4, 6]
    client_address = net.address("client")
    worker_addresses = {net.address(h) for h in ("edge", "cam1", "cam2", "cam3")}
    assert all(r[1] in worker_addresses and r[1] != client_address for r in results)
    assert all(w != "local" for w in events["double"]["where"])

    done = events["slow-done"]
    assert done["value"][0] == 42
    assert cut_host is not None
    assert done["where"] != cut_host, done
    assert len(done["attempts"]) >= 1, done
    assert "sent nothing for 2 s" in done["attempts"][0], done  # liveness, not a deadline
    # the cut worker is given up after the 2 s liveness timeout, then 2 s of work elsewhere
    assert 3.5 <= done["seconds"] < 12.0, done


REJOIN = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, sys.argv[1])
    import edgeoffload
    import netapp

    def say(**data):
        print(json.dumps(data), flush=True)

    def wait(predicate, timeout):
        start = time.monotonic()
        while not predicate():
            if time.monotonic() - start > timeout:
                raise SystemExit(f"timed out after {timeout} s")
            time.sleep(0.1)
        return time.monotonic() - start

    host = sys.argv[4]
    with edgeoffload.connect(
        sys.argv[2], security=sys.argv[3], wait_for_workers=4, timeout=90, liveness_timeout=2.0
    ) as session:
        usable = lambda: host in {w.name for w in session.pool.usable()}
        say(phase="connected")
        say(phase="lost", after=wait(lambda: not usable(), 60))
        say(phase="back", after=wait(usable, 300))
        say(phase="called", address=session.call_on(host, netapp.where_am_i))
    """
)


def test_a_worker_cut_off_longer_than_the_scheduler_keeps_it_rejoins(
    cluster_net: dict[str, Any],
) -> None:
    """Cut a camera off for longer than the scheduler's 30 s worker TTL: the session marks
    it lost within its liveness timeout; once the link is back the worker rejoins the
    scheduler by itself and the session uses it again."""
    net: EmulatedNetwork = cluster_net["net"]
    outage = max(35.0, float(os.environ.get("EDGEOFFLOAD_TEST_OUTAGE", "35")))
    host = "cam2"
    log = cluster_net["folder"] / f"worker-{host}.log"
    _wait_for(log, ": joined the scheduler at ", 60)
    registered = log.read_text(errors="replace").count(": joined the scheduler at ")
    argv = _client(cluster_net, "rejoin.py", REJOIN, host)
    client = net.popen("client", argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert client.stdout is not None
    events: dict[str, dict[str, Any]] = {}
    cut = False
    try:
        for line in client.stdout:
            event = json.loads(line)
            events[event["phase"]] = event
            if event["phase"] == "connected":
                net.cut(host)
                cut = True
                time.sleep(outage)
                net.restore(host)
                cut = False
        client.wait(120)
    finally:
        if cut:
            net.restore(host)
        if client.poll() is None:
            client.kill()
    stderr = client.stderr.read() if client.stderr else ""
    assert client.returncode == 0, stderr[-3000:]
    assert events["lost"]["after"] < 5.0  # the liveness timeout (2 s) and a ping period
    assert events["called"]["address"] == net.address(host)
    deadline = time.monotonic() + 60  # the channel answers first; the Dask side follows
    while log.read_text(errors="replace").count(": joined the scheduler at ") <= registered:
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
        time.sleep(0.2)
    text = log.read_text(errors="replace")
    assert text.count(": joined the scheduler at ") == registered + 1, text[-3000:]  # it rejoined
    assert "Traceback" not in text


def _client(cluster_net: dict[str, Any], name: str, script: str, *args: str) -> list[str]:
    """argv of the client program ``script`` (saved as ``name``), the app importable."""
    folder: Path = cluster_net["folder"]
    app_dir = folder / "app"
    app_dir.mkdir(exist_ok=True)
    (app_dir / "netapp.py").write_text(APP, encoding="utf-8")
    path = folder / name
    path.write_text(script, encoding="utf-8")
    address, certs = cluster_net["address"], str(cluster_net["certs"])
    return [sys.executable, str(path), str(app_dir), address, certs, *args]


def test_a_slow_link_moves_calls_to_the_worker_the_cost_model_prefers(
    cluster_net: dict[str, Any],
) -> None:
    """With 1 MB arguments, calls go to the worker whose path the cost model (latency +
    data / bandwidth) ranks first; putting a 20 ms, 50 Mbit/s link in front of it moves
    them to the worker that is now first."""
    net: EmulatedNetwork = cluster_net["net"]
    original = net.topology
    fast = LinkSpec()  # unlimited, no delay
    slow = LinkSpec(bandwidth=50 * MBIT, delay=0.020)
    nbytes = 1_000_000
    chosen = {}
    try:
        for phase, fast_host in (("a", "edge"), ("b", "cam1")):
            net.set_link("client", fast)
            for host in ("edge", "cam1", "cam2", "cam3"):
                net.set_link(host, fast if host == fast_host else slow)
            predicted = {}
            for host in ("edge", "cam1", "cam2", "cam3"):
                link = net.topology.link_between("client", host)
                predicted[host] = 2 * link.latency + nbytes / link.bandwidth
            best = min(predicted, key=predicted.__getitem__)
            assert best == fast_host
            out = net.run("client", _client(cluster_net, "decide.py", DECIDE), timeout=120).stdout
            result = json.loads(out.strip().splitlines()[-1])
            assert result["sizes"] == [nbytes] * 6
            chosen[phase] = result["where"]
            # the first call has no history (COFA's rule: fastest benchmark); the rest
            # are predicted from the probes' round trip and bandwidth
            assert result["where"][1:] == [best] * 5, (phase, result, predicted)
    finally:
        for host in original.hosts:
            net.set_link(host.name, host.link)
    assert chosen["a"][-1] != chosen["b"][-1]
