"""The direct call channel (mutual TLS): a bounded server a flood cannot kill, and a client
keeping a few connected sockets per worker, calling from the caller's own thread.

The server's *loop* thread accepts connections and drives their TLS handshakes without
blocking, each against a deadline; idle connections wait in its selector, not in threads.
A readable one goes through a queue to one of at most ``max_active`` serving threads: read
one message, call the handler, reply, park it again once no next request came for 2 ms
(back-to-back requests skip the hand-off). Late handshakes are closed (the
oldest first when too many are pending), new connections too while ``max_connections``
are established; nothing that happens to one connection stops the loop. Long requests beat
(:meth:`Exchange.beat`); :meth:`ChannelClient.call` gives a silent worker up after
``liveness`` seconds (:class:`PeerSilentError`) and cancels at its deadline
(:class:`DeadlineError`). Beat answers and cancels arriving after the reply are dropped.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import logging
import math
import queue
import select
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from edgeoffload.errors import (
    DeadlineError,
    OffloadTimeoutError,
    PeerSilentError,
    SecurityError,
    WorkerUnavailableError,
)
from edgeoffload.runtime.wire.addresses import split_address
from edgeoffload.runtime.wire.ops import Op
from edgeoffload.runtime.wire.protocol import Reader, recv_message, send_message

__all__ = [
    "ChannelClient",
    "ChannelHandler",
    "ChannelServer",
    "DeadlineError",
    "Exchange",
    "Peer",
    "PeerSilentError",
    "channel_request",
]

logger = logging.getLogger(__name__)

_STRAY_OPS = frozenset({Op.BEAT.value, Op.CANCEL.value})  # in-call messages, never requests
_ACCEPT_BATCH = 64  # connections accepted per loop turn before other events are served
_JOIN_SECONDS = 2.0  # how long close() waits for serving threads busy in a handler
_LINGER = 0.002  # seconds a serving thread waits for a connection's next request (back-to-back
# requests then skip the hand-off through the loop thread) before it parks the connection
_IO_TIMEOUT = 30.0  # seconds a serving thread waits for the next bytes of a message, or for
# the client to take those of a reply or beat, before it closes the connection
_NO_FDS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_COUNTERS = "accepted refused_full evicted handshake_failures handshake_timeouts thread_failures"
_ESTABLISHED = frozenset({"first", "parked", "active"})
_Header = dict[str, Any]
_Reply = tuple[_Header, list[bytearray], int, int]  # header, frames, bytes sent, received
_OnBeat = Callable[[_Header], None] | None


@dataclass(frozen=True, slots=True)
class Peer:
    """The other end of a server-side connection: its ``(host, port)`` ``address`` and
    its ``certificate`` (DER bytes from the TLS handshake; ``None`` without TLS)."""

    address: tuple[str, int]
    certificate: bytes | None


def _tune(sock: socket.socket) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)


def _buffered(sock: socket.socket, reader: Reader) -> bool:
    """Whether received bytes wait in ``reader`` or in the TLS layer (no poller sees them)."""
    if reader.buffered:
        return True
    return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0


def _readable(sock: socket.socket, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``sock`` to be readable (or closed)."""
    if hasattr(select, "poll"):  # select.select cannot watch descriptors above 1023
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(math.ceil(max(timeout, 0.0) * 1000)))
    return bool(select.select([sock], [], [], max(timeout, 0.0))[0])


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ").strip()
    return text if len(text) <= 500 else text[:497] + "..."


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()


class Exchange:
    """One request as the server's handler sees it: its ``header`` (dict), its ``frames``
    (list of bytearray) and its ``peer`` (:class:`Peer`), plus the connection to beat on."""

    __slots__ = ("_broken", "_reader", "_sock", "frames", "header", "peer")

    def __init__(self, conn: _Conn, header: dict[str, Any], frames: list[bytearray]) -> None:
        self.header, self.frames, self.peer = header, frames, conn.peer
        self._sock, self._reader, self._broken = conn.sock, conn.reader, False

    def beat(self, fields: dict[str, Any] | None = None) -> None:
        """Send the client ``{"status": "beat"}`` plus ``fields``: still working. Raises
        ConnectionError if the connection broke or the client took nothing for 30 s."""
        if self._broken:
            raise ConnectionError("the client's connection is closed")
        try:
            send_message(self._sock, {**(fields or {}), "status": "beat"})
        except OSError as exc:
            self._broken = True
            raise ConnectionError(f"cannot beat to the client: {exc}") from exc

    def poll(self, timeout: float) -> dict[str, Any] | None:
        """The header of the client's next message on this connection (``{"op": "beat"}``,
        ``{"op": "cancel"}``…), or ``None`` if none comes within ``timeout`` seconds.
        Raises ConnectionError if the client closed the connection, or it broke."""
        if self._broken:
            raise ConnectionError("the client's connection is closed")
        try:
            if not (_buffered(self._sock, self._reader) or _readable(self._sock, timeout)):
                return None
            return recv_message(self._sock, self._reader)[0]
        except (OSError, ValueError) as exc:
            self._broken = True
            if isinstance(exc, ConnectionError):
                raise
            raise ConnectionError(f"the client's connection broke: {exc}") from exc


ChannelHandler = Callable[[Exchange], tuple[dict[str, Any], Sequence[Any]]]
"""``handler(exchange) -> (reply header, reply frames)``, run in a serving thread."""


class _Poller:
    """What the loop thread waits on. Any thread may :meth:`arm` a descriptor, to be
    reported once: epoll and kqueue see it at once; select and poll, after a wake-up."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        slow = (selectors.SelectSelector, getattr(selectors, "PollSelector", ()))
        self._wake_after_arm = isinstance(self._selector, slow)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_w.setblocking(False)
        self._level = {self._wake_r.fileno()}  # reported whenever ready, never disarmed
        self._selector.register(self._wake_r, selectors.EVENT_READ)

    def watch(self, fd: int) -> None:  # report whenever readable (the listener; loop thread)
        self._level.add(fd)
        self._selector.register(fd, selectors.EVENT_READ)

    def arm(self, fd: int, write: bool = False) -> None:
        """Report ``fd`` once, when it is readable (writable with ``write``)."""
        self._selector.register(fd, selectors.EVENT_WRITE if write else selectors.EVENT_READ)
        if self._wake_after_arm:
            self.wake()

    def forget(self, fd: int) -> None:  # before it is closed
        with contextlib.suppress(KeyError, OSError, ValueError):
            self._selector.unregister(fd)

    def wake(self) -> None:  # make wait() return now (any thread)
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def wait(self, timeout: float | None) -> list[int]:
        """Descriptors ready within ``timeout`` seconds (``None``: no limit), disarmed."""
        fds = [key.fd for key, _ in self._selector.select(timeout)]
        for fd in fds:
            if fd not in self._level:
                self._selector.unregister(fd)
        if (wake := self._wake_r.fileno()) in fds:
            self._wake_r.recv(4096)  # more wake-ups pending: the next wait returns at once
        return [fd for fd in fds if fd != wake]

    def close(self) -> None:
        for closable in (self._selector, self._wake_r, self._wake_w):
            closable.close()


class _Conn:
    """A server-side connection. ``state``: ``new`` (no byte yet), ``handshake``,
    ``first`` (no message yet), ``parked``: owned by the loop thread; ``active``: by the
    serving thread it was handed to; ``closed``."""

    __slots__ = ("deadline", "fd", "peer", "reader", "sock", "state")

    def __init__(self, sock: socket.socket, address: tuple[str, int], deadline: float) -> None:
        self.sock, self.fd, self.deadline = sock, sock.fileno(), deadline
        self.peer = Peer(address, None)
        self.reader = Reader(sock, 0)
        self.state = "new"


class ChannelServer:
    """Serves the direct call channel of one worker.

    Parameters
    ----------
    host, port
        Where to listen (the worker's interface; port 0: any free one).
    ssl_context
        Server-side TLS context requiring client certificates; ``None`` on an insecure
        (loopback) cluster.
    handler
        ``handler(exchange) -> (reply header, reply frames)``, run in a serving thread; if
        it raises, the client gets ``{"status": "refused", "error": "<one line>"}``.
    max_connections, max_active, max_pending
        At most: established connections (beyond, new ones are closed at once); serving
        threads; connections not yet established (beyond, the oldest are closed).
    handshake_timeout, first_message_timeout
        Seconds to finish the TLS handshake (from acceptance), and to start the first
        message (from the handshake; from acceptance without TLS).

    Raises OSError if the address cannot be bound, ValueError if a limit is below 1.
    """

    def __init__(
        self,
        host: str,
        ssl_context: ssl.SSLContext | None,
        handler: ChannelHandler,
        *,
        port: int = 0,
        max_connections: int = 256,
        max_active: int = 32,
        max_pending: int = 512,
        handshake_timeout: float = 5.0,
        first_message_timeout: float = 5.0,
    ) -> None:
        if min(max_connections, max_active, max_pending) < 1:
            raise ValueError("max_connections, max_active and max_pending must be at least 1")
        self.host, self.ssl_context, self.handler = host, ssl_context, handler
        self.max_connections, self.max_active = max_connections, max_active
        self.max_pending, self.handshake_timeout = max_pending, handshake_timeout
        self.first_message_timeout = first_message_timeout
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # a long backlog: the kernel caps it (somaxconn), and bursts wait there, not in SYNs
        self._listener = socket.create_server((host, port), family=family, backlog=socket.SOMAXCONN)
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._poller = _Poller()
        self._conns: dict[int, _Conn] = {}
        self._pending: collections.OrderedDict[int, _Conn] = collections.OrderedDict()
        self._first: collections.OrderedDict[int, _Conn] = collections.OrderedDict()
        self._queue: queue.SimpleQueue[_Conn | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._established = self._active = 0  # active: handed to serving threads
        self._counts = dict.fromkeys(_COUNTERS.split(), 0)
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._quiet_until = 0.0  # no warning about descriptors before (monotonic)
        self._loop_thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        """``tls://host:port`` or ``tcp://host:port`` (IPv6 hosts in brackets)."""
        scheme = "tls" if self.ssl_context is not None else "tcp"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def start(self) -> str:
        """Start the loop thread; return :attr:`address`. Raises RuntimeError if the server
        is closed or its loop thread cannot start."""
        if self._closed.is_set():
            raise RuntimeError(f"channel server {self.address} is closed")
        if self._loop_thread is None:
            self._poller.watch(self._listener.fileno())
            name = "edgeoffload-channel-loop"
            thread = threading.Thread(target=self._loop, name=name, daemon=True)
            thread.start()
            self._loop_thread = thread
        return self.address

    def stats(self) -> dict[str, int]:
        """Counts since start: ``accepted``, ``refused_full``, ``evicted`` (oldest pending
        closed), ``handshake_failures``, ``handshake_timeouts`` (handshake or first message
        late), ``thread_failures``; and now: ``established``, ``pending``, ``active``
        (handed to serving threads), ``threads`` (serving threads)."""
        with self._lock:
            out = dict(self._counts, established=self._established, active=self._active)
            out["threads"] = len(self._threads)
        out["pending"] = len(self._pending)
        return out

    # ---------------------------------------------------------------- the loop thread
    def _loop(self) -> None:
        try:
            while not self._closed.is_set():
                try:
                    self._turn()
                except Exception:  # the loop never dies: log, breathe, go on
                    logger.warning("channel %s: loop error", self.address, exc_info=True)
                    self._closed.wait(0.01)
        finally:
            _close(self._listener)
            with self._lock:
                owned = [c for c in self._conns.values() if c.state != "active"]
            for conn in owned:
                self._drop(conn)

    def _turn(self) -> None:
        fronts = [next(iter(t.values()), None) for t in (self._pending, self._first)]
        deadlines = [c.deadline for c in fronts if c is not None]
        timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        listener = self._listener.fileno()  # last: no event of this batch meets a reused fd
        for fd in sorted(self._poller.wait(timeout), key=lambda fd: fd == listener):
            if self._closed.is_set():
                return
            if fd == listener:
                self._accept()
            elif (conn := self._conns.get(fd)) is not None and conn.state != "active":
                try:
                    self._ready(conn)
                except Exception as exc:  # one connection's trouble is its own
                    logger.debug("channel %s: dropping %s: %s", self.address, conn.peer, exc)
                    self._drop(conn)
        now = time.monotonic()
        for table in (self._pending, self._first):
            while table and (item := next(iter(table.items())))[1].deadline <= now:
                del table[item[0]]
                self._count("handshake_timeouts")
                logger.debug("channel %s: %s too slow, closed", self.address, item[1].peer)
                self._drop(item[1])

    def _accept(self) -> None:
        for _ in range(_ACCEPT_BATCH):
            try:
                sock, address = self._listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno not in _NO_FDS:
                    return logger.debug("channel %s: accept failed: %s", self.address, exc)
                if self._pending:  # out of descriptors: free the oldest pending one's
                    self._evict()
                    continue
                if time.monotonic() >= self._quiet_until:  # else wait a little, and say so
                    self._quiet_until = time.monotonic() + 10.0
                    logger.warning("channel %s: cannot accept: %s", self.address, exc.strerror)
                self._closed.wait(0.1)
                return
            self._count("accepted")
            if self._established >= self.max_connections:
                self._count("refused_full")
                _close(sock)
                continue
            try:
                while len(self._pending) >= self.max_pending:
                    self._evict()
                sock.setblocking(False)
                _tune(sock)
                limit = self.handshake_timeout if self.ssl_context else self.first_message_timeout
                conn = _Conn(sock, (address[0], address[1]), time.monotonic() + limit)
                self._poller.arm(conn.fd)
                with self._lock:
                    self._conns[conn.fd] = conn
                self._pending[conn.fd] = conn
            except Exception as exc:
                logger.debug("channel %s: cannot take a connection: %s", self.address, exc)
                _close(sock)

    def _evict(self) -> None:
        self._count("evicted")
        self._drop(self._pending.popitem(last=False)[1])

    def _ready(self, conn: _Conn) -> None:
        """Move ``conn`` on: start or go on with its handshake, or serve its message."""
        if conn.state in ("first", "parked"):
            self._first.pop(conn.fd, None)
            return self._dispatch(conn)
        sock = conn.sock
        if isinstance(sock, ssl.SSLSocket):
            try:
                sock.do_handshake()
            except ssl.SSLWantReadError:
                return self._poller.arm(conn.fd)
            except ssl.SSLWantWriteError:
                return self._poller.arm(conn.fd, write=True)
            except (OSError, ValueError) as exc:
                self._count("handshake_failures")
                logger.debug("channel %s: handshake with %s: %s", self.address, conn.peer, exc)
                return self._drop(conn)
            conn.peer = Peer(conn.peer.address, sock.getpeercert(binary_form=True))
        elif self.ssl_context is not None:  # its first bytes: now spend on its handshake
            conn.sock = self.ssl_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
            conn.state = "handshake"
            return self._ready(conn)
        del self._pending[conn.fd]
        with self._lock:
            full = self._established >= self.max_connections
            self._established += not full
            conn.state = "first"
        if full:
            self._count("refused_full")
            return self._drop(conn)
        conn.sock.settimeout(_IO_TIMEOUT)
        conn.reader = Reader(conn.sock)
        if self.ssl_context is None or _buffered(conn.sock, conn.reader):
            return self._dispatch(conn)  # its first bytes are here
        conn.deadline = time.monotonic() + self.first_message_timeout
        self._first[conn.fd] = conn
        self._poller.arm(conn.fd)

    def _dispatch(self, conn: _Conn) -> None:
        """Hand a readable connection to a serving thread, starting one if none is free."""
        with self._lock:  # every thread busy (or promised a connection): one more
            spawn = self._active >= len(self._threads) and len(self._threads) < self.max_active
        if spawn:
            name = f"edgeoffload-channel-{len(self._threads) + 1}"
            try:
                thread = threading.Thread(target=self._work, name=name, daemon=True)
                thread.start()
            except RuntimeError as exc:
                self._count("thread_failures")
                why = f"cannot start a serving thread ({exc}); closing the connection of"
                logger.warning("channel %s: %s %s", self.address, why, conn.peer.address)
                return self._drop(conn)
            with self._lock:
                self._threads.append(thread)
        with self._lock:
            conn.state = "active"
            self._active += 1
        self._queue.put(conn)

    # ---------------------------------------------------------------- serving threads
    def _work(self) -> None:
        while (conn := self._queue.get()) is not None:
            try:
                self._serve(conn)
            except Exception as exc:  # a serving thread never dies
                logger.warning("channel %s: %s", self.address, _one_line(exc), exc_info=True)
                self._drop(conn)

    def _serve(self, conn: _Conn) -> None:
        """Read a message, handle it, reply; then park the connection (or drop it). A
        reply that cannot be encoded (not JSON) raises out of here: ``_work`` logs it."""
        sock, reader = conn.sock, conn.reader
        try:
            while True:
                header, frames, _ = recv_message(sock, reader)
                if header.get("op") in _STRAY_OPS:  # a late beat answer or cancel: no reply
                    logger.debug("channel %s: dropped a late %s", self.address, header["op"])
                else:
                    exchange = Exchange(conn, header, frames)
                    reply, out = self._handle(exchange)
                    if exchange._broken:
                        return self._drop(conn)
                    send_message(sock, reply, out)
                if not (_buffered(sock, reader) or _readable(sock, _LINGER)):
                    break
        except (OSError, ValueError, MemoryError, OverflowError) as exc:
            if not self._closed.is_set() and not isinstance(exc, ConnectionResetError):
                logger.debug("channel %s: %s: %s", self.address, conn.peer, exc)
            return self._drop(conn)
        with self._lock:
            park = conn.state == "active" and not self._closed.is_set()
            if park:
                conn.state = "parked"
                self._active -= 1
        with contextlib.suppress(OSError, ValueError):
            if park:
                return self._poller.arm(conn.fd)
        self._drop(conn)

    def _handle(self, exchange: Exchange) -> tuple[dict[str, Any], Sequence[Any]]:
        try:
            return self.handler(exchange)
        except Exception as exc:
            what = f"handler failed on {exchange.header.get('op')!r} from {exchange.peer}"
            log = logger.debug if exchange._broken else logger.warning  # broken: client gone
            log("channel %s: %s: %s", self.address, what, _one_line(exc), exc_info=True)
            return {"status": "refused", "error": _one_line(exc)}, []

    # ---------------------------------------------------------------- any thread
    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def _drop(self, conn: _Conn) -> None:
        """Close ``conn`` once; by the thread that owns it, or by close()."""
        with self._lock:
            state, conn.state = conn.state, "closed"
            if state == "closed":
                return
            if self._conns.get(conn.fd) is conn:
                del self._conns[conn.fd]
            self._established -= state in _ESTABLISHED
            self._active -= state == "active"
        if state in ("new", "handshake", "first"):  # loop-owned: out of the loop's tables
            for table in (self._pending, self._first):
                if table.get(conn.fd) is conn:
                    del table[conn.fd]
        self._poller.forget(conn.fd)
        _close(conn.sock)

    def close(self) -> None:
        """Close the listener and every connection and join the threads (idempotent); a
        serving thread still in its handler after a short wait is left to finish (a daemon
        thread; a warning names it)."""
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
        self._poller.wake()
        me = threading.current_thread()
        if self._loop_thread is None or self._loop_thread is me:
            self._loop()  # not started (or closing from the loop): just its cleanup
        else:
            self._loop_thread.join()
        with self._lock:
            left, threads = list(self._conns.values()), list(self._threads)
        for conn in left:  # wake serving threads blocked on their connection
            with contextlib.suppress(OSError):
                socket.socket.shutdown(conn.sock, socket.SHUT_RDWR)
        for _ in threads:
            self._queue.put(None)
        until, others = time.monotonic() + _JOIN_SECONDS, [t for t in threads if t is not me]
        for thread in others:
            thread.join(max(0.0, until - time.monotonic()))
        if busy := ", ".join(t.name for t in others if t.is_alive()):
            logger.warning("channel %s: still in a handler after close: %s", self.address, busy)
        for conn in left:
            self._drop(conn)
        self._poller.close()


class ChannelClient:
    """A pool of connections to one worker's channel; thread-safe.

    A request takes an idle connection (or opens one), sends, waits for the reply and
    returns the connection. One that failed or timed out mid-request is closed, never
    reused; one found readable while idle (the worker closed it) is replaced.

    Parameters
    ----------
    address
        The worker's channel, ``tls://host:port`` or ``tcp://host:port``.
    ssl_context
        Client-side TLS context (with this side's certificate); needed for ``tls://``.
    connect_timeout, max_idle
        Seconds to connect and finish the TLS handshake; idle connections kept.
    verify_peer
        Called after each new connection's handshake with the server's certificate (DER;
        ``None`` without TLS); if it raises, the connection is closed and the error
        propagates.

    Raises ValueError if ``address`` needs TLS but ``ssl_context`` is ``None``.
    """

    def __init__(
        self,
        address: str,
        ssl_context: ssl.SSLContext | None,
        *,
        connect_timeout: float = 5.0,
        max_idle: int = 8,
        verify_peer: Callable[[bytes | None], None] | None = None,
    ) -> None:
        self.address = address
        self.scheme, self.host, self.port = split_address(address)
        if self.scheme == "tls" and ssl_context is None:
            raise ValueError(f"{address} needs TLS, but the session has no TLS material")
        self.ssl_context = ssl_context if self.scheme == "tls" else None
        self.connect_timeout, self.max_idle = connect_timeout, max_idle
        self.verify_peer = verify_peer
        self._idle: list[tuple[socket.socket, Reader]] = []
        self._lock = threading.Lock()
        self._closed = False

    def _open(self, timeout: float) -> tuple[socket.socket, Reader]:
        sock = socket.create_connection((self.host, self.port), timeout=max(timeout, 1e-3))
        try:
            _tune(sock)
            der = None
            if self.ssl_context is not None:
                sock = self.ssl_context.wrap_socket(sock, server_hostname=self.host)
                der = sock.getpeercert(binary_form=True)
            if self.verify_peer is not None:
                self.verify_peer(der)
        except BaseException:
            _close(sock)
            raise
        return sock, Reader(sock)

    def _take(self, timeout: float) -> tuple[socket.socket, Reader]:
        while True:
            with self._lock:
                if self._closed:
                    raise ConnectionError(f"channel to {self.address} is closed")
                pooled = self._idle.pop() if self._idle else None
            if pooled is None:
                return self._open(min(timeout, self.connect_timeout))
            if not _readable(pooled[0], 0.0):
                return pooled
            _close(pooled[0])

    def _give(self, sock: socket.socket, reader: Reader) -> None:
        with self._lock:
            keep = not self._closed and len(self._idle) < self.max_idle
            if keep and not _buffered(sock, reader):
                return self._idle.append((sock, reader))
        _close(sock)

    def request(
        self, header: _Header, frames: Sequence[Any] = (), timeout: float | None = None
    ) -> _Reply:
        """Send one message and wait for the reply: (header, frames, sent, received) bytes;
        beats meanwhile are answered and skipped. Raises TimeoutError (:class:`DeadlineError`
        once the message is sent) after ``timeout`` seconds, OSError if the connection
        failed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        return self._round_trip(header, frames, None, deadline, None)

    def call(
        self,
        header: _Header,
        frames: Sequence[Any] = (),
        *,
        liveness: float,
        deadline: float | None = None,
        beat: float | None = None,
        on_beat: _OnBeat = None,
    ) -> _Reply:
        """A long request kept alive by beats: (reply header, frames, sent, received bytes).

        The request carries ``"beat": beat`` (seconds, default ``liveness / 5``): how often
        the worker sends ``{"status": "beat", ...}``. Each beat resets the ``liveness``
        timer (seconds), goes to ``on_beat`` and is answered with ``{"op": "beat"}``; any
        other message is the reply, due by ``deadline`` (a ``time.monotonic()`` value).

        Raises
        ------
        PeerSilentError
            Nothing arrived for ``liveness`` seconds; the connection is closed.
        DeadlineError
            ``deadline`` passed: a cancel was sent (best effort), the connection closed.
        OSError, ConnectionError, ssl.SSLError
            The connection could not be opened or broke.
        ValueError
            ``liveness`` is not positive.
        """
        if not liveness > 0:
            raise ValueError(f"liveness must be positive, got {liveness!r}")
        message = {**header, "beat": liveness / 5 if beat is None else beat}
        return self._round_trip(message, frames, liveness, deadline, on_beat)

    def _round_trip(
        self,
        header: _Header,
        frames: Sequence[Any],
        liveness: float | None,
        deadline: float | None,
        on_beat: _OnBeat,
    ) -> _Reply:
        start = time.monotonic()  # connecting may raise TimeoutError: nothing to cancel yet
        sock, reader = self._take(self.connect_timeout if deadline is None else deadline - start)
        received, by_deadline = 0, False
        try:
            by_deadline = _limit(sock, liveness, deadline)
            sent = send_message(sock, header, frames)
            while True:
                by_deadline = _limit(sock, liveness, deadline)
                reply, out, size = recv_message(sock, reader)
                received += size
                if reply.get("status") != "beat":
                    break
                if on_beat is not None:
                    on_beat(reply)
                send_message(sock, {"op": Op.BEAT.value})
        except TimeoutError as exc:
            if deadline is not None and (by_deadline or time.monotonic() >= deadline):
                with contextlib.suppress(OSError, ValueError):  # cancel if it goes at once
                    sock.settimeout(0.0)
                    send_message(sock, {"op": Op.CANCEL.value})
                _close(sock)
                waited = time.monotonic() - start
                raise DeadlineError(
                    f"worker at {self.address} did not answer by the deadline ({waited:.3g} s)"
                ) from exc
            _close(sock)
            if liveness is None:
                raise
            raise PeerSilentError(
                f"worker at {self.address} sent nothing for {liveness:.3g} s "
                "(dead, frozen or cut off)"
            ) from exc
        except BaseException:
            _close(sock)
            raise
        self._give(sock, reader)
        return reply, out, sent, received

    def close(self) -> None:
        """Close the idle connections; requests in flight close theirs when done."""
        with self._lock:
            self._closed, idle, self._idle = True, self._idle, []
        for sock, _ in idle:
            _close(sock)


def _limit(sock: socket.socket, liveness: float | None, deadline: float | None) -> bool:
    """Set ``sock``'s timeout to what is left; whether the deadline (not liveness) sets it.
    Raises TimeoutError if the deadline has passed."""
    left = None if deadline is None else deadline - time.monotonic()
    if left is not None and left <= 0:
        raise TimeoutError("deadline passed")
    if left is None or (liveness is not None and liveness <= left):
        sock.settimeout(liveness)
        return False
    sock.settimeout(left)
    return True


def channel_request(
    channel: ChannelClient,
    worker: str,
    header: _Header,
    frames: Sequence[Any],
    timeout: float | None,
    *,
    liveness: float | None = None,
) -> _Reply:
    """One message over a worker's channel, network failures as the runtime's errors.

    Returns the reply header and frames and the bytes sent and received. Without
    ``liveness`` it goes through :meth:`ChannelClient.request` (``timeout`` seconds,
    connecting included); with ``liveness`` (seconds) through :meth:`ChannelClient.call`,
    followed with beats, due ``timeout`` seconds from now (``None``: no deadline).

    Raises
    ------
    OffloadTimeoutError
        No reply within ``timeout`` seconds (without ``liveness``: nor a connection).
    SecurityError
        The TLS handshake or session failed.
    WorkerUnavailableError
        The connection could not be opened (with ``liveness``: in time) or broke, or the
        worker sent nothing for ``liveness`` seconds.
    """
    try:
        if liveness is None:
            return channel.request(header, frames, timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        return channel.call(header, frames, liveness=liveness, deadline=deadline)
    except PeerSilentError as exc:
        raise WorkerUnavailableError(f"worker {worker}: {exc}") from exc
    except TimeoutError as exc:  # DeadlineError, or the connect timeout
        if liveness is None or isinstance(exc, DeadlineError):
            raise OffloadTimeoutError(
                f"worker {worker} did not answer within {timeout:.3g} s"
            ) from exc
        raise WorkerUnavailableError(f"worker {worker}: cannot connect: {exc}") from exc
    except ssl.SSLError as exc:
        raise SecurityError(f"worker {worker}: TLS failed: {exc}") from exc
    except OSError as exc:
        raise WorkerUnavailableError(f"worker {worker}: {type(exc).__name__}: {exc}") from exc
