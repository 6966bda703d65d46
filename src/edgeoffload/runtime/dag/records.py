"""What a scheduled DAG run reports: executions, transfers, request timings, the run."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edgeoffload.model import Problem, Schedule
from edgeoffload.model.learning import LearnedCosts
from edgeoffload.model.task_graph import NodeId, RequestId, TaskId

__all__ = ["DagRun", "RequestTiming", "TaskExecution", "TransferRecord"]


@dataclass(frozen=True, slots=True)
class TaskExecution:
    """One execution of a task on a worker, seconds since the run started.

    ``final`` is the execution whose result was used; an execution on a worker that then
    failed, whose result was lost and re-computed elsewhere, is not final. ``failed``: the
    task raised. ``sequence`` counts the executions on that worker in this run (1, 2, …).
    """

    task: TaskId
    node: NodeId
    start: float
    finish: float
    epoch: int
    final: bool = True
    failed: bool = False
    sequence: int = 0


@dataclass(frozen=True, slots=True)
class TransferRecord:
    """A result pushed from ``source`` to ``target``: from the producer's send to the
    consumer's receipt (unpickled), seconds since the run started; ``data`` bytes."""

    task: TaskId
    source: NodeId
    target: NodeId
    start: float
    end: float
    data: int
    ok: bool = True


@dataclass(frozen=True, slots=True)
class RequestTiming:
    """A request's arrival and the finish of its last task: predicted and measured, s."""

    id: RequestId
    arrival: float
    predicted_finish: float
    measured_finish: float | None

    @property
    def predicted_latency(self) -> float:
        return self.predicted_finish - self.arrival

    @property
    def latency(self) -> float | None:
        """Measured latency, seconds (``None`` if a task's record was lost)."""
        return None if self.measured_finish is None else self.measured_finish - self.arrival


@dataclass(frozen=True, slots=True)
class DagRun:
    """The outcome of :func:`run_dag`.

    Attributes
    ----------
    algorithm
        The scheduler used.
    problem
        The problem that ran (graph, cluster, requests).
    schedule
        The scheduler's schedule: the prediction.
    measured
        The measured timeline as a schedule (``algorithm="measured"``): each task's final
        execution, seconds since the run started. Its durations are real, so it does not
        validate against the cost model.
    executions
        Every execution, including those lost with a failed worker.
    transfers
        Every result pushed between workers.
    outputs
        The requested results, by task id.
    requests
        Per request: predicted and measured finish.
    replans
        The schedules made after failures (of the remaining parts), in order.
    failures
        Each failure, one line (the node and what happened).
    scheduling_seconds, dispatch_seconds, wall_seconds
        Time spent scheduling (all plans), from ``t0`` until every worker had its first
        plan, and from the call to the return, seconds.
    clock_offsets
        Each worker's clock minus the client's, seconds.
    """

    algorithm: str
    problem: Problem
    schedule: Schedule
    measured: Schedule
    executions: tuple[TaskExecution, ...]
    transfers: tuple[TransferRecord, ...]
    outputs: Mapping[TaskId, Any]
    requests: tuple[RequestTiming, ...]
    replans: tuple[Schedule, ...] = ()
    failures: tuple[str, ...] = ()
    scheduling_seconds: float = 0.0
    dispatch_seconds: float = 0.0
    wall_seconds: float = 0.0
    clock_offsets: Mapping[NodeId, float] = field(default_factory=dict)

    @property
    def makespan(self) -> float:
        """Measured makespan: the last final execution's finish, seconds after ``t0``."""
        return self.measured.makespan

    @property
    def predicted_makespan(self) -> float:
        return self.schedule.makespan

    @property
    def error(self) -> float:
        """Relative prediction error of the makespan, ``|measured − predicted| / measured``."""
        if self.makespan <= 0:
            return 0.0 if self.predicted_makespan <= 0 else math.inf
        return abs(self.makespan - self.predicted_makespan) / self.makespan

    def teach(self, costs: LearnedCosts) -> int:
        """Feed what this run measured to ``costs``: every final execution that did not
        fail (its task's work and kind, its duration) and every transfer that arrived
        (timed from its producer's finish, as the cost model's transfers are, to the
        receipt). Returns how many measurements were fed."""
        graph = self.problem.graph
        fed = 0
        produced: dict[tuple[TaskId, NodeId], float] = {}
        for e in self.executions:
            if e.final and not e.failed:
                task = graph.task(e.task)
                costs.observe_task(e.node, task.work or 0.0, task.kind, e.finish - e.start)
                produced[(e.task, e.node)] = e.finish
                fed += 1
        for t in self.transfers:
            if t.ok:
                # the cost model's transfer runs from the producer's finish to the receipt:
                # the sender's wait for its CPU before the push counts (a slow device's)
                start = min(t.start, produced.get((t.task, t.source), t.start))
                costs.observe_transfer(t.source, t.target, t.data, t.end - start)
                fed += 1
        return fed

    def results(self, request: RequestId | None = None) -> dict[TaskId, Any]:
        """The outputs; for ``request``, those of its tasks by their local ids."""
        if request is None:
            return dict(self.outputs)
        prefix = f"{request}/"
        return {t[len(prefix) :]: v for t, v in self.outputs.items() if t.startswith(prefix)}

    def order(self) -> dict[NodeId, list[TaskId]]:
        """Each node's final executions in the order the worker ran them."""
        out: dict[NodeId, list[TaskId]] = {}
        for e in sorted(self.executions, key=lambda e: (e.node, e.sequence, e.start)):
            if e.final:
                out.setdefault(e.node, []).append(e.task)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the outputs)."""
        return {
            "algorithm": self.algorithm,
            "predicted_makespan": self.predicted_makespan,
            "makespan": self.makespan,
            "error": self.error,
            "wall_seconds": self.wall_seconds,
            "scheduling_seconds": self.scheduling_seconds,
            "dispatch_seconds": self.dispatch_seconds,
            "requests": [
                {
                    "id": r.id,
                    "arrival": r.arrival,
                    "predicted_latency": r.predicted_latency,
                    "latency": r.latency,
                }
                for r in self.requests
            ],
            "failures": list(self.failures),
            "predicted": self.schedule.to_dict(),
            "measured": [
                {
                    "task": e.task,
                    "node": e.node,
                    "start": e.start,
                    "finish": e.finish,
                    "epoch": e.epoch,
                    "final": e.final,
                }
                for e in self.executions
            ],
            "transfers": [
                {
                    "task": t.task,
                    "source": t.source,
                    "target": t.target,
                    "start": t.start,
                    "end": t.end,
                    "bytes": t.data,
                }
                for t in self.transfers
            ],
            "replans": [s.to_dict() for s in self.replans],
            "clock_offsets": dict(self.clock_offsets),
        }
