"""Faults never lose a call: the process running it killed, a deadline, workers that all
lose it, a session whose code was dropped while it was silent."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import edgeoffload
from edgeoffload.errors import OffloadTimeoutError
from edgeoffload.runtime import LocalCluster
from edgeoffload.runtime.host.procs import pid_alive
from waiting import pid_in, wait_until

pytestmark = pytest.mark.dask

app = pytest.importorskip("eo_testapp.board")


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """A cluster of its own: these tests kill the processes that run calls."""
    with LocalCluster(n_workers=2) as c:
        yield c


def test_sigkill_mid_call_still_returns_the_result(cluster: LocalCluster, tmp_path: Path) -> None:
    """SIGKILL of the process running a call: the call is retried and returns the right
    value, and the worker (its channel, its code) goes on serving."""
    marker = tmp_path / "pid"
    with edgeoffload.connect(cluster, policy="always-remote") as session:
        future = app.slow_pid.submit(str(marker), 1.5, 42)
        victim = pid_in(marker, 20.0)
        assert victim != os.getpid()
        assert victim not in {w.pid for w in session.stats().workers}  # a child of a worker
        os.kill(victim, signal.SIGKILL)
        assert future.result(timeout=60) == 42
        record = session.stats().records[-1]
        assert record.outcome == "ok"
        assert len(record.attempts) == 1
        assert "SIGKILL" in record.attempts[0].error
        assert all(w.usable for w in session.stats().workers)
        assert app.score(app.Board([1, 2]), 3) == app.score.local(app.Board([1, 2]), 3)


def test_a_deadline_is_one_budget_and_frees_the_workers_cpu(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """A 4 s call with a 1 s deadline raises after about 1 s (not after every worker and a
    local run), and the process that was running it is stopped at once."""
    marker = tmp_path / "pid"
    with edgeoffload.connect(cluster, policy="always-remote", deadline=1.0) as session:
        start = time.monotonic()
        with pytest.raises(OffloadTimeoutError, match="deadline of 1 s"):
            app.burn_to(str(marker), 4.0)
        elapsed = time.monotonic() - start
        assert 0.9 < elapsed < 2.5
        victim = int(marker.read_text())
        wait_until(lambda: not pid_alive(victim), 3, "the abandoned call stopping", interval=0.05)
        record = session.stats().records[-1]
        assert record.outcome == "timeout"
        assert len(record.attempts) == 1
        board = app.Board([1])
        assert app.score(board, 1) == app.score.local(board, 1)  # the worker serves on


def test_every_worker_losing_the_call_falls_back_locally(cluster: LocalCluster) -> None:
    """When the call's process dies on every worker, it runs here, with the right result,
    and the stats say why."""
    with edgeoffload.connect(cluster, policy="always-remote", max_retries=5) as session:
        assert app.die_unless_in(os.getpid(), 3) == 3
        record = session.stats().records[-1]
        assert record.where == "local"
        assert record.outcome == "fallback"
        assert {a.worker for a in record.attempts} == {w.name for w in session.stats().workers}
        assert all("exited with code 3" in a.error for a in record.attempts)
        assert session.stats().fallbacks == 1


def test_silent_session_loses_its_code_and_sends_it_again() -> None:
    """A worker drops the code of a session not heard from for its cache TTL; the session's
    next call finds it gone, sends it again and still succeeds."""
    with (
        LocalCluster(n_workers=1, cache_ttl=1.0) as own,
        edgeoffload.connect(own, policy="always-remote", monitor_interval=30.0) as session,
    ):
        board = app.Board([1, 2, 3])
        assert app.score(board, 1) == 11
        (name,) = session.workers()
        folder = session.worker_cache_dir(name)
        assert folder is not None and any(folder.glob("*.zip"))
        wait_until(lambda: not folder.exists(), 15, "the silent session's code being dropped")
        assert app.score(board, 2) == 22
        record = session.stats().records[-1]
        assert record.where == name
        assert "not in this worker's cache" in record.attempts[0].error
        assert record.code_bytes == session.bundles()["eo_testapp.board"].size
