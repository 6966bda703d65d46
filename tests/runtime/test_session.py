"""Sessions on a real loopback cluster: results, exceptions, code transfer, caches, stats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import edgeoffload
from edgeoffload.errors import RemoteTaskError
from edgeoffload.runtime import LocalCluster, Session
from waiting import wait_until

pytestmark = pytest.mark.dask

app = pytest.importorskip("eo_testapp.board")


@pytest.fixture
def session(shared_cluster: LocalCluster):
    with edgeoffload.connect(shared_cluster, policy="always-remote") as s:
        yield s


def _remote(session: Session) -> set[str]:
    return {r.where for r in session.stats().records} - {"local"}


class TestResults:
    def test_numpy_arrays_equal_local_results(self, session: Session) -> None:
        """A numpy product computed on a worker equals the local one, dtype and all."""
        rng = np.random.default_rng(7)
        a, b = rng.random((60, 40)), rng.random((40, 30))
        remote = app.matmul(a, b)
        np.testing.assert_array_equal(remote, app.matmul.local(a, b))
        assert remote.dtype == np.float64
        assert _remote(session)

    def test_large_array_round_trip(self, session: Session) -> None:
        """A 2 MB argument and result travel out of band and come back intact."""
        a = np.arange(512 * 512, dtype=np.float64).reshape(512, 512)
        eye = np.eye(512)
        np.testing.assert_array_equal(app.matmul(a, eye), a)

    def test_dicts_with_bundle_classes(self, session: Session) -> None:
        """Nested dicts holding dataclass instances from the bundle come back equal."""
        data = {"a": [1, 2, 3], "b": [7]}
        assert app.summarise(data) == app.summarise.local(data)

    def test_instances_of_bundle_classes(self, session: Session) -> None:
        """Instances of a bundle class go out as arguments and come back as results."""
        board = app.Board([4, 5, 6], {"x": 1})
        assert app.score(board, 3) == app.score.local(board, 3)
        made = app.make_board(5)
        assert isinstance(made, app.Board)
        assert made == app.Board([0, 1, 2, 3, 4], {"n": 5})

    def test_methods_and_lazy_imports(self, session: Session) -> None:
        """A method (its instance travels too) and a function-level import work remotely."""
        board = app.Board([1, 1, 1])
        scorer = app.Scorer(4)
        assert scorer.weighted(board) == scorer.weighted.local(board) == 24
        assert app.norm(3, -4) == 7
        assert all(r.where != "local" for r in session.stats().records if "local" not in r.reason)

    def test_runs_in_a_worker_process(self, session: Session) -> None:
        """Offloaded calls run in another process; .local runs here."""
        import os

        assert app.where() != os.getpid()
        assert app.where.local() == os.getpid()

    def test_submit_and_map(self, session: Session) -> None:
        """submit returns a future; map keeps order and spreads calls over both workers."""
        assert app.spin.submit(1000).result() == app.spin.local(1000)
        values = session.map(app.slow, [0.2] * 4, range(4))
        assert values == [0, 1, 2, 3]
        slow_on = {r.where for r in session.stats().records if r.function.endswith(":slow")}
        assert len(slow_on) == 2


class TestExceptions:
    def test_remote_exception_is_rebuilt_with_traceback(self, session: Session) -> None:
        """The original exception type is raised, caused by a RemoteTaskError with the trace."""
        with pytest.raises(app.AppError, match="boom") as info:
            app.fail("boom")
        cause = info.value.__cause__
        assert isinstance(cause, RemoteTaskError)
        assert "raise AppError(message)" in cause.remote_traceback
        assert "board.py" in cause.remote_traceback
        assert session.stats().records[-1].outcome == "error"

    def test_no_session_runs_locally(self) -> None:
        """Without a session the same exception is raised locally, with no cause."""
        with pytest.raises(app.AppError) as info:
            app.fail("here")
        assert info.value.__cause__ is None


class TestCodeTransfer:
    def test_code_is_sent_once(self, session: Session) -> None:
        """Pre-transfer sends each worker the bundle once; later calls carry no code."""
        stats = session.stats()
        bundle = session.bundles()["eo_testapp.board"]
        sent_at_connect = stats.code_bytes_sent
        ours = [t for t in stats.transfers if t.bundle == bundle.hash]
        assert sorted(t.worker for t in ours) == ["worker-0", "worker-1"]  # at connect
        assert sum(t.bytes for t in ours) == 2 * bundle.size
        for i in range(6):
            app.score(app.Board([i]), 1)
        after = session.stats()
        assert after.code_bytes_sent == sent_at_connect
        assert all(r.code_bytes == 0 for r in after.records)
        assert after.warm_calls >= 4  # only each worker's first call imports the bundle

    def test_worker_holding_the_bundle_is_sent_nothing(self, session: Session) -> None:
        """Re-greeting workers that hold the bundle already transfers no code."""
        before = session.stats()
        session.refresh(full=True)
        after = session.stats()
        assert after.code_bytes_sent == before.code_bytes_sent
        digest = session.bundles()["eo_testapp.board"].hash
        new = after.transfers[len(before.transfers) :]
        assert sorted((t.worker, t.bytes, t.hit) for t in new if t.bundle == digest) == [
            ("worker-0", 0, True),
            ("worker-1", 0, True),
        ]
        assert app.score(app.Board([2]), 2) == app.score.local(app.Board([2]), 2)

    def test_bundle_is_small_and_records_requirements(self, session: Session) -> None:
        """The bundle ships the app's modules only and names numpy and edgeoffload."""
        bundle = session.bundles()["eo_testapp.board"]
        assert set(bundle.modules) == {
            "eo_testapp",
            "eo_testapp.board",
            "eo_testapp.geometry",
            "eo_testapp.helpers",
        }
        assert {"numpy", "edgeoffload"} <= set(bundle.requirements)
        assert bundle.size < 20_000


class TestCache:
    def test_disconnect_empties_the_workers_cache(self, shared_cluster: LocalCluster) -> None:
        """When a client leaves, every worker deletes that client's bundle folder."""
        with edgeoffload.connect(shared_cluster, policy="always-remote") as s:
            app.score(app.Board([1]), 1)
            folders = [s.worker_cache_dir(name) for name in s.workers()]
            assert all(f is not None and f.is_dir() for f in folders)
            assert all(any(f.glob("*.zip")) for f in folders if f is not None)
        wait_until(
            lambda: not any(f.exists() for f in folders if f is not None),
            10.0,
            "the workers deleting the client's bundle folders",
        )

    def test_tampered_bundle_is_refused(self, shared_cluster: LocalCluster) -> None:
        """A bundle edited in a worker's cache is refused before it runs; the call still
        returns the right result (from the other worker or locally), and the stats say why.
        """
        with edgeoffload.connect(shared_cluster, policy="always-remote") as s:
            digest = s.bundles()["eo_testapp.board"].hash
            for name in s.workers():
                folder = s.worker_cache_dir(name)
                assert folder is not None
                path = Path(folder) / f"{digest}.zip"
                data = bytearray(path.read_bytes())
                data[len(data) // 2] ^= 0xFF
                path.write_bytes(bytes(data))
            assert app.score(app.Board([1, 2]), 2) == app.score.local(app.Board([1, 2]), 2)
            record = s.stats().records[0]
            assert record.where == "local"
            assert record.outcome == "fallback"
            assert len(record.attempts) == 2
            assert all("modified" in a.error for a in record.attempts)


class TestStats:
    def test_stats_and_summary(self, session: Session, capsys: pytest.CaptureFixture[str]) -> None:
        """Stats count calls, places, bytes and reasons; the summary prints them."""
        app.score(app.Board([1]), 1)
        app.score.local(app.Board([1]), 1)
        stats = session.stats()
        assert stats.calls == 2
        assert stats.by_node.get("local") == 1
        assert stats.bytes_sent > 0
        assert stats.reasons[1] == "forced local (.local)"
        assert stats.as_dict()["calls"] == 2
        session.print_summary()
        out = capsys.readouterr().out
        assert "Workers" in out and "Calls" in out and "Totals" in out


def test_the_comm_transport_warns_and_uses_the_channel(shared_cluster: LocalCluster) -> None:
    """transport='comm' is gone: it says so and calls go over the channel."""
    with pytest.warns(FutureWarning, match="transport='comm' is gone"):
        s = edgeoffload.connect(shared_cluster, policy="always-remote", transport="comm")
    with s:
        board = app.Board([3, 4])
        assert app.score(board, 5) == app.score.local(board, 5)
        assert s.transport == "channel"
        assert _remote(s)
    with pytest.raises(ValueError, match="transport must be 'channel'"):
        edgeoffload.connect(shared_cluster, transport="carrier pigeon")


def test_latency_policy_keeps_tiny_calls_local(shared_cluster: LocalCluster) -> None:
    """With history, a call costing microseconds stays local: transfer would dominate."""
    with edgeoffload.connect(shared_cluster) as s:
        for _ in range(3):
            app.score.local(app.Board([1]), 1)
        app.score(app.Board([1]), 1)
        assert s.stats().records[-1].where == "local"
        assert "local predicted" in s.stats().records[-1].reason


def test_throttled_worker_is_probed_slower_and_avoided() -> None:
    """A worker held to 0.2 of a core probes clearly slower than its peer, and the
    latency policy sends a heavy call to the peer."""
    from edgeoffload.runtime import WorkerSpec
    from edgeoffload.runtime.host.throttle import throttle_available

    if throttle_available("auto") is not None:
        pytest.skip(f"cannot throttle here: {throttle_available('auto')}")
    specs = [WorkerSpec("slow", cpu_quota=0.2), WorkerSpec("fast")]
    with edgeoffload.connect(workers=specs) as s:
        seen = []
        # 5x in CPU time; but a probe of a few ms can fit in the 20 ms the quota grants per
        # 100 ms period, and a machine busy with other work blurs it: probe a few times
        for _ in range(6):
            probes = {w.name: w.benchmark for w in s.stats().workers}
            seen.append(probes)
            if probes["slow"] > 1.5 * probes["fast"]:
                break
            s.refresh(full=True)  # probe again
        else:
            raise AssertionError(f"the throttled worker never probed slower: {seen}")
        assert app.spin(200_000) == app.spin.local(200_000)
        assert s.stats().records[0].where in ("fast", "local")
        assert s.stats().records[0].where != "slow"


def test_unpicklable_arguments_run_locally(session: Session) -> None:
    """Arguments that cannot be pickled (a lock) make the call run here, with the reason."""
    import threading

    board = app.Board([1], {"lock": threading.Lock()})  # type: ignore[dict-item]
    assert app.score(board, 1) == 3
    last = session.stats().records[-1]
    assert last.where == "local" and last.outcome == "fallback"
    assert "cannot be pickled" in last.reason and not last.attempts
