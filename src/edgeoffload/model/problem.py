"""A scheduling problem: a task graph, a cluster, requests and optional execution times.

A *request* is one application instance arriving at one node at one time. The tasks of a
request may not start before its arrival; the node it arrives at is the node its source
(the first entry task that is pinned) is pinned to, else the first pinned task's node,
else the first node of the cluster. A problem with no requests is treated as one request
(:attr:`Problem.has_requests` tells them apart when results are reported).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from edgeoffload.errors import ModelError
from edgeoffload.model.checks import check_id, check_number
from edgeoffload.model.cluster import Cluster
from edgeoffload.model.task_graph import NodeId, RequestId, TaskGraph, TaskId

if TYPE_CHECKING:
    from edgeoffload.model.costs import CostModel

__all__ = ["IMPLICIT_REQUEST", "Problem", "Request"]

IMPLICIT_REQUEST: RequestId = "request"
"""Name given to the single request of a problem that lists none."""


@dataclass(frozen=True, slots=True)
class Request:
    """An application request: ``id`` arriving at time ``arrival`` (seconds)."""

    id: RequestId
    arrival: float = 0.0

    def __post_init__(self) -> None:
        check_id(self.id, "request id")
        object.__setattr__(
            self, "arrival", check_number(self.arrival, f"request {self.id!r}.arrival")
        )


class Problem:
    """Everything a scheduler needs, validated together.

    Parameters
    ----------
    graph
        The tasks and their dependencies.
    cluster
        The nodes and links.
    requests
        The requests; when given, every task must name one of them.
    exec_times
        Execution time of a task on a node, seconds, overriding ``work / speed`` where
        given (the papers' "unrelated machines" examples).

    Raises
    ------
    ModelError
        On a pin to an unknown node, a task naming an unknown request (or none when the
        problem has requests), an execution time for an unknown task or node, or a task
        with neither ``work`` nor a time on every node.
    """

    __slots__ = (
        "_arrival_node",
        "_costs",
        "_request_index",
        "_task_request",
        "cluster",
        "exec_times",
        "graph",
        "requests",
    )

    def __init__(
        self,
        graph: TaskGraph,
        cluster: Cluster,
        requests: Iterable[Request] = (),
        exec_times: Mapping[TaskId, Mapping[NodeId, float]] | None = None,
    ) -> None:
        self.graph = graph
        self.cluster = cluster
        self.requests: tuple[Request, ...] = tuple(requests)
        self.exec_times: dict[TaskId, dict[NodeId, float]] = {}
        for task_id, row in (exec_times or {}).items():
            if task_id not in graph:
                raise ModelError(f"unknown task {task_id!r}", "exec_times")
            clean: dict[NodeId, float] = {}
            for node_id, seconds in row.items():
                if node_id not in cluster:
                    raise ModelError(f"unknown node {node_id!r}", f"exec_times.{task_id}")
                clean[node_id] = check_number(seconds, f"exec_times.{task_id}.{node_id}")
            self.exec_times[task_id] = clean
        self._request_index: dict[RequestId, int] = {}
        for k, request in enumerate(self.requests):
            if request.id in self._request_index:
                raise ModelError(f"duplicate request id {request.id!r}", f"requests[{k}]")
            self._request_index[request.id] = k
        for i, task in enumerate(graph.tasks):
            where = f"tasks[{i}] ({task.id!r})"
            if task.pinned is not None and task.pinned not in cluster:
                raise ModelError(f"pinned to unknown node {task.pinned!r}", where)
            if task.work is None and len(self.exec_times.get(task.id, {})) < len(cluster):
                raise ModelError("has no work and no execution time on every node", where)
            if task.request is not None and task.request not in self._request_index:
                raise ModelError(f"names unknown request {task.request!r}", where)
            if task.request is None and self.requests:
                raise ModelError("names no request, but the problem lists requests", where)
        self._task_request: tuple[int, ...] = tuple(
            self._request_index[t.request] if t.request is not None else 0 for t in graph.tasks
        )
        self._arrival_node = self._find_arrival_nodes()
        self._costs: CostModel | None = None

    def _find_arrival_nodes(self) -> tuple[NodeId, ...]:
        count = max(1, len(self.requests))
        entry: list[NodeId | None] = [None] * count
        any_pin: list[NodeId | None] = [None] * count
        for i, task in enumerate(self.graph.tasks):
            if task.pinned is None:
                continue
            r = self._task_request[i]
            if any_pin[r] is None:
                any_pin[r] = task.pinned
            if entry[r] is None and not self.graph.in_edges(i):
                entry[r] = task.pinned
        first = self.cluster.nodes[0].id
        return tuple(e or a or first for e, a in zip(entry, any_pin, strict=True))

    def __repr__(self) -> str:
        return f"Problem({self.graph!r}, {self.cluster!r}, {len(self.requests)} requests)"

    @property
    def costs(self) -> CostModel:
        """The problem's cost model (built on first use, then kept)."""
        if self._costs is None:
            from edgeoffload.model.costs import CostModel

            with np.errstate(over="ignore"):  # overflow is reported below, as bad input
                costs = CostModel(self)
            _check_finite_costs(self, costs)
            self._costs = costs
        return self._costs

    # -- requests --------------------------------------------------------------------------
    @property
    def has_requests(self) -> bool:
        """Whether the problem lists requests (else it is one implicit request)."""
        return bool(self.requests)

    @property
    def effective_requests(self) -> tuple[Request, ...]:
        """The requests, or the one implicit request arriving at time 0."""
        return self.requests or (Request(IMPLICIT_REQUEST, 0.0),)

    def request_index_of_task(self, i: int) -> int:
        """Index into :attr:`effective_requests` of the request task number ``i`` is part of."""
        return self._task_request[i]

    @property
    def task_requests(self) -> Sequence[int]:
        """For each task index, the index of its request in :attr:`effective_requests`."""
        return self._task_request

    def arrival_node(self, request_index: int) -> NodeId:
        """The node the request number ``request_index`` arrives at."""
        return self._arrival_node[request_index]

    @property
    def time_origin(self) -> float:
        """The earliest request arrival (0 without requests): schedulers work in time
        relative to it, so that Unix timestamps (1.7e9 s) lose no precision."""
        return min((r.arrival for r in self.requests), default=0.0)

    def shifted(self, seconds: float) -> Problem:
        """This problem with every time ``seconds`` earlier: request arrivals, and nodes'
        ``available_from`` (at least 0: a node free before then is free at 0)."""
        if seconds == 0:
            return self
        nodes = [
            replace(n, available_from=max(0.0, n.available_from - seconds))
            for n in self.cluster.nodes
        ]
        cluster = Cluster(nodes, self.cluster.links, self.cluster.default_link)
        requests = [replace(r, arrival=r.arrival - seconds) for r in self.requests]
        return Problem(self.graph, cluster, requests, self.exec_times)

    def release_time(self, i: int) -> float:
        """Earliest time task number ``i`` may start: its request's arrival, seconds."""
        return self.effective_requests[self._task_request[i]].arrival

    def with_cluster(self, cluster: Cluster) -> Problem:
        """The same problem on another cluster (the node ids the problem uses must exist)."""
        return Problem(self.graph, cluster, self.requests, self.exec_times)


def _check_finite_costs(problem: Problem, costs: CostModel) -> None:
    """Refuse numbers whose quotients overflow (work 1e308 at 1e-3 FLOP/s, say)."""
    bad = np.argwhere(~np.isfinite(costs.exec))
    if bad.size:
        i, p = bad[0]
        raise ModelError(
            "its execution time overflows (work / speed is not a finite number of seconds)",
            f"task {problem.graph.tasks[i].id!r} on node {problem.cluster.nodes[p].id!r}",
        )
    if costs.data.size:
        worst = float(costs.data.max()) / float(costs.bandwidth.min())
        if not np.isfinite(worst):
            raise ModelError(
                "a transfer time overflows (data / bandwidth is not a finite number of seconds)",
                "dependencies",
            )
