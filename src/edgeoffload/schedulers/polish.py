"""Local search after list scheduling: move one task at a time while the makespan drops.

List schedulers decide each task once, greedily; a task placed early for its own earliest
finish can delay everything after it. :func:`polish` takes a schedule's node choices and
tries, task by task (by decreasing upward rank), every other node the task may use. Each
try is timed by placing the tasks in upward-rank order, insertion-based, each on its
chosen node (the Local and Edge baselines' placement); a move is kept when the makespan
drops by more than a tie (:mod:`~edgeoffload.schedulers.ties`). Passes repeat until one
keeps no move or the budget of task placements is spent.

The search is deterministic (fixed order, first improvement) and never returns a schedule
worse than the one it started from.
"""

from __future__ import annotations

import numpy as np

from edgeoffload.model import Problem, Schedule
from edgeoffload.schedulers.placement import ListSchedule, place_in_order, usable_nodes
from edgeoffload.schedulers.ranks import upward_rank_order
from edgeoffload.schedulers.ties import shorter

__all__ = ["polish"]


def polish(problem: Problem, schedule: Schedule, budget: int) -> Schedule | None:
    """A schedule shorter than ``schedule`` found by moving single tasks, or ``None``.

    ``budget`` caps the task placements the search may make (each try places every task
    once); 0 disables it. Pinned tasks never move.
    """
    n = len(problem.graph)
    if budget < n or n == 0:
        return None
    order = upward_rank_order(problem)
    usable = usable_nodes(problem)
    node_index = problem.costs.node_index
    assigned = np.array([node_index(schedule.assignment(t.id).node) for t in problem.graph.tasks])
    movable = [i for i in order if usable[i].sum() > 1]

    def timed(nodes: np.ndarray) -> ListSchedule:
        allowed = np.zeros_like(usable)
        allowed[np.arange(n), nodes] = True
        return place_in_order(problem, order, allowed)

    best_state = timed(assigned)
    best = max(best_state.finish)
    spent = n
    improved = True
    while improved and spent + n <= budget:
        improved = False
        for i in movable:
            current = assigned[i]
            for q in np.flatnonzero(usable[i]).tolist():
                if q == current or spent + n > budget:
                    continue
                assigned[i] = q
                state = timed(assigned)
                spent += n
                makespan = max(state.finish)
                if shorter(makespan, best):
                    best, best_state, current, improved = makespan, state, q, True
            assigned[i] = current
    if shorter(best, schedule.makespan):
        return best_state.result(schedule.algorithm, schedule.details)
    return None
