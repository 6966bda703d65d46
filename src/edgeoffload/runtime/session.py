"""Sessions: connect to a cluster, pre-transfer code, decide, call, fall back.

``edgeoffload.connect()`` starts an embedded :class:`LocalCluster` (a scheduler in this
process and worker processes under nannies, on loopback) and returns a :class:`Session`;
``connect("tls://host:8786", security="certs/")`` joins a running cluster instead.

On connect (and whenever a worker joins later) the session greets each worker (Python
and protocol versions must match, else the worker refuses with a clear message), sends
it the bundles of every offloaded function defined so far that it does not already hold
(COFA's *selective pre-transfer*), and probes it. While the session is open, a monitor
thread follows membership (the scheduler's view, which Dask keeps by heartbeats) and
re-probes every ``probe_interval`` seconds.

A call is decided by the :class:`~edgeoffload.runtime.decision.DecisionEngine` and sent
over the direct call channel (or the worker's Dask comm with ``transport="comm"``). Every
remote call has a deadline. A worker that dies, a link that drops, a call that times out
or a worker that refuses the code never loses the call: it is retried on the next best
worker (at most ``max_retries`` times) and then run locally, and the stats say so. A
failing worker is avoided for a while (a circuit breaker with exponential backoff).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import ssl
import statistics
import threading
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeoffload.errors import (
    BundleError,
    OffloadError,
    OffloadTimeoutError,
    RemoteTaskError,
    SecurityError,
    WorkerUnavailableError,
)
from edgeoffload.model.cluster import Node, PowerProfile, Role
from edgeoffload.runtime import _dask
from edgeoffload.runtime.agent import WorkerDescription, describe_from_preset
from edgeoffload.runtime.bundles import Bundle, build_bundle, python_version
from edgeoffload.runtime.channel import ChannelClient
from edgeoffload.runtime.decision import (
    LOCAL,
    Decision,
    DecisionEngine,
    Policy,
    Probe,
    get_policy,
)
from edgeoffload.runtime.decorators import (
    BoundOffloadedFunction,
    OffloadedFunction,
    registered_functions,
)
from edgeoffload.runtime.probe import DEFAULT_PROBE_WORK, probe_benchmark
from edgeoffload.runtime.protocol import PROTOCOL_VERSION, client_module_name, dumps, loads
from edgeoffload.runtime.stats import (
    Attempt,
    CallRecord,
    SessionStats,
    Transfer,
    WorkerInfo,
    summary_tables,
)

if TYPE_CHECKING:
    from distributed import Security

    from edgeoffload.runtime.dag import DagRun

__all__ = [
    "DEFAULT_DEADLINE",
    "LocalCluster",
    "Session",
    "WorkerSpec",
    "connect",
    "current_session",
]

logger = logging.getLogger(__name__)

DEFAULT_DEADLINE = 120.0
"""Seconds a remote call may take before it is abandoned and moved, unless set."""

_CONTROL_TIMEOUT = 30.0  # seconds for hello, has_bundles, put_bundle


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


_SESSIONS: list[Session] = []
_SESSIONS_LOCK = threading.Lock()


def current_session() -> Session | None:
    """The most recently opened session that is still open, if any."""
    with _SESSIONS_LOCK:
        return _SESSIONS[-1] if _SESSIONS else None


# --------------------------------------------------------------------------- local cluster


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
        from edgeoffload.runtime.plugins import (
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
        self._cluster = _dask.start_local_cluster(
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
        self.address = _dask.cluster_address(self._cluster)
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
        return _dask.local_worker_pids(self._cluster)

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
        from edgeoffload.runtime import throttle

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
        _dask.close_cluster(self._cluster)
        for _, handle in self._throttles.values():
            if handle is not None:
                with contextlib.suppress(Exception):
                    handle.release()
        self._throttles.clear()

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- session


class _RefusedError(Exception):
    """A worker declined a call before running it (bundle, requirements…)."""


_RETRY: Any = object()  # sentinel: the attempt failed, decide again


class _Payload:
    """A call's pickled arguments, made once and only when a worker is chosen."""

    def __init__(self) -> None:
        self.frames: list[Any] | None = None
        self.nbytes: int | None = None
        self.code_bytes = 0
        self.resent: set[str] = set()

    def get(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> list[Any]:
        if self.frames is None:
            self.frames = dumps((tuple(args), dict(kwargs)))
            self.nbytes = sum(memoryview(f).nbytes for f in self.frames)
        return self.frames


@dataclass
class _Worker:
    address: str
    name: str
    nthreads: int
    channel: ChannelClient | None = None
    channel_address: str = ""
    description: WorkerDescription = field(default_factory=WorkerDescription)
    pid: int | None = None
    cache_dir: str = ""
    usable: bool = False
    note: str = ""
    pushed: set[str] = field(default_factory=set)
    refused: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _client_power(client: WorkerSpec | Node | PowerProfile | None) -> PowerProfile | None:
    if client is None:
        return None
    if isinstance(client, PowerProfile):
        return client
    if isinstance(client, Node):
        return client.power
    description = client.description()
    return PowerProfile(**description.power) if description.power else None


class Session:
    """An open connection to a cluster; use :func:`connect` to make one.

    Attributes
    ----------
    client_id
        The Dask client id; workers key their code caches by it.
    address
        The scheduler's address.
    cluster
        The embedded :class:`LocalCluster`, or ``None`` when joined by address.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        workers: Sequence[WorkerSpec] | None = None,
        n_workers: int = 2,
        security: str | Path | Security | None = None,
        policy: str | Policy | None = "latency",
        deadline: float = DEFAULT_DEADLINE,
        max_retries: int = 2,
        probe_interval: float = 30.0,
        client: WorkerSpec | Node | PowerProfile | None = None,
        client_cpu_quota: float | None = None,
        transport: str = "channel",
        timeout: float = 60.0,
        wait_for_workers: int | None = None,
        probe_work: int = DEFAULT_PROBE_WORK,
        monitor_interval: float = 1.0,
    ) -> None:
        if transport not in ("channel", "comm"):
            raise ValueError(f"transport must be 'channel' or 'comm', got {transport!r}")
        if not deadline > 0:
            raise ValueError(f"deadline must be > 0 seconds, got {deadline!r}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries!r}")
        if address is not None and workers is not None:
            raise ValueError("pass either an address to join or workers to start, not both")
        self.policy = get_policy(policy)
        self.deadline = deadline
        self.max_retries = max_retries
        self.probe_interval = probe_interval
        self.transport = transport
        self.probe_work = probe_work
        self.cluster: LocalCluster | None = None
        self._client: Any = None
        self._throttle: Any = None
        self._closed = False
        self._lock = threading.RLock()
        self._workers: dict[str, _Worker] = {}
        self._bundles: dict[str, Bundle] = {}
        self._bundle_errors: dict[str, str] = {}
        self._records: list[CallRecord] = []
        self._transfers: list[Transfer] = []
        self._stop = threading.Event()
        self._monitor: threading.Thread | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._dag_channels: dict[str, ChannelClient] = {}  # for transport="comm" sessions
        try:
            if self.policy.needs_power and _client_power(client) is None:
                raise OffloadError(
                    f"policy {self.policy.name!r} needs the client's power figures: pass "
                    "client=WorkerSpec('phone', preset=...) or client=PowerProfile(...)"
                )
            if address is None:
                # workers start before the client is throttled, so they are not born in
                # its cgroup; workers the nannies restart later are freed by the cluster
                self.cluster = LocalCluster(workers, n_workers=n_workers, timeout=timeout)
                self.address = self.cluster.address
            if client_cpu_quota is not None:
                from edgeoffload.runtime import throttle

                self._throttle = throttle.apply_cpu_quota(
                    os.getpid(), client_cpu_quota, name="client"
                )
                if self.cluster is not None and self._throttle.method == "cgroup":
                    self.cluster.free_restarted_workers()
            self.local_benchmark = min(probe_benchmark(probe_work) for _ in range(3))
            self.engine = DecisionEngine(self.local_benchmark, _client_power(client))
            if self.cluster is not None:
                self._client = _dask.open_client(self.address, None, timeout)
                _dask.wait_for_workers(self._client, len(self.cluster.specs), timeout)
            else:
                assert address is not None
                if address.startswith("tls://") and security is None:
                    raise SecurityError(
                        f"{address} is a TLS cluster: pass the client's certificates, "
                        "connect(address, security='certs/') (see 'edgeoffload certs')"
                    )
                self.address = address
                self._client = _dask.open_client(
                    address, _dask.load_security(security, "client"), timeout
                )
                from edgeoffload.runtime.plugins import (
                    EdgeOffloadSchedulerPlugin,
                    EdgeOffloadWorkerPlugin,
                )

                _dask.ensure_plugins(
                    self._client,
                    EdgeOffloadWorkerPlugin(fallback=True),
                    EdgeOffloadSchedulerPlugin(),
                )
                if wait_for_workers:
                    _dask.wait_for_workers(self._client, wait_for_workers, timeout)
            self.client_id = _dask.client_id(self._client)
            self._ssl: ssl.SSLContext | None = _dask.client_ssl_context(self._client)
            for function in registered_functions():
                self._bundle_for(function)
            self._sync_workers()
            workers_now = list(self._workers.values())
            if workers_now and not any(w.usable for w in workers_now):
                raise WorkerUnavailableError(
                    "every worker refused this client: "
                    + "; ".join(f"{w.name}: {w.note}" for w in workers_now)
                )
            slots = sum(w.nthreads for w in workers_now) + 2
            self._executor = ThreadPoolExecutor(
                max_workers=max(4, slots), thread_name_prefix="edgeoffload-submit"
            )
            self._monitor_interval = monitor_interval
            self._monitor = threading.Thread(
                target=self._monitor_loop, name="edgeoffload-monitor", daemon=True
            )
            self._monitor.start()
        except BaseException:
            self._teardown()
            raise
        with _SESSIONS_LOCK:
            _SESSIONS.append(self)

    # ---------------------------------------------------------------- lifecycle
    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._workers)} worker(s)"
        return f"<edgeoffload Session {self.address if hasattr(self, 'address') else ''} {state}>"

    def close(self) -> None:
        """Disconnect: workers drop this client's code; an embedded cluster stops."""
        if self._closed:
            return
        self._closed = True
        with _SESSIONS_LOCK:
            if self in _SESSIONS:
                _SESSIONS.remove(self)
        self._teardown()

    def _teardown(self) -> None:
        self._closed = True
        self._stop.set()
        if self._monitor is not None and self._monitor is not threading.current_thread():
            self._monitor.join(timeout=10)
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        for worker in list(self._workers.values()):
            if worker.channel is not None:
                worker.channel.close()
        for channel in list(self._dag_channels.values()):
            channel.close()
        if self._client is not None:
            _dask.close_client(self._client)
        if self.cluster is not None:
            self.cluster.close()
        if self._throttle is not None:
            with contextlib.suppress(Exception):
                self._throttle.release()

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise OffloadError("this session is closed")

    # ---------------------------------------------------------------- membership
    def workers(self) -> dict[str, WorkerInfo]:
        """name -> what the session knows about each worker."""
        return {w.name: self._worker_info(w) for w in list(self._workers.values())}

    def _worker_info(self, w: _Worker) -> WorkerInfo:
        probe = self.engine.probe(w.address)
        return WorkerInfo(
            name=w.name,
            address=w.address,
            role=w.description.role,
            preset=w.description.preset,
            benchmark=probe.benchmark if probe else None,
            rtt=probe.rtt if probe else None,
            bandwidth=probe.bandwidth if probe else None,
            slots=w.nthreads,
            usable=w.usable,
            note=w.note,
            pid=w.pid,
        )

    def refresh(self, full: bool = False) -> None:
        """Follow the cluster's membership now (the monitor does it every second).

        With ``full``, also greet every known worker again: ask which bundles it holds,
        send only the missing ones, and re-probe it (after a network partition heals).
        """
        self._check_open()
        if full:
            with self._lock:
                workers = list(self._workers.values())
            for worker in workers:
                with worker.lock:
                    worker.pushed.clear()
                try:
                    self._onboard(worker)
                except OffloadError as exc:
                    worker.usable = False
                    worker.note = str(exc)
        self._sync_workers()

    def _sync_workers(self) -> None:
        current = _dask.refresh_workers(self._client)
        with self._lock:
            gone = [a for a in self._workers if a not in current]
            for address in gone:
                worker = self._workers.pop(address)
                self.engine.remove_node(address)
                if worker.channel is not None:
                    worker.channel.close()
                logger.info("worker %s left", worker.name)
            new = [(a, info) for a, info in current.items() if a not in self._workers]
        for address, info in new:
            worker = _Worker(address, info["name"], info["nthreads"])
            try:
                self._onboard(worker)
            except OffloadError as exc:
                worker.usable = False
                worker.note = str(exc)
                logger.warning("worker %s is not usable: %s", worker.name, exc)
            with self._lock:
                self._workers[address] = worker

    def _onboard(self, worker: _Worker) -> None:
        reply = _dask.control_call(
            self._client,
            worker.address,
            "edgeoffload_hello",
            _CONTROL_TIMEOUT,
            client=self.client_id,
            python=python_version(),
            protocol=PROTOCOL_VERSION,
        )
        if not isinstance(reply, dict):
            raise WorkerUnavailableError(
                f"worker {worker.name} has no edgeoffload plugin (start it with "
                "'edgeoffload worker')"
            )
        if not reply.get("ok"):
            worker.note = str(reply.get("reason", "refused"))
            warnings.warn(f"edgeoffload: {worker.note}", RuntimeWarning, stacklevel=3)
            return
        worker.description = WorkerDescription(**reply["description"])
        worker.pid = int(reply["pid"])
        worker.nthreads = int(reply.get("nthreads", worker.nthreads))
        worker.cache_dir = str(reply.get("cache_dir", ""))
        worker.channel_address = str(reply["channel"])
        if self.transport == "channel":
            if worker.channel is not None:
                worker.channel.close()
            worker.channel = ChannelClient(str(reply["channel"]), self._ssl)
        for bundle in list(self._bundles.values()):
            with contextlib.suppress(_RefusedError):  # noted in worker.refused, warned
                self._push(worker, bundle)
        self._probe(worker)
        worker.usable = True

    def _push(self, worker: _Worker, bundle: Bundle) -> int:
        """Make sure ``worker`` holds ``bundle``; return the code bytes sent."""
        with worker.lock:
            if bundle.hash in worker.pushed:
                return 0
            if bundle.hash in worker.refused:
                raise _RefusedError(worker.refused[bundle.hash])
            have = _dask.control_call(
                self._client,
                worker.address,
                "edgeoffload_has_bundles",
                _CONTROL_TIMEOUT,
                client=self.client_id,
                hashes=[bundle.hash],
            )
            if bundle.hash in (have or []):
                worker.pushed.add(bundle.hash)
                with self._lock:
                    self._transfers.append(Transfer(worker.name, bundle.hash, 0, hit=True))
                return 0
            reply = _dask.control_call(
                self._client,
                worker.address,
                "edgeoffload_put_bundle",
                _CONTROL_TIMEOUT,
                client=self.client_id,
                digest=bundle.hash,
                data=bundle.data,
            )
            if not (isinstance(reply, dict) and reply.get("ok")):
                reason = str(reply.get("reason") if isinstance(reply, dict) else reply)
                worker.refused[bundle.hash] = reason
                warnings.warn(f"edgeoffload: {reason}", RuntimeWarning, stacklevel=3)
                raise _RefusedError(reason)
            worker.pushed.add(bundle.hash)
            with self._lock:
                self._transfers.append(Transfer(worker.name, bundle.hash, bundle.size, hit=False))
            return bundle.size

    def _request(
        self, worker: _Worker, header: dict[str, Any], frames: Sequence[Any], timeout: float
    ) -> tuple[dict[str, Any], list[Any], int, int]:
        """One message to a worker and its reply, over the session's transport."""
        if worker.channel is not None:
            return channel_request(worker.channel, worker.name, header, frames, timeout)
        raw = [bytes(memoryview(f).cast("B")) for f in frames]
        reply = _dask.control_call(
            self._client,
            worker.address,
            "edgeoffload_call",
            timeout,
            header=header,
            frames=raw,
        )
        if not isinstance(reply, dict) or "header" not in reply:
            raise WorkerUnavailableError(f"worker {worker.name}: unexpected reply {reply!r}")
        out = list(reply["frames"])
        return reply["header"], out, sum(len(f) for f in raw), sum(len(f) for f in out)

    def _probe(self, worker: _Worker) -> Probe:
        """Round trip (median of 5 after a warm-up), bandwidth (256 KB, best of 3), benchmark."""
        self._request(worker, {"op": "ping"}, [], _CONTROL_TIMEOUT)  # connect, handshake
        rtts = []
        for _ in range(5):
            start = time.perf_counter()
            self._request(worker, {"op": "ping"}, [], _CONTROL_TIMEOUT)
            rtts.append(time.perf_counter() - start)
        rtt = statistics.median(rtts)
        blob = bytes(256 * 1024)
        best = math.inf
        for _ in range(3):
            start = time.perf_counter()
            self._request(worker, {"op": "ping"}, [blob], _CONTROL_TIMEOUT)
            best = min(best, time.perf_counter() - start)
        bandwidth = min(len(blob) / max(best - min(rtts), 1e-6), 1e11)
        reply, _, _, _ = self._request(
            worker, {"op": "probe", "work": self.probe_work}, [], _CONTROL_TIMEOUT
        )
        probe = Probe(float(reply["seconds"]), rtt, bandwidth, worker.nthreads)
        self.engine.set_probe(worker.address, probe, worker.name)
        return probe

    def _monitor_loop(self) -> None:
        last_probe = time.monotonic()
        while not self._stop.wait(self._monitor_interval):
            try:
                self._sync_workers()
                if time.monotonic() - last_probe >= self.probe_interval:
                    last_probe = time.monotonic()
                    for worker in list(self._workers.values()):
                        if worker.usable and not self._stop.is_set():
                            with contextlib.suppress(OffloadError):
                                self._probe(worker)
            except OffloadError as exc:
                if not self._stop.is_set():
                    logger.warning("edgeoffload monitor: %s", exc)
            except Exception:  # never let the monitor die silently
                if not self._stop.is_set():
                    logger.exception("edgeoffload monitor failed")

    # ---------------------------------------------------------------- bundles
    def _bundle_for(self, function: OffloadedFunction[Any, Any]) -> Bundle | None:
        return self._bundle_for_module(function.module)

    def _bundle_for_module(self, module: str, warn: bool = True) -> Bundle | None:
        with self._lock:
            bundle = self._bundles.get(module)
            if bundle is not None or module in self._bundle_errors:
                return bundle
        try:
            bundle = build_bundle(module)
        except BundleError as exc:
            with self._lock:
                self._bundle_errors[module] = str(exc)
            if warn:
                warnings.warn(
                    f"edgeoffload: {exc}; its calls run locally", RuntimeWarning, stacklevel=4
                )
            return None
        with self._lock:
            self._bundles[module] = bundle
            workers = list(self._workers.values())
        for worker in workers:  # a function defined after connect: pre-transfer it now
            if worker.usable:
                with contextlib.suppress(_RefusedError, OffloadError):
                    self._push(worker, bundle)
        return bundle

    def bundles(self) -> dict[str, Bundle]:
        """Module name -> its bundle, for every bundle this session packaged."""
        with self._lock:
            return dict(self._bundles)

    # ---------------------------------------------------------------- calls
    def submit(
        self,
        function: OffloadedFunction[Any, Any] | BoundOffloadedFunction[Any],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Future[Any]:
        """Start a call in the background; its :class:`~concurrent.futures.Future`."""
        self._check_open()
        target, args = _unbind(function, args)
        assert self._executor is not None
        return self._executor.submit(self.call, target, args, kwargs or {})

    def map(
        self,
        function: OffloadedFunction[Any, Any] | BoundOffloadedFunction[Any],
        *iterables: Iterable[Any],
    ) -> list[Any]:
        """``[function(*args) for args in zip(*iterables)]``, spread over the cluster."""
        futures = [self.submit(function, args) for args in zip(*iterables, strict=False)]
        return [f.result() for f in futures]

    def call(
        self,
        function: OffloadedFunction[Any, Any],
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        force_local: bool = False,
    ) -> Any:
        """Run one call where the decision engine says (or locally with ``force_local``)."""
        self._check_open()
        start = time.perf_counter()
        if force_local:
            return self._run_local(function, args, kwargs, "forced local (.local)", start)
        policy = get_policy(function.policy) if function.policy is not None else self.policy
        bundle = self._bundle_for(function)
        if bundle is None:
            reason = f"runs locally: {self._bundle_errors.get(function.module, 'no bundle')}"
            return self._run_local(function, args, kwargs, reason, start)
        deadline = function.deadline or self.deadline
        attempts: list[Attempt] = []
        excluded = {
            w.address for w in self._workers.values() if not w.usable or bundle.hash in w.refused
        }
        payload_box = _Payload()
        while True:
            if len(attempts) > self.max_retries:
                excluded.update(self.engine.nodes())
            arg_bytes = payload_box.nbytes
            decision = self.engine.decide(function.key, policy, arg_bytes, excluded, reserve=True)
            try:
                outcome_value = self._attempt(
                    function,
                    args,
                    kwargs,
                    bundle,
                    decision,
                    attempts,
                    excluded,
                    start,
                    deadline,
                    payload_box,
                )
            finally:
                self.engine.finished(decision.node)
            if outcome_value is not _RETRY:
                return outcome_value

    def _attempt(
        self,
        function: OffloadedFunction[Any, Any],
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        bundle: Bundle,
        decision: Decision,
        attempts: list[Attempt],
        excluded: set[str],
        start: float,
        deadline: float,
        payload_box: _Payload,
    ) -> Any:
        """One try at the decided place: the result, or ``_RETRY`` to decide again."""
        if decision.node == LOCAL:
            reason = decision.reason
            outcome = "ok"
            if attempts:
                outcome = "fallback"
                reason = (
                    f"ran locally after {len(attempts)} failed remote attempt(s); "
                    f"last: {attempts[-1].error}"
                )
            return self._run_local(
                function,
                args,
                kwargs,
                reason,
                start,
                decision.predicted,
                attempts,
                outcome,
                reserved=True,
            )
        worker = self._workers.get(decision.node)
        if worker is None:
            excluded.add(decision.node)
            return _RETRY
        try:
            payload = payload_box.get(args, kwargs)
        except Exception as exc:  # unpicklable arguments: only a local run can take them
            excluded.update(self.engine.nodes())
            attempts.append(
                Attempt(worker.name, f"arguments cannot be pickled: {type(exc).__name__}: {exc}")
            )
            return _RETRY
        try:
            payload_box.code_bytes += self._push(worker, bundle)
            reply, frames, sent, received = self._remote_call(
                worker, function, bundle, payload, deadline
            )
        except _RefusedError as exc:
            excluded.add(worker.address)
            attempts.append(Attempt(worker.name, str(exc)))
            return _RETRY
        except (OffloadTimeoutError, WorkerUnavailableError, SecurityError) as exc:
            pause = self.engine.breakers[worker.address].failure()
            logger.warning("%s; avoiding it for %.3g s", exc, pause)
            excluded.add(worker.address)
            attempts.append(Attempt(worker.name, str(exc)))
            return _RETRY
        status = reply.get("status")
        if status == "refused":
            error = str(reply.get("error", "refused"))
            if "not in this worker's cache" in error or "was modified" in error:
                worker.pushed.discard(bundle.hash)
            if "not in this worker's cache" in error and worker.address not in payload_box.resent:
                # the worker dropped our code (it thought we had left): send it again
                payload_box.resent.add(worker.address)
                attempts.append(Attempt(worker.name, error))
                return _RETRY
            if "was modified" in error:
                worker.refused[bundle.hash] = error
            excluded.add(worker.address)
            attempts.append(Attempt(worker.name, error))
            return _RETRY
        self.engine.breakers[worker.address].success()
        compute = float(reply.get("compute", 0.0))
        self.engine.record(function.key, worker.address, compute, payload_box.nbytes, received)
        record: dict[str, Any] = {
            "function": function.key,
            "where": worker.name,
            "reason": decision.reason,
            "predicted": decision.predicted,
            "compute": compute,
            "bytes_sent": sent,
            "bytes_received": received,
            "code_bytes": payload_box.code_bytes,
            "cold": bool(reply.get("cold")),
            "attempts": tuple(attempts),
        }
        if status == "ok":
            try:
                result = loads(frames, rename=client_module_name)
            except Exception as exc:
                self._record(start, outcome="error", **record)
                raise RemoteTaskError(
                    f"the result of {function.key} from {worker.name} cannot be "
                    f"unpickled here: {type(exc).__name__}: {exc}"
                ) from exc
            self._record(start, outcome="ok", **record)
            return result
        self._record(start, outcome="error", **record)
        raise _rebuild_exception(reply, frames, function.key)

    def _remote_call(
        self,
        worker: _Worker,
        function: OffloadedFunction[Any, Any],
        bundle: Bundle,
        payload: list[Any],
        deadline: float,
    ) -> tuple[dict[str, Any], list[Any], int, int]:
        header = {
            "op": "call",
            "client": self.client_id,
            "bundle": bundle.hash,
            "module": function.module,
            "qualname": function.qualname,
        }
        return self._request(worker, header, payload, deadline)

    def _run_local(
        self,
        function: OffloadedFunction[Any, Any],
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        reason: str,
        start: float,
        predicted: float = math.nan,
        attempts: Sequence[Attempt] = (),
        outcome: str = "ok",
        reserved: bool = False,
    ) -> Any:
        if not reserved:
            self.engine.started(LOCAL)
        began = time.perf_counter()
        try:
            result = function.__wrapped__(*args, **kwargs)
        except BaseException:
            compute = time.perf_counter() - began
            self._record(
                start,
                function=function.key,
                where=LOCAL,
                reason=reason,
                predicted=predicted,
                compute=compute,
                attempts=tuple(attempts),
                outcome="error",
            )
            raise
        finally:
            if not reserved:
                self.engine.finished(LOCAL)
        compute = time.perf_counter() - began
        self.engine.record(function.key, LOCAL, compute)
        self._record(
            start,
            function=function.key,
            where=LOCAL,
            reason=reason,
            predicted=predicted,
            compute=compute,
            attempts=tuple(attempts),
            outcome=outcome,
        )
        return result

    def _record(self, start: float, **fields: Any) -> None:
        record = CallRecord(elapsed=time.perf_counter() - start, **fields)
        with self._lock:
            self._records.append(record)

    # ---------------------------------------------------------------- reporting
    def stats(self) -> SessionStats:
        """A snapshot: calls, where each ran, bytes, cache hits, reasons, retries."""
        with self._lock:
            return SessionStats(
                records=tuple(self._records),
                transfers=tuple(self._transfers),
                workers=tuple(self._worker_info(w) for w in self._workers.values()),
                local_benchmark=self.local_benchmark,
                packaging_seconds=sum(b.build_seconds for b in self._bundles.values()),
                bundles={b.hash: b.size for b in self._bundles.values()},
            )

    def print_summary(self, console: Any = None) -> None:
        """Print the stats as tables (rich)."""
        if console is None:
            from rich.console import Console

            console = Console(highlight=False)
        for table in summary_tables(self.stats()):
            console.print(table)

    # ---------------------------------------------------------------- scheduled DAGs
    def run_dag(self, app: Any, **options: Any) -> DagRun:
        """Schedule a DAG of offloaded functions and run it on the workers named by the
        cluster's node ids; see :func:`edgeoffload.runtime.dag.run_dag` for the options.

        Returns
        -------
        DagRun
            Results, the predicted schedule and the measured timeline.
        """
        from edgeoffload.runtime.dag import run_dag

        return run_dag(self, app, **options)

    def call_on(self, node: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Run ``function(*args, **kwargs)`` on the worker named ``node`` (no decision)."""
        from edgeoffload.runtime.dag import call_on

        return call_on(self, node, function, *args, **kwargs)

    def _worker_named(self, name: str) -> _Worker | None:
        for worker in list(self._workers.values()):
            if worker.name == name and worker.usable:
                return worker
        return None

    def _channel_for(self, worker: _Worker) -> ChannelClient:
        """The worker's direct call channel (opened apart with ``transport="comm"``)."""
        if worker.channel is not None:
            return worker.channel
        with self._lock:
            channel = self._dag_channels.get(worker.address)
            if channel is None or channel.address != worker.channel_address:
                channel = ChannelClient(worker.channel_address, self._ssl)
                self._dag_channels[worker.address] = channel
            return channel

    def model_nodes(self) -> dict[str, Node]:
        """The usable workers as model nodes (those that gave a speed or a preset).

        The same :class:`~edgeoffload.model.cluster.Node` figures the simulator and the
        schedulers use, from what each worker said about itself.
        """
        nodes = {}
        for w in list(self._workers.values()):
            node = w.description.to_node(w.name) if w.usable else None
            if node is not None:
                nodes[w.name] = node
        return nodes

    def worker_cache_dir(self, name: str) -> Path | None:
        """Where worker ``name`` keeps this client's bundles (for inspection and tests)."""
        for w in self._workers.values():
            if w.name == name and w.cache_dir:
                return Path(w.cache_dir)
        return None


def _unbind(
    function: OffloadedFunction[Any, Any] | BoundOffloadedFunction[Any], args: Sequence[Any]
) -> tuple[OffloadedFunction[Any, Any], tuple[Any, ...]]:
    if isinstance(function, BoundOffloadedFunction):
        return function.__func__, (function.__self__, *args)
    if not isinstance(function, OffloadedFunction):
        raise TypeError(f"{function!r} is not marked with @edgeoffload.offload")
    return function, tuple(args)


def _rebuild_exception(reply: Mapping[str, Any], frames: list[Any], key: str) -> BaseException:
    remote_tb = str(reply.get("traceback", ""))
    worker = reply.get("worker", "?")
    cause = RemoteTaskError(
        f"{key} raised {reply.get('type')} on worker {worker}; remote traceback:\n{remote_tb}",
        remote_traceback=remote_tb,
    )
    exc: BaseException | None = None
    if frames:
        try:
            rebuilt = loads(frames, rename=client_module_name)
        except Exception:
            rebuilt = None
        if isinstance(rebuilt, BaseException):
            exc = rebuilt
    if exc is None:
        return RemoteTaskError(
            f"{key} raised {reply.get('type')}: {reply.get('message')} on worker {worker} "
            f"(the exception could not be rebuilt here); remote traceback:\n{remote_tb}",
            remote_traceback=remote_tb,
        )
    with contextlib.suppress(AttributeError, TypeError):
        exc.remote_traceback = remote_tb  # type: ignore[attr-defined]
    exc.__cause__ = cause
    return exc


def channel_request(
    channel: ChannelClient,
    worker: str,
    header: dict[str, Any],
    frames: Sequence[Any],
    timeout: float,
) -> tuple[dict[str, Any], list[Any], int, int]:
    """One message over a worker's direct channel, network failures as the runtime's errors.

    Returns the reply header and frames and the bytes sent and received.
    """
    try:
        return channel.request(header, frames, timeout)
    except TimeoutError as exc:
        raise OffloadTimeoutError(f"worker {worker} did not answer within {timeout:.3g} s") from exc
    except ssl.SSLError as exc:
        raise SecurityError(f"worker {worker}: TLS failed: {exc}") from exc
    except (OSError, ConnectionError) as exc:
        raise WorkerUnavailableError(f"worker {worker}: {type(exc).__name__}: {exc}") from exc


def connect(
    address: str | None = None,
    *,
    workers: Sequence[WorkerSpec] | None = None,
    n_workers: int = 2,
    security: str | Path | Security | None = None,
    policy: str | Policy | None = "latency",
    deadline: float = DEFAULT_DEADLINE,
    max_retries: int = 2,
    probe_interval: float = 30.0,
    client: WorkerSpec | Node | PowerProfile | None = None,
    client_cpu_quota: float | None = None,
    transport: str = "channel",
    timeout: float = 60.0,
    wait_for_workers: int | None = None,
    **options: Any,
) -> Session:
    """Open a session: offloaded functions called while it is open may run remotely.

    Parameters
    ----------
    address
        A scheduler to join (``"tls://10.0.0.5:8786"``); ``None`` starts an embedded
        :class:`LocalCluster` on loopback, stopped when the session closes.
    workers
        The embedded cluster's workers (default: ``n_workers`` plain ones).
    n_workers
        Number of default workers of the embedded cluster (2).
    security
        TLS material to join a secure cluster: a folder made by ``edgeoffload certs``
        (its ``ca.pem``, ``client.pem``, ``client-key.pem``) or a ``distributed.Security``.
    policy
        ``"latency"`` (default), ``"energy"``, ``"always-local"``, ``"always-remote"``,
        or a :class:`~edgeoffload.runtime.decision.Policy` instance.
    deadline
        Seconds a remote call may take before it is abandoned and moved (120).
    max_retries
        Remote attempts after the first before running locally (2).
    probe_interval
        Seconds between re-probes of every worker (30).
    client
        The client device (a :class:`WorkerSpec` with a preset, a model ``Node`` or a
        ``PowerProfile``): its power figures feed the energy policy.
    client_cpu_quota
        Throttle this process to that fraction of one core while the session is open
        (the "slow phone" of the COFA experiments).
    transport
        ``"channel"`` (default, the direct call channel) or ``"comm"`` (a handler on the
        worker's Dask comm).
    timeout
        Seconds to connect and to wait for an embedded cluster's workers.
    wait_for_workers
        When joining by address, wait until that many workers are up.

    Raises
    ------
    OffloadError
        The cluster cannot be reached (``WorkerUnavailableError``), TLS is refused
        (``SecurityError``), or every worker refused this client (for example another
        Python version; the message names it).
    """
    return Session(
        address,
        workers=workers,
        n_workers=n_workers,
        security=security,
        policy=policy,
        deadline=deadline,
        max_retries=max_retries,
        probe_interval=probe_interval,
        client=client,
        client_cpu_quota=client_cpu_quota,
        transport=transport,
        timeout=timeout,
        wait_for_workers=wait_for_workers,
        **options,
    )
