"""Faults never lose a call: a worker killed mid-call, a deadline passed, a sick worker."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import edgeoffload
from edgeoffload.runtime import LocalCluster

pytestmark = pytest.mark.dask

app = pytest.importorskip("eo_testapp.board")


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """A cluster of its own: these tests kill workers (their nannies restart them)."""
    with LocalCluster(n_workers=2) as c:
        yield c


def test_sigkill_mid_call_still_returns_the_result(cluster: LocalCluster, tmp_path: Path) -> None:
    """SIGKILL of the worker running a call: the call is retried and returns the right value."""
    marker = tmp_path / "pid"
    with edgeoffload.connect(cluster.address, policy="always-remote") as session:
        future = app.slow_pid.submit(str(marker), 1.5, 42)
        deadline = time.monotonic() + 20
        while not marker.exists() or not marker.read_text():
            assert time.monotonic() < deadline, "the call never started"
            time.sleep(0.02)
        victim = int(marker.read_text())
        assert victim != os.getpid()
        os.kill(victim, signal.SIGKILL)
        assert future.result(timeout=60) == 42
        record = session.stats().records[-1]
        assert record.outcome in ("ok", "fallback")
        assert len(record.attempts) >= 1
        killed = {w.name for w in session.stats().workers if w.pid == victim}
        assert record.attempts[0].worker in killed or not killed
        assert record.where not in killed
        # the session keeps working: the nanny restarts the worker and the monitor sees it
        assert app.score(app.Board([1, 2]), 3) == app.score.local(app.Board([1, 2]), 3)


def test_deadline_moves_the_call_and_it_still_completes(cluster: LocalCluster) -> None:
    """A call past its deadline is abandoned remotely and run locally; the stats say so."""
    with edgeoffload.connect(
        cluster.address, policy="always-remote", deadline=0.3, max_retries=0
    ) as session:
        assert app.slow(0.8, 9) == 9
        record = session.stats().records[-1]
        assert record.where == "local"
        assert record.outcome == "fallback"
        assert "did not answer within" in record.attempts[0].error
        failed = record.attempts[0].worker
        # the worker that timed out is avoided for a while (circuit breaker)
        app.score(app.Board([1]), 1)
        assert session.stats().records[-1].where not in (failed,)


def test_every_worker_failing_falls_back_locally(cluster: LocalCluster) -> None:
    """When every remote attempt fails, the call runs locally with the right result."""
    with edgeoffload.connect(
        cluster.address, policy="always-remote", deadline=0.2, max_retries=5
    ) as session:
        assert app.slow(0.5, 3) == 3
        record = session.stats().records[-1]
        assert record.where == "local"
        assert record.outcome == "fallback"
        assert {a.worker for a in record.attempts} == {w.name for w in session.stats().workers}
        assert session.stats().fallbacks == 1


def test_silent_client_loses_its_code_and_sends_it_again() -> None:
    """A client not heard from for a while has its bundles dropped by the scheduler
    plugin; its next call finds them gone, sends them again and still succeeds."""
    from edgeoffload.runtime.worker.plugins import EdgeOffloadSchedulerPlugin

    with (
        LocalCluster(n_workers=1) as own,
        edgeoffload.connect(own.address, policy="always-remote") as session,
    ):
        board = app.Board([1, 2, 3])
        assert app.score(board, 1) == 11
        (name,) = session.workers()
        folder = session.worker_cache_dir(name)
        assert folder is not None and any(folder.glob("*.zip"))
        # a plugin that calls a client silent after 0.3 s (Dask clients heartbeat
        # every few seconds, so this one soon counts as gone)
        impatient = EdgeOffloadSchedulerPlugin(0.3, 0.1, name="edgeoffload-impatient")
        session._dask_client.register_plugin(impatient)
        deadline = time.monotonic() + 15
        while folder.exists():
            assert time.monotonic() < deadline, "the silent client's code was not dropped"
            time.sleep(0.1)
        session._dask_client.unregister_scheduler_plugin("edgeoffload-impatient")
        assert app.score(board, 2) == 22
        record = session.stats().records[-1]
        assert record.where == name
        assert "not in this worker's cache" in record.attempts[0].error
        assert record.code_bytes == session.bundles()["eo_testapp.board"].size
