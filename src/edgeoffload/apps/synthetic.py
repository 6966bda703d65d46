"""Synthetic tasks: a task of the model burns its FLOP at the worker's real speed.

A scenario's tasks (DNN layers, random DAG nodes) have a ``work`` in FLOP, a ``kind`` and
an output size, but no code. :func:`synthetic_task` gives them some: it performs ``work``
FLOP of numpy arithmetic of the kind's *kernel* (:mod:`edgeoffload.runtime.worker.kernels`:
``gemm`` for ``conv``, ``gemv`` for ``fc``, ``stream`` for ``pool``/``add``/…) and returns
an array of the task's output size, whose first element is a checksum of its inputs and
its id (so a run's results can be compared with a local run's). The kernels are the ones
calibration measures each node's speed with (:func:`kernel_speed`), so a calibrated
cluster predicts these tasks. Workers run numpy single-threaded.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeoffload.model import Problem, Task, TaskGraph
from edgeoffload.runtime.worker.kernels import (
    DEFAULT_KERNEL,
    KERNELS,
    KIND_KERNELS,
    burn,
    kernel_for,
    kernel_speed,
    measure_speed,
)

if TYPE_CHECKING:  # the client layer: not imported by the worker children that run tasks
    from edgeoffload.runtime.dag import TaskCall

__all__ = [
    "DEFAULT_KERNEL",
    "KERNELS",
    "KIND_KERNELS",
    "burn",
    "checksum",
    "image_input",
    "kernel_for",
    "kernel_speed",
    "measure_speed",
    "scale_work",
    "single_threaded",
    "synthetic_calls",
    "synthetic_task",
]

_CHECK_MOD = 1 << 20  # checksums stay exact in float32


def checksum(value: Any) -> int:
    """A small integer standing for ``value`` (an input of a synthetic task)."""
    if isinstance(value, np.ndarray):
        return int(value.flat[0]) if value.size else 0
    if isinstance(value, (bytes, bytearray)):
        return zlib.crc32(value) % _CHECK_MOD
    if isinstance(value, (int, np.integer)):
        return int(value) % _CHECK_MOD
    return zlib.crc32(repr(value).encode()) % _CHECK_MOD


def synthetic_task(
    *inputs: Any,
    work: float = 0.0,
    kind: str | None = None,
    output_bytes: float = 0.0,
    tag: str = "",
) -> np.ndarray:
    """Burn ``work`` FLOP with the kernel of ``kind``; return ``output_bytes`` of float32.

    The first element of the result is ``(Σ checksum(inputs) + crc32(tag)) mod 2^20``:
    the same inputs give the same result wherever the task runs.
    """
    burn(work, kernel_for(kind))
    value = (sum(checksum(x) for x in inputs) + zlib.crc32(tag.encode())) % _CHECK_MOD
    out = np.zeros(max(1, round(output_bytes / 4)), dtype=np.float32)
    out[0] = value
    return out


def image_input(image: np.ndarray, *, tag: str = "") -> np.ndarray:
    """A camera frame (H x W x 3 ``uint8``) as a model's input tensor: float32, channels
    first, scaled to [0, 1]; its first element carries the checksum of the pixels and
    ``tag``, as :func:`synthetic_task` results do, so what follows depends on the frame."""
    tensor = np.ascontiguousarray(np.asarray(image, dtype=np.float32).transpose(2, 0, 1)) / 255
    tensor.flat[0] = (checksum(np.asarray(image).tobytes()) + zlib.crc32(tag.encode())) % _CHECK_MOD
    return tensor


def single_threaded(function: Callable[..., Any], *inputs: Any, **options: Any) -> Any:
    """``function(*inputs, **options)`` with BLAS and OpenMP (PyTorch's too) held to one
    thread, as the runtime's executor holds every task: for tasks run by plain Dask
    workers, which do not (spinning threads would eat a throttled worker's CPU quota)."""
    import importlib

    limits = importlib.import_module("threadpoolctl").threadpool_limits  # no type stubs
    with limits(1):
        return function(*inputs, **options)


def scale_work(problem: Problem, factor: float) -> Problem:
    """The same problem with every task's work (and execution time) multiplied by
    ``factor``: a shorter or longer run of the same shape."""
    if not (math.isfinite(factor) and factor > 0):
        raise ValueError(f"factor must be > 0, got {factor!r}")
    graph = problem.graph
    tasks = [
        Task(t.id, None if t.work is None else t.work * factor, t.kind, t.pinned, t.request)
        for t in graph.tasks
    ]
    exec_times = {
        t: {n: s * factor for n, s in row.items()} for t, row in problem.exec_times.items()
    }
    return Problem(
        TaskGraph(tasks, graph.dependencies), problem.cluster, problem.requests, exec_times
    )


def synthetic_calls(problem: Problem) -> dict[str, TaskCall]:
    """A :func:`synthetic_task` call for every task of ``problem``: its work and kind,
    and as output size the largest data of its outgoing dependencies."""
    from edgeoffload.runtime.dag import TaskCall

    graph = problem.graph
    output: dict[str, float] = {}
    for dep in graph.dependencies:
        output[dep.source] = max(output.get(dep.source, 0.0), dep.data)
    return {
        t.id: TaskCall(
            synthetic_task,
            kwargs={
                "work": float(t.work or 0.0),
                "kind": t.kind,
                "output_bytes": output.get(t.id, 0.0),
                "tag": t.id,
            },
        )
        for t in graph.tasks
    }
