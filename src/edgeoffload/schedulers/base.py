"""The scheduler contract."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from edgeoffload.errors import ModelError
from edgeoffload.model import Problem, Schedule, validate_schedule
from edgeoffload.schedulers.placement import homeless_task

__all__ = ["Scheduler", "chosen_scheduler"]


class Scheduler(ABC):
    """Turns a :class:`~edgeoffload.model.Problem` into a :class:`~edgeoffload.model.Schedule`.

    To implement a scheduler:

    1. Subclass :class:`Scheduler`; set ``name`` (the registry and CLI key, lower case) and
       ``summary`` (one line for ``edgeoffload schedulers``).
    2. Take any parameters as keyword arguments of ``__init__`` and check them there,
       raising :class:`~edgeoffload.errors.ModelError` naming the parameter.
    3. Implement :meth:`schedule`. Honour pinned tasks, request arrivals and nodes'
       ``available_from``; the helpers in ``edgeoffload.schedulers.placement`` do all three.
       Same input, same output: break every tie by a documented total order.
    4. If the scheduler needs something of the problem (an edge node, say), override
       :meth:`applies_to` to say what is missing.
    5. Register it: decorate the class with :func:`edgeoffload.schedulers.register_scheduler`,
       or publish it from another package under the entry-point group
       ``edgeoffload.schedulers``. The contract test then covers it.
    """

    name: ClassVar[str]
    summary: ClassVar[str] = ""

    @abstractmethod
    def schedule(self, problem: Problem) -> Schedule:
        """A valid schedule of ``problem``; ``Schedule.algorithm`` is :attr:`name`."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        inner = cls.__dict__.get("schedule")
        if inner is not None and not getattr(inner, "_relative", False):
            cls.schedule = _in_relative_time(inner)  # type: ignore[method-assign,assignment]

    def applies_to(self, problem: Problem) -> str | None:
        """Why this scheduler cannot schedule ``problem``, or ``None`` if it can."""
        return None

    def checked_schedule(self, problem: Problem, where: str = "algorithm") -> Schedule:
        """:meth:`schedule`, refused in one line when it does not apply and checked by
        the validator after, so that no scheduler's bug reaches a user as a result.

        Raises
        ------
        ModelError
            The scheduler does not apply to ``problem`` (named by ``where``), or a task
            may run on no node (a storage-only cluster, say): a mistake in the input.
        InvalidScheduleError
            The schedule breaks a rule of the problem (a bug).
        """
        stranded = homeless_task(problem)
        if stranded is not None:
            raise ModelError(
                f"task {stranded!r} may run on no node (unpinned tasks may not run on a"
                " storage node, and this cluster has no other)",
                "nodes",
            )
        reason = self.applies_to(problem)
        if reason is not None:
            raise ModelError(reason, where)
        result = self.schedule(problem)
        validate_schedule(problem, result)
        return result

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


_SELECTORS = ("dhs", "portfolio")
"""Schedulers that pick a list scheduler and record it in ``details[name]["chosen"]``."""


def chosen_scheduler(schedule: Schedule) -> str | None:
    """The list scheduler that DHS or the portfolio picked to make ``schedule``.

    Read from ``schedule.details["dhs"]["chosen"]``, else
    ``schedule.details["portfolio"]["chosen"]``; ``None`` for a schedule that no
    selecting scheduler made (HEFT's, say).

    Examples
    --------
    >>> from edgeoffload.model import Schedule
    >>> chosen_scheduler(Schedule("dhs", [], {"dhs": {"chosen": "peft"}}))
    'peft'
    >>> chosen_scheduler(Schedule("heft", [])) is None
    True
    """
    for name in _SELECTORS:
        report = schedule.details.get(name)
        if isinstance(report, Mapping) and "chosen" in report:
            return str(report["chosen"])
    return None


SHIFT_FROM = 1e6
"""Seconds: problems whose earliest arrival is this late are scheduled in relative time
(a float at 1e6 s still resolves 1e-10 s)."""


def _in_relative_time(
    schedule: Callable[[Any, Problem], Schedule],
) -> Callable[[Any, Problem], Schedule]:
    """``schedule`` run on the problem moved to start at 0 (:attr:`Problem.time_origin`),
    its result moved back, when the problem starts at :data:`SHIFT_FROM` seconds or
    later: every scheduler decides the same at t = 0 and at Unix timestamps, and its
    float sums keep their precision. Earlier origins are left alone, so that a schedule
    stays bit for bit what the simulator replays."""

    @functools.wraps(schedule)
    def relative(self: Any, problem: Problem) -> Schedule:
        origin = problem.time_origin
        if origin < SHIFT_FROM:
            return schedule(self, problem)
        return schedule(self, problem.shifted(origin)).shifted(origin)

    relative._relative = True  # type: ignore[attr-defined]
    return relative
