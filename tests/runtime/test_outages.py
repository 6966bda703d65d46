"""A cluster that outlives its network: the scheduler killed and brought back, a worker
frozen mid-call, a flood of strangers at a worker short of threads — with real processes.

Outages last ``EDGEOFFLOAD_TEST_OUTAGE`` seconds (15 by default, longer than any timeout the
test configures: the worker's 2 s backoff cap, the session's 2 s liveness timeout). Run
with ``EDGEOFFLOAD_TEST_OUTAGE=90`` for outages longer than every default timeout.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

import commands
import edgeoffload
from edgeoffload.runtime import LocalCluster
from edgeoffload.runtime.host.procs import pid_alive
from edgeoffload.runtime.wire.security import make_certificates
from waiting import pid_in, wait_until

pytestmark = [pytest.mark.dask, pytest.mark.slow]

app = pytest.importorskip("eo_testapp.board")
OUTAGE = float(os.environ.get("EDGEOFFLOAD_TEST_OUTAGE", "15"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Processes:
    """`edgeoffload` commands started as a user would, each with its own log."""

    def __init__(self, folder: Path, pythonpath: Path) -> None:
        self.folder = folder
        self.pythonpath = pythonpath
        self.started: list[subprocess.Popen[str]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen[str]:
        command = commands.start(args, self.folder / f"{name}.log", self.pythonpath)
        self.started.append(command.proc)
        return command.proc

    def log(self, name: str) -> str:
        return commands.read_log(self.folder / f"{name}.log")

    def stop_all(self) -> None:
        commands.stop(*reversed(self.started))


@pytest.fixture
def processes(tmp_path: Path, apps_folder: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path, apps_folder)
    try:
        yield procs
    finally:
        procs.stop_all()


def test_workers_and_sessions_outlive_a_killed_scheduler(
    processes: Processes, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SIGKILL the scheduler: calls go on to the workers meanwhile; once it is back (after
    the outage) the workers rejoin it, the session sees it back and finds a worker that
    joins later — each change one log line, no traceback."""
    certs = tmp_path / "certs"
    make_certificates(certs)
    port = _free_port()
    address = f"tls://127.0.0.1:{port}"
    scheduler_args = ["scheduler", "--port", str(port), "--tls", str(certs), "--no-dashboard"]
    scheduler = processes.start("scheduler", *scheduler_args)
    for name in ("w1", "w2"):
        processes.start(
            name,
            "worker",
            "--scheduler",
            address,
            "--name",
            name,
            "--tls",
            str(certs),
            "--max-backoff",
            "2",
        )
    caplog.set_level(logging.INFO, logger="edgeoffload")
    with edgeoffload.connect(
        address,
        security=certs,
        policy="always-remote",
        wait_for_workers=2,
        liveness_timeout=2.0,
    ) as session:
        board = app.Board([1, 2, 3])
        expected = app.score.local(board, 2)
        assert app.score(board, 2) == expected
        scheduler.kill()
        scheduler.wait()
        down = time.monotonic()
        while time.monotonic() - down < OUTAGE:  # the workers serve all along
            assert app.score(board, 2) == expected
            assert session.stats().records[-1].where in ("w1", "w2")
            time.sleep(1.0)
        assert all(w.usable for w in session.stats().workers)
        processes.start("scheduler-again", *scheduler_args)
        rejoin = wait_until(
            lambda: session.pool.listed() == ["w1", "w2"], 30, "the workers rejoining the scheduler"
        )
        wait_until(
            lambda: session.pool.scheduler_reachable is True, 30, "the session seeing it back"
        )
        processes.start("w3", "worker", "--scheduler", address, "--name", "w3", "--tls", str(certs))
        wait_until(lambda: "w3" in {w.name for w in session.pool.usable()}, 30, "w3 being found")
        for _ in range(4):  # w1 and w2 kept this session's code through the outage
            assert app.score(board, 2) == expected
            record = session.stats().records[-1]
            assert record.where in ("w1", "w2", "w3")
            if record.where != "w3":
                assert (record.code_bytes, record.attempts) == (0, ())
    for name in ("w1", "w2"):
        log = processes.log(name)
        assert len(re.findall(r": joined the scheduler at ", log)) == 2, log
        assert "Traceback" not in log
    session_lines = [r for r in caplog.records if r.name.endswith("client.session")]
    texts = [r.getMessage() for r in session_lines]
    assert sum("unreachable" in t for t in texts) == 1, texts
    assert sum("is back" in t for t in texts) == 1, texts
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    print(f"workers rejoined {rejoin:.1f} s after the scheduler came back")


def _service_of(child: int, cluster: LocalCluster) -> str:
    """The name of the worker whose process runs (as a child) process ``child``."""
    parent = psutil.Process(child).ppid()
    for name, pid in cluster.worker_pids().items():
        if pid == parent:
            return name
    raise AssertionError(f"process {child} is no worker's child")


def test_a_frozen_worker_loses_its_call_within_the_liveness_timeout(tmp_path: Path) -> None:
    """SIGSTOP of a worker (its whole process group) mid-call: the call moves after the
    liveness timeout, not at its deadline; when the worker thaws it stops the old run."""
    liveness, work = 2.0, 2.0
    marker = tmp_path / "pid"
    with (
        LocalCluster(n_workers=2) as cluster,
        edgeoffload.connect(
            cluster, policy="always-remote", liveness_timeout=liveness, deadline=120.0
        ) as session,
    ):
        future = app.burn_to.submit(str(marker), work)
        first = pid_in(marker, 20, interval=0.1)
        frozen = _service_of(first, cluster)
        group = os.getpgid(cluster.worker_pids()[frozen] or 0)
        os.killpg(group, signal.SIGSTOP)
        fault = time.monotonic()
        try:
            future.result(timeout=60)
            resolved = time.monotonic() - fault
        finally:
            os.killpg(group, signal.SIGCONT)
        record = session.stats().records[-1]
        assert record.where != frozen
        assert "sent nothing" in record.attempts[0].error, record.attempts
        # fault + liveness + the call's own work (+ slack for a busy 2-core machine)
        assert resolved < liveness + work + 3.0, resolved
        thawed = time.monotonic()
        wait_until(
            lambda: not pid_alive(first),
            liveness + 3.0,
            "the thawed worker stopping the abandoned call",
        )
        overlap = time.monotonic() - thawed
        assert overlap <= liveness + 1.0
        wait_until(lambda: frozen in {w.name for w in session.pool.usable()}, 20, "the worker back")


def _pids_cgroup() -> Path | None:
    for root in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")):
        writable = (root / "cgroup.procs").exists() and os.access(root, os.W_OK)
        if writable and (root.name == "pids" or (root / "cgroup.controllers").exists()):
            return root
    return None


def _flood(host: str, port: int, count: int) -> subprocess.Popen[str]:
    """A child process that opens ``count`` connections and keeps them idle."""
    script = (
        "import resource, socket, sys, time\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        f"resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, {count} + 100), hard))\n"
        "held = []\n"
        f"for _ in range({count}):\n"
        "    try:\n"
        f"        held.append(socket.create_connection(({host!r}, {port}), timeout=2))\n"
        "    except OSError:\n"
        "        pass\n"
        "print(len(held), flush=True)\n"
        "sys.stdin.read()\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_a_flood_of_strangers_does_not_kill_a_thread_starved_worker() -> None:
    """2,000 idle unauthenticated connections at a worker whose process tree may hold only
    a few more threads: its calls still succeed during and after the flood, and the same
    worker process keeps serving (nothing died)."""
    root = _pids_cgroup()
    if root is None:
        pytest.skip("needs a writable cgroup pids controller (root)")
    with (
        LocalCluster(n_workers=1) as cluster,
        edgeoffload.connect(cluster, policy="always-remote") as session,
    ):
        (name,) = session.workers()
        pid = cluster.worker_pids()[name]
        assert pid is not None
        board = app.Board([4, 5])
        expected = app.score.local(board, 3)
        assert app.score(board, 3) == expected
        tree = [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
        threads = sum(psutil.Process(p).num_threads() for p in tree)
        group = root / f"edgeoffload-flood-{os.getpid()}"
        group.mkdir()
        try:
            (group / "pids.max").write_text(str(threads + 16))
            for p in tree:
                (group / "cgroup.procs").write_text(str(p))
            channel = session.pool.workers()[0].channel_address
            host, port = channel.removeprefix("tls://").rsplit(":", 1)
            flood = _flood(host, int(port), 2000)
            assert flood.stdout is not None
            opened = int(flood.stdout.readline())
            assert opened >= 1500, opened
            assert app.score(board, 3) == expected  # during the flood
            assert session.stats().records[-1].where == name
            assert flood.stdin is not None
            flood.stdin.close()
            flood.wait(30)
            assert app.score(board, 3) == expected  # after it
            assert session.stats().records[-1].where == name
            assert cluster.worker_pids()[name] == pid  # the same process, never restarted
            peak = int((group / "pids.current").read_text())
            assert peak <= threads + 16
        finally:
            for p in (group / "cgroup.procs").read_text().split():
                (root / "cgroup.procs").write_text(p)
            group.rmdir()
