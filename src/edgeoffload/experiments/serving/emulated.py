"""``edgeoffload serve --netem FILE``: serve across emulated hosts on this machine (root).

:func:`serve_emulated` builds the topology's hosts (network namespaces behind Wi-Fi-like
links, :mod:`edgeoffload.netem`), starts a TLS Dask scheduler on the edge server's host
and an ``edgeoffload worker`` on each node's host, then runs ``edgeoffload serve`` itself
on the client host against that cluster (``--cluster … --tls …``), so that every frame,
plan, result and probe crosses the emulated links. The workers are held to CPU quotas in
the ratio of the devices' speeds, as a local cluster's are, by the serving process once
they are loaded (``--torch`` loads PyTorch at full speed first). Everything is torn down
when it ends, however it ends: at the end of the run, after Ctrl-C, or after a SIGTERM
to the command (handed to the serving process as a Ctrl-C, so that it writes its report).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeoffload.errors import EdgeOffloadError, ModelError

if TYPE_CHECKING:
    from edgeoffload.netem import EmulatedNetwork, Topology
    from edgeoffload.workloads.scenarios import Scenario

__all__ = [
    "PORT",
    "EmulatedCluster",
    "cluster_hosts",
    "emulated_cluster",
    "parse_hold",
    "run_on_client",
    "serve_emulated",
]

PORT = 8786
"""The scheduler's port on the edge host."""


def cluster_hosts(scenario: Scenario, topology: Topology) -> tuple[str, str]:
    """``(scheduler host, client host)`` of ``topology`` for ``scenario``'s cluster: every
    node must be a host; the scheduler runs on the edge server's host, ``serve`` on the
    host called ``client`` (else the first host that is no node).

    Raises
    ------
    ModelError
        A node without a host, or no host left for the client.
    """
    hosts = [h.name for h in topology.hosts]
    nodes = scenario.cluster.node_ids
    missing = [n for n in nodes if n not in hosts]
    if missing:
        raise ModelError(
            f"has no host for the scenario's node(s) {', '.join(missing)} "
            f"(hosts: {', '.join(hosts)})",
            "netem",
        )
    spare = [h for h in hosts if h not in nodes]
    if not spare:
        raise ModelError(
            "needs one host more than the scenario's nodes, for the serving client "
            "(call it 'client')",
            "netem",
        )
    client = "client" if "client" in spare else spare[0]
    edges = [n.id for n in scenario.cluster.nodes if n.role == "edge"]
    return (edges[0] if edges else nodes[0]), client


def _wait_for(log: Path, text: str, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
    raise EdgeOffloadError(f"{what} did not start within {timeout:g} s:\n{tail}")


@dataclass(frozen=True, slots=True)
class EmulatedCluster:
    """A cluster on emulated hosts (:func:`emulated_cluster`): the network, the
    scheduler's address, the TLS material, the host to run clients on, and each worker's
    process id and CPU quota (cores) to hold it to."""

    net: EmulatedNetwork
    address: str
    certs: Path
    client: str
    hold: Mapping[str, tuple[int, float]]

    def client_argv(self) -> list[str]:
        """Options that point ``serve`` (or a benchmark) at this cluster."""
        hold = json.dumps(self.hold)
        return ["--cluster", self.address, "--tls", str(self.certs), "--hold-workers", hold]


@contextlib.contextmanager
def emulated_cluster(
    topology: Topology,
    scenario: Scenario,
    *,
    budget: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> Iterator[EmulatedCluster]:
    """Build ``topology``'s hosts, a TLS scheduler on the edge server's host and an
    ``edgeoffload worker`` on each node's host; torn down on exit.

    Parameters
    ----------
    topology
        The emulated hosts (:func:`~edgeoffload.netem.load_topology`).
    scenario
        The scenario to serve (its nodes get hosts and CPU quotas in the ratio of their
        speeds on its frames).
    budget
        Cores the workers may use together (default: 80 % of this machine's).

    Raises
    ------
    ModelError
        A node without a host, or no host for the client.
    EdgeOffloadError
        This machine cannot emulate networks (not root, no iproute2), or a process of the
        cluster did not start.
    """
    from edgeoffload.experiments.dag_run import preset_quotas
    from edgeoffload.experiments.runner import ONE_BLAS_THREAD
    from edgeoffload.experiments.serving.control import frame_problems
    from edgeoffload.netem import EmulatedNetwork, check_support, cleanup_stale
    from edgeoffload.runtime.wire.security import make_certificates

    say = progress or (lambda line: None)
    scheduler_host, client = cluster_hosts(scenario, topology)
    reason = check_support()
    if reason is not None:
        raise EdgeOffloadError(f"--netem cannot run here: {reason}")
    problems = frame_problems(scenario.streams, scenario.cluster)
    quotas = preset_quotas(scenario.cluster, problems, budget=budget)
    python = [sys.executable, "-m", "edgeoffload"]
    cleanup_stale()
    with tempfile.TemporaryDirectory(prefix="edgeoffload-netem-") as tmp:
        folder = Path(tmp)
        say(f"building the emulated network {topology.name!r} ...")
        with EmulatedNetwork(topology) as net:
            certs = folder / "certs"
            make_certificates(certs, [h.address for h in topology.hosts])
            edge = net.address(scheduler_host)
            address = f"tls://{edge}:{PORT}"
            log = folder / "scheduler.log"
            with log.open("wb") as out:
                net.popen(
                    scheduler_host,
                    [
                        *python,
                        *("scheduler", "--host", edge, "--port", str(PORT)),
                        *("--tls", str(certs), "--no-dashboard"),
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            _wait_for(log, "listening at", 60, f"the scheduler on {scheduler_host}")
            say(f"scheduler at {address} on host {scheduler_host}; starting the workers ...")
            pids: dict[str, int] = {}
            env = {**os.environ, **ONE_BLAS_THREAD}
            for node in scenario.cluster.nodes:
                with (folder / f"worker-{node.id}.log").open("wb") as out:
                    proc = net.popen(
                        node.id,
                        [
                            *python,
                            *("worker", "--name", node.id, "--scheduler", address),
                            *("--host", net.address(node.id), "--tls", str(certs)),
                            *("--role", node.role, "--no-nanny"),
                        ],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        env=env,
                    )
                pids[node.id] = proc.pid
            for name in pids:
                _wait_for(folder / f"worker-{name}.log", "listening at", 90, f"worker {name}")
            say(
                f"clients run on host {client}; workers held to "
                + ", ".join(f"{n} {q:.3g}" for n, q in quotas.items())
                + " cores once loaded"
            )
            yield EmulatedCluster(
                net, address, certs, client, {n: (pids[n], quotas[n]) for n in pids}
            )


def serve_emulated(
    topology: Topology,
    scenario: Scenario,
    serve_argv: Sequence[str],
    *,
    budget: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> int:
    """Run ``edgeoffload serve SERVE_ARGV`` (without ``--netem``, ``--cluster`` or
    ``--tls``) on the client host of an :func:`emulated_cluster`; returns its exit code."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main else None
    try:  # a SIGTERM while the hosts are built still tears them down
        with emulated_cluster(topology, scenario, budget=budget, progress=progress) as cluster:
            argv = [sys.executable, "-m", "edgeoffload", *serve_argv, *cluster.client_argv()]
            return run_on_client(cluster, argv)
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)


def _terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def run_on_client(cluster: EmulatedCluster, argv: Sequence[str]) -> int:
    """Run ``argv`` on ``cluster``'s client host and wait for it; returns its exit code.

    A SIGINT or SIGTERM to this process (Ctrl-C, ``kill``, a supervisor) is handed to it
    as one SIGINT, so that it finishes as after Ctrl-C (``serve`` writes its report and
    exits 130), and then the cluster is torn down; after a SIGTERM the exit code is 143.
    It runs in a session of its own, so that a terminal's Ctrl-C reaches it once, from
    here.
    """
    inner = cluster.net.popen(cluster.client, argv, start_new_session=True)
    received: list[int] = []

    def forward(signum: int, _frame: Any) -> None:
        received.append(signum)
        with contextlib.suppress(ProcessLookupError):
            inner.send_signal(signal.SIGINT)

    handled = (signal.SIGINT, signal.SIGTERM)
    main = threading.current_thread() is threading.main_thread()  # else no handlers
    previous = {s: signal.signal(s, forward) for s in handled} if main else {}
    try:
        code = inner.wait()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if inner.poll() is None:  # this process is going anyway: do not leave it behind
            inner.kill()
            inner.wait()
    return 128 + signal.SIGTERM if signal.SIGTERM in received else code


def parse_hold(text: str) -> Mapping[str, tuple[int, float]]:
    """``--hold-workers``'s JSON ``{worker: [pid, cores]}``."""
    try:
        data = json.loads(text)
        return {str(n): (int(v[0]), float(v[1])) for n, v in data.items()}
    except (ValueError, TypeError, IndexError, AttributeError) as exc:
        raise ModelError(f"must be JSON {{worker: [pid, cores]}}: {exc}", "hold") from None
