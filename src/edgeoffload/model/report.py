"""The result of scheduling a problem in the problem file's output form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgeoffload.model.problem import Problem
from edgeoffload.model.schedule import Schedule
from edgeoffload.model.task_graph import RequestId

__all__ = [
    "RequestOutcome",
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


def schedule_report(problem: Problem, schedule: Schedule) -> dict[str, Any]:
    """The JSON that ``edgeoffload schedule --json`` prints (docs/problem-file.md).

    Keys: ``algorithm``, ``makespan``, ``assignments`` (sorted by start, then task id),
    ``requests`` when the problem lists requests, then the scheduler's details (DHS adds
    ``dhs``).
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
    out.update(details)
    return out
