"""List schedulers: ``Scheduler.schedule(problem) -> Schedule``.

Built in: HEFT and CPOP (Topcuoglu et al. 2002), PEFT (Arabnejad & Barbosa 2014), DHS
(the seed paper's load-aware hybrid), a portfolio, the Local and Edge baselines, and an
exact scheduler on OR-Tools CP-SAT (``optimal``, with the ``exact`` extra).
:func:`lower_bound` bounds every schedule's makespan from below. Add your own with
:func:`register_scheduler` or the ``edgeoffload.schedulers`` entry point.
"""

from __future__ import annotations

from edgeoffload.model import Problem, Schedule
from edgeoffload.schedulers.base import Scheduler, chosen_scheduler
from edgeoffload.schedulers.baselines import EdgeScheduler, LocalScheduler, SingleNodeScheduler
from edgeoffload.schedulers.bounds import lower_bound
from edgeoffload.schedulers.cpop import CPOPScheduler
from edgeoffload.schedulers.dhs import DHSScheduler, LoadClass, classify_load
from edgeoffload.schedulers.heft import HEFTScheduler
from edgeoffload.schedulers.optimal import OptimalScheduler
from edgeoffload.schedulers.peft import PEFTScheduler
from edgeoffload.schedulers.portfolio import PortfolioScheduler
from edgeoffload.schedulers.registry import (
    ENTRY_POINT_GROUP,
    SCHEDULERS,
    available_schedulers,
    check_scheduler_name,
    get_scheduler,
    plugin_errors,
    register_scheduler,
)
from edgeoffload.schedulers.replan import Replan, holder, remaining_problem, replan

__all__ = [
    "ENTRY_POINT_GROUP",
    "SCHEDULERS",
    "CPOPScheduler",
    "DHSScheduler",
    "EdgeScheduler",
    "HEFTScheduler",
    "LoadClass",
    "LocalScheduler",
    "OptimalScheduler",
    "PEFTScheduler",
    "PortfolioScheduler",
    "Replan",
    "Scheduler",
    "SingleNodeScheduler",
    "available_schedulers",
    "check_scheduler_name",
    "chosen_scheduler",
    "classify_load",
    "get_scheduler",
    "holder",
    "lower_bound",
    "plugin_errors",
    "register_scheduler",
    "remaining_problem",
    "replan",
    "schedule",
]

for _cls in (
    HEFTScheduler,
    CPOPScheduler,
    PEFTScheduler,
    DHSScheduler,
    PortfolioScheduler,
    LocalScheduler,
    EdgeScheduler,
    SingleNodeScheduler,
    OptimalScheduler,
):
    register_scheduler(_cls)


def schedule(problem: Problem, algorithm: str = "dhs", **params: object) -> Schedule:
    """Schedule ``problem`` with the scheduler called ``algorithm``.

    Examples
    --------
    >>> from edgeoffload.model import Cluster, Node, Problem, Task, TaskGraph
    >>> p = Problem(TaskGraph([Task("a", 4.0)]), Cluster([Node("slow", 1.0), Node("fast", 2.0)]))
    >>> s = schedule(p, "heft")
    >>> s.makespan, s.assignment("a").node
    (2.0, 'fast')
    """
    return get_scheduler(algorithm, **params).schedule(problem)
