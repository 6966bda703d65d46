"""DNN inference task graphs: AlexNet, GoogLeNet and ResNet-50, shipped as data.

The graphs were generated once from torchvision's definitions (``weights=None``) by
``tools/dnn_dags/extract.py`` with ``torch.fx`` and shape propagation at batch 1, a
3×224×224 FP32 input; reading them needs no torch. docs/workloads.md tells how they were
made, lists their totals against the published ones and shows how to regenerate them.

Two granularities exist for every model:

- ``"layer"``: one task per layer as inference runtimes execute it (conv+BN+ReLU,
  linear+ReLU, add+ReLU fused): 13 / 82 / 73 tasks for AlexNet / GoogLeNet / ResNet-50.
- ``"block"``: one task per stage, inception module or bottleneck: 4 / 11 / 18 tasks, a chain.

Each task's ``work`` is its FLOP count and its ``kind`` the dominant operation (``conv``,
``fc``, ``pool``, ``add``, ``concat``, ``flatten``), so that a node's ``speed_by_kind``
applies. Each dependency carries the producer's output tensor, bytes; a tensor read by
several tasks is one dependency per reader.

File format (``data/dnn/<model>.<granularity>.json``, format 1)
--------------------------------------------------------------
A JSON object with:

``format``
    1.
``model``, ``granularity``
    The model name (``alexnet``, ``googlenet``, ``resnet50``) and ``layer`` or ``block``.
``provenance``
    How the file was made: ``tool``, ``source`` (the torchvision call), ``torch``,
    ``torchvision``, ``python``, ``generated`` (date), ``trace``, ``input_shape``,
    ``dtype``, ``flop_convention``, ``fusion``, ``blocks`` (the block rule),
    ``reference_gmacs``/``measured_gmacs`` and ``reference_params_millions``/
    ``measured_params_millions``.
``input``
    ``shape``, ``dtype`` and ``bytes`` of the input image (602,112 bytes: 1×3×224×224 FP32).
``totals``
    ``nodes``, ``edges``, ``macs``, ``flops``, ``param_bytes``, ``buffer_bytes``: sums
    over the nodes, checked when the file is read.
``nodes``
    One object per task, in topological order: ``id``; ``kind``; ``ops`` (the fused
    operations, or for a block the kinds it contains); ``macs`` (conv + linear
    multiply-accumulates); ``flops`` (FLOP); ``param_bytes`` (weights, biases, BN scale and
    shift, FP32); ``buffer_bytes`` (BN running mean and variance); ``output_bytes`` and
    ``output_shape`` of the output tensor; layer files add ``block`` (the block holding the
    layer), block files add ``layers`` (the layers it holds).
``edges``
    ``[source, target, bytes]`` triples.

FLOP convention: conv and linear count 2 FLOP per MAC; inference batch-norm 2 FLOP per
element; ReLU and add 1 per element; pooling one per window input element; concat, flatten
and dropout 0.
"""

from __future__ import annotations

import functools
import json
import types
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from edgeoffload.errors import ModelError
from edgeoffload.model import AppRequest, Dependency, NodeId, RequestId, Task, TaskGraph, TaskId

__all__ = [
    "DNN_FORMAT",
    "DNN_KINDS",
    "GRANULARITIES",
    "DNNModel",
    "dnn_names",
    "dnn_summary",
    "load_dnn",
]

DNN_FORMAT = 1
"""Version of the shipped DNN graph files this module reads."""

GRANULARITIES: tuple[str, ...] = ("layer", "block")
"""The granularities every shipped model comes in."""

DNN_KINDS: tuple[str, ...] = ("conv", "fc", "pool", "add", "concat", "flatten")
"""Every ``Task.kind`` the shipped graphs use (a node's ``speed_by_kind`` keys)."""

_PACKAGE = "edgeoffload.workloads.data.dnn"

_DTYPE_BYTES: Mapping[str, int] = types.MappingProxyType(
    {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}
)
"""Bytes per parameter of each ``provenance.dtype`` a graph file may name."""


@dataclass(frozen=True, slots=True, eq=False)
class DNNModel:
    """A DNN's inference task graph with its per-task sizes.

    Parameters
    ----------
    name
        Model name, e.g. ``"resnet50"``.
    granularity
        ``"layer"`` or ``"block"``.
    graph
        The task graph: ``Task.work`` in FLOP, ``Task.kind`` set, dependency data in bytes.
    input_bytes
        Size of the input image that the entry task reads, bytes (602,112 for FP32).
    macs
        Conv + linear multiply-accumulates of each task.
    param_bytes
        Parameter bytes of each task (FP32 weights, biases, BN scale/shift).
    output_bytes
        Size of each task's output tensor, bytes.
    ops
        The operations fused into each task (for a block: the kinds it contains).
    provenance
        How the graph was generated (see the module docstring).

    Examples
    --------
    >>> m = load_dnn("alexnet")
    >>> len(m.graph), m.graph.entry_tasks(), round(m.total_macs / 1e9, 3)
    (13, ('conv1',), 0.714)
    """

    name: str
    granularity: str
    graph: TaskGraph
    input_bytes: float
    macs: Mapping[TaskId, int]
    param_bytes: Mapping[TaskId, int]
    output_bytes: Mapping[TaskId, int]
    ops: Mapping[TaskId, tuple[str, ...]]
    provenance: Mapping[str, Any]

    @property
    def total_macs(self) -> int:
        """Conv + linear multiply-accumulates of one inference."""
        return sum(self.macs.values())

    @property
    def total_flops(self) -> float:
        """FLOP of one inference (the sum of the tasks' work)."""
        return sum(t.work or 0.0 for t in self.graph.tasks)

    @property
    def total_param_bytes(self) -> int:
        """Bytes of all parameters (FP32)."""
        return sum(self.param_bytes.values())

    @property
    def total_parameters(self) -> int:
        """Number of parameters: :attr:`total_param_bytes` over the bytes per parameter of
        the graph's ``provenance["dtype"]`` (4 for the shipped FP32 graphs).

        Examples
        --------
        >>> load_dnn("alexnet").total_parameters
        61100840
        """
        return self.total_param_bytes // _DTYPE_BYTES[str(self.provenance["dtype"])]

    def request(self, request_id: RequestId, camera: NodeId, arrival: float = 0.0) -> AppRequest:
        """One inference of this model arriving at ``camera`` at ``arrival`` seconds.

        The request's source task sends :attr:`input_bytes` to the entry task.
        """
        return AppRequest(request_id, self.graph, camera, arrival, self.input_bytes)

    def to_dict(self) -> dict[str, Any]:
        """This model as a JSON-ready dict (what ``edgeoffload dnn NAME --json`` prints).

        Returns
        -------
        dict
            A new dict with, in this order:

            ``name``, ``granularity``
                As the fields of the same names.
            ``macs``
                Conv + linear multiply-accumulates of one inference, MACs (:attr:`total_macs`).
            ``flops``
                FLOP of one inference (:attr:`total_flops`).
            ``param_bytes``
                Parameters, bytes (:attr:`total_param_bytes`).
            ``parameters``
                Number of parameters (:attr:`total_parameters`).
            ``input_bytes``
                Input image, bytes.
            ``provenance``
                How the graph was generated (a copy of :attr:`provenance`).
            ``tasks``
                One dict per task in the graph's order: ``id``; ``kind``; ``ops`` (list of
                the fused operations); ``work`` (FLOP); ``macs`` (MACs); ``param_bytes`` and
                ``output_bytes`` (bytes).
            ``dependencies``
                One ``[source, target, data]`` list per dependency, ``data`` in bytes.

        Examples
        --------
        >>> d = load_dnn("alexnet").to_dict()
        >>> len(d["tasks"]), d["tasks"][0]["id"], d["dependencies"][0]
        (13, 'conv1', ['conv1', 'pool1', 774400.0])
        """
        return {
            "name": self.name,
            "granularity": self.granularity,
            "macs": self.total_macs,
            "flops": self.total_flops,
            "param_bytes": self.total_param_bytes,
            "parameters": self.total_parameters,
            "input_bytes": self.input_bytes,
            "provenance": dict(self.provenance),
            "tasks": [
                {
                    "id": t.id,
                    "kind": t.kind,
                    "ops": list(self.ops[t.id]),
                    "work": t.work,
                    "macs": self.macs[t.id],
                    "param_bytes": self.param_bytes[t.id],
                    "output_bytes": self.output_bytes[t.id],
                }
                for t in self.graph.tasks
            ],
            "dependencies": [[d.source, d.target, d.data] for d in self.graph.dependencies],
        }

    def __repr__(self) -> str:
        return (
            f"DNNModel({self.name!r}, {self.granularity!r}, {len(self.graph)} tasks, "
            f"{self.total_macs / 1e9:.3f} GMACs)"
        )


def dnn_names() -> list[str]:
    """Names of the shipped DNN models, sorted."""
    return list(_catalogue())


def dnn_summary(name: str) -> dict[str, Any]:
    """Sizes of DNN ``name`` at both granularities (a row of ``edgeoffload dnn --json``).

    Parameters
    ----------
    name
        One of :func:`dnn_names`.

    Returns
    -------
    dict
        A new dict with, in this order:

        ``name``
            The model name.
        ``layer_tasks``, ``layer_dependencies``
            Tasks and dependencies of the ``"layer"`` graph.
        ``block_tasks``, ``block_dependencies``
            Tasks and dependencies of the ``"block"`` graph.
        ``macs``
            Conv + linear multiply-accumulates of one inference, MACs.
        ``reference_gmacs``
            The published figure, GMACs (from the provenance).
        ``flops``
            FLOP of one inference.
        ``param_bytes``
            Parameters, bytes.
        ``parameters``
            Number of parameters (``param_bytes`` over the bytes of the graph's dtype).
        ``input_bytes``
            Input image, bytes.
        ``largest_output_bytes``
            The largest output tensor of any layer, bytes.

        The totals are the layer graph's; the block graph has the same ones.

    Raises
    ------
    ModelError
        On an unknown name (see :func:`load_dnn`).

    Examples
    --------
    >>> s = dnn_summary("alexnet")
    >>> s["layer_tasks"], s["block_tasks"], s["largest_output_bytes"]
    (13, 4, 774400)
    """
    layer, block = load_dnn(name, "layer"), load_dnn(name, "block")
    return {
        "name": name,
        "layer_tasks": len(layer.graph),
        "layer_dependencies": len(layer.graph.dependencies),
        "block_tasks": len(block.graph),
        "block_dependencies": len(block.graph.dependencies),
        "macs": layer.total_macs,
        "reference_gmacs": layer.provenance["reference_gmacs"],
        "flops": layer.total_flops,
        "param_bytes": layer.total_param_bytes,
        "parameters": layer.total_parameters,
        "input_bytes": layer.input_bytes,
        "largest_output_bytes": max(layer.output_bytes.values()),
    }


@functools.cache
def _catalogue() -> tuple[str, ...]:
    names = set()
    for entry in resources.files(_PACKAGE).iterdir():
        parts = entry.name.split(".")
        if len(parts) == 3 and parts[2] == "json" and parts[1] in GRANULARITIES:
            names.add(parts[0])
    return tuple(sorted(names))


def load_dnn(name: str, granularity: str = "layer") -> DNNModel:
    """Load the shipped task graph of DNN ``name`` at ``granularity``.

    Results are cached: loading the same model again returns the same (immutable) object.

    Parameters
    ----------
    name
        One of :func:`dnn_names` (``alexnet``, ``googlenet``, ``resnet50``).
    granularity
        ``"layer"`` (default) or ``"block"``.

    Raises
    ------
    ModelError
        On an unknown name or granularity (the message lists the known ones), or a shipped
        file that is malformed or inconsistent.
    """
    known = dnn_names()
    if name not in known:
        raise ModelError(f"unknown DNN {name!r}; known: {', '.join(known)}", "dnn")
    if granularity not in GRANULARITIES:
        raise ModelError(
            f"unknown granularity {granularity!r}; known: {', '.join(GRANULARITIES)}",
            "granularity",
        )
    return _load(name, granularity)


@functools.cache  # unbounded LRU cache: six small files at most
def _load(name: str, granularity: str) -> DNNModel:
    filename = f"{name}.{granularity}.json"
    try:
        doc = json.loads(resources.files(_PACKAGE).joinpath(filename).read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot read shipped file: {exc}", filename) from exc
    try:
        return _parse(doc, name, granularity)
    except ModelError as exc:
        where = f"{filename}: {exc.where}" if exc.where else filename
        raise ModelError(exc.reason, where) from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelError(f"malformed ({type(exc).__name__}: {exc})", filename) from exc


def _parse(doc: Mapping[str, Any], name: str, granularity: str) -> DNNModel:
    if doc.get("format") != DNN_FORMAT:
        raise ModelError(f"format {doc.get('format')!r}, expected {DNN_FORMAT}", "format")
    if doc["model"] != name or doc["granularity"] != granularity:
        raise ModelError(f"describes {doc['model']}.{doc['granularity']}", "model")
    tasks: list[Task] = []
    macs: dict[TaskId, int] = {}
    params: dict[TaskId, int] = {}
    outputs: dict[TaskId, int] = {}
    ops: dict[TaskId, tuple[str, ...]] = {}
    for node in doc["nodes"]:
        task_id = node["id"]
        tasks.append(Task(task_id, float(node["flops"]), kind=node["kind"]))
        macs[task_id] = int(node["macs"])
        params[task_id] = int(node["param_bytes"])
        outputs[task_id] = int(node["output_bytes"])
        ops[task_id] = tuple(node["ops"])
    dependencies = [Dependency(src, dst, float(data)) for src, dst, data in doc["edges"]]
    graph = TaskGraph(tasks, dependencies)
    totals = doc["totals"]
    checks = {
        "nodes": (len(tasks), totals["nodes"]),
        "edges": (len(dependencies), totals["edges"]),
        "macs": (sum(macs.values()), totals["macs"]),
        "param_bytes": (sum(params.values()), totals["param_bytes"]),
        "flops": (sum(int(n["flops"]) for n in doc["nodes"]), totals["flops"]),
    }
    for key, (got, want) in checks.items():
        if got != want:
            raise ModelError(f"sum {got} differs from the recorded total {want}", f"totals.{key}")
    dtype = doc["provenance"].get("dtype")
    if dtype not in _DTYPE_BYTES:
        raise ModelError(
            f"unknown dtype {dtype!r}; known: {', '.join(_DTYPE_BYTES)}", "provenance.dtype"
        )
    if totals["param_bytes"] % _DTYPE_BYTES[dtype]:
        raise ModelError(
            f"{totals['param_bytes']} bytes is no whole number of {dtype} parameters",
            "totals.param_bytes",
        )
    for dep in dependencies:
        if dep.data != outputs[dep.source]:
            raise ModelError(
                f"carries {dep.data:g} bytes, but {dep.source!r} outputs {outputs[dep.source]}",
                f"edge {dep.source!r} -> {dep.target!r}",
            )
    return DNNModel(
        name=name,
        granularity=granularity,
        graph=graph,
        input_bytes=float(doc["input"]["bytes"]),
        macs=types.MappingProxyType(macs),
        param_bytes=types.MappingProxyType(params),
        output_bytes=types.MappingProxyType(outputs),
        ops=types.MappingProxyType(ops),
        provenance=types.MappingProxyType(dict(doc["provenance"])),
    )
