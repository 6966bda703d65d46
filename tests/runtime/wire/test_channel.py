"""The direct call channel: round trips, limits, a flood, liveness beats and deadlines.

Real sockets on 127.0.0.1 and real threads; TLS material from ``make_certificates``.
"""

from __future__ import annotations

import logging
import os
import queue
import resource
import selectors
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeoffload.errors import OffloadTimeoutError, SecurityError, WorkerUnavailableError
from edgeoffload.runtime.wire.addresses import split_address
from edgeoffload.runtime.wire.channel import (
    ChannelClient,
    ChannelServer,
    DeadlineError,
    Exchange,
    PeerSilentError,
    channel_request,
)
from edgeoffload.runtime.wire.protocol import Reader, recv_message, send_message
from edgeoffload.runtime.wire.security import make_certificates
from waiting import wait_until

Handler = Callable[[Exchange], tuple[dict[str, Any], list[Any]]]
Serve = Callable[..., ChannelServer]
LOGGER = "edgeoffload.runtime.wire.channel"
needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("certs")
    make_certificates(folder)
    return folder


@pytest.fixture(scope="module")
def other_certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("other-ca")
    make_certificates(folder)
    return folder


def server_context(folder: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "worker.pem", folder / "worker-key.pem")
    context.load_verify_locations(folder / "ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(folder: Path, ca: Path | None = None, cert: bool = True) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cert:
        context.load_cert_chain(folder / "client.pem", folder / "client-key.pem")
    context.load_verify_locations((ca or folder) / "ca.pem")
    context.check_hostname = False
    return context


def der(path: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(path.read_text())


def echo(exchange: Exchange) -> tuple[dict[str, Any], list[Any]]:
    reply = {"status": "ok", "echo": exchange.header, "sizes": [len(f) for f in exchange.frames]}
    return reply, list(exchange.frames)


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start servers on 127.0.0.1; every one is closed at the end of the test."""
    servers: list[ChannelServer] = []

    def start(
        handler: Handler = echo, context: ssl.SSLContext | None = None, **options: Any
    ) -> ChannelServer:
        server = ChannelServer("127.0.0.1", context, handler, **options)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.close()


def closed_by_server(sock: socket.socket, timeout: float) -> float:
    """Seconds until the server closes a raw connection we never write to."""
    start = time.monotonic()
    sock.settimeout(timeout)
    try:
        data = sock.recv(1)
    except ConnectionResetError:
        data = b""
    assert data == b""
    return time.monotonic() - start


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
@pytest.mark.parametrize("size", [0, 1024, 1 << 20], ids=["0B", "1KB", "1MB"])
def test_round_trip_carries_header_and_frames(
    serve: Serve, certs: Path, tls: bool, size: int
) -> None:
    """A request's header and frames come back intact, and the handler sees the peer."""
    peers: list[bytes | None] = []

    def handler(exchange: Exchange) -> tuple[dict[str, Any], list[Any]]:
        peers.append(exchange.peer.certificate)
        return echo(exchange)

    server = serve(handler, server_context(certs) if tls else None)
    assert server.address == f"{'tls' if tls else 'tcp'}://127.0.0.1:{server.port}"
    client = ChannelClient(server.address, client_context(certs) if tls else None)
    payload = os.urandom(size)
    for n in range(3):  # the connection is reused
        reply, frames, sent, received = client.request({"op": "ping", "n": n}, [payload], 10.0)
        assert reply == {"status": "ok", "echo": {"op": "ping", "n": n}, "sizes": [size]}
        assert [bytes(f) for f in frames] == [payload]
        assert sent > size and received > size
    client.close()
    assert server.stats()["accepted"] == 1
    assert peers == [der(certs / "client.pem") if tls else None] * 3


def test_ipv6_address_in_brackets() -> None:
    """A server on ::1 names itself tcp://[::1]:port and serves that address."""
    try:
        server = ChannelServer("::1", None, echo)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        address = server.start()
        assert address == f"tcp://[::1]:{server.port}"
        assert split_address(address) == ("tcp", "::1", server.port)
        client = ChannelClient(address, None)
        assert client.request({"op": "ping"}, (), 5.0)[0]["echo"] == {"op": "ping"}
        client.close()
    finally:
        server.close()


def test_many_concurrent_clients(serve: Serve, certs: Path) -> None:
    """Sixteen threads with their own clients get their own replies, on few threads."""
    server = serve(context=server_context(certs), max_active=4)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        client = ChannelClient(server.address, client_context(certs))
        try:
            for n in range(20):
                payload = f"{index}:{n}".encode() * 100
                reply, frames, _, _ = client.request({"op": "ping", "i": index}, [payload], 10.0)
                assert reply["echo"]["i"] == index and bytes(frames[0]) == payload
        except BaseException as exc:
            errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    stats = server.stats()
    assert stats["accepted"] == 16 and stats["threads"] <= 4


def test_poll_selector_serves_the_same(
    serve: Serve, certs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the selector is poll() (no epoll or kqueue), parked connections still wake it."""
    monkeypatch.setattr(selectors, "DefaultSelector", selectors.PollSelector)
    for context, client_ctx in ((None, None), (server_context(certs), client_context(certs))):
        server = serve(context=context)
        client = ChannelClient(server.address, client_ctx)
        for n in range(5):
            wait_until(  # parked, not lingering
                lambda s=server: s.stats()["active"] == 0,
                5.0,
                "the connection parking",
                interval=0.01,
            )
            reply, frames, _, _ = client.request({"op": "ping", "n": n}, [b"x" * 100_000], 10.0)
            assert reply["echo"]["n"] == n and bytes(frames[0]) == b"x" * 100_000
        client.close()


# --------------------------------------------------------------------------- limits


FLOOD = textwrap.dedent(
    """
    import resource, socket, sys
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 64), hard))
    held = [socket.create_connection((host, port), timeout=30) for _ in range(count)]
    print(len(held), flush=True)
    sys.stdin.readline()
    """
)


@needs_proc
def test_flood_of_idle_connections_does_not_stop_the_server(serve: Serve, certs: Path) -> None:
    """2,000 connections that never handshake: threads stay bounded, clients still get in."""
    threads, tasks = threading.active_count(), len(os.listdir("/proc/self/task"))
    fds = len(os.listdir("/proc/self/fd"))
    server = serve(context=server_context(certs), max_active=2, max_pending=64)
    good = ChannelClient(server.address, client_context(certs))
    assert good.request({"op": "ping"}, (), 5.0)[0]["status"] == "ok"
    good.close()
    flood = subprocess.Popen(
        [sys.executable, "-c", FLOOD, "127.0.0.1", str(server.port), "2000"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert flood.stdout is not None and flood.stdin is not None
        assert flood.stdout.readline().strip() == "2000"
        wait_until(
            lambda: server.stats()["accepted"] >= 2001,
            5.0,
            "2001 connections accepted",
            interval=0.01,
        )
        start = time.monotonic()
        client = ChannelClient(server.address, client_context(certs))
        _, frames, _, _ = client.request({"op": "ping"}, [b"during"], 10.0)
        assert time.monotonic() - start < 3.0
        assert bytes(frames[0]) == b"during"
        client.close()
        stats = server.stats()
        assert stats["pending"] <= 64 and stats["evicted"] >= 2000 - 64
        assert threading.active_count() <= threads + 1 + 2  # the loop, two serving threads
        assert len(os.listdir("/proc/self/task")) <= tasks + 1 + 2
        assert len(os.listdir("/proc/self/fd")) <= fds + 64 + 16  # pending ones, and a few
        flood.stdin.write("\n")
        flood.stdin.flush()
        assert flood.wait(20) == 0
    finally:
        flood.kill()
        flood.wait()
    client = ChannelClient(server.address, client_context(certs))
    assert client.request({"op": "ping"}, (), 5.0)[0]["status"] == "ok"
    client.close()
    wait_until(lambda: server.stats()["pending"] == 0, 5.0, "no connection pending", interval=0.01)


def test_thread_that_cannot_start_closes_only_its_connection(
    serve: Serve, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When no serving thread can start, that connection is closed and the server goes on."""
    server = serve()

    def cannot_start(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    with monkeypatch.context() as patch, caplog.at_level(logging.WARNING, logger=LOGGER):
        patch.setattr(threading.Thread, "start", cannot_start)
        for _ in range(2):
            client = ChannelClient(server.address, None)
            with pytest.raises(ConnectionError):
                client.request({"op": "ping"}, (), 5.0)
            client.close()
    warnings = [r for r in caplog.records if "cannot start a serving thread" in r.message]
    assert len(warnings) == 2
    assert server.stats()["thread_failures"] == 2 and server.stats()["threads"] == 0
    client = ChannelClient(server.address, None)
    assert client.request({"op": "ping"}, (), 5.0)[0]["status"] == "ok"
    client.close()
    assert server.stats()["accepted"] == 3 and server.stats()["threads"] == 1


def test_handshake_timeout_closes_a_silent_tls_connection(serve: Serve, certs: Path) -> None:
    """A TCP connection to the TLS port that never says hello is closed after the timeout."""
    server = serve(context=server_context(certs), handshake_timeout=0.5)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        waited = closed_by_server(sock, 5.0)
    assert 0.4 <= waited <= 2.0
    assert server.stats()["handshake_timeouts"] == 1


def test_first_message_timeout_closes_an_idle_connection(serve: Serve, certs: Path) -> None:
    """Handshaken (or plain) connections that send no message are closed after the timeout."""
    plain = serve(first_message_timeout=0.5)
    with socket.create_connection(("127.0.0.1", plain.port)) as sock:
        assert 0.4 <= closed_by_server(sock, 5.0) <= 2.0
    secure = serve(context=server_context(certs), first_message_timeout=0.5)
    raw = socket.create_connection(("127.0.0.1", secure.port))
    with client_context(certs).wrap_socket(raw) as sock:
        assert 0.4 <= closed_by_server(sock, 5.0) <= 2.0
    assert plain.stats()["handshake_timeouts"] == 1
    assert secure.stats()["handshake_timeouts"] == 1


def test_oldest_pending_connections_are_closed_first(serve: Serve, certs: Path) -> None:
    """Beyond max_pending unfinished handshakes, the oldest ones are closed."""
    server = serve(context=server_context(certs), max_pending=4)
    socks = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(6)]
    try:
        wait_until(
            lambda: server.stats()["accepted"] == 6, 5.0, "6 connections accepted", interval=0.01
        )
        assert closed_by_server(socks[0], 2.0) < 2.0
        assert closed_by_server(socks[1], 2.0) < 2.0
        assert server.stats()["evicted"] == 2 and server.stats()["pending"] == 4
        socks[2].setblocking(False)
        with pytest.raises(BlockingIOError):
            socks[2].recv(1)  # still open, still waiting
    finally:
        for sock in socks:
            sock.close()


def test_connections_beyond_max_connections_are_closed(serve: Serve) -> None:
    """With max_connections established, a new connection is closed at once."""
    server = serve(max_connections=2)
    clients = [ChannelClient(server.address, None) for _ in range(3)]
    for client in clients[:2]:
        assert client.request({"op": "ping"}, (), 5.0)[0]["status"] == "ok"
    with pytest.raises(ConnectionError):
        clients[2].request({"op": "ping"}, (), 5.0)
    stats = server.stats()
    assert stats["established"] == 2 and stats["refused_full"] == 1
    clients[0].close()
    wait_until(lambda: server.stats()["established"] == 1, 5.0, "1 connection left", interval=0.01)
    assert clients[2].request({"op": "ping"}, (), 5.0)[0]["status"] == "ok"
    for client in clients:
        client.close()


@pytest.mark.parametrize("kind", ["no certificate", "another CA"])
def test_unauthenticated_clients_are_refused(
    serve: Serve, certs: Path, other_certs: Path, kind: str
) -> None:
    """A client without a certificate of the cluster's CA gets no answer; others still do."""
    server = serve(context=server_context(certs))
    if kind == "no certificate":
        context = client_context(certs, cert=False)
    else:
        context = client_context(other_certs, ca=certs)
    stranger = ChannelClient(server.address, context)
    with pytest.raises((SecurityError, WorkerUnavailableError)):
        channel_request(stranger, "w1", {"op": "ping"}, (), 5.0)
    stranger.close()
    wait_until(
        lambda: server.stats()["handshake_failures"] == 1,
        5.0,
        "the handshake failing",
        interval=0.01,
    )
    client = ChannelClient(server.address, client_context(certs))
    assert client.request({"op": "ping"}, (), 5.0)[0]["status"] == "ok"
    client.close()


def test_verify_peer_refusing_closes_the_connection(serve: Serve, certs: Path) -> None:
    """verify_peer gets the server's certificate; if it raises, nothing is sent or kept."""
    calls: list[Exchange] = []
    seen: list[bytes | None] = []

    def handler(exchange: Exchange) -> tuple[dict[str, Any], list[Any]]:
        calls.append(exchange)
        return {"status": "ok"}, []

    def refuse(certificate: bytes | None) -> None:
        seen.append(certificate)
        raise SecurityError("not a worker")

    server = serve(handler, server_context(certs))
    client = ChannelClient(server.address, client_context(certs), verify_peer=refuse)
    with pytest.raises(SecurityError, match="not a worker"):
        channel_request(client, "w1", {"op": "ping"}, (), 5.0)
    assert seen == [der(certs / "worker.pem")]
    wait_until(
        lambda: server.stats()["established"] == 0, 5.0, "the connection closing", interval=0.01
    )
    assert calls == [] and server.stats()["accepted"] == 1
    client.close()


# --------------------------------------------------------------------------- handlers


def test_handler_exception_is_refused_and_the_connection_goes_on(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    """A raising handler answers refused with one line; the same connection serves again."""

    def handler(exchange: Exchange) -> tuple[dict[str, Any], list[Any]]:
        if exchange.header["op"] == "boom":
            raise ValueError("bad\nthing")
        return {"status": "ok"}, []

    server = serve(handler)
    client = ChannelClient(server.address, None)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        reply = client.request({"op": "boom"}, (), 5.0)[0]
    assert reply == {"status": "refused", "error": "ValueError: bad thing"}
    assert any("handler failed" in r.message for r in caplog.records)
    assert client.request({"op": "ping"}, (), 5.0)[0] == {"status": "ok"}
    assert server.stats()["accepted"] == 1
    client.close()


def test_late_beat_answers_and_cancels_are_not_requests(serve: Serve) -> None:
    """A beat answer or cancel arriving between requests is dropped, never answered."""
    server = serve()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        send_message(sock, {"op": "beat"})
        send_message(sock, {"op": "cancel"})
        send_message(sock, {"op": "ping", "n": 1})
        sock.settimeout(5.0)
        reply, _, _ = recv_message(sock, Reader(sock))
        assert reply["echo"] == {"op": "ping", "n": 1}
        sock.setblocking(False)
        with pytest.raises(BlockingIOError):
            sock.recv(1)


# --------------------------------------------------------------------------- liveness


def test_beats_keep_a_long_call_alive(serve: Serve, certs: Path) -> None:
    """A 2 s handler beating every 0.2 s completes under liveness=0.5 s."""
    answers: list[dict[str, Any] | None] = []

    def slow(exchange: Exchange) -> tuple[dict[str, Any], list[Any]]:
        assert exchange.header["beat"] == 0.2
        end = time.monotonic() + 2.0
        n = 0
        while time.monotonic() < end:
            exchange.beat({"n": n})
            n += 1
            answers.append(exchange.poll(0.2))
        return {"status": "ok", "beats": n}, [b"done"]

    server = serve(slow, server_context(certs))
    client = ChannelClient(server.address, client_context(certs))
    beats: list[dict[str, Any]] = []
    start = time.monotonic()
    reply, frames, _, _ = client.call(
        {"op": "call"}, (), liveness=0.5, beat=0.2, on_beat=beats.append
    )
    assert 2.0 <= time.monotonic() - start < 4.0
    assert reply["status"] == "ok" and bytes(frames[0]) == b"done"
    assert [b["n"] for b in beats] == list(range(reply["beats"]))
    assert all(b["status"] == "beat" for b in beats)
    assert sum(a == {"op": "beat"} for a in answers) >= len(beats) - 2
    assert server.stats()["accepted"] == 1
    client.close()


def test_frozen_worker_is_given_up_after_liveness(serve: Serve) -> None:
    """A handler that stops beating makes call() raise PeerSilentError after ~liveness."""
    release = threading.Event()

    def frozen(exchange: Exchange) -> tuple[dict[str, Any], list[Any]]:
        exchange.beat()
        release.wait(10)
        return {"status": "ok"}, []

    server = serve(frozen)
    client = ChannelClient(server.address, None)
    start = time.monotonic()
    with pytest.raises(
        PeerSilentError, match=r"sent nothing for 0\.5 s \(dead, frozen or cut off\)"
    ):
        client.call({"op": "call"}, (), liveness=0.5)
    assert 0.45 <= time.monotonic() - start < 1.5
    with pytest.raises(WorkerUnavailableError, match="sent nothing"):
        channel_request(client, "w1", {"op": "call"}, (), 10.0, liveness=0.3)
    release.set()


def test_deadline_cancels_the_call_on_the_worker(serve: Serve, certs: Path) -> None:
    """At the deadline call() raises DeadlineError; the handler's poll sees the cancel."""
    seen: queue.Queue[tuple[str, float]] = queue.Queue()

    def patient(exchange: Exchange) -> tuple[dict[str, Any], list[Any]]:
        while True:
            try:
                exchange.beat()
                message = exchange.poll(0.1)
            except ConnectionError:
                seen.put(("closed", time.monotonic()))
                return {"status": "ok"}, []
            if message is not None and message.get("op") == "cancel":
                seen.put(("cancel", time.monotonic()))
                return {"status": "cancelled"}, []

    server = serve(patient, server_context(certs))
    client = ChannelClient(server.address, client_context(certs))
    start = time.monotonic()
    with pytest.raises(DeadlineError) as caught:
        client.call({"op": "call"}, (), liveness=2.0, deadline=start + 0.5)
    raised = time.monotonic()
    assert isinstance(caught.value, TimeoutError)
    assert 0.45 <= raised - start < 1.5
    what, when = seen.get(timeout=5)
    assert what in ("cancel", "closed") and when - raised < 0.5
    with pytest.raises(OffloadTimeoutError):
        channel_request(client, "w1", {"op": "call"}, (), 0.3, liveness=2.0)
    assert seen.get(timeout=5)[0] in ("cancel", "closed")


def test_request_timeout_is_a_timeout_error(serve: Serve) -> None:
    """request() past its timeout raises a TimeoutError; channel_request an OffloadTimeoutError."""
    release = threading.Event()

    def stuck(exchange: Exchange) -> tuple[dict[str, Any], list[Any]]:
        release.wait(10)
        return {"status": "ok"}, []

    server = serve(stuck)
    client = ChannelClient(server.address, None)
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        client.request({"op": "ping"}, (), 0.3)
    assert 0.25 <= time.monotonic() - start < 1.5
    with pytest.raises(OffloadTimeoutError, match=r"did not answer within 0\.3 s"):
        channel_request(client, "w1", {"op": "ping"}, (), 0.3)
    release.set()
    client.close()


# --------------------------------------------------------------------------- lifecycle


def test_close_joins_threads_and_is_idempotent(serve: Serve) -> None:
    """close() ends the loop and serving threads; a second close() does nothing."""
    server = serve()
    client = ChannelClient(server.address, None)
    assert client.request({"op": "ping"}, (), 5.0)[0]["status"] == "ok"
    server.close()
    server.close()
    names = [t.name for t in threading.enumerate() if t.name.startswith("edgeoffload-channel")]
    assert names == []
    with pytest.raises(WorkerUnavailableError):
        channel_request(client, "w1", {"op": "ping"}, (), 2.0)
    client.close()


def test_unreachable_worker_is_unavailable() -> None:
    """Nothing listening: the request fails as WorkerUnavailableError."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = ChannelClient(f"tcp://127.0.0.1:{port}", None)
    with pytest.raises(WorkerUnavailableError, match="ConnectionRefusedError"):
        channel_request(client, "w1", {"op": "ping"}, (), 2.0)
    client.close()


def test_poll_raises_when_the_client_goes_away(serve: Serve) -> None:
    """A handler polling a connection its client closed gets ConnectionError."""
    outcome: queue.Queue[str] = queue.Queue()

    def waiting(exchange: Exchange) -> tuple[dict[str, Any], list[Any]]:
        try:
            while exchange.poll(0.05) is None:
                pass
        except ConnectionError as exc:
            outcome.put(type(exc).__name__)
        return {"status": "ok"}, []

    server = serve(waiting)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        send_message(sock, {"op": "call"})
    assert outcome.get(timeout=5) in ("ConnectionResetError", "ConnectionError")


@needs_proc
def test_out_of_descriptors_the_loop_evicts_and_goes_on(serve: Serve, certs: Path) -> None:
    """EMFILE while accepting: the oldest pending connections make room; the loop survives."""
    server = serve(context=server_context(certs), max_pending=100)
    flood = subprocess.Popen(
        [sys.executable, "-c", FLOOD, "127.0.0.1", str(server.port), "40"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        assert flood.stdout is not None and flood.stdin is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 8, hard))
        assert flood.stdout.readline().strip() == "40"
        wait_until(
            lambda: server.stats()["accepted"] >= 40, 5.0, "40 connections accepted", interval=0.01
        )
        assert server.stats()["evicted"] > 0 and server.stats()["pending"] < 40
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        flood.kill()
        flood.wait()
    client = ChannelClient(server.address, client_context(certs))
    assert client.request({"op": "ping"}, (), 5.0)[0]["status"] == "ok"
    client.close()
