"""What runs in a worker process: COFA's *TaskExecutor*, serving clients and peers.

:class:`WorkerAgent` owns the worker's direct channel
(:class:`~edgeoffload.runtime.wire.channel.ChannelServer`), its code store
(:class:`~edgeoffload.runtime.worker.cache.CodeStore`), the executor whose child processes
run user code (:class:`~edgeoffload.runtime.worker.executor.ExecutorPool`) and the
scheduled-DAG service (:class:`~edgeoffload.runtime.worker.dag_service.DagService`). It
outlives the worker's registration with its scheduler (see :mod:`.service`): a scheduler
restart or a network cut does not lose the code cache, the channel or the calls in flight.

Every message is decoded into its typed form (:func:`~edgeoffload.runtime.wire.ops.decode`)
and dispatched through one explicit handler table keyed by
:class:`~edgeoffload.runtime.wire.ops.Op` (:attr:`WorkerAgent.handlers`). Who may send what
comes from the sender's certificate: a *client* certificate may use the client operations,
a *worker* certificate only the peer operations (result pushes, pings); an insecure worker
(``--insecure``) has no certificates and serves anyone who reaches it.

Identity and isolation: a client's code, calls and DAG runs belong to its *owner key* —
the fingerprint of its certificate and the session id it chose — so a client can only
list, call or drop what it put there itself. A session's lease is renewed by every message
of that session (the session pings every second); a session not heard from for
``cache_ttl`` seconds, or that said goodbye, loses its code and runs.

Calls hold a lease of their own: while a call waits or runs, the agent sends the client a
beat every ``beat`` seconds and the client answers; a call whose client has gone quiet for
``lease`` seconds, or whose connection closed, or that the client cancelled, is stopped at
once (its child process ends and a fresh one takes its place).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from edgeoffload.errors import BundleError
from edgeoffload.runtime.wire.bundles import python_version
from edgeoffload.runtime.wire.channel import ChannelClient, ChannelServer, Exchange
from edgeoffload.runtime.wire.ops import (
    CLIENT_OPS,
    DAG_OPS,
    PEER_OPS,
    Bye,
    Call,
    DagCall,
    DagClock,
    DagLink,
    HasBundles,
    Hello,
    Message,
    MessageError,
    Op,
    Ping,
    Probe,
    PutBundle,
    decode,
)
from edgeoffload.runtime.wire.protocol import PROTOCOL_VERSION, Frames
from edgeoffload.runtime.wire.security import (
    PeerIdentity,
    TLSMaterial,
    expect_role,
    identity_from_der,
)
from edgeoffload.runtime.worker.cache import CodeStore
from edgeoffload.runtime.worker.dag_service import DagService
from edgeoffload.runtime.worker.description import WorkerDescription
from edgeoffload.runtime.worker.executor import ExecutorPool
from edgeoffload.runtime.worker.jobs import Job, JobHandle, JobResult
from edgeoffload.runtime.worker.kernels import measure_link

__all__ = ["DEFAULT_CACHE_TTL", "WorkerAgent"]

logger = logging.getLogger(__name__)

DEFAULT_CACHE_TTL = 60.0
"""Seconds a session may stay silent before a worker drops its code and runs."""

Reply = tuple[dict[str, Any], Frames]
Handler = Callable[[Exchange, Any, str], Reply]

_INSECURE = "insecure"  # the principal of every peer of a worker without TLS


class WorkerAgent:
    """The edgeoffload side of one worker (see the module docstring).

    Parameters
    ----------
    name
        The worker's name: its node id in every model and stat.
    description
        What the worker says about itself (role, preset, speed, power).
    slots
        Calls that may run at once (child processes).
    host
        Interface the channel listens on.
    material
        The worker's TLS material (a worker certificate), or ``None`` for an insecure
        worker.
    channel_port
        Port of the channel (0: any free one).
    cache_ttl
        Seconds of silence after which a session's code and runs are dropped.
    """

    def __init__(
        self,
        name: str,
        description: WorkerDescription,
        *,
        slots: int = 1,
        host: str = "127.0.0.1",
        material: TLSMaterial | None = None,
        channel_port: int = 0,
        cache_ttl: float = DEFAULT_CACHE_TTL,
    ) -> None:
        self.name = name
        self.description = description
        self.slots = max(1, int(slots))
        self.material = material
        self.cache_ttl = cache_ttl
        self.store = CodeStore(name)
        self.executor = ExecutorPool(self.slots, self.store, name=name)
        self._peer_context = material.client_context() if material is not None else None
        self._peers: dict[str, ChannelClient] = {}
        self._lock = threading.Lock()
        self._leases: dict[str, float] = {}  # owner -> monotonic time last heard from
        self._closed = threading.Event()
        self.dags = DagService(name, self.executor, self._peer)
        self.handlers: dict[Op, Handler] = {
            Op.HELLO: self._hello,
            Op.HAS_BUNDLES: self._has_bundles,
            Op.PUT_BUNDLE: self._put_bundle,
            Op.BYE: self._bye,
            Op.PING: self._ping,
            Op.PROBE: self._probe,
            Op.CALL: self._call,
            Op.DAG_CALL: self._dag_call,
            Op.DAG_CLOCK: self._dag_clock,
            Op.DAG_LINK: self._dag_link,
        }
        for op in DAG_OPS - self.handlers.keys():
            self.handlers[op] = self._dag
        self.executor.start()
        try:
            context = material.server_context() if material is not None else None
            self.channel = ChannelServer(host, context, self._serve, port=channel_port)
            self.channel_address = self.channel.start()
        except BaseException:
            self.executor.close()
            raise
        self._janitor = threading.Thread(
            target=self._expire_leases, name="edgeoffload-leases", daemon=True
        )
        self._janitor.start()

    def advert(self) -> dict[str, Any]:
        """What the worker tells the scheduler about itself (sessions read it there)."""
        return {
            "channel": self.channel_address,
            "name": self.name,
            "slots": self.slots,
            "protocol": PROTOCOL_VERSION,
            "python": python_version(),
            "pid": os.getpid(),
            "description": self.description.as_dict(),
        }

    def close(self) -> None:
        """Stop serving: the channel, every call, every child process, the code store."""
        if self._closed.is_set():
            return
        self._closed.set()
        self.channel.close()
        self.dags.close()
        self.executor.close()
        with self._lock:
            peers = list(self._peers.values())
            self._peers.clear()
        for channel in peers:
            channel.close()
        self.store.close()

    # ---------------------------------------------------------------- dispatch
    def _serve(self, exchange: Exchange) -> Reply:
        """Decode, authorize and dispatch one message (never raises)."""
        identity = self._identity(exchange)
        try:
            message = decode(exchange.header)
        except MessageError as exc:
            return _refused(f"worker {self.name}: {exc}")
        allowed = self._allowed(identity)
        if message.op not in allowed:
            role = identity.role if identity is not None else None
            return _refused(
                f"worker {self.name}: a {role or 'role-less'} certificate may not send "
                f"{message.op.value}"
            )
        owner = self._owner(identity, message)
        if owner is not None:
            self._touch(owner)
        handler = self.handlers.get(message.op)
        if handler is None:  # beats and cancels only make sense inside a call
            return _refused(f"worker {self.name}: {message.op.value} outside a call")
        try:
            return handler(exchange, message, owner or "")
        except BundleError as exc:
            return _refused(f"worker {self.name}: {exc}")
        except Exception as exc:  # a bug must not kill the connection's thread silently
            logger.exception("edgeoffload worker %s: %s failed", self.name, message.op.value)
            return _refused(f"worker {self.name}: {message.op.value}: {type(exc).__name__}: {exc}")

    def _identity(self, exchange: Exchange) -> PeerIdentity | None:
        der = exchange.peer.certificate
        return _known_identity(der) if der else None

    def _allowed(self, identity: PeerIdentity | None) -> frozenset[Op]:
        if self.material is None:
            return frozenset(Op)
        if identity is None:
            return frozenset()
        if identity.role == "client":
            return CLIENT_OPS
        if identity.role == "worker":
            return PEER_OPS
        return frozenset({Op.PING})

    def _owner(self, identity: PeerIdentity | None, message: Message) -> str | None:
        session = getattr(message, "session", None)
        if not isinstance(session, str):
            return None
        principal = identity.fingerprint if identity is not None else _INSECURE
        return f"{principal}/{session}"

    # ---------------------------------------------------------------- sessions
    def _touch(self, owner: str) -> None:
        with self._lock:
            self._leases[owner] = time.monotonic()

    def _expire_leases(self) -> None:
        period = max(0.2, min(5.0, self.cache_ttl / 4))
        while not self._closed.wait(period):
            now = time.monotonic()
            with self._lock:
                silent = [o for o, t in self._leases.items() if now - t > self.cache_ttl]
            for owner in silent:
                logger.info(
                    "edgeoffload worker %s: a session silent for %.0f s loses its code",
                    self.name,
                    self.cache_ttl,
                )
                self.drop_owner(owner)

    def drop_owner(self, owner: str) -> None:
        """Forget everything of ``owner``: its code, its runs, what children loaded."""
        with self._lock:
            self._leases.pop(owner, None)
        self.dags.drop_owner(owner)
        self.executor.drop_owner(owner)
        self.store.drop(owner)

    def _hello(self, exchange: Exchange, message: Hello, owner: str) -> Reply:
        if message.python != python_version():
            reason = (
                f"worker {self.name} runs Python {python_version()} but the client runs "
                f"Python {message.python}: offloaded code and pickles need the same major.minor"
            )
            return {"status": "ok", "ok": False, "reason": reason}, []
        if message.protocol != PROTOCOL_VERSION:
            reason = (
                f"worker {self.name} speaks edgeoffload protocol {PROTOCOL_VERSION}, the "
                f"client {message.protocol}: install the same edgeoffload version on both"
            )
            return {"status": "ok", "ok": False, "reason": reason}, []
        return {
            "status": "ok",
            "ok": True,
            "cache_dir": str(self.store.owner_dir(owner)),
            **self.advert(),
        }, []

    def _has_bundles(self, exchange: Exchange, message: HasBundles, owner: str) -> Reply:
        return {"status": "ok", "have": self.store.has(owner, message.hashes)}, []

    def _put_bundle(self, exchange: Exchange, message: PutBundle, owner: str) -> Reply:
        if len(exchange.frames) != 1:
            return _refused(f"worker {self.name}: put_bundle carries the bundle as one frame")
        try:
            missing = self.store.put(owner, message.digest, bytes(exchange.frames[0]))
        except BundleError as exc:
            return {"status": "ok", "ok": False, "reason": f"worker {self.name}: {exc}"}, []
        return {"status": "ok", "ok": True, "missing": missing}, []

    def _bye(self, exchange: Exchange, message: Bye, owner: str) -> Reply:
        self.drop_owner(owner)
        return {"status": "ok"}, []

    def _ping(self, exchange: Exchange, message: Ping, owner: str) -> Reply:
        return {"status": "ok", **self.executor.load()}, []

    # ---------------------------------------------------------------- user code
    def _probe(self, exchange: Exchange, message: Probe, owner: str) -> Reply:
        job = Job("probe", owner, work=message.work, label="probe")
        return self._run(exchange, job, message.beat, message.lease)

    def _call(self, exchange: Exchange, message: Call, owner: str) -> Reply:
        job = Job(
            "call",
            owner,
            fn=(message.bundle, message.module, message.qualname),
            bundles=(message.bundle,),
            frames=exchange.frames,
            label=f"{message.module}:{message.qualname}",
        )
        return self._run(exchange, job, message.beat, message.lease)

    def _dag_call(self, exchange: Exchange, message: DagCall, owner: str) -> Reply:
        if len(message.fn) != 3 or not isinstance(message.fn[1], str) or not message.fn[2]:
            return _refused(f"worker {self.name}: dag_call.fn must be [bundle, module, qualname]")
        bundle, module, qualname = message.fn
        job = Job(  # a pinned call (calibration, a DAG's probe) runs like a task: one thread
            "task",
            owner,
            fn=(bundle, str(module), str(qualname)),
            bundles=tuple(message.bundles),
            frames=exchange.frames,
            label=f"{module}:{qualname}",
        )
        reply, frames = self._run(exchange, job, message.beat, message.lease)
        return {**reply, "worker": self.name}, frames

    def _run(self, exchange: Exchange, job: Job, beat: float | None, lease: float | None) -> Reply:
        """Run ``job`` in a child process, beating and honouring the lease while it runs."""
        handle = self.executor.submit(job)
        if beat is None:
            result = handle.wait(None)
        else:
            result = self._follow(exchange, handle, beat, lease if lease else 5 * beat, job)
        if result is None:
            return {"status": "cancelled", "error": "the call was stopped"}, []
        return _reply(result)

    def _follow(
        self, exchange: Exchange, handle: JobHandle, beat: float, lease: float, job: Job
    ) -> JobResult | None:
        heard = time.monotonic()
        while True:
            result = handle.wait(beat)
            if result is not None:
                return result
            try:
                exchange.beat({"state": handle.state})
                while (message := exchange.poll(0)) is not None:
                    if message.get("op") == Op.CANCEL.value:
                        handle.cancel()
                        logger.info("%s: %s cancelled by its client", self.name, job.label)
                        return handle.wait(None)
                    heard = time.monotonic()
                    self._touch(job.owner)  # a call's client is alive: so is its session
            except (ConnectionError, OSError):
                handle.cancel()
                logger.info("%s: %s stopped: its client went away", self.name, job.label)
                return handle.wait(None)
            if time.monotonic() - heard > lease:
                handle.cancel()
                logger.info(
                    "%s: %s stopped: its client was silent for %.3g s", self.name, job.label, lease
                )
                return handle.wait(None)

    # ---------------------------------------------------------------- DAG runs
    def _dag(self, exchange: Exchange, message: Message, owner: str) -> Reply:
        if message.op is Op.DAG_PUT:
            owner = str(getattr(message, "owner", ""))
        return self.dags.handle(owner, message, exchange.frames)

    def _dag_clock(self, exchange: Exchange, message: DagClock, owner: str) -> Reply:
        return {"status": "ok", "time": time.time()}, []

    def _dag_link(self, exchange: Exchange, message: DagLink, owner: str) -> Reply:
        channel = self._peer(message.address)
        options: dict[str, Any] = {
            k: v
            for k, v in (
                ("pings", message.pings),
                ("repeats", message.repeats),
                ("size", message.size),
                ("max_size", message.max_size),
                ("min_seconds", message.min_seconds),
            )
            if v is not None
        }

        def send(payload: list[bytes]) -> None:
            channel.request(Ping().header(), payload, 300.0)

        return {"status": "ok", **measure_link(send, **options)}, []

    def _peer(self, address: str) -> ChannelClient:
        """A channel to another worker, presenting this worker's certificate."""
        with self._lock:
            channel = self._peers.get(address)
            if channel is None:
                channel = ChannelClient(
                    address, self._peer_context, verify_peer=expect_role("worker")
                )
                self._peers[address] = channel
            return channel


@functools.lru_cache(maxsize=512)
def _known_identity(der: bytes) -> PeerIdentity:
    """The identity a certificate carries (parsed once per certificate)."""
    return identity_from_der(der)


def _refused(error: str) -> Reply:
    return {"status": "refused", "error": error}, []


def _reply(result: JobResult) -> Reply:
    """The channel reply of a finished job."""
    header: Mapping[str, Any] = result.header
    base = {"waited": result.waited}
    if result.status == "ok":
        return {"status": "ok", **base, **header}, list(result.frames)
    if result.status == "error":
        return {**header, **base, "status": "error"}, list(result.frames)
    return {"status": result.status, **base, "error": str(header.get("error", result.status))}, []
