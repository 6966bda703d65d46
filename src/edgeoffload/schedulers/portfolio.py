"""Portfolio: run several schedulers and keep the shortest predicted makespan."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

from edgeoffload.errors import ModelError
from edgeoffload.model import Problem, Schedule
from edgeoffload.schedulers.base import Scheduler
from edgeoffload.schedulers.polish import polish
from edgeoffload.schedulers.registry import get_scheduler
from edgeoffload.schedulers.ties import shorter

__all__ = ["DEFAULT_MEMBERS", "DEFAULT_POLISH", "PortfolioScheduler", "member_scheduler"]

DEFAULT_POLISH = 20_000
"""Task placements the local search after the members may make (:func:`polish`). One pass
costs about tasks² × (nodes − 1) placements: a whole pass or more up to about 80 tasks on
4 nodes, part of one beyond (a few tenths of a second at most)."""

DEFAULT_MEMBERS = (
    "heft",
    "cpop",
    "peft",
    "single",
    "heft:average=harmonic",
    "heft:average=best",
)
"""The three list schedulers; every task on the one best node (``single``), which they
cannot reach where transfers dominate; and HEFT ranking by two other averages of the
execution times, since which average ranks best depends on the graph."""


class PortfolioScheduler(Scheduler):
    """Run each member and keep the schedule with the smallest makespan.

    Parameters
    ----------
    members
        Schedulers, in tie-breaking order (default :data:`DEFAULT_MEMBERS`); a list or a
        comma-separated string. A member is a name, optionally with parameters after
        colons: ``heft:average=best``. Members that do not apply to a problem are skipped.
    polish
        Task placements the local search on the best member's schedule may make
        (:func:`~edgeoffload.schedulers.polish.polish`; default :data:`DEFAULT_POLISH`);
        0 turns it off.

    Notes
    -----
    Its makespan is never above any member's (beyond a tie), at the cost of running them
    all. Ties (:func:`~edgeoffload.schedulers.ties.ties`) go to the member listed first.
    The details carry ``portfolio``: the chosen member, every member's makespan and, when
    the local search shortened the chosen schedule, ``polished_from`` (its makespan
    before).
    """

    name: ClassVar[str] = "portfolio"
    summary: ClassVar[str] = (
        "Runs HEFT (three rank averages), CPOP, PEFT and Single and keeps the shortest"
    )

    def __init__(
        self, *, members: Sequence[str] | str = DEFAULT_MEMBERS, polish: int = DEFAULT_POLISH
    ) -> None:
        if isinstance(polish, bool) or not isinstance(polish, int) or polish < 0:
            raise ModelError(f"must be a whole number >= 0, got {polish!r}", "polish")
        self.polish = polish
        names = members.split(",") if isinstance(members, str) else list(members)
        names = [n.strip() for n in names]
        if not names or not all(isinstance(n, str) and n for n in names):
            raise ModelError(f"must name at least one scheduler, got {members!r}", "members")
        if any(n.partition(":")[0].strip() == self.name for n in names):
            raise ModelError("a portfolio may not contain itself", "members")
        self.members = tuple(names)
        self._schedulers = tuple(member_scheduler(n) for n in names)

    def __repr__(self) -> str:
        return f"PortfolioScheduler(members={self.members!r}, polish={self.polish})"

    def applies_to(self, problem: Problem) -> str | None:
        if all(s.applies_to(problem) for s in self._schedulers):
            return "no member applies to this problem"
        return None

    def schedule(self, problem: Problem) -> Schedule:
        best: Schedule | None = None
        chosen = ""
        makespans: dict[str, float | None] = {}
        for member, scheduler in zip(self.members, self._schedulers, strict=True):
            if scheduler.applies_to(problem) is not None:
                makespans[member] = None
                continue
            result = scheduler.schedule(problem)
            makespans[member] = result.makespan
            if best is None or shorter(result.makespan, best.makespan):
                best, chosen = result, member
        if best is None:
            raise ModelError("no member of the portfolio applies to this problem", "members")
        report: dict[str, Any] = {"chosen": chosen, "makespans": makespans}
        polished = polish(problem, best, self.polish)
        if polished is not None:
            report["polished_from"] = best.makespan
            best = polished
        return best.renamed(self.name, {**best.details, "portfolio": report})


def member_scheduler(spec: str) -> Scheduler:
    """The scheduler a portfolio member names: ``heft``, or ``heft:average=best`` (each
    ``key=value`` after a colon is a parameter; a value that reads as JSON, a number or
    ``true``, is taken as such, else as text)."""
    name, *pairs = (part.strip() for part in spec.split(":"))
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ModelError(f"expected NAME:KEY=VALUE, got {spec!r}", "members")
        try:
            params[key] = json.loads(text)
        except json.JSONDecodeError:
            params[key] = text
    return get_scheduler(name, **params)
