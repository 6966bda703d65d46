"""Sessions: connect to a cluster, decide, call, fall back.

``edgeoffload.connect()`` starts an embedded
:class:`~edgeoffload.runtime.client.local_cluster.LocalCluster` (mutual TLS with
certificates made in memory) and returns a :class:`Session`;
``connect("tls://host:8786", security="certs/")`` joins a running cluster instead.

A session is a :class:`~edgeoffload.runtime.client.pool.WorkerPool` (membership, liveness,
code, requests, probes) plus decisions, retries and stats
(:class:`~edgeoffload.runtime.client.calls.CallRunner`). While it is open, one thread pings
every worker every second (liveness, and the lease of this session's code there) and
re-probes them every ``probe_interval`` seconds; another follows the scheduler's list of
workers, backing off while the scheduler is away, so that an outage of the scheduler never
delays the detection of a dead worker.

A call is decided by the :class:`~edgeoffload.runtime.client.decision.DecisionEngine`, sent
over the worker's direct channel and followed with liveness beats. Its deadline is one
budget for the whole call. A worker that dies, freezes, is cut off or refuses the code
never loses the call: it is retried on the next best worker (at most ``max_retries``
times) and then run locally, and the stats say so.
"""

from __future__ import annotations

import ast
import contextlib
import logging
import math
import os
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from edgeoffload.errors import (
    OffloadError,
    SecurityError,
    WorkerUnavailableError,
)
from edgeoffload.model.cluster import Node, PowerProfile
from edgeoffload.runtime.client import current
from edgeoffload.runtime.client.calls import CallRunner
from edgeoffload.runtime.client.decision import (
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
from edgeoffload.runtime.client.pool import DEFAULT_LIVENESS, PoolWorker, WorkerPool
from edgeoffload.runtime.client.stats import (
    CallRecord,
    SessionStats,
    WorkerInfo,
    print_summary,
)
from edgeoffload.runtime.host import throttle
from edgeoffload.runtime.host.cpu import cpu_capacity
from edgeoffload.runtime.host.procs import WORKER_PROCESS_ENV
from edgeoffload.runtime.wire import dask_api
from edgeoffload.runtime.wire.addresses import diagnose, scheduler_address
from edgeoffload.runtime.wire.bundles import Bundle
from edgeoffload.runtime.wire.security import TLSMaterial, ensure_user_certificates
from edgeoffload.runtime.worker.kernels import DEFAULT_PROBE_WORK, probe_benchmark

if TYPE_CHECKING:
    from distributed import Security

__all__ = ["DEFAULT_DEADLINE", "Session", "client_material", "connect", "current_session"]

logger = logging.getLogger(__name__)

DEFAULT_DEADLINE = 120.0
"""Seconds a call may take in all (remote attempts, retries, fallback), unless set."""

DEFAULT_TIMEOUT = 60.0
"""Seconds to start an embedded cluster, or to wait for a scheduler that does not answer
or for ``wait_for_workers``, when ``connect()`` is given no ``timeout``."""

_FIRST_ATTEMPT = 2.0
"""Seconds the first attempt to reach a scheduler may take when ``connect()`` is given no
``timeout``: then, if nothing listens at the address, it fails at once."""

current_session = current.current_session


def _client_power(client: WorkerSpec | Node | PowerProfile | None) -> PowerProfile | None:
    if client is None:
        return None
    if isinstance(client, PowerProfile):
        return client
    if isinstance(client, Node):
        return client.power
    description = client.description()
    return PowerProfile(**description.power) if description.power else None


def client_material(
    address: str, security: str | Path | TLSMaterial | Security | None, insecure: bool
) -> TLSMaterial | None:
    """The client's TLS material for joining the scheduler at ``address``.

    ``tls://`` (or no scheme) needs certificates: ``security`` (a folder made by
    ``edgeoffload certs``, a :class:`TLSMaterial` or a ``distributed.Security``), else the
    per-user folder every unflagged ``edgeoffload scheduler``/``worker`` of this user shares
    (made on first use). ``tcp://`` is a cluster anyone who reaches it can run code on: it
    needs ``insecure=True``, said on purpose.

    Raises
    ------
    SecurityError
        A plain-TCP address without ``insecure=True``, ``insecure=True`` with a TLS
        address, or unusable certificates (the message says how to make them).
    """
    scheme = address.partition("://")[0] if "://" in address else "tls"
    if scheme == "tcp":
        if not insecure:
            found = diagnose(address, timeout=1.0)
            if found is not None and found.kind == "wrong-scheme":
                raise SecurityError(found.message)  # it speaks TLS: name the tls:// address
            raise SecurityError(
                f"{address} is a plain-TCP cluster: anyone who can reach it can run code on its "
                "workers. Pass insecure=True to join it anyway, or run it with TLS (the default "
                "of 'edgeoffload scheduler')"
            )
        return None
    if scheme != "tls":
        raise SecurityError(f"{address}: unknown scheme {scheme!r} (use tls:// or tcp://)")
    if insecure:
        raise SecurityError(
            f"insecure=True with a TLS address ({address}): drop insecure=True, or use tcp://"
        )
    if security is None:
        return TLSMaterial.from_folder(ensure_user_certificates(), "client")
    if isinstance(security, TLSMaterial):
        if security.role != "client":
            raise SecurityError(f"a session needs a client certificate, got a {security.role}'s")
        return security
    if isinstance(security, str | Path):
        return TLSMaterial.from_folder(Path(security), "client")
    ca, cert, key = dask_api.material_of(security)
    return TLSMaterial("client", ca, cert, key)


class Session:
    """An open connection to a cluster; use :func:`connect` to make one.

    Attributes
    ----------
    client_id
        This session's id: with the client's certificate, the key of its code, calls and
        runs on every worker.
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
        address: str | LocalCluster | None = None,
        *,
        workers: Sequence[WorkerSpec] | None = None,
        n_workers: int = 2,
        security: str | Path | TLSMaterial | Security | None = None,
        policy: str | Policy | None = "latency",
        deadline: float = DEFAULT_DEADLINE,
        max_retries: int = 2,
        probe_interval: float = 30.0,
        client: WorkerSpec | Node | PowerProfile | None = None,
        client_cpu_quota: float | None = None,
        transport: str = "channel",
        timeout: float | None = None,
        wait_for_workers: int | None = None,
        probe_work: int = DEFAULT_PROBE_WORK,
        monitor_interval: float = 1.0,
        liveness_timeout: float = DEFAULT_LIVENESS,
        insecure: bool = False,
        strict: bool = False,
    ) -> None:
        worker = os.environ.get(WORKER_PROCESS_ENV)
        if worker:
            raise OffloadError(
                f"edgeoffload.connect() was called inside worker {worker}'s process: a module "
                "that defines offloaded functions runs its top-level code on the workers too. "
                'Open the session under `if __name__ == "__main__":`'
            )
        self.unguarded = unguarded_main()
        if self.unguarded is not None and any(
            f.module == "__main__" for f in registered_functions()
        ):
            raise OffloadError(unguarded_message(self.unguarded))
        if transport == "comm":
            warnings.warn(
                "edgeoffload: transport='comm' is gone; calls use the direct channel (they "
                "need its liveness beats and certificate identities)",
                FutureWarning,
                stacklevel=3,
            )
            transport = "channel"
        if transport != "channel":
            raise ValueError(f"transport must be 'channel', got {transport!r}")
        if not deadline > 0:
            raise ValueError(f"deadline must be > 0 seconds, got {deadline!r}")
        if not liveness_timeout > 0:
            raise ValueError(f"liveness_timeout must be > 0 seconds, got {liveness_timeout!r}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries!r}")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        patient = timeout is not None  # wait that long for a scheduler that is starting
        timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        if address is not None and workers is not None:
            raise ValueError("pass either an address to join or workers to start, not both")
        self.policy = get_policy(policy)
        self.deadline = deadline
        self.max_retries = max_retries
        self.probe_interval = probe_interval
        self.transport = transport
        self.probe_work = probe_work
        self.liveness_timeout = liveness_timeout
        self.client_id = uuid.uuid4().hex
        self.cluster: LocalCluster | None = None
        self._pool: WorkerPool | None = None
        self._throttle: Any = None
        self._closed = False
        self._lock = threading.RLock()
        self._records: list[CallRecord] = []
        self._stop = threading.Event()
        self._monitor: threading.Thread | None = None
        self._membership: threading.Thread | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._monitor_interval = monitor_interval
        try:
            if self.policy.needs_power and _client_power(client) is None:
                raise OffloadError(
                    f"policy {self.policy.name!r} needs the client's power figures: pass "
                    "client=WorkerSpec('phone', preset=...) or client=PowerProfile(...)"
                )
            if address is None:
                # workers start before the client is throttled, so they are not born in
                # its cgroup; workers the nannies restart later are freed by the cluster
                self.cluster = LocalCluster(
                    workers, n_workers=n_workers, timeout=timeout, insecure=insecure
                )
                self.address = self.cluster.address
                material = self.cluster.client_material
            elif isinstance(address, LocalCluster):  # another session's embedded cluster
                self.address = address.address
                material = address.client_material
                wait_for_workers = wait_for_workers or len(address.specs)
            else:
                self.address = scheduler_address(address)
                material = client_material(self.address, security, insecure)
            if client_cpu_quota is not None:
                self._throttle = throttle.apply_cpu_quota(
                    os.getpid(), client_cpu_quota, name="client"
                )
                if self.cluster is not None and self._throttle.method == "cgroup":
                    self.cluster.free_restarted_workers()
            self.local_benchmark = min(probe_benchmark(probe_work) for _ in range(3))
            self.local_capacity = min(cpu_capacity().cores, client_cpu_quota or math.inf)
            self.engine = DecisionEngine(
                self.local_benchmark, _client_power(client), local_capacity=self.local_capacity
            )
            self._pool = WorkerPool(
                self.address,
                material,
                session=self.client_id,
                probe_work=probe_work,
                liveness=liveness_timeout,
                on_probe=self._probed,
                on_lost=lambda w: self.engine.remove_node(w.name),
            )
            self.calls = CallRunner(
                self._pool, self.engine, self.policy, self.deadline, self.max_retries, strict
            )
            self.calls.unguarded = (
                unguarded_message(self.unguarded) if self.unguarded is not None else None
            )
            for function in registered_functions():
                self._bundle_for(function)
            expected = len(self.cluster.specs) if self.cluster is not None else wait_for_workers
            # an embedded cluster (this session's or another's) is there: wait for it
            self._join(expected or 0, timeout, patient or not isinstance(address, str))
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
            self._monitor = threading.Thread(
                target=self._monitor_loop, name="edgeoffload-monitor", daemon=True
            )
            self._monitor.start()
            self._membership = threading.Thread(
                target=self._membership_loop, name="edgeoffload-membership", daemon=True
            )
            self._membership.start()
        except BaseException:
            self._teardown()
            raise
        current.register(self)

    def _join(self, expected: int, timeout: float, patient: bool = True) -> None:
        """Reach the scheduler and greet its workers; wait until ``expected`` are usable.

        A scheduler that cannot be what the address says (TLS against plain TCP) fails at
        once, naming the scheme to use. When nothing listens at the address, or it cannot
        be reached, a ``patient`` join waits for it until ``timeout`` (it may be
        starting); otherwise the first attempt is short and the join fails at once,
        saying what to run. A scheduler that does not answer is waited for until
        ``timeout``; the final error says why it could not be reached.
        """
        ends = time.monotonic() + timeout
        pause = 0.2
        attempt = 10.0 if patient else _FIRST_ATTEMPT
        while True:
            try:
                self.pool.sync(timeout=max(0.5, min(attempt, ends - time.monotonic())))
            except OffloadError as exc:
                found = diagnose(self.address)
                if found is not None and found.kind == "wrong-scheme":
                    raise SecurityError(found.message) from None
                if isinstance(exc, SecurityError):
                    raise SecurityError(
                        f"{exc} — are this client's certificates from the same "
                        "'edgeoffload certs' folder (the same ca.pem) as the scheduler's?"
                    ) from None
                if found is not None and not patient:
                    raise WorkerUnavailableError(
                        f"cannot reach the scheduler at {self.address}: {found} (pass "
                        "connect(timeout=SECONDS) to wait for one that is starting)"
                    ) from None
                if time.monotonic() >= ends:
                    raise WorkerUnavailableError(
                        f"cannot reach the scheduler at {self.address} within {timeout:.3g} s: "
                        f"{found or exc}"
                    ) from None
                attempt = 10.0
                time.sleep(min(pause, max(0.0, ends - time.monotonic())))
                pause = min(pause * 2, 2.0)
                continue
            usable = len(self.pool.usable())
            if usable >= expected:
                return
            if time.monotonic() >= ends:
                raise WorkerUnavailableError(
                    f"only {usable} of {expected} worker(s) joined {self.address} within "
                    f"{timeout:.3g} s"
                )
            time.sleep(0.1)

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
        """Disconnect: workers drop this session's code; an embedded cluster stops."""
        if self._closed:
            return
        self._closed = True
        current.unregister(self)
        self._teardown()

    def _teardown(self) -> None:
        self._closed = True
        self._stop.set()
        for thread in (self._monitor, self._membership):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=10)
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        if self._pool is not None:
            self._pool.close(goodbye=self.cluster is None)
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
            address=w.channel_address,
            role=w.description.role,
            preset=w.description.preset,
            benchmark=probe.benchmark if probe else None,
            rtt=probe.rtt if probe else None,
            bandwidth=probe.bandwidth if probe else None,
            slots=w.nthreads,
            usable=w.usable,
            note=w.note,
            pid=w.pid,
            missing=dict(w.missing),
        )

    def _probed(self, worker: PoolWorker, probe: Probe) -> None:
        self.engine.set_probe(worker.name, probe, worker.name)

    def refresh(self, full: bool = False) -> None:
        """Follow the cluster now (the monitor does it every second): ping every worker
        and ask the scheduler for new ones.

        With ``full``, also greet every known worker again: ask which bundles it holds,
        send only the missing ones, and re-probe it.
        """
        self.check_open()
        if full:
            self.pool.reonboard_all()
        self.pool.heartbeat()
        self.pool.sync()

    def _monitor_loop(self) -> None:
        """Every ``monitor_interval``: ping the workers (liveness, lease) and re-probe them
        now and then. The scheduler is followed by a thread of its own
        (:meth:`_membership_loop`), so that a scheduler that does not answer never delays
        the liveness of the workers."""
        last_probe = time.monotonic()
        while not self._stop.wait(self._monitor_interval):
            try:
                self.pool.heartbeat()
                if time.monotonic() - last_probe >= self.probe_interval:
                    last_probe = time.monotonic()
                    for worker in self.pool.usable():
                        if not self._stop.is_set():
                            with contextlib.suppress(OffloadError):
                                self.pool.probe(worker)
            except Exception:  # never let the monitor die silently, never repeat it
                if not self._stop.is_set():
                    logger.exception("edgeoffload monitor failed; it goes on")

    def _membership_loop(self) -> None:
        """Ask the scheduler for new workers every ``monitor_interval``, backing off (to 10
        s) while it is unreachable; one log line when it goes and one when it is back."""
        backoff = self._monitor_interval
        while not self._stop.wait(backoff):
            try:
                self.pool.sync()
            except OffloadError as exc:
                self._scheduler_state(False, str(exc))
                backoff = min(backoff * 2, 10.0)
                continue
            except Exception:  # never let the membership thread die silently
                if not self._stop.is_set():
                    logger.exception("edgeoffload: following the scheduler failed; it goes on")
                continue
            self._scheduler_state(True, "")
            backoff = self._monitor_interval

    def _scheduler_state(self, reachable: bool, detail: str) -> None:
        pool = self.pool
        if pool.scheduler_reachable is reachable:
            return
        if not reachable:
            logger.warning(
                "edgeoffload: the scheduler at %s is unreachable (%s); %d known worker(s) "
                "still take calls",
                self.address,
                detail,
                len(pool.usable()),
            )
        elif pool.scheduler_reachable is False:
            logger.warning("edgeoffload: the scheduler at %s is back", self.address)
        pool.scheduler_reachable = reachable

    # ---------------------------------------------------------------- bundles
    def _bundle_for(self, function: OffloadedFunction[Any, Any]) -> Bundle | None:
        return self.pool.bundle_for_module(function.module, ship=function.ship)

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
        """Run one call where the decision engine says (or locally with ``force_local``).

        The deadline (the function's, else the session's) is one budget for the whole call:
        remote attempts, retries and the decision to fall back all spend it; see
        :class:`~edgeoffload.runtime.client.calls.CallRunner`.
        """
        self.check_open()
        return self.calls.call(function, args, kwargs, force_local)

    # ---------------------------------------------------------------- reporting
    def stats(self) -> SessionStats:
        """A snapshot: calls, where each ran, bytes, cache hits, reasons, retries."""
        bundles = self.pool.bundles().values()
        return SessionStats(
            records=self.calls.records(),
            transfers=tuple(self.pool.transfers()),
            workers=tuple(self._worker_info(w) for w in self.pool.workers()),
            local_benchmark=self.local_benchmark / min(1.0, self.local_capacity),
            packaging_seconds=sum(b.build_seconds for b in bundles),
            bundles={b.hash: b.size for b in bundles},
            warnings=self.calls.warnings(),
        )

    def print_summary(self, console: Any = None) -> None:
        """Print the stats as tables (rich), as wide as they need when not on a terminal."""
        print_summary(self.stats(), console)

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


def unguarded_main() -> str | None:
    """``"script.py:LINE"`` when the code that opens the session is the top-level code of
    the ``__main__`` module outside an ``if __name__ == "__main__":`` block, else None."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module == "__main__" and frame.f_code.co_name == "<module>":
            break
        frame = frame.f_back
    if frame is None:
        return None
    filename = frame.f_code.co_filename
    try:
        tree = ast.parse(Path(filename).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None  # no source to read (an interactive session, python -c)
    line = frame.f_lineno
    for node in tree.body:
        if (
            isinstance(node, ast.If)
            and "__name__" in ast.unparse(node.test)
            and "__main__" in ast.unparse(node.test)
            and node.lineno <= line <= (node.end_lineno or node.lineno)
        ):
            return None
    return f"{Path(filename).name}:{line}"


def unguarded_message(where: str) -> str:
    """The one line that says what to add (see :func:`unguarded_main`)."""
    return (
        f"the session is opened at the top level of the script ({where}), which defines "
        "offloaded functions: workers import the script to run them and would run it "
        'again. Put the code that uses the session under `if __name__ == "__main__":`'
    )


def connect(
    address: str | LocalCluster | None = None,
    *,
    workers: Sequence[WorkerSpec] | None = None,
    n_workers: int = 2,
    security: str | Path | TLSMaterial | Security | None = None,
    policy: str | Policy | None = "latency",
    deadline: float = DEFAULT_DEADLINE,
    max_retries: int = 2,
    probe_interval: float = 30.0,
    client: WorkerSpec | Node | PowerProfile | None = None,
    client_cpu_quota: float | None = None,
    transport: str = "channel",
    timeout: float | None = None,
    wait_for_workers: int | None = None,
    liveness_timeout: float = DEFAULT_LIVENESS,
    insecure: bool = False,
    strict: bool = False,
    **options: Any,
) -> Session:
    """Open a session: offloaded functions called while it is open may run remotely.

    Parameters
    ----------
    address
        A scheduler to join (``"tls://10.0.0.5:8786"``), or a :class:`LocalCluster` this
        process started (its certificates come with it); ``None`` starts an embedded
        :class:`LocalCluster` on loopback (mutual TLS with certificates made for it in
        memory), stopped when the session closes.
    workers
        The embedded cluster's workers (default: ``n_workers`` plain ones).
    n_workers
        Number of default workers of the embedded cluster (2).
    security
        The client's certificates: a folder made by ``edgeoffload certs`` (its ``ca.pem``,
        ``client.pem``, ``client-key.pem``; ``DIR/clients/NAME`` for a named client), a
        :class:`~edgeoffload.runtime.wire.security.TLSMaterial` or a
        ``distributed.Security``. Default: the per-user folder that unflagged
        ``edgeoffload scheduler`` and ``worker`` use (made on first use).
    policy
        ``"latency"`` (default), ``"energy"``, ``"always-local"``, ``"always-remote"``,
        or a :class:`~edgeoffload.runtime.client.decision.Policy` instance.
    deadline
        Seconds a call may take in all — remote attempts, retries and the decision to fall
        back — before it raises :class:`~edgeoffload.errors.OffloadTimeoutError` (120).
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
        ``"channel"``: calls go straight to the worker's direct channel (``"comm"``, the
        Dask comm handler of earlier versions, warns and uses the channel).
    timeout
        Seconds to wait for the cluster: for an embedded cluster's processes to start,
        for a scheduler to answer, for ``wait_for_workers``. Given, it also waits that
        long for a scheduler that is starting (nothing listens at its address yet).
        Default (``None``): 60 s, but joining by address fails within seconds when
        nothing listens there (:class:`~edgeoffload.errors.WorkerUnavailableError`
        saying to start ``edgeoffload scheduler``) and at once when the scheme is wrong
        (:class:`~edgeoffload.errors.SecurityError` naming the right one).
    wait_for_workers
        When joining by address, wait until that many workers are up.
    liveness_timeout
        Seconds of silence after which a worker counts as dead, frozen or cut off: its
        calls move elsewhere, and a call whose client is silent that long is stopped on
        the worker (5).
    insecure
        Join a plain-TCP (``tcp://``) cluster, or start the embedded one without TLS.

    strict
        Raise :class:`~edgeoffload.errors.OffloadError` when a call cannot run remotely
        (its code cannot be packaged, its arguments cannot be pickled, no worker has what
        it needs, every attempt failed) instead of running it locally with a warning; a
        function's ``@offload(strict=...)`` wins.

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
        liveness_timeout=liveness_timeout,
        insecure=insecure,
        strict=strict,
        **options,
    )
