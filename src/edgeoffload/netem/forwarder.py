"""A user-space Ethernet switch that delays and drops frames: netem for kernels without it.

Runs inside the topology's switch namespace (``eo-<name>-hub``), where every host's veth
peer ends as a port ``p-<host>``. It reads each frame from the port it arrived on with a
raw packet socket, drops it with the link's loss probability, and sends it out of the
destination host's port at a scheduled release time:

    release = arrival + delay(src) + delay(dst) + N(0, jitter(src)²) + N(0, jitter(dst)²)

clamped so that frames between one pair of ports never overtake each other. Loss is
drawn per frame and direction from a seeded :class:`random.Random`: once with the source
link's probability and once with the destination's. The bandwidth of a link is not done
here but by the kernel's ``tbf`` qdisc on both ends of the host's veth pair, which is
where a rate limit queues anyway; frames the qdisc refuses (its queue is full) are counted
as dropped.

Frames are whole Ethernet frames, so ARP, TCP, UDP and ICMP all cross the switch the same
way, and TCP sees real packet loss and reacts with its own retransmissions. The packet
sockets use ``PACKET_VNET_HDR``, so frames whose checksum the sending kernel left to be
completed (veth checksum offload) keep that state; segmentation offload is turned off
on the hosts (``gso_max_segs 1``), so every frame is at most one MTU and loss hits single
packets.

A frame's delay counts from the kernel's receive timestamp (``SO_TIMESTAMPNS``), and
the loop waits with ``epoll`` until a release is near and sleeps the rest, so release
times are kept to a fraction of a millisecond while the process gets a CPU.
Throughput is bounded by one Python process: well above the Wi-Fi rates this emulates,
below gigabit Ethernet.

Command line (what :class:`~edgeoffload.netem.network.EmulatedNetwork` runs)::

    python -I path/to/edgeoffload/netem/forwarder.py CONFIG.json   # stdlib only
    python -m edgeoffload.netem.forwarder CONFIG.json               # the same

``CONFIG.json``::

    {"seed": 0, "limit": 33554432, "stats": "/run/.../stats.json",
     "ports": {"cam1": {"iface": "p-cam1", "mac": "02:77:...", "delay": 0.02,
                        "jitter": 0.0, "loss": 0.0}, ...}}

It prints ``ready`` on stdout once every port is open. Signals: ``SIGHUP`` re-reads the
config (delay, jitter and loss of each port; ports cannot be added), ``SIGUSR1`` writes
the counters to ``stats`` (JSON), ``SIGTERM``/``SIGINT`` write them and exit.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Forwarder", "Port", "main"]

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_VNET_HDR = 15
PACKET_IGNORE_OUTGOING = 23
PACKET_OUTGOING = 4
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33
SO_TIMESTAMPNS = 35  # also SCM_TIMESTAMPNS
TIMESPEC = struct.Struct("@qq")
VNET_HDR_LEN = 10  # struct virtio_net_hdr
MAX_FRAME = 65536 + VNET_HDR_LEN
BATCH = 64  # frames read from one port before releasing due frames again
CMSG_SPACE = socket.CMSG_SPACE(16)  # one struct timespec
SLEEP_BELOW = 0.0015  # s: a release closer than this is waited for by sleeping
SOCKET_BUFFER = 4 * 1024 * 1024  # bytes
NICE = -10  # scheduling priority boost of the forwarder process


@dataclass(slots=True)
class Port:
    """One switch port: the hub end of a host's veth pair, with that host's link figures."""

    name: str
    iface: str
    mac: bytes
    delay: float = 0.0
    jitter: float = 0.0
    loss: float = 0.0
    sock: socket.socket | None = None
    counters: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("rx_frames", "rx_bytes", "tx_frames", "tx_bytes", "lost", "dropped"), 0
        )
    )

    def open(self) -> socket.socket:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        sock.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
        # kernels before 4.20 lack this option: outgoing frames are then skipped by pkttype
        with contextlib.suppress(OSError):
            sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, SOCKET_BUFFER)
        sock.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, SOCKET_BUFFER)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.bind((self.iface, ETH_P_ALL))
        sock.setblocking(False)
        self.sock = sock
        return sock


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


class Forwarder:
    """The switch loop; see the module docstring.

    Parameters
    ----------
    config
        Path of the JSON configuration.
    """

    def __init__(self, config: Path) -> None:
        self.config_path = config
        data = self._read_config()
        self.rng = random.Random(int(data.get("seed", 0)))
        self.limit = int(data.get("limit", 32 * 1024 * 1024))
        self.stats_path = Path(data["stats"]) if data.get("stats") else None
        self.ports: list[Port] = []
        for name, spec in data["ports"].items():
            self.ports.append(Port(name, spec["iface"], _mac(spec["mac"])))
        self._apply(data)
        self.by_mac = {p.mac: i for i, p in enumerate(self.ports)}
        self.queue: list[tuple[float, int, int, bytes]] = []
        self.queued_bytes = 0
        self.seq = 0
        # last release time per (in, out) pair keeps each pair's frames in order
        self.last_release = [[0.0] * len(self.ports) for _ in self.ports]
        self.flags: set[str] = set()

    def _read_config(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.config_path.read_text(encoding="utf-8"))
        return data

    def _apply(self, data: dict[str, Any]) -> None:
        for port in self.ports:
            spec = data["ports"].get(port.name, {})
            port.delay = float(spec.get("delay", 0.0))
            port.jitter = float(spec.get("jitter", 0.0))
            port.loss = float(spec.get("loss", 0.0))

    def write_stats(self) -> None:
        if self.stats_path is None:
            return
        stats = {
            "ports": {p.name: dict(p.counters) for p in self.ports},
            "queued_frames": len(self.queue),
            "queued_bytes": self.queued_bytes,
            "time": time.time(),
        }
        tmp = self.stats_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stats, indent=1), encoding="utf-8")
        tmp.replace(self.stats_path)

    # ------------------------------------------------------------------ forwarding
    def _enqueue(self, now: float, src: int, dst: int, frame: bytes) -> None:
        out = self.ports[dst]
        if out.loss and self.rng.random() < out.loss:
            out.counters["lost"] += 1
            return
        inp = self.ports[src]
        delay = inp.delay + out.delay
        if inp.jitter:
            delay += self.rng.gauss(0.0, inp.jitter)
        if out.jitter:
            delay += self.rng.gauss(0.0, out.jitter)
        release = max(now + max(delay, 0.0), self.last_release[src][dst])
        self.last_release[src][dst] = release
        if release <= now and not self.queue:
            self._send(dst, frame)
            return
        if self.queued_bytes + len(frame) > self.limit:
            out.counters["dropped"] += 1
            return
        self.seq += 1
        heapq.heappush(self.queue, (release, self.seq, dst, frame))
        self.queued_bytes += len(frame)

    def _send(self, dst: int, frame: bytes) -> None:
        port = self.ports[dst]
        assert port.sock is not None
        try:
            port.sock.send(frame)
        except OSError as exc:  # ENOBUFS: the tbf queue is full; ENETDOWN: the link is cut
            if exc.errno not in (errno.ENOBUFS, errno.ENETDOWN, errno.ENXIO, errno.EAGAIN):
                raise
            port.counters["dropped"] += 1
            return
        port.counters["tx_frames"] += 1
        port.counters["tx_bytes"] += len(frame) - VNET_HDR_LEN

    def _receive(self, now: float, src: int) -> None:
        port = self.ports[src]
        sock = port.sock
        assert sock is not None
        # the kernel's receive time (CLOCK_REALTIME) on the monotonic clock: a frame's
        # delay counts from when it arrived, not from when this loop got to it
        offset = time.monotonic() - time.time()
        for _ in range(BATCH):
            try:
                frame, ancdata, _flags, address = sock.recvmsg(MAX_FRAME, CMSG_SPACE)
            except BlockingIOError:
                return
            except OSError as exc:  # ENETDOWN once after the port went down (a cut link)
                if exc.errno in (errno.ENETDOWN, errno.ENXIO):
                    return
                raise
            if address[2] == PACKET_OUTGOING or len(frame) < VNET_HDR_LEN + 14:
                continue
            arrival = now
            for level, kind, data in ancdata:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = TIMESPEC.unpack_from(data)
                    arrival = min(sec + nsec * 1e-9 + offset, now)
            port.counters["rx_frames"] += 1
            port.counters["rx_bytes"] += len(frame) - VNET_HDR_LEN
            if port.loss and self.rng.random() < port.loss:
                port.counters["lost"] += 1
                continue
            dst_mac = frame[VNET_HDR_LEN : VNET_HDR_LEN + 6]
            dst = self.by_mac.get(dst_mac)
            if dst is not None:
                if dst != src:
                    self._enqueue(arrival, src, dst, frame)
            else:  # broadcast, multicast or unknown: flood
                for other in range(len(self.ports)):
                    if other != src:
                        self._enqueue(arrival, src, other, frame)

    def _release(self, now: float) -> None:
        queue = self.queue
        while queue and queue[0][0] <= now:
            _, _, dst, frame = heapq.heappop(queue)
            self.queued_bytes -= len(frame)
            self._send(dst, frame)

    # ------------------------------------------------------------------ main loop
    def _on_signal(self, signum: int, _frame: object) -> None:
        self.flags.add(signal.Signals(signum).name)

    def run(self, ready: bool = True) -> int:
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
        for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        poller = select.epoll()
        fd_port: dict[int, int] = {}
        for i, port in enumerate(self.ports):
            sock = port.open()
            poller.register(sock.fileno(), select.EPOLLIN)
            fd_port[sock.fileno()] = i
        poller.register(wake_r.fileno(), select.EPOLLIN)
        if ready:
            print("ready", flush=True)
        clock = time.monotonic
        while True:
            # epoll's timeout has millisecond resolution (rounded up): wait with it until
            # the next release is close, then sleep the rest (nanosleep is precise)
            if self.queue:
                wait = self.queue[0][0] - clock()
                if wait <= SLEEP_BELOW:
                    if wait > 0:
                        time.sleep(wait)
                    timeout = 0.0
                else:
                    timeout = wait - SLEEP_BELOW
            else:
                timeout = 1.0
            events = poller.poll(timeout)
            self._release(clock())
            now = clock()
            for fd, _ in events:
                index = fd_port.get(fd)
                if index is not None:
                    self._receive(now, index)
                else:
                    try:
                        while wake_r.recv(64):
                            pass
                    except BlockingIOError:
                        pass
            if self.queue:
                self._release(clock())
            if self.flags:
                flags, self.flags = self.flags, set()
                if "SIGHUP" in flags:
                    self._apply(self._read_config())
                if flags & {"SIGUSR1", "SIGTERM", "SIGINT"}:
                    self.write_stats()
                if flags & {"SIGTERM", "SIGINT"}:
                    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the forwarder with ``argv`` = ``[CONFIG]``; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m edgeoffload.netem.forwarder CONFIG.json", file=sys.stderr)
        return 2
    # the forwarder is the network: let it preempt the processes it carries traffic for,
    # so that release times hold on a busy machine (needs root, which it has; else no-op)
    with contextlib.suppress(OSError):
        os.nice(NICE)
    try:
        forwarder = Forwarder(Path(args[0]))
        return forwarder.run()
    except (OSError, KeyError, ValueError) as exc:
        print(f"edgeoffload-forwarder: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
