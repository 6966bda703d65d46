"""Nodes, links and the validated cluster they form.

Links are symmetric: ``links[("a", "b")]`` also serves ``b -> a``. A pair with no link of
its own uses the cluster's default link; with no default link such a pair transfers
instantly (the papers' examples give only communication costs, not a network).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np

from edgeoffload.errors import ModelError
from edgeoffload.model.checks import check_id, check_number
from edgeoffload.model.task_graph import NodeId

__all__ = ["ROLES", "Cluster", "Link", "Node", "PowerProfile", "Role"]

Role = Literal["camera", "edge", "device", "storage"]
ROLES: tuple[str, ...] = get_args(Role)


@dataclass(frozen=True, slots=True)
class PowerProfile:
    """Electrical power a node draws in each state, watts."""

    idle: float
    busy: float
    transmit: float

    def __post_init__(self) -> None:
        for name in ("idle", "busy", "transmit"):
            object.__setattr__(self, name, check_number(getattr(self, name), f"power.{name}"))


@dataclass(frozen=True, slots=True)
class Node:
    """A machine that runs tasks: a camera, a phone, an edge server.

    Parameters
    ----------
    id
        Unique name of the node.
    speed
        Computation rate, FLOP/s; > 0.
    speed_by_kind
        Rates for particular task kinds, FLOP/s, overriding ``speed`` for tasks of that
        kind (a GPU that is fast at ``conv``).
    role
        ``"camera"``, ``"edge"``, ``"device"`` (default) or ``"storage"``: DHS classifies
        the load of the cameras, the Edge baseline ships work to the edge node, and a
        storage node (where a workflow's input and output files live) runs only the tasks
        pinned to it: no scheduler places an unpinned task there.
    cores
        Tasks the node can run at once in the simulator; the list schedulers treat every
        node as one processor, as their papers do. Default 1.
    memory
        Memory, bytes; informational.
    power
        Power draw when idle, busy and transmitting; used for energy estimates.
    available_from
        The node is busy until this time, seconds; nothing starts on it earlier.
    """

    id: NodeId
    speed: float
    speed_by_kind: Mapping[str, float] = field(default_factory=dict)
    role: Role = "device"
    cores: int = 1
    memory: float | None = None
    power: PowerProfile | None = None
    available_from: float = 0.0

    def __post_init__(self) -> None:
        check_id(self.id, "node id")
        where = f"node {self.id!r}"
        object.__setattr__(self, "speed", check_number(self.speed, f"{where}.speed", positive=True))
        by_kind = {
            check_id(kind, f"{where}.speed_by_kind"): check_number(
                rate, f"{where}.speed_by_kind.{kind}", positive=True
            )
            for kind, rate in dict(self.speed_by_kind).items()
        }
        object.__setattr__(self, "speed_by_kind", by_kind)
        if self.role not in ROLES:
            raise ModelError(
                f"must be one of {', '.join(ROLES)}; got {self.role!r}", f"{where}.role"
            )
        if isinstance(self.cores, bool) or not isinstance(self.cores, int) or self.cores < 1:
            raise ModelError(f"must be a whole number >= 1, got {self.cores!r}", f"{where}.cores")
        if self.memory is not None:
            object.__setattr__(self, "memory", check_number(self.memory, f"{where}.memory"))
        object.__setattr__(
            self, "available_from", check_number(self.available_from, f"{where}.available_from")
        )

    def speed_for(self, kind: str | None) -> float:
        """The node's rate for a task of ``kind``, FLOP/s."""
        if kind is None:
            return self.speed
        return self.speed_by_kind.get(kind, self.speed)


@dataclass(frozen=True, slots=True)
class Link:
    """A network path between two nodes: ``bandwidth`` bytes/s (> 0), ``latency`` seconds."""

    bandwidth: float
    latency: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "bandwidth", check_number(self.bandwidth, "link.bandwidth", positive=True)
        )
        object.__setattr__(self, "latency", check_number(self.latency, "link.latency"))


class Cluster:
    """A validated set of nodes and the links between them.

    Parameters
    ----------
    nodes
        The nodes, in the order that breaks ties between equally good nodes.
    links
        Link of each unordered pair that has its own; a pair may appear once, in either
        order, and a node may not be linked to itself.
    default_link
        Link of every pair not in ``links``; ``None`` makes those transfers instant.

    Examples
    --------
    >>> c = Cluster([Node("cam", 1e9), Node("edge", 1e10)], {("cam", "edge"): Link(1e6, 0.002)})
    >>> c.link("edge", "cam").latency
    0.002
    """

    __slots__ = ("_index", "_links", "default_link", "nodes")

    def __init__(
        self,
        nodes: Iterable[Node],
        links: Mapping[tuple[NodeId, NodeId], Link] | None = None,
        default_link: Link | None = None,
    ) -> None:
        self.nodes: tuple[Node, ...] = tuple(nodes)
        if not self.nodes:
            raise ModelError("a cluster needs at least one node", "nodes")
        self._index: dict[NodeId, int] = {}
        for i, node in enumerate(self.nodes):
            if node.id in self._index:
                raise ModelError(f"duplicate node id {node.id!r}", f"nodes[{i}]")
            self._index[node.id] = i
        self._links: dict[frozenset[NodeId], Link] = {}
        for (a, b), link in (links or {}).items():
            where = f"link {a!r}-{b!r}"
            for end in (a, b):
                if end not in self._index:
                    raise ModelError(f"unknown node {end!r}", where)
            if a == b:
                raise ModelError(f"node {a!r} is linked to itself", where)
            pair = frozenset((a, b))
            if pair in self._links:
                raise ModelError("this pair of nodes is linked twice", where)
            self._links[pair] = link
        self.default_link = default_link

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._index

    def __repr__(self) -> str:
        return f"Cluster({', '.join(n.id for n in self.nodes)})"

    def node(self, node_id: NodeId) -> Node:
        """The node named ``node_id`` (KeyError if there is none)."""
        return self.nodes[self._index[node_id]]

    def index(self, node_id: NodeId) -> int:
        """Position of ``node_id`` in :attr:`nodes`."""
        return self._index[node_id]

    @property
    def node_ids(self) -> tuple[NodeId, ...]:
        return tuple(n.id for n in self.nodes)

    @property
    def links(self) -> dict[tuple[NodeId, NodeId], Link]:
        """The explicitly listed links, each pair in node order."""
        out = {}
        for pair, link in self._links.items():
            a, b = sorted(pair, key=self._index.__getitem__)
            out[(a, b)] = link
        return dict(
            sorted(out.items(), key=lambda kv: (self._index[kv[0][0]], self._index[kv[0][1]]))
        )

    def link(self, a: NodeId, b: NodeId) -> Link | None:
        """The link used between ``a`` and ``b`` (``None``: instant, or the same node)."""
        if a == b:
            return None
        return self._links.get(frozenset((a, b)), self.default_link)

    def nodes_with_role(self, role: Role) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.role == role)

    def storage_mask(self) -> np.ndarray:
        """Boolean array over :attr:`nodes`: which have role ``storage`` (nodes that run
        only the tasks pinned to them)."""
        return np.array([n.role == "storage" for n in self.nodes], dtype=bool)

    def link_matrices(self) -> tuple[np.ndarray, np.ndarray]:
        """Latency (s) and bandwidth (bytes/s) of every ordered pair, as P×P arrays.

        The diagonal and pairs that transfer instantly have latency 0 and bandwidth
        ``inf``, so ``latency + data / bandwidth`` is the transfer time of every pair.
        """
        p = len(self.nodes)
        latency = np.zeros((p, p))
        bandwidth = np.full((p, p), np.inf)
        if self.default_link is not None:
            latency[:] = self.default_link.latency
            bandwidth[:] = self.default_link.bandwidth
        for pair, link in self._links.items():
            a, b = (self._index[x] for x in pair)
            latency[a, b] = latency[b, a] = link.latency
            bandwidth[a, b] = bandwidth[b, a] = link.bandwidth
        np.fill_diagonal(latency, 0.0)
        np.fill_diagonal(bandwidth, np.inf)
        return latency, bandwidth
