"""Insertion-based placement shared by the list schedulers.

:class:`ListSchedule` holds the state of one list-scheduling run: where each placed task
runs and when, and each node's busy intervals. For a task it computes, on every node it
may use, the earliest start that respects

- the arrival of every input (predecessor's finish + transfer time, from the cost model),
- the task's request arrival and the node's ``available_from``,
- the node's timeline: the first idle gap, from that time on, long enough for the task
  (insertion-based, as HEFT, CPOP and PEFT define it [1]_),

and the resulting finish. Schedulers pick among those (:meth:`ListSchedule.best_candidate`
does the usual "smallest finish time, plus an optional per-node bias") and
:meth:`ListSchedule.place` the task.

Notes
-----
The arithmetic is the cost model's, term for term, so the validator and the simulator
recompute exactly the same numbers: a task's input from a predecessor on node *p*
arrives at ``finish + (latency[p, q] + data / bandwidth[p, q])`` on node *q*, and a task
starting at ``start`` on *q* finishes at ``start + exec[t, q]``. Vectorising those
expressions over nodes with numpy changes nothing: numpy's float64 ``+``, ``/`` and
``maximum`` are the same IEEE 754 operations as Python's.

Speed comes from searching few timelines. A task's start on a node is at least its
ready time there, so ``ready + exec`` bounds its finish from below; nodes are visited by
increasing bound and the visit stops once a bound exceeds the best finish found (an
exact pruning, ties included). On a visited node the finish is the bound itself when the
ready time is after the node's last busy interval, ``last finish + exec`` when the task
is longer than every idle gap there, and only otherwise does it take a gap search: a
bisection, then a scan of the gaps after the ready time, in Python for short timelines
and vectorised for long ones. Per-node quantities are Python lists on small clusters and
numpy arrays on large ones (:attr:`ListSchedule.VECTOR_NODES`).

References
----------
.. [1] H. Topcuoglu, S. Hariri, M.-Y. Wu, IEEE TPDS 13(3):260-274, 2002,
   doi:10.1109/71.993206 (section 4.1, the insertion-based policy).
"""

from __future__ import annotations

import heapq
import math
import operator
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

import numpy as np

from edgeoffload.errors import InfeasibleScheduleError
from edgeoffload.model import Assignment, Problem, Schedule
from edgeoffload.schedulers.ties import snap, tolerance

__all__ = [
    "Candidate",
    "ListSchedule",
    "Timeline",
    "homeless_task",
    "place_in_order",
    "ready_list",
    "usable_nodes",
]

Candidate = tuple[int, float, float, int]
"""Where a task could go: (node index, start s, finish s, slot in the node's timeline)."""

_Keys = tuple[list[float], list[float], list[float], list[int] | None]


def usable_nodes(problem: Problem, allowed: np.ndarray | None = None) -> np.ndarray:
    """T×P boolean array: the nodes each task may be placed on by a scheduler.

    ``allowed`` (default: the cost model's pins) less the ``storage`` nodes for every
    unpinned task: a storage node runs only the tasks pinned to it. Without storage
    nodes this is ``allowed`` itself (the same array, not a copy).
    """
    mask = problem.costs.allowed if allowed is None else allowed
    storage = problem.cluster.storage_mask()
    if not storage.any():
        return mask
    unpinned = np.array([t.pinned is None for t in problem.graph.tasks], dtype=bool)
    out: np.ndarray = mask & ~(unpinned[:, None] & storage[None, :])
    return out


def homeless_task(problem: Problem) -> str | None:
    """The id of the first task that may run on no node (:func:`usable_nodes`), if any:
    an unpinned task in a cluster of storage nodes only."""
    empty = np.flatnonzero(~usable_nodes(problem).any(axis=1))
    return problem.graph.tasks[int(empty[0])].id if empty.size else None


class Timeline:
    """Busy intervals of one node, sorted and disjoint (zero-length ones allowed).

    Besides the intervals it keeps the longest idle gap between two of them, so that a
    task longer than every gap is placed at the end without a search. From its first
    search through more than a few dozen gaps on, it also mirrors its intervals in numpy
    arrays, so that long searches run vectorised.

    Attributes
    ----------
    starts, finishes
        The intervals' start and finish times, seconds, in time order. Change them only
        through :meth:`insert`.
    longest_gap
        The longest ``starts[m + 1] - finishes[m]``, seconds (-inf with fewer than two
        intervals).

    Examples
    --------
    >>> t = Timeline()
    >>> t.insert(*t.earliest_start(0.0, 2.0), 2.0)
    >>> t.insert(*t.earliest_start(5.0, 1.0), 1.0)
    >>> t.earliest_start(0.0, 3.0)[0], t.earliest_start(0.0, 4.0)[0]
    (2.0, 6.0)
    """

    __slots__ = ("_array_finishes", "_array_starts", "finishes", "longest_gap", "starts")

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.finishes: list[float] = []
        self.longest_gap = -math.inf
        # numpy copies of starts and finishes, with spare room at the end, once long
        self._array_starts: np.ndarray | None = None
        self._array_finishes: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.finishes)

    def earliest_start(self, ready: float, duration: float) -> tuple[float, int]:
        """Earliest start ≥ ``ready`` of an idle gap of ``duration``, and where it goes.

        The gap is before the first interval finishing after ``ready`` if the task fits
        there, else right after the first later interval *m* with
        ``finishes[m] + duration <= starts[m + 1]``, else after the last interval.
        (Intervals are disjoint and sorted, so their finishes are sorted too and any
        gap after the first one starts at an interval's finish.)
        """
        finishes = self.finishes
        n = len(finishes)
        if not n or ready >= finishes[-1]:
            return ready, n
        i = bisect_right(finishes, ready)  # first interval finishing after `ready`
        starts = self.starts
        if ready + duration <= starts[i]:
            return ready, i
        if _cannot_fit(duration, self.longest_gap, finishes[-1]):
            return finishes[-1], n
        if n - i > _LONG_SCAN:
            array_starts, array_finishes = self._arrays()
            fits = array_finishes[i : n - 1] + duration <= array_starts[i + 1 : n]
            m = int(fits.argmax())
            if fits[m]:
                return finishes[i + m], i + m + 1
            return finishes[-1], n
        for m in range(i, n - 1):
            t = finishes[m]
            if t + duration <= starts[m + 1]:
                return t, m + 1
        return finishes[-1], n

    def insert(self, start: float, position: int, duration: float) -> None:
        """Record a busy interval found by :meth:`earliest_start`."""
        starts, finishes = self.starts, self.finishes
        n = len(finishes)
        finish = start + duration
        # The new interval makes at most two gaps of one (or of none, at either end); only
        # where the gap it splits was the longest must the longest be looked for again.
        recount = False
        if 0 < position < n:
            split = starts[position] - finishes[position - 1]
            recount = split >= self.longest_gap
        elif position == n > 0:
            self.longest_gap = max(self.longest_gap, start - finishes[-1])
        elif position == 0 < n:
            self.longest_gap = max(self.longest_gap, starts[0] - finish)
        starts.insert(position, start)
        finishes.insert(position, finish)
        if self._array_starts is not None:
            self._mirror(start, position, finish)
        n += 1
        if recount:
            if self._array_starts is not None and self._array_finishes is not None:
                gaps = self._array_starts[1:n] - self._array_finishes[: n - 1]
                self.longest_gap = float(gaps.max())
            else:
                self.longest_gap = max(map(operator.sub, starts[1:], finishes[:-1]))

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The numpy copies of starts and finishes, made on first use and kept up to date
        from then on (with room to grow)."""
        if self._array_starts is None or self._array_finishes is None:
            spare = [0.0] * len(self.finishes)
            self._array_starts = np.array(self.starts + spare)
            self._array_finishes = np.array(self.finishes + spare)
        return self._array_starts, self._array_finishes

    def _mirror(self, start: float, position: int, finish: float) -> None:
        """Repeat an insertion (already made in the lists) in the numpy copies."""
        n = len(self.finishes)
        starts, finishes = self._array_starts, self._array_finishes
        assert starts is not None
        assert finishes is not None
        if n > len(starts):
            self._array_starts = self._array_finishes = None
            self._arrays()
            return
        starts[position + 1 : n] = starts[position : n - 1]  # numpy copes with the overlap
        finishes[position + 1 : n] = finishes[position : n - 1]
        starts[position] = start
        finishes[position] = finish


_LONG_SCAN = 64
"""Timelines with more intervals than this after the ready time are scanned with numpy."""


def _cannot_fit(duration: float, gap: float, latest: float) -> bool:
    """Whether a task of ``duration`` surely fits in no idle gap of computed length ``gap``
    or shorter, on a timeline whose intervals start no later than ``latest`` (seconds).

    A task fits a gap from *f* to *s* when ``f + duration <= s`` in floating point, which
    can hold although ``duration`` exceeds the computed ``s - f`` by up to about 3.5e-16·s
    (two roundings, 2⁻⁵³ relative each). The margin used here, 1e-15 times the latest
    start, is larger, so a gap is never skipped where the exact test might pass.
    """
    return duration - _MARGIN * latest > gap


_MARGIN = 1e-15


class ListSchedule:
    """State of one list-scheduling run over ``problem``.

    Parameters
    ----------
    problem
        The problem being scheduled.
    allowed
        T×P boolean array: nodes each task may use (default: the cost model's pins).
        Storage nodes are removed from it for every unpinned task
        (:func:`usable_nodes`), whatever the caller passes: this is the one place every
        list scheduler gets its candidate nodes from.

    Raises
    ------
    InfeasibleScheduleError
        If some task may use no node at all.

    Notes
    -----
    Tasks must be placed after all their predecessors (any list schedule is).

    Per-node quantities (when inputs arrive, when a task could start) are plain lists on
    clusters of fewer than :attr:`VECTOR_NODES` nodes, where numpy's per-call overhead
    would cost more than it saves, and numpy arrays on larger ones. Both compute the
    same expressions in the same order, including which of two equal values (0.0 and
    -0.0) a maximum keeps, so they give the same schedule bit for bit.
    """

    VECTOR_NODES = 12
    """Clusters with at least this many nodes use numpy for per-node quantities."""

    __slots__ = (
        "_arrival",
        "_available",
        "_available_list",
        "_bandwidth_rows",
        "_everywhere",
        "_exec_rows",
        "_gap_list",
        "_in_data_list",
        "_in_rows",
        "_in_rows_list",
        "_in_source_list",
        "_in_start",
        "_last_finish_list",
        "_latency_rows",
        "_out_data",
        "_out_start",
        "_release",
        "_use_available",
        "_use_release",
        "_vector",
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
        self.allowed = usable_nodes(problem, allowed)
        empty = np.flatnonzero(~self.allowed.any(axis=1))
        if empty.size:
            raise InfeasibleScheduleError(f"task {graph.tasks[empty[0]].id!r} may run on no node")
        self.exec = costs.exec
        self.latency = costs.latency
        self.bandwidth = costs.bandwidth
        n, n_nodes = len(graph), len(problem.cluster)
        self.node = [-1] * n
        self.start = [0.0] * n
        self.finish = [0.0] * n
        self.timelines = [Timeline() for _ in problem.cluster.nodes]
        self._everywhere = cast(list[bool], self.allowed.all(axis=1).tolist())
        self._available_list = [node.available_from for node in problem.cluster.nodes]
        # per node: last finish (-inf while idle, so that any time is "after" it) and the
        # longest idle time before or between its busy intervals (-inf while idle)
        self._last_finish_list = [-math.inf] * n_nodes
        self._gap_list = [-math.inf] * n_nodes

        # Dependencies sorted by source, then by target: a task's out-edges are a range
        # of positions (_out_start), its in-edges the positions _in_rows[_in_start[i]:
        # _in_start[i + 1]], in dependency order.
        by_source = np.argsort(costs.edge_source, kind="stable")
        position = np.empty_like(by_source)
        position[by_source] = np.arange(len(by_source))
        by_target = np.argsort(costs.edge_target, kind="stable")
        tasks = np.arange(n + 1)
        self._out_start = np.searchsorted(costs.edge_source[by_source], tasks).tolist()
        self._out_data = costs.data[by_source, None]
        self._in_start = np.searchsorted(costs.edge_target[by_target], tasks).tolist()
        self._in_rows = position[by_target]
        self._in_rows_list = self._in_rows.tolist()
        self._in_source_list = costs.edge_source[by_target].tolist()
        self._in_data_list = costs.data[by_target].tolist()

        # Release times, and whether a maximum with them can change anything: not where a
        # predecessor has a release at least as late (inputs never come before that), and
        # not for available_from times no later than the task's release.
        arrival = np.array([request.arrival for request in problem.effective_requests])
        release = arrival[np.asarray(problem.task_requests, dtype=np.intp)]
        latest_before = np.full(n, -np.inf)
        np.maximum.at(latest_before, costs.edge_target, release[costs.edge_source])
        self._release = cast(list[float], release.tolist())
        self._use_release = cast(list[bool], (release > latest_before).tolist())
        self._use_available = cast(list[bool], (max(self._available_list) > release).tolist())

        self._vector = n_nodes >= self.VECTOR_NODES
        if self._vector:
            self._available = np.array(self._available_list)
            # row k: when the data of the k-th dependency (by source) is on each node
            self._arrival = np.empty((len(by_source), n_nodes))
        else:
            self._exec_rows = self.exec.tolist()
            self._latency_rows = self.latency.tolist()
            self._bandwidth_rows = self.bandwidth.tolist()

    # -- when a task could start, per node --------------------------------------------------
    def data_ready(self, i: int) -> np.ndarray:
        """When all inputs of task ``i`` could be on each node: max of finish + transfer.

        Never earlier than the task's release time (its request's arrival).
        """
        if self._vector:
            return np.array(self._data_ready_array(i))
        return np.array(self._data_ready_list(i))

    def _data_ready_list(self, i: int) -> list[float]:
        """:meth:`data_ready` as a list, one Python float per node."""
        lo, hi = self._in_start[i], self._in_start[i + 1]
        release = self._release[i]
        if lo == hi:
            return [release] * len(self.timelines)
        # finish + (latency + data / bandwidth): the cost model's expression, term for term
        sources, data_sizes, node, finishes = (
            self._in_source_list,
            self._in_data_list,
            self.node,
            self.finish,
        )
        latency_rows, bandwidth_rows = self._latency_rows, self._bandwidth_rows
        j, data = sources[lo], data_sizes[lo]
        finish, p = finishes[j], node[j]
        ready = [
            finish + (latency + data / bandwidth)
            for latency, bandwidth in zip(latency_rows[p], bandwidth_rows[p], strict=True)
        ]
        for k in range(lo + 1, hi):
            j, data = sources[k], data_sizes[k]
            finish, p = finishes[j], node[j]
            ready = [  # the maximum with each further input; of equal values, the later
                a if (a := finish + (latency + data / bandwidth)) >= r else r
                for r, latency, bandwidth in zip(
                    ready, latency_rows[p], bandwidth_rows[p], strict=True
                )
            ]
        if self._use_release[i]:
            ready = [r if r >= release else release for r in ready]
        return ready

    def _data_ready_array(self, i: int) -> np.ndarray:
        """:meth:`data_ready` with numpy (possibly a view of internal state: do not modify).

        The arrival of every input on every node was computed when its source was placed
        (:meth:`place`); here they are only folded by ``np.maximum``, which keeps the
        later of two equal values, in dependency order.
        """
        lo, hi = self._in_start[i], self._in_start[i + 1]
        release = self._release[i]
        if lo == hi:
            return np.full(len(self.timelines), release)
        arrival = self._arrival
        ready: np.ndarray
        if hi - lo == 1:
            ready = arrival[self._in_rows_list[lo]]
        elif hi - lo == 2:
            ready = np.maximum(arrival[self._in_rows_list[lo]], arrival[self._in_rows_list[lo + 1]])
        else:
            ready = np.maximum.reduce(arrival[self._in_rows[lo:hi]])
        if self._use_release[i]:
            ready = np.maximum(release, ready)
        return ready

    def _ready_at(self, i: int) -> list[float]:
        """Per node, when task ``i`` could start, its timeline aside: all inputs there,
        its request arrived, and the node's ``available_from`` passed.

        Of a ready time equal to ``available_from``, the ready time is kept (as Python's
        ``max(ready, available)`` would).
        """
        if self._vector:
            return cast(list[float], self._ready_at_array(i).tolist())
        ready = self._data_ready_list(i)
        if not self._use_available[i]:
            return ready
        return [r if r >= a else a for r, a in zip(ready, self._available_list, strict=True)]

    def _ready_at_array(self, i: int) -> np.ndarray:
        """:meth:`_ready_at` with numpy (possibly a view of internal state)."""
        ready = self._data_ready_array(i)
        if not self._use_available[i]:
            return ready
        at: np.ndarray = np.maximum(self._available, ready)  # keeps the second of equals
        return at

    def _keys(self, i: int, bias: np.ndarray | None) -> _Keys:
        """Per node: when task ``i`` could start (:meth:`_ready_at`), its execution time,
        the sum of the two (plus ``bias``), and the nodes in increasing order of that sum
        (ties in node order; ``None`` for node order itself, on small clusters)."""
        if self._vector:
            at = self._ready_at_array(i)
            durations = self.exec[i]
            key = at + durations
            if bias is not None:
                key += bias
            order: list[int] = key.argsort(kind="stable").tolist()
            return at.tolist(), durations.tolist(), key.tolist(), order
        # few nodes: visiting them in node order costs less than sorting them first
        at_list = self._ready_at(i)
        durations_list: list[float] = self._exec_rows[i]
        key_list = [a + d for a, d in zip(at_list, durations_list, strict=True)]
        if bias is not None:
            key_list = [k + b for k, b in zip(key_list, bias.tolist(), strict=True)]
        return at_list, durations_list, key_list, None

    # -- candidates --------------------------------------------------------------------------
    def candidates(self, i: int, nodes: np.ndarray | None = None) -> list[Candidate]:
        """(node, start, finish, slot) of task ``i`` on each usable node, in node order.

        ``nodes`` restricts the nodes considered (default: every node the task may use).
        """
        at = self._ready_at(i)
        nodes = np.flatnonzero(self.allowed[i]) if nodes is None else nodes
        durations = self.exec[i]
        out = []
        for p in nodes.tolist():
            duration = float(durations[p])
            start, slot = self.timelines[p].earliest_start(at[p], duration)
            out.append((p, start, start + duration, slot))
        return out

    def best_candidate(self, i: int, bias: np.ndarray | None = None) -> Candidate:
        """The candidate of task ``i`` with the smallest ``finish + bias[node]``.

        ``bias`` is a per-node amount added to the finish time before comparing (PEFT's
        optimistic cost table row); without it this is the earliest finish time. Ties
        (keys within :func:`~edgeoffload.schedulers.ties.tolerance` of the smallest) go
        to the first node in node order, found without searching most timelines.

        Notes
        -----
        ``ready + exec (+ bias)`` is a lower bound of a node's key, since a start is never
        before ``ready`` and rounding is monotone. Nodes are visited by increasing bound
        until the next bound exceeds the largest key that ties the best found (on small
        clusters, in node order, skipping those whose bound exceeds it). On a visited node
        the key is the bound itself when the task goes after the node's last busy interval
        (``ready`` is past it), ``last finish + exec (+ bias)`` when the task is longer
        than any idle gap there (:func:`_cannot_fit`), and only otherwise does it take a
        gap search.
        """
        at, durations, key, order = self._keys(i, bias)
        usable = self._usable(i)
        last_finish, longest_gap = self._last_finish_list, self._gap_list
        best_key = limit = math.inf  # the smallest key so far; the largest that ties it
        tied: list[tuple[int, float, float, int]] = []  # (node, key, start, slot) visited
        for p in range(len(key)) if order is None else order:
            bound = key[p]
            if bound > limit:
                if order is None:
                    continue  # this node finishes later than the best, beyond a tie
                break  # this node and all later ones finish later than the best
            if usable is not None and not usable[p]:
                continue
            timeline = self.timelines[p]
            ready, last = at[p], last_finish[p]
            if ready >= last:
                start, slot, value = ready, len(timeline), bound
            else:
                duration = durations[p]
                if _cannot_fit(duration, longest_gap[p], last):
                    start, slot = last, len(timeline)
                else:
                    start, slot = timeline.earliest_start(ready, duration)
                value = start + duration
                if bias is not None:
                    value += float(bias[p])
            if value < best_key:
                best_key = value
                limit = value + tolerance(value)
            if value <= limit:
                tied.append((p, value, start, slot))
        if len(tied) == 1:
            best, _, best_start, best_slot = tied[0]
        else:  # the first node, in node order, of those tying the smallest key
            best, _, best_start, best_slot = min(e for e in tied if e[1] <= limit)
        return best, best_start, best_start + durations[best], best_slot

    def _usable(self, i: int) -> list[bool] | None:
        """Which nodes task ``i`` may use, or ``None`` if it may use all."""
        if self._everywhere[i]:
            return None
        return cast(list[bool], self.allowed[i].tolist())

    # -- placing -----------------------------------------------------------------------------
    def place(self, i: int, candidate: Candidate) -> None:
        """Put task ``i`` where ``candidate`` (one of :meth:`candidates`) says."""
        p, start, finish, slot = candidate
        timeline = self.timelines[p]
        timeline.insert(start, slot, finish - start)
        self.node[i] = p
        self.start[i] = start
        self.finish[i] = finish
        self._last_finish_list[p] = timeline.finishes[-1]
        self._gap_list[p] = max(timeline.starts[0] - self._available_list[p], timeline.longest_gap)
        if self._vector:
            lo, hi = self._out_start[i], self._out_start[i + 1]
            if lo < hi:  # finish + (latency + data / bandwidth), as in the cost model
                self._arrival[lo:hi] = finish + (
                    self.latency[p] + self._out_data[lo:hi] / self.bandwidth[p]
                )

    def place_earliest_finish(self, i: int) -> None:
        """Place task ``i`` on the node where it finishes first (ties: node order)."""
        self.place(i, self.best_candidate(i))

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


def place_in_order(
    problem: Problem, order: Sequence[int], allowed: np.ndarray | None = None
) -> ListSchedule:
    """Place the tasks in ``order`` (which must be topological), each on the node of
    ``allowed`` (default: every node it may use) where it finishes first: HEFT's
    placement, and that of the baselines and the local search with their node choices."""
    state = ListSchedule(problem, allowed)
    for i in order:
        state.place_earliest_finish(i)
    return state


def ready_list(problem: Problem, priority: Sequence[float] | np.ndarray) -> Iterator[int]:
    """Task indexes from a ready list, highest ``priority`` first (ties, to
    :mod:`~edgeoffload.schedulers.ties`' tolerance: topological position).

    A task becomes ready once every predecessor has been yielded, so the caller must place
    each task before asking for the next one (CPOP's and PEFT's task selection).
    """
    graph = problem.graph
    target = problem.costs.edge_target.tolist()
    values = snap(priority).tolist()  # tied priorities exactly equal: position decides
    position = [0] * len(graph)
    for k, i in enumerate(graph.topological_order):
        position[i] = k
    waiting = [len(graph.in_edges(i)) for i in range(len(graph))]
    queue = [(-values[i], position[i], i) for i in range(len(graph)) if not waiting[i]]
    heapq.heapify(queue)
    while queue:
        _, _, i = heapq.heappop(queue)
        yield i
        for k in graph.out_edges(i):
            j = target[k]
            waiting[j] -= 1
            if not waiting[j]:
                heapq.heappush(queue, (-values[j], position[j], j))
