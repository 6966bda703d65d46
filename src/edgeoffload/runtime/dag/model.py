"""Scheduled DAGs, the application side: tasks that are functions, and requests of them.

Build a DAG with :class:`Dag` (or wrap a model :class:`~edgeoffload.model.TaskGraph` with
:meth:`Dag.from_graph`), send several requests of it from cameras at once with
:class:`DagRequest` (merged as DHS schedules them, :func:`~edgeoffload.model.merge_requests`),
or bind functions to any :class:`~edgeoffload.model.Problem` with :meth:`DagProblem.bind`
(a scenario's problem, a problem file). :func:`run_local` runs one here, the reference a
real run (:func:`~edgeoffload.runtime.dag.runner.run_dag`) must match.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgeoffload.errors import ModelError
from edgeoffload.model import (
    SOURCE_TASK,
    AppRequest,
    Cluster,
    Dependency,
    Node,
    Problem,
    Task,
    TaskGraph,
    merge_requests,
)
from edgeoffload.model.task_graph import NodeId, RequestId, TaskId
from edgeoffload.runtime.client.decorators import BoundOffloadedFunction, OffloadedFunction
from edgeoffload.runtime.wire.protocol import dumps

__all__ = [
    "AppLike",
    "Dag",
    "DagProblem",
    "DagRequest",
    "TaskCall",
    "dag_problem",
    "pass_input",
    "run_local",
]


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


def dag_problem(app: AppLike, cluster: Cluster | None) -> DagProblem:
    """``app`` (a DAG, requests or a bound problem) as a :class:`DagProblem` on ``cluster``."""
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
