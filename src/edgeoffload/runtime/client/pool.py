"""The workers a client knows: membership, onboarding, code, requests, measurements.

A :class:`WorkerPool` follows the cluster's membership (the scheduler's view), greets each
worker that joins (Python and protocol versions must match, else the worker refuses with
a clear message), sends it the code bundles it lacks (COFA's *selective pre-transfer*),
probes it, and carries every message to it: over its direct call channel, or through its
Dask comm with ``transport="comm"``. It also runs pinned calls (a function on a named
worker, no decision), measures links and clock offsets. It decides nothing: a
:class:`~edgeoffload.runtime.client.session.Session` adds decisions, retries and stats on
top, and calibration and scheduled DAGs use its public methods.
"""

from __future__ import annotations

import contextlib
import logging
import math
import ssl
import statistics
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeoffload.errors import BundleError, OffloadError, WorkerUnavailableError
from edgeoffload.model.cluster import Node
from edgeoffload.runtime.client.decision import Probe
from edgeoffload.runtime.client.decorators import OffloadedFunction
from edgeoffload.runtime.client.stats import Transfer
from edgeoffload.runtime.wire import dask_api
from edgeoffload.runtime.wire.bundles import (
    Bundle,
    build_bundle,
    installed_distributions,
    python_version,
)
from edgeoffload.runtime.wire.channel import ChannelClient, channel_request
from edgeoffload.runtime.wire.errors import rebuild_exception
from edgeoffload.runtime.wire.ops import Op
from edgeoffload.runtime.wire.protocol import PROTOCOL_VERSION, client_module_name, dumps, loads
from edgeoffload.runtime.worker.description import WorkerDescription
from edgeoffload.runtime.worker.kernels import DEFAULT_PROBE_WORK, measure_link

__all__ = ["CONTROL_TIMEOUT", "FunctionRef", "PoolWorker", "WorkerPool"]

logger = logging.getLogger(__name__)

CONTROL_TIMEOUT = 30.0
"""Seconds for a control message (hello, has_bundles, put_bundle, a probe)."""

FunctionRef = tuple[str | None, str, str]
"""How a worker finds a function: (bundle hash, or ``None`` for installed code, module,
qualified name)."""


@dataclass
class PoolWorker:
    """A worker as the pool knows it.

    Attributes
    ----------
    address
        Its Dask address (the key of the pool's membership).
    name
        Its name: the node id in stats, decisions and cluster models.
    nthreads
        Calls it runs at once.
    channel_address
        Its direct call channel.
    description
        What it says about itself (role, preset, speed, power).
    usable
        Greeted and probed, and it accepted this client.
    note
        Why it is not usable, when it is not.
    probe
        The latest probe of it (``None`` before the first).
    """

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
    probe: Probe | None = None
    pushed: set[str] = field(default_factory=set)
    refused: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class WorkerPool:
    """The workers of one client (see the module docstring).

    Parameters
    ----------
    dask_client
        The Dask client this pool follows membership with.
    transport
        ``"channel"`` (messages over the direct call channel) or ``"comm"`` (through the
        worker's Dask comm).
    probe_work
        Iterations of the probe benchmark.
    on_probe, on_leave
        Called with a worker and its new probe, or with a worker that left.
    """

    def __init__(
        self,
        dask_client: Any,
        transport: str = "channel",
        probe_work: int = DEFAULT_PROBE_WORK,
        on_probe: Callable[[PoolWorker, Probe], None] | None = None,
        on_leave: Callable[[PoolWorker], None] | None = None,
    ) -> None:
        self.dask_client = dask_client
        self.transport = transport
        self.probe_work = probe_work
        self.client_id = dask_api.client_id(dask_client)
        self.ssl_context: ssl.SSLContext | None = dask_api.client_ssl_context(dask_client)
        self._on_probe = on_probe
        self._on_leave = on_leave
        self._lock = threading.RLock()
        self._workers: dict[str, PoolWorker] = {}
        self._bundles: dict[str, Bundle] = {}
        self._bundle_errors: dict[str, str] = {}
        self._transfers: list[Transfer] = []
        self._extra_channels: dict[str, ChannelClient] = {}  # with transport="comm"

    def close(self) -> None:
        """Close every channel (the Dask client is its owner's to close)."""
        for worker in list(self._workers.values()):
            if worker.channel is not None:
                worker.channel.close()
        for channel in list(self._extra_channels.values()):
            channel.close()

    # ---------------------------------------------------------------- membership
    def workers(self) -> list[PoolWorker]:
        """Every worker known, usable or not."""
        with self._lock:
            return list(self._workers.values())

    def usable(self) -> list[PoolWorker]:
        """The workers calls may go to."""
        return [w for w in self.workers() if w.usable]

    def get(self, address: str) -> PoolWorker | None:
        """The worker at Dask address ``address``."""
        with self._lock:
            return self._workers.get(address)

    def named(self, name: str) -> PoolWorker | None:
        """The usable worker called ``name``."""
        for worker in self.workers():
            if worker.name == name and worker.usable:
                return worker
        return None

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

    def sync(self) -> None:
        """Follow the scheduler's membership now: drop workers that left, greet new ones."""
        current = dask_api.refresh_workers(self.dask_client)
        with self._lock:
            gone = [a for a in self._workers if a not in current]
            left = [self._workers.pop(a) for a in gone]
            new = [(a, info) for a, info in current.items() if a not in self._workers]
        for worker in left:
            if worker.channel is not None:
                worker.channel.close()
            if self._on_leave is not None:
                self._on_leave(worker)
            logger.info("worker %s left", worker.name)
        for address, info in new:
            worker = PoolWorker(address, info["name"], info["nthreads"])
            try:
                self.onboard(worker)
            except OffloadError as exc:
                worker.usable = False
                worker.note = str(exc)
                logger.warning("worker %s is not usable: %s", worker.name, exc)
            with self._lock:
                self._workers[address] = worker

    def reonboard_all(self) -> None:
        """Greet every known worker again: ask which bundles it holds, send only the
        missing ones, and re-probe it (after a network partition heals)."""
        for worker in self.workers():
            with worker.lock:
                worker.pushed.clear()
            try:
                self.onboard(worker)
            except OffloadError as exc:
                worker.usable = False
                worker.note = str(exc)

    def onboard(self, worker: PoolWorker) -> None:
        """Greet ``worker``, send it every bundle it lacks, probe it, mark it usable.

        A worker that refuses this client (another Python version, say) stays unusable,
        its reason in :attr:`PoolWorker.note` and warned.
        """
        reply = dask_api.control_call(
            self.dask_client,
            worker.address,
            "edgeoffload_hello",
            CONTROL_TIMEOUT,
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
            worker.channel = ChannelClient(str(reply["channel"]), self.ssl_context)
        for bundle in list(self._bundles.values()):
            with contextlib.suppress(BundleError):  # noted in worker.refused, warned
                self.push(worker, bundle)
        self.probe(worker)
        worker.usable = True

    # ---------------------------------------------------------------- code
    def bundle_for_module(self, module: str, warn: bool = True) -> Bundle | None:
        """The bundle of ``module`` (built once), pushed to every usable worker; ``None``
        when the module cannot be packaged (the reason in :meth:`bundle_error`)."""
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
        for worker in self.usable():  # a function defined after connect: pre-transfer it now
            with contextlib.suppress(BundleError, OffloadError):
                self.push(worker, bundle)
        return bundle

    def bundle_error(self, module: str) -> str | None:
        """Why ``module`` could not be packaged, if it could not."""
        with self._lock:
            return self._bundle_errors.get(module)

    def bundles(self) -> dict[str, Bundle]:
        """Module name -> its bundle, for every bundle packaged."""
        with self._lock:
            return dict(self._bundles)

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
            have = dask_api.control_call(
                self.dask_client,
                worker.address,
                "edgeoffload_has_bundles",
                CONTROL_TIMEOUT,
                client=self.client_id,
                hashes=[bundle.hash],
            )
            if bundle.hash in (have or []):
                worker.pushed.add(bundle.hash)
                with self._lock:
                    self._transfers.append(Transfer(worker.name, bundle.hash, 0, hit=True))
                return 0
            reply = dask_api.control_call(
                self.dask_client,
                worker.address,
                "edgeoffload_put_bundle",
                CONTROL_TIMEOUT,
                client=self.client_id,
                digest=bundle.hash,
                data=bundle.data,
            )
            if not (isinstance(reply, dict) and reply.get("ok")):
                reason = str(reply.get("reason") if isinstance(reply, dict) else reply)
                worker.refused[bundle.hash] = reason
                warnings.warn(f"edgeoffload: {reason}", RuntimeWarning, stacklevel=3)
                raise BundleError(reason)
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
        """The worker's direct call channel (opened apart with ``transport="comm"``)."""
        if worker.channel is not None:
            return worker.channel
        with self._lock:
            channel = self._extra_channels.get(worker.address)
            if channel is None or channel.address != worker.channel_address:
                channel = ChannelClient(worker.channel_address, self.ssl_context)
                self._extra_channels[worker.address] = channel
            return channel

    def request(
        self, worker: PoolWorker, header: dict[str, Any], frames: Sequence[Any], timeout: float
    ) -> tuple[dict[str, Any], list[Any], int, int]:
        """One message to ``worker`` and its reply, over the pool's transport: (header,
        frames, bytes sent, bytes received). Network failures raise the runtime's errors
        (:func:`~edgeoffload.runtime.wire.channel.channel_request`)."""
        if worker.channel is not None:
            return channel_request(worker.channel, worker.name, header, frames, timeout)
        raw = [bytes(memoryview(f).cast("B")) for f in frames]
        reply = dask_api.control_call(
            self.dask_client,
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

    def channel_request(
        self,
        worker: PoolWorker,
        header: dict[str, Any],
        frames: Sequence[Any] = (),
        timeout: float = CONTROL_TIMEOUT,
    ) -> tuple[dict[str, Any], list[Any]]:
        """One message over the worker's direct channel whatever the transport; a
        ``refused`` reply raises :class:`~edgeoffload.errors.OffloadError`."""
        reply, out, _, _ = channel_request(
            self.channel_for(worker), worker.name, header, frames, timeout
        )
        if reply.get("status") == "refused":
            raise OffloadError(str(reply.get("error", "refused")))
        return reply, out

    # ---------------------------------------------------------------- measurements
    def probe(self, worker: PoolWorker) -> Probe:
        """Round trip (median of 5 after a warm-up), bandwidth (256 KB, best of 3) and the
        probe benchmark's time on ``worker``; kept as :attr:`PoolWorker.probe`."""
        ping = {"op": Op.PING}
        self.request(worker, ping, [], CONTROL_TIMEOUT)  # connect, handshake
        rtts = []
        for _ in range(5):
            start = time.perf_counter()
            self.request(worker, ping, [], CONTROL_TIMEOUT)
            rtts.append(time.perf_counter() - start)
        rtt = statistics.median(rtts)
        blob = bytes(256 * 1024)
        best = math.inf
        for _ in range(3):
            start = time.perf_counter()
            self.request(worker, ping, [blob], CONTROL_TIMEOUT)
            best = min(best, time.perf_counter() - start)
        bandwidth = min(len(blob) / max(best - min(rtts), 1e-6), 1e11)
        reply, _, _, _ = self.request(
            worker, {"op": Op.PROBE, "work": self.probe_work}, [], CONTROL_TIMEOUT
        )
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
        header = {"op": Op.DAG_CALL, "client": self.client_id, "fn": list(ref), "bundles": bundles}
        reply, frames = self.channel_request(
            worker, header, dumps((tuple(args), dict(kwargs or {}))), timeout
        )
        if reply.get("status") != "ok":
            raise rebuild_exception(reply, frames, f"{ref[1]}:{ref[2]}")
        return loads(frames, rename=client_module_name), float(reply.get("compute", 0.0))

    def clock_offsets(
        self,
        names: Iterable[str],
        samples: int = 5,
        rtts: dict[str, float] | None = None,
    ) -> dict[str, float]:
        """Each named worker's clock minus this process's (``time.time()``), seconds.

        Cristian's method: the sample with the shortest round trip, the worker's time
        taken at its middle. ``rtts`` receives that round trip per worker.
        """
        out: dict[str, float] = {}
        for name in names:
            worker = self.require(name)
            best = (math.inf, 0.0)
            for _ in range(samples):
                sent = time.time()
                reply, _ = self.channel_request(worker, {"op": Op.DAG_CLOCK})
                back = time.time()
                rtt = back - sent
                if rtt < best[0]:
                    best = (rtt, float(reply["time"]) - (sent + back) / 2)
            out[name] = best[1]
            if rtts is not None:
                rtts[name] = best[0]
        return out

    def measure_link(self, sender: str, receiver: str, **options: Any) -> dict[str, float]:
        """Round trip and bandwidth from worker ``sender`` to worker ``receiver``, measured
        by the sender over the path a DAG result takes
        (:func:`~edgeoffload.runtime.worker.kernels.measure_link`)."""
        reply, _ = self.channel_request(
            self.require(sender),
            {"op": Op.DAG_LINK, "address": self.require(receiver).channel_address, **options},
            timeout=300.0,
        )
        return {k: float(reply[k]) for k in ("rtt", "rtt_min", "size", "seconds", "bandwidth")}

    def measure_client_link(self, name: str, **options: Any) -> dict[str, float]:
        """Round trip and bandwidth from this process to the worker called ``name``."""
        channel = self.channel_for(self.require(name))

        def send(frames: list[bytes]) -> None:
            channel.request({"op": Op.PING}, frames, 300.0)

        return measure_link(send, **options)

    # ---------------------------------------------------------------- the model
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
        for w in self.workers():
            if w.name == name and w.cache_dir:
                return Path(w.cache_dir)
        return None
