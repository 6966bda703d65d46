"""PEFT: Predict Earliest Finish Time.

References
----------
.. [1] H. Arabnejad, J. G. Barbosa, "List scheduling algorithm for heterogeneous systems
   by an optimistic cost table", IEEE TPDS 25(3):682-694, 2014, doi:10.1109/TPDS.2013.57.
"""

from __future__ import annotations

from typing import ClassVar

from edgeoffload.model import Problem, Schedule
from edgeoffload.schedulers.base import Scheduler
from edgeoffload.schedulers.placement import ListSchedule, ready_list, usable_nodes
from edgeoffload.schedulers.ranks import optimistic_cost_table

__all__ = ["PEFTScheduler"]


class PEFTScheduler(Scheduler):
    """PEFT [1]_: look ahead with the optimistic cost table (OCT).

    rank_oct(t) = mean of OCT(t, ·) over the nodes; tasks are taken from a ready list by
    decreasing rank_oct, and each goes to the node minimising the optimistic EFT,
    O_EFT(t, p) = EFT(t, p) + OCT(t, p) (insertion-based EFT).

    Notes
    -----
    (a) Ties: equal rank_oct by topological position; equal O_EFT by node order.
    (b) O(e·P + v·P·s) like HEFT; the table costs O(e·P) (see
    :func:`~edgeoffload.schedulers.ranks.optimistic_cost_table`).
    (c) Deviations from the paper: communication in the table is the mean transfer time
    over ordered pairs of distinct nodes, which is the paper's c̄ with uniform links; a
    pinned task's OCT row allows only its pin, and rank_oct averages over the nodes the
    task may use. Arrivals and ``available_from`` are honoured in EFT. An unpinned task
    never goes to a ``storage`` node, and the table leaves those out for it.

    References
    ----------
    .. [1] H. Arabnejad, J. G. Barbosa, IEEE TPDS 25(3):682-694, 2014,
       doi:10.1109/TPDS.2013.57.
    """

    name: ClassVar[str] = "peft"
    summary: ClassVar[str] = (
        "Predict Earliest Finish Time (Arabnejad & Barbosa 2014): optimistic cost table look-ahead"
    )

    def schedule(self, problem: Problem) -> Schedule:
        table = optimistic_cost_table(problem)
        allowed = usable_nodes(problem)  # pins; no storage node for an unpinned task
        rank = (table * allowed).sum(axis=1) / allowed.sum(axis=1)
        state = ListSchedule(problem)
        for i in ready_list(problem, rank):
            state.place(i, state.best_candidate(i, bias=table[i]))
        return state.result(self.name)
