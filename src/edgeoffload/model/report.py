"""The result of scheduling a problem in the problem file's output form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgeoffload.model.problem import Problem
from edgeoffload.model.schedule import Schedule
from edgeoffload.model.task_graph import RequestId

__all__ = [
    "RequestOutcome",
    "bound_gap",
    "gap_phrase",
    "mean_latency",
    "request_outcomes",
    "schedule_report",
]


@dataclass(frozen=True, slots=True)
class RequestOutcome:
    """When request ``id`` arrived and when its last task finished, seconds."""

    id: RequestId
    arrival: float
    finish: float

    @property
    def latency(self) -> float:
        """``finish - arrival``, seconds."""
        return self.finish - self.arrival


def request_outcomes(problem: Problem, schedule: Schedule) -> list[RequestOutcome]:
    """Arrival, finish and latency of each request (the implicit one if none is listed)."""
    finish = [r.arrival for r in problem.effective_requests]
    for i, task in enumerate(problem.graph.tasks):
        r = problem.request_index_of_task(i)
        finish[r] = max(finish[r], schedule.assignment(task.id).finish)
    return [
        RequestOutcome(r.id, r.arrival, f)
        for r, f in zip(problem.effective_requests, finish, strict=True)
    ]


def mean_latency(problem: Problem, schedule: Schedule) -> float:
    """The mean latency of the problem's requests under ``schedule``, seconds."""
    outcomes = request_outcomes(problem, schedule)
    return sum(o.latency for o in outcomes) / len(outcomes)


def schedule_report(
    problem: Problem,
    schedule: Schedule,
    *,
    lower_bound: float | None = None,
    chosen: str | None = None,
) -> dict[str, Any]:
    """The JSON that ``edgeoffload schedule --json`` prints (docs/problem-file.md).

    Keys: ``algorithm``, ``makespan``, ``assignments`` (sorted by start, then task id),
    ``requests`` when the problem lists requests, ``lower_bound`` (s) and ``chosen`` (the
    list scheduler a selecting scheduler such as DHS or the portfolio ran) when given, then
    the scheduler's details (DHS adds ``dhs``, the optimal scheduler ``optimal``).
    """
    out = schedule.to_dict()
    details = {
        k: out.pop(k) for k in list(out) if k not in ("algorithm", "makespan", "assignments")
    }
    if problem.has_requests:
        out["requests"] = [
            {"id": o.id, "arrival": o.arrival, "finish": o.finish, "latency": o.latency}
            for o in request_outcomes(problem, schedule)
        ]
    if lower_bound is not None:
        out["lower_bound"] = lower_bound
    if chosen is not None:
        out["chosen"] = chosen
    out.update(details)
    return out


def bound_gap(problem: Problem, makespan: float, bound: float) -> float | None:
    """How far ``makespan`` is above ``bound``, as a fraction of ``bound`` measured from
    the problem's time origin (its earliest arrival); ``None`` when that is not positive.

    Examples
    --------
    >>> from edgeoffload.model import Cluster, Node, Problem, Task, TaskGraph
    >>> p = Problem(TaskGraph([Task("a", 1.0)]), Cluster([Node("n", 1.0)]))
    >>> bound_gap(p, 12.0, 10.0)
    0.2
    """
    span = bound - problem.time_origin
    if not span > 0:
        return None
    return max(0.0, makespan - bound) / span


def gap_phrase(problem: Problem, makespan: float, bound: float) -> str:
    """``"4.1 % above the lower bound 11.8 s"``, or ``"at the lower bound 11.8 s"`` (within
    1e-6 of it, as a proven optimum is)."""
    gap = bound_gap(problem, makespan, bound)
    if makespan <= bound or (gap is not None and gap <= 1e-6):
        return f"at the lower bound {bound:.4g} s"
    if gap is None:
        return f"lower bound {bound:.4g} s"
    percent = 100 * gap
    shown = f"{percent:.1f}" if percent >= 0.1 else f"{percent:.1g}"
    return f"{shown} % above the lower bound {bound:.4g} s"
