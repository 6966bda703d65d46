"""The executor: jobs run in real child processes, which can be cancelled, lost and replaced."""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from edgeoffload.errors import OffloadError
from edgeoffload.runtime.host.procs import pid_alive
from edgeoffload.runtime.wire.bundles import Bundle
from edgeoffload.runtime.wire.protocol import client_module_name, dumps, loads
from edgeoffload.runtime.worker.cache import CodeStore, owner_key
from edgeoffload.runtime.worker.executor import ExecutorPool
from edgeoffload.runtime.worker.jobs import Job, JobResult
from worker_bundles import CALLS, variant


def call_job(digest: str, fn: str, *args: Any, owner: str = "alice", **kwargs: Any) -> Job:
    return Job("call", owner, (digest, CALLS, fn), (digest,), dumps((args, kwargs)), label=fn)


def run(pool: ExecutorPool, job: Job, timeout: float = 20.0) -> JobResult:
    result = pool.submit(job).wait(timeout)
    assert result is not None, f"{job.label} did not finish within {timeout} s"
    return result


def value(result: JobResult) -> Any:
    assert result.status == "ok", result.header
    return loads(result.frames, rename=client_module_name)


def gone(pids: list[int], timeout: float) -> list[int]:
    """Wait (on pidfds where the kernel has them) until ``pids`` have exited; the ones
    still running after ``timeout`` seconds. An exited but unreaped process counts as
    gone: its parent died, and reaping it is init's job."""
    deadline = time.monotonic() + timeout
    left = []
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        finally:
            os.close(fd)
        if pid_alive(pid):
            left.append(pid)
    return left


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, bundle: Bundle) -> Iterator[CodeStore]:
    s = CodeStore("executor", base=tmp_path_factory.mktemp("store"))
    s.put("alice", bundle.hash, bundle.data)
    yield s
    s.close()


@pytest.fixture(scope="module")
def shared_pool(store: CodeStore) -> Iterator[ExecutorPool]:
    with ExecutorPool(2, store, name="test-worker") as p:
        yield p


@pytest.fixture
def pool(shared_pool: ExecutorPool) -> ExecutorPool:
    """The shared pool once every child is ready (earlier tests kill some)."""
    assert shared_pool.wait_ready(30.0)
    return shared_pool


class TestCalls:
    def test_a_call_returns_its_value_and_compute(self, pool: ExecutorPool, bundle: Bundle) -> None:
        """The function's return value comes back pickled, with its compute time."""
        result = run(pool, call_job(bundle.hash, "add", 2, 3))
        assert value(result) == 5
        assert 0.0 <= result.header["compute"] < 1.0
        assert isinstance(result.header["cold"], bool)
        assert result.waited >= 0.0

    def test_it_runs_in_a_child_process(self, pool: ExecutorPool, bundle: Bundle) -> None:
        """The call runs in one of the pool's children, not in this process."""
        pid = value(run(pool, call_job(bundle.hash, "pid")))
        assert pid != os.getpid()
        assert pid in pool.pids()
        assert psutil.Process(pid).ppid() == os.getpid()

    def test_an_exception_comes_back_as_an_error(self, pool: ExecutorPool, bundle: Bundle) -> None:
        """What the function raises is an error result whose frames rebuild it."""
        from eo_workerapp.calls import AppError

        result = run(pool, call_job(bundle.hash, "fail", "boom"))
        assert result.status == "error"
        assert result.header["type"] == "eo_workerapp.calls.AppError"
        assert result.header["message"] == "boom"
        assert result.header["worker"] == "test-worker"
        assert "raise AppError(message)" in result.header["traceback"]
        exc = loads(result.frames, rename=client_module_name)
        assert type(exc) is AppError
        assert str(exc) == "boom"

    def test_application_objects_cross_both_ways(self, pool: ExecutorPool, bundle: Bundle) -> None:
        """An argument of a bundle class is renamed in, the result renamed back out."""
        from eo_workerapp.shapes import Point

        assert value(run(pool, call_job(bundle.hash, "scaled", Point(1, 2), 3))) == Point(3, 6)

    def test_a_task_gets_its_inputs_before_its_arguments(
        self, pool: ExecutorPool, bundle: Bundle
    ) -> None:
        """A task calls fn(*inputs, *args, **kwargs) with its predecessors' results."""
        job = Job(
            "task",
            "alice",
            (bundle.hash, CALLS, "total"),
            (bundle.hash,),
            dumps(((3,), {"extra": 10})),
            inputs=(dumps(1), dumps(2)),
            label="t1",
        )
        assert value(run(pool, job)) == 16

    def test_installed_code_runs_by_name(self, pool: ExecutorPool) -> None:
        """A function without a bundle is imported by name in the child."""
        job = Job("call", "alice", (None, "os", "getpid"), frames=dumps(((), {})))
        assert value(run(pool, job)) in pool.pids()

    def test_a_probe_times_the_benchmark(self, pool: ExecutorPool) -> None:
        """A probe runs the fixed benchmark in a child and reports its seconds."""
        result = run(pool, Job("probe", "", work=20_000))
        assert result.status == "ok"
        assert 0.0 < result.header["seconds"] < 5.0

    def test_seeded_random_matches_a_local_run(self, pool: ExecutorPool, bundle: Bundle) -> None:
        """A seeded pure-Python function returns in the child what it returns here, twice."""
        from eo_workerapp.calls import seeded

        local = seeded()
        assert value(run(pool, call_job(bundle.hash, "seeded"))) == local
        assert value(run(pool, call_job(bundle.hash, "seeded"))) == local


class TestRefusals:
    def test_a_bundle_not_in_the_store_is_refused_at_once(self, pool: ExecutorPool) -> None:
        """A job naming a bundle the store lacks is refused without reaching a child."""
        result = run(pool, call_job("0" * 64, "add", 1, 2))
        assert result.status == "refused"
        assert "not in this worker's cache" in result.header["error"]

    def test_an_unknown_function_is_refused(self, pool: ExecutorPool, bundle: Bundle) -> None:
        """A function that is not in the bundle stops the job from starting."""
        result = run(pool, call_job(bundle.hash, "nope"))
        assert result.status == "refused"
        assert "AttributeError" in result.header["error"]
        assert "nope" in result.header["error"]

    def test_arguments_that_do_not_unpickle_are_refused(
        self, pool: ExecutorPool, bundle: Bundle
    ) -> None:
        """Arguments the child cannot unpickle stop the job from starting."""
        job = Job("call", "alice", (bundle.hash, CALLS, "add"), (bundle.hash,), [b"garbage"])
        result = run(pool, job)
        assert result.status == "refused"
        assert "cannot prepare" in result.header["error"]

    def test_a_tampered_zip_is_refused(
        self, pool: ExecutorPool, store: CodeStore, bundle: Bundle
    ) -> None:
        """A stored bundle edited before any child loaded it is refused, not run."""
        store.put("mallory", bundle.hash, bundle.data)
        path = store.path("mallory", bundle.hash)
        data = bytearray(path.read_bytes())
        data[-10] ^= 0x01
        path.write_bytes(bytes(data))
        result = run(pool, call_job(bundle.hash, "add", 1, 2, owner="mallory"))
        assert result.status == "refused"
        assert "was modified" in result.header["error"]

    def test_editing_the_zip_of_a_module_not_yet_imported_has_no_effect(
        self, pool: ExecutorPool, store: CodeStore, bundle: Bundle
    ) -> None:
        """Issue finding 6: a module first imported after its stored source was edited
        runs the verified source (or the job is refused), never the edit."""
        store.put("carol", bundle.hash, bundle.data)
        pid, modules = value(run(pool, call_job(bundle.hash, "process", owner="carol")))
        prefix = f"_eo_{owner_key('carol')}_{bundle.hash[:12]}"
        assert f"{prefix}.{CALLS}" in modules
        assert f"{prefix}.eo_workerapp.lazy" not in modules
        _, edited = variant(bundle, "eo_workerapp/lazy.py", b"lazy-original", b"lazy-EDITED")
        store.path("carol", bundle.hash).write_bytes(edited)
        result = run(pool, call_job(bundle.hash, "lazy_value", owner="carol"))
        if result.status == "refused":  # another child got it: it read the edited file
            assert "was modified" in result.header["error"]
        else:
            assert value(result) == "lazy-original"
        assert pid in pool.pids()


class TestIsolation:
    def test_two_owners_with_the_same_module_get_their_own(
        self, pool: ExecutorPool, store: CodeStore, bundle: Bundle
    ) -> None:
        """In one child, two owners' versions of 'eo_workerapp.helpers' do not mix."""
        digest_b, data_b = variant(
            bundle, "eo_workerapp/helpers.py", b'IDENT = "original"', b'IDENT = "changed"'
        )
        store.put("bob", digest_b, data_b)
        pid_a, ident_a = value(run(pool, call_job(bundle.hash, "ident")))
        pid_b, ident_b = value(run(pool, call_job(digest_b, "ident", owner="bob")))
        assert (ident_a, ident_b) == ("original", "changed")
        assert pid_a == pid_b  # an idle pool gives a job to the child used last

    def test_drop_owner_unloads_its_modules(
        self, pool: ExecutorPool, store: CodeStore, bundle: Bundle
    ) -> None:
        """After drop_owner, the owner's modules are gone from the child's sys.modules."""
        store.put("dave", bundle.hash, bundle.data)
        store.put("erin", bundle.hash, bundle.data)
        prefix = f"_eo_{owner_key('dave')}_"
        pid, modules = value(run(pool, call_job(bundle.hash, "process", owner="dave")))
        assert any(m.startswith(prefix) for m in modules)
        pool.drop_owner("dave")
        # erin's code is nowhere yet: her job goes to the child used last, dave's
        after_pid, after = value(run(pool, call_job(bundle.hash, "process", owner="erin")))
        assert after_pid == pid
        assert [m for m in after if m.startswith(prefix)] == []
        assert any(m.startswith(f"_eo_{owner_key('erin')}_") for m in after)


class TestStopping:
    def test_cancel_kills_a_running_job_and_a_new_child_serves(
        self, pool: ExecutorPool, bundle: Bundle
    ) -> None:
        """Cancelling a 10 s job returns at once, ends its process, and the next job runs
        in another child."""
        handle = pool.submit(call_job(bundle.hash, "nap", 10.0, 1))
        assert handle.state == "running"
        pid = handle.pid  # type: ignore[attr-defined]
        start = time.perf_counter()
        assert handle.cancel() is True
        result = handle.wait(1.0)
        assert time.perf_counter() - start < 0.5
        assert result is not None and result.status == "cancelled"
        assert str(pid) in result.header["error"]
        assert not psutil.pid_exists(pid)
        assert handle.cancel() is False
        other = value(run(pool, call_job(bundle.hash, "pid")))
        assert other != pid
        assert other in pool.pids()

    def test_cancel_of_a_queued_job_dequeues_it(self, pool: ExecutorPool, bundle: Bundle) -> None:
        """A job waiting for a slot is cancelled without touching any child."""
        naps = [pool.submit(call_job(bundle.hash, "nap", 10.0, i)) for i in range(2)]
        queued = pool.submit(call_job(bundle.hash, "add", 1, 2))
        assert queued.state == "queued"
        assert pool.load()["waiting"] == 1
        assert queued.cancel() is True
        result = queued.wait(1.0)
        assert result is not None and result.status == "cancelled"
        assert "before it started" in result.header["error"]
        assert pool.load()["waiting"] == 0
        for handle in naps:
            assert handle.cancel() is True

    def test_a_job_that_never_returns_blocks_only_its_slot(
        self, pool: ExecutorPool, bundle: Bundle
    ) -> None:
        """While one job sleeps, the other slot keeps serving."""
        stuck = pool.submit(call_job(bundle.hash, "nap", 30.0, 0))
        start = time.perf_counter()
        assert value(run(pool, call_job(bundle.hash, "add", 4, 5))) == 9
        assert time.perf_counter() - start < 5.0
        assert stuck.state == "running"
        assert stuck.cancel() is True

    def test_a_child_killed_mid_job_gives_lost(self, pool: ExecutorPool, bundle: Bundle) -> None:
        """SIGKILL of the child running a job makes it lost, saying so; a child replaces it."""
        handle = pool.submit(call_job(bundle.hash, "nap", 10.0, 1))
        pid = handle.pid  # type: ignore[attr-defined]
        os.kill(pid, signal.SIGKILL)
        result = handle.wait(5.0)
        assert result is not None and result.status == "lost"
        assert f"executor process {pid}" in result.header["error"]
        assert "SIGKILL" in result.header["error"]
        assert value(run(pool, call_job(bundle.hash, "add", 1, 1))) == 2

    def test_a_child_that_exits_mid_job_gives_lost(
        self, pool: ExecutorPool, bundle: Bundle
    ) -> None:
        """A function that ends its process makes the job lost, with the exit code."""
        result = run(pool, call_job(bundle.hash, "crash", 3))
        assert result.status == "lost"
        assert "exited with code 3" in result.header["error"]

    def test_callbacks_get_the_result_and_their_errors_are_logged(
        self, pool: ExecutorPool, bundle: Bundle, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A done-callback gets the result (at once when already done); one that raises
        is logged, not raised."""
        handle = pool.submit(call_job(bundle.hash, "add", 1, 2))
        assert handle.wait(10.0) is not None
        got: list[str] = []
        handle.add_done_callback(lambda r: got.append(r.status))

        def broken(result: JobResult) -> None:
            raise RuntimeError("callback bug")

        with caplog.at_level(logging.ERROR):
            handle.add_done_callback(broken)
        assert got == ["ok"]
        assert "done-callback raised" in caplog.text


class TestPoolLife:
    def test_slots_bound_concurrency_and_waits_are_reported(
        self, store: CodeStore, bundle: Bundle
    ) -> None:
        """With 2 slots, three 1 s jobs take about 2 s; the third waited about 1 s."""
        with ExecutorPool(2, store, name="slots") as pool:
            start = time.perf_counter()
            handles = [pool.submit(call_job(bundle.hash, "nap", 1.0, i)) for i in range(3)]
            assert pool.load() == {"running": 2, "waiting": 1, "calls": 0}
            results = [h.wait(10.0) for h in handles]
            elapsed = time.perf_counter() - start
            assert [value(r) for r in results if r is not None] == [0, 1, 2]
            assert 1.9 < elapsed < 2.8
            waits = [r.waited for r in results if r is not None]
            assert waits[0] < 0.2 and waits[1] < 0.2
            assert 0.9 < waits[2] < 1.5
            assert pool.load() == {"running": 0, "waiting": 0, "calls": 3}

    def test_children_end_when_the_pool_closes(self, store: CodeStore, bundle: Bundle) -> None:
        """Closing cancels what runs, ends every child and refuses later jobs."""
        pool = ExecutorPool(1, store, name="closing")
        pool.start()
        pids = pool.pids()
        assert len(pids) == 2
        running = pool.submit(call_job(bundle.hash, "nap", 10.0, 1))
        pool.close()
        pool.close()
        result = running.wait(1.0)
        assert result is not None and result.status == "cancelled"
        assert [p for p in pids if psutil.pid_exists(p)] == []
        late = pool.submit(call_job(bundle.hash, "add", 1, 2)).wait(1.0)
        assert late is not None and late.status == "refused"

    def test_children_die_with_their_parent(self, tmp_path: Path) -> None:
        """When the worker process is SIGKILLed, its children end within seconds."""
        script = (
            "import json, sys\n"
            "from pathlib import Path\n"
            "from edgeoffload.runtime.worker.cache import CodeStore\n"
            "from edgeoffload.runtime.worker.executor import ExecutorPool\n"
            "pool = ExecutorPool(1, CodeStore('orphan', base=Path(sys.argv[1])))\n"
            "pool.start()\n"
            "print(json.dumps(pool.pids()), flush=True)\n"
            "sys.stdin.read()\n"
        )
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        parent = subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        try:
            assert parent.stdout is not None
            pids = json.loads(parent.stdout.readline())
            assert len(pids) == 2
            assert all(psutil.Process(p).ppid() == parent.pid for p in pids)
        finally:
            parent.kill()
            parent.wait()
        assert gone(pids, timeout=5.0) == []

    def test_a_child_that_cannot_start_fails_start_loudly(self, store: CodeStore) -> None:
        """If children die before they are ready, start() raises saying so."""
        pool = ExecutorPool(1, store, name="broken", env={"PYTHONHOME": "/nonexistent"})
        with pytest.raises(OffloadError, match="before it was ready"):
            pool.start(timeout=30.0)
        assert pool.pids() == []
