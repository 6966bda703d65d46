"""Sessions: connect to a cluster, decide, call, fall back.

``edgeoffload.connect()`` starts an embedded
:class:`~edgeoffload.runtime.client.local_cluster.LocalCluster` and returns a
:class:`Session`; ``connect("tls://host:8786", security="certs/")`` joins a running
cluster instead.

A session is a :class:`~edgeoffload.runtime.client.pool.WorkerPool` (membership, code,
requests, probes) plus decisions, retries and stats. While it is open, a monitor thread
follows membership every second and re-probes every ``probe_interval`` seconds.

A call is decided by the :class:`~edgeoffload.runtime.client.decision.DecisionEngine` and
sent over the direct call channel (or the worker's Dask comm with ``transport="comm"``).
Every remote call has a deadline. A worker that dies, a link that drops, a call that times
out or a worker that refuses the code never loses the call: it is retried on the next best
worker (at most ``max_retries`` times) and then run locally, and the stats say so. A
failing worker is avoided for a while (a circuit breaker with exponential backoff).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
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
from edgeoffload.model.cluster import Node, PowerProfile
from edgeoffload.runtime.client import current
from edgeoffload.runtime.client.decision import (
    LOCAL,
    Decision,
    DecisionEngine,
    Policy,
    Probe,
    get_policy,
)
from edgeoffload.runtime.client.decorators import (
    BoundOffloadedFunction,
    OffloadedFunction,
    registered_functions,
)
from edgeoffload.runtime.client.local_cluster import LocalCluster, WorkerSpec
from edgeoffload.runtime.client.pool import PoolWorker, WorkerPool
from edgeoffload.runtime.client.stats import (
    Attempt,
    CallRecord,
    SessionStats,
    WorkerInfo,
    summary_tables,
)
from edgeoffload.runtime.host import throttle
from edgeoffload.runtime.wire import dask_api
from edgeoffload.runtime.wire.bundles import Bundle
from edgeoffload.runtime.wire.errors import rebuild_exception
from edgeoffload.runtime.wire.ops import Op
from edgeoffload.runtime.wire.protocol import client_module_name, dumps, loads
from edgeoffload.runtime.worker.kernels import DEFAULT_PROBE_WORK, probe_benchmark

if TYPE_CHECKING:
    from distributed import Security

__all__ = ["DEFAULT_DEADLINE", "Session", "connect", "current_session"]

logger = logging.getLogger(__name__)

DEFAULT_DEADLINE = 120.0
"""Seconds a remote call may take before it is abandoned and moved, unless set."""

current_session = current.current_session

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
    pool
        The :class:`~edgeoffload.runtime.client.pool.WorkerPool` of this session: its
        workers, their code, and pinned calls (``session.pool.call_on(name, f, args)``).
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
        self._dask_client: Any = None
        self._pool: WorkerPool | None = None
        self._throttle: Any = None
        self._closed = False
        self._lock = threading.RLock()
        self._records: list[CallRecord] = []
        self._stop = threading.Event()
        self._monitor: threading.Thread | None = None
        self._executor: ThreadPoolExecutor | None = None
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
                self._throttle = throttle.apply_cpu_quota(
                    os.getpid(), client_cpu_quota, name="client"
                )
                if self.cluster is not None and self._throttle.method == "cgroup":
                    self.cluster.free_restarted_workers()
            self.local_benchmark = min(probe_benchmark(probe_work) for _ in range(3))
            self.engine = DecisionEngine(self.local_benchmark, _client_power(client))
            if self.cluster is not None:
                self._dask_client = dask_api.open_client(self.address, None, timeout)
                dask_api.wait_for_workers(self._dask_client, len(self.cluster.specs), timeout)
            else:
                assert address is not None
                if address.startswith("tls://") and security is None:
                    raise SecurityError(
                        f"{address} is a TLS cluster: pass the client's certificates, "
                        "connect(address, security='certs/') (see 'edgeoffload certs')"
                    )
                self.address = address
                self._dask_client = dask_api.open_client(
                    address, dask_api.load_security(security, "client"), timeout
                )
                from edgeoffload.runtime.worker.plugins import (
                    EdgeOffloadSchedulerPlugin,
                    EdgeOffloadWorkerPlugin,
                )

                dask_api.ensure_plugins(
                    self._dask_client,
                    EdgeOffloadWorkerPlugin(fallback=True),
                    EdgeOffloadSchedulerPlugin(),
                )
                if wait_for_workers:
                    dask_api.wait_for_workers(self._dask_client, wait_for_workers, timeout)
            self._pool = WorkerPool(
                self._dask_client,
                transport,
                probe_work,
                on_probe=self._probed,
                on_leave=lambda w: self.engine.remove_node(w.address),
            )
            self.client_id = self._pool.client_id
            for function in registered_functions():
                self._bundle_for(function)
            self._pool.sync()
            workers_now = self._pool.workers()
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
        current.register(self)

    # ---------------------------------------------------------------- lifecycle
    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self.pool.workers())} worker(s)"
        return f"<edgeoffload Session {getattr(self, 'address', '')} {state}>"

    @property
    def pool(self) -> WorkerPool:
        """The session's workers (see :class:`~edgeoffload.runtime.client.pool.WorkerPool`)."""
        if self._pool is None:
            raise OffloadError("this session has no workers (it failed to start)")
        return self._pool

    def close(self) -> None:
        """Disconnect: workers drop this client's code; an embedded cluster stops."""
        if self._closed:
            return
        self._closed = True
        current.unregister(self)
        self._teardown()

    def _teardown(self) -> None:
        self._closed = True
        self._stop.set()
        if self._monitor is not None and self._monitor is not threading.current_thread():
            self._monitor.join(timeout=10)
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        if self._pool is not None:
            self._pool.close()
        if self._dask_client is not None:
            dask_api.close_client(self._dask_client)
        if self.cluster is not None:
            self.cluster.close()
        if self._throttle is not None:
            with contextlib.suppress(Exception):
                self._throttle.release()

    @property
    def closed(self) -> bool:
        return self._closed

    def check_open(self) -> None:
        """Raise :class:`~edgeoffload.errors.OffloadError` if the session is closed."""
        if self._closed:
            raise OffloadError("this session is closed")

    # ---------------------------------------------------------------- membership
    def workers(self) -> dict[str, WorkerInfo]:
        """name -> what the session knows about each worker."""
        return {w.name: self._worker_info(w) for w in self.pool.workers()}

    def _worker_info(self, w: PoolWorker) -> WorkerInfo:
        probe = w.probe
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

    def _probed(self, worker: PoolWorker, probe: Probe) -> None:
        self.engine.set_probe(worker.address, probe, worker.name)

    def refresh(self, full: bool = False) -> None:
        """Follow the cluster's membership now (the monitor does it every second).

        With ``full``, also greet every known worker again: ask which bundles it holds,
        send only the missing ones, and re-probe it (after a network partition heals).
        """
        self.check_open()
        if full:
            self.pool.reonboard_all()
        self.pool.sync()

    def _monitor_loop(self) -> None:
        last_probe = time.monotonic()
        while not self._stop.wait(self._monitor_interval):
            try:
                self.pool.sync()
                if time.monotonic() - last_probe >= self.probe_interval:
                    last_probe = time.monotonic()
                    for worker in self.pool.usable():
                        if not self._stop.is_set():
                            with contextlib.suppress(OffloadError):
                                self.pool.probe(worker)
            except OffloadError as exc:
                if not self._stop.is_set():
                    logger.warning("edgeoffload monitor: %s", exc)
            except Exception:  # never let the monitor die silently
                if not self._stop.is_set():
                    logger.exception("edgeoffload monitor failed")

    # ---------------------------------------------------------------- bundles
    def _bundle_for(self, function: OffloadedFunction[Any, Any]) -> Bundle | None:
        return self.pool.bundle_for_module(function.module)

    def bundles(self) -> dict[str, Bundle]:
        """Module name -> its bundle, for every bundle this session packaged."""
        return self.pool.bundles()

    # ---------------------------------------------------------------- calls
    def submit(
        self,
        function: OffloadedFunction[Any, Any] | BoundOffloadedFunction[Any],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Future[Any]:
        """Start a call in the background; its :class:`~concurrent.futures.Future`."""
        self.check_open()
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
        self.check_open()
        start = time.perf_counter()
        if force_local:
            return self._run_local(function, args, kwargs, "forced local (.local)", start)
        policy = get_policy(function.policy) if function.policy is not None else self.policy
        bundle = self._bundle_for(function)
        if bundle is None:
            reason = f"runs locally: {self.pool.bundle_error(function.module) or 'no bundle'}"
            return self._run_local(function, args, kwargs, reason, start)
        deadline = function.deadline or self.deadline
        attempts: list[Attempt] = []
        excluded = {
            w.address for w in self.pool.workers() if not w.usable or bundle.hash in w.refused
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
        worker = self.pool.get(decision.node)
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
            payload_box.code_bytes += self.pool.push(worker, bundle)
            reply, frames, sent, received = self._remote_call(
                worker, function, bundle, payload, deadline
            )
        except BundleError as exc:
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
        raise rebuild_exception(reply, frames, function.key)

    def _remote_call(
        self,
        worker: PoolWorker,
        function: OffloadedFunction[Any, Any],
        bundle: Bundle,
        payload: list[Any],
        deadline: float,
    ) -> tuple[dict[str, Any], list[Any], int, int]:
        header = {
            "op": Op.CALL,
            "client": self.client_id,
            "bundle": bundle.hash,
            "module": function.module,
            "qualname": function.qualname,
        }
        return self.pool.request(worker, header, payload, deadline)

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
        bundles = self.pool.bundles().values()
        with self._lock:
            records = tuple(self._records)
        return SessionStats(
            records=records,
            transfers=tuple(self.pool.transfers()),
            workers=tuple(self._worker_info(w) for w in self.pool.workers()),
            local_benchmark=self.local_benchmark,
            packaging_seconds=sum(b.build_seconds for b in bundles),
            bundles={b.hash: b.size for b in bundles},
        )

    def print_summary(self, console: Any = None) -> None:
        """Print the stats as tables (rich)."""
        if console is None:
            from rich.console import Console

            console = Console(highlight=False)
        for table in summary_tables(self.stats()):
            console.print(table)

    # ---------------------------------------------------------------- pinned calls, model
    def call_on(self, node: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Run ``function(*args, **kwargs)`` on the worker named ``node`` (no decision)."""
        self.check_open()
        result, _ = self.pool.call_on(node, function, args, kwargs, self.deadline)
        return result

    def model_nodes(self) -> dict[str, Node]:
        """The usable workers as model nodes (those that gave a speed or a preset).

        The same :class:`~edgeoffload.model.cluster.Node` figures the simulator and the
        schedulers use, from what each worker said about itself.
        """
        return self.pool.model_nodes()

    def worker_cache_dir(self, name: str) -> Path | None:
        """Where worker ``name`` keeps this client's bundles (for inspection and tests)."""
        return self.pool.cache_dir(name)


def _unbind(
    function: OffloadedFunction[Any, Any] | BoundOffloadedFunction[Any], args: Sequence[Any]
) -> tuple[OffloadedFunction[Any, Any], tuple[Any, ...]]:
    if isinstance(function, BoundOffloadedFunction):
        return function.__func__, (function.__self__, *args)
    if not isinstance(function, OffloadedFunction):
        raise TypeError(f"{function!r} is not marked with @edgeoffload.offload")
    return function, tuple(args)


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
        or a :class:`~edgeoffload.runtime.client.decision.Policy` instance.
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
