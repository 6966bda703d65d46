"""Probes that measure an emulated network from inside it: RTT, throughput, loss, cuts.

A probe server (:func:`serve`) runs in one host's namespace and answers on one TCP and one
UDP port; probe clients run in another host's namespace and print one JSON object (or one
per line for ``hold``). Both are this module's command line, so they can be started with
``ip netns exec``::

    python -m edgeoffload.netem.measure serve --port 7777
    python -m edgeoffload.netem.measure rtt 10.77.0.1 --count 20
    python -m edgeoffload.netem.measure throughput 10.77.0.1 --bytes 8000000
    python -m edgeoffload.netem.measure udp 10.77.0.1 --count 1000
    python -m edgeoffload.netem.measure hold 10.77.0.1 --user-timeout 1
    python -m edgeoffload.netem.measure connect 10.77.0.1 --timeout 2

The TCP protocol is one command byte: ``E`` echo (what is sent comes back), ``S`` sink
(an 8-byte length, that many bytes, then one JSON line with the server's timing), ``U``
(one JSON line: UDP datagrams received per 8-byte tag). Times are ``time.monotonic()``,
which on Linux is one clock for every process, so a client's events can be compared with
the moment a test cut a link.

:func:`measure_rtt`, :func:`measure_throughput`, :func:`measure_udp_loss` and
:func:`probe_server` drive them on an :class:`~edgeoffload.netem.network.EmulatedNetwork`;
:func:`measure_link` measures a pair of hosts against their configured link (what
``edgeoffload netem measure`` prints).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgeoffload.netem.network import EmulatedNetwork

__all__ = [
    "DEFAULT_PORT",
    "main",
    "measure_link",
    "measure_rtt",
    "measure_throughput",
    "measure_udp_loss",
    "probe_command",
    "probe_server",
    "serve",
]

DEFAULT_PORT = 7777
TCP_USER_TIMEOUT = getattr(socket, "TCP_USER_TIMEOUT", 18)


# --------------------------------------------------------------------------- server
def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(min(n - len(data), 1 << 20))
        if not chunk:
            raise ConnectionError("peer closed")
        data += chunk
    return bytes(data)


def _handle(conn: socket.socket, udp_counts: Counter[str], lock: threading.Lock) -> None:
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            command = _recv_exact(conn, 1)
            if command == b"E":
                while chunk := conn.recv(65536):
                    conn.sendall(chunk)
            elif command == b"S":
                (total,) = struct.unpack("!Q", _recv_exact(conn, 8))
                received = 0
                first = half = 0.0
                while received < total:
                    chunk = conn.recv(min(total - received, 1 << 20))
                    if not chunk:
                        raise ConnectionError("peer closed")
                    if received == 0:
                        first = time.monotonic()
                    received += len(chunk)
                    if not half and received >= total / 2:
                        half = time.monotonic()
                last = time.monotonic()
                reply = {"bytes": total, "first": first, "half": half, "last": last}
                conn.sendall(json.dumps(reply).encode() + b"\n")
            elif command == b"U":
                with lock:
                    counts = dict(udp_counts)
                conn.sendall(json.dumps(counts).encode() + b"\n")
        except OSError:
            pass


def serve(port: int = DEFAULT_PORT, host: str = "0.0.0.0") -> None:
    """Answer probes on TCP and UDP ``port`` until killed; prints ``ready`` when listening."""
    udp_counts: Counter[str] = Counter()
    lock = threading.Lock()
    listener = socket.create_server((host, port), reuse_port=False, backlog=64)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((host, port))

    def udp_loop() -> None:
        while True:
            data = udp.recv(65536)
            with lock:
                udp_counts[data[:8].hex()] += 1

    threading.Thread(target=udp_loop, daemon=True).start()
    print("ready", flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_handle, args=(conn, udp_counts, lock), daemon=True).start()


# --------------------------------------------------------------------------- clients
def _connect(address: str, port: int, timeout: float) -> socket.socket:
    sock = socket.create_connection((address, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def rtt(address: str, port: int, count: int, size: int = 32) -> dict[str, Any]:
    """Round trips of ``size``-byte messages on one TCP connection, seconds."""
    start = time.monotonic()
    sock = _connect(address, port, 10.0)
    connect = time.monotonic() - start
    payload = b"x" * size
    rtts = []
    with sock:
        sock.sendall(b"E")
        for _ in range(count):
            t0 = time.monotonic()
            sock.sendall(payload)
            _recv_exact(sock, size)
            rtts.append(time.monotonic() - t0)
    return {"connect": connect, "rtts": rtts, "median": statistics.median(rtts)}


def throughput(address: str, port: int, nbytes: int) -> dict[str, Any]:
    """Send ``nbytes`` over TCP; the server's receive rate, bytes/s (whole and second half)."""
    sock = _connect(address, port, 10.0)
    block = b"\0" * 65536
    start = time.monotonic()
    with sock:
        sock.sendall(b"S" + struct.pack("!Q", nbytes))
        left = nbytes
        while left > 0:
            sent = sock.send(block[: min(left, len(block))])
            left -= sent
        reply = json.loads(sock.makefile("rb").readline())
    end = time.monotonic()
    seconds = reply["last"] - reply["first"]
    second_half = reply["last"] - reply["half"]
    return {
        "bytes": nbytes,
        "seconds": seconds,
        "bandwidth": nbytes / seconds if seconds > 0 else float("inf"),
        "second_half_bandwidth": (nbytes / 2) / second_half if second_half > 0 else float("inf"),
        "client_seconds": end - start,
    }


def udp_loss(address: str, port: int, count: int, interval: float) -> dict[str, Any]:
    """Send ``count`` UDP datagrams; how many the server got (asked over TCP afterwards)."""
    tag = os.urandom(8)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with udp:
        for i in range(count):
            udp.sendto(tag + struct.pack("!I", i) + b"u" * 52, (address, port))
            if interval:
                time.sleep(interval)
    time.sleep(0.5)
    sock = _connect(address, port, 10.0)
    with sock:
        sock.sendall(b"U")
        counts = json.loads(sock.makefile("rb").readline())
    return {"sent": count, "received": int(counts.get(tag.hex(), 0))}


def hold(address: str, port: int, user_timeout: float, interval: float) -> int:
    """Keep a connection, echo a message every ``interval`` s; print events as JSON lines.

    Events: ``connected``, ``ok`` (first after a gap only), ``failed`` (with the error and
    ``time.monotonic()``). Exits 0 after a failure.
    """

    def event(name: str, **data: Any) -> None:
        print(json.dumps({"event": name, "t": time.monotonic(), **data}), flush=True)

    sock = _connect(address, port, 10.0)
    sock.setsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT, int(user_timeout * 1000))
    sock.settimeout(None)
    sock.sendall(b"E")
    event("connected")
    count = 0
    try:
        while True:
            sock.sendall(b"ping")
            _recv_exact(sock, 4)
            count += 1
            if count == 1:
                event("ok")
            time.sleep(interval)
    except OSError as exc:
        event("failed", error=f"{type(exc).__name__}: {exc}", pings=count)
        return 0


def connect_probe(address: str, port: int, timeout: float) -> dict[str, Any]:
    """Connect and make one echo round trip within ``timeout`` s; whether it worked."""
    start = time.monotonic()
    try:
        sock = _connect(address, port, timeout)
        with sock:
            sock.settimeout(max(timeout - (time.monotonic() - start), 0.01))
            sock.sendall(b"Eping")
            _recv_exact(sock, 4)
        return {"ok": True, "seconds": time.monotonic() - start}
    except OSError as exc:
        error = f"{type(exc).__name__}: {exc}"
        return {"ok": False, "seconds": time.monotonic() - start, "error": error}


# --------------------------------------------------------------------------- drivers
def probe_command(*args: str) -> list[str]:
    """argv that runs this module's command line with ``args``.

    The file is run as a script in isolated mode (``python -I``): it needs only the
    standard library, so it starts in a few tens of milliseconds instead of importing
    the whole package.
    """
    return [sys.executable, "-I", str(Path(__file__).resolve()), *args]


@contextlib.contextmanager
def probe_server(
    net: EmulatedNetwork, host: str, port: int = DEFAULT_PORT
) -> Iterator[tuple[str, int]]:
    """Run a probe server in ``host``'s namespace; yields its ``(address, port)``."""
    from edgeoffload.netem._commands import NetemError
    from edgeoffload.netem.network import _wait_line

    proc = net.popen(host, probe_command("serve", "--port", str(port)), stdout=subprocess.PIPE)
    try:
        if not _wait_line(proc.stdout, "ready", 20.0):
            raise NetemError(f"the probe server in {host} did not start")
        yield net.address(host), port
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 15)
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


def _run_json(net: EmulatedNetwork, host: str, *args: str, timeout: float = 60.0) -> Any:
    proc = net.run(host, probe_command(*args), timeout=timeout)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_rtt(
    net: EmulatedNetwork, src: str, dst: str, *, count: int = 20, port: int = DEFAULT_PORT
) -> dict[str, Any]:
    """TCP round trips from ``src`` to ``dst`` (a probe server must run on ``dst``)."""
    return dict(
        _run_json(net, src, "rtt", net.address(dst), "--port", str(port), "--count", str(count))
    )


def measure_throughput(
    net: EmulatedNetwork, src: str, dst: str, *, nbytes: int = 4_000_000, port: int = DEFAULT_PORT
) -> dict[str, Any]:
    """TCP goodput from ``src`` to ``dst``, bytes/s (a probe server must run on ``dst``)."""
    args = ("throughput", net.address(dst), "--port", str(port), "--bytes", str(nbytes))
    return dict(_run_json(net, src, *args, timeout=120.0))


def measure_udp_loss(
    net: EmulatedNetwork,
    src: str,
    dst: str,
    *,
    count: int = 1000,
    interval: float = 0.0005,
    port: int = DEFAULT_PORT,
) -> dict[str, Any]:
    """UDP datagrams sent from ``src`` and received by ``dst``'s probe server."""
    args = ("udp", net.address(dst), "--port", str(port), "--count", str(count))
    return dict(_run_json(net, src, *args, "--interval", str(interval)))


def measure_link(
    net: EmulatedNetwork,
    src: str,
    dst: str,
    *,
    nbytes: int = 8_000_000,
    count: int = 20,
    port: int = DEFAULT_PORT,
) -> dict[str, Any]:
    """Measure the round trip and TCP goodput from ``src`` to ``dst`` beside the figures
    the topology configures between them (what ``edgeoffload netem measure`` prints).

    A probe server is started on ``dst`` for the measurement and stopped after it.

    Parameters
    ----------
    net
        An emulated network that is up.
    src, dst
        Host names.
    nbytes
        Bytes to send for the goodput.
    count
        Round trips to time.
    port
        TCP and UDP port of the probe server.

    Returns
    -------
    dict
        A new JSON-ready dict with, in this order:

        ``src``, ``dst``
            The host names.
        ``configured``
            ``{"rtt": s, "bandwidth": bytes/s}``: twice the configured one-way latency
            between the hosts, and their configured bandwidth
            (:meth:`~edgeoffload.netem.topology.Topology.link_between`).
        ``rtt_median``, ``rtt_min``
            Median and least of the ``count`` round trips, seconds.
        ``throughput``, ``throughput_second_half``
            Goodput received by ``dst``, bytes/s, over the whole transfer and over its
            second half (after TCP's slow start).
    """
    configured = net.topology.link_between(src, dst)
    with probe_server(net, dst, port):
        rtt = measure_rtt(net, src, dst, count=count, port=port)
        tput = measure_throughput(net, src, dst, nbytes=nbytes, port=port)
    return {
        "src": src,
        "dst": dst,
        "configured": {"rtt": 2 * configured.latency, "bandwidth": configured.bandwidth},
        "rtt_median": rtt["median"],
        "rtt_min": min(rtt["rtts"]),
        "throughput": tput["bandwidth"],
        "throughput_second_half": tput["second_half_bandwidth"],
    }


# --------------------------------------------------------------------------- command line
def main(argv: Sequence[str] | None = None) -> int:
    """The probes' command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m edgeoffload.netem.measure")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, default=DEFAULT_PORT)
    for name in ("rtt", "throughput", "udp", "hold", "connect"):
        c = sub.add_parser(name)
        c.add_argument("address")
        c.add_argument("--port", type=int, default=DEFAULT_PORT)
        if name in ("rtt", "udp"):
            c.add_argument("--count", type=int, default=20)
        if name == "rtt":
            c.add_argument("--size", type=int, default=32)
        if name == "udp":
            c.add_argument("--interval", type=float, default=0.0005)
        if name == "throughput":
            c.add_argument("--bytes", type=int, default=4_000_000)
        if name == "hold":
            c.add_argument("--user-timeout", type=float, default=1.0)
            c.add_argument("--interval", type=float, default=0.05)
        if name == "connect":
            c.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.port)
        return 0
    if args.command == "hold":
        return hold(args.address, args.port, args.user_timeout, args.interval)
    result: dict[str, Any]
    if args.command == "rtt":
        result = rtt(args.address, args.port, args.count, args.size)
    elif args.command == "throughput":
        result = throughput(args.address, args.port, args.bytes)
    elif args.command == "udp":
        result = udp_loss(args.address, args.port, args.count, args.interval)
    else:
        result = connect_probe(args.address, args.port, args.timeout)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
