"""A lower bound of the makespan of every schedule of a problem.

:func:`lower_bound` is the largest of three bounds, each valid for every schedule the
validator accepts (docs/schedulers.md, "The lower bound"). Times are seconds, and a node
runs one task at a time, as the schedulers and the validator have it.

(a) **Critical path at best speeds.** Transfers are taken as free and each task as running
    on the eligible node (its pin, if pinned) where it would finish first::

        f(i) = min over eligible p of  max(r(i), a(p), max over predecessors j of f(j)) + w(i, p)

    with r(i) the arrival of task i's request, a(p) node p's ``available_from``, w(i, p)
    the cost model's execution time, and "eligible" the nodes a scheduler may use (the pin;
    no ``storage`` node for an unpinned task). Bound (a) is the largest f(i). By induction in
    topological order, task i finishes at f(i) or later in any schedule: on whichever node p
    it runs, it starts after its request arrives, after p is free and after each
    predecessor j finished (at f(j) or later; a transfer only adds time).

(b) **Load.** Let s(p) = max(a(p), r_min) be the earliest time node p can work (r_min: the
    earliest request arrival). For weights λ on the nodes (λ(p) ≥ 0, summing to 1)::

        B(λ) = Σ_p λ(p)·s(p) + Σ_i min over eligible p of λ(p)·w(i, p)

    is a bound when every node's s(p) is at most the makespan T: task i occupies its node p
    for w(i, p), so Σ_p λ(p)·(T − s(p)) ≥ Σ_p λ(p)·(busy time of p) ≥ Σ_i min λ(p)·w(i, p)
    (LP duality for the fractional assignment). Nodes free only after T hold no work (at
    most a zero-length task), so with the nodes sorted by s and S_k the first k of them,
    T ≥ min over k of max(s(S_k's last), B_k), B_k being the best B(λ) with λ on S_k and tasks
    restricted to S_k (+inf if a task has no eligible node there). Two weights are tried:
    uniform (giving Σ_i min w(i, p) / P) and proportional to a node's throughput
    1 / Σ_i w(i, p) (giving total work / total speed when execution times are work / speed).
    Past 8 distinct values of s, every s(p) is taken as the smallest (a weaker, still valid,
    bound).

(c) **The solver's bound**, when the schedule came from the ``optimal`` scheduler
    (``schedule.details["optimal"]["bound"]``, proven by CP-SAT; see
    :mod:`edgeoffload.schedulers.optimal`).

A single task gives equality: its best finish is the makespan of the best schedule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from edgeoffload.model import Problem, Schedule
from edgeoffload.schedulers.base import SHIFT_FROM
from edgeoffload.schedulers.placement import usable_nodes

__all__ = ["critical_path_bound", "load_bound", "lower_bound", "solver_bound"]

_MAX_THRESHOLDS = 8
"""Distinct node start times s(p) the load bound distinguishes (more: all taken as the least)."""


def lower_bound(problem: Problem, schedule: Schedule | None = None) -> float:
    """No schedule of ``problem`` finishes before this time, seconds.

    The largest of the critical-path bound (a), the load bound (b) and, when ``schedule``
    carries one, the bound the ``optimal`` scheduler proved (c); see the module docstring.
    Like the schedulers, it works in time relative to the problem's origin and adds the
    origin back, so that it compares exactly with their makespans.

    Examples
    --------
    >>> from edgeoffload.model import Cluster, Node, Problem, Task, TaskGraph
    >>> p = Problem(TaskGraph([Task("a", 4.0)]), Cluster([Node("slow", 1.0), Node("fast", 2.0)]))
    >>> lower_bound(p)
    2.0
    """
    bound = max(critical_path_bound(problem), load_bound(problem))
    if schedule is not None:
        solver = solver_bound(schedule)
        if solver is not None:
            bound = max(bound, solver)
    return bound


def solver_bound(schedule: Schedule) -> float | None:
    """The bound in ``schedule.details["optimal"]["bound"]``, if there is one."""
    report = schedule.details.get("optimal")
    if isinstance(report, Mapping):
        value = report.get("bound")
        if isinstance(value, int | float) and math.isfinite(value):
            return float(value)
    return None


def _relative(problem: Problem) -> tuple[Problem, float]:
    """The problem in time relative to its origin (as the schedulers see it), and the origin."""
    origin = problem.time_origin
    if origin < SHIFT_FROM:
        return problem, 0.0
    return problem.shifted(origin), origin


def critical_path_bound(problem: Problem) -> float:
    """Bound (a): the latest best-speed finish with free transfers, seconds."""
    relative, origin = _relative(problem)
    graph, costs = relative.graph, relative.costs
    available = [n.available_from for n in relative.cluster.nodes]
    latest_available = max(available)
    exec_allowed = np.where(usable_nodes(relative), costs.exec, np.inf)
    fastest = exec_allowed.min(axis=1).tolist()
    release = [relative.release_time(i) for i in range(len(graph))]
    source = costs.edge_source.tolist()
    finish = [0.0] * len(graph)
    bound = -math.inf
    for i in graph.topological_order:
        ready = release[i]
        for k in graph.in_edges(i):
            f = finish[source[k]]
            if f > ready:
                ready = f
        if ready >= latest_available:  # every node is free by then: the fastest one wins
            f_i = ready + fastest[i]
        else:
            f_i = float((np.maximum(ready, available) + exec_allowed[i]).min())
        finish[i] = f_i
        bound = max(bound, f_i)
    return bound + origin if origin else bound


def load_bound(problem: Problem) -> float:
    """Bound (b): work against the nodes' capacity from their start times, seconds."""
    relative, origin = _relative(problem)
    costs = relative.costs
    r_min = min(relative.release_time(i) for i in range(len(relative.graph)))
    start = np.array([max(n.available_from, r_min) for n in relative.cluster.nodes])
    thresholds = np.unique(start)
    if len(thresholds) > _MAX_THRESHOLDS:
        start = np.full_like(start, r_min)
        thresholds = np.unique(start)
    exec_allowed = np.where(usable_nodes(relative), costs.exec, np.inf)
    bound = math.inf
    for k, threshold in enumerate(thresholds.tolist()):
        nodes = start <= threshold
        b_k = _weighted_load(exec_allowed[:, nodes], costs.exec[:, nodes], start[nodes])
        candidate = max(threshold, b_k)
        bound = min(bound, candidate)
        if k + 1 < len(thresholds) and candidate <= thresholds[k + 1]:
            break  # later hypotheses give at least their own threshold, which is larger
    return bound + origin if origin else bound


def _weighted_load(exec_allowed: np.ndarray, exec_all: np.ndarray, start: np.ndarray) -> float:
    """The best B(λ) of the two weightings over these nodes (+inf if a task has none)."""
    if not np.isfinite(exec_allowed.min(axis=1)).all():
        return math.inf
    n_nodes = exec_allowed.shape[1]
    weights = [np.full(n_nodes, 1.0 / n_nodes)]
    total = exec_all.sum(axis=0)
    if (total > 0).all() and np.isfinite(total).all():
        throughput = 1.0 / total
        weights.append(throughput / throughput.sum())
    best = -math.inf
    for lam in weights:
        value = float(lam @ start) + float((exec_allowed * lam).min(axis=1).sum())
        best = max(best, value)
    return best * (1 - _ROUNDING)  # the sums above may round up by a few units in the last place


_ROUNDING = 1e-12
