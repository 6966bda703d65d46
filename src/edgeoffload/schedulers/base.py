"""The scheduler contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from edgeoffload.model import Problem, Schedule

__all__ = ["Scheduler"]


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

    def applies_to(self, problem: Problem) -> str | None:
        """Why this scheduler cannot schedule ``problem``, or ``None`` if it can."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
