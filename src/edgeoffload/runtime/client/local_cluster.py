"""An embedded cluster on loopback, and the workers it is made of.

``edgeoffload.connect()`` with no address starts a :class:`LocalCluster`: a scheduler in
this process and one worker process per :class:`WorkerSpec`, under nannies that restart a
worker that dies. A spec can hold a worker to a fraction of a core (``cpu_quota``), so one
machine can stand for a cluster of slow and fast devices.
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from edgeoffload.errors import OffloadError
from edgeoffload.model.cluster import Node, PowerProfile, Role
from edgeoffload.runtime.host import throttle
from edgeoffload.runtime.wire import dask_api
from edgeoffload.runtime.worker.description import WorkerDescription, describe_from_preset

__all__ = ["LocalCluster", "WorkerSpec"]


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
    """

    name: str
    role: Role = "device"
    preset: str | None = None
    speed: float | None = None
    power: PowerProfile | None = None
    nthreads: int = 1
    cpu_quota: float | None = None

    def __post_init__(self) -> None:
        if self.nthreads < 1:
            raise ValueError(f"nthreads must be >= 1, got {self.nthreads!r}")
        if self.cpu_quota is not None and not self.cpu_quota > 0:
            raise ValueError(f"cpu_quota must be > 0 cores, got {self.cpu_quota!r}")

    def description(self) -> WorkerDescription:
        return describe_from_preset(self.role, self.preset, self.speed, self.power)

    def to_node(self) -> Node | None:
        """The model node this spec describes (``None`` without a speed or preset)."""
        return self.description().to_node(self.name)


class LocalCluster:
    """An embedded cluster on loopback: scheduler in this process, nanny-managed workers.

    Parameters
    ----------
    workers
        The workers; default ``n_workers`` plain ones named ``worker-0``, ``worker-1``…
    n_workers
        How many default workers (2: this project's machine has 2 cores).
    timeout
        Seconds to wait for the workers to start.

    Workers with a ``cpu_quota`` are throttled as soon as their process runs, and again
    if their nanny restarts them (a watcher thread follows their process ids).
    """

    def __init__(
        self,
        workers: Sequence[WorkerSpec] | None = None,
        n_workers: int = 2,
        timeout: float = 60.0,
    ) -> None:
        # the plugins subclass Dask's: imported here, so that importing the runtime does
        # not import Dask
        from edgeoffload.runtime.worker.plugins import (
            EdgeOffloadSchedulerPlugin,
            EdgeOffloadWorkerPlugin,
        )

        specs = list(workers) if workers else [WorkerSpec(f"worker-{i}") for i in range(n_workers)]
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"worker names must be unique: {names}")
        self.specs = {s.name: s for s in specs}
        descriptions = {s.name: s.description().as_dict() for s in specs}
        self._throttles: dict[str, tuple[int, Any]] = {}
        self._default_quota: float | None = None
        self._closed = threading.Event()
        self._cluster = dask_api.start_local_cluster(
            [
                {
                    "name": s.name,
                    "nthreads": s.nthreads,
                    "plugins": (EdgeOffloadWorkerPlugin(descriptions[s.name]),),
                }
                for s in specs
            ],
            scheduler_plugins=[EdgeOffloadSchedulerPlugin()],
            timeout=timeout,
        )
        self.address = dask_api.cluster_address(self._cluster)
        self._watcher: threading.Thread | None = None
        if any(s.cpu_quota for s in specs):
            self._apply_quotas()
            self._watcher = threading.Thread(
                target=self._watch, name="edgeoffload-throttle-watch", daemon=True
            )
            self._watcher.start()

    @property
    def dask_cluster(self) -> Any:
        """The underlying Dask ``SpecCluster`` (for Dask-level tooling)."""
        return self._cluster

    def worker_pids(self) -> dict[str, int | None]:
        return dask_api.local_worker_pids(self._cluster)

    def free_restarted_workers(self) -> None:
        """Keep workers out of this process's CPU quota when their nanny restarts them.

        A worker process restarted after this process was throttled (cgroup method) would
        be born in this process's cgroup; workers without a quota of their own are then
        moved to a group allowing every core.
        """
        self._default_quota = float(os.cpu_count() or 1)
        self._apply_quotas()
        if self._watcher is None:
            self._watcher = threading.Thread(
                target=self._watch, name="edgeoffload-throttle-watch", daemon=True
            )
            self._watcher.start()

    def _apply_quotas(self) -> None:
        for name, pid in self.worker_pids().items():
            spec = self.specs.get(name)
            quota = spec.cpu_quota if spec is not None else None
            if quota is None and self._default_quota is not None:
                known = self._throttles.get(name)
                if known is None:  # started before the client was throttled: leave it
                    self._throttles[name] = (pid or 0, None)
                    continue
                if known[0] == pid:
                    continue
                quota = self._default_quota
            if quota is None or pid is None:
                continue
            current = self._throttles.get(name)
            if current is not None and current[0] == pid:
                continue
            if current is not None:
                with contextlib.suppress(Exception):
                    current[1].release()
            reason = throttle.throttle_available("auto")
            if reason is not None:
                warnings.warn(
                    f"cannot throttle worker {name} to {quota} core(s): {reason}",
                    RuntimeWarning,
                    stacklevel=2,
                )
                self._throttles[name] = (pid, None)
                continue
            try:
                handle = throttle.apply_cpu_quota(pid, quota, name=f"worker-{name}")
            except (OffloadError, ValueError) as exc:
                warnings.warn(f"cannot throttle worker {name}: {exc}", RuntimeWarning, stacklevel=2)
                handle = None
            self._throttles[name] = (pid, handle)

    def _watch(self) -> None:
        while not self._closed.wait(0.5):
            with contextlib.suppress(Exception):
                self._apply_quotas()

    def close(self) -> None:
        """Stop the workers and the scheduler, and lift the throttles."""
        if self._closed.is_set():
            return
        self._closed.set()
        dask_api.close_cluster(self._cluster)
        for _, handle in self._throttles.values():
            if handle is not None:
                with contextlib.suppress(Exception):
                    handle.release()
        self._throttles.clear()

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
