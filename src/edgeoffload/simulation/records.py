"""What a simulation reports: typed, immutable records (no printing, no I/O).

:class:`SimResult` is the result of one run; its :class:`TaskTable` keeps per-task times
as read-only numpy columns (cheap for a million tasks) and yields :class:`TaskRecord`
rows on demand. Times are seconds, energy joules, data bytes. :func:`node_state_times`
splits each node's time into the states that :class:`NodeStats` reports.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from edgeoffload.model.schedule import Schedule
from edgeoffload.model.task_graph import NodeId, RequestId, TaskId

__all__ = [
    "NodeStats",
    "ReplanRecord",
    "RequestResult",
    "SimResult",
    "TaskRecord",
    "TaskStatus",
    "TaskTable",
    "TraceEvent",
    "TraceKind",
    "node_state_times",
]

TaskStatus = Literal["done", "failed", "not-run"]
TraceKind = Literal["start", "finish", "send", "receive", "fail", "lost", "move", "replan"]

_STATUS: tuple[TaskStatus, ...] = ("not-run", "done", "failed")
"""Status codes of :attr:`TaskTable.status`: 0 not run, 1 done, 2 failed (lost)."""


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """One task of a simulated run.

    Attributes
    ----------
    task
        Task id.
    node
        Node it last ran (or was queued) on.
    start, finish
        Simulated start and finish of its last execution, seconds (``None`` if it did not
        start or finish).
    predicted_node, predicted_start, predicted_finish
        Where and when the schedule put it, seconds.
    status
        ``"done"``, ``"failed"`` (lost to a node failure and not re-run) or ``"not-run"``
        (an input never arrived).
    runs
        How many times it started (more than 1 after a re-run).
    """

    task: TaskId
    node: NodeId
    start: float | None
    finish: float | None
    predicted_node: NodeId
    predicted_start: float
    predicted_finish: float
    status: TaskStatus
    runs: int


class TaskTable(Sequence[TaskRecord]):
    """Per-task results as read-only columns; iterating yields :class:`TaskRecord` rows.

    Columns (numpy arrays, one entry per task in the problem's task order; ``nan`` where a
    time does not exist): :attr:`node`, :attr:`start`, :attr:`finish`,
    :attr:`predicted_node`, :attr:`predicted_start`, :attr:`predicted_finish`,
    :attr:`status` (0 not run, 1 done, 2 failed), :attr:`runs`. Node columns index
    :attr:`node_ids`.
    """

    __slots__ = (
        "_id_of",
        "_index",
        "finish",
        "node",
        "node_ids",
        "predicted_finish",
        "predicted_node",
        "predicted_start",
        "runs",
        "start",
        "status",
    )

    def __init__(
        self,
        id_of: Callable[[int], TaskId],
        node_ids: Sequence[NodeId],
        columns: dict[str, np.ndarray],
    ) -> None:
        self._id_of = id_of
        self._index: dict[TaskId, int] | None = None
        self.node_ids: tuple[NodeId, ...] = tuple(node_ids)
        for name in (
            "node",
            "start",
            "finish",
            "predicted_node",
            "predicted_start",
            "predicted_finish",
            "status",
            "runs",
        ):
            array = np.asarray(columns[name])
            array.flags.writeable = False
            object.__setattr__(self, name, array)

    node: np.ndarray
    start: np.ndarray
    finish: np.ndarray
    predicted_node: np.ndarray
    predicted_start: np.ndarray
    predicted_finish: np.ndarray
    status: np.ndarray
    runs: np.ndarray

    def __len__(self) -> int:
        return int(self.start.shape[0])

    def task_id(self, i: int) -> TaskId:
        """Id of task number ``i``."""
        return self._id_of(i)

    def row(self, i: int) -> TaskRecord:
        """Task number ``i`` as a record."""
        start, finish = float(self.start[i]), float(self.finish[i])
        return TaskRecord(
            self._id_of(i),
            self.node_ids[int(self.node[i])],
            None if math.isnan(start) else start,
            None if math.isnan(finish) else finish,
            self.node_ids[int(self.predicted_node[i])],
            float(self.predicted_start[i]),
            float(self.predicted_finish[i]),
            _STATUS[int(self.status[i])],
            int(self.runs[i]),
        )

    def __getitem__(self, key: int) -> TaskRecord:  # type: ignore[override]
        if not isinstance(key, int):
            raise TypeError("index a TaskTable by task number; use .get(task_id) for ids")
        n = len(self)
        if not -n <= key < n:
            raise IndexError(key)
        return self.row(key % n)

    def get(self, task: TaskId) -> TaskRecord:
        """The record of task ``task`` (KeyError if there is none)."""
        if self._index is None:
            self._index = {self._id_of(i): i for i in range(len(self))}
        return self.row(self._index[task])

    def __iter__(self) -> Iterator[TaskRecord]:
        return (self.row(i) for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TaskTable):
            return NotImplemented
        return (
            len(self) == len(other)
            and self.node_ids == other.node_ids
            and all(
                np.array_equal(getattr(self, c), getattr(other, c), equal_nan=True)
                for c in ("node", "start", "finish", "predicted_start", "predicted_finish")
            )
            and np.array_equal(self.status, other.status)
            and np.array_equal(self.runs, other.runs)
            and all(self._id_of(i) == other._id_of(i) for i in range(min(len(self), 64)))
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        done = int((self.status == 1).sum())
        return f"TaskTable({len(self)} tasks, {done} done)"


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One thing that happened in a run, at ``time`` seconds.

    ``kind`` is ``start``/``finish`` (``task`` on ``node``), ``send``/``receive`` (the
    output of ``task`` from ``node`` to ``peer``, ``data`` bytes), ``fail`` (``node``
    failed), ``lost`` (``task`` was lost on ``node``), ``move`` (``task`` re-queued on
    ``peer`` after a failure: of ``node`` under the ``rerun`` policy; under ``replan``,
    ``node`` is where it was before) or ``replan`` (the rest was planned again after the
    failure of ``node``, the last one since the previous plan; see
    :attr:`SimResult.replans`).
    """

    time: float
    kind: TraceKind
    node: NodeId
    task: TaskId | None = None
    peer: NodeId | None = None
    data: float = 0.0


@dataclass(frozen=True, slots=True)
class RequestResult:
    """One request of a run.

    Attributes
    ----------
    id, camera, arrival
        The request, the node it arrived at and when, seconds.
    finish
        When its last task finished, seconds; ``None`` if some task never finished (or it
        was dropped).
    predicted_finish
        When the schedule said it would finish, seconds (``None`` if dropped before it was
        scheduled).
    deadline
        Latency bound, seconds, if there is one.
    dropped
        Refused on arrival by an admission rule (streams).
    """

    id: RequestId
    camera: NodeId
    arrival: float
    finish: float | None
    predicted_finish: float | None
    deadline: float | None = None
    dropped: bool = False

    @property
    def completed(self) -> bool:
        return self.finish is not None

    @property
    def latency(self) -> float | None:
        """``finish − arrival``, seconds (``None`` if it did not complete)."""
        return None if self.finish is None else self.finish - self.arrival

    @property
    def predicted_latency(self) -> float | None:
        return None if self.predicted_finish is None else self.predicted_finish - self.arrival

    @property
    def missed_deadline(self) -> bool:
        """It has a deadline and did not complete within it (dropped frames count)."""
        if self.deadline is None:
            return False
        latency = self.latency
        return latency is None or latency > self.deadline


@dataclass(frozen=True, slots=True)
class NodeStats:
    """Time, utilisation and energy of one node over a run.

    The node's time from 0 to :attr:`horizon` splits into four exclusive states:
    ``idle`` (no core busy, not sending), ``busy`` (some core busy, not sending),
    ``transmit`` (sending, no core busy) and ``busy_transmit`` (both). With *k* of *c*
    cores busy the node draws ``P_idle + (P_busy − P_idle)·k/c``, plus
    ``P_transmit − P_idle`` while it sends; :attr:`energy` integrates that, so with one
    core it is ``P_idle·idle + P_busy·busy + P_transmit·transmit +
    (P_busy + P_transmit − P_idle)·busy_transmit``.

    Attributes
    ----------
    node
        Node id.
    horizon
        End of the node's accounted time, seconds: the end of the run, or its failure.
    idle, busy, transmit, busy_transmit
        Time in each state, seconds; they sum to :attr:`horizon`.
    core_seconds
        Sum over tasks of the time they ran on the node, seconds.
    utilisation
        ``core_seconds / (cores · horizon)`` (0 for a zero horizon).
    energy
        Joules (0 for a node without a power profile).
    tasks_run
        Executions started on the node (re-runs included).
    failed_at
        When the node failed, seconds, if it did.
    """

    node: NodeId
    horizon: float
    idle: float
    busy: float
    transmit: float
    busy_transmit: float
    core_seconds: float
    utilisation: float
    energy: float
    tasks_run: int
    failed_at: float | None = None


def node_state_times(
    n_nodes: int,
    horizons: np.ndarray,
    run_node: np.ndarray,
    run_start: np.ndarray,
    run_end: np.ndarray,
    tx_node: np.ndarray,
    tx_start: np.ndarray,
    tx_end: np.ndarray,
    cores: np.ndarray,
) -> dict[str, np.ndarray]:
    """Time each node spends in each state, and its core-weighted busy time.

    Intervals are clipped to the node's horizon. Returns arrays (one entry per node) of
    ``busy`` (some core busy, not sending), ``transmit`` (sending, no core busy),
    ``busy_transmit`` (both), ``idle`` (neither) seconds, and ``core_fraction`` =
    ∫ k(t)/cores dt and ``sending`` = ∫ [sending] dt, the two integrals the energy needs.
    """
    h_run = horizons[run_node] if run_node.size else np.zeros(0)
    h_tx = horizons[tx_node] if tx_node.size else np.zeros(0)
    rs, re_ = np.minimum(run_start, h_run), np.minimum(run_end, h_run)
    ts, te = np.minimum(tx_start, h_tx), np.minimum(tx_end, h_tx)
    node = np.concatenate([run_node, run_node, tx_node, tx_node]).astype(np.int64)
    time = np.concatenate([rs, re_, ts, te])
    d_core = np.concatenate(
        [np.ones(rs.size), -np.ones(re_.size), np.zeros(ts.size), np.zeros(te.size)]
    )
    d_tx = np.concatenate(
        [np.zeros(rs.size), np.zeros(re_.size), np.ones(ts.size), -np.ones(te.size)]
    )
    out = {
        name: np.zeros(n_nodes)
        for name in ("busy", "transmit", "busy_transmit", "idle", "core_fraction", "sending")
    }
    if time.size:
        order = np.lexsort((time, node))
        node, time, d_core, d_tx = node[order], time[order], d_core[order], d_tx[order]
        k = np.cumsum(d_core)  # every node's deltas sum to 0, so the running sum is per node
        x = np.cumsum(d_tx)
        same = node[1:] == node[:-1]
        dt = np.where(same, time[1:] - time[:-1], 0.0)
        k, x, seg_node = np.round(k[:-1]), np.round(x[:-1]), node[:-1]
        busy = k > 0
        sending = x > 0
        np.add.at(out["busy"], seg_node, dt * (busy & ~sending))
        np.add.at(out["transmit"], seg_node, dt * (~busy & sending))
        np.add.at(out["busy_transmit"], seg_node, dt * (busy & sending))
        np.add.at(out["core_fraction"], seg_node, dt * k / cores[seg_node])
        np.add.at(out["sending"], seg_node, dt * sending)
    out["idle"] = np.maximum(horizons - out["busy"] - out["transmit"] - out["busy_transmit"], 0.0)
    return out


@dataclass(frozen=True, slots=True)
class ReplanRecord:
    """One re-plan of a run under the ``replan`` failure policy.

    Attributes
    ----------
    time
        When the survivors had finished their running tasks and the rest was planned
        again, seconds (the new plan's nodes are busy until then).
    failed
        The nodes that failed since the previous plan.
    tasks
        Tasks re-planned: every task still needed, lost or not yet run.
    reused
        Finished results the plan reuses where they are held (its stubs).
    algorithm
        The scheduler that re-planned.
    schedule
        The new plan, of the remaining problem (stubs are zero-work tasks pinned to their
        holders; times in seconds since the run's start); ``None`` if none could be made.
    reason
        Why no plan could be made (a needed task pinned to a failed node, say): the run
        then went on as under the ``fail`` policy. ``None`` for a plan.
    """

    time: float
    failed: tuple[NodeId, ...]
    tasks: int
    reused: int
    algorithm: str
    schedule: Schedule | None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class SimResult:
    """The result of simulating one schedule.

    Attributes
    ----------
    algorithm
        The schedule's algorithm name.
    makespan
        Finish of the last task that finished, seconds.
    predicted_makespan
        The schedule's makespan, seconds.
    horizon
        End of the run: the last task finish, transfer end or failure, seconds.
    requests
        One per request (the implicit one for a problem without requests).
    nodes
        One per node, in cluster order.
    tasks
        Per-task results.
    trace
        Events in the order they happened (empty unless ``record_trace``).
    transfers, bytes_sent
        Transfers that crossed the network and the bytes they carried.
    events
        Discrete events the engine processed.
    replans
        The re-plans made (or attempted) under the ``replan`` failure policy, in order.
    """

    algorithm: str
    makespan: float
    predicted_makespan: float
    horizon: float
    requests: tuple[RequestResult, ...]
    nodes: tuple[NodeStats, ...]
    tasks: TaskTable
    trace: tuple[TraceEvent, ...] = ()
    transfers: int = 0
    bytes_sent: float = 0.0
    events: int = 0
    replans: tuple[ReplanRecord, ...] = ()

    @property
    def energy(self) -> float:
        """Total energy of every node, joules."""
        return float(sum(n.energy for n in self.nodes))

    @property
    def completed(self) -> bool:
        """Whether every task finished."""
        return bool((self.tasks.status == 1).all())

    @property
    def latencies(self) -> list[float]:
        """Latencies of the completed requests, seconds."""
        return [r.latency for r in self.requests if r.latency is not None]

    @property
    def mean_latency(self) -> float:
        """Mean latency of the completed requests, seconds (``nan`` if none completed)."""
        values = self.latencies
        return sum(values) / len(values) if values else math.nan

    @property
    def predicted_mean_latency(self) -> float:
        """Mean of the schedule's request latencies, seconds."""
        values = [r.predicted_latency for r in self.requests if r.predicted_latency is not None]
        return sum(values) / len(values) if values else math.nan

    def node(self, node: NodeId) -> NodeStats:
        """The stats of ``node`` (KeyError if there is none)."""
        for stats in self.nodes:
            if stats.node == node:
                return stats
        raise KeyError(node)
