"""The schedule validator: the test oracle every scheduler is checked against.

A schedule is valid for a problem when

1. every task is placed exactly once, on a node of the cluster, and nothing else is;
2. no two tasks overlap on a node (the schedulers treat a node as one processor);
3. each task starts after every input has arrived: predecessor's finish + transfer time;
4. each task starts no earlier than its request's arrival and its node's
   ``available_from``;
5. pinned tasks run on their node, and no unpinned task runs on a ``storage`` node (a
   storage node runs only the tasks pinned to it);
6. each duration equals the cost model's execution time.

Times are compared with a tolerance of 1e-9 relative (and 1e-9 s absolute), measured
from the problem's time origin (its earliest arrival), so a schedule read back from JSON
still validates; at Unix-timestamp scale (1.7e9 s) the tolerance also covers a few units
in the last place of the times themselves, the most a float there can hold.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import pairwise

from edgeoffload.errors import InvalidScheduleError
from edgeoffload.model.problem import Problem
from edgeoffload.model.schedule import Schedule

__all__ = ["schedule_violations", "validate_schedule"]

_REL, _ABS = 1e-9, 1e-9


def _tolerance(schedule: Schedule, origin: float) -> Callable[[float, float], bool]:
    """``le(a, b)``: a <= b up to the tolerance (see the module docstring): 1e-9 relative
    to the times since ``origin``, at least 1e-9 s and 4 units in the last place of the
    schedule's largest time."""
    largest = max((abs(a.finish) for a in schedule), default=0.0)
    floor = max(_ABS, 4 * math.ulp(largest)) if math.isfinite(largest) else _ABS

    def le(a: float, b: float) -> bool:
        return a <= b + max(floor, _REL * (max(a, b) - origin))

    return le


def schedule_violations(problem: Problem, schedule: Schedule) -> list[str]:
    """Every rule ``schedule`` breaks for ``problem``, one line each (empty if valid)."""
    graph, cluster, costs = problem.graph, problem.cluster, problem.costs
    out: list[str] = []
    for a in schedule:
        if a.task not in graph:
            out.append(f"unknown task {a.task!r} is scheduled")
        if a.node not in cluster:
            out.append(f"task {a.task!r} is placed on unknown node {a.node!r}")
    for task in graph.tasks:
        if task.id not in schedule:
            out.append(f"task {task.id!r} is not scheduled")
    if out:
        return out

    origin = problem.time_origin
    le = _tolerance(schedule, origin)
    for i, task in enumerate(graph.tasks):
        a = schedule.assignment(task.id)
        node = cluster.node(a.node)
        if not (math.isfinite(a.start) and math.isfinite(a.finish)):
            out.append(f"task {task.id!r} has a non-finite start or finish")
            continue
        if task.pinned is not None and a.node != task.pinned:
            out.append(f"task {task.id!r} is pinned to {task.pinned!r} but runs on {a.node!r}")
        if task.pinned is None and node.role == "storage":
            out.append(
                f"task {task.id!r} is not pinned but runs on storage node {a.node!r}"
                " (a storage node runs only the tasks pinned to it)"
            )
        expected = costs.exec_time(task.id, a.node)
        tolerance = max(_ABS, 4 * math.ulp(max(abs(a.start), abs(a.finish))))
        if not math.isclose(a.duration, expected, rel_tol=_REL, abs_tol=tolerance):
            out.append(
                f"task {task.id!r} runs {a.duration:g} s on {a.node!r}; the cost model says"
                f" {expected:g} s"
            )
        release = problem.release_time(i)
        if not le(release, a.start):
            out.append(
                f"task {task.id!r} starts at {a.start:g}, before its request arrives at {release:g}"
            )
        if not le(node.available_from, a.start):
            out.append(
                f"task {task.id!r} starts at {a.start:g} on {a.node!r}, which is busy until"
                f" {node.available_from:g}"
            )
        for k in graph.in_edges(i):
            dep = graph.dependencies[k]
            before = schedule.assignment(dep.source)
            arrives = before.finish + costs.transfer_time(dep.data, before.node, a.node)
            if not le(arrives, a.start):
                out.append(
                    f"task {task.id!r} starts at {a.start:g} on {a.node!r} but its input from"
                    f" {dep.source!r} arrives at {arrives:g}"
                )

    for node_id, timeline in schedule.timelines().items():
        timeline.sort(key=lambda a: (a.start, a.finish))
        for prev, nxt in pairwise(timeline):
            if not le(prev.finish, nxt.start):
                out.append(
                    f"tasks {prev.task!r} and {nxt.task!r} overlap on {node_id!r}"
                    f" ({prev.start:g}-{prev.finish:g} and {nxt.start:g}-{nxt.finish:g})"
                )
    return out


def validate_schedule(problem: Problem, schedule: Schedule) -> None:
    """Raise :class:`InvalidScheduleError` listing every violation, if there is any."""
    violations = schedule_violations(problem, schedule)
    if violations:
        raise InvalidScheduleError(violations)
