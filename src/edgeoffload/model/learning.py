"""A cost model that learns: node speeds and link figures updated from measurements.

The cost model of a :class:`~edgeoffload.model.Cluster` is calibrated once; a live cluster
drifts (other load, thermal throttling, a Wi-Fi link that degrades). :class:`LearnedCosts`
keeps, beside a cluster, what measured executions and transfers say:

- **per node and task kind**, the speed (FLOP/s) the node showed: each execution of a task
  of ``work`` FLOP that took ``seconds`` gives ``work / seconds``, folded into an
  exponentially weighted mean of its logarithm (a multiplicative, outlier-damped average;
  ``weight`` is the newest observation's share). Tasks without work (sources) teach
  nothing.
- **per link** (the unordered node pair, as the cluster's links are), latency and
  bandwidth, fitted to ``seconds = latency + bytes / bandwidth`` by exponentially weighted
  least squares over the transfers seen. A transfer's time includes the sender's work to
  serialise and encrypt and the receiver's to decode, so the fitted link carries them too.
  While the sizes seen do not differ enough to separate the two terms, the latency stays
  the cluster's and the rest of the time is put on the bandwidth.

:meth:`LearnedCosts.cluster` returns the cluster with the learned figures in place of the
calibrated ones (nodes' ``speed_by_kind`` and ``speed``, explicit links), so every
scheduler, the validator and the simulator use them unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from edgeoffload.errors import ModelError
from edgeoffload.model.checks import check_number
from edgeoffload.model.cluster import Cluster, Link, Node
from edgeoffload.model.task_graph import NodeId

__all__ = ["LearnedCosts"]

_NO_PER_BYTE = 1e18
"""Bytes/s standing for "no measurable time per byte" (a link needs a finite bandwidth)."""

_SPREAD = 0.05
"""The sizes' weighted coefficient of variation below which a link's two terms are not
separated (the fit would turn noise into latency)."""


@dataclass
class _LinkFit:
    """Exponentially weighted sums for the least-squares fit of one link."""

    weight: float = 0.0  # Σ w
    x: float = 0.0  # Σ w·bytes
    y: float = 0.0  # Σ w·seconds
    xx: float = 0.0  # Σ w·bytes²
    xy: float = 0.0  # Σ w·bytes·seconds
    count: int = 0

    def add(self, data: float, seconds: float, keep: float) -> None:
        self.weight = keep * self.weight + 1.0
        self.x = keep * self.x + data
        self.y = keep * self.y + seconds
        self.xx = keep * self.xx + data * data
        self.xy = keep * self.xy + data * seconds
        self.count += 1

    def solve(self, static: Link | None) -> Link:
        """(latency, bandwidth) from the sums; ``static``'s where they do not tell."""
        mean_x, mean_y = self.x / self.weight, self.y / self.weight
        variance = max(self.xx / self.weight - mean_x * mean_x, 0.0)
        if mean_x > 0 and math.sqrt(variance) > _SPREAD * mean_x:
            per_byte = (self.xy / self.weight - mean_x * mean_y) / variance
            latency = mean_y - per_byte * mean_x
            if per_byte > 0 and latency >= 0:
                return Link(bandwidth=1.0 / per_byte, latency=latency)
        # one size (or a fit that makes no physical sense): keep the latency, fit the rest
        static_bandwidth = static.bandwidth if static is not None else _NO_PER_BYTE
        latency = min(static.latency if static is not None else 0.0, mean_y)
        rest = mean_y - latency
        if mean_x <= 0 or rest <= 0:  # nothing to put on the bandwidth
            return Link(bandwidth=static_bandwidth, latency=mean_y)
        return Link(bandwidth=mean_x / rest, latency=latency)


class LearnedCosts:
    """A cluster's cost figures, updated from measured executions and transfers.

    Parameters
    ----------
    cluster
        The calibrated cluster: the figures used until something is measured.
    weight
        The newest observation's share in each average (0 < weight ≤ 1; default 0.2:
        about the last ten observations count).

    Examples
    --------
    >>> from edgeoffload.model import Cluster, Node
    >>> costs = LearnedCosts(Cluster([Node("pi", 2e9), Node("edge", 5e10)]), weight=0.5)
    >>> costs.observe_task("pi", work=1e9, kind="conv", seconds=1.0)  # 1 GFLOP/s, not 2
    >>> round(costs.speed("pi", "conv")), costs.speed("pi", "fc")
    (1000000000, 2000000000.0)
    """

    def __init__(self, cluster: Cluster, *, weight: float = 0.2) -> None:
        weight = check_number(weight, "weight", positive=True)
        if weight > 1:
            raise ModelError(f"must be in (0, 1], got {weight!r}", "weight")
        self.base = cluster
        self.weight = weight
        self._log_speed: dict[tuple[NodeId, str | None], float] = {}
        self._tasks: dict[tuple[NodeId, str | None], int] = {}
        self._links: dict[frozenset[NodeId], _LinkFit] = {}

    def add_node(self, node: Node) -> None:
        """A node joins the cluster with its calibrated figures (links: the default)."""
        if node.id in self.base:
            raise ModelError(f"node {node.id!r} is already in the cluster", "node")
        base = self.base
        self.base = Cluster([*base.nodes, node], base.links, base.default_link)

    # -- learning ----------------------------------------------------------------------------
    def observe_task(self, node: NodeId, work: float, kind: str | None, seconds: float) -> None:
        """A task of ``work`` FLOP (and ``kind``) ran on ``node`` in ``seconds``."""
        self._node(node)
        work = check_number(work, "work")
        seconds = check_number(seconds, "seconds")
        if work <= 0 or seconds <= 0:
            return  # no work, or too fast to time: nothing to learn about speed
        key = (node, kind)
        observed = math.log(work / seconds)
        old = self._log_speed.get(key)
        self._log_speed[key] = observed if old is None else old + self.weight * (observed - old)
        self._tasks[key] = self._tasks.get(key, 0) + 1

    def observe_transfer(self, source: NodeId, target: NodeId, data: float, seconds: float) -> None:
        """``data`` bytes went from ``source`` to ``target`` in ``seconds`` (send to receipt)."""
        self._node(source)
        self._node(target)
        data = check_number(data, "data")
        seconds = check_number(seconds, "seconds")
        if source == target:
            return  # the same node: no link
        pair = frozenset((source, target))
        self._links.setdefault(pair, _LinkFit()).add(data, seconds, 1.0 - self.weight)

    # -- what it learned ---------------------------------------------------------------------
    def speed(self, node: NodeId, kind: str | None = None) -> float:
        """The speed ``node`` shows on tasks of ``kind``, FLOP/s: learned if measured, else
        the cluster's (its ``speed_by_kind``, else its ``speed``)."""
        learned = self._log_speed.get((node, kind))
        if learned is not None:
            return math.exp(learned)
        static = self._node(node)
        return float(static.speed_by_kind.get(kind, static.speed)) if kind else static.speed

    def link(self, a: NodeId, b: NodeId) -> Link | None:
        """The link between ``a`` and ``b``: fitted if transfers were seen, else the
        cluster's (``None``: the same node, or an instant link)."""
        static = self.base.link(a, b)
        fit = self._links.get(frozenset((a, b)))
        if fit is None or a == b:
            return static
        return fit.solve(static)

    def cluster(self) -> Cluster:
        """The cluster with every learned figure in place of the calibrated one."""
        nodes = []
        for node in self.base.nodes:
            by_kind = dict(node.speed_by_kind)
            speed = node.speed
            for (name, kind), _ in self._tasks.items():
                if name != node.id:
                    continue
                if kind is None:
                    speed = self.speed(name)
                else:
                    by_kind[kind] = self.speed(name, kind)
            nodes.append(replace(node, speed=speed, speed_by_kind=by_kind))
        merged = dict(self.base.links)
        for pair in self._links:
            a, b = sorted(pair)
            link = self.link(a, b)
            if link is not None:
                merged.pop((b, a), None)
                merged[(a, b)] = link
        return Cluster(nodes, merged, self.base.default_link)

    def summary(self) -> dict[str, Any]:
        """What was learned, JSON-ready: per node and kind the speed and how many
        executions taught it; per link the fitted latency, bandwidth and transfer count."""
        speeds = [
            {"node": node, "kind": kind, "speed": self.speed(node, kind), "executions": n}
            for (node, kind), n in sorted(self._tasks.items(), key=lambda kv: str(kv[0]))
        ]
        links = []
        for pair, fit in sorted(self._links.items(), key=lambda kv: sorted(kv[0])):
            a, b = sorted(pair)
            link = self.link(a, b)
            assert link is not None
            links.append(
                {
                    "between": [a, b],
                    "latency": link.latency,
                    "bandwidth": link.bandwidth,
                    "transfers": fit.count,
                }
            )
        return {"speeds": speeds, "links": links}

    def _node(self, node: NodeId) -> Node:
        if node not in self.base:
            raise ModelError(f"unknown node {node!r}", "node")
        return self.base.node(node)
