"""The workers a client knows: membership, liveness, code, requests, measurements.

A :class:`WorkerPool` finds the workers through the scheduler (each edgeoffload worker
advertises its channel there), greets each one over its direct channel (Python and
protocol versions must match, else the worker refuses with a clear message), sends it the
code bundles it lacks (COFA's *selective pre-transfer*), probes it, and carries every
message to it. It decides nothing: a
:class:`~edgeoffload.runtime.client.session.Session` adds decisions, retries and stats on
top, and calibration and scheduled DAGs use its public methods.

Liveness is the pool's own, apart from the scheduler's: :meth:`WorkerPool.heartbeat` pings
every worker (which also renews this session's lease there); a worker that does not answer
within the liveness timeout is marked unusable at once — whether it died, froze or was cut
off — and is greeted again as soon as it answers. A scheduler that goes away (a crash, a
restart, a cut) stops only the discovery of *new* workers: the known ones keep serving.
Every change is logged in one line.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeoffload.errors import (
    BundleError,
    OffloadError,
    WorkerUnavailableError,
)
from edgeoffload.model.cluster import Node
from edgeoffload.runtime.client.decision import Probe
from edgeoffload.runtime.client.decorators import OffloadedFunction
from edgeoffload.runtime.client.remote_output import emit
from edgeoffload.runtime.client.stats import Transfer
from edgeoffload.runtime.wire import dask_api
from edgeoffload.runtime.wire.bundles import (
    Bundle,
    build_bundle,
    installed_distributions,
    python_version,
)
from edgeoffload.runtime.wire.channel import (
    ChannelClient,
    channel_request,
)
from edgeoffload.runtime.wire.errors import rebuild_exception
from edgeoffload.runtime.wire.ops import (
    Bye,
    DagCall,
    DagClock,
    DagLink,
    HasBundles,
    Hello,
    Ping,
    PutBundle,
)
from edgeoffload.runtime.wire.ops import Probe as ProbeMessage
from edgeoffload.runtime.wire.protocol import PROTOCOL_VERSION, client_module_name, dumps, loads
from edgeoffload.runtime.wire.security import TLSMaterial, expect_role
from edgeoffload.runtime.worker.description import WorkerDescription
from edgeoffload.runtime.worker.kernels import DEFAULT_PROBE_WORK, measure_link

__all__ = ["CONTROL_TIMEOUT", "DEFAULT_LIVENESS", "FunctionRef", "PoolWorker", "WorkerPool"]

logger = logging.getLogger(__name__)

CONTROL_TIMEOUT = 30.0
"""Seconds for a control message (hello, has_bundles, put_bundle, a probe)."""

DEFAULT_LIVENESS = 5.0
"""Seconds of silence after which a worker counts as dead, frozen or cut off."""

FunctionRef = tuple[str | None, str, str]
"""How a worker finds a function: (bundle hash, or ``None`` for installed code, module,
qualified name)."""

BundleKey = tuple[str, tuple[str, ...], tuple[str, ...]]
"""(root module, shipped packages, extra modules): what one bundle is built from."""


def _warn(function: str, reason: str) -> None:
    logger.warning("edgeoffload: %s: %s", function, reason)


@dataclass
class PoolWorker:
    """A worker as the pool knows it.

    Attributes
    ----------
    name
        Its name: the node id in stats, decisions and cluster models (the pool's key).
    channel_address
        Its direct channel.
    nthreads
        Calls it runs at once.
    address
        Its Dask address, as the scheduler last listed it.
    description
        What it says about itself (role, preset, speed, power).
    usable
        Greeted, probed, alive, and it accepted this client.
    note
        Why it is not usable, when it is not.
    probe
        The latest probe of it (``None`` before the first).
    """

    name: str
    channel_address: str
    nthreads: int = 1
    address: str = ""
    channel: ChannelClient | None = None
    description: WorkerDescription = field(default_factory=WorkerDescription)
    pid: int | None = None
    cache_dir: str = ""
    usable: bool = False
    note: str = ""
    probe: Probe | None = None
    pushed: set[str] = field(default_factory=set)
    refused: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    """Distribution -> why this worker cannot satisfy it (reported as bundles arrive)."""
    cannot_run: dict[tuple[str, str], str] = field(default_factory=dict)
    """(function, bundle hash) -> why this worker could not even start it (its module
    failed to import there): not tried there again in this session."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    lost: bool = False  # went silent or away; greeted again when it answers


class WorkerPool:
    """The workers of one client (see the module docstring).

    Parameters
    ----------
    scheduler
        The scheduler's address.
    material
        The client's TLS material, or ``None`` on an insecure cluster.
    session
        This client's session id (with the certificate, the key of its code on workers).
    probe_work
        Iterations of the probe benchmark.
    liveness
        Seconds of silence after which a worker is declared lost.
    on_probe, on_lost
        Called with a worker and its new probe, or with a worker just declared lost.
    """

    def __init__(
        self,
        scheduler: str,
        material: TLSMaterial | None,
        *,
        session: str,
        probe_work: int = DEFAULT_PROBE_WORK,
        liveness: float = DEFAULT_LIVENESS,
        on_probe: Callable[[PoolWorker, Probe], None] | None = None,
        on_lost: Callable[[PoolWorker], None] | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.material = material
        self.session = session
        self.probe_work = probe_work
        self.liveness = liveness
        self.ssl_context = material.client_context() if material is not None else None
        self._dask_security = dask_api.make_security(material)
        self._on_probe = on_probe
        self._on_lost = on_lost
        self._lock = threading.RLock()
        self._workers: dict[str, PoolWorker] = {}
        self._bundles: dict[BundleKey, Bundle] = {}
        self._bundle_errors: dict[BundleKey, str] = {}
        self._transfers: list[Transfer] = []
        self._pings = ThreadPoolExecutor(max_workers=8, thread_name_prefix="edgeoffload-ping")
        # name -> (when measured, monotonic; the worker's channel and pid; offset; rtt)
        self._clocks: dict[str, tuple[float, tuple[str, int | None], float, float]] = {}
        self.scheduler_reachable: bool | None = None

    def close(self, goodbye: bool = True) -> None:
        """Say goodbye to every worker (they drop this session's code) and close."""
        if goodbye:
            futures = [self._pings.submit(self._bye, w) for w in self.workers() if w.usable]
            for future in futures:
                with contextlib.suppress(Exception):
                    future.result(timeout=3)
        self._pings.shutdown(wait=False, cancel_futures=True)
        for worker in self.workers():
            if worker.channel is not None:
                worker.channel.close()

    def _bye(self, worker: PoolWorker) -> None:
        self.request(worker, Bye(session=self.session).header(), (), 2.0)

    # ---------------------------------------------------------------- membership
    def workers(self) -> list[PoolWorker]:
        """Every worker known, usable or not."""
        with self._lock:
            return list(self._workers.values())

    def usable(self) -> list[PoolWorker]:
        """The workers calls may go to."""
        return [w for w in self.workers() if w.usable]

    def get(self, name: str) -> PoolWorker | None:
        """The worker called ``name``, usable or not."""
        with self._lock:
            return self._workers.get(name)

    def named(self, name: str) -> PoolWorker | None:
        """The usable worker called ``name``."""
        worker = self.get(name)
        return worker if worker is not None and worker.usable else None

    def require(self, name: str) -> PoolWorker:
        """The usable worker called ``name``.

        Raises
        ------
        WorkerUnavailableError
            There is none (the message lists the usable workers).
        """
        worker = self.named(name)
        if worker is None:
            known = sorted(w.name for w in self.usable())
            raise WorkerUnavailableError(
                f"no usable worker named {name!r} (the cluster's node ids must be worker "
                f"names; workers: {', '.join(known) or 'none'})"
            )
        return worker

    def listed(self, timeout: float = 5.0) -> list[str]:
        """The names of the workers the scheduler lists now, sorted.

        Raises
        ------
        OffloadError
            The scheduler cannot be reached.
        """
        entries = dask_api.scheduler_workers(self.scheduler, self._dask_security, timeout)
        return sorted(str(e["name"]) for e in entries.values())

    def sync(self, timeout: float = 5.0) -> None:
        """Ask the scheduler which workers there are; greet the new ones.

        Raises
        ------
        OffloadError
            The scheduler cannot be reached (known workers stay as they are).
        """
        entries = dask_api.scheduler_workers(self.scheduler, self._dask_security, timeout)
        new: list[tuple[PoolWorker, bool]] = []
        with self._lock:
            for address, entry in entries.items():
                advert = entry.get(dask_api.ADVERT_KEY)
                name = str(entry["name"])
                worker = self._workers.get(name)
                if advert is None:
                    if worker is None:
                        self._workers[name] = PoolWorker(
                            name,
                            "",
                            address=address,
                            note="not an edgeoffload worker (start it with 'edgeoffload worker')",
                        )
                    continue
                channel = str(advert.get("channel", ""))
                pid = advert.get("pid")
                restarted = worker is not None and pid is not None and worker.pid not in (None, pid)
                if worker is None or worker.channel_address != channel or restarted:
                    if worker is not None and worker.channel is not None:
                        worker.channel.close()  # a new process under the same name
                    replaced = worker is not None
                    worker = PoolWorker(name, channel, int(advert.get("slots", 1)), address)
                    self._workers[name] = worker
                    new.append((worker, replaced))
                worker.address = address
        for worker, replaced in new:
            self._greet(worker)
            if replaced and worker.usable:
                logger.warning("edgeoffload: worker %s is back (a new process)", worker.name)

    def _greet(self, worker: PoolWorker) -> None:
        try:
            self.onboard(worker)
        except OffloadError as exc:
            worker.usable = False
            worker.note = str(exc)
            logger.warning("edgeoffload: worker %s is not usable: %s", worker.name, exc)

    def heartbeat(self) -> None:
        """Ping every worker at once (renewing this session's lease on each): one that does
        not answer within the liveness timeout is lost; a lost one that answers is greeted
        again."""
        workers = [w for w in self.workers() if w.channel_address and (w.usable or w.lost)]
        futures = {self._pings.submit(self._ping, w): w for w in workers}
        for future, worker in futures.items():
            try:
                future.result()
            except OffloadError as exc:
                if worker.usable:
                    self.mark_lost(worker, str(exc))
                continue
            if worker.lost:
                worker.lost = False
                self._greet(worker)
                if worker.usable:
                    logger.warning("edgeoffload: worker %s is back", worker.name)

    def _ping(self, worker: PoolWorker) -> None:
        self.request(worker, Ping(session=self.session).header(), (), self.liveness)

    def mark_lost(self, worker: PoolWorker, reason: str) -> None:
        """Declare ``worker`` unusable now (dead, frozen, cut off or gone); it is greeted
        again when it answers a ping."""
        with worker.lock:
            if not worker.usable and worker.lost:
                return
            worker.usable = False
            worker.lost = True
            worker.note = reason
            worker.pushed.clear()  # its code may be gone when it comes back
        logger.warning("edgeoffload: worker %s lost: %s", worker.name, reason)
        if self._on_lost is not None:
            self._on_lost(worker)

    def reonboard_all(self) -> None:
        """Greet every known worker again: ask which bundles it holds, send only the
        missing ones, and re-probe it (after a network partition heals)."""
        for worker in self.workers():
            if not worker.channel_address:
                continue
            with worker.lock:
                worker.pushed.clear()
            self._greet(worker)

    def onboard(self, worker: PoolWorker) -> None:
        """Greet ``worker``, send it every bundle it lacks, probe it, mark it usable.

        A worker that refuses this client (another Python version, say) stays unusable,
        its reason in :attr:`PoolWorker.note` and warned.
        """
        if worker.channel is None:
            worker.channel = ChannelClient(
                worker.channel_address, self.ssl_context, verify_peer=expect_role("worker")
            )
        hello = Hello(session=self.session, python=python_version(), protocol=PROTOCOL_VERSION)
        reply, _, _, _ = self.request(worker, hello.header(), (), CONTROL_TIMEOUT)
        if not reply.get("ok"):
            worker.note = str(reply.get("reason", reply.get("error", "refused")))
            warnings.warn(f"edgeoffload: {worker.note}", RuntimeWarning, stacklevel=3)
            return
        worker.description = WorkerDescription(**reply["description"])
        worker.pid = int(reply["pid"])
        worker.nthreads = int(reply.get("slots", worker.nthreads))
        worker.cache_dir = str(reply.get("cache_dir", ""))
        with self._lock:
            bundles = list(self._bundles.values())
        for bundle in bundles:
            with contextlib.suppress(BundleError):  # noted in worker.refused, warned
                self.push(worker, bundle)
        self.probe(worker)
        worker.note = ""
        worker.lost = False
        worker.usable = True

    # ---------------------------------------------------------------- code
    def bundle_for_module(
        self,
        module: str,
        warn: bool = True,
        *,
        ship: Iterable[str] = (),
        extra: Iterable[str] = (),
    ) -> Bundle | None:
        """The bundle of ``module`` (built once), pushed to every usable worker; ``None``
        when the module cannot be packaged (the reason in :meth:`bundle_error`).

        ``ship`` names installed packages to carry as source; ``extra`` more application
        modules (those of a call's argument classes).
        """
        key: BundleKey = (module, tuple(sorted(set(ship))), tuple(sorted(set(extra))))
        with self._lock:
            bundle = self._bundles.get(key)
            if bundle is not None or key in self._bundle_errors:
                return bundle
        try:
            bundle = build_bundle(module, ship=key[1], extra=key[2])
        except BundleError as exc:
            with self._lock:
                self._bundle_errors[key] = str(exc)
            if warn:
                warnings.warn(
                    f"edgeoffload: {exc}; its calls run locally", RuntimeWarning, stacklevel=4
                )
            return None
        for note in bundle.notes:
            warnings.warn(f"edgeoffload: {note}", RuntimeWarning, stacklevel=4)
        with self._lock:
            self._bundles[key] = bundle
        for worker in self.usable():  # a function defined after connect: pre-transfer it now
            with contextlib.suppress(BundleError, OffloadError):
                self.push(worker, bundle)
        return bundle

    def bundle_error(
        self, module: str, *, ship: Iterable[str] = (), extra: Iterable[str] = ()
    ) -> str | None:
        """Why ``module`` could not be packaged, if it could not."""
        key: BundleKey = (module, tuple(sorted(set(ship))), tuple(sorted(set(extra))))
        with self._lock:
            return self._bundle_errors.get(key)

    def bundles(self) -> dict[str, Bundle]:
        """Module name -> its bundle, for every bundle packaged (the latest of a module
        packaged with more modules or shipped packages)."""
        with self._lock:
            return {key[0]: bundle for key, bundle in self._bundles.items()}

    def transfers(self) -> list[Transfer]:
        """Every bundle sent (or found already there), in order."""
        with self._lock:
            return list(self._transfers)

    def push(self, worker: PoolWorker, bundle: Bundle) -> int:
        """Make sure ``worker`` holds ``bundle``; return the code bytes sent.

        Raises
        ------
        BundleError
            The worker refused the bundle (a missing package, another Python…); the
            reason is also kept in :attr:`PoolWorker.refused` and warned once.
        """
        with worker.lock:
            if bundle.hash in worker.pushed:
                return 0
            if bundle.hash in worker.refused:
                raise BundleError(worker.refused[bundle.hash])
            ask = HasBundles(session=self.session, hashes=[bundle.hash])
            reply, _, _, _ = self.request(worker, ask.header(), (), CONTROL_TIMEOUT)
            if bundle.hash in (reply.get("have") or []):
                worker.pushed.add(bundle.hash)
                with self._lock:
                    self._transfers.append(Transfer(worker.name, bundle.hash, 0, hit=True))
                return 0
            put = PutBundle(session=self.session, digest=bundle.hash)
            reply, _, _, _ = self.request(worker, put.header(), [bundle.data], CONTROL_TIMEOUT)
            if not reply.get("ok"):
                reason = str(reply.get("reason", reply.get("error", reply)))
                worker.refused[bundle.hash] = reason
                warnings.warn(f"edgeoffload: {reason}", RuntimeWarning, stacklevel=3)
                raise BundleError(reason)
            missing = reply.get("missing") or {}
            if isinstance(missing, dict):
                worker.missing.update({str(k): str(v) for k, v in missing.items()})
            worker.pushed.add(bundle.hash)
            with self._lock:
                self._transfers.append(Transfer(worker.name, bundle.hash, bundle.size, hit=False))
            return bundle.size

    def function_ref(self, function: Callable[..., Any]) -> FunctionRef:
        """How a worker finds ``function``: from this client's bundle of its module, or by
        name where it belongs to the standard library or an installed distribution.

        Raises
        ------
        TypeError
            The function has no module.
        BundleError
            Its module cannot be packaged.
        """
        if isinstance(function, OffloadedFunction):
            module, qualname = function.module, function.qualname
        else:
            module = str(getattr(function, "__module__", "") or "")
            qualname = str(getattr(function, "__qualname__", ""))
        if not module:
            raise TypeError(f"{function!r} has no module: a worker cannot find it")
        top = module.partition(".")[0]
        installed = top == "edgeoffload" or top in installed_distributions()
        standard = top in sys.stdlib_module_names or top in sys.builtin_module_names
        if module != "__main__" and (installed or standard):
            return None, module, qualname  # installed code: the worker imports it by name
        bundle = self.bundle_for_module(module, warn=False)
        if bundle is None:
            reason = self.bundle_error(module) or "it cannot be packaged"
            raise BundleError(f"the functions of module {module!r} cannot run remotely: {reason}")
        return bundle.hash, module, qualname

    def ensure_code(self, worker: PoolWorker, digests: Iterable[str]) -> None:
        """Push the bundles ``digests`` (made by this pool) to ``worker``.

        Raises
        ------
        BundleError
            The worker refused one (the message names the worker).
        """
        by_hash = {b.hash: b for b in self.bundles().values()}
        for digest in digests:
            try:
                self.push(worker, by_hash[digest])
            except BundleError as exc:
                raise BundleError(f"worker {worker.name} refused the code: {exc}") from None

    # ---------------------------------------------------------------- messages
    def channel_for(self, worker: PoolWorker) -> ChannelClient:
        """The worker's direct channel."""
        if worker.channel is None:
            raise WorkerUnavailableError(f"worker {worker.name} has no channel")
        return worker.channel

    def request(
        self, worker: PoolWorker, header: dict[str, Any], frames: Sequence[Any], timeout: float
    ) -> tuple[dict[str, Any], list[Any], int, int]:
        """One message to ``worker`` and its reply: (header, frames, bytes sent, bytes
        received). Network failures raise the runtime's errors
        (:func:`~edgeoffload.runtime.wire.channel.channel_request`)."""
        return channel_request(self.channel_for(worker), worker.name, header, frames, timeout)

    def call(
        self,
        worker: PoolWorker,
        header: dict[str, Any],
        frames: Sequence[Any],
        *,
        deadline: float | None,
    ) -> tuple[dict[str, Any], list[Any], int, int]:
        """A message that runs user code on ``worker``, followed with liveness beats:
        (reply, frames, bytes sent, bytes received).

        ``deadline`` is a :func:`time.monotonic` time (``None``: none).

        Raises
        ------
        WorkerUnavailableError
            The worker went silent for the liveness timeout (dead, frozen or cut off), or
            the connection failed.
        OffloadTimeoutError
            The deadline passed (the worker was told to stop the call).
        SecurityError
            TLS failed.
        """
        timeout = None if deadline is None else deadline - time.monotonic()
        channel = self.channel_for(worker)
        return channel_request(
            channel, worker.name, header, frames, timeout, liveness=self.liveness
        )

    def channel_request(
        self,
        worker: PoolWorker,
        header: dict[str, Any],
        frames: Sequence[Any] = (),
        timeout: float = CONTROL_TIMEOUT,
    ) -> tuple[dict[str, Any], list[Any]]:
        """One message to ``worker``; a ``refused`` reply raises
        :class:`~edgeoffload.errors.OffloadError`."""
        reply, out, _, _ = self.request(worker, header, frames, timeout)
        if reply.get("status") == "refused":
            raise OffloadError(str(reply.get("error", "refused")))
        return reply, out

    # ---------------------------------------------------------------- measurements
    def probe(self, worker: PoolWorker) -> Probe:
        """Round trip (median of 5 after a warm-up), bandwidth (256 KB, best of 3) and the
        probe benchmark's time on ``worker``; kept as :attr:`PoolWorker.probe`."""
        ping = Ping(session=self.session).header()

        def send(frames: list[bytes]) -> None:
            self.request(worker, ping, frames, CONTROL_TIMEOUT)

        link = measure_link(send, pings=5, repeats=3, min_seconds=0.0)  # 256 KB, one size
        rtt = link["rtt"]
        bandwidth = min(link["size"] / max(link["seconds"] - link["rtt_min"], 1e-6), 1e11)
        message = ProbeMessage(session=self.session, work=self.probe_work)
        reply, _ = self.channel_request(worker, message.header(), (), CONTROL_TIMEOUT)
        probe = Probe(float(reply["seconds"]), rtt, bandwidth, worker.nthreads)
        worker.probe = probe
        if self._on_probe is not None:
            self._on_probe(worker, probe)
        return probe

    def call_on(
        self,
        name: str,
        function: Callable[..., Any],
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        timeout: float = CONTROL_TIMEOUT,
    ) -> tuple[Any, float]:
        """Run ``function(*args, **kwargs)`` on the worker called ``name`` now, no
        decision: (its result, compute seconds measured there).

        Exceptions raised there are re-raised here as for offloaded calls.
        """
        worker = self.require(name)
        ref = self.function_ref(function)
        bundles = [ref[0]] if ref[0] else []
        self.ensure_code(worker, bundles)
        message = DagCall(session=self.session, fn=list(ref), bundles=bundles, lease=self.liveness)
        payload = dumps((tuple(args), dict(kwargs or {})))
        deadline = time.monotonic() + timeout
        reply, frames, _, _ = self.call(worker, message.header(), payload, deadline=deadline)
        emit(reply, f"{ref[1]}:{ref[2]}", name, _warn)
        if reply.get("status") != "ok":
            if reply.get("status") == "error":
                raise rebuild_exception(reply, frames, f"{ref[1]}:{ref[2]}")
            raise OffloadError(f"worker {name}: {reply.get('error', reply.get('status'))}")
        return loads(frames, rename=client_module_name), float(reply.get("compute", 0.0))

    def clock_offsets(
        self,
        names: Iterable[str],
        samples: int = 5,
        rtts: dict[str, float] | None = None,
        max_age: float = 0.0,
    ) -> dict[str, float]:
        """Each named worker's clock minus this process's (``time.time()``), seconds.

        Cristian's method: the sample with the shortest round trip, the worker's time
        taken at its middle. ``rtts`` receives that round trip per worker. A worker's
        offset measured less than ``max_age`` seconds ago (the same process, at the same
        address) is reused without asking it: clocks drift by microseconds a second, and
        ``samples`` round trips before every DAG run cost a slow worker far more.
        """
        out: dict[str, float] = {}
        for name in names:
            worker = self.require(name)
            identity = (worker.channel_address, worker.pid)
            known = self._clocks.get(name)
            if known is not None and known[1] == identity and time.monotonic() - known[0] < max_age:
                out[name] = known[2]
                if rtts is not None:
                    rtts[name] = known[3]
                continue
            best = (math.inf, 0.0)
            for _ in range(samples):
                sent = time.time()
                reply, _ = self.channel_request(worker, DagClock().header())
                back = time.time()
                rtt = back - sent
                if rtt < best[0]:
                    best = (rtt, float(reply["time"]) - (sent + back) / 2)
            out[name] = best[1]
            self._clocks[name] = (time.monotonic(), identity, best[1], best[0])
            if rtts is not None:
                rtts[name] = best[0]
        return out

    def measure_link(self, sender: str, receiver: str, **options: Any) -> dict[str, float]:
        """Round trip and bandwidth from worker ``sender`` to worker ``receiver``, measured
        by the sender over the path a DAG result takes
        (:func:`~edgeoffload.runtime.worker.kernels.measure_link`)."""
        message = DagLink(address=self.require(receiver).channel_address, **options)
        reply, _ = self.channel_request(self.require(sender), message.header(), timeout=300.0)
        return {k: float(reply[k]) for k in ("rtt", "rtt_min", "size", "seconds", "bandwidth")}

    def measure_client_link(self, name: str, **options: Any) -> dict[str, float]:
        """Round trip and bandwidth from this process to the worker called ``name``."""
        channel = self.channel_for(self.require(name))
        ping = Ping(session=self.session).header()

        def send(frames: list[bytes]) -> None:
            channel.request(ping, frames, 300.0)

        return measure_link(send, **options)

    # ---------------------------------------------------------------- the model
    def dask_tasks(self) -> dask_api.DaskTasks:
        """A Dask client on this cluster for plain task graphs (close it when done)."""
        return dask_api.DaskTasks(self.scheduler, self._dask_security)

    def model_nodes(self) -> dict[str, Node]:
        """The usable workers as model nodes (those that gave a speed or a preset)."""
        nodes = {}
        for w in self.usable():
            node = w.description.to_node(w.name)
            if node is not None:
                nodes[w.name] = node
        return nodes

    def cache_dir(self, name: str) -> Path | None:
        """Where worker ``name`` keeps this client's bundles (for inspection and tests)."""
        worker = self.get(name)
        return Path(worker.cache_dir) if worker is not None and worker.cache_dir else None
