"""The order in which a node runs the tasks a schedule gives it: one rule for every executor.

The list schedulers treat a node as one processor and place each task in a time slot; a
node that executes a schedule (the simulator's, or a real worker) runs its tasks one after
another **by scheduled start, then scheduled finish, then topological position** — the
last key puts a zero-length task before the tasks it feeds when they share an instant.
The batch simulator (:mod:`edgeoffload.simulation.batch`, re-plans included) and the
runtime's DAG runner take their order from here, so a simulated and a real run of one
schedule agree on it. The stream simulator (:mod:`edgeoffload.simulation.streams`) applies
the same rule with its own sort of each frame's few tasks (plain lists, no arrays); a
change to the rule must be made there too.
"""

from __future__ import annotations

import numpy as np

from edgeoffload.model.problem import Problem
from edgeoffload.model.schedule import Schedule
from edgeoffload.model.task_graph import NodeId, TaskGraph, TaskId

__all__ = ["execution_order", "run_sequence"]


def run_sequence(graph: TaskGraph, start: np.ndarray, finish: np.ndarray) -> np.ndarray:
    """Task indices sorted by the run-order rule.

    Parameters
    ----------
    graph
        The task graph (its topological order breaks the last ties).
    start, finish
        Scheduled start and finish of task ``i`` at index ``i``, seconds.

    Returns
    -------
    numpy.ndarray
        Every task index once, in run order; grouping it by node gives each node's order.
    """
    n = len(graph)
    position = np.empty(n, dtype=np.int64)
    position[np.asarray(graph.topological_order, dtype=np.int64)] = np.arange(n)
    return np.lexsort((position, finish, start))


def execution_order(problem: Problem, schedule: Schedule) -> dict[NodeId, list[TaskId]]:
    """Each node's tasks in the order it runs them (see the module docstring).

    Only the tasks the schedule places are listed (a re-plan may place a subset).

    Examples
    --------
    >>> from edgeoffload.model import Assignment, Cluster, Node, Problem, Schedule, Task, TaskGraph
    >>> p = Problem(TaskGraph([Task("a", 0.0), Task("b", 1.0)]), Cluster([Node("x", 1.0)]))
    >>> execution_order(p, Schedule("s", [Assignment("b", "x", 0.0, 1.0),
    ...                                    Assignment("a", "x", 0.0, 0.0)]))
    {'x': ['a', 'b']}
    """
    graph = problem.graph
    placed = [
        (i, schedule.assignment(task.id) if task.id in schedule else None)
        for i, task in enumerate(graph.tasks)
    ]
    start = np.full(len(graph), np.inf)
    finish = np.full(len(graph), np.inf)
    for i, assignment in placed:
        if assignment is not None:
            start[i], finish[i] = assignment.start, assignment.finish
    out: dict[NodeId, list[TaskId]] = {}
    for i in run_sequence(graph, start, finish).tolist():
        assignment = placed[i][1]
        if assignment is not None:
            out.setdefault(assignment.node, []).append(assignment.task)
    return out
