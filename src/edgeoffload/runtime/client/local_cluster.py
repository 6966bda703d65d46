"""An embedded cluster on loopback, and the workers it is made of.

``edgeoffload.connect()`` with no address starts a :class:`LocalCluster`: a scheduler
process and one worker process per :class:`WorkerSpec` — the very processes ``edgeoffload
scheduler`` and ``edgeoffload worker`` run — each under a nanny that starts it again if it
dies (:class:`~edgeoffload.runtime.worker.supervisor.Supervisor`; a scheduler comes back on
its port, and its workers rejoin it). Every port speaks mutual TLS with certificates made
for this cluster in memory and handed to its processes over a pipe: nobody else on the
machine can reach a worker (``insecure=True`` turns this off). A spec can hold a worker to
a fraction of a core (``cpu_quota``), so one machine can stand for a cluster of slow and
fast devices.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import sys
import tempfile
import threading
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeoffload.errors import OffloadError
from edgeoffload.model.cluster import Node, PowerProfile, Role
from edgeoffload.runtime.host import throttle
from edgeoffload.runtime.host.procs import LOG_LEVEL_ENV
from edgeoffload.runtime.wire.security import ROLES, TLSMaterial, ephemeral_material
from edgeoffload.runtime.worker import scheduler, service
from edgeoffload.runtime.worker.description import WorkerDescription, describe_from_preset
from edgeoffload.runtime.worker.supervisor import Supervisor

__all__ = ["LocalCluster", "WorkerSpec"]

_QUIET = {LOG_LEVEL_ENV: "WARNING", "DASK_LOGGING__DISTRIBUTED": "error"}
"""The embedded cluster's processes tell the program using them of losses, not of every
join, and Dask's own warnings (a handshake a restart cut short) stay out of its output."""


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """A worker of an embedded cluster, or the description of the client device.

    Parameters
    ----------
    name
        Worker name (the node id in stats and decisions).
    role
        ``"camera"``, ``"edge"`` or ``"device"``.
    preset
        A device preset of :mod:`edgeoffload.workloads.devices` (speed, cores, memory,
        power figures); explicit ``speed``/``power`` override it.
    speed
        FLOP/s, for the model (decisions rely on probes, which measure the real thing).
    power
        Watts idle, busy and transmitting: the energy policy's figures.
    nthreads
        Calls the worker runs at once.
    cpu_quota
        Fraction of one core the worker process may use (cgroup v1 quota, else a
        stop/continue duty cycle; skipped with a warning where neither works).
    blas_threads
        BLAS/OpenMP threads each offloaded call may use (DAG tasks, pinned calls and
        probes use one). Default: as ``edgeoffload worker`` without ``--blas-threads``
        (:func:`~edgeoffload.runtime.worker.service.default_blas_threads`): the
        ``OMP_NUM_THREADS``-like variables of the cluster's ``env`` if set, else the
        whole cores the worker may use (those of ``cpu_quota`` when given; at least 1).
    """

    name: str
    role: Role = "device"
    preset: str | None = None
    speed: float | None = None
    power: PowerProfile | None = None
    nthreads: int = 1
    cpu_quota: float | None = None
    blas_threads: int | None = None

    def __post_init__(self) -> None:
        if self.nthreads < 1:
            raise ValueError(f"nthreads must be >= 1, got {self.nthreads!r}")
        if self.blas_threads is not None and self.blas_threads < 1:
            raise ValueError(f"blas_threads must be >= 1, got {self.blas_threads!r}")
        if self.cpu_quota is not None and not self.cpu_quota > 0:
            raise ValueError(f"cpu_quota must be > 0 cores, got {self.cpu_quota!r}")

    def description(self) -> WorkerDescription:
        return describe_from_preset(self.role, self.preset, self.speed, self.power)

    def to_node(self) -> Node | None:
        """The model node this spec describes (``None`` without a speed or preset)."""
        return self.description().to_node(self.name)

    def call_threads(self, env: Mapping[str, str]) -> int | None:
        """The worker's ``blas_threads`` in a cluster whose workers get ``env``: as
        given, else with a ``cpu_quota`` what a worker held to it would choose, else
        ``None`` (the worker decides; the quota is applied after it starts)."""
        if self.blas_threads is not None or self.cpu_quota is None:
            return self.blas_threads
        return service.default_blas_threads({**os.environ, **env}, cores=self.cpu_quota)


class LocalCluster:
    """An embedded cluster on loopback: a scheduler process and worker processes, each
    under a nanny (see the module docstring).

    Parameters
    ----------
    workers
        The workers; default ``n_workers`` plain ones named ``worker-0``, ``worker-1``…
    n_workers
        How many default workers (2: this project's machine has 2 cores).
    timeout
        Seconds to wait for each process to start.
    insecure
        Plain TCP instead of mutual TLS (nothing else on this machine should reach it).
    reconnect_timeout
        Seconds a worker waits for a lost scheduler before it gives up (``None``: forever).
    cache_ttl
        Seconds a silent session keeps its code on a worker.
    env
        Extra environment variables of the worker processes (and the processes that run
        calls). ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` or ``MKL_NUM_THREADS`` here
        set the BLAS threads of the calls of workers whose spec has no ``blas_threads``.
    tls
        A folder made by ``edgeoffload certs`` to use instead of certificates made in
        memory, so that other processes can join the cluster with ``--tls DIR`` or
        ``connect(address, security=DIR)``.

    Workers with a ``cpu_quota`` are throttled as soon as their process runs, and again
    whenever their nanny starts them anew.

    Attributes
    ----------
    address
        The scheduler's address.
    client_material
        The client certificate a session of this cluster uses (``None`` when insecure).
    """

    def __init__(
        self,
        workers: Sequence[WorkerSpec] | None = None,
        n_workers: int = 2,
        timeout: float = 60.0,
        *,
        insecure: bool = False,
        reconnect_timeout: float | None = None,
        cache_ttl: float = 60.0,
        env: Mapping[str, str] | None = None,
        tls: str | Path | None = None,
    ) -> None:
        specs = list(workers) if workers else [WorkerSpec(f"worker-{i}") for i in range(n_workers)]
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"worker names must be unique: {names}")
        self.specs = {s.name: s for s in specs}
        self._throttles: dict[str, tuple[int, Any]] = {}
        self._default_quota: float | None = None
        self._lock = threading.Lock()
        self._closed = threading.Event()
        if insecure and tls is not None:
            raise ValueError("pass tls or insecure, not both")
        material: dict[str, TLSMaterial] | None
        if insecure:
            material = None
        elif tls is not None:
            material = {r: TLSMaterial.from_folder(Path(tls), r) for r in ROLES}
        else:
            material = ephemeral_material(("127.0.0.1", "localhost"))
        self.client_material: TLSMaterial | None = material["client"] if material else None
        self._workers: dict[str, Supervisor] = {}
        self._folder = tempfile.mkdtemp(prefix="edgeoffload-workers-")
        """The workers' working directory (empty; removed on close)."""
        scheduler_options = scheduler.SchedulerOptions(
            host="127.0.0.1",
            port=0,
            material=material["scheduler"].to_json() if material else None,
        )
        self._scheduler = Supervisor(
            [sys.executable, "-m", "edgeoffload.runtime.worker.scheduler"],
            scheduler_options.to_json().encode(),
            ready=scheduler.READY,
            name="the embedded scheduler",
            env=_QUIET,
        )
        try:
            self.address = self._scheduler.start(timeout)
            # a restarted scheduler comes back on the same port, where its workers look
            port = int(self.address.rpartition(":")[2])
            self._scheduler.stdin = (
                scheduler.SchedulerOptions(
                    host="127.0.0.1",
                    port=port,
                    material=scheduler_options.material,
                )
                .to_json()
                .encode()
            )
            for spec in specs:
                options = service.ServiceOptions(
                    scheduler=self.address,
                    name=spec.name,
                    host="127.0.0.1",
                    nthreads=spec.nthreads,
                    description=spec.description().as_dict(),
                    material=material["worker"].to_json() if material else None,
                    reconnect_timeout=reconnect_timeout,
                    cache_ttl=cache_ttl,
                    blas_threads=spec.call_threads(env or {}),
                )
                self._workers[spec.name] = Supervisor(
                    [sys.executable, "-m", "edgeoffload.runtime.worker.service"],
                    options.to_json().encode(),
                    # not the client's folder: relative paths and modules lying there
                    # are not found, as on a worker of another machine
                    cwd=self._folder,
                    ready=service.READY,
                    name=f"worker {spec.name}",
                    # the program using the cluster hears of losses, not of every join
                    env={**_QUIET, **dict(env or {})},
                    on_start=functools.partial(self._started, spec.name),
                )
            with ThreadPoolExecutor(max_workers=len(specs)) as starting:
                for future in [starting.submit(w.start, timeout) for w in self._workers.values()]:
                    future.result()
        except BaseException:
            self.close()
            raise

    def worker_pids(self) -> dict[str, int | None]:
        """name -> process id of each worker process (``None`` while it is restarted)."""
        return {name: w.pid for name, w in self._workers.items()}

    @property
    def scheduler_pid(self) -> int | None:
        """The scheduler's process id."""
        return self._scheduler.pid

    def free_restarted_workers(self) -> None:
        """Keep workers out of this process's CPU quota when their nanny restarts them.

        A worker process started after this process was throttled (cgroup method) would be
        born in this process's cgroup; workers without a quota of their own are then moved
        to a group allowing every core.
        """
        with self._lock:
            self._default_quota = float(os.cpu_count() or 1)
            for name, pid in self.worker_pids().items():
                self._throttles.setdefault(name, (pid or 0, None))

    def _started(self, name: str, pid: int, detail: str = "") -> None:
        """A worker process (re)started: throttle it, with the children it runs calls in."""
        spec = self.specs[name]
        with self._lock:
            quota = spec.cpu_quota
            if quota is None and self._default_quota is not None:
                quota = self._default_quota
            previous = self._throttles.pop(name, None)
        if previous is not None and previous[1] is not None:
            with contextlib.suppress(Exception):
                previous[1].release()
        if quota is None:
            return
        reason = throttle.throttle_available("auto")
        handle = None
        if reason is not None:
            warnings.warn(
                f"cannot throttle worker {name} to {quota} core(s): {reason}",
                RuntimeWarning,
                stacklevel=2,
            )
        else:
            try:
                handle = throttle.apply_cpu_quota(
                    pid, quota, name=f"worker-{name}", include_children=True
                )
            except (OffloadError, ValueError) as exc:
                warnings.warn(f"cannot throttle worker {name}: {exc}", RuntimeWarning, stacklevel=2)
        with self._lock:
            self._throttles[name] = (pid, handle)

    def close(self) -> None:
        """Stop the workers and the scheduler, and lift the throttles."""
        if self._closed.is_set():
            return
        self._closed.set()
        with ThreadPoolExecutor(max_workers=max(1, len(self._workers))) as stopping:
            list(stopping.map(lambda w: w.stop(10.0), list(self._workers.values())))
        self._scheduler.stop(10.0)
        shutil.rmtree(self._folder, ignore_errors=True)
        with self._lock:
            throttles = list(self._throttles.values())
            self._throttles.clear()
        for _, handle in throttles:
            if handle is not None:
                with contextlib.suppress(Exception):
                    handle.release()

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
