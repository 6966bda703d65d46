"""Re-planning after a node fails: schedule what is left of a problem on the survivors.

When a node fails part-way through a schedule, the tasks that still matter are the
unfinished ones some wanted output depends on through unfinished tasks; finished results
that survive on a live node need not be recomputed. :func:`holder` says which copy of a
surviving result is used, :func:`remaining_problem` builds that smaller problem and
:func:`replan` schedules it with the scheduler that made the first plan. All are pure:
the simulator's ``replan`` failure policy (:mod:`edgeoffload.simulation`) and the
runtime's DAG runner (:mod:`edgeoffload.runtime.dag`) apply the same rules, so a
simulated failure and a real one are handled alike.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TypeVar

from edgeoffload.errors import InfeasibleScheduleError
from edgeoffload.model import Cluster, Problem, Schedule, Task, TaskGraph, validate_schedule
from edgeoffload.model.task_graph import NodeId, TaskId
from edgeoffload.schedulers.base import Scheduler

__all__ = ["Replan", "holder", "remaining_problem", "replan"]

N = TypeVar("N", bound=Hashable)


def holder(producer: N | None, copies: Collection[N], order: Iterable[N]) -> N | None:
    """The node whose copy of a finished result a re-plan uses (the ``held`` of
    :func:`remaining_problem`).

    Parameters
    ----------
    producer
        The node that computed the result (``None`` if unknown).
    copies
        The surviving nodes that hold the result (the producer, or peers it was pushed to).
    order
        The surviving nodes in cluster order.

    Returns
    -------
    The producer when it holds a copy; else the first node of ``order`` that does; ``None``
    when no survivor holds one.

    Examples
    --------
    >>> holder("b", {"a", "b"}, ["a", "b", "c"]), holder("x", {"c", "b"}, ["a", "b", "c"])
    ('b', 'b')
    """
    if producer is not None and producer in copies:
        return producer
    return next((n for n in order if n in copies), None)


def remaining_problem(
    problem: Problem,
    held: Mapping[TaskId, NodeId],
    alive: Iterable[NodeId],
    now: float,
    outputs: Iterable[TaskId],
) -> tuple[Problem | None, tuple[TaskId, ...], dict[TaskId, NodeId]]:
    """The part of ``problem`` still to run after a failure, on the surviving nodes.

    Parameters
    ----------
    problem
        The problem being run.
    held
        Finished tasks whose result a surviving node holds, and that node.
    alive
        The surviving nodes.
    now
        Seconds since the run started: every surviving node is busy until then.
    outputs
        The tasks whose results are wanted.

    Returns
    -------
    (problem, needed, stubs)
        ``needed``: the unfinished tasks some output depends on through unfinished tasks
        (in task order); ``stubs``: finished predecessors of needed tasks and the node
        holding each. The returned problem has both: the needed tasks as they were, each
        stub as a zero-work task pinned to its holder, the dependencies among them, the
        surviving nodes with ``available_from = max(available_from, now)`` and their
        links, and the requests that still have tasks. ``None`` when nothing is needed.

    Raises
    ------
    InfeasibleScheduleError
        No node survived, or a needed task is pinned to a node that did not survive (a
        request's camera).

    Examples
    --------
    >>> from edgeoffload.model import Cluster, Dependency, Node, Problem, Task, TaskGraph
    >>> g = TaskGraph([Task("a", 1.0), Task("b", 1.0), Task("c", 1.0)],
    ...               [Dependency("a", "b", 5.0), Dependency("b", "c", 5.0)])
    >>> p = Problem(g, Cluster([Node("x", 1.0), Node("y", 1.0)]))
    >>> sub, needed, stubs = remaining_problem(p, {"a": "y"}, ["y"], 2.0, ["c"])
    >>> needed, stubs, [t.id for t in sub.graph.tasks], sub.cluster.node("y").available_from
    (('b', 'c'), {'a': 'y'}, ['a', 'b', 'c'], 2.0)
    """
    graph, cluster = problem.graph, problem.cluster
    survivors = set(alive)
    needed: set[TaskId] = set()
    stack = [t for t in outputs if t not in held]
    while stack:
        task_id = stack.pop()
        if task_id in needed:
            continue
        needed.add(task_id)
        stack.extend(p for p in graph.predecessors(task_id) if p not in held and p not in needed)
    if not needed:
        return None, (), {}
    if not survivors:
        raise InfeasibleScheduleError("no node of the cluster survived")
    order = tuple(sorted(needed, key=graph.index))
    stubs: dict[TaskId, NodeId] = {}
    for task_id in order:
        task = graph.task(task_id)
        if task.pinned is not None and task.pinned not in survivors:
            raise InfeasibleScheduleError(
                f"task {task_id!r} is pinned to node {task.pinned!r}, which failed: "
                "it cannot run elsewhere"
            )
        for p in graph.predecessors(task_id):
            if p in held:
                stubs[p] = held[p]
    tasks = []
    for task in graph.tasks:
        if task.id in needed:
            tasks.append(task)
        elif task.id in stubs:
            tasks.append(Task(task.id, 0.0, pinned=stubs[task.id], request=task.request))
    dependencies = [
        d
        for d in graph.dependencies
        if d.target in needed and (d.source in needed or d.source in stubs)
    ]
    nodes = [
        replace(n, available_from=max(n.available_from, now))
        for n in cluster.nodes
        if n.id in survivors
    ]
    links = {
        pair: link
        for pair, link in cluster.links.items()
        if pair[0] in survivors and pair[1] in survivors
    }
    requests_used = {t.request for t in tasks}
    requests = [r for r in problem.requests if r.id in requests_used]
    exec_times = {
        t: {n: s for n, s in row.items() if n in survivors}
        for t, row in problem.exec_times.items()
        if t in needed
    }
    sub = Problem(
        TaskGraph(tasks, dependencies),
        Cluster(nodes, links, cluster.default_link),
        requests,
        exec_times,
    )
    return sub, order, stubs


@dataclass(frozen=True, slots=True)
class Replan:
    """A plan for the rest of a problem after a failure.

    Attributes
    ----------
    problem
        The remaining problem (:func:`remaining_problem`).
    schedule
        Its schedule, validated; times are seconds since the original start.
    needed
        The tasks to run, in task order.
    stubs
        Finished results the plan reuses, and the node holding each.
    """

    problem: Problem
    schedule: Schedule
    needed: tuple[TaskId, ...]
    stubs: Mapping[TaskId, NodeId]


def replan(
    problem: Problem,
    scheduler: Scheduler,
    held: Mapping[TaskId, NodeId],
    alive: Iterable[NodeId],
    now: float,
    outputs: Iterable[TaskId],
) -> Replan | None:
    """Schedule what is left of ``problem`` on the surviving nodes with ``scheduler``.

    Parameters are those of :func:`remaining_problem`. Returns ``None`` when every
    wanted output is already held.

    Raises
    ------
    InfeasibleScheduleError
        The rest cannot run on the survivors (see :func:`remaining_problem`), or
        ``scheduler`` does not apply to it (:meth:`Scheduler.applies_to` gives the reason).
    InvalidScheduleError
        The scheduler's plan breaks the remaining problem's rules (a scheduler bug).
    """
    sub, needed, stubs = remaining_problem(problem, held, alive, now, outputs)
    if sub is None:
        return None
    why = scheduler.applies_to(sub)
    if why is not None:
        raise InfeasibleScheduleError(
            f"scheduler {scheduler.name!r} cannot schedule the rest on the survivors: {why}"
        )
    new = scheduler.schedule(sub)
    validate_schedule(sub, new)
    return Replan(sub, new, needed, stubs)
