"""BLAS/OpenMP threads per job: an offloaded call may use the worker's ``--blas-threads``,
a DAG task or a probe one — in real child processes of real workers.

numpy here is built with OpenBLAS (``numpy.show_config()``), whose thread count
:func:`threadpoolctl.threadpool_info` reports in the process it runs in.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import commands
from edgeoffload.runtime.host.cpu import cpu_capacity
from edgeoffload.runtime.wire.bundles import Bundle, build_bundle
from edgeoffload.runtime.wire.protocol import client_module_name, dumps, loads
from edgeoffload.runtime.worker.cache import CodeStore
from edgeoffload.runtime.worker.child import JobThreads
from edgeoffload.runtime.worker.executor import BLAS_THREADS_ENV, ExecutorPool, usable_cores
from edgeoffload.runtime.worker.jobs import Job
from edgeoffload.runtime.worker.service import BLAS_ENV, default_blas_threads
from worker_bundles import APPS

threadpoolctl = pytest.importorskip("threadpoolctl")
THREADS = "eo_workerapp.threads"
OTHER = 2 if usable_cores() != 2 else 3
"""A thread count that is not this machine's default (which is its cores)."""


def openblas(info: dict[str, int]) -> int:
    """OpenBLAS's thread count in a :func:`~eo_workerapp.threads.pool_threads` answer."""
    assert "openblas" in info, f"numpy here is not built with OpenBLAS: {info}"
    return info["openblas"]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No BLAS thread variable in this process's environment (children inherit it)."""
    for name in (*BLAS_ENV, BLAS_THREADS_ENV):
        monkeypatch.delenv(name, raising=False)


class TestJobThreads:
    @pytest.fixture
    def restored(self) -> Iterator[None]:
        """This process's thread pools as they were, after the test."""
        import numpy  # noqa: F401  (loads OpenBLAS)

        with threadpoolctl.threadpool_limits(limits=None):  # restores on exit
            yield

    def test_each_kind_gets_its_limit(self, restored: None) -> None:
        """A call gets ``calls`` threads, a DAG task or a probe one, each set anew."""
        threads = JobThreads(3)
        for kind, expected in [("call", 3), ("task", 1), ("call", 3), ("probe", 1)]:
            assert threads.limit(kind) == expected
            limits = {i["internal_api"]: i["num_threads"] for i in threadpoolctl.threadpool_info()}
            assert limits["openblas"] == expected, (kind, limits)


class TestDefault:
    def test_the_environment_wins_when_set(self) -> None:
        """Someone who set OMP_NUM_THREADS and the like chose: the smallest positive wins."""
        assert default_blas_threads({"OMP_NUM_THREADS": "3", "MKL_NUM_THREADS": "2"}) == 2
        assert default_blas_threads({"OPENBLAS_NUM_THREADS": "1"}, cores=8) == 1
        assert default_blas_threads({"OMP_NUM_THREADS": "0"}, cores=4) == 4

    def test_else_the_whole_cores(self) -> None:
        """Without them: the cores the worker may use, whole, at least one."""
        assert default_blas_threads({}, cores=4.0) == 4
        assert default_blas_threads({}, cores=2.5) == 2
        assert default_blas_threads({}, cores=0.25) == 1
        whole = math.floor(cpu_capacity().cores + 1e-9)  # affinity, cgroup quota
        assert default_blas_threads({}) == max(1, whole) <= usable_cores()


def _call(fn: str, digest: str) -> Job:
    return Job("call", "alice", (digest, THREADS, fn), (digest,), dumps(((), {})), label=fn)


def _run(pool: ExecutorPool, job: Job) -> Any:
    result = pool.submit(job).wait(30)
    assert result is not None and result.status == "ok", result
    return loads(result.frames, rename=client_module_name)


@pytest.fixture(scope="module")
def threads_bundle() -> Bundle:
    """The bundle of :mod:`eo_workerapp.threads`."""
    return build_bundle(THREADS)


class TestExecutor:
    @pytest.fixture
    def bundle(self, threads_bundle: Bundle) -> Bundle:
        return threads_bundle

    @pytest.fixture
    def store(self, tmp_path: Path, bundle: Bundle) -> Iterator[CodeStore]:
        s = CodeStore("threads", base=tmp_path)
        s.put("alice", bundle.hash, bundle.data)
        yield s
        s.close()

    def test_calls_tasks_and_probes_in_one_child(
        self, store: CodeStore, bundle: Bundle, clean_env: None
    ) -> None:
        """One child runs a call (``blas_threads``), a DAG task (1), a probe and a call
        again: each job has its kind's limit, whatever ran before it."""
        with ExecutorPool(1, store, name="threads", blas_threads=OTHER) as pool:
            call = _call("pool_threads", bundle.hash)
            task = Job("task", "alice", (bundle.hash, THREADS, "pool_threads"), (bundle.hash,))
            assert openblas(_run(pool, call)) == OTHER
            assert openblas(_run(pool, task)) == 1
            probe = pool.submit(Job("probe", "alice", work=1000)).wait(30)
            assert probe is not None and probe.status == "ok"
            assert openblas(_run(pool, call)) == OTHER

    def test_default_is_what_the_worker_process_says_else_its_cores(
        self, store: CodeStore, bundle: Bundle, clean_env: None, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without ``blas_threads`` the pool takes the worker process's choice (in
        EDGEOFFLOAD_BLAS_THREADS, which its children do not see), else its cores."""
        with ExecutorPool(1, store, name="threads") as pool:
            assert pool.blas_threads == usable_cores()
            assert openblas(_run(pool, _call("pool_threads", bundle.hash))) == usable_cores()
        monkeypatch.setenv(BLAS_THREADS_ENV, str(OTHER))
        with ExecutorPool(1, store, name="threads") as pool:
            assert openblas(_run(pool, _call("pool_threads", bundle.hash))) == OTHER
            name = dumps(((BLAS_THREADS_ENV,), {}))
            env = Job("call", "alice", (bundle.hash, THREADS, "environment"), (bundle.hash,), name)
            assert _run(pool, env) is None


@pytest.fixture(scope="module")
def embedded() -> Iterator[Any]:
    """A session of an embedded cluster of one worker ``w`` with ``blas_threads``."""
    import edgeoffload
    from edgeoffload.runtime import WorkerSpec

    with pytest.MonkeyPatch.context() as env:
        for name in (*BLAS_ENV, BLAS_THREADS_ENV):
            env.delenv(name, raising=False)
        with edgeoffload.connect(
            workers=[WorkerSpec("w", blas_threads=OTHER)], policy="always-remote"
        ) as session:
            yield session


@pytest.mark.dask
@pytest.mark.slow
class TestWorkers:
    def test_cli_worker_calls_use_blas_threads_and_dag_tasks_one(
        self, tmp_path: Path, clean_env: None
    ) -> None:
        """``edgeoffload worker --blas-threads N``: an offloaded call sees N threads, a DAG
        task on the same worker 1, and a call after it N again."""
        import eo_workerapp.threads as threads

        import edgeoffload
        from edgeoffload.model import Cluster, Node
        from edgeoffload.runtime import run_dag
        from edgeoffload.runtime.dag import Dag

        started: list[Any] = []
        try:
            scheduler = commands.start(
                ["scheduler", "--port", "0", "--no-dashboard", "--insecure"],
                tmp_path / "scheduler.log",
                APPS,
            )
            started.append(scheduler.proc)
            worker = commands.start(
                [
                    "worker",
                    "--scheduler",
                    scheduler.address,
                    "--name",
                    "w",
                    "--insecure",
                    "--blas-threads",
                    str(OTHER),
                ],
                tmp_path / "worker.log",
                APPS,
            )
            started.append(worker.proc)
            with edgeoffload.connect(
                scheduler.address, insecure=True, wait_for_workers=1, policy="always-remote"
            ) as session:
                assert openblas(threads.pool_threads()) == OTHER
                assert session.stats().records[-1].where == "w"
                dag = Dag("threads")
                dag.task("t", threads.pool_threads, work=1e6)
                run = run_dag(session, dag, cluster=Cluster([Node("w", 1e9)]), algorithm="heft")
                assert [openblas(v) for v in run.outputs.values()] == [1]
                assert openblas(threads.pool_threads()) == OTHER
            assert f"{OTHER} BLAS thread(s) per call" in commands.read_log(worker.log)
        finally:
            commands.stop(*reversed(started))

    def test_embedded_worker_spec_blas_threads(self, embedded: Any) -> None:
        """``WorkerSpec(blas_threads=N)`` reaches the embedded cluster's worker."""
        import eo_workerapp.threads as threads

        assert openblas(threads.pool_threads()) == OTHER
        assert embedded.stats().records[-1].where == "w"

    def test_pinned_calls_run_at_one_thread(self, embedded: Any) -> None:
        """A pinned call (``call_on``: calibration's kernels, the DAG service's calls)
        runs at one thread, as DAG tasks do."""
        import eo_workerapp.threads as threads

        pinned, _ = embedded.pool.call_on("w", threads.pool_threads)
        assert openblas(pinned) == 1
