"""Schedules: which node runs each task, from when to when.

A :class:`Schedule` is what every scheduler returns and what the validator, the
simulator, the runtime and the plots consume. It is immutable; its assignments are kept
sorted by start time, then task id, which is also the order of its JSON form.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from edgeoffload.errors import ModelError
from edgeoffload.model.task_graph import NodeId, TaskId

__all__ = ["Assignment", "Schedule"]


@dataclass(frozen=True, slots=True)
class Assignment:
    """Task ``task`` runs on node ``node`` from ``start`` to ``finish`` (seconds)."""

    task: TaskId
    node: NodeId
    start: float
    finish: float

    @property
    def duration(self) -> float:
        """``finish - start``, seconds."""
        return self.finish - self.start


class Schedule:
    """An immutable schedule.

    Parameters
    ----------
    algorithm
        Name of the scheduler that made it (the name the user asked for).
    assignments
        One per task, in any order.
    details
        What the scheduler wants reported beside the schedule, as JSON-ready values
        (DHS: the load condition it found and the algorithm it chose).

    Examples
    --------
    >>> s = Schedule("heft", [Assignment("b", "p", 2.0, 3.0), Assignment("a", "p", 0.0, 2.0)])
    >>> s.makespan, [a.task for a in s]
    (3.0, ['a', 'b'])
    """

    __slots__ = ("_by_task", "algorithm", "assignments", "details")

    def __init__(
        self,
        algorithm: str,
        assignments: Iterable[Assignment],
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.algorithm = algorithm
        self.assignments: tuple[Assignment, ...] = tuple(
            sorted(assignments, key=lambda a: (a.start, a.task))
        )
        self.details: dict[str, Any] = dict(details or {})
        self._by_task: dict[TaskId, Assignment] = {}
        for a in self.assignments:
            if a.task in self._by_task:
                raise ModelError(f"task {a.task!r} is assigned twice", "assignments")
            self._by_task[a.task] = a

    def __iter__(self) -> Iterator[Assignment]:
        return iter(self.assignments)

    def shifted(self, seconds: float) -> Schedule:
        """This schedule with every start and finish ``seconds`` later."""
        if seconds == 0:
            return self
        moved = [
            Assignment(a.task, a.node, a.start + seconds, a.finish + seconds)
            for a in self.assignments
        ]
        return Schedule(self.algorithm, moved, self.details)

    def __len__(self) -> int:
        return len(self.assignments)

    def __repr__(self) -> str:
        return f"Schedule({self.algorithm!r}, {len(self)} tasks, makespan={self.makespan:g})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schedule):
            return NotImplemented
        return (self.algorithm, self.assignments, self.details) == (
            other.algorithm,
            other.assignments,
            other.details,
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def makespan(self) -> float:
        """Finish time of the last task, seconds (0 for an empty schedule)."""
        return max((a.finish for a in self.assignments), default=0.0)

    def assignment(self, task: TaskId) -> Assignment:
        """The assignment of ``task`` (KeyError if it has none)."""
        return self._by_task[task]

    def __contains__(self, task: object) -> bool:
        return task in self._by_task

    def timeline(self, node: NodeId) -> list[Assignment]:
        """The assignments on ``node``, in start order."""
        return [a for a in self.assignments if a.node == node]

    def timelines(self) -> dict[NodeId, list[Assignment]]:
        """Assignments per node, each list in start order."""
        out: dict[NodeId, list[Assignment]] = {}
        for a in self.assignments:
            out.setdefault(a.node, []).append(a)
        return out

    def renamed(self, algorithm: str, details: Mapping[str, Any] | None = None) -> Schedule:
        """The same assignments under another algorithm name and details."""
        return Schedule(algorithm, self.assignments, details)

    # -- JSON --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: algorithm, makespan, assignments, then the details."""
        out: dict[str, Any] = {
            "algorithm": self.algorithm,
            "makespan": self.makespan,
            "assignments": [
                {"task": a.task, "node": a.node, "start": a.start, "finish": a.finish}
                for a in self.assignments
            ],
        }
        for key, value in self.details.items():
            out.setdefault(key, value)
        return out

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schedule:
        """Read a schedule back from :meth:`to_dict`'s form (or the CLI's JSON output)."""
        try:
            assignments = [
                Assignment(str(a["task"]), str(a["node"]), float(a["start"]), float(a["finish"]))
                for a in data["assignments"]
            ]
            algorithm = str(data["algorithm"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"not a schedule: {exc!r}", "schedule") from exc
        reserved = {"algorithm", "makespan", "assignments", "requests"}
        details = {k: v for k, v in data.items() if k not in reserved}
        return cls(algorithm, assignments, details)
