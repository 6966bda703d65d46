"""Emulated-network topologies: hosts on one switch, each behind its own access link.

A topology is a star: every host (a network namespace) reaches a central switch through
one access link, and the link's figures apply in both directions. A packet from host A to
host B crosses A's link and then B's link, so between two hosts

- one-way delay = delay(A) + delay(B), round trip twice that;
- bandwidth = min(bandwidth(A), bandwidth(B));
- loss = 1 − (1 − loss(A)) (1 − loss(B)) per packet and direction.

This is how a Wi-Fi cell looks from the hosts (cameras on the air, the edge server wired to
the access point), and :meth:`Topology.link_between` gives the same pair figures as a
:class:`~edgeoffload.model.Link` for the cost model.

Topology files are YAML::

    name: demo                 # namespaces are called eo-demo-<host>
    subnet: 10.77.0.0/24       # private; every host gets an address in it
    seed: 1                    # seeds the emulated loss and jitter
    shaper: auto               # auto | netem | forwarder
    hosts:
      edge:   {link: {preset: ethernet}}
      cam1:   {link: {bandwidth: 50Mbit/s, delay: 20ms, loss: 0.5%}}
      client: {address: 10.77.0.50, link: {preset: wifi-ac, jitter: 1ms}}

Numbers are SI (bandwidth in bytes/s, delay and jitter in seconds, loss a probability);
strings may carry units (``50Mbit/s``, ``6MB/s``, ``20ms``, ``1%``). A link ``preset``
(``wifi-n``, ``wifi-ac``, ``ethernet``; see :mod:`edgeoffload.workloads.devices`) fills
``bandwidth`` and ``delay``, and keys given next to it override it.

:func:`load_topology` also takes the name of a built-in topology
(:data:`BUILTIN_TOPOLOGIES`): ``camera-cluster`` is :func:`camera_cluster_topology`.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from edgeoffload.errors import ModelError
from edgeoffload.model import Link

__all__ = [
    "BUILTIN_TOPOLOGIES",
    "DEFAULT_SUBNET",
    "SHAPERS",
    "HostSpec",
    "LinkSpec",
    "Shaper",
    "Topology",
    "camera_cluster_topology",
    "load_topology",
    "parse_bandwidth",
    "parse_duration",
    "parse_loss",
    "topology_from_dict",
]

DEFAULT_SUBNET = "10.77.0.0/24"
Shaper = Literal["auto", "netem", "forwarder"]
SHAPERS: tuple[Shaper, ...] = ("auto", "netem", "forwarder")
BUILTIN_TOPOLOGIES: tuple[str, ...] = ("camera-cluster",)
"""Names :func:`load_topology` accepts instead of a file: ``camera-cluster`` is
``camera_cluster_topology("demo")``."""

_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
_HOST = re.compile(r"^[a-z][a-z0-9-]{0,11}$")
_RESERVED_HOSTS = frozenset({"hub"})

_RATE_UNITS = {  # multiplier to bytes/s
    "bit/s": 1 / 8,
    "kbit/s": 1e3 / 8,
    "mbit/s": 1e6 / 8,
    "gbit/s": 1e9 / 8,
    "b/s": 1.0,
    "kb/s": 1e3,
    "mb/s": 1e6,
    "gb/s": 1e9,
}
_TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6}
_NUMBER_UNIT = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Zµ/%]*)\s*$")


def _split(text: str, where: str) -> tuple[float, str]:
    match = _NUMBER_UNIT.match(text)
    if match is None:
        raise ModelError(f"cannot read {text!r} as a number with a unit", where)
    return float(match.group(1)), match.group(2)


def parse_bandwidth(value: object, where: str = "bandwidth") -> float | None:
    """Bandwidth in bytes/s from a number (bytes/s) or a string with a unit.

    Units: ``bit/s``, ``kbit/s``, ``Mbit/s``, ``Gbit/s`` (decimal, the ``/s`` optional) and
    ``B/s``, ``kB/s``, ``MB/s``, ``GB/s``. ``None`` (or ``unlimited``) means no limit.

    Examples
    --------
    >>> parse_bandwidth("50Mbit/s")
    6250000.0
    >>> parse_bandwidth(1.25e6)
    1250000.0
    """
    if value is None or value == "unlimited":
        return None
    if isinstance(value, bool):
        raise ModelError(f"expected a bandwidth, got {value!r}", where)
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        number, unit = _split(value, where)
        key = unit.lower()
        if key.endswith("bit"):
            key += "/s"
        if key not in _RATE_UNITS:
            known = "bit/s, kbit/s, Mbit/s, Gbit/s, B/s, kB/s, MB/s, GB/s"
            raise ModelError(f"unknown bandwidth unit {unit!r} (use one of {known})", where)
        number *= _RATE_UNITS[key]
    else:
        raise ModelError(f"expected a bandwidth, got {value!r}", where)
    if not math.isfinite(number) or number <= 0:
        raise ModelError(f"bandwidth must be positive and finite, got {value!r}", where)
    return number


def parse_duration(value: object, where: str = "delay") -> float:
    """Duration in seconds from a number (seconds) or a string (``20ms``, ``1.5s``, ``300us``).

    Examples
    --------
    >>> parse_duration("20ms")
    0.02
    """
    if isinstance(value, bool):
        raise ModelError(f"expected a duration, got {value!r}", where)
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        number, unit = _split(value, where)
        if unit not in _TIME_UNITS:
            raise ModelError(f"unknown time unit {unit!r} (use s, ms or us)", where)
        number *= _TIME_UNITS[unit]
    else:
        raise ModelError(f"expected a duration, got {value!r}", where)
    if not math.isfinite(number) or number < 0 or number > 60:
        raise ModelError(f"duration must be between 0 and 60 s, got {value!r}", where)
    return number


def parse_loss(value: object, where: str = "loss") -> float:
    """Loss probability from a number in [0, 1) or a percentage string (``0.5%``).

    Examples
    --------
    >>> parse_loss("2%")
    0.02
    """
    if isinstance(value, bool):
        raise ModelError(f"expected a loss probability, got {value!r}", where)
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        number, unit = _split(value, where)
        if unit != "%":
            raise ModelError(f"write loss as a probability or a percentage, not {value!r}", where)
        number /= 100.0
    else:
        raise ModelError(f"expected a loss probability, got {value!r}", where)
    if not 0.0 <= number < 1.0:
        hint = " (a percentage needs the % sign)" if number >= 1.0 else ""
        raise ModelError(f"loss must be in [0, 1), got {value!r}{hint}", where)
    return number


@dataclass(frozen=True, slots=True)
class LinkSpec:
    """One host's access link to the switch; its figures apply in both directions.

    Parameters
    ----------
    bandwidth
        Rate limit, bytes/s, counted on Ethernet frames; ``None`` (default): unlimited.
    delay
        One-way delay added to every packet, seconds (default 0).
    jitter
        Standard deviation of a normal variation of the delay, seconds (default 0).
        The forwarder keeps packets in order; the kernel's netem may reorder them.
    loss
        Probability that a packet is dropped, per packet and direction (default 0).
    queue
        Buffering in front of the rate limit, seconds of traffic at ``bandwidth``
        (default 0.1 s); packets beyond it are dropped, as a full router queue would.
    """

    bandwidth: float | None = None
    delay: float = 0.0
    jitter: float = 0.0
    loss: float = 0.0
    queue: float = 0.1

    def __post_init__(self) -> None:
        if self.bandwidth is not None and not (
            math.isfinite(self.bandwidth) and self.bandwidth > 0
        ):
            raise ModelError(f"must be positive, got {self.bandwidth!r}", "link.bandwidth")
        for name in ("delay", "jitter"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 <= value <= 60):
                raise ModelError(f"must be between 0 and 60 s, got {value!r}", f"link.{name}")
        if not 0.0 <= self.loss < 1.0:
            raise ModelError(f"must be in [0, 1), got {self.loss!r}", "link.loss")
        if not (math.isfinite(self.queue) and 0 < self.queue <= 10):
            raise ModelError(f"must be in (0, 10] s, got {self.queue!r}", "link.queue")

    def to_dict(self) -> dict[str, float | None]:
        """The figures as plain numbers (bytes/s, seconds, probability)."""
        return {
            "bandwidth": self.bandwidth,
            "delay": self.delay,
            "jitter": self.jitter,
            "loss": self.loss,
            "queue": self.queue,
        }


@dataclass(frozen=True, slots=True)
class HostSpec:
    """An emulated host: a network namespace with one address behind one access link.

    Parameters
    ----------
    name
        Host name: lower-case letters, digits and ``-``, at most 12 characters.
    address
        IPv4 address inside the topology's subnet.
    link
        The host's access link.
    """

    name: str
    address: str
    link: LinkSpec = field(default_factory=LinkSpec)


@dataclass(frozen=True, slots=True)
class Topology:
    """Hosts on one emulated switch.

    Parameters
    ----------
    name
        Topology name, lower-case letters and digits, at most 12 characters; namespaces
        are called ``eo-<name>-<host>`` and ``eo-<name>-hub`` (the switch).
    hosts
        The hosts, in order.
    subnet
        Private IPv4 subnet the addresses are in (default ``10.77.0.0/24``).
    seed
        Seed of the emulated loss and jitter (the user-space forwarder only; the kernel's
        netem cannot be seeded).
    shaper
        ``"netem"`` (kernel bridge + tc netem), ``"forwarder"`` (user-space switch + tc
        tbf) or ``"auto"`` (netem where the kernel has it; the default).
    """

    name: str
    hosts: tuple[HostSpec, ...]
    subnet: str = DEFAULT_SUBNET
    seed: int = 0
    shaper: Shaper = "auto"

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ModelError(
                f"topology name {self.name!r} must be 1-12 lower-case letters and digits, "
                "starting with a letter",
                "name",
            )
        if self.shaper not in SHAPERS:
            raise ModelError(f"must be one of {', '.join(SHAPERS)}, got {self.shaper!r}", "shaper")
        try:
            net = ipaddress.IPv4Network(self.subnet)
        except ValueError as exc:
            raise ModelError(f"not an IPv4 subnet: {exc}", "subnet") from None
        if not net.is_private or net.prefixlen > 29:
            raise ModelError(
                f"{self.subnet} must be a private subnet of at least 8 addresses "
                "(traffic never leaves this machine, and the addresses must not collide "
                "with real ones)",
                "subnet",
            )
        if not self.hosts:
            raise ModelError("a topology needs at least one host", "hosts")
        seen_names: set[str] = set()
        seen_addresses: set[str] = set()
        for host in self.hosts:
            where = f"hosts.{host.name}"
            if not _HOST.match(host.name) or host.name in _RESERVED_HOSTS:
                raise ModelError(
                    "host names are 1-12 lower-case letters, digits and '-', starting with "
                    "a letter, and not 'hub'",
                    where,
                )
            if host.name in seen_names:
                raise ModelError("duplicate host", where)
            seen_names.add(host.name)
            try:
                address = ipaddress.IPv4Address(host.address)
            except ValueError:
                raise ModelError(f"not an IPv4 address: {host.address!r}", where) from None
            if address not in net or address in (net.network_address, net.broadcast_address):
                raise ModelError(f"{host.address} is not a host address of {net}", where)
            if host.address in seen_addresses:
                raise ModelError(f"address {host.address} is used twice", where)
            seen_addresses.add(host.address)

    @property
    def prefixlen(self) -> int:
        """Prefix length of :attr:`subnet`."""
        return ipaddress.IPv4Network(self.subnet).prefixlen

    def host(self, name: str) -> HostSpec:
        """The host called ``name``.

        Raises
        ------
        ModelError
            If there is none; the message lists the hosts.
        """
        for host in self.hosts:
            if host.name == name:
                return host
        known = ", ".join(h.name for h in self.hosts)
        raise ModelError(f"no host {name!r} in topology {self.name!r} (hosts: {known})", "host")

    def address(self, name: str) -> str:
        """IPv4 address of host ``name``."""
        return self.host(name).address

    def with_link(self, name: str, link: LinkSpec) -> Topology:
        """A copy where host ``name`` has ``link``."""
        self.host(name)
        hosts = tuple(replace(h, link=link) if h.name == name else h for h in self.hosts)
        return replace(self, hosts=hosts)

    def link_between(self, a: str, b: str) -> Link:
        """The path between hosts ``a`` and ``b`` as a cost-model :class:`Link`.

        Bandwidth is the smaller of the two access links' (unlimited counts as 10 Gbit/s)
        and latency is the sum of their one-way delays.

        Examples
        --------
        >>> topo = camera_cluster_topology("doc", camera_link=LinkSpec(6.25e6, 0.02))
        >>> link = topo.link_between("cam1", "edge")
        >>> link.bandwidth, link.latency
        (6250000.0, 0.02)
        """
        la, lb = self.host(a).link, self.host(b).link
        unlimited = 10e9 / 8
        bandwidth = min(la.bandwidth or unlimited, lb.bandwidth or unlimited)
        return Link(bandwidth, la.delay + lb.delay)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (SI numbers) that :func:`topology_from_dict` reads back."""
        return {
            "name": self.name,
            "subnet": self.subnet,
            "seed": self.seed,
            "shaper": self.shaper,
            "hosts": {h.name: {"address": h.address, "link": h.link.to_dict()} for h in self.hosts},
        }


_LINK_KEYS = frozenset({"preset", "bandwidth", "delay", "jitter", "loss", "queue"})
_HOST_KEYS = frozenset({"address", "link"})
_TOP_KEYS = frozenset({"name", "subnet", "seed", "shaper", "hosts", "format"})


def _check_keys(data: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    for key in data:
        if not isinstance(key, str):
            raise ModelError(f"keys must be strings, got {key!r}", where)
        if key.startswith("_"):
            continue
        if key not in allowed:
            raise ModelError(
                f"unknown key {key!r} (known: {', '.join(sorted(allowed))})",
                where,
            )


def _link_from_dict(data: object, where: str) -> LinkSpec:
    if data is None:
        return LinkSpec()
    if not isinstance(data, Mapping):
        raise ModelError("a link is a mapping of bandwidth, delay, jitter, loss, queue", where)
    _check_keys(data, _LINK_KEYS, where)
    bandwidth: float | None = None
    delay = 0.0
    if "preset" in data:
        from edgeoffload.workloads.devices import link_preset

        try:
            preset = link_preset(str(data["preset"]))
        except ModelError as exc:
            raise ModelError(exc.reason, f"{where}.preset") from None
        bandwidth, delay = preset.bandwidth, preset.latency
    if "bandwidth" in data:
        bandwidth = parse_bandwidth(data["bandwidth"], f"{where}.bandwidth")
    if "delay" in data:
        delay = parse_duration(data["delay"], f"{where}.delay")
    jitter = parse_duration(data.get("jitter", 0.0), f"{where}.jitter")
    loss = parse_loss(data.get("loss", 0.0), f"{where}.loss")
    queue = parse_duration(data.get("queue", 0.1), f"{where}.queue")
    try:
        return LinkSpec(bandwidth, delay, jitter, loss, queue if queue > 0 else 0.1)
    except ModelError as exc:
        raise ModelError(exc.reason, where) from None


def topology_from_dict(data: object) -> Topology:
    """A :class:`Topology` from parsed YAML/JSON (see the module docstring for the format).

    Hosts without an ``address`` get the subnet's addresses in order, skipping the ones
    given explicitly.

    Raises
    ------
    ModelError
        Naming the key or value that is wrong.
    """
    if not isinstance(data, Mapping):
        raise ModelError("a topology is a mapping with 'name' and 'hosts'", "topology")
    _check_keys(data, _TOP_KEYS, "topology")
    if data.get("format", 1) != 1:
        raise ModelError(f"unsupported format {data['format']!r} (this reads 1)", "format")
    name = data.get("name")
    if not isinstance(name, str):
        raise ModelError("missing or not a string", "name")
    subnet = str(data.get("subnet", DEFAULT_SUBNET))
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ModelError(f"must be a non-negative integer, got {seed!r}", "seed")
    shaper = data.get("shaper", "auto")
    if shaper not in SHAPERS:
        raise ModelError(f"must be one of {', '.join(SHAPERS)}, got {shaper!r}", "shaper")
    hosts_data = data.get("hosts")
    if not isinstance(hosts_data, Mapping) or not hosts_data:
        raise ModelError("a non-empty mapping of host name to host", "hosts")
    try:
        net = ipaddress.IPv4Network(subnet)
    except ValueError as exc:
        raise ModelError(f"not an IPv4 subnet: {exc}", "subnet") from None
    explicit = {
        str(h["address"])
        for h in hosts_data.values()
        if isinstance(h, Mapping) and h.get("address") is not None
    }
    free = (str(a) for a in net.hosts() if str(a) not in explicit)
    hosts: list[HostSpec] = []
    for host_name, host_data in hosts_data.items():
        where = f"hosts.{host_name}"
        host_data = {} if host_data is None else host_data
        if not isinstance(host_data, Mapping):
            raise ModelError("a host is a mapping with 'link' and optionally 'address'", where)
        _check_keys(host_data, _HOST_KEYS, where)
        address = host_data.get("address")
        if address is None:
            address = next(free, None)
            if address is None:
                raise ModelError(f"no free address left in {net}", where)
        link = _link_from_dict(host_data.get("link"), f"{where}.link")
        hosts.append(HostSpec(str(host_name), str(address), link))
    return Topology(name, tuple(hosts), subnet=subnet, seed=seed, shaper=shaper)


def load_topology(path: str | Path) -> Topology:
    """Read a topology YAML (or JSON) file, or make a built-in topology by name.

    Parameters
    ----------
    path
        A topology file, or one of :data:`BUILTIN_TOPOLOGIES` (``"camera-cluster"``: the
        topology :func:`camera_cluster_topology` makes, named ``demo``). A path that exists
        is read as a file, even when it is spelled like a built-in name.

    Raises
    ------
    ProblemFileError
        If the file is missing, not a regular file, too large, or not strict YAML.
    ModelError
        If its content is invalid (the message names the key).

    Examples
    --------
    >>> load_topology("camera-cluster") == camera_cluster_topology("demo")
    True
    """
    from edgeoffload.model.reading import located, parse_yaml, read_text

    if str(path) in BUILTIN_TOPOLOGIES and not Path(path).exists():
        return camera_cluster_topology("demo")
    path = Path(path)
    return located(
        path, parse_yaml(read_text(path, what="topology file"), str(path)), topology_from_dict
    )


def camera_cluster_topology(
    name: str = "demo",
    *,
    cameras: int = 3,
    camera_link: LinkSpec | None = None,
    edge_link: LinkSpec | None = None,
    client_link: LinkSpec | None = None,
    seed: int = 0,
    shaper: Shaper = "auto",
) -> Topology:
    """The small DHS-like cluster: an edge server, ``cameras`` cameras and a client.

    Hosts are ``edge`` (the Dask scheduler and the edge worker; ``10.77.0.1``),
    ``cam1`` … ``camN`` and ``client``, in that order, addresses in order.

    Parameters
    ----------
    name
        Topology name.
    cameras
        Number of camera hosts (default 3; the machine this was built on has two cores).
    camera_link, edge_link, client_link
        Access links; defaults: Wi-Fi 802.11ac figures for cameras and client (the
        ``wifi-ac`` preset: 77.6 Mbit/s, 3 ms), unlimited with no delay for the edge.
    seed
        Seed of the emulated loss and jitter.
    shaper
        See :class:`Topology`.
    """
    if cameras < 0:
        raise ModelError(f"must be >= 0, got {cameras}", "cameras")
    if camera_link is None or client_link is None:
        from edgeoffload.workloads.devices import link_preset

        wifi = link_preset("wifi-ac")
        default = LinkSpec(bandwidth=wifi.bandwidth, delay=wifi.latency)
        camera_link = camera_link or default
        client_link = client_link or default
    names = ["edge", *(f"cam{i}" for i in range(1, cameras + 1)), "client"]
    links = [edge_link or LinkSpec(), *([camera_link] * cameras), client_link]
    net = ipaddress.IPv4Network(DEFAULT_SUBNET)
    addresses = [str(a) for a in net.hosts()]
    hosts = tuple(
        HostSpec(n, addresses[i], link)
        for i, (n, link) in enumerate(zip(names, links, strict=True))
    )
    return Topology(name, hosts, seed=seed, shaper=shaper)
