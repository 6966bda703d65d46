"""Optimal: the minimum makespan, by constraint programming (OR-Tools CP-SAT).

The model is the validator's rules, no more and no fewer: each task runs once, on one
node it may use (its pin, if pinned; never a ``storage`` node unless pinned there), for
the cost model's execution time there; a node runs one task at a time (the heuristics
ignore ``cores`` too) and nothing before its ``available_from``; a task starts after its
request arrives and after every input has arrived (predecessor's finish, plus the
transfer time when the two run on different nodes). The objective is the makespan.

Integers
--------
CP-SAT needs integer times. Every time is measured in units of ``1 / scale`` seconds,
``scale`` a power of two, so that ``x * scale`` is exact in floating point, and rounded
**up**: execution times (at least one unit, so that a zero-length task cannot sit inside
another on a node), transfer times, arrivals and ``available_from``. So

- every solution of the integer model is a feasible order: the solver's assignment and
  per-node order are replayed in floating point with the cost model's own times (each task
  as early as its node, inputs, arrival allow), which gives a valid schedule whose
  makespan is at most the integer one (and usually a little less);
- any schedule's integer replay exceeds its makespan by less than one unit per rounded
  term on its critical chain: one start time, then at most one execution and one transfer
  per task, 2·n units for n tasks. So the solver's proven bound B (units) gives the bound
  ``(B − 2n − 1) / scale`` seconds for every real schedule.

``scale`` is chosen so that those 2n + 1 units are at most 1e-7 of the problem's lower
bound (:func:`~edgeoffload.schedulers.bounds.lower_bound`, measured from the time
origin), and the solver stops at a relative gap of 5e-7. ``proven`` is then decided after
the fact on the float numbers: makespan − bound ≤ 1e-6 × (bound − origin). Where the times
would exceed 2⁵⁰ units the scale is coarsened and ``proven`` may come out false: it never
claims what the numbers do not show.

The solver starts from the portfolio's schedule (HEFT, CPOP, PEFT) as a hint, so the result
is never worse than the portfolio's, and past ``time_limit`` it returns its best schedule
and the bound it proved.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any, ClassVar, TypeVar

from edgeoffload.errors import ModelError, SchedulingError
from edgeoffload.model import Assignment, Problem, Schedule
from edgeoffload.model.checks import check_number
from edgeoffload.schedulers.base import SHIFT_FROM, Scheduler
from edgeoffload.schedulers.bounds import lower_bound
from edgeoffload.schedulers.placement import usable_nodes
from edgeoffload.schedulers.registry import get_scheduler

__all__ = ["OptimalScheduler", "ortools_available"]

RESOLUTION = 1e-7
"""The integer rounding's share of the lower bound, at most."""
SOLVER_GAP = 5e-7
"""CP-SAT's relative gap limit: it stops searching once this close."""
PROOF_GAP = 1e-6
"""``proven`` means makespan − bound ≤ this × (bound − time origin)."""
MAX_UNITS = 2**50
"""The largest integer time the model may hold."""
DEFAULT_MAX_TASKS = 60


def ortools_available() -> bool:
    """Whether OR-Tools (the ``exact`` extra) can be imported."""
    try:
        import ortools.sat.python.cp_model  # noqa: F401
    except ImportError:
        return False
    return True


class OptimalScheduler(Scheduler):
    """The minimum makespan by CP-SAT, proven to 1e-6 relative, or the best found and a bound.

    Parameters
    ----------
    time_limit
        Seconds CP-SAT may search (default 60). Past it, the best schedule found (never
        worse than the portfolio's) comes back with ``proven`` false and the bound proved.
    workers
        CP-SAT's search workers (default 1). One worker is deterministic: the same input
        gives the same schedule byte for byte whenever the search ends before
        ``time_limit``. More workers prove faster on machines with the cores for them,
        but two runs may return different schedules of the same makespan.
    max_tasks
        Problems with more tasks are refused (default 60): the model grows as tasks ×
        nodes and dependencies × nodes², and a proof is out of reach well before.

    Notes
    -----
    ``details["optimal"]``: ``proven``, ``bound`` (s, no schedule finishes earlier),
    ``gap`` ((makespan − bound) / (makespan − origin)), ``status`` (CP-SAT's: ``optimal``,
    ``feasible`` or ``unknown``), ``resolution`` (s, one integer unit), ``time_limit`` and
    ``start`` (the portfolio's makespan the search started from). The module docstring
    explains the integer scaling and why ``proven`` is honest.
    """

    name: ClassVar[str] = "optimal"
    summary: ClassVar[str] = (
        "Minimum makespan by constraint programming (OR-Tools CP-SAT): proven, or the best "
        "found and a bound"
    )

    def __init__(
        self, *, time_limit: float = 60.0, workers: int = 1, max_tasks: int = DEFAULT_MAX_TASKS
    ) -> None:
        self.time_limit = check_number(time_limit, "time_limit", positive=True)
        self.workers = _check_count(workers, "workers")
        self.max_tasks = _check_count(max_tasks, "max_tasks")

    def __repr__(self) -> str:
        return (
            f"OptimalScheduler(time_limit={self.time_limit:g}, workers={self.workers},"
            f" max_tasks={self.max_tasks})"
        )

    def applies_to(self, problem: Problem) -> str | None:
        if not ortools_available():
            return "needs OR-Tools: pip install 'edgeoffload[exact]'"
        n = len(problem.graph)
        if n > self.max_tasks:
            return (
                f"{n} tasks (pinned ones included) is more than max_tasks={self.max_tasks},"
                " past which a proof is out of reach; raise the parameter max_tasks (`schedule"
                f" -a optimal -p max_tasks={n}`; then it returns its best schedule after"
                " time_limit) or use the portfolio"
            )
        return None

    def schedule(self, problem: Problem) -> Schedule:
        # Relative time by hand (not the base class's wrapper): the bound moves too.
        origin = problem.time_origin
        if origin < SHIFT_FROM:
            return self._solve(problem, 0.0)
        return self._solve(problem.shifted(origin), origin)

    schedule._relative = True  # type: ignore[attr-defined]  # see Scheduler.__init_subclass__

    def _solve(self, problem: Problem, origin: float) -> Schedule:
        reason = self.applies_to(problem)
        if reason is not None:
            raise ModelError(reason, self.name)
        from ortools.sat.python import cp_model

        graph, costs = problem.graph, problem.costs
        n, n_nodes = len(graph), len(problem.cluster)
        t0 = problem.time_origin
        start_from = get_scheduler("portfolio").schedule(problem)
        bound = lower_bound(problem)
        slack = 2 * n + 1
        scale = _scale(bound - t0, start_from.makespan - t0, start_from.makespan, slack)

        def units(seconds: float) -> int:
            return math.ceil(seconds * scale)

        usable = usable_nodes(problem)  # pins; no unpinned task on a storage node
        allowed = [[p for p in range(n_nodes) if usable[i, p]] for i in range(n)]
        execution = costs.exec.tolist()
        duration = [[max(1, units(w)) for w in row] for row in execution]
        release = [units(problem.release_time(i)) for i in range(n)]
        available = [units(node.available_from) for node in problem.cluster.nodes]
        source = costs.edge_source.tolist()
        target = costs.edge_target.tolist()
        data = costs.data.tolist()
        nodes = range(n_nodes)
        transfer = [
            [[units(costs.transfer_time_ix(d, p, q)) for q in nodes] for p in nodes] for d in data
        ]

        # the portfolio's schedule, replayed in integers: the hint and the horizon
        node_index = {node_id: p for p, node_id in enumerate(problem.cluster.node_ids)}
        hint = [start_from.assignment(t.id) for t in graph.tasks]
        hint_node = [node_index[a.node] for a in hint]
        hint_start, hint_finish = _replay(
            problem,
            hint_node,
            _sequences(problem, hint_node, [a.start for a in hint]),
            lambda i, p: duration[i][p],
            lambda k, p, q: transfer[k][p][q],
            release,
            available,
        )
        horizon = max(hint_finish)

        model = cp_model.CpModel()
        start_var = [model.new_int_var(release[i], horizon, f"s{i}") for i in range(n)]
        finish_var = [model.new_int_var(release[i], horizon, f"f{i}") for i in range(n)]
        on: dict[tuple[int, int], Any] = {}
        intervals: list[list[Any]] = [[] for _ in range(n_nodes)]
        for i in range(n):
            for p in allowed[i]:
                x = model.new_bool_var(f"x{i}_{p}")
                on[i, p] = x
                intervals[p].append(
                    model.new_optional_fixed_size_interval_var(start_var[i], duration[i][p], x, "")
                )
                model.add(finish_var[i] == start_var[i] + duration[i][p]).only_enforce_if(x)
                if available[p] > release[i]:
                    model.add(start_var[i] >= available[p]).only_enforce_if(x)
                model.add_hint(x, p == hint_node[i])
            model.add_exactly_one(on[i, p] for p in allowed[i])
            model.add_hint(start_var[i], hint_start[i])
            model.add_hint(finish_var[i], hint_finish[i])
        for p in range(n_nodes):
            if len(intervals[p]) > 1:
                model.add_no_overlap(intervals[p])
        for k, (j, i) in enumerate(zip(source, target, strict=True)):
            model.add(start_var[i] >= finish_var[j])
            for p in allowed[j]:
                for q in allowed[i]:
                    c = transfer[k][p][q]
                    if p != q and c > 0:
                        arrival = model.add(start_var[i] >= finish_var[j] + c)
                        arrival.only_enforce_if([on[j, p], on[i, q]])
        makespan = model.new_int_var(max(0, math.floor(bound * scale) - 1), horizon, "makespan")
        model.add_max_equality(makespan, finish_var)
        model.add_hint(makespan, horizon)
        model.minimize(makespan)

        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = self.time_limit
        solver.parameters.num_workers = self.workers
        solver.parameters.relative_gap_limit = SOLVER_GAP
        status = solver.solve(model)
        if status in (cp_model.MODEL_INVALID, cp_model.INFEASIBLE):
            raise SchedulingError(f"optimal: CP-SAT says {solver.status_name(status)} (a bug)")

        best = Schedule(self.name, start_from.assignments)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            node = [next(p for p in allowed[i] if solver.value(on[i, p])) for i in range(n)]
            solved_start = [float(solver.value(start_var[i])) for i in range(n)]
            start, finish = _replay(
                problem,
                node,
                _sequences(problem, node, solved_start),
                lambda i, p: execution[i][p],
                lambda k, p, q: costs.transfer_time_ix(data[k], p, q),
                [problem.release_time(i) for i in range(n)],
                [node.available_from for node in problem.cluster.nodes],
            )
            if max(finish) <= best.makespan:
                ids = problem.cluster.node_ids
                best = Schedule(
                    self.name,
                    [
                        Assignment(t.id, ids[node[i]], start[i], finish[i])
                        for i, t in enumerate(graph.tasks)
                    ],
                )
            bound = max(bound, (solver.best_objective_bound - slack) / scale)
        bound = min(bound, best.makespan)
        span = best.makespan - t0
        gap = (best.makespan - bound) / span if span > 0 else 0.0
        proven = status != cp_model.UNKNOWN and best.makespan - bound <= PROOF_GAP * (bound - t0)
        report = {
            "proven": bool(proven or span <= 0),
            "bound": bound + origin,
            "gap": gap,
            "status": solver.status_name(status).lower(),
            "resolution": 1.0 / scale,
            "time_limit": self.time_limit,
            "start": start_from.makespan + origin,
        }
        return best.shifted(origin).renamed(self.name, {"optimal": report})


T = TypeVar("T", int, float)


def _check_count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ModelError(f"must be a whole number >= 1, got {value!r}", where)
    return value


def _scale(reference: float, span: float, latest: float, slack: int) -> float:
    """Units per second, a power of two: ``slack`` units at most RESOLUTION × ``reference``
    (the lower bound since the origin; else ``span``, the portfolio's; else 1 s), coarsened
    until ``latest`` (s) fits in MAX_UNITS."""
    if reference <= 0:
        reference = span if span > 0 else 1.0
    exponent = math.ceil(math.log2(slack / (RESOLUTION * reference)))
    if latest > 0:
        exponent = min(exponent, math.floor(math.log2((MAX_UNITS - slack) / latest)) - 1)
    return math.ldexp(1.0, exponent)


def _sequences(problem: Problem, node: Sequence[int], start: Sequence[float]) -> list[list[int]]:
    """Each node's tasks in order of start, then finish-defining topological position."""
    position = [0] * len(problem.graph)
    for k, i in enumerate(problem.graph.topological_order):
        position[i] = k
    out: list[list[int]] = [[] for _ in range(len(problem.cluster))]
    for i in sorted(range(len(node)), key=lambda i: (start[i], position[i])):
        out[node[i]].append(i)
    return out


def _replay(
    problem: Problem,
    node: Sequence[int],
    sequences: Sequence[Sequence[int]],
    execution: Callable[[int, int], T],
    transfer: Callable[[int, int, int], T],
    release: Sequence[T],
    available: Sequence[T],
) -> tuple[list[T], list[T]]:
    """Start and finish of every task, each as early as its release, its node's available
    time, the task before it on its node and its inputs allow (a semi-active schedule),
    in the number type of the arguments."""
    graph, costs = problem.graph, problem.costs
    n = len(graph)
    source = costs.edge_source.tolist()
    before = [-1] * n
    after = [-1] * n
    for sequence in sequences:
        for a, b in pairwise(sequence):
            before[b], after[a] = a, b
    waiting = [len(graph.in_edges(i)) + (before[i] >= 0) for i in range(n)]
    ready = [i for i in range(n) if not waiting[i]]
    start: list[T] = [release[0]] * n
    finish: list[T] = [release[0]] * n
    done = 0
    while ready:
        i = ready.pop()
        p = node[i]
        t = max(release[i], available[p])
        if before[i] >= 0:
            t = max(t, finish[before[i]])
        for k in graph.in_edges(i):
            j = source[k]
            arrives = finish[j] if node[j] == p else finish[j] + transfer(k, node[j], p)
            t = max(t, arrives)
        start[i], finish[i] = t, t + execution(i, p)
        done += 1
        for k in graph.out_edges(i):
            j = int(costs.edge_target[k])
            waiting[j] -= 1
            if not waiting[j]:
                ready.append(j)
        if after[i] >= 0:
            waiting[after[i]] -= 1
            if not waiting[after[i]]:
                ready.append(after[i])
    if done < n:
        raise SchedulingError("optimal: the node orders contradict the dependencies (a bug)")
    return start, finish
