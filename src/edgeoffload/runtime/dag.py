"""Scheduled DAGs on real workers: the schedule the simulator evaluates is what runs.

A DAG of functions — usually ``@offload`` functions; a task receives its predecessors'
results as its first positional arguments — is scheduled by any registered scheduler on
a cluster whose node ids are the workers' names, and run there: every task on the worker
the schedule put it on, in the schedule's order on that worker, results moving worker to
worker. The caller gets the results back with the predicted and the measured timelines.

Build a DAG with :class:`Dag` (or wrap a model :class:`~edgeoffload.model.TaskGraph` with
:meth:`Dag.from_graph`), send several requests of it from cameras at once with
:class:`DagRequest` (merged as DHS schedules them, :func:`~edgeoffload.model.merge_requests`),
or bind functions to any :class:`~edgeoffload.model.Problem` with :meth:`DagProblem.bind`
(a scenario's problem, a problem file). Then::

    with edgeoffload.connect(...) as session:
        run = session.run_dag(requests, algorithm="dhs", cluster=cluster)
        run.results("r1"), run.makespan, run.predicted_makespan

How it runs (see docs/dag-execution.md)
---------------------------------------
1. The problem is scheduled (or a given :class:`~edgeoffload.model.Schedule` is checked
   against it with the validator). Each node's tasks are put in the schedule's order:
   by start, then finish, then topological position (the simulator's order).
2. Code: each function's module is packaged as an offloaded function's is and sent to
   the workers that lack it; functions of installed distributions (numpy, edgeoffload,
   torch…) are imported by name on the worker instead.
3. The session measures each worker's clock offset, fixes a start time ``t0`` and sends
   every worker its *plan* at once. A worker runs its tasks strictly one after another in
   that order (:mod:`edgeoffload.runtime.dag_worker`), each as soon as its inputs are
   there and its request has arrived, and pushes each result straight to every other
   node that needs it, once per node. The client is not on the data path: the cost model's
   transfer is one hop from producer to consumer.
4. The session follows the workers (a long poll on each); when one fails — its
   connection drops, it stops answering, a peer cannot reach it — the unfinished part is
   re-planned (:func:`remaining_problem`): surviving workers stop after their current
   task and say which results they hold; the tasks still needed for the outputs are
   scheduled again with the same scheduler on the surviving nodes, busy from now, with
   finished results as zero-work tasks pinned where they are; and the new plans run.
5. The outputs (by default the exit tasks' results) are fetched from where they are, and
   every worker forgets the run.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from edgeoffload.errors import (
    BundleError,
    ModelError,
    OffloadError,
    OffloadTimeoutError,
    WorkerUnavailableError,
)
from edgeoffload.model import (
    SOURCE_TASK,
    AppRequest,
    Assignment,
    Cluster,
    Dependency,
    Link,
    Node,
    Problem,
    Schedule,
    Task,
    TaskGraph,
    merge_requests,
    validate_schedule,
)
from edgeoffload.model.task_graph import NodeId, RequestId, TaskId
from edgeoffload.runtime.decorators import BoundOffloadedFunction, OffloadedFunction
from edgeoffload.runtime.protocol import client_module_name, dumps, loads

if TYPE_CHECKING:
    from edgeoffload.runtime.session import Session, _Worker
    from edgeoffload.schedulers import Scheduler

__all__ = [
    "Dag",
    "DagProblem",
    "DagRequest",
    "DagRun",
    "RequestTiming",
    "TaskCall",
    "TaskExecution",
    "TransferRecord",
    "call_on",
    "execution_order",
    "remaining_problem",
    "run_dag",
    "run_local",
]

_CONTROL_TIMEOUT = 30.0  # seconds for a plan, a stop, a collect
_POLL = 1.0  # seconds a worker holds a wait before answering "still running"
_POLL_GRACE = 10.0  # seconds past the poll before a silent worker counts as failed


def pass_input(value: Any) -> Any:
    """The source task of a request given its input: the input itself (on the camera)."""
    return value


# --------------------------------------------------------------------------- building


@dataclass(frozen=True, slots=True)
class TaskCall:
    """What a task runs: ``function(*inputs, *args, **kwargs)``.

    ``inputs`` are the results of the task's predecessors, in the order of its
    dependencies (for :class:`Dag`, the order of ``after``); a request's entry tasks get
    the request's input.

    Parameters
    ----------
    function
        An ``@offload`` function or any function defined at module level (its module is
        shipped like an offloaded function's, or imported by name where it belongs to an
        installed distribution).
    args, kwargs
        Constant arguments after the inputs (pickled and sent with the plan).
    """

    function: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        function = self.function
        if isinstance(function, BoundOffloadedFunction):
            raise TypeError(
                "a bound offloaded method cannot be a task: pass the class's function and "
                "the instance as an argument"
            )
        if not callable(function):
            raise TypeError(f"{function!r} is not callable")
        qualname = getattr(function, "__qualname__", "")
        if not qualname or "<locals>" in qualname or "<lambda>" in qualname:
            raise TypeError(
                f"{function!r}: a task's function must be defined at module level "
                "(a worker finds it by module and name)"
            )
        object.__setattr__(self, "args", tuple(self.args))
        object.__setattr__(self, "kwargs", dict(self.kwargs))

    def local(self, *inputs: Any) -> Any:
        """Run the call here (what :func:`run_local` does for each task)."""
        function = self.function
        if isinstance(function, OffloadedFunction):
            function = function.__wrapped__
        return function(*inputs, *self.args, **self.kwargs)


def _as_call(value: TaskCall | Callable[..., Any]) -> TaskCall:
    return value if isinstance(value, TaskCall) else TaskCall(value)


class Dag:
    """An application DAG whose tasks are functions, with the model's figures per task.

    Parameters
    ----------
    name
        The application's name (for reports).

    Examples
    --------
    >>> import operator
    >>> dag = Dag("sum")
    >>> dag.task("a", operator.add, args=(1, 2), work=1e6, output_bytes=8)
    'a'
    >>> dag.task("b", operator.neg, after=["a"], work=1e6)
    'b'
    >>> run_local(dag)
    {'b': -3}
    """

    def __init__(self, name: str = "dag") -> None:
        self.name = name
        self._tasks: list[Task] = []
        self._after: dict[TaskId, tuple[TaskId, ...]] = {}
        self._output_bytes: dict[TaskId, float] = {}
        self._calls: dict[TaskId, TaskCall] = {}
        self._graph: TaskGraph | None = None

    def __repr__(self) -> str:
        return f"Dag({self.name!r}, {len(self._tasks)} tasks)"

    def task(
        self,
        id: TaskId,
        function: Callable[..., Any] | TaskCall,
        *,
        after: Sequence[TaskId] = (),
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        work: float = 0.0,
        kind: str | None = None,
        output_bytes: float = 0.0,
        pinned: NodeId | None = None,
    ) -> TaskId:
        """Add a task; return its id.

        Parameters
        ----------
        id
            Unique task id.
        function
            What it runs (see :class:`TaskCall`); it receives the results of ``after``.
        after
            The tasks whose results it needs, in the order it receives them.
        args, kwargs
            Constant arguments after the inputs.
        work
            Computation, FLOP (the schedulers' and the simulator's figure).
        kind
            Kind of computation (``"conv"``, ``"fc"``…) for nodes' per-kind speeds.
        output_bytes
            Size of its result, bytes: the data of each dependency out of it.
        pinned
            The only node it may run on.
        """
        if id in self._after:
            raise ModelError(f"duplicate task id {id!r}", f"dag {self.name!r}")
        for before in after:
            if before not in self._after:
                raise ModelError(
                    f"unknown task {before!r} (add tasks after those they need)",
                    f"dag {self.name!r}: task {id!r}.after",
                )
        task = Task(id, work, kind, pinned)
        if isinstance(function, TaskCall):
            if args or kwargs:
                raise TypeError("give args and kwargs in the TaskCall, not beside it")
            call = function
        else:
            call = TaskCall(function, tuple(args), dict(kwargs or {}))
        self._tasks.append(task)
        self._after[id] = tuple(after)
        self._output_bytes[id] = float(output_bytes)
        self._calls[id] = call
        self._graph = None
        return id

    @property
    def graph(self) -> TaskGraph:
        """The model's task graph (FLOP per task, the producer's output bytes per edge)."""
        if self._graph is None:
            dependencies = [
                Dependency(before, task_id, self._output_bytes[before])
                for task_id, afters in self._after.items()
                for before in afters
            ]
            self._graph = TaskGraph(self._tasks, dependencies)
        return self._graph

    @property
    def calls(self) -> dict[TaskId, TaskCall]:
        """What each task runs."""
        return dict(self._calls)

    @classmethod
    def from_graph(
        cls,
        graph: TaskGraph,
        calls: Mapping[TaskId, TaskCall | Callable[..., Any]]
        | Callable[[Task], TaskCall | Callable[..., Any]],
        name: str = "dag",
    ) -> Dag:
        """A DAG with the tasks and dependencies of a model graph (a DNN's, say).

        ``calls`` gives each task's call, by id or as a function of the task. A task's
        inputs are its predecessors' results in the graph's dependency order.
        """
        dag = cls(name)
        for task in graph.tasks:
            raw = calls(task) if callable(calls) else calls[task.id]
            dag._tasks.append(task)
            dag._after[task.id] = graph.predecessors(task.id)
            dag._calls[task.id] = _as_call(raw)
        dag._output_bytes = {}
        dag._graph = graph
        return dag

    def problem(self, cluster: Cluster) -> DagProblem:
        """This DAG as one implicit request on ``cluster``."""
        return DagProblem.bind(Problem(self.graph, cluster), self._calls)


@dataclass(frozen=True, slots=True)
class DagRequest:
    """One request of a :class:`Dag` arriving at a camera, as DHS schedules it.

    The merged problem gives the request a zero-work source task ``<id>/input`` pinned to
    the camera; the DAG's entry tasks depend on it and receive what it returns.

    Parameters
    ----------
    id
        Request id (the prefix of its task ids: ``r1/conv1``).
    app
        The application DAG.
    camera
        The node the request arrives at.
    arrival
        Arrival time, seconds after the run starts; no task of it starts earlier.
    input
        The input (a frame): sent to the camera with the plan. Ignored with ``source``.
    source
        A function run on the camera at arrival to produce the input (a camera-like
        frame source), instead of ``input``.
    input_bytes
        Size of the input, bytes (the data of the source's dependencies); default: the
        size of ``input`` (its ``nbytes`` or pickled length), 0 with a ``source``.
    """

    id: RequestId
    app: Dag
    camera: NodeId
    arrival: float = 0.0
    input: Any = None
    source: TaskCall | Callable[..., Any] | None = None
    input_bytes: float | None = None

    def source_call(self) -> TaskCall:
        if self.source is not None:
            return _as_call(self.source)
        return TaskCall(pass_input, (self.input,))

    def data_bytes(self) -> float:
        if self.input_bytes is not None:
            return float(self.input_bytes)
        if self.source is not None:
            return 0.0
        return float(_size_of(self.input))


def _size_of(value: Any) -> int:
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(value)
    if value is None:
        return 0
    return sum(memoryview(f).nbytes for f in dumps(value))


@dataclass(frozen=True, slots=True)
class DagProblem:
    """A scheduling problem whose every task has a call: what :func:`run_dag` runs.

    Attributes
    ----------
    problem
        The model problem (graph, cluster, requests): what the schedulers and the
        simulator see.
    calls
        What each task runs.
    outputs
        Tasks whose results come back to the caller (default: the exit tasks).
    """

    problem: Problem
    calls: Mapping[TaskId, TaskCall]
    outputs: tuple[TaskId, ...] = ()

    def __post_init__(self) -> None:
        missing = [t.id for t in self.problem.graph.tasks if t.id not in self.calls]
        if missing:
            raise ModelError(f"no call for task(s) {', '.join(missing[:5])}", "calls")
        outputs = tuple(self.outputs) or self.problem.graph.exit_tasks()
        for task_id in outputs:
            if task_id not in self.problem.graph:
                raise ModelError(f"unknown task {task_id!r}", "outputs")
        object.__setattr__(self, "outputs", outputs)
        object.__setattr__(self, "calls", dict(self.calls))

    @classmethod
    def bind(
        cls,
        problem: Problem,
        calls: Mapping[TaskId, TaskCall | Callable[..., Any]]
        | Callable[[Task], TaskCall | Callable[..., Any]],
        outputs: Sequence[TaskId] = (),
    ) -> DagProblem:
        """Give every task of ``problem`` a call (by id, or as a function of the task)."""
        if callable(calls):
            bound = {t.id: _as_call(calls(t)) for t in problem.graph.tasks}
        else:
            bound = {t.id: _as_call(calls[t.id]) for t in problem.graph.tasks if t.id in calls}
        return cls(problem, bound, tuple(outputs))

    @classmethod
    def from_requests(
        cls, requests: Sequence[DagRequest], cluster: Cluster, outputs: Sequence[TaskId] = ()
    ) -> DagProblem:
        """Merge requests into one problem (``merge_requests``) with their calls."""
        app_requests = [
            AppRequest(r.id, r.app.graph, r.camera, r.arrival, r.data_bytes()) for r in requests
        ]
        problem = merge_requests(app_requests, cluster)
        calls: dict[TaskId, TaskCall] = {}
        for r in requests:
            calls[f"{r.id}/{SOURCE_TASK}"] = r.source_call()
            for task_id, call in r.app.calls.items():
                calls[f"{r.id}/{task_id}"] = call
        return cls(problem, calls, tuple(outputs))

    def with_cluster(self, cluster: Cluster) -> DagProblem:
        """The same tasks and calls on another cluster."""
        return DagProblem(self.problem.with_cluster(cluster), self.calls, self.outputs)


AppLike = Dag | DagRequest | Sequence[DagRequest] | DagProblem


def _dag_problem(app: AppLike, cluster: Cluster | None) -> DagProblem:
    if isinstance(app, DagProblem):
        return app if cluster is None else app.with_cluster(cluster)
    if cluster is None:
        raise ModelError("a cluster is needed to schedule this DAG", "cluster")
    if isinstance(app, Dag):
        return app.problem(cluster)
    requests = [app] if isinstance(app, DagRequest) else list(app)
    if not requests or not all(isinstance(r, DagRequest) for r in requests):
        raise TypeError("expected a Dag, a DagProblem or DagRequest objects")
    return DagProblem.from_requests(requests, cluster)


def run_local(app: AppLike, outputs: Sequence[TaskId] | str = ()) -> dict[TaskId, Any]:
    """Run every task here, in topological order: the reference a real run must match.

    Parameters
    ----------
    app
        A :class:`Dag`, request(s) or a :class:`DagProblem`.
    outputs
        Tasks whose results to return (default: the exit tasks; ``"all"``: every task).
    """
    if isinstance(app, DagProblem):
        graph, calls = app.problem.graph, dict(app.calls)
        default = app.outputs
    elif isinstance(app, Dag):
        graph, calls = app.graph, app.calls
        default = graph.exit_tasks()
    else:
        requests = [app] if isinstance(app, DagRequest) else list(app)
        cameras = sorted({r.camera for r in requests})
        bound = DagProblem.from_requests(requests, Cluster([Node(c, 1.0) for c in cameras]))
        graph, calls, default = bound.problem.graph, dict(bound.calls), bound.outputs
    results: dict[TaskId, Any] = {}
    for i in graph.topological_order:
        task_id = graph.tasks[i].id
        inputs = [results[p] for p in graph.predecessors(task_id)]
        results[task_id] = calls[task_id].local(*inputs)
    wanted = [t.id for t in graph.tasks] if outputs == "all" else list(outputs) or list(default)
    return {t: results[t] for t in wanted}


# --------------------------------------------------------------------------- planning


def execution_order(problem: Problem, schedule: Schedule) -> dict[NodeId, list[TaskId]]:
    """Each node's tasks in the order they run: by start, then finish, then topological
    position (the simulator's order; zero-length tasks before what they feed)."""
    position = {problem.graph.tasks[i].id: k for k, i in enumerate(problem.graph.topological_order)}
    out: dict[NodeId, list[TaskId]] = {}
    for a in sorted(schedule, key=lambda a: (a.start, a.finish, position.get(a.task, 0))):
        out.setdefault(a.node, []).append(a.task)
    return out


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
        The tasks whose results the caller wants.

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
    WorkerUnavailableError
        A needed task is pinned to a node that did not survive (a request's camera).

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
        raise WorkerUnavailableError("no worker of the cluster survived")
    stubs: dict[TaskId, NodeId] = {}
    for task_id in sorted(needed, key=graph.index):
        task = graph.task(task_id)
        if task.pinned is not None and task.pinned not in survivors:
            raise WorkerUnavailableError(
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
    order = tuple(t.id for t in graph.tasks if t.id in needed)
    return sub, order, stubs


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class TaskExecution:
    """One execution of a task on a worker, seconds since the run started.

    ``final`` is the execution whose result was used; an execution on a worker that then
    failed, whose result was lost and re-computed elsewhere, is not final. ``failed``: the
    task raised. ``sequence`` counts the executions on that worker in this run (1, 2, …).
    """

    task: TaskId
    node: NodeId
    start: float
    finish: float
    epoch: int
    final: bool = True
    failed: bool = False
    sequence: int = 0


@dataclass(frozen=True, slots=True)
class TransferRecord:
    """A result pushed from ``source`` to ``target``: from the producer's send to the
    consumer's receipt (unpickled), seconds since the run started; ``data`` bytes."""

    task: TaskId
    source: NodeId
    target: NodeId
    start: float
    end: float
    data: int
    ok: bool = True


@dataclass(frozen=True, slots=True)
class RequestTiming:
    """A request's arrival and the finish of its last task: predicted and measured, s."""

    id: RequestId
    arrival: float
    predicted_finish: float
    measured_finish: float | None

    @property
    def predicted_latency(self) -> float:
        return self.predicted_finish - self.arrival

    @property
    def latency(self) -> float | None:
        """Measured latency, seconds (``None`` if a task's record was lost)."""
        return None if self.measured_finish is None else self.measured_finish - self.arrival


@dataclass(frozen=True, slots=True)
class DagRun:
    """The outcome of :func:`run_dag`.

    Attributes
    ----------
    algorithm
        The scheduler used.
    problem
        The problem that ran (graph, cluster, requests).
    schedule
        The scheduler's schedule: the prediction.
    measured
        The measured timeline as a schedule (``algorithm="measured"``): each task's final
        execution, seconds since the run started. Its durations are real, so it does not
        validate against the cost model.
    executions
        Every execution, including those lost with a failed worker.
    transfers
        Every result pushed between workers.
    outputs
        The requested results, by task id.
    requests
        Per request: predicted and measured finish.
    replans
        The schedules made after failures (of the remaining parts), in order.
    failures
        Each failure, one line (the node and what happened).
    scheduling_seconds, dispatch_seconds, wall_seconds
        Time spent scheduling (all plans), from ``t0`` until every worker had its first
        plan, and from the call to the return, seconds.
    clock_offsets
        Each worker's clock minus the client's, seconds.
    """

    algorithm: str
    problem: Problem
    schedule: Schedule
    measured: Schedule
    executions: tuple[TaskExecution, ...]
    transfers: tuple[TransferRecord, ...]
    outputs: Mapping[TaskId, Any]
    requests: tuple[RequestTiming, ...]
    replans: tuple[Schedule, ...] = ()
    failures: tuple[str, ...] = ()
    scheduling_seconds: float = 0.0
    dispatch_seconds: float = 0.0
    wall_seconds: float = 0.0
    clock_offsets: Mapping[NodeId, float] = field(default_factory=dict)

    @property
    def makespan(self) -> float:
        """Measured makespan: the last final execution's finish, seconds after ``t0``."""
        return self.measured.makespan

    @property
    def predicted_makespan(self) -> float:
        return self.schedule.makespan

    @property
    def error(self) -> float:
        """Relative prediction error of the makespan, ``|measured − predicted| / measured``."""
        if self.makespan <= 0:
            return 0.0 if self.predicted_makespan <= 0 else math.inf
        return abs(self.makespan - self.predicted_makespan) / self.makespan

    def results(self, request: RequestId | None = None) -> dict[TaskId, Any]:
        """The outputs; for ``request``, those of its tasks by their local ids."""
        if request is None:
            return dict(self.outputs)
        prefix = f"{request}/"
        return {t[len(prefix) :]: v for t, v in self.outputs.items() if t.startswith(prefix)}

    def order(self) -> dict[NodeId, list[TaskId]]:
        """Each node's final executions in the order the worker ran them."""
        out: dict[NodeId, list[TaskId]] = {}
        for e in sorted(self.executions, key=lambda e: (e.node, e.sequence, e.start)):
            if e.final:
                out.setdefault(e.node, []).append(e.task)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the outputs)."""
        return {
            "algorithm": self.algorithm,
            "predicted_makespan": self.predicted_makespan,
            "makespan": self.makespan,
            "error": self.error,
            "wall_seconds": self.wall_seconds,
            "scheduling_seconds": self.scheduling_seconds,
            "dispatch_seconds": self.dispatch_seconds,
            "requests": [
                {
                    "id": r.id,
                    "arrival": r.arrival,
                    "predicted_latency": r.predicted_latency,
                    "latency": r.latency,
                }
                for r in self.requests
            ],
            "failures": list(self.failures),
            "predicted": self.schedule.to_dict(),
            "measured": [
                {
                    "task": e.task,
                    "node": e.node,
                    "start": e.start,
                    "finish": e.finish,
                    "epoch": e.epoch,
                    "final": e.final,
                }
                for e in self.executions
            ],
            "transfers": [
                {
                    "task": t.task,
                    "source": t.source,
                    "target": t.target,
                    "start": t.start,
                    "end": t.end,
                    "bytes": t.data,
                }
                for t in self.transfers
            ],
            "replans": [s.to_dict() for s in self.replans],
            "clock_offsets": dict(self.clock_offsets),
        }


# --------------------------------------------------------------------------- code


def _installed_tops() -> Mapping[str, list[str]]:
    from edgeoffload.runtime.bundles import _distributions  # cached with the bundler's

    return _distributions()


def _function_ref(session: Session, call: TaskCall) -> tuple[str | None, str, str]:
    function = call.function
    if isinstance(function, OffloadedFunction):
        module, qualname = function.module, function.qualname
    else:
        module = str(getattr(function, "__module__", "") or "")
        qualname = str(function.__qualname__)
    if not module:
        raise TypeError(f"{function!r} has no module: a worker cannot find it")
    top = module.partition(".")[0]
    installed = top == "edgeoffload" or top in _installed_tops()
    standard = top in sys.stdlib_module_names or top in sys.builtin_module_names
    if module != "__main__" and (installed or standard):
        return None, module, qualname  # installed code: the worker imports it by name
    bundle = session._bundle_for_module(module, warn=False)
    if bundle is None:
        reason = session._bundle_errors.get(module, "it cannot be packaged")
        raise BundleError(f"the tasks of module {module!r} cannot run remotely: {reason}")
    return bundle.hash, module, qualname


def _raise_remote(reply: Mapping[str, Any], frames: list[Any], what: str) -> None:
    from edgeoffload.runtime.session import _rebuild_exception

    raise _rebuild_exception(reply, frames, what)


def _request(
    session: Session,
    worker: _Worker,
    header: dict[str, Any],
    frames: Sequence[Any] = (),
    timeout: float = _CONTROL_TIMEOUT,
) -> tuple[dict[str, Any], list[Any]]:
    """One message to a worker's channel; network failures as the runtime's errors."""
    from edgeoffload.runtime.session import channel_request

    reply, out, _, _ = channel_request(
        session._channel_for(worker), worker.name, header, frames, timeout
    )
    if reply.get("status") == "refused":
        raise OffloadError(str(reply.get("error", "refused")))
    return reply, out


def _require_worker(session: Session, node: NodeId) -> _Worker:
    worker = session._worker_named(node)
    if worker is None:
        known = sorted(w.name for w in session._workers.values() if w.usable)
        raise WorkerUnavailableError(
            f"no usable worker named {node!r} (the cluster's node ids must be worker names; "
            f"workers: {', '.join(known) or 'none'})"
        )
    return worker


def _ensure_code(session: Session, worker: _Worker, digests: Iterable[str]) -> None:
    from edgeoffload.runtime.session import _RefusedError

    bundles = {b.hash: b for b in session.bundles().values()}
    for digest in digests:
        try:
            session._push(worker, bundles[digest])
        except _RefusedError as exc:
            raise BundleError(f"worker {worker.name} refused the code: {exc}") from None


def _timed_call_on(
    session: Session,
    node: NodeId,
    call: TaskCall,
    timeout: float | None = None,
) -> tuple[Any, float]:
    """``call`` run on ``node`` now: (result, compute seconds measured there)."""
    worker = _require_worker(session, node)
    ref = _function_ref(session, call)
    bundles = [ref[0]] if ref[0] else []
    _ensure_code(session, worker, bundles)
    header = {
        "op": "dag_call",
        "client": session.client_id,
        "fn": list(ref),
        "bundles": bundles,
    }
    reply, frames = _request(
        session,
        worker,
        header,
        dumps((tuple(call.args), dict(call.kwargs))),
        timeout or session.deadline,
    )
    if reply.get("status") != "ok":
        _raise_remote(reply, frames, f"{ref[1]}:{ref[2]}")
    return loads(frames, rename=client_module_name), float(reply.get("compute", 0.0))


def call_on(
    session: Session, node: NodeId, function: Callable[..., Any], *args: Any, **kwargs: Any
) -> Any:
    """Run ``function(*args, **kwargs)`` on the worker named ``node`` and return its result.

    No decision is made: this is a pinned call (calibration kernels, diagnostics).
    Exceptions raised there are re-raised here as for offloaded calls.
    """
    result, _ = _timed_call_on(session, node, TaskCall(function, args, kwargs))
    return result


def clock_offsets(
    session: Session,
    nodes: Iterable[NodeId],
    samples: int = 5,
    rtts: dict[NodeId, float] | None = None,
) -> dict[NodeId, float]:
    """Each worker's clock minus this process's (``time.time()``), seconds.

    Cristian's method: the sample with the shortest round trip, the worker's time taken
    at its middle.
    """
    out: dict[NodeId, float] = {}
    for node in nodes:
        worker = _require_worker(session, node)
        best = (math.inf, 0.0)
        for _ in range(samples):
            sent = time.time()
            reply, _ = _request(session, worker, {"op": "dag_clock"})
            back = time.time()
            rtt = back - sent
            if rtt < best[0]:
                best = (rtt, float(reply["time"]) - (sent + back) / 2)
        out[node] = best[1]
        if rtts is not None:
            rtts[node] = best[0]
    return out


def session_cluster(session: Session) -> Cluster:
    """The session's workers as a cluster model: the speeds they describe themselves with
    (presets), one default link from the client's probes (median round trip / 2 and
    median bandwidth). Calibrate for measured figures (:mod:`~edgeoffload.runtime.calibration`).
    """
    nodes = session.model_nodes()
    usable = sorted(w.name for w in session._workers.values() if w.usable)
    missing = [n for n in usable if n not in nodes]
    if missing:
        raise ModelError(
            f"worker(s) {', '.join(missing)} gave no speed or preset: pass a cluster "
            "(or calibrate one with edgeoffload.runtime.calibrate_cluster)",
            "cluster",
        )
    probes = [i for i in session.workers().values() if i.rtt is not None and i.bandwidth]
    link = None
    if probes:
        link = Link(
            statistics.median(float(i.bandwidth or 0) for i in probes),
            statistics.median(float(i.rtt or 0) for i in probes) / 2,
        )
    return Cluster([nodes[n] for n in usable], default_link=link)


# --------------------------------------------------------------------------- running


@dataclass
class _Plan:
    node: NodeId
    order: list[TaskId]
    send: dict[TaskId, list[tuple[NodeId, float]]]  # node, when it is needed there (s)
    forward: dict[TaskId, list[tuple[NodeId, float]]]


class _Runner:
    """One run of a bound problem on a session's workers (see the module docstring)."""

    def __init__(
        self,
        session: Session,
        app: DagProblem,
        scheduler: Scheduler | None,
        algorithm: str,
        schedule: Schedule,
        deadline: float,
        replan: bool,
        scheduling_seconds: float,
    ) -> None:
        self.session = session
        self.app = app
        self.problem = app.problem
        self.graph = app.problem.graph
        self.scheduler = scheduler
        self.algorithm = algorithm
        self.schedule = schedule
        self.deadline = deadline
        self.replan_enabled = replan
        self.scheduling_seconds = scheduling_seconds
        self.run_id = uuid.uuid4().hex
        self.nodes = list(self.problem.cluster.node_ids)
        self.workers = {n: _require_worker(session, n) for n in self.nodes}
        self.alive = list(self.nodes)
        self.failed: dict[NodeId, str] = {}
        self.epoch = 0
        self.location: dict[TaskId, NodeId] = {}
        self.records: dict[tuple[TaskId, NodeId, int], dict[str, Any]] = {}
        self.transfers: dict[tuple[TaskId, str, str, float], dict[str, Any]] = {}
        self.record_counts: dict[NodeId, tuple[int, int]] = {}
        self.replans: list[Schedule] = []
        self.pool = ThreadPoolExecutor(
            max_workers=max(4, 2 * len(self.nodes)), thread_name_prefix="edgeoffload-dag"
        )
        self.refs: dict[TaskId, tuple[str | None, str, str]] = {}
        self.payloads: dict[TaskId, list[Any]] = {}
        self.t0 = 0.0
        self.offsets: dict[NodeId, float] = {}
        self.rtts: dict[NodeId, float] = {}
        self.dispatch_seconds = 0.0
        self.waiting: set[NodeId] = set()
        self.received: dict[TaskId, dict[NodeId, float]] = {}

    # ---------------------------------------------------------------- helpers
    def _send_all(
        self, make: Callable[[NodeId], tuple[dict[str, Any], Sequence[Any], float] | None]
    ) -> dict[NodeId, tuple[dict[str, Any], list[Any]] | BaseException]:
        futures: dict[NodeId, Future[tuple[dict[str, Any], list[Any]]]] = {}
        for node in list(self.alive):
            message = make(node)
            if message is None:
                continue
            header, frames, timeout = message
            futures[node] = self.pool.submit(
                _request, self.session, self.workers[node], header, frames, timeout
            )
        out: dict[NodeId, tuple[dict[str, Any], list[Any]] | BaseException] = {}
        for node, future in futures.items():
            try:
                out[node] = future.result()
            except BaseException as exc:
                out[node] = exc
        return out

    def _header(self, op: str, **fields: Any) -> dict[str, Any]:
        return {"op": op, "client": self.session.client_id, "run": self.run_id, **fields}

    def _fail_node(self, node: NodeId, reason: str) -> None:
        if node in self.alive:
            self.alive.remove(node)
            self.failed[node] = reason

    # ---------------------------------------------------------------- plans
    def _prepare_code(self) -> None:
        digests: set[str] = set()
        for task in self.graph.tasks:
            call = self.app.calls[task.id]
            ref = _function_ref(self.session, call)
            self.refs[task.id] = ref
            if ref[0]:
                digests.add(ref[0])
            self.payloads[task.id] = dumps((tuple(call.args), dict(call.kwargs)))
        for node in self.nodes:
            try:
                _ensure_code(self.session, self.workers[node], sorted(digests))
            except (WorkerUnavailableError, OffloadTimeoutError) as exc:
                self._fail_node(node, f"could not take the code: {exc}")

    def _plans(
        self,
        problem: Problem,
        schedule: Schedule,
        to_run: Iterable[TaskId],
        stubs: Mapping[TaskId, NodeId],
        holders: Mapping[TaskId, set[NodeId]],
    ) -> dict[NodeId, _Plan]:
        run_set = set(to_run)
        node_of = {a.task: a.node for a in schedule}
        start_of = {a.task: a.start for a in schedule}
        plans = {n: _Plan(n, [], {}, {}) for n in self.alive}
        for node, order in execution_order(problem, schedule).items():
            plans[node].order = [t for t in order if t in run_set]

        def targets(task_id: TaskId, skip: set[NodeId]) -> list[tuple[NodeId, float]]:
            """Nodes needing ``task_id``'s result, each with the earliest scheduled start
            of a consumer there: a worker sends what is needed first first."""
            need: dict[NodeId, float] = {}
            for c in self.graph.successors(task_id):
                if c in run_set and node_of[c] not in skip:
                    need[node_of[c]] = min(need.get(node_of[c], math.inf), start_of[c])
            return sorted(need.items(), key=lambda item: self.nodes.index(item[0]))

        for task_id in run_set:
            sends = targets(task_id, {node_of[task_id]})
            if sends:
                plans[node_of[task_id]].send[task_id] = sends
        for stub, holder in stubs.items():
            sends = targets(stub, {holder} | holders.get(stub, set()))
            if sends:
                plans[holder].forward[stub] = sends
        for task_id in run_set:
            self.location[task_id] = node_of[task_id]
        return plans

    def _dispatch(self, problem: Problem, plans: Mapping[NodeId, _Plan], first: bool) -> None:
        self.epoch += 1
        peers = {n: self.workers[n].channel_address for n in self.alive}
        release = {t.id: problem.release_time(i) for i, t in enumerate(problem.graph.tasks)}
        messages: dict[NodeId, tuple[dict[str, Any], list[Any]]] = {}
        for node, plan in plans.items():
            if not plan.order and not plan.forward:
                continue
            frames: list[Any] = []
            tasks = []
            bundles: set[str] = set()
            for task_id in plan.order:
                ref = self.refs[task_id]
                if ref[0]:
                    bundles.add(ref[0])
                payload = self.payloads[task_id]
                tasks.append(
                    {
                        "id": task_id,
                        "fn": list(ref),
                        "inputs": list(self.graph.predecessors(task_id)),
                        "payload": [len(frames), len(payload)],
                        "release": release.get(task_id, 0.0),
                        "send": [list(x) for x in plan.send.get(task_id, [])],
                    }
                )
                frames.extend(payload)
            header = self._header(
                "dag_plan",
                epoch=self.epoch,
                node=node,
                peers=peers,
                bundles=sorted(bundles),
                tasks=tasks,
                forward=[[t, [list(x) for x in sends]] for t, sends in plan.forward.items()],
            )
            messages[node] = (header, frames)
        if not first:  # the run goes on: the new plans start at once, on the same clock
            for node, (header, _) in messages.items():
                header["t0"] = self.t0 + self.offsets.get(node, 0.0)
        sent = time.time()
        replies = self._send_all(
            lambda n: (*messages[n], _CONTROL_TIMEOUT) if n in messages else None
        )
        for node, reply in replies.items():
            if isinstance(reply, (WorkerUnavailableError, OffloadTimeoutError)):
                self._fail_node(node, f"could not take its plan: {reply}")
            elif isinstance(reply, BaseException):
                raise reply
        self.waiting = {n for n in messages if n in self.alive}
        if first:
            # every worker holds its plan (code loaded, arguments unpickled): start them
            # together, a little ahead so that the last "go" arrives before t0
            self.t0 = time.time() + max(0.002, 2 * max(self.rtts.values(), default=0.0))
            replies = self._send_all(
                lambda n: (
                    (
                        self._header(
                            "dag_go", epoch=self.epoch, t0=self.t0 + self.offsets.get(n, 0.0)
                        ),
                        (),
                        _CONTROL_TIMEOUT,
                    )
                    if n in self.waiting
                    else None
                )
            )
            for node, reply in replies.items():
                if isinstance(reply, BaseException):
                    self._fail_node(node, f"could not start: {reply}")
            self.dispatch_seconds = self.t0 - sent

    # ---------------------------------------------------------------- following
    def _note(self, node: NodeId, reply: Mapping[str, Any]) -> None:
        records = list(reply.get("records", []))
        transfers = list(reply.get("transfers", []))
        r, t = self.record_counts.get(node, (0, 0))
        self.record_counts[node] = (r + len(records), t + len(transfers))
        self._add_records(node, records, transfers)

    def _add_records(
        self,
        node: NodeId,
        records: Sequence[Mapping[str, Any]],
        transfers: Sequence[Mapping[str, Any]],
    ) -> None:
        offset = self.offsets.get(node, 0.0) + self.t0
        for rec in records:
            key = (str(rec["task"]), node, int(rec["epoch"]))
            self.records[key] = {
                **rec,
                "node": node,
                "start": float(rec["start"]) - offset,
                "finish": float(rec["finish"]) - offset,
            }
        for tr in transfers:
            key2 = (str(tr["task"]), node, str(tr["target"]), float(tr["start"]))
            self.transfers[key2] = {
                **tr,
                "source": node,
                "start": float(tr["start"]) - offset,
                "end": float(tr["end"]) - offset,
            }

    def _wait_epoch(self) -> None:
        """Follow the workers until the epoch is done; returns early after a failure."""
        pending: dict[Future[tuple[dict[str, Any], list[Any]]], NodeId] = {}
        limit = time.monotonic() + self.deadline

        def poll(node: NodeId) -> None:
            records_from, transfers_from = self.record_counts.get(node, (0, 0))
            header = self._header(
                "dag_wait",
                epoch=self.epoch,
                timeout=_POLL,
                records_from=records_from,
                transfers_from=transfers_from,
            )
            future = self.pool.submit(
                _request, self.session, self.workers[node], header, (), _POLL + _POLL_GRACE
            )
            pending[future] = node

        for node in sorted(self.waiting, key=self.nodes.index):
            poll(node)
        while pending:
            if time.monotonic() > limit:
                raise OffloadTimeoutError(
                    f"the DAG run did not finish within its deadline of {self.deadline:.3g} s"
                )
            done, _ = wait(list(pending), timeout=_POLL + _POLL_GRACE, return_when=FIRST_COMPLETED)
            failure = False
            for future in done:
                node = pending.pop(future)
                try:
                    reply, frames = future.result()
                except (WorkerUnavailableError, OffloadTimeoutError) as exc:
                    self._fail_node(node, str(exc))
                    failure = True
                    continue
                self._note(node, reply)
                status = reply.get("status")
                if status == "error":
                    self._abort()
                    _raise_remote(reply, frames, f"task {reply.get('task')}")
                for target, reason in dict(reply.get("push_failed", {})).items():
                    if target in self.alive:
                        self._fail_node(target, f"unreachable from {node}: {reason}")
                        failure = True
                if status in ("done", "stopped"):
                    self.waiting.discard(node)
                elif status == "running" and node in self.alive:
                    poll(node)
                elif status == "unknown":
                    self._fail_node(node, "lost the run (restarted?)")
                    failure = True
            if failure:
                for future in pending:
                    future.cancel()
                return

    def _abort(self) -> None:
        self._send_all(
            lambda n: (
                self._header("dag_stop", epoch=self.epoch, timeout=0.0),
                (),
                _CONTROL_TIMEOUT,
            )
        )

    # ---------------------------------------------------------------- re-planning
    def _replan(self) -> bool:
        """Re-plan the unfinished part on the survivors; False when nothing is left."""
        if not self.replan_enabled:
            raise WorkerUnavailableError(
                "a worker failed during the DAG run (re-planning is off): "
                + "; ".join(f"{n}: {r}" for n, r in self.failed.items())
            )
        if self.scheduler is None:
            raise WorkerUnavailableError(
                "a worker failed during a run of a given schedule; pass an algorithm to "
                "let the run re-plan: " + "; ".join(f"{n}: {r}" for n, r in self.failed.items())
            )
        replies = self._send_all(
            lambda n: (
                self._header("dag_stop", epoch=self.epoch, timeout=self.deadline),
                (),
                self.deadline + _CONTROL_TIMEOUT,
            )
        )
        holders: dict[TaskId, set[NodeId]] = {}
        for node, reply in replies.items():
            if isinstance(reply, BaseException):
                self._fail_node(node, f"did not stop: {reply}")
                continue
            for task_id in reply[0].get("held", []):
                holders.setdefault(str(task_id), set()).add(node)
        held: dict[TaskId, NodeId] = {}
        for task_id, nodes in holders.items():
            producer = self.location.get(task_id)
            held[task_id] = (
                producer
                if producer in nodes
                else min((n for n in nodes if n in self.alive), key=self.nodes.index)
            )
        now = time.time() - self.t0
        sub, needed, stubs = remaining_problem(
            self.problem, held, self.alive, now, self.app.outputs
        )
        for task_id in self.app.outputs:
            if task_id in held:
                self.location[task_id] = held[task_id]
        if sub is None:
            return False
        start = time.perf_counter()
        new = self.scheduler.schedule(sub)
        validate_schedule(sub, new)
        self.scheduling_seconds += time.perf_counter() - start
        self.replans.append(
            new.renamed(f"{self.algorithm} (re-plan {len(self.replans) + 1})", new.details)
        )
        plans = self._plans(sub, new, needed, stubs, holders)
        self._dispatch(sub, plans, first=False)
        return True

    # ---------------------------------------------------------------- the run
    def run(self) -> DagRun:
        started = time.perf_counter()
        self._prepare_code()
        for node in list(self.alive):
            try:
                self.offsets.update(clock_offsets(self.session, [node], rtts=self.rtts))
            except (WorkerUnavailableError, OffloadTimeoutError) as exc:
                self._fail_node(node, f"did not answer before the start: {exc}")
        try:
            if self.failed:  # lost before anything ran: plan from the start without them
                self.t0 = time.time()
            else:
                everything = [t.id for t in self.graph.tasks]
                plans = self._plans(self.problem, self.schedule, everything, {}, {})
                self._dispatch(self.problem, plans, first=True)
            handled: set[NodeId] = set()
            while True:  # failures may show while dispatching as well as while waiting
                new_failures = self.failed.keys() - handled
                if new_failures:
                    handled |= new_failures
                    if not self._replan():
                        break
                    continue
                if not self.waiting:
                    break
                self._wait_epoch()
            outputs = self._collect()
        finally:
            self._release()
        return self._result(outputs, time.perf_counter() - started)

    def _collect(self) -> dict[TaskId, Any]:
        wanted: dict[NodeId, list[TaskId]] = {}
        for task_id in self.app.outputs:
            wanted.setdefault(self.location[task_id], []).append(task_id)
        replies = self._send_all(
            lambda n: (self._header("dag_collect", outputs=wanted.get(n, [])), (), self.deadline)
        )
        outputs: dict[TaskId, Any] = {}
        for node, reply in replies.items():
            if isinstance(reply, BaseException):
                if node in wanted:
                    raise reply
                continue
            header, frames = reply
            self._add_records(node, header.get("records", []), header.get("transfers", []))
            for task_id, received in dict(header.get("received", {})).items():
                self.received.setdefault(str(task_id), {})[node] = (
                    float(received[0]) - self.t0 - self.offsets.get(node, 0.0)
                )
            for task_id, first, count in header.get("outputs", []):
                outputs[str(task_id)] = loads(
                    frames[first : first + count], rename=client_module_name
                )
        missing = [t for t in self.app.outputs if t not in outputs]
        if missing:
            raise WorkerUnavailableError(f"the results of {', '.join(missing)} were lost")
        return outputs

    def _release(self) -> None:
        """Every worker forgets the run (failed ones too, in case they only seemed so)."""
        with contextlib.suppress(Exception):
            self._send_all(lambda n: (self._header("dag_release"), (), 10.0))
        for node in self.failed:
            with contextlib.suppress(Exception):
                self.pool.submit(
                    _request, self.session, self.workers[node], self._header("dag_release"), (), 5.0
                )
        self.pool.shutdown(wait=False, cancel_futures=False)

    def _result(self, outputs: dict[TaskId, Any], wall: float) -> DagRun:
        latest: dict[TaskId, dict[str, Any]] = {}
        for rec in self.records.values():
            best = latest.get(rec["task"])
            if best is None or (rec["epoch"], rec["finish"]) > (best["epoch"], best["finish"]):
                latest[rec["task"]] = rec
        executions = tuple(
            sorted(
                (
                    TaskExecution(
                        str(r["task"]),
                        str(r["node"]),
                        float(r["start"]),
                        float(r["finish"]),
                        int(r["epoch"]),
                        final=latest.get(r["task"]) is r,
                        failed=bool(r.get("error")),
                        sequence=int(r.get("seq", 0)),
                    )
                    for r in self.records.values()
                ),
                key=lambda e: (e.start, e.node, e.task),
            )
        )
        measured = Schedule(
            "measured",
            [Assignment(e.task, e.node, e.start, e.finish) for e in executions if e.final],
        )
        transfers = []
        for tr in self.transfers.values():
            arrival = self.received.get(str(tr["task"]), {}).get(str(tr["target"]))
            transfers.append(
                TransferRecord(
                    str(tr["task"]),
                    str(tr["source"]),
                    str(tr["target"]),
                    float(tr["start"]),
                    float(arrival if arrival is not None else tr["end"]),
                    int(tr.get("bytes", 0)),
                    bool(tr.get("ok", True)),
                )
            )
        transfers.sort(key=lambda t: (t.start, t.source, t.target))
        finish_of = {e.task: e.finish for e in executions if e.final}
        predicted: dict[str, float] = {}
        measured_finish: dict[str, float | None] = {}
        requests = self.problem.effective_requests
        for i, task in enumerate(self.graph.tasks):
            r = requests[self.problem.request_index_of_task(i)].id
            a = self.schedule.assignment(task.id)
            predicted[r] = max(predicted.get(r, -math.inf), a.finish)
            if r not in measured_finish or measured_finish[r] is not None:
                got = finish_of.get(task.id)
                measured_finish[r] = (
                    None if got is None else max(measured_finish.get(r) or -math.inf, got)
                )
        timings = tuple(
            RequestTiming(
                r.id, r.arrival, predicted.get(r.id, r.arrival), measured_finish.get(r.id)
            )
            for r in requests
        )
        return DagRun(
            algorithm=self.algorithm,
            problem=self.problem,
            schedule=self.schedule,
            measured=measured,
            executions=executions,
            transfers=tuple(transfers),
            outputs=outputs,
            requests=timings,
            replans=tuple(self.replans),
            failures=tuple(f"{n}: {r}" for n, r in self.failed.items()),
            scheduling_seconds=self.scheduling_seconds,
            dispatch_seconds=self.dispatch_seconds,
            wall_seconds=wall,
            clock_offsets=dict(self.offsets),
        )


def run_dag(
    session: Session,
    app: AppLike,
    *,
    cluster: Cluster | None = None,
    algorithm: str = "dhs",
    params: Mapping[str, Any] | None = None,
    schedule: Schedule | None = None,
    outputs: Sequence[TaskId] | str | None = None,
    deadline: float | None = None,
    replan: bool = True,
) -> DagRun:
    """Schedule ``app`` and run it on the session's workers.

    Parameters
    ----------
    session
        An open session; its workers' names are the cluster's node ids.
    app
        A :class:`Dag` (one implicit request), one or more :class:`DagRequest` (merged
        as DHS schedules them), or a :class:`DagProblem` (any problem with calls).
    cluster
        The model of the workers the scheduler plans on (node ids = worker names): a
        calibrated one (:func:`~edgeoffload.runtime.calibration.calibrate_cluster`) for
        predictions that hold. Default: the DagProblem's cluster, else the workers'
        self-descriptions (:func:`session_cluster`).
    algorithm
        A registered scheduler (``edgeoffload schedulers``); default ``"dhs"``.
    params
        The scheduler's parameters (DHS: ``delta1``, ``delta2``).
    schedule
        Run this schedule instead of computing one (checked with the validator); the
        run then cannot re-plan around a failure.
    outputs
        Tasks whose results to return (default: the exit tasks; ``"all"``: every task).
    deadline
        Seconds the whole run may take (default: the session's deadline plus four times
        the predicted makespan).
    replan
        Re-plan the unfinished part on the surviving workers when one fails (default);
        ``False`` raises :class:`~edgeoffload.errors.WorkerUnavailableError` instead.

    Returns
    -------
    DagRun

    Raises
    ------
    ModelError
        Invalid problem or schedule, or an unknown scheduler.
    WorkerUnavailableError
        A node of the cluster has no worker, a worker failed and the rest cannot finish
        (a pinned task's node failed), or re-planning is off.
    OffloadTimeoutError
        The run passed its deadline.
    Exception
        A task raised: its exception, as for offloaded calls (``__cause__`` holds the
        worker's traceback).
    """
    session._check_open()
    if cluster is None and not isinstance(app, DagProblem):
        cluster = session_cluster(session)
    bound = _dag_problem(app, cluster)
    if outputs is not None:
        wanted = [t.id for t in bound.problem.graph.tasks] if outputs == "all" else list(outputs)
        bound = DagProblem(bound.problem, bound.calls, tuple(wanted))
    problem = bound.problem
    scheduler: Scheduler | None = None
    start = time.perf_counter()
    if schedule is None:
        from edgeoffload.schedulers import get_scheduler

        scheduler = get_scheduler(algorithm, **dict(params or {}))
        reason = scheduler.applies_to(problem)
        if reason is not None:
            raise ModelError(reason, algorithm)
        schedule = scheduler.schedule(problem)
    else:
        algorithm = schedule.algorithm
    validate_schedule(problem, schedule)
    scheduling_seconds = time.perf_counter() - start
    if deadline is None:
        deadline = session.deadline + 4 * schedule.makespan
    runner = _Runner(
        session, bound, scheduler, algorithm, schedule, deadline, replan, scheduling_seconds
    )
    return runner.run()
