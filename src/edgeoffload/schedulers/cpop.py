"""CPOP: Critical Path On a Processor.

References
----------
.. [1] H. Topcuoglu, S. Hariri, M.-Y. Wu, "Performance-effective and low-complexity task
   scheduling for heterogeneous computing", IEEE TPDS 13(3):260-274, 2002,
   doi:10.1109/71.993206.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from edgeoffload.model import Problem, Schedule
from edgeoffload.schedulers.base import Scheduler
from edgeoffload.schedulers.placement import ListSchedule, ready_list, usable_nodes
from edgeoffload.schedulers.ranks import downward_rank, upward_rank
from edgeoffload.schedulers.ties import first_best, ties

__all__ = ["CPOPScheduler", "critical_path"]


def critical_path(problem: Problem, priority: np.ndarray) -> list[int]:
    """The critical path of [1]_: from the entry task of highest priority, repeatedly the
    first successor (in dependency order) whose priority equals |CP|, down to an exit.

    Priorities are rank_u + rank_d; |CP| is the entry task's priority. Equality is
    :func:`~edgeoffload.schedulers.ties.ties`, since the two ranks are sums of
    floating-point averages; of tied entry tasks the path starts at the first in
    topological order.
    """
    graph = problem.graph
    entries = [i for i in graph.topological_order if not graph.in_edges(i)]
    current = entries[first_best(priority[entries], largest=True)]
    length = float(priority[current])
    target = problem.costs.edge_target
    path = [current]
    while graph.out_edges(current):
        nxt = next(
            (
                int(target[k])
                for k in graph.out_edges(current)
                if ties(float(priority[target[k]]), length)
            ),
            None,
        )
        if nxt is None:  # only possible through rounding; stop rather than leave the path
            break
        path.append(nxt)
        current = nxt
    return path


class CPOPScheduler(Scheduler):
    """CPOP [1]_: critical-path tasks on the one node that runs the whole path fastest.

    Priority of a task = rank_u + rank_d. The critical-path node minimises the summed
    execution time of the critical-path tasks. Tasks are taken from a ready queue by
    decreasing priority; a critical-path task goes to the critical-path node, any other
    to the node where it finishes first (insertion-based).

    Notes
    -----
    (a) Ties: equal priorities by topological position; equal finish times, and equal
    critical-path sums, by node order.
    (b) O(e·P + v·P·s), as HEFT, plus O(v log v) for the queue.
    (c) Deviations from the paper: a pinned task on the critical path runs on its pin,
    and the critical-path node is chosen among the nodes every unpinned path task may use
    (never a ``storage`` node);
    with several entry tasks the path starts at the one of highest priority. Arrivals and
    ``available_from`` are honoured as in HEFT. On the paper's Fig. 2 example it gives the
    paper's makespan of 86.

    References
    ----------
    .. [1] H. Topcuoglu, S. Hariri, M.-Y. Wu, IEEE TPDS 13(3):260-274, 2002,
       doi:10.1109/71.993206.
    """

    name: ClassVar[str] = "cpop"
    summary: ClassVar[str] = (
        "Critical Path On a Processor (Topcuoglu et al. 2002): the critical path on its best node"
    )

    def schedule(self, problem: Problem) -> Schedule:
        graph, costs = problem.graph, problem.costs
        priority = upward_rank(problem) + downward_rank(problem)
        path = critical_path(problem, priority)
        on_path = set(path)
        free = [i for i in path if graph.tasks[i].pinned is None]
        cp_node = None
        if free:
            usable = usable_nodes(problem)[free].all(axis=0)  # never a storage node
            if usable.any():
                sums = np.where(usable, costs.exec[free].sum(axis=0), np.inf)
                cp_node = first_best(sums)

        state = ListSchedule(problem)
        for i in ready_list(problem, priority):
            if i in on_path and cp_node is not None and graph.tasks[i].pinned is None:
                (candidate,) = state.candidates(i, np.array([cp_node]))
                state.place(i, candidate)
            else:
                state.place_earliest_finish(i)
        cp_name = costs.node_ids[cp_node] if cp_node is not None else None
        return state.result(self.name, {"cpop": {"critical_path_node": cp_name}})
