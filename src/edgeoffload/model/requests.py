"""Multi-request problems: several application DAGs arriving at cameras at given times.

:func:`merge_requests` builds one :class:`Problem` from them, as the design fixes it:
every task id becomes ``REQUEST/TASK``; each request gets a zero-work source task
``REQUEST/input`` pinned to its camera, whose outgoing data is the request's input (an
image) and on which every entry task of the application depends; every task names its
request, and the request arrives at its camera at its arrival time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from edgeoffload.errors import ModelError
from edgeoffload.model.checks import check_id, check_number
from edgeoffload.model.cluster import Cluster
from edgeoffload.model.problem import Problem, Request
from edgeoffload.model.task_graph import Dependency, NodeId, RequestId, Task, TaskGraph, TaskId

__all__ = ["SOURCE_TASK", "AppRequest", "merge_requests"]

SOURCE_TASK = "input"
"""Local name of each request's source task (``REQUEST/input``)."""


@dataclass(frozen=True, slots=True)
class AppRequest:
    """One application DAG arriving at one camera at one time.

    Parameters
    ----------
    id
        Unique request id; becomes the prefix of its task ids.
    graph
        The application's task graph (it may not have a task named ``input``).
    camera
        Node the request arrives at; its source task is pinned there.
    arrival
        Arrival time, seconds.
    input_data
        Bytes sent from the source to each entry task of the application (the image).
    exec_times
        Optional execution times of the application's tasks, seconds, by local task id.
    """

    id: RequestId
    graph: TaskGraph
    camera: NodeId
    arrival: float = 0.0
    input_data: float = 0.0
    exec_times: Mapping[TaskId, Mapping[NodeId, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_id(self.id, "request id")
        check_id(self.camera, f"request {self.id!r}.camera")
        object.__setattr__(
            self, "arrival", check_number(self.arrival, f"request {self.id!r}.arrival")
        )
        object.__setattr__(
            self, "input_data", check_number(self.input_data, f"request {self.id!r}.input_data")
        )
        if "/" in self.id:
            raise ModelError("may not contain '/'", f"request {self.id!r}.id")
        if SOURCE_TASK in self.graph:
            raise ModelError(
                f"the application already has a task named {SOURCE_TASK!r}",
                f"request {self.id!r}",
            )


def merge_requests(
    requests: Sequence[AppRequest],
    cluster: Cluster,
) -> Problem:
    """Merge application requests into one problem on ``cluster``.

    Raises
    ------
    ModelError
        On duplicate request ids, a camera that is not in the cluster, or no request.

    Examples
    --------
    >>> from edgeoffload.model import Node
    >>> app = TaskGraph([Task("conv", 2e9, kind="conv")])
    >>> cluster = Cluster([Node("cam1", 1e9, role="camera"), Node("edge", 1e10, role="edge")])
    >>> p = merge_requests([AppRequest("r1", app, "cam1", arrival=0.5, input_data=6e5)], cluster)
    >>> [t.id for t in p.graph.tasks], p.graph.dependency("r1/input", "r1/conv").data
    (['r1/input', 'r1/conv'], 600000.0)
    """
    if not requests:
        raise ModelError("at least one request is needed", "requests")
    seen: set[str] = set()
    tasks: list[Task] = []
    dependencies: list[Dependency] = []
    exec_times: dict[TaskId, dict[NodeId, float]] = {}
    for request in requests:
        if request.id in seen:
            raise ModelError(f"duplicate request id {request.id!r}", "requests")
        seen.add(request.id)
        if request.camera not in cluster:
            raise ModelError(f"unknown camera {request.camera!r}", f"request {request.id!r}")
        prefix = f"{request.id}/"
        source = prefix + SOURCE_TASK
        tasks.append(Task(source, 0.0, pinned=request.camera, request=request.id))
        for task in request.graph.tasks:
            tasks.append(
                Task(prefix + task.id, task.work, task.kind, task.pinned, request=request.id)
            )
        for entry in request.graph.entry_tasks():
            dependencies.append(Dependency(source, prefix + entry, request.input_data))
        for dep in request.graph.dependencies:
            dependencies.append(Dependency(prefix + dep.source, prefix + dep.target, dep.data))
        for task_id, row in request.exec_times.items():
            exec_times[prefix + task_id] = dict(row)
    return Problem(
        TaskGraph(tasks, dependencies),
        cluster,
        [Request(r.id, r.arrival) for r in requests],
        exec_times,
    )
