"""Simulate a given schedule of a problem: :func:`simulate`.

Under the ``replan`` failure policy the rest of the problem is re-planned after a failure
with :func:`~edgeoffload.schedulers.replan` and a scheduler, the step the runtime's DAG
runner takes; :class:`ProblemReplanner` is that step for the engine.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence

import numpy as np

from edgeoffload.errors import ModelError, SimulationError
from edgeoffload.model import Problem, Schedule, validate_schedule
from edgeoffload.model.cluster import Node
from edgeoffload.model.order import run_sequence
from edgeoffload.model.task_graph import NodeId, TaskId
from edgeoffload.schedulers import (
    Scheduler,
    available_schedulers,
    get_scheduler,
    replan,
)
from edgeoffload.simulation.config import SimConfig
from edgeoffload.simulation.engine import Engine
from edgeoffload.simulation.records import (
    NodeStats,
    RequestResult,
    SimResult,
    TaskTable,
    TraceEvent,
    node_state_times,
)
from edgeoffload.simulation.recovery import TRACE_KINDS, NewPlan

__all__ = ["ExecTimes", "ProblemReplanner", "edge_arrays", "replan_scheduler", "simulate"]

logger = logging.getLogger(__name__)


class ExecTimes:
    """Execution times of a problem's tasks, computed as :class:`~edgeoffload.model.CostModel`
    computes them (``exec_times`` where given, else ``work / speed`` for the task's kind)
    but only where asked: a T×P table of a million tasks on a thousand nodes would not fit
    in memory. The same floating-point operations give the same values bit for bit.
    """

    __slots__ = ("_kind", "_overrides", "_speeds", "_work")

    def __init__(self, problem: Problem) -> None:
        graph, cluster = problem.graph, problem.cluster
        kinds: dict[str | None, int] = {None: 0}
        kind_of = [kinds.setdefault(t.kind, len(kinds)) for t in graph.tasks]
        self._kind = np.asarray(kind_of, dtype=np.int64)
        self._speeds = np.array(
            [[node.speed_for(kind) for node in cluster.nodes] for kind in kinds], dtype=float
        )
        self._work = np.array(
            [np.nan if t.work is None else t.work for t in graph.tasks], dtype=float
        )
        index = {node_id: p for p, node_id in enumerate(cluster.node_ids)}
        self._overrides = {
            graph.index(task): {index[node]: seconds for node, seconds in row.items()}
            for task, row in problem.exec_times.items()
        }

    def on(self, node: np.ndarray) -> np.ndarray:
        """Execution time of task *i* on node ``node[i]``, seconds, for every task."""
        out: np.ndarray = self._work / self._speeds[self._kind, node]
        for i, row in self._overrides.items():
            p = int(node[i])
            if p in row:
                out[i] = row[p]
        return out

    def row(self, i: int) -> np.ndarray:
        """Execution time of task ``i`` on every node, seconds."""
        out: np.ndarray = self._work[i] / self._speeds[self._kind[i]]
        for p, seconds in self._overrides.get(i, {}).items():
            out[p] = seconds
        return out


def edge_arrays(problem: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source index, target index and data (bytes) of every dependency, in graph order."""
    graph = problem.graph
    index = graph.index
    deps = graph.dependencies
    source = np.fromiter((index(d.source) for d in deps), dtype=np.int64, count=len(deps))
    target = np.fromiter((index(d.target) for d in deps), dtype=np.int64, count=len(deps))
    data = np.fromiter((d.data for d in deps), dtype=float, count=len(deps))
    return source, target, data


class ProblemReplanner:
    """Plans the rest of ``problem`` after a failure with ``scheduler``, for the engine.

    Parameters
    ----------
    problem
        The problem being simulated.
    scheduler
        The scheduler that re-plans.

    Notes
    -----
    A call gets the time of the re-plan (seconds), the finished tasks whose results
    survive with the node holding each, and the surviving nodes (engine numbers). It
    re-plans with :func:`~edgeoffload.schedulers.replan` (the problem's exit tasks are
    the outputs) and returns each node's run order
    (:func:`~edgeoffload.model.order.run_sequence`), stubs included, or ``None`` when
    every output is held.
    """

    def __init__(self, problem: Problem, scheduler: Scheduler) -> None:
        self.problem = problem
        self.scheduler = scheduler
        graph, cluster = problem.graph, problem.cluster
        self._task_ids = [t.id for t in graph.tasks]
        self._node_ids = cluster.node_ids
        self._node_index = {node_id: p for p, node_id in enumerate(cluster.node_ids)}
        self._outputs = graph.exit_tasks()

    @property
    def algorithm(self) -> str:
        """Name of the scheduler that re-plans."""
        return self.scheduler.name

    def __call__(self, now: float, held: dict[int, int], alive: list[int]) -> NewPlan | None:
        """The plan of the rest from ``now`` (seconds), or ``None`` if nothing is left.

        Raises
        ------
        InfeasibleScheduleError
            No node survived, a needed task is pinned to a failed node, or the scheduler
            does not apply to the remaining problem (its reason is given).
        InvalidScheduleError
            The scheduler's plan breaks the remaining problem's rules (a scheduler bug).
        """
        ids, node_ids = self._task_ids, self._node_ids
        r = replan(
            self.problem,
            self.scheduler,
            {ids[i]: node_ids[p] for i, p in held.items()},
            [node_ids[p] for p in alive],
            now,
            self._outputs,
        )
        if r is None:
            return None
        sub, plan, stubs = r.problem, r.schedule, r.stubs
        placed = [plan.assignment(t.id) for t in sub.graph.tasks]
        start = np.fromiter((a.start for a in placed), dtype=float, count=len(placed))
        finish = np.fromiter((a.finish for a in placed), dtype=float, count=len(placed))
        index = self.problem.graph.index
        entries = []
        for k in run_sequence(sub.graph, start, finish).tolist():
            a = placed[k]
            entries.append((index(a.task), self._node_index[a.node], a.task in stubs))
        return NewPlan(tuple(entries), plan)


def replan_scheduler(config: SimConfig, schedule: Schedule) -> Scheduler:
    """The scheduler that re-plans ``schedule`` under ``config``'s ``replan`` policy.

    :attr:`SimConfig.replan_algorithm` if set; else the schedule's own algorithm when it is
    a registered scheduler; else HEFT (logged as a warning).

    Raises
    ------
    ModelError
        The scheduler named cannot be built (a plugin failed to load, say).
    """
    name = config.replan_algorithm
    if name is None:
        name = schedule.algorithm
        if name not in available_schedulers():
            logger.warning(
                "re-planning with 'heft': the schedule's algorithm %r is not a registered "
                "scheduler (set SimConfig.replan_algorithm to choose another)",
                name,
            )
            name = "heft"
    return get_scheduler(name)


def simulate(
    problem: Problem,
    schedule: Schedule,
    config: SimConfig | None = None,
    *,
    rng: np.random.Generator | int | None = None,
    scheduler: Scheduler | None = None,
) -> SimResult:
    """Execute ``schedule`` of ``problem`` on the modelled cluster and report what happened.

    Parameters
    ----------
    problem
        The problem the schedule was made for.
    schedule
        Where each task runs; tasks on a node start in the schedule's order (by start,
        then finish, then topological position).
    config
        The simulator's assumptions (default :class:`SimConfig()`: dedicated links without
        contention, a tensor sent once per destination node, the nodes' cores, no
        variability, no failures).
    rng
        Generator (or seed) for variability; needed only when the config varies times
        (default seed 0).
    scheduler
        Under ``failure_policy="replan"``: the scheduler that re-plans, with its parameters
        (DHS with a scenario's thresholds, say). Default :func:`replan_scheduler`. Not
        used by the other policies.

    Returns
    -------
    SimResult
        Simulated and predicted makespan, per-request latency, per-node energy and
        utilisation, per-task times and (unless turned off) a trace.

    Raises
    ------
    InvalidScheduleError
        If ``config.validate`` and the schedule breaks the problem's rules.
    ModelError
        ``scheduler`` is given and ``config.replan_algorithm`` names another one.
    SimulationError
        If a node failure names an unknown node, or (a bug) a task never runs although no
        node failed (or, under ``"replan"``, every failure was re-planned).

    Examples
    --------
    >>> from edgeoffload.model import Cluster, Dependency, Link, Node, Problem, Task, TaskGraph
    >>> from edgeoffload.schedulers import schedule
    >>> g = TaskGraph([Task("a", 2e9), Task("b", 1e9)], [Dependency("a", "b", 1e6)])
    >>> c = Cluster([Node("cam", 1e9), Node("edge", 1e10)], default_link=Link(1e6, 0.01))
    >>> p = Problem(g, c)
    >>> s = schedule(p, "heft")
    >>> r = simulate(p, s, SimConfig.schedulers_assumptions())
    >>> r.makespan == s.makespan, round(r.makespan, 9)
    (True, 0.3)

    Notes
    -----
    Under :meth:`SimConfig.schedulers_assumptions` every task's simulated start and
    finish equal the schedule's, bit for bit: the engine computes each time with the
    cost model's expressions in the same order as the schedulers. With failures under
    ``"replan"`` the same holds of every re-planned task and its re-plan
    (:attr:`SimResult.replans`).
    """
    config = config or SimConfig()
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(0 if rng is None else rng)
    if config.validate:
        validate_schedule(problem, schedule)
    if scheduler is not None and config.replan_algorithm not in (None, scheduler.name):
        raise ModelError(
            f"names {config.replan_algorithm!r} but the scheduler given is {scheduler.name!r}",
            "replan_algorithm",
        )
    graph, cluster = problem.graph, problem.cluster
    n = len(graph)
    node_index = {node_id: p for p, node_id in enumerate(cluster.node_ids)}
    try:
        placed = [schedule.assignment(t.id) for t in graph.tasks]
        node = np.fromiter((node_index[a.node] for a in placed), dtype=np.int64, count=n)
    except KeyError as exc:
        raise SimulationError(f"the schedule does not place task or node {exc}") from None
    start = np.fromiter((a.start for a in placed), dtype=float, count=n)
    finish = np.fromiter((a.finish for a in placed), dtype=float, count=n)
    times = ExecTimes(problem)
    duration = times.on(node)

    order = run_sequence(graph, start, finish)

    source, target, data = edge_arrays(problem)
    by_source = np.argsort(source, kind="stable")
    succ_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(source, minlength=n), out=succ_ptr[1:])
    in_degree = np.bincount(target, minlength=n)
    pin = [node_index[t.pinned] if t.pinned is not None else -1 for t in graph.tasks]

    latency, bandwidth = cluster.link_matrices()
    replanner = None
    if config.failure_policy == "replan" and config.failures:
        chosen = scheduler if scheduler is not None else replan_scheduler(config, schedule)
        replanner = ProblemReplanner(problem, chosen)
    engine = Engine(
        cluster.nodes, latency, bandwidth, config, rng, exec_row=times.row, replanner=replanner
    )
    requests = problem.effective_requests
    request_index = [engine.add_request(r.arrival, gated=r.arrival > 0) for r in requests]
    task_request = np.asarray(problem.task_requests, dtype=np.int64)
    engine.add_tasks(
        node=node.tolist(),
        duration=duration.tolist(),
        request=[request_index[r] for r in task_request.tolist()],
        pin=pin,
        predicted_start=start.tolist(),
        predicted_finish=finish.tolist(),
        order=order.tolist(),
        succ_ptr=succ_ptr.tolist(),
        succ_target=target[by_source].tolist(),
        succ_data=data[by_source].tolist(),
        in_degree=in_degree.tolist(),
    )
    engine.run()
    stuck = engine.stuck_task()
    if stuck is not None:
        why = "every failure was re-planned" if engine.fail_gen else "no node failed"
        raise SimulationError(
            f"task {graph.tasks[stuck].id!r} never ran although {why}"
            " (is the schedule's order on its node consistent with the dependencies?)"
        )

    predicted_finish = [r.arrival for r in requests]
    for i, r in enumerate(task_request.tolist()):
        if finish[i] > predicted_finish[r]:
            predicted_finish[r] = float(finish[i])
    request_results = tuple(
        RequestResult(
            r.id,
            problem.arrival_node(k),
            r.arrival,
            None if math.isnan(engine.r_finish[k]) else engine.r_finish[k],
            predicted_finish[k],
        )
        for k, r in enumerate(requests)
    )
    task_ids = [t.id for t in graph.tasks]
    return collect_result(
        engine,
        algorithm=schedule.algorithm,
        predicted_makespan=schedule.makespan,
        requests=request_results,
        task_id=task_ids.__getitem__,
    )


def collect_result(
    engine: Engine,
    *,
    algorithm: str,
    predicted_makespan: float,
    requests: tuple[RequestResult, ...],
    task_id: Callable[[int], TaskId],
) -> SimResult:
    """Turn a finished engine's state into a :class:`SimResult`."""
    nodes: Sequence[Node] = engine._nodes
    node_ids: tuple[NodeId, ...] = engine.node_ids
    horizon = engine.horizon()
    finishes = np.asarray(engine.t_finish, dtype=float)
    status = np.asarray(engine.t_status, dtype=np.int8)
    status[status == 3] = 0  # running at the end cannot happen; count it as not run
    done = status == 1
    makespan = float(finishes[done].max()) if done.any() else 0.0
    horizons = np.array(
        [
            horizon if engine.n_failed_at[p] is None else engine.n_failed_at[p]
            for p in range(len(nodes))
        ],
        dtype=float,
    )
    run_node, run_start, run_end = engine.runs()
    tx_node, tx_start, tx_end, tx_data = engine.transfer_columns()
    times = node_state_times(
        len(nodes),
        horizons,
        run_node,
        run_start,
        run_end,
        tx_node,
        tx_start,
        tx_end,
        np.asarray(engine.cores, dtype=float),
    )
    core_seconds = np.zeros(len(nodes))
    np.add.at(core_seconds, run_node, run_end - run_start)
    runs_per_node = np.bincount(run_node, minlength=len(nodes))
    stats = []
    for p, node in enumerate(nodes):
        h = float(horizons[p])
        energy = 0.0
        if node.power is not None:
            power = node.power
            energy = (
                power.idle * h
                + (power.busy - power.idle) * float(times["core_fraction"][p])
                + (power.transmit - power.idle) * float(times["sending"][p])
            )
        cores = engine.cores[p]
        stats.append(
            NodeStats(
                node.id,
                h,
                float(times["idle"][p]),
                float(times["busy"][p]),
                float(times["transmit"][p]),
                float(times["busy_transmit"][p]),
                float(core_seconds[p]),
                float(core_seconds[p]) / (cores * h) if h > 0 else 0.0,
                energy,
                int(runs_per_node[p]),
                engine.n_failed_at[p],
            )
        )
    trace: tuple[TraceEvent, ...] = ()
    if engine.trace is not None:
        trace = tuple(
            TraceEvent(
                time,
                TRACE_KINDS[kind],  # type: ignore[arg-type]
                node_ids[p],
                task_id(i) if i >= 0 else None,
                node_ids[q] if q >= 0 else None,
                data,
            )
            for time, kind, p, i, q, data in engine.trace
        )
    table = TaskTable(
        task_id,
        node_ids,
        {
            "node": np.asarray(engine.t_node, dtype=np.int64),
            "start": np.asarray(engine.t_start, dtype=float),
            "finish": finishes,
            "predicted_node": np.asarray(engine.t_pnode, dtype=np.int64),
            "predicted_start": np.asarray(engine.t_pstart, dtype=float),
            "predicted_finish": np.asarray(engine.t_pfinish, dtype=float),
            "status": status,
            "runs": np.asarray(engine.t_runs, dtype=np.int64),
        },
    )
    return SimResult(
        algorithm=algorithm,
        makespan=makespan,
        predicted_makespan=predicted_makespan,
        horizon=horizon,
        requests=requests,
        nodes=tuple(stats),
        tasks=table,
        trace=trace,
        transfers=len(engine.x),
        bytes_sent=float(tx_data.sum()),
        events=engine.events,
        replans=tuple(engine.replans),
    )
