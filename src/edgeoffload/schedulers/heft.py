"""HEFT: Heterogeneous Earliest Finish Time.

References
----------
.. [1] H. Topcuoglu, S. Hariri, M.-Y. Wu, "Performance-effective and low-complexity task
   scheduling for heterogeneous computing", IEEE TPDS 13(3):260-274, 2002,
   doi:10.1109/71.993206.
"""

from __future__ import annotations

from typing import ClassVar

from edgeoffload.errors import ModelError
from edgeoffload.model import Problem, Schedule
from edgeoffload.schedulers.base import Scheduler
from edgeoffload.schedulers.placement import place_in_order
from edgeoffload.schedulers.ranks import AVERAGES, upward_rank_order

__all__ = ["HEFTScheduler"]


class HEFTScheduler(Scheduler):
    """HEFT [1]_: tasks by decreasing upward rank, each on the node where it finishes first.

    Parameters
    ----------
    average
        How the rank averages a task's execution times over the nodes (w̄): ``mean`` (the
        paper's), ``harmonic`` (its time at the nodes' mean speed) or ``best`` (its
        shortest); see :func:`~edgeoffload.schedulers.ranks.mean_exec`. A schedule made
        with another than ``mean`` says so in its details (``heft.average``).

    Notes
    -----
    (a) Ties: equal ranks by topological position (Kahn's order, taking ready tasks in
    the problem's task order); equal finish times by node order.
    (b) O(e·P + v·P·s) for v tasks, e dependencies, P nodes and s busy intervals searched
    per insertion (usually a few).
    (c) Deviations from the paper: pinned tasks are placed only on their node and their
    w̄ is their time there; tasks start no earlier than their request's arrival and a
    node's ``available_from``. Without pins, arrivals and busy nodes it is the paper's
    algorithm, and it reproduces the paper's makespan of 80 on its Fig. 2 example.

    References
    ----------
    .. [1] H. Topcuoglu, S. Hariri, M.-Y. Wu, IEEE TPDS 13(3):260-274, 2002,
       doi:10.1109/71.993206.
    """

    name: ClassVar[str] = "heft"
    summary: ClassVar[str] = (
        "Heterogeneous Earliest Finish Time (Topcuoglu et al. 2002): upward-rank order, "
        "earliest finish"
    )

    def __init__(self, *, average: str = "mean") -> None:
        if average not in AVERAGES:
            raise ModelError(f"must be one of {', '.join(AVERAGES)}, got {average!r}", "average")
        self.average = average

    def __repr__(self) -> str:
        return f"HEFTScheduler(average={self.average!r})"

    def schedule(self, problem: Problem) -> Schedule:
        state = place_in_order(problem, upward_rank_order(problem, self.average))
        details = None if self.average == "mean" else {"heft": {"average": self.average}}
        return state.result(self.name, details)
