"""Portfolio: run several schedulers and keep the shortest predicted makespan."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from edgeoffload.errors import ModelError
from edgeoffload.model import Problem, Schedule
from edgeoffload.schedulers.base import Scheduler
from edgeoffload.schedulers.registry import get_scheduler

__all__ = ["PortfolioScheduler"]


class PortfolioScheduler(Scheduler):
    """Run each member and keep the schedule with the smallest makespan.

    Parameters
    ----------
    members
        Scheduler names, in tie-breaking order (default HEFT, CPOP, PEFT); a list or a
        comma-separated string. Members that do not apply to a problem are skipped.

    Notes
    -----
    Its makespan is never above any member's, at the cost of running them all. Ties go
    to the member listed first. The details carry ``portfolio``: the chosen member and
    every member's makespan.
    """

    name: ClassVar[str] = "portfolio"
    summary: ClassVar[str] = "Runs HEFT, CPOP and PEFT (or given members) and keeps the shortest"

    def __init__(self, *, members: Sequence[str] | str = ("heft", "cpop", "peft")) -> None:
        names = members.split(",") if isinstance(members, str) else list(members)
        names = [n.strip() for n in names]
        if not names or not all(isinstance(n, str) and n for n in names):
            raise ModelError(f"must name at least one scheduler, got {members!r}", "members")
        if self.name in names:
            raise ModelError("a portfolio may not contain itself", "members")
        self.members = tuple(names)

    def __repr__(self) -> str:
        return f"PortfolioScheduler(members={self.members!r})"

    def applies_to(self, problem: Problem) -> str | None:
        if all(get_scheduler(m).applies_to(problem) for m in self.members):
            return "no member applies to this problem"
        return None

    def schedule(self, problem: Problem) -> Schedule:
        best: Schedule | None = None
        makespans: dict[str, float | None] = {}
        for member in self.members:
            scheduler = get_scheduler(member)
            if scheduler.applies_to(problem) is not None:
                makespans[member] = None
                continue
            result = scheduler.schedule(problem)
            makespans[member] = result.makespan
            if best is None or result.makespan < best.makespan:
                best = result
        if best is None:
            raise ModelError("no member of the portfolio applies to this problem", "members")
        report = {"chosen": best.algorithm, "makespans": makespans}
        return best.renamed(self.name, {**best.details, "portfolio": report})
