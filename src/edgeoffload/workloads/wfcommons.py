"""Real workflows in: WfCommons execution traces (WfFormat 1.4 to 1.6) as problems.

A WfCommons trace records one run of a scientific workflow: its tasks, each task's
runtime, the files each task read and wrote, and their sizes. :func:`load_wfcommons`
reads one, checking every field it uses (one line naming the place of the first thing
wrong, as every reader of the project does); :func:`import_wfcommons` turns it into a
:class:`~edgeoffload.model.Problem` on a given cluster (docs/workflows.md):

- a task's id is the trace's ``id`` (else its ``name``), unprefixed; its work is its
  runtime times the reference speed (FLOP/s; default: the cluster's median node speed);
  its ``cores`` and ``memory`` are kept as data;
- a dependency carries the bytes of the files the parent writes and the child reads (0
  if none);
- the workflow's inputs (files some task reads and no task writes) and final outputs
  (files some task writes and no task reads) live on a new node ``storage`` of role
  ``storage``, linked to every node: a zero-work task ``stage-in:ID`` pinned there feeds
  each task ``ID`` that reads workflow inputs (the bytes of those files), and a zero-work
  task ``stage-out:ID`` pinned there takes each task's final outputs.

Layouts: in 1.4 tasks are ``workflow.tasks`` with ``files`` entries ``{link, name,
sizeInBytes}`` and ``parents``/``children`` naming tasks by name; from 1.5 on the
structure is ``workflow.specification`` (``tasks`` with ``inputFiles``/``outputFiles``,
``files`` with ``sizeInBytes``) and the measurements ``workflow.execution.tasks``
(``runtimeInSeconds``, ``coreCount``, ``memoryInBytes``). 1.6 is read with the 1.5 layout.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeoffload.errors import ModelError
from edgeoffload.model.checks import check_id, check_number, shown
from edgeoffload.model.cluster import Cluster, Link, Node
from edgeoffload.model.problem import Problem
from edgeoffload.model.reading import located, parse_json, read_text
from edgeoffload.model.task_graph import Dependency, NodeId, Task, TaskGraph

__all__ = [
    "DEFAULT_STORAGE_BANDWIDTH",
    "DEFAULT_STORAGE_LATENCY",
    "SCHEMA_VERSIONS",
    "STAGE_IN",
    "STAGE_OUT",
    "STORAGE_NODE",
    "Trace",
    "TraceTask",
    "default_reference_speed",
    "import_wfcommons",
    "load_wfcommons",
    "parse_wfcommons",
]

SCHEMA_VERSIONS: tuple[str, ...] = ("1.4", "1.5", "1.6")
"""The WfFormat versions read (``schemaVersion``)."""

STORAGE_NODE: NodeId = "storage"
"""Id of the node added to hold a workflow's input and output files."""

STAGE_IN, STAGE_OUT = "stage-in:", "stage-out:"
"""Prefixes of the zero-work tasks that carry a task's workflow inputs and final outputs."""

DEFAULT_STORAGE_BANDWIDTH = 1.25e8
"""Bandwidth of the storage node's links, bytes/s (1 Gbit/s)."""

DEFAULT_STORAGE_LATENCY = 0.001
"""Latency of the storage node's links, seconds."""


@dataclass(frozen=True, slots=True)
class TraceTask:
    """One task of a trace, as read.

    Attributes
    ----------
    id
        The trace's ``id``, else its ``name``.
    runtime
        Measured runtime, seconds.
    parents
        Ids of the tasks it depends on, in the order given (``children`` lists merged in).
    inputs, outputs
        Names of the files it reads and writes, each once, in the order given.
    cores, memory
        Cores used (a whole number ≥ 1) and memory used (bytes), when the trace has them.
    kind
        The trace's ``category`` (1.4) or program name (1.5 on), when it has one.
    """

    id: str
    runtime: float
    parents: tuple[str, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    cores: int | None = None
    memory: float | None = None
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class Trace:
    """A WfCommons trace: its name, schema version, tasks and file sizes (bytes)."""

    name: str
    schema_version: str
    tasks: tuple[TraceTask, ...]
    file_sizes: Mapping[str, float]


# -- reading -----------------------------------------------------------------------------


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ModelError(f"must be an object, got {type(value).__name__}", where)
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ModelError(f"must be a list, got {type(value).__name__}", where)
    return value


def _required(item: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in item:
        raise ModelError(f"missing required key {key!r}", where)
    return item[key]


def _names(value: Any, where: str) -> list[str]:
    return [check_id(x, f"{where}[{k}]") for k, x in enumerate(_list(value, where))]


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


def _runtime(item: Mapping[str, Any], where: str) -> float:
    for key in ("runtimeInSeconds", "runtime"):
        if key in item:
            return check_number(item[key], f"{where}.{key}")
    raise ModelError("missing runtime ('runtimeInSeconds')", where)


def _cores(value: Any, where: str) -> int | None:
    """Cores as a whole number ≥ 1: a fraction rounds up (WfFormat 1.4 allows ``1.5``),
    and 0 (some tracers' "unknown") is not kept."""
    if value is None:
        return None
    number = check_number(value, where)
    return math.ceil(number) if number > 0 else None


def _memory(value: Any, where: str) -> float | None:
    return None if value is None else check_number(value, where)


def _kind(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_wfcommons(data: Any) -> Trace:
    """A :class:`Trace` from the JSON form of a WfCommons trace.

    Raises
    ------
    ModelError
        Naming the first thing wrong and where: an unknown schema version, a missing
        runtime, a negative size, an unknown parent or file, a duplicate task.
    """
    top = _object(data, "trace")
    version = _required(top, "schemaVersion", "trace")
    if version not in SCHEMA_VERSIONS:
        raise ModelError(
            f"unknown schema version {shown(version)} (this reader knows"
            f" {', '.join(SCHEMA_VERSIONS)})",
            "schemaVersion",
        )
    workflow = _object(_required(top, "workflow", "trace"), "workflow")
    raw_name = top.get("name")
    name = raw_name if isinstance(raw_name, str) else ""
    if version == "1.4":
        raw_tasks, sizes = _read_14(workflow)
    else:
        raw_tasks, sizes = _read_15(workflow)
    if not raw_tasks:
        raise ModelError("a trace needs at least one task", "workflow")

    # parents may name a task by id or by name (1.4 names them by name)
    by_name: dict[str, str] = {}
    ids: set[str] = set()
    for task_id, task_name, *_ in raw_tasks:
        ids.add(task_id)
        by_name.setdefault(task_name, task_id)
    parents: dict[str, list[str]] = {t[0]: [] for t in raw_tasks}
    for task_id, _, where, parent_refs, child_refs, *_ in raw_tasks:
        for key, refs in (("parents", parent_refs), ("children", child_refs)):
            for k, ref in enumerate(refs):
                other = ref if ref in ids else by_name.get(ref)
                if other is None:
                    raise ModelError(f"unknown task {ref!r}", f"{where}.{key}[{k}]")
                if other == task_id:
                    raise ModelError(f"task {task_id!r} depends on itself", f"{where}.{key}[{k}]")
                if key == "parents":
                    parents[task_id].append(other)
                else:
                    parents[other].append(task_id)
    tasks = tuple(
        TraceTask(
            task_id,
            runtime,
            _unique(parents[task_id]),
            inputs,
            outputs,
            cores,
            memory,
            kind,
        )
        for task_id, _, _, _, _, inputs, outputs, runtime, cores, memory, kind in raw_tasks
    )
    try:  # a cycle is the trace's fault: say so when it is read
        TaskGraph(
            [Task(t.id, 0.0) for t in tasks],
            [Dependency(p, t.id) for t in tasks for p in t.parents],
        )
    except ModelError as exc:
        raise ModelError(exc.reason, "workflow") from None
    return Trace(name, version, tasks, sizes)


_Raw = tuple[
    str,  # id
    str,  # name
    str,  # where
    list[str],  # parents
    list[str],  # children
    tuple[str, ...],  # inputs
    tuple[str, ...],  # outputs
    float,  # runtime
    int | None,  # cores
    float | None,  # memory
    str | None,  # kind
]


def _read_14(workflow: Mapping[str, Any]) -> tuple[list[_Raw], dict[str, float]]:
    out: list[_Raw] = []
    seen: dict[str, str] = {}
    written: dict[str, float] = {}
    read: dict[str, float] = {}
    for i, raw in enumerate(_list(_required(workflow, "tasks", "workflow"), "workflow.tasks")):
        where = f"workflow.tasks[{i}]"
        item = _object(raw, where)
        name = check_id(_required(item, "name", where), f"{where}.name")
        task_id = check_id(item["id"], f"{where}.id") if "id" in item else name
        if task_id in seen:
            raise ModelError(f"duplicate task id {task_id!r} (also {seen[task_id]})", where)
        seen[task_id] = where
        inputs: list[str] = []
        outputs: list[str] = []
        for k, raw_file in enumerate(_list(item.get("files", []), f"{where}.files")):
            at = f"{where}.files[{k}]"
            entry = _object(raw_file, at)
            file_name = check_id(_required(entry, "name", at), f"{at}.name")
            size_key = "sizeInBytes" if "sizeInBytes" in entry else "size"
            size = check_number(_required(entry, size_key, at), f"{at}.{size_key}")
            link = _required(entry, "link", at)
            if link == "input":
                inputs.append(file_name)
                read.setdefault(file_name, size)
            elif link == "output":
                outputs.append(file_name)
                written.setdefault(file_name, size)
            else:
                raise ModelError(f"must be 'input' or 'output', got {shown(link)}", f"{at}.link")
        out.append(
            (
                task_id,
                name,
                where,
                _names(item.get("parents", []), f"{where}.parents"),
                _names(item.get("children", []), f"{where}.children"),
                _unique(inputs),
                _unique(outputs),
                _runtime(item, where),
                _cores(item.get("cores"), f"{where}.cores"),
                _memory(item.get("memoryInBytes"), f"{where}.memoryInBytes"),
                _kind(item.get("category")),
            )
        )
    # a file's size is the one its writer recorded, else the one its first reader did
    return out, {**read, **written}


def _read_15(workflow: Mapping[str, Any]) -> tuple[list[_Raw], dict[str, float]]:
    spec = _object(_required(workflow, "specification", "workflow"), "workflow.specification")
    execution = _object(_required(workflow, "execution", "workflow"), "workflow.execution")
    sizes: dict[str, float] = {}
    files_where = "workflow.specification.files"
    for k, raw in enumerate(_list(spec.get("files", []), files_where)):
        at = f"{files_where}[{k}]"
        entry = _object(raw, at)
        file_id = check_id(_required(entry, "id", at), f"{at}.id")
        if file_id in sizes:
            raise ModelError(f"duplicate file id {file_id!r}", at)
        sizes[file_id] = check_number(_required(entry, "sizeInBytes", at), f"{at}.sizeInBytes")
    measured: dict[str, tuple[str, dict[str, Any]]] = {}
    exec_where = "workflow.execution.tasks"
    for k, raw in enumerate(_list(_required(execution, "tasks", exec_where), exec_where)):
        at = f"{exec_where}[{k}]"
        entry = _object(raw, at)
        task_id = check_id(_required(entry, "id", at), f"{at}.id")
        if task_id in measured:
            raise ModelError(f"duplicate task id {task_id!r}", at)
        measured[task_id] = (at, entry)
    out: list[_Raw] = []
    seen: set[str] = set()
    spec_where = "workflow.specification.tasks"
    for i, raw in enumerate(_list(_required(spec, "tasks", spec_where), spec_where)):
        where = f"{spec_where}[{i}]"
        item = _object(raw, where)
        name = check_id(item["name"], f"{where}.name") if "name" in item else None
        if "id" in item:
            task_id = check_id(item["id"], f"{where}.id")
        elif name is not None:
            task_id = name
        else:
            raise ModelError("missing required key 'id'", where)
        if task_id in seen:
            raise ModelError(f"duplicate task id {task_id!r}", where)
        seen.add(task_id)
        files: dict[str, tuple[str, ...]] = {}
        for key in ("inputFiles", "outputFiles"):
            names = _names(item.get(key, []), f"{where}.{key}")
            for k, file_id in enumerate(names):
                if file_id not in sizes:
                    raise ModelError(f"unknown file {file_id!r}", f"{where}.{key}[{k}]")
            files[key] = _unique(names)
        if task_id not in measured:
            raise ModelError(
                f"task {task_id!r} has no entry in workflow.execution.tasks (no runtime)", where
            )
        at, entry = measured[task_id]
        command = entry.get("command")
        program = command.get("program") if isinstance(command, dict) else None
        out.append(
            (
                task_id,
                name or task_id,
                where,
                _names(item.get("parents", []), f"{where}.parents"),
                _names(item.get("children", []), f"{where}.children"),
                files["inputFiles"],
                files["outputFiles"],
                _runtime(entry, at),
                _cores(entry.get("coreCount"), f"{at}.coreCount"),
                _memory(entry.get("memoryInBytes"), f"{at}.memoryInBytes"),
                _kind(program),
            )
        )
    for task_id, (at, _) in measured.items():
        if task_id not in seen:
            raise ModelError(f"unknown task {task_id!r} (not in workflow.specification)", at)
    return out, sizes


def load_wfcommons(path: str | Path) -> Trace:
    """Read a WfCommons trace file (JSON).

    Raises
    ------
    ProblemFileError
        The file is missing, not a regular file, too large or not strict JSON
        (:mod:`edgeoffload.model.reading`).
    ModelError
        Its content is not a trace this reader takes (the message names the place).
    """
    path = Path(path)
    return located(
        path, parse_json(read_text(path, what="WfCommons trace"), str(path)), parse_wfcommons
    )


# -- importing ---------------------------------------------------------------------------


def default_reference_speed(cluster: Cluster) -> float:
    """The median speed of the cluster's nodes that run unpinned tasks (every node but
    storage nodes; all of them if there are no others), FLOP/s."""
    compute = [n.speed for n in cluster.nodes if n.role != "storage"]
    return float(statistics.median(compute or [n.speed for n in cluster.nodes]))


def import_wfcommons(
    trace: Trace | str | Path,
    cluster: Cluster | str | Path,
    *,
    reference_speed: float | None = None,
    storage_bandwidth: float = DEFAULT_STORAGE_BANDWIDTH,
    storage_latency: float = DEFAULT_STORAGE_LATENCY,
) -> Problem:
    """The problem of running ``trace`` on ``cluster`` plus a storage node.

    Parameters
    ----------
    trace
        A trace (:func:`load_wfcommons`) or the path of one.
    cluster
        The cluster, or the path of a cluster file (what ``calibrate-cluster`` writes,
        or a problem file). It may not have a node named ``storage`` already.
    reference_speed
        FLOP/s of the machine the trace's runtimes were measured on: a task's work is its
        runtime times this. Default: :func:`default_reference_speed` of ``cluster``.
    storage_bandwidth, storage_latency
        The links between the added storage node and every node (bytes/s, seconds).

    Raises
    ------
    ModelError
        A bad trace or cluster (named by place), a cluster that already has a node
        ``storage`` or has storage nodes only, a task id that clashes with a stage task's,
        or a bad number.
    """
    if not isinstance(trace, Trace):
        trace = load_wfcommons(trace)
    if not isinstance(cluster, Cluster):
        from edgeoffload.runtime.client.calibration import load_cluster_file

        cluster = load_cluster_file(cluster)
    if STORAGE_NODE in cluster:
        raise ModelError(
            f"the cluster already has a node {STORAGE_NODE!r}; the importer adds its own",
            "cluster",
        )
    if all(node.role == "storage" for node in cluster.nodes):
        raise ModelError(
            "every node has role 'storage', which runs only pinned tasks: the workflow's"
            " tasks would have nowhere to run",
            "cluster",
        )
    if reference_speed is None:
        reference_speed = default_reference_speed(cluster)
    speed = check_number(reference_speed, "reference_speed", positive=True)
    link = Link(
        check_number(storage_bandwidth, "storage_bandwidth", positive=True),
        check_number(storage_latency, "storage_latency"),
    )

    writers = {f for t in trace.tasks for f in t.outputs}
    readers = {f for t in trace.tasks for f in t.inputs}
    sizes = trace.file_sizes
    ids = {t.id for t in trace.tasks}
    tasks: list[Task] = []
    dependencies: list[Dependency] = []
    stage_out: list[Task] = []
    tail: list[Dependency] = []
    outputs_of = {t.id: t.outputs for t in trace.tasks}
    for t in trace.tasks:
        inputs = [f for f in t.inputs if f not in writers]
        if inputs:
            stage = _stage_task(STAGE_IN + t.id, ids)
            tasks.append(stage)
            dependencies.append(Dependency(stage.id, t.id, _total(inputs, sizes)))
        finals = [f for f in t.outputs if f not in readers]
        if finals:
            stage = _stage_task(STAGE_OUT + t.id, ids)
            stage_out.append(stage)
            tail.append(Dependency(t.id, stage.id, _total(finals, sizes)))
        tasks.append(
            Task(
                t.id,
                t.runtime * speed,
                kind=t.kind,
                cores=t.cores,
                memory=t.memory,
            )
        )
        reads = set(t.inputs)
        for parent in t.parents:
            shared = [f for f in outputs_of[parent] if f in reads]
            dependencies.append(Dependency(parent, t.id, _total(shared, sizes)))
    graph = TaskGraph(tasks + stage_out, dependencies + tail)

    storage = Node(STORAGE_NODE, speed, role="storage")
    links = dict(cluster.links)
    for node in cluster.nodes:
        links[(STORAGE_NODE, node.id)] = link
    problem_cluster = Cluster([*cluster.nodes, storage], links, cluster.default_link)
    return Problem(graph, problem_cluster)


def _stage_task(task_id: str, ids: set[str]) -> Task:
    if task_id in ids:
        raise ModelError(f"task id {task_id!r} clashes with a stage task of the importer", "trace")
    return Task(task_id, 0.0, pinned=STORAGE_NODE)


def _total(files: Iterable[str], sizes: Mapping[str, float]) -> float:
    return float(sum(sizes[f] for f in files))
