"""Turn torchvision's AlexNet, GoogLeNet and ResNet-50 into task DAGs for edgeoffload.

This is an optional, offline tool: it needs torch and torchvision, which the library itself
never imports. It is not run in CI; its output is committed as package data in
``src/edgeoffload/workloads/data/dnn/`` and read by :mod:`edgeoffload.workloads.dnn`.

Set-up and use (from the repository root; see docs/workloads.md)::

    python3.11 -m venv .venv-dnn
    .venv-dnn/bin/pip install torch==2.13.0 torchvision==0.28.0
    .venv-dnn/bin/python tools/dnn_dags/extract.py            # or: make dnn-dags
    .venv-dnn/bin/python tools/dnn_dags/extract.py --check    # compare, write nothing

How a DAG is made
-----------------
1. The architecture is built from torchvision with ``weights=None`` (nothing is downloaded),
   put in eval mode, traced with ``torch.fx.symbolic_trace`` and run once through
   ``torch.fx.passes.shape_prop.ShapeProp`` on a zero 1×3×224×224 FP32 input, which gives
   every tensor's shape.
2. Every traced op is costed (see FLOP_CONVENTION).
3. *Layer* granularity fuses each batch-norm, ReLU and dropout into the op that produces its
   input when that op has no other consumer, as inference runtimes do: conv+BN+ReLU,
   linear+ReLU(+dropout), add+ReLU become one node each.
4. *Block* granularity groups the layer nodes into the model's natural stages (see
   ``BLOCK_RULES``); each block has one output tensor, so a block edge carries exactly the
   bytes of that tensor.
5. A tensor consumed by several nodes is one edge per consumer; each edge carries the
   producer's output bytes.

The torchvision wheel installed next to CPU torch is a CUDA build whose compiled operators do
not load; the model definitions do not need them, so an empty module is registered as
``torchvision._meta_registrations`` before the import.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import json
import math
import operator
import platform
import sys
import types
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = 1
INPUT_SHAPE = (1, 3, 224, 224)
BYTES_PER_ELEMENT = 4  # FP32
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "src/edgeoffload/workloads/data/dnn"

FLOP_CONVENTION = (
    "conv and linear: 2 FLOP per MAC (the bias add is the MAC's missing first add, not "
    "counted again); batch-norm (inference, folded to y = a*x + b): 2 FLOP per element; "
    "ReLU: 1 per element; add: 1 per output element; max and average pooling: one FLOP per "
    "input element of each window (nominal kernel area x output elements; adaptive pooling: "
    "its exact window sizes); concat, flatten and dropout (identity at inference): 0. "
    "MACs count conv and linear only."
)
FUSION_RULE = (
    "batch-norm, ReLU and dropout are merged into the node producing their input when that "
    "node has no other consumer (conv+BN+ReLU, linear+ReLU+dropout, add+ReLU)"
)

# Reference totals (conv + linear GMACs, parameters in millions) to check against.
MODELS: dict[str, dict[str, Any]] = {
    "alexnet": {
        "source": "torchvision.models.alexnet(weights=None)",
        "reference_gmacs": 0.714,
        "reference_params_m": 61.1,
    },
    "googlenet": {
        "source": (
            "torchvision.models.googlenet(weights=None, aux_logits=False, "
            "transform_input=False, init_weights=False)"
        ),
        "reference_gmacs": 1.498,
        "reference_params_m": 6.6,
    },
    "resnet50": {
        "source": "torchvision.models.resnet50(weights=None)",
        "reference_gmacs": 4.089,
        "reference_params_m": 25.6,
    },
}

ALEXNET_NAMES = {
    "features.0": "conv1",
    "features.2": "pool1",
    "features.3": "conv2",
    "features.5": "pool2",
    "features.6": "conv3",
    "features.8": "conv4",
    "features.10": "conv5",
    "features.12": "pool3",
    "classifier.1": "fc6",
    "classifier.4": "fc7",
    "classifier.6": "fc8",
}

BLOCK_RULES = {
    "alexnet": (
        "stage1 = conv1, pool1; stage2 = conv2, pool2; stage3 = conv3-conv5, pool3; "
        "classifier = avgpool, flatten, fc6-fc8"
    ),
    "googlenet": (
        "stem = conv1-conv3 with maxpool1-2; one block per inception module (inception3b and "
        "inception4e also hold the max-pool that follows them); head = avgpool, flatten, fc"
    ),
    "resnet50": (
        "stem = conv1, maxpool; one block per bottleneck (layer1.0 ... layer4.2, downsample "
        "included); head = avgpool, flatten, fc"
    ),
}


# --------------------------------------------------------------------------------------------
# torch / torchvision, imported lazily so that --help works without them
# --------------------------------------------------------------------------------------------
def _import_torch() -> tuple[Any, Any]:
    sys.modules.setdefault(
        "torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations")
    )
    import torch
    import torchvision

    return torch, torchvision


def build_model(name: str) -> Any:
    """The torchvision architecture ``name``, untrained, in eval mode."""
    _, tv = _import_torch()
    models = tv.models
    if name == "alexnet":
        model = models.alexnet(weights=None)
    elif name == "googlenet":
        model = models.googlenet(
            weights=None, aux_logits=False, transform_input=False, init_weights=False
        )
    elif name == "resnet50":
        model = models.resnet50(weights=None)
    else:
        raise SystemExit(f"unknown model {name!r}")
    return model.eval()


# --------------------------------------------------------------------------------------------
# tracing and costing
# --------------------------------------------------------------------------------------------
@dataclass
class Op:
    """One traced op with its cost."""

    name: str  # fx node name
    kind: str  # conv, fc, norm, relu, pool, add, concat, flatten, dropout
    path: str  # module path (call_module) or enclosing module path + function name
    scope: list[tuple[str, str]]  # nn_module_stack: (path, class name), outermost first
    inputs: list[str]  # fx names of the op nodes it reads (placeholder: "input")
    out_shape: list[int]
    macs: int = 0
    flops: int = 0
    param_bytes: int = 0
    buffer_bytes: int = 0

    @property
    def out_bytes(self) -> int:
        return math.prod(self.out_shape) * BYTES_PER_ELEMENT


def _numel(shape: Iterable[int]) -> int:
    return math.prod(int(s) for s in shape)


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _adaptive_window_total(size_in: int, size_out: int) -> int:
    """Sum of the window lengths of adaptive pooling along one dimension."""
    total = 0
    for j in range(size_out):
        start = (j * size_in) // size_out
        end = -((-(j + 1) * size_in) // size_out)  # ceil
        total += end - start
    return total


def trace_ops(model: Any, size: tuple[int, ...] = INPUT_SHAPE) -> list[Op]:
    """Trace ``model`` and return its ops in execution order, costed."""
    torch, _ = _import_torch()
    from torch.fx import symbolic_trace
    from torch.fx.passes.shape_prop import ShapeProp

    nn = torch.nn
    gm = symbolic_trace(model)
    ShapeProp(gm).propagate(torch.zeros(size))
    modules = dict(gm.named_modules())
    ops: list[Op] = []
    alias: dict[str, str] = {}  # fx nodes that are not ops -> the op they stand for

    def shape_of(node: Any) -> list[int]:
        return [int(s) for s in node.meta["tensor_meta"].shape]

    for node in gm.graph.nodes:
        if node.op == "placeholder":
            alias[node.name] = "input"
            continue
        if node.op == "output":
            continue
        inputs = [alias.get(n.name, n.name) for n in node.all_input_nodes]
        stack = node.meta.get("nn_module_stack") or {}
        scope = [(path, cls.__name__) for path, cls in stack.values()]
        out = shape_of(node)
        in_shape = shape_of(node.all_input_nodes[0]) if node.all_input_nodes else []
        op: Op
        if node.op == "call_module":
            mod = modules[node.target]
            path = str(node.target)
            params = sum(p.numel() for p in mod.parameters(recurse=False)) * BYTES_PER_ELEMENT
            buffers = sum(
                b.numel() * b.element_size()
                for n, b in mod.named_buffers(recurse=False)
                if n != "num_batches_tracked"
            )
            op = Op(node.name, "", path, scope, inputs, out, 0, 0, params, buffers)
            if isinstance(mod, nn.Conv2d):
                kh, kw = _pair(mod.kernel_size)
                op.kind = "conv"
                op.macs = _numel(out) * (mod.in_channels // mod.groups) * kh * kw
                op.flops = 2 * op.macs
            elif isinstance(mod, nn.Linear):
                op.kind = "fc"
                op.macs = _numel(out) * mod.in_features
                op.flops = 2 * op.macs
            elif isinstance(mod, nn.BatchNorm2d):
                op.kind, op.flops = "norm", 2 * _numel(out)
            elif isinstance(mod, nn.ReLU):
                op.kind, op.flops = "relu", _numel(out)
            elif isinstance(mod, nn.MaxPool2d | nn.AvgPool2d):
                kh, kw = _pair(mod.kernel_size)
                op.kind, op.flops = "pool", _numel(out) * kh * kw
            elif isinstance(mod, nn.AdaptiveAvgPool2d):
                window = _adaptive_window_total(in_shape[2], out[2]) * _adaptive_window_total(
                    in_shape[3], out[3]
                )
                op.kind, op.flops = "pool", out[0] * out[1] * window
            elif isinstance(mod, nn.Dropout):
                op.kind = "dropout"
            elif isinstance(mod, nn.Flatten):
                op.kind = "flatten"
            else:
                raise SystemExit(f"no cost rule for module {path} ({type(mod).__name__})")
        elif node.op in ("call_function", "call_method"):
            target = node.target
            fname = getattr(target, "__name__", str(target))
            enclosing = scope[-1][0] if scope else ""
            op = Op(node.name, "", "", scope, inputs, out)
            if target in (operator.add, operator.iadd, torch.add) or fname in ("add", "add_"):
                op.kind, op.flops = "add", _numel(out)
            elif target is torch.cat:
                op.kind = "concat"
            elif target is torch.flatten or fname == "flatten":
                op.kind = "flatten"
            elif target is torch.nn.functional.relu or fname in ("relu", "relu_"):
                op.kind, op.flops = "relu", _numel(out)
            else:
                raise SystemExit(f"no cost rule for function {fname!r} at {node.name}")
            op.path = f"{enclosing}.{op.kind}" if enclosing else op.kind
        else:  # get_attr: constants, none in these models
            raise SystemExit(f"unexpected fx node {node.op} {node.name}")
        ops.append(op)
    return ops


# --------------------------------------------------------------------------------------------
# fusion into layer nodes
# --------------------------------------------------------------------------------------------
FUSABLE = {"norm", "relu", "dropout"}


@dataclass
class Group:
    """A fused layer node: an anchor op and the element-wise ops merged into it."""

    ops: list[Op] = field(default_factory=list)
    id: str = ""
    block: str = ""

    @property
    def anchor(self) -> Op:
        return self.ops[0]

    @property
    def last(self) -> Op:
        return self.ops[-1]

    @property
    def kind(self) -> str:
        return self.anchor.kind

    def total(self, attr: str) -> int:
        return sum(int(getattr(op, attr)) for op in self.ops)


def fuse(ops: list[Op]) -> list[Group]:
    """Merge batch-norm, ReLU and dropout into their sole producer."""
    consumers: dict[str, int] = {}
    for op in ops:
        for name in op.inputs:
            consumers[name] = consumers.get(name, 0) + 1
    groups: list[Group] = []
    group_of: dict[str, Group] = {}
    for op in ops:
        if op.kind in FUSABLE and len(op.inputs) == 1 and op.inputs[0] in group_of:
            producer = group_of[op.inputs[0]]
            if producer.last.name == op.inputs[0] and consumers[op.inputs[0]] == 1:
                producer.ops.append(op)
                group_of[op.name] = producer
                continue
        group = Group([op])
        groups.append(group)
        group_of[op.name] = group
    return groups


def _layer_id(model: str, group: Group) -> str:
    anchor = group.anchor
    if model == "alexnet":
        return ALEXNET_NAMES.get(anchor.path, anchor.path)
    path = anchor.path
    scope_classes = dict(anchor.scope)
    parent = path.rsplit(".", 1)[0] if "." in path else ""
    if scope_classes.get(parent) == "BasicConv2d":  # googlenet conv+bn+relu wrapper
        return parent
    if parent.endswith(".downsample"):  # resnet shortcut conv+bn
        return parent
    return path


def _block_id(model: str, group: Group) -> str:
    top = group.anchor.scope[0][0] if group.anchor.scope else group.anchor.path
    if model == "alexnet":
        stage = {
            "conv1": "stage1",
            "pool1": "stage1",
            "conv2": "stage2",
            "pool2": "stage2",
            "conv3": "stage3",
            "conv4": "stage3",
            "conv5": "stage3",
            "pool3": "stage3",
        }
        return stage.get(group.id, "classifier")
    if model == "googlenet":
        if top in ("conv1", "maxpool1", "conv2", "conv3", "maxpool2"):
            return "stem"
        if top == "maxpool3":
            return "inception3b"
        if top == "maxpool4":
            return "inception4e"
        if top.startswith("inception"):
            return top
        return "head"
    if model == "resnet50":
        if top in ("conv1", "bn1", "relu", "maxpool"):
            return "stem"
        if top.startswith("layer"):
            return ".".join(group.anchor.scope[1][0].split(".")[:2])
        return "head"
    raise SystemExit(f"no block rule for {model}")


# --------------------------------------------------------------------------------------------
# the two granularities as plain JSON-ready structures
# --------------------------------------------------------------------------------------------
def layer_graph(model: str, ops: list[Op]) -> tuple[list[dict[str, Any]], list[list[Any]]]:
    groups = fuse(ops)
    group_of: dict[str, Group] = {}
    for g in groups:
        for op in g.ops:
            group_of[op.name] = g
    seen: set[str] = set()
    for g in groups:
        g.id = _layer_id(model, g)
        if g.id in seen or g.id == "input" or "/" in g.id:
            raise SystemExit(f"bad or duplicate node id {g.id!r}")
        seen.add(g.id)
        g.block = _block_id(model, g)
    nodes = [
        {
            "id": g.id,
            "kind": g.kind,
            "ops": [op.kind for op in g.ops],
            "macs": g.total("macs"),
            "flops": g.total("flops"),
            "param_bytes": g.total("param_bytes"),
            "buffer_bytes": g.total("buffer_bytes"),
            "output_bytes": g.last.out_bytes,
            "output_shape": g.last.out_shape,
            "block": g.block,
        }
        for g in groups
    ]
    edges: list[list[Any]] = []
    entry_consumers = 0
    for g in groups:
        for name in g.anchor.inputs:  # inner ops of a group read only their predecessor
            if name == "input":
                entry_consumers += 1
                continue
            producer = group_of[name]
            if producer.last.name != name:
                raise SystemExit(f"{g.id} reads an inner tensor of {producer.id}")
            edge = [producer.id, g.id, producer.last.out_bytes]
            if edge not in edges:
                edges.append(edge)
    if entry_consumers != 1:
        raise SystemExit(f"{model}: the input feeds {entry_consumers} nodes, expected 1")
    return nodes, edges


def block_graph(
    nodes: list[dict[str, Any]], edges: list[list[Any]]
) -> tuple[list[dict[str, Any]], list[list[Any]]]:
    order: list[str] = []
    members: dict[str, list[dict[str, Any]]] = {}
    for n in nodes:
        if n["block"] not in members:
            order.append(n["block"])
            members[n["block"]] = []
        members[n["block"]].append(n)
    block_of = {n["id"]: n["block"] for n in nodes}
    by_id = {n["id"]: n for n in nodes}
    exits: dict[str, set[str]] = {b: set() for b in order}
    block_edges: list[list[Any]] = []
    for src, dst, _ in edges:
        a, b = block_of[src], block_of[dst]
        if a == b:
            continue
        exits[a].add(src)
        edge = [a, b, by_id[src]["output_bytes"]]
        if edge not in block_edges:
            block_edges.append(edge)
    for b in order:
        if len(exits[b]) > 1:
            raise SystemExit(f"block {b} has several output tensors: {sorted(exits[b])}")
    out_nodes = []
    for b in order:
        ms = members[b]
        last = by_id[next(iter(exits[b]))] if exits[b] else ms[-1]
        flops_by_kind: dict[str, int] = {}
        for m in ms:
            flops_by_kind[m["kind"]] = flops_by_kind.get(m["kind"], 0) + m["flops"]
        kinds: list[str] = []
        for m in ms:
            if m["kind"] not in kinds:
                kinds.append(m["kind"])
        out_nodes.append(
            {
                "id": b,
                "kind": max(kinds, key=lambda k: flops_by_kind[k]),
                "ops": kinds,
                "layers": [m["id"] for m in ms],
                "macs": sum(m["macs"] for m in ms),
                "flops": sum(m["flops"] for m in ms),
                "param_bytes": sum(m["param_bytes"] for m in ms),
                "buffer_bytes": sum(m["buffer_bytes"] for m in ms),
                "output_bytes": last["output_bytes"],
                "output_shape": last["output_shape"],
            }
        )
    return out_nodes, block_edges


def _dump(doc: dict[str, Any]) -> str:
    """Compact JSON with one node or edge per line (small and diff-friendly)."""

    def c(x: Any) -> str:
        return json.dumps(x, separators=(",", ":"))

    head = {k: v for k, v in doc.items() if k not in ("nodes", "edges")}
    lines = ["{" + c(head)[1:-1] + ","]
    lines.append('"nodes":[')
    lines.append(",\n".join(c(n) for n in doc["nodes"]))
    lines.append('],"edges":[')
    lines.append(",\n".join(c(e) for e in doc["edges"]))
    lines.append("]}")
    return "\n".join(lines) + "\n"


def documents(name: str, generated: str) -> dict[str, dict[str, Any]]:
    """The layer and block documents of model ``name``."""
    torch, tv = _import_torch()
    info = MODELS[name]
    ops = trace_ops(build_model(name))
    nodes, edges = layer_graph(name, ops)
    bnodes, bedges = block_graph(nodes, edges)
    macs = sum(n["macs"] for n in nodes)
    params = sum(n["param_bytes"] for n in nodes) // BYTES_PER_ELEMENT
    totals = {
        "macs": macs,
        "flops": sum(n["flops"] for n in nodes),
        "param_bytes": sum(n["param_bytes"] for n in nodes),
        "buffer_bytes": sum(n["buffer_bytes"] for n in nodes),
    }
    provenance = {
        "tool": "tools/dnn_dags/extract.py",
        "source": info["source"],
        "torch": torch.__version__,
        "torchvision": tv.__version__,
        "python": platform.python_version(),
        "generated": generated,
        "trace": "torch.fx.symbolic_trace + torch.fx.passes.shape_prop.ShapeProp, eval mode",
        "input_shape": list(INPUT_SHAPE),
        "dtype": "float32",
        "flop_convention": FLOP_CONVENTION,
        "fusion": FUSION_RULE,
        "blocks": BLOCK_RULES[name],
        "reference_gmacs": info["reference_gmacs"],
        "measured_gmacs": round(macs / 1e9, 6),
        "reference_params_millions": info["reference_params_m"],
        "measured_params_millions": round(params / 1e6, 6),
    }
    out = {}
    for granularity, ns, es in (("layer", nodes, edges), ("block", bnodes, bedges)):
        out[granularity] = {
            "format": FORMAT,
            "model": name,
            "granularity": granularity,
            "provenance": provenance,
            "input": {
                "shape": list(INPUT_SHAPE),
                "dtype": "float32",
                "bytes": _numel(INPUT_SHAPE) * BYTES_PER_ELEMENT,
            },
            "totals": {"nodes": len(ns), "edges": len(es), **totals},
            "nodes": ns,
            "edges": es,
        }
    return out


# --------------------------------------------------------------------------------------------
# the variants that published latencies were measured on (for the device presets)
# --------------------------------------------------------------------------------------------
def variant_macs() -> dict[str, int]:
    """Conv + linear MACs of the Caffe/ncnn variants used by the cited benchmarks.

    - ``bvlc_alexnet``: 227×227 input, 96-256-384-384-256 channels, groups of 2 in conv2,
      conv4 and conv5 (ncnn ``benchmark/alexnet.param``).
    - ``bvlc_googlenet``: GoogLeNet with the paper's 5×5 convolutions in the third branch
      (torchvision uses 3×3 there), no auxiliary heads.
    - ``resnet50_v1``: ResNet-50 with the stride on the first 1×1 convolution of each
      down-sampling bottleneck (torchvision's v1.5 puts it on the 3×3).
    """
    torch, _ = _import_torch()
    nn = torch.nn
    alex = nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2, groups=2),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1, groups=2),
        nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1, groups=2),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
        nn.Flatten(),
        nn.Linear(9216, 4096),
        nn.ReLU(),
        nn.Linear(4096, 4096),
        nn.ReLU(),
        nn.Linear(4096, 1000),
    ).eval()
    gmod = importlib.import_module("torchvision.models.googlenet")
    rmod = importlib.import_module("torchvision.models.resnet")
    goog = build_model("googlenet")
    basic = gmod.BasicConv2d
    for mod in goog.modules():
        if isinstance(mod, gmod.Inception):
            conv = mod.branch3[1].conv
            mod.branch3[1] = basic(conv.in_channels, conv.out_channels, kernel_size=5, padding=2)
    goog.eval()
    res = build_model("resnet50")
    for mod in res.modules():
        if isinstance(mod, rmod.Bottleneck) and mod.conv2.stride != (1, 1):
            mod.conv1.stride, mod.conv2.stride = mod.conv2.stride, (1, 1)
    res.eval()
    out = {}
    for name, model, size in (
        ("bvlc_alexnet", alex, (1, 3, 227, 227)),
        ("bvlc_googlenet", goog, INPUT_SHAPE),
        ("resnet50_v1", res, INPUT_SHAPE),
    ):
        out[name] = sum(op.macs for op in trace_ops(model, size))
    return out


# --------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------
def _check(doc: dict[str, Any]) -> list[str]:
    prov, totals = doc["provenance"], doc["totals"]
    problems = []
    ref = prov["reference_gmacs"]
    if abs(totals["macs"] / 1e9 - ref) > 0.01 * ref:
        problems.append(f"{doc['model']}: {totals['macs'] / 1e9:.4f} GMACs vs reference {ref}")
    ref_p = prov["reference_params_millions"]
    got_p = totals["param_bytes"] / BYTES_PER_ELEMENT / 1e6
    if abs(got_p - ref_p) > 0.01 * ref_p:
        problems.append(f"{doc['model']}: {got_p:.3f} M params vs reference {ref_p}")
    return problems


def _write_if_changed(path: Path, doc: dict[str, Any]) -> None:
    """Write ``doc`` unless the file already holds the same content (date aside)."""
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except json.JSONDecodeError:
            old = None
        if old is not None:
            same = dict(doc, provenance=dict(doc["provenance"]))
            same["provenance"]["generated"] = old.get("provenance", {}).get("generated")
            if json.loads(_dump(same)) == old:
                print(f"  {path.name}: unchanged")
                return
    path.write_text(_dump(doc))
    print(f"  {path.name}: written")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--check", action="store_true", help="print the totals, write nothing")
    parser.add_argument(
        "--variants", action="store_true", help="also print the benchmark variants' MACs"
    )
    parser.add_argument(
        "--models", nargs="*", default=list(MODELS), choices=list(MODELS), metavar="MODEL"
    )
    args = parser.parse_args(argv)
    generated = _dt.datetime.now(_dt.UTC).date().isoformat()
    problems: list[str] = []
    for name in args.models:
        for granularity, doc in documents(name, generated).items():
            t = doc["totals"]
            print(
                f"{name:10s} {granularity:6s} {t['nodes']:3d} nodes {t['edges']:3d} edges "
                f"{t['macs'] / 1e9:.4f} GMACs (ref {doc['provenance']['reference_gmacs']}) "
                f"{t['flops'] / 1e9:.4f} GFLOP {t['param_bytes'] / 4e6:.3f} M params"
            )
            problems += _check(doc) if granularity == "layer" else []
            if not args.check:
                args.out.mkdir(parents=True, exist_ok=True)
                _write_if_changed(args.out / f"{name}.{granularity}.json", doc)
    if args.variants:
        for name, macs in variant_macs().items():
            print(f"{name:15s} {macs / 1e9:.4f} GMACs")
    for p in problems:
        print("MISMATCH:", p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
