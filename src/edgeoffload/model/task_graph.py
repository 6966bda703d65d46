"""Tasks, dependencies and the validated task graph (a DAG).

A :class:`TaskGraph` is checked once, when it is built: ids are unique, every dependency
names two known tasks, no pair is listed twice and there is no cycle. It then answers
lookups (task by id, predecessors, successors, the dependency between two tasks) in O(1)
and keeps a deterministic topological order: Kahn's algorithm taking ready tasks in the
order they were given.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from edgeoffload.errors import ModelError
from edgeoffload.model.checks import check_id, check_number, is_plain_number, shown

__all__ = ["Dependency", "NodeId", "RequestId", "Task", "TaskGraph", "TaskId", "check_cores"]

TaskId = str
NodeId = str
RequestId = str


@dataclass(frozen=True, slots=True)
class Task:
    """One unit of work.

    Parameters
    ----------
    id
        Unique name of the task.
    work
        Amount of computation, FLOP; ``None`` when the problem's execution-time table gives
        the task's time on every node instead.
    kind
        Optional class of computation (``"conv"``, ``"fc"``, ...) that a node may execute
        at its own speed (``Node.speed_by_kind``).
    pinned
        Id of the only node the task may run on (a camera's input exists only there).
    request
        Id of the request (application instance) the task belongs to.
    cores
        Cores the task used when it was traced (a whole number >= 1); kept as data, not
        enforced by the schedulers yet.
    memory
        Memory the task used, bytes (>= 0); kept as data, not enforced yet.
    """

    id: TaskId
    work: float | None = None
    kind: str | None = None
    pinned: NodeId | None = None
    request: RequestId | None = None
    cores: int | None = None
    memory: float | None = None

    def __post_init__(self) -> None:
        check_id(self.id, "task id")
        where = f"task {self.id!r}"
        work = self.work
        if work is not None and not is_plain_number(work):
            object.__setattr__(self, "work", check_number(work, f"{where}.work"))
        if self.kind is not None:
            check_id(self.kind, f"{where}.kind")
        if self.pinned is not None:
            check_id(self.pinned, f"{where}.pinned")
        if self.request is not None:
            check_id(self.request, f"{where}.request")
        if self.cores is not None:
            check_cores(self.cores, f"{where}.cores")
        if self.memory is not None:
            object.__setattr__(self, "memory", check_number(self.memory, f"{where}.memory"))


def check_cores(value: object, where: str) -> int:
    """Return ``value`` after checking it is a whole number >= 1 (not a bool, not a float)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ModelError(f"must be a whole number >= 1, got {shown(value)}", where)
    return value


@dataclass(frozen=True, slots=True)
class Dependency:
    """``target`` needs the output of ``source``: ``data`` bytes sent from one to the other."""

    source: TaskId
    target: TaskId
    data: float = 0.0

    def __post_init__(self) -> None:
        check_id(self.source, "dependency source")
        check_id(self.target, "dependency target")
        data = self.data
        if not is_plain_number(data):  # (else nothing to check, nor a message to build)
            where = f"dependency {self.source!r} -> {self.target!r}"
            object.__setattr__(self, "data", check_number(data, f"{where}.data"))


class TaskGraph:
    """A validated directed acyclic graph of tasks.

    Tasks and dependencies are also numbered (their position in :attr:`tasks` and
    :attr:`dependencies`), which is what the schedulers index their arrays with.

    Parameters
    ----------
    tasks
        The tasks, in the order that breaks ties everywhere else.
    dependencies
        The edges; each names two tasks of ``tasks``.

    Raises
    ------
    ModelError
        On an empty graph, a duplicate task id, an unknown task in a dependency, a
        self-dependency, a pair listed twice, or a cycle (the message names a task on it).

    Examples
    --------
    >>> g = TaskGraph([Task("a", 1.0), Task("b", 2.0)], [Dependency("a", "b", 8.0)])
    >>> g.successors("a"), g.dependency("a", "b").data
    (('b',), 8.0)
    """

    __slots__ = (
        "_dep_index",
        "_in_edges",
        "_index",
        "_out_edges",
        "_topo",
        "dependencies",
        "tasks",
    )

    def __init__(self, tasks: Iterable[Task], dependencies: Iterable[Dependency] = ()) -> None:
        self.tasks: tuple[Task, ...] = tuple(tasks)
        self.dependencies: tuple[Dependency, ...] = tuple(dependencies)
        if not self.tasks:
            raise ModelError("a task graph needs at least one task", "tasks")
        self._index: dict[TaskId, int] = {}
        for i, task in enumerate(self.tasks):
            if task.id in self._index:
                raise ModelError(f"duplicate task id {task.id!r}", f"tasks[{i}]")
            self._index[task.id] = i
        n = len(self.tasks)
        self._in_edges: list[list[int]] = [[] for _ in range(n)]
        self._out_edges: list[list[int]] = [[] for _ in range(n)]
        self._dep_index: dict[tuple[TaskId, TaskId], int] = {}
        for k, dep in enumerate(self.dependencies):
            where = f"dependencies[{k}]"
            for end in (dep.source, dep.target):
                if end not in self._index:
                    raise ModelError(f"unknown task {end!r}", where)
            if dep.source == dep.target:
                raise ModelError(f"task {dep.source!r} depends on itself", where)
            pair = (dep.source, dep.target)
            if pair in self._dep_index:
                raise ModelError(f"dependency {dep.source!r} -> {dep.target!r} listed twice", where)
            self._dep_index[pair] = k
            self._out_edges[self._index[dep.source]].append(k)
            self._in_edges[self._index[dep.target]].append(k)
        self._topo: tuple[int, ...] = self._topological_order()

    def _topological_order(self) -> tuple[int, ...]:
        n = len(self.tasks)
        indegree = [len(edges) for edges in self._in_edges]
        ready = [i for i in range(n) if indegree[i] == 0]
        heapq.heapify(ready)
        order: list[int] = []
        while ready:
            i = heapq.heappop(ready)
            order.append(i)
            for k in self._out_edges[i]:
                j = self._index[self.dependencies[k].target]
                indegree[j] -= 1
                if indegree[j] == 0:
                    heapq.heappush(ready, j)
        if len(order) < n:
            on_cycle = next(self.tasks[i].id for i in range(n) if indegree[i] > 0)
            raise ModelError(f"the dependencies form a cycle through task {on_cycle!r}")
        return tuple(order)

    # -- lookups ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._index

    def __repr__(self) -> str:
        return f"TaskGraph({len(self.tasks)} tasks, {len(self.dependencies)} dependencies)"

    def task(self, task_id: TaskId) -> Task:
        """The task named ``task_id`` (KeyError if there is none)."""
        return self.tasks[self._index[task_id]]

    def index(self, task_id: TaskId) -> int:
        """Position of ``task_id`` in :attr:`tasks`."""
        return self._index[task_id]

    def dependency(self, source: TaskId, target: TaskId) -> Dependency:
        """The dependency ``source -> target`` (KeyError if there is none)."""
        return self.dependencies[self._dep_index[(source, target)]]

    def predecessors(self, task_id: TaskId) -> tuple[TaskId, ...]:
        """Ids of the tasks whose output ``task_id`` needs, in dependency order."""
        edges = self._in_edges[self._index[task_id]]
        return tuple(self.dependencies[k].source for k in edges)

    def successors(self, task_id: TaskId) -> tuple[TaskId, ...]:
        """Ids of the tasks that need the output of ``task_id``, in dependency order."""
        edges = self._out_edges[self._index[task_id]]
        return tuple(self.dependencies[k].target for k in edges)

    def in_edges(self, i: int) -> Sequence[int]:
        """Indexes of the dependencies into task number ``i``."""
        return self._in_edges[i]

    def out_edges(self, i: int) -> Sequence[int]:
        """Indexes of the dependencies out of task number ``i``."""
        return self._out_edges[i]

    @property
    def topological_order(self) -> tuple[int, ...]:
        """Task indexes in a topological order; among ready tasks, the lowest index first."""
        return self._topo

    def entry_tasks(self) -> tuple[TaskId, ...]:
        """Tasks with no predecessor, in task order."""
        return tuple(t.id for i, t in enumerate(self.tasks) if not self._in_edges[i])

    def exit_tasks(self) -> tuple[TaskId, ...]:
        """Tasks with no successor, in task order."""
        return tuple(t.id for i, t in enumerate(self.tasks) if not self._out_edges[i])
