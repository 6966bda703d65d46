"""Build, run processes in, shape, cut and tear down an emulated network.

Layout of a running topology called ``demo``::

    eo-demo-edge      eo-demo-cam1      eo-demo-client      (one namespace per host)
      eth0 10.77.0.1    eth0 10.77.0.2    eth0 10.77.0.5     (static ARP entries for all)
        |                 |                 |
      p-edge            p-cam1            p-client           (veth peers, in the switch)
      '----------- eo-demo-hub: the switch ------------'

The switch is either the kernel's bridge with ``tc netem`` on both ends of every veth
(delay, jitter, loss and rate; the ``netem`` shaper), or, where the kernel has no netem,
the user-space :mod:`~edgeoffload.netem.forwarder` (delay, jitter, loss) with ``tc tbf``
on both veth ends (rate; the ``forwarder`` shaper). Nothing outside these namespaces is
touched: no address, route or interface of the machine itself, and traffic between the
hosts never leaves them.

A *cut* link is the host's switch port set down: frames in either direction are dropped
as if the host went out of radio range, and connections stall until the endpoints give
up (``TCP_USER_TIMEOUT``, keep-alives or an application deadline). ``reset=True`` also
destroys the TCP sockets between that host and the others (``ss -K``, where the kernel
supports it), so both ends see a connection reset at once.

Bookkeeping lives in a state folder per topology (``/run/edgeoffload/netem/NAME`` by
default, ``$EDGEOFFLOAD_NETEM_DIR`` to move it): the topology, the shaper, and the
process that owns it. A topology whose owner died (a crashed test run) is *stale* and
:func:`cleanup_stale` removes it; ``edgeoffload netem up`` makes topologies with no owner,
which stay until ``edgeoffload netem down``.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Literal

from edgeoffload.netem._commands import (
    NetemError,
    check_support,
    ip,
    netem_available,
    run,
    tc,
)
from edgeoffload.netem.topology import LinkSpec, Topology, topology_from_dict

__all__ = [
    "NAMESPACE_PREFIX",
    "EmulatedNetwork",
    "cleanup_stale",
    "list_topologies",
    "remove_all",
    "state_root",
]

NAMESPACE_PREFIX = "eo-"
HOST_IFACE = "eth0"
ETH_OVERHEAD = 14  # bytes of Ethernet header that tbf and netem count on top of the MTU
MTU = 1500  # bytes

ResolvedShaper = Literal["netem", "forwarder"]


def state_root() -> Path:
    """Folder holding one state folder per topology."""
    return Path(os.environ.get("EDGEOFFLOAD_NETEM_DIR", "/run/edgeoffload/netem"))


def _start_time(pid: int) -> int | None:
    """Start time of process ``pid`` in clock ticks since boot, ``None`` if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _alive(pid: int | None, start: int | None) -> bool:
    return pid is not None and _start_time(pid) == start


def _mac(index: int) -> str:
    """Locally administered MAC of host number ``index`` (0-based)."""
    n = index + 1
    return f"02:77:00:00:{n >> 8:02x}:{n & 0xFF:02x}"


def _namespaces_present() -> set[str]:
    out = run(["ip", "netns", "list"], check=False)
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _pids_in(namespace: str) -> list[int]:
    out = run(["ip", "netns", "pids", namespace], check=False)
    return [int(tok) for tok in out.split() if tok.isdigit()]


def _signal_pids(pids: Sequence[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _kill_namespace_processes(namespaces: Sequence[str], grace: float = 3.0) -> None:
    """Stop every process inside our ``namespaces``: SIGTERM, then SIGKILL after ``grace``."""
    present = _namespaces_present()
    targets = [ns for ns in namespaces if ns in present]
    pids = [pid for ns in targets for pid in _pids_in(ns)]
    if not pids:
        return
    _signal_pids(pids, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        pids = [pid for ns in targets for pid in _pids_in(ns)]
        if not pids:
            return
        time.sleep(0.05)
    _signal_pids(pids, signal.SIGKILL)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_pids_in(ns) for ns in targets):
        time.sleep(0.05)


def _delete_namespaces(namespaces: Sequence[str]) -> list[str]:
    """Delete those of ``namespaces`` that exist; return the ones that could not be."""
    present = _namespaces_present()
    failed = []
    for ns in namespaces:
        if ns in present:
            try:
                run(["ip", "netns", "del", ns])
            except NetemError:
                failed.append(ns)
    return failed


class EmulatedNetwork:
    """A running (or to-be-built) emulated network of a :class:`Topology`.

    Parameters
    ----------
    topology
        What to build.
    cleanup_at_exit
        Tear the network down when this Python process exits (default ``True``); the
        command line's ``up`` passes ``False`` so the network outlives it.
    shaper
        Override of ``topology.shaper``.

    Examples
    --------
    >>> from edgeoffload.netem import EmulatedNetwork, LinkSpec, camera_cluster_topology
    >>> topo = camera_cluster_topology("doc", client_link=LinkSpec(6.25e6, 0.02))
    >>> with EmulatedNetwork(topo) as net:  # doctest: +SKIP
    ...     server = net.popen("edge", ["python3", "-m", "http.server", "8000"])
    ...     net.run("client", ["curl", f"http://{net.address('edge')}:8000/"])
    ...     with net.cut_link("client"):
    ...         ...  # the client is unreachable here
    """

    def __init__(
        self,
        topology: Topology,
        *,
        cleanup_at_exit: bool = True,
        shaper: Literal["auto", "netem", "forwarder"] | None = None,
    ) -> None:
        self.topology = topology
        self.cleanup_at_exit = cleanup_at_exit
        self._requested_shaper = shaper or topology.shaper
        self.shaper: ResolvedShaper | None = None
        self._processes: list[subprocess.Popen[Any]] = []
        self._forwarder: subprocess.Popen[bytes] | None = None
        self._forwarder_pid: int | None = None
        self._owned = True
        self._is_up = False

    # ------------------------------------------------------------------ names
    @property
    def name(self) -> str:
        """The topology's name."""
        return self.topology.name

    @property
    def state_dir(self) -> Path:
        """This topology's state folder."""
        return state_root() / self.name

    @property
    def hub(self) -> str:
        """Namespace of the switch."""
        return f"{NAMESPACE_PREFIX}{self.name}-hub"

    def namespace(self, host: str) -> str:
        """Namespace of ``host`` (``eo-<topology>-<host>``)."""
        self.topology.host(host)
        return f"{NAMESPACE_PREFIX}{self.name}-{host}"

    def address(self, host: str) -> str:
        """IPv4 address of ``host``."""
        return self.topology.address(host)

    def port(self, host: str) -> str:
        """Name of ``host``'s port in the switch namespace."""
        self.topology.host(host)
        return f"p-{host}"

    @property
    def namespaces(self) -> list[str]:
        """Every namespace of this topology, hosts first, the switch last."""
        return [self.namespace(h.name) for h in self.topology.hosts] + [self.hub]

    # ------------------------------------------------------------------ state
    def _write_state(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        owner = os.getpid() if self.cleanup_at_exit else None
        state = {
            "topology": self.topology.to_dict(),
            "shaper": self.shaper,
            "owner": owner,
            "owner_start": _start_time(owner) if owner else None,
            "forwarder_pid": self._forwarder_pid,
            "namespaces": self.namespaces,
            "created": time.time(),
        }
        tmp = self.state_dir / "state.json.tmp"
        tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
        tmp.replace(self.state_dir / "state.json")

    @classmethod
    def attach(cls, name: str) -> EmulatedNetwork:
        """The running topology ``name`` (built by another process, e.g. ``netem up``).

        The returned object can cut, restore and re-shape links, run processes and tear
        the network down; it does not tear it down at exit.

        Raises
        ------
        NetemError
            If no topology of that name is up.
        """
        path = state_root() / name / "state.json"
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise NetemError(f"no emulated network called {name!r} is up") from None
        net = cls(topology_from_dict(state["topology"]), cleanup_at_exit=False)
        net.shaper = state["shaper"]
        net._forwarder_pid = state.get("forwarder_pid")
        net._owned = False
        net._is_up = True
        return net

    # ------------------------------------------------------------------ up / down
    def __enter__(self) -> EmulatedNetwork:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    def up(self) -> EmulatedNetwork:
        """Build the namespaces, links and switch; returns ``self``.

        Raises
        ------
        NetemError
            If the machine does not allow it (the message says why), or a topology of the
            same name is already up and its owner is alive. A half-built network is torn
            down before the error propagates.
        """
        if self._is_up:
            return self
        reason = check_support()
        if reason is not None:
            raise NetemError(reason)
        self._clear_previous()
        if self._requested_shaper == "auto":
            self.shaper = "netem" if netem_available() else "forwarder"
        elif self._requested_shaper == "netem" and not netem_available():
            raise NetemError(
                "this kernel has no netem qdisc ('Specified qdisc kind is unknown'); "
                "use shaper 'forwarder' or 'auto'"
            )
        else:
            self.shaper = self._requested_shaper
        self._write_state()
        if self.cleanup_at_exit:
            atexit.register(self.down)
        self._is_up = True
        try:
            self._build()
        except BaseException:
            self.down()
            raise
        return self

    def _clear_previous(self) -> None:
        path = self.state_dir / "state.json"
        if path.exists():
            try:
                state = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                state = {}
            owner, start = state.get("owner"), state.get("owner_start")
            if owner is None or _alive(owner, start):
                who = "kept by 'netem up'" if owner is None else f"owned by pid {owner}"
                raise NetemError(
                    f"an emulated network called {self.name!r} is already up ({who}); "
                    f"run 'edgeoffload netem down {self.name}' first"
                )
        stale = [ns for ns in self.namespaces if ns in _namespaces_present()]
        if stale:
            _kill_namespace_processes(stale)
            _delete_namespaces(stale)

    def _build(self) -> None:
        topo = self.topology
        hub = self.hub
        self._new_namespace(hub)
        if self.shaper == "netem":
            ip("link", "add", "br0", "type", "bridge", netns=hub)
            ip("link", "set", "br0", "up", netns=hub)
        gso = ["gso_max_segs", "1"] if self.shaper == "forwarder" else []
        for index, host in enumerate(topo.hosts):
            ns = self.namespace(host.name)
            port = self.port(host.name)
            self._new_namespace(ns)
            ip(
                "link", "add", HOST_IFACE, "address", _mac(index), "mtu", str(MTU), *gso,
                "type", "veth", "peer", "name", port, "netns", hub, "mtu", str(MTU), *gso,
                netns=ns,
            )  # fmt: skip
            ip("addr", "add", f"{host.address}/{topo.prefixlen}", "dev", HOST_IFACE, netns=ns)
            ip("link", "set", HOST_IFACE, "up", netns=ns)
            if self.shaper == "netem":
                ip("link", "set", port, "master", "br0", netns=hub)
            ip("link", "set", port, "up", netns=hub)
        for host in topo.hosts:
            ns = self.namespace(host.name)
            for index, other in enumerate(topo.hosts):
                if other.name != host.name:
                    ip(
                        "neigh", "replace", other.address, "lladdr", _mac(index),
                        "dev", HOST_IFACE, "nud", "permanent", netns=ns,
                    )  # fmt: skip
        for host in topo.hosts:
            self._shape(host.name, host.link)
        if self.shaper == "forwarder":
            self._start_forwarder()
        self._write_state()

    def _new_namespace(self, ns: str) -> None:
        run(["ip", "netns", "add", ns])
        ip("link", "set", "lo", "up", netns=ns)
        # no IPv6: no router solicitations or DAD frames crossing the links
        run(
            [
                "ip", "netns", "exec", ns, "sh", "-c",
                "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; "
                "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6",
            ],
            check=False,
        )  # fmt: skip

    def down(self) -> None:
        """Stop every process in the namespaces and delete them (idempotent).

        Raises
        ------
        NetemError
            If a namespace could not be deleted (it is named).
        """
        with contextlib.suppress(Exception):
            atexit.unregister(self.down)
        for proc in self._processes:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 3.0
        for proc in self._processes:
            try:
                proc.wait(max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self._processes.clear()
        _kill_namespace_processes(self.namespaces)
        if self._forwarder is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._forwarder.wait(1)
            self._forwarder = None
        failed = _delete_namespaces(self.namespaces)
        self._is_up = False
        if failed:
            raise NetemError(f"could not delete namespaces {', '.join(failed)}")
        with contextlib.suppress(OSError):
            for child in self.state_dir.iterdir():
                child.unlink()
            self.state_dir.rmdir()

    # ------------------------------------------------------------------ shaping
    def _forwarder_config(self) -> dict[str, Any]:
        ports = {
            h.name: {
                "iface": self.port(h.name),
                "mac": _mac(i),
                "delay": h.link.delay,
                "jitter": h.link.jitter,
                "loss": h.link.loss,
            }
            for i, h in enumerate(self.topology.hosts)
        }
        return {
            "seed": self.topology.seed,
            "limit": 32 * 1024 * 1024,
            "stats": str(self.state_dir / "forwarder-stats.json"),
            "ports": ports,
        }

    def _write_forwarder_config(self) -> Path:
        path = self.state_dir / "forwarder.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._forwarder_config(), indent=1), encoding="utf-8")
        tmp.replace(path)
        return path

    def _start_forwarder(self) -> None:
        config = self._write_forwarder_config()
        log = (self.state_dir / "forwarder.log").open("wb")
        # run as a script in isolated mode: it needs only the standard library
        script = str(Path(__file__).resolve().with_name("forwarder.py"))
        argv = ["ip", "netns", "exec", self.hub, sys.executable, "-I", script, str(config)]
        self._forwarder = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=log, start_new_session=True
        )
        log.close()
        self._forwarder_pid = self._forwarder.pid
        if not _wait_line(self._forwarder.stdout, "ready", 20.0):
            self._forwarder.kill()
            self._forwarder.wait(5)
            text = (self.state_dir / "forwarder.log").read_text(errors="replace").strip()
            raise NetemError(f"the forwarder did not start: {text.splitlines()[-1:] or '?'}")

    def _shape(self, host: str, link: LinkSpec) -> None:
        """Apply ``link``'s figures to both ends of ``host``'s veth pair (kernel part)."""
        ends = ((self.namespace(host), HOST_IFACE), (self.hub, self.port(host)))
        for ns, dev in ends:
            tc("qdisc", "del", "dev", dev, "root", netns=ns, check=False)
            args = self._qdisc_args(link)
            if args:
                tc("qdisc", "replace", "dev", dev, "root", *args, netns=ns)

    def _qdisc_args(self, link: LinkSpec) -> list[str]:
        frame = MTU + ETH_OVERHEAD
        if self.shaper == "netem":
            args: list[str] = []
            if link.delay or link.jitter:
                args += ["delay", f"{link.delay * 1e6:.0f}us"]
                if link.jitter:
                    args += [f"{link.jitter * 1e6:.0f}us", "distribution", "normal"]
            if link.loss:
                args += ["loss", f"{link.loss * 100:.6f}%"]
            if link.bandwidth:
                args += ["rate", f"{round(link.bandwidth * 8)}bit"]
            if not args:
                return []
            in_flight = (link.delay + 3 * link.jitter + link.queue) * (link.bandwidth or 0)
            return ["netem", *args, "limit", str(max(1000, int(in_flight / frame) + 1))]
        if link.bandwidth is None:
            return []
        burst = max(4 * frame, int(link.bandwidth * 0.002))
        limit = max(2 * burst, int(link.bandwidth * link.queue))
        rate = f"{round(link.bandwidth * 8)}bit"
        return ["tbf", "rate", rate, "burst", str(burst), "limit", str(limit)]

    def set_link(self, host: str, link: LinkSpec) -> None:
        """Change ``host``'s link figures while the network runs."""
        self._require_up()
        self.topology = self.topology.with_link(host, link)
        self._shape(host, link)
        if self.shaper == "forwarder":
            self._write_forwarder_config()
            self._signal_forwarder(signal.SIGHUP)
        self._write_state()

    def _forwarder_alive(self) -> int:
        pid = self._forwarder_pid
        if pid is None or pid not in _pids_in(self.hub):
            raise NetemError(f"the forwarder of {self.name!r} is not running")
        return pid

    def _signal_forwarder(self, sig: int) -> None:
        os.kill(self._forwarder_alive(), sig)

    def forwarder_stats(self, timeout: float = 5.0) -> dict[str, Any]:
        """The forwarder's counters per port (frames, bytes, ``lost``, ``dropped``).

        Raises
        ------
        NetemError
            With the ``netem`` shaper (there is no forwarder), or if it does not answer.
        """
        self._require_up()
        if self.shaper != "forwarder":
            raise NetemError("the kernel's netem shapes this network; there is no forwarder")
        path = self.state_dir / "forwarder-stats.json"
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self._signal_forwarder(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(FileNotFoundError, ValueError):
                stats: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
                return stats
            time.sleep(0.02)
        raise NetemError("the forwarder did not write its counters")

    # ------------------------------------------------------------------ cutting links
    def cut(self, host: str, *, reset: bool = False) -> None:
        """Cut ``host``'s link: every frame to and from it is dropped until :meth:`restore`.

        Parameters
        ----------
        host
            The host to disconnect.
        reset
            Also destroy the TCP sockets between ``host`` and the others (``ss -K``), so
            both ends fail at once instead of waiting for a timeout.

        Raises
        ------
        NetemError
            If ``reset`` is asked and the kernel cannot destroy sockets.
        """
        self._require_up()
        ip("link", "set", self.port(host), "down", netns=self.hub)
        if reset:
            self._destroy_sockets(host)

    def restore(self, host: str) -> None:
        """Reconnect ``host`` after :meth:`cut`."""
        self._require_up()
        ip("link", "set", self.port(host), "up", netns=self.hub)

    @contextlib.contextmanager
    def cut_link(self, host: str, *, reset: bool = False) -> Iterator[None]:
        """Context manager: ``host`` is cut inside the block and restored after it."""
        self.cut(host, reset=reset)
        try:
            yield
        finally:
            self.restore(host)

    def _destroy_sockets(self, host: str) -> None:
        address = self.address(host)
        killed = run(
            ["ip", "netns", "exec", self.namespace(host), "ss", "-K", "-t", "-n"], check=False
        )
        for other in self.topology.hosts:
            if other.name != host:
                run(
                    [
                        "ip", "netns", "exec", self.namespace(other.name),
                        "ss", "-K", "-t", "-n", "dst", address,
                    ],
                    check=False,
                )  # fmt: skip
        if "Operation not supported" in killed:
            raise NetemError("this kernel cannot destroy sockets (CONFIG_INET_DIAG_DESTROY)")

    # ------------------------------------------------------------------ processes
    def _require_up(self) -> None:
        if not self._is_up:
            raise NetemError(f"the emulated network {self.name!r} is not up")

    def command(self, host: str, argv: Sequence[str]) -> list[str]:
        """``argv`` wrapped to run inside ``host``'s namespace."""
        return ["ip", "netns", "exec", self.namespace(host), *argv]

    def popen(self, host: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``argv`` inside ``host``'s namespace; it is stopped by :meth:`down`.

        Keyword arguments go to :class:`subprocess.Popen`; the process gets its own
        session (so its children are stopped with it) unless ``start_new_session=False``.
        """
        self._require_up()
        kwargs.setdefault("start_new_session", True)
        proc: subprocess.Popen[Any] = subprocess.Popen(self.command(host, argv), **kwargs)
        self._processes.append(proc)
        return proc

    def run(
        self, host: str, argv: Sequence[str], *, timeout: float = 60.0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside ``host``'s namespace to completion; stdout and stderr as text.

        Raises
        ------
        NetemError
            If it fails (with ``check``) or takes longer than ``timeout`` seconds.
        """
        self._require_up()
        try:
            proc = subprocess.run(
                self.command(host, argv),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise NetemError(f"{' '.join(argv)} in {host} took over {timeout:g} s") from None
        if check and proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["failed"])[-1]
            raise NetemError(f"{' '.join(argv)} in {host}: {tail}")
        return proc


def _wait_line(stream: IO[bytes] | None, expected: str, timeout: float) -> bool:
    """Read lines from ``stream`` until one equals ``expected``; ``False`` on EOF/timeout."""
    if stream is None:
        return False
    deadline = time.monotonic() + timeout
    buffer = b""
    fd = stream.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            return False
        chunk = os.read(fd, 4096)
        if not chunk:
            return False
        buffer += chunk
        if expected.encode() in buffer.splitlines():
            return True
    return False


def list_topologies() -> list[dict[str, Any]]:
    """Every topology with a state folder: name, shaper, owner, alive, namespaces present."""
    root = state_root()
    present = _namespaces_present() if os.geteuid() == 0 else set()
    out = []
    for path in sorted(root.glob("*/state.json")) if root.is_dir() else []:
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        owner = state.get("owner")
        out.append(
            {
                "name": path.parent.name,
                "shaper": state.get("shaper"),
                "owner": owner,
                "stale": owner is not None and not _alive(owner, state.get("owner_start")),
                "hosts": list(state.get("topology", {}).get("hosts", {})),
                "namespaces": [ns for ns in state.get("namespaces", []) if ns in present],
            }
        )
    return out


def cleanup_stale() -> list[str]:
    """Tear down every topology whose owning process is gone; return their names.

    Topologies made by ``edgeoffload netem up`` (no owner) and those of live processes
    (another test run on the same machine) are left alone.
    """
    removed = []
    for entry in list_topologies():
        if entry["stale"]:
            _remove(entry["name"])
            removed.append(entry["name"])
    return removed


def _remove(name: str) -> None:
    path = state_root() / name / "state.json"
    try:
        state: Mapping[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        namespaces = list(state.get("namespaces", []))
    except (OSError, ValueError):
        namespaces = [ns for ns in _namespaces_present() if ns.startswith(f"eo-{name}-")]
    _kill_namespace_processes(namespaces)
    failed = _delete_namespaces(namespaces)
    if failed:
        raise NetemError(f"could not delete namespaces {', '.join(failed)}")
    with contextlib.suppress(OSError):
        for child in path.parent.iterdir():
            child.unlink()
        path.parent.rmdir()


def remove_all() -> list[str]:
    """Remove every namespace whose name starts with ``eo-`` and every state folder.

    For a machine where runs crashed without their bookkeeping: it also stops topologies
    that other live processes (a concurrent test run) are using. Returns what it deleted.
    """
    names = [entry["name"] for entry in list_topologies()]
    for name in names:
        _remove(name)
    leftovers = sorted(ns for ns in _namespaces_present() if ns.startswith(NAMESPACE_PREFIX))
    _kill_namespace_processes(leftovers)
    failed = _delete_namespaces(leftovers)
    if failed:
        raise NetemError(f"could not delete namespaces {', '.join(failed)}")
    return names + leftovers
