"""A real DNN inference pipeline: AlexNet, GoogLeNet and ResNet-50 cut into layer groups,
run with PyTorch on CPU on different workers, frames from a camera-like source.

The cut follows the shipped block-level DAGs (:func:`edgeoffload.workloads.dnn.load_dnn`
with ``granularity="block"``): AlexNet's ``stage1``, ``stage2``, ``stage3`` and
``classifier``; GoogLeNet's ``stem``, one group per inception module (``inception3a`` …
``inception5b``, with the max-pool after ``3b`` and ``4e``) and ``head``; ResNet-50's
``stem``, one group per bottleneck (``layer1.0`` … ``layer4.2``) and ``head``.
:func:`layer_groups` merges consecutive blocks into coarser groups (``cut="stage"``:
ResNet-50's ``stem``, ``layer1`` … ``layer4``, ``head``). Each group is one task whose
``work`` is the FLOP of its blocks (from the shipped graph), whose ``kind`` is their
dominant kind, and whose output is the real activation tensor (sent as a float32 numpy
array: the bytes the graph says).

Weights are random (``weights=None``: nothing is downloaded) but the same on every
worker: each block's parameters are drawn from a generator seeded by the model, the block
and ``seed``, so a worker builds only the blocks it runs, and a group computes the same
numbers wherever it runs (up to floating-point reduction order).

Needs the optional ``dnn`` extra (``pip install 'edgeoffload[dnn]'``: torch 2.13.0,
torchvision 0.28.0). The torchvision wheel beside CPU torch is a CUDA build whose compiled
operators do not load; the models do not need them, so :func:`import_torch` registers an
empty ``torchvision._meta_registrations`` module before importing it. This module imports
torch only inside the functions that need it: the graph side (:func:`layer_groups`,
:func:`pipeline_dag`) works without it.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import math
import sys
import threading
import time
import types
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeoffload.errors import EdgeOffloadError, ModelError
from edgeoffload.workloads.dnn import load_dnn

if TYPE_CHECKING:
    from edgeoffload.runtime.dag import Dag

__all__ = [
    "CUTS",
    "MODELS",
    "LayerGroup",
    "capture_frame",
    "import_torch",
    "layer_groups",
    "picture_input",
    "pipeline_dag",
    "profile_groups",
    "profiled_work",
    "run_group",
    "torch_kernel_for",
    "torch_kernel_speed",
    "torch_unavailable",
    "warm_up",
]

MODELS: tuple[str, ...] = ("alexnet", "googlenet", "resnet50")
"""The models this pipeline can cut and run."""

CUTS: tuple[str, ...] = ("block", "stage")
"""``block``: one group per block of the shipped block DAG; ``stage``: ResNet-50's
blocks merged per stage (AlexNet's blocks are its stages already)."""


def torch_unavailable() -> str | None:
    """Why this pipeline cannot run here (torch or torchvision missing), or ``None``."""
    for name in ("torch", "torchvision"):
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a broken or blocked installation
            found = False
        if not found:
            return (
                f"{name} is not installed: pip install 'edgeoffload[dnn]' "
                "(torch==2.13.0, torchvision==0.28.0)"
            )
    return None


_IMPORT_LOCK = threading.Lock()


def import_torch() -> tuple[Any, Any]:
    """``(torch, torchvision)``, imported so that torchvision's models load beside CPU torch.

    Raises
    ------
    EdgeOffloadError
        torch or torchvision is not installed (the message says how to install them).
    """
    reason = torch_unavailable()
    if reason is not None:
        raise EdgeOffloadError(f"the DNN pipeline needs PyTorch: {reason}")
    with _IMPORT_LOCK:
        torch = importlib.import_module("torch")
        # the torchvision wheel is a CUDA build: its compiled operators do not load beside
        # CPU torch, and the model definitions do not need them
        name = "torchvision._meta_registrations"
        sys.modules.setdefault(name, types.ModuleType(name))
        torchvision = importlib.import_module("torchvision")
    return torch, torchvision


# --------------------------------------------------------------------------- the graph side


@dataclass(frozen=True, slots=True)
class LayerGroup:
    """Consecutive blocks of a model run as one task.

    Attributes
    ----------
    id
        The group's task id (its block's id, or the stage's name).
    blocks
        The shipped block DAG's blocks it holds, in order.
    work
        FLOP of those blocks.
    kind
        The kind of most of its work (``conv`` or ``fc``).
    output_bytes
        Bytes of its output tensor (float32).
    """

    id: str
    blocks: tuple[str, ...]
    work: float
    kind: str
    output_bytes: float


def _stage_of(model: str, block: str) -> str:
    return block.partition(".")[0] if model == "resnet50" else block


def layer_groups(model: str, cut: str = "block") -> list[LayerGroup]:
    """The groups ``model`` is cut into, in order (the shipped block DAG is a chain).

    Raises
    ------
    ModelError
        Unknown model or cut.
    """
    if model not in MODELS:
        raise ModelError(f"unknown model {model!r}; known: {', '.join(MODELS)}", "model")
    if cut not in CUTS:
        raise ModelError(f"unknown cut {cut!r}; known: {', '.join(CUTS)}", "cut")
    dnn = load_dnn(model, "block")
    groups: list[tuple[str, list[str]]] = []
    for task in dnn.graph.tasks:
        name = task.id if cut == "block" else _stage_of(model, task.id)
        if groups and groups[-1][0] == name:
            groups[-1][1].append(task.id)
        else:
            groups.append((name, [task.id]))
    out = []
    for name, blocks in groups:
        work_by_kind: dict[str, float] = {}
        for block in blocks:
            task = dnn.graph.task(block)
            work_by_kind[task.kind or "conv"] = work_by_kind.get(task.kind or "conv", 0.0) + (
                task.work or 0.0
            )
        kind = max(sorted(work_by_kind), key=work_by_kind.__getitem__)
        out.append(
            LayerGroup(
                name,
                tuple(blocks),
                sum(work_by_kind.values()),
                kind,
                float(dnn.output_bytes[blocks[-1]]),
            )
        )
    return out


def pipeline_dag(
    model: str,
    cut: str = "block",
    *,
    seed: int = 0,
    work: Mapping[str, float] | None = None,
) -> Dag:
    """The model as a chain DAG of :func:`run_group` tasks, ready for ``run_dag``.

    Parameters
    ----------
    model
        ``"alexnet"`` or ``"resnet50"``.
    cut
        ``"block"`` or ``"stage"`` (see :data:`CUTS`).
    seed
        Seed of the random weights.
    work
        FLOP to give a group instead of its FLOP count (a profiled figure, see
        docs/dag-execution.md).
    """
    from edgeoffload.runtime.dag import Dag

    dag = Dag(f"{model}-{cut}")
    previous: list[str] = []
    for group in layer_groups(model, cut):
        dag.task(
            group.id,
            run_group,
            after=previous,
            kwargs={"model": model, "blocks": group.blocks, "seed": seed},
            work=(work or {}).get(group.id, group.work),
            kind=group.kind,
            output_bytes=group.output_bytes,
        )
        previous = [group.id]
    return dag


# --------------------------------------------------------------------------- the worker side


def capture_frame(camera: int, frame: int) -> np.ndarray:
    """A camera-like source: frame number ``frame`` of camera ``camera``.

    A deterministic 1×3×224×224 float32 image (a moving gradient and seeded noise,
    normalised like ImageNet input) standing for a captured, pre-processed frame.
    """
    rng = np.random.default_rng((camera, frame))
    y, x = np.mgrid[0:224, 0:224].astype(np.float32) / 224.0
    shift = (frame % 30) / 30.0
    channels = [np.sin(2 * math.pi * (x + shift) * (c + 1)) * np.cos(math.pi * y) for c in range(3)]
    image = np.stack(channels)[None, :, :, :].astype(np.float32)
    image += rng.normal(0.0, 0.1, size=image.shape).astype(np.float32)
    return np.ascontiguousarray(image)


_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(1, 3, 1, 1)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(1, 3, 1, 1)


def picture_input(image: np.ndarray) -> np.ndarray:
    """A camera picture (224 x 224 x 3 ``uint8`` RGB) as the models' input: a
    1x3x224x224 float32 tensor scaled to [0, 1] and normalised with ImageNet's channel
    means and deviations, as torchvision's models expect."""
    pixels = np.asarray(image)
    if pixels.shape != (224, 224, 3):
        raise ValueError(f"expected a 224 x 224 x 3 picture, got shape {pixels.shape}")
    tensor = pixels.astype(np.float32).transpose(2, 0, 1)[None] / 255.0
    return np.ascontiguousarray((tensor - _MEAN) / _STD, dtype=np.float32)


_MODULES: dict[tuple[str, str, int], Any] = {}
_MODULES_LOCK = threading.Lock()


@functools.cache
def _skeleton(model: str) -> Any:
    """The model's architecture on torch's meta device: no memory, no initialisation."""
    torch, torchvision = import_torch()
    # GoogLeNet as the shipped graph was traced: no auxiliary classifiers, no input shift
    options = (
        {"aux_logits": False, "transform_input": False, "init_weights": False}
        if model == "googlenet"
        else {}
    )
    with torch.device("meta"):
        return getattr(torchvision.models, model)(weights=None, **options).eval()


def _block_module(model: str, block: str) -> Any:
    torch, _ = import_torch()
    net = _skeleton(model)
    nn = torch.nn
    if model == "alexnet":
        parts = {
            "stage1": net.features[0:3],
            "stage2": net.features[3:6],
            "stage3": net.features[6:13],
            "classifier": nn.Sequential(net.avgpool, nn.Flatten(1), net.classifier),
        }
    elif model == "googlenet":
        parts = {
            "stem": nn.Sequential(net.conv1, net.maxpool1, net.conv2, net.conv3, net.maxpool2),
            "inception3b": nn.Sequential(net.inception3b, net.maxpool3),
            "inception4e": nn.Sequential(net.inception4e, net.maxpool4),
            "head": nn.Sequential(net.avgpool, nn.Flatten(1), net.fc),
        }
        for name in ("3a", "4a", "4b", "4c", "4d", "5a", "5b"):
            parts[f"inception{name}"] = getattr(net, f"inception{name}")
    else:
        parts = {
            "stem": nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool),
            "head": nn.Sequential(net.avgpool, nn.Flatten(1), net.fc),
        }
        stage, _, index = block.partition(".")
        if index:
            parts[block] = getattr(net, stage)[int(index)]
    if block not in parts:
        raise ModelError(f"{model} has no block {block!r}", "block")
    return parts[block]


def _materialise(model: str, block: str, seed: int) -> Any:
    """A block with its own random weights: the same on every worker for the same seed.

    Convolution and linear weights are uniform in ±√(6 / fan_in) (He-uniform, so that
    activations keep their scale through the net), biases 0; batch norms are identity
    (weight 1, bias 0, running mean 0, running variance 1).
    """
    key = (model, block, seed)
    with _MODULES_LOCK:
        module = _MODULES.get(key)
        if module is not None:
            return module
    torch, _ = import_torch()
    import copy

    module = copy.deepcopy(_block_module(model, block)).to_empty(device="cpu")
    generator = torch.Generator().manual_seed(zlib.crc32(f"{model}/{block}/{seed}".encode()))
    with torch.no_grad():
        for name, param in module.named_parameters():
            leaf = name.rpartition(".")[2]
            if param.dim() > 1:
                fan_in = param[0].numel()
                bound = math.sqrt(6.0 / fan_in)
                param.uniform_(-bound, bound, generator=generator)
            elif leaf == "weight":
                param.fill_(1.0)
            else:
                param.zero_()
        for name, buffer in module.named_buffers():
            leaf = name.rpartition(".")[2]
            if leaf == "running_var":
                buffer.fill_(1.0)
            elif leaf == "num_batches_tracked":
                buffer.zero_()
            else:
                buffer.zero_()
    module.eval()
    with _MODULES_LOCK:
        _MODULES[key] = module
    return module


def warm_up(model: str, blocks: Sequence[str] | None = None, seed: int = 0) -> float:
    """Build ``blocks`` of ``model`` (default: all) here, with their weights; return the
    seconds it took. Run it on every worker before timing anything (a cold block is built
    by the first task that needs it)."""
    start = time.perf_counter()
    names = (
        list(blocks) if blocks is not None else [b for g in layer_groups(model) for b in g.blocks]
    )
    for block in names:
        _materialise(model, block, seed)
    return time.perf_counter() - start


def run_group(x: Any, *, model: str, blocks: Sequence[str], seed: int = 0) -> np.ndarray:
    """Run ``blocks`` of ``model`` on ``x`` (a numpy array or tensor); return a float32
    numpy array (sent to the next group without a copy)."""
    torch, _ = import_torch()
    tensor = (
        torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        if isinstance(x, np.ndarray)
        else x
    )
    with torch.inference_mode():
        for block in blocks:
            tensor = _materialise(model, block, seed)(tensor)
    out: np.ndarray = tensor.contiguous().numpy()
    return out


def profile_groups(
    model: str, cut: str = "block", *, seed: int = 0, repeats: int = 5
) -> dict[str, float]:
    """Time each group of ``model`` here on a frame, seconds (median of ``repeats``).

    Run it on one worker (the reference) to give groups a *profiled* work
    (:func:`profiled_work`): FLOP counts predict a layer's time badly where its shape
    uses the CPU badly (AlexNet's 11×11 stride-4 first convolution, batch-1 linear
    layers that only stream weights).
    """
    x: Any = capture_frame(0, 0)
    samples: dict[str, list[float]] = {}
    for _ in range(max(1, repeats)):
        y = x
        for group in layer_groups(model, cut):
            start = time.perf_counter()
            y = run_group(y, model=model, blocks=group.blocks, seed=seed)
            samples.setdefault(group.id, []).append(time.perf_counter() - start)
    return {g: sorted(v)[len(v) // 2] for g, v in samples.items()}


def profiled_work(
    model: str,
    seconds: Mapping[str, float],
    speeds: Mapping[str, float],
    cut: str = "block",
) -> dict[str, float]:
    """Each group's work as the FLOP that take its profiled time at the reference
    worker's calibrated speed for its kind: ``seconds[g] × speeds[kernel(kind)]``.

    On any node whose speeds are the reference's scaled (a CPU quota, a slower CPU of the
    same kind) the cost model then predicts the profiled times, scaled.
    """
    return {
        g.id: seconds[g.id] * speeds[torch_kernel_for(g.kind)] for g in layer_groups(model, cut)
    }


# --------------------------------------------------------------------------- calibration

_TORCH_KERNELS: Mapping[str, str] = {
    "conv": "conv",
    "fc": "fc",
    "pool": "conv",
    "add": "conv",
    "concat": "conv",
    "flatten": "conv",
}


def torch_kernel_for(kind: str | None) -> str:
    """The PyTorch calibration kernel standing for a task kind (``conv`` or ``fc``)."""
    return _TORCH_KERNELS.get(kind or "", "conv")


@functools.cache
def _kernel(kernel: str) -> tuple[Any, Any, float]:
    """A representative layer, its input and its FLOP: a 3×3 convolution 128→128 on
    28×28 (ResNet-like), or a 4096×4096 linear layer at batch 1 (AlexNet's fc7)."""
    torch, _ = import_torch()
    generator = torch.Generator().manual_seed(7)
    if kernel == "conv":
        layer = torch.nn.Conv2d(128, 128, 3, padding=1, bias=False).eval()
        x = torch.rand(1, 128, 28, 28, generator=generator)
        flop = 2.0 * 128 * 128 * 9 * 28 * 28
    elif kernel == "fc":
        layer = torch.nn.Linear(4096, 4096).eval()
        x = torch.rand(1, 4096, generator=generator)
        flop = 2.0 * 4096 * 4096
    else:
        raise ValueError(f"unknown kernel {kernel!r}; known: conv, fc")
    return layer, x, flop


def torch_kernel_speed(kernel: str, seconds: float = 0.2, repeats: int = 3) -> dict[str, Any]:
    """Measure a PyTorch kernel's speed here, FLOP/s: the median of ``repeats`` windows of
    at least ``seconds`` each (the calibration probe for the DNN pipeline; see
    :func:`~edgeoffload.runtime.worker.kernels.measure_speed`)."""
    from edgeoffload.runtime.worker.kernels import measure_speed

    torch, _ = import_torch()
    layer, x, flop = _kernel(kernel)
    with torch.inference_mode():
        layer(x)  # warm
        return measure_speed(lambda: layer(x), flop, seconds, repeats)
