"""Insertion-based placement shared by the list schedulers.

:class:`ListSchedule` holds the state of one list-scheduling run: where each placed task
runs and when, and each node's busy intervals. For a task it computes, on every node it
may use, the earliest start that respects

- the arrival of every input (predecessor's finish + transfer time, from the cost model),
- the task's request arrival and the node's ``available_from``,
- the node's timeline: the first idle gap, from that time on, long enough for the task
  (insertion-based, as HEFT, CPOP and PEFT define it [1]_),

and the resulting finish. Schedulers pick among those and :meth:`ListSchedule.place`.

References
----------
.. [1] H. Topcuoglu, S. Hariri, M.-Y. Wu, IEEE TPDS 13(3):260-274, 2002,
   doi:10.1109/71.993206 (section 4.1, the insertion-based policy).
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from edgeoffload.errors import InfeasibleScheduleError
from edgeoffload.model import Assignment, Problem, Schedule

__all__ = ["ListSchedule", "Timeline", "ready_list"]


class Timeline:
    """Busy intervals of one node, sorted and disjoint (zero-length ones allowed).

    Examples
    --------
    >>> t = Timeline()
    >>> t.insert(*t.earliest_start(0.0, 2.0), 2.0)
    >>> t.insert(*t.earliest_start(5.0, 1.0), 1.0)
    >>> t.earliest_start(0.0, 3.0)[0], t.earliest_start(0.0, 4.0)[0]
    (2.0, 6.0)
    """

    __slots__ = ("finishes", "starts")

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.finishes: list[float] = []

    def earliest_start(self, ready: float, duration: float) -> tuple[float, int]:
        """Earliest start ≥ ``ready`` of an idle gap of ``duration``, and where it goes."""
        finishes = self.finishes
        n = len(finishes)
        if not n or ready >= finishes[-1]:
            return ready, n
        i = bisect_right(finishes, ready)
        t = ready
        starts = self.starts
        while i < n:
            if t + duration <= starts[i]:
                return t, i
            t = max(t, finishes[i])
            i += 1
        return t, n

    def insert(self, start: float, position: int, duration: float) -> None:
        """Record a busy interval found by :meth:`earliest_start`."""
        self.starts.insert(position, start)
        self.finishes.insert(position, start + duration)


class ListSchedule:
    """State of one list-scheduling run over ``problem``.

    Parameters
    ----------
    problem
        The problem being scheduled.
    allowed
        T×P boolean array: nodes each task may use (default: the cost model's pins).

    Raises
    ------
    InfeasibleScheduleError
        If some task may use no node at all.
    """

    __slots__ = (
        "_available",
        "_in_edges",
        "_release",
        "allowed",
        "bandwidth",
        "exec",
        "finish",
        "latency",
        "node",
        "problem",
        "start",
        "timelines",
    )

    def __init__(self, problem: Problem, allowed: np.ndarray | None = None) -> None:
        costs = problem.costs
        graph = problem.graph
        self.problem = problem
        self.allowed = costs.allowed if allowed is None else allowed
        empty = np.flatnonzero(~self.allowed.any(axis=1))
        if empty.size:
            raise InfeasibleScheduleError(f"task {graph.tasks[empty[0]].id!r} may run on no node")
        self.exec = costs.exec
        self.latency = costs.latency
        self.bandwidth = costs.bandwidth
        n = len(graph)
        self.node = [-1] * n
        self.start = [0.0] * n
        self.finish = [0.0] * n
        self.timelines = [Timeline() for _ in problem.cluster.nodes]
        self._available = [node.available_from for node in problem.cluster.nodes]
        self._release = [problem.release_time(i) for i in range(n)]
        data = costs.data.tolist()
        source = costs.edge_source.tolist()
        self._in_edges = [[(source[k], data[k]) for k in graph.in_edges(i)] for i in range(n)]

    def data_ready(self, i: int) -> np.ndarray:
        """When all inputs of task ``i`` could be on each node: max of finish + transfer."""
        ready = np.full(self.exec.shape[1], self._release[i])
        for j, data in self._in_edges[i]:
            p = self.node[j]
            # finish + (latency + data / bandwidth): the cost model's expression, term for term
            np.maximum(
                ready, self.finish[j] + (self.latency[p] + data / self.bandwidth[p]), out=ready
            )
        return ready

    def candidates(
        self, i: int, nodes: np.ndarray | None = None
    ) -> list[tuple[int, float, float, int]]:
        """(node, start, finish, slot) of task ``i`` on each usable node, in node order.

        ``nodes`` restricts the nodes considered (default: every node the task may use).
        """
        ready = self.data_ready(i)
        nodes = np.flatnonzero(self.allowed[i]) if nodes is None else nodes
        durations = self.exec[i]
        out = []
        for p in nodes.tolist():
            duration = float(durations[p])
            at = max(float(ready[p]), self._available[p])
            start, slot = self.timelines[p].earliest_start(at, duration)
            out.append((p, start, start + duration, slot))
        return out

    def place(self, i: int, candidate: tuple[int, float, float, int]) -> None:
        """Put task ``i`` where ``candidate`` (one of :meth:`candidates`) says."""
        p, start, finish, slot = candidate
        self.timelines[p].insert(start, slot, finish - start)
        self.node[i] = p
        self.start[i] = start
        self.finish[i] = finish

    def place_earliest_finish(self, i: int) -> None:
        """Place task ``i`` on the node where it finishes first (ties: node order)."""
        self.place(i, min(self.candidates(i), key=lambda c: c[2]))

    def result(self, algorithm: str, details: Mapping[str, Any] | None = None) -> Schedule:
        """The finished schedule (every task must have been placed)."""
        graph = self.problem.graph
        node_ids = self.problem.cluster.node_ids
        return Schedule(
            algorithm,
            (
                Assignment(t.id, node_ids[self.node[i]], self.start[i], self.finish[i])
                for i, t in enumerate(graph.tasks)
            ),
            details,
        )


def ready_list(problem: Problem, priority: Sequence[float] | np.ndarray) -> Iterator[int]:
    """Task indexes from a ready list, highest ``priority`` first (ties: topological position).

    A task becomes ready once every predecessor has been yielded, so the caller must place
    each task before asking for the next one (CPOP's and PEFT's task selection).
    """
    graph = problem.graph
    target = problem.costs.edge_target
    position = {i: k for k, i in enumerate(graph.topological_order)}
    waiting = [len(graph.in_edges(i)) for i in range(len(graph))]
    queue = [(-float(priority[i]), position[i], i) for i in range(len(graph)) if not waiting[i]]
    heapq.heapify(queue)
    while queue:
        _, _, i = heapq.heappop(queue)
        yield i
        for k in graph.out_edges(i):
            j = int(target[k])
            waiting[j] -= 1
            if not waiting[j]:
                heapq.heappush(queue, (-float(priority[j]), position[j], j))
