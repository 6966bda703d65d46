"""Synthetic compute kernels: a task burns its FLOP at the worker's real speed.

A scenario's tasks (DNN layers, random DAG nodes) have a ``work`` in FLOP, a ``kind`` and
an output size, but no code. :func:`synthetic_task` gives them some: it performs ``work``
FLOP of numpy arithmetic of the kind's *kernel* and returns an array of the task's output
size, whose first element is a checksum of its inputs and its id (so a run's results can
be compared with a local run's). The kernels:

========  ==========================================================  ==================
kernel    what it does                                                task kinds
========  ==========================================================  ==================
``gemm``  128×128 float32 matrix products, 2·128³ FLOP each            ``conv``, others
``gemv``  1024×1024 float32 matrix × vector, 2·1024² FLOP each         ``fc``
``stream`` element-wise add over 256 Ki float32, 1 FLOP per element   ``pool``, ``add``,
                                                                      ``concat``, ``flatten``
========  ==========================================================  ==================

They are compute-bound, cache-bound and memory-bound like the layers they stand for, so a
node's speed differs per kind as it does for real layers; :func:`kernel_speed` measures
it (what :func:`~edgeoffload.runtime.calibration.calibrate_cluster` runs on each worker).
A fraction of an operation is done on a slice, so any amount of work is burnt to within
one element. Workers run numpy single-threaded (Dask's nanny sets ``OMP_NUM_THREADS=1``).
"""

from __future__ import annotations

import functools
import math
import time
import zlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeoffload.model import Problem, Task, TaskGraph

if TYPE_CHECKING:
    from edgeoffload.runtime.dag import TaskCall

__all__ = [
    "DEFAULT_KERNEL",
    "KERNELS",
    "KIND_KERNELS",
    "burn",
    "checksum",
    "kernel_for",
    "kernel_speed",
    "measure_speed",
    "scale_work",
    "synthetic_calls",
    "synthetic_task",
]

KERNELS: tuple[str, ...] = ("gemm", "gemv", "stream")
"""The kernels :func:`burn` knows."""

DEFAULT_KERNEL = "gemm"
"""Kernel of tasks without a kind, or of a kind not in :data:`KIND_KERNELS`."""

KIND_KERNELS: Mapping[str, str] = {
    "conv": "gemm",
    "fc": "gemv",
    "pool": "stream",
    "add": "stream",
    "concat": "stream",
    "flatten": "stream",
}
"""The kernel standing for each DNN task kind."""

_GEMM_N = 128
_GEMV_N = 1024
_STREAM_N = 256 * 1024
_CHECK_MOD = 1 << 20  # checksums stay exact in float32


def kernel_for(kind: str | None) -> str:
    """The kernel that stands for task kind ``kind``."""
    return KIND_KERNELS.get(kind or "", DEFAULT_KERNEL)


@functools.cache
def _arrays(kernel: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(12345)
    if kernel == "gemm":
        a = rng.random((_GEMM_N, _GEMM_N), dtype=np.float32)
        b = rng.random((_GEMM_N, _GEMM_N), dtype=np.float32)
        return a, b, np.empty((_GEMM_N, _GEMM_N), dtype=np.float32)
    if kernel == "gemv":
        a = rng.random((_GEMV_N, _GEMV_N), dtype=np.float32)
        v = rng.random(_GEMV_N, dtype=np.float32)
        return a, v, np.empty(_GEMV_N, dtype=np.float32)
    if kernel == "stream":
        x = rng.random(_STREAM_N, dtype=np.float32)
        y = rng.random(_STREAM_N, dtype=np.float32)
        return x, y, np.empty(_STREAM_N, dtype=np.float32)
    raise ValueError(f"unknown kernel {kernel!r}; known: {', '.join(KERNELS)}")


def burn(work: float, kernel: str = DEFAULT_KERNEL) -> float:
    """Do ``work`` FLOP of ``kernel`` arithmetic; return the seconds it took.

    Parameters
    ----------
    work
        FLOP, ≥ 0.
    kernel
        ``"gemm"``, ``"gemv"`` or ``"stream"``.
    """
    if not (math.isfinite(work) and work >= 0):
        raise ValueError(f"work must be a finite number of FLOP >= 0, got {work!r}")
    a, b, out = _arrays(kernel)
    start = time.perf_counter()
    if kernel == "gemm":
        per = 2.0 * _GEMM_N**3
        whole, rest = divmod(work, per)
        for _ in range(int(whole)):
            np.matmul(a, b, out=out)
        rows = round(rest / (2.0 * _GEMM_N * _GEMM_N))
        if rows:
            np.matmul(a[:rows], b, out=out[:rows])
    elif kernel == "gemv":
        per = 2.0 * _GEMV_N**2
        whole, rest = divmod(work, per)
        for _ in range(int(whole)):
            np.matmul(a, b, out=out)
        rows = round(rest / (2.0 * _GEMV_N))
        if rows:
            np.matmul(a[:rows], b, out=out[:rows])
    else:
        per = float(_STREAM_N)
        whole, rest = divmod(work, per)
        for _ in range(int(whole)):
            np.add(a, b, out=out)
        count = round(rest)
        if count:
            np.add(a[:count], b[:count], out=out[:count])
    return time.perf_counter() - start


_CHUNKS: Mapping[str, float] = {"gemm": 2e7, "gemv": 4e6, "stream": 4e6}
"""FLOP per timed step of :func:`kernel_speed`: a fraction of a millisecond on a PC."""


def kernel_speed(kernel: str, seconds: float = 0.2, repeats: int = 3) -> dict[str, Any]:
    """Measure ``kernel``'s speed here: FLOP/s, the median of ``repeats`` windows of at
    least ``seconds`` each (see :func:`measure_speed`). Returns ``speed``, the samples and
    the work of the last window."""
    chunk = _CHUNKS.get(kernel, 4e6)
    burn(1e6, kernel)  # warm: allocate, fault the pages in
    return measure_speed(lambda: burn(chunk, kernel), chunk, seconds, repeats)


def measure_speed(
    step: Callable[[], object], work: float, seconds: float = 0.2, repeats: int = 3
) -> dict[str, Any]:
    """The speed, ``work`` per second, at which ``step`` (which does ``work``) runs here.

    Each sample runs ``step`` back to back for at least ``seconds`` of wall-clock time.
    Under a CPU quota (a cgroup's CFS quota, ``docker --cpus``, the runtime's client
    throttling) a process runs a burst, then waits for the next period, so a short or
    arbitrary window measures the unthrottled speed or a random share of it. A step that
    takes far longer than the fastest one is such a wait; the window starts right after the
    first wait and ends right after the first wait past ``seconds``, so it covers whole
    periods and the sample is the speed the quota allows. Without waits the window is the
    plain ``seconds``. Returns ``speed`` (the median sample), ``samples`` and ``work`` (the
    work of the last window).
    """
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"seconds must be >= 0, got {seconds!r}")
    samples: list[float] = []
    done = 0.0
    for _ in range(max(1, repeats)):
        fastest = math.inf
        begin = window = time.perf_counter()
        done, aligned = 0.0, False
        while True:
            step_start = time.perf_counter()
            step()
            now = time.perf_counter()
            took = now - step_start
            fastest = min(fastest, took)
            waited = took > 10 * fastest + 1e-3
            if waited and not aligned and now - begin < seconds:
                window, done, aligned = now, 0.0, True
                continue
            done += work
            if now - window >= seconds and (waited or not aligned or now - window > 4 * seconds):
                samples.append(done / max(now - window, 1e-9))
                break
    samples.sort()
    return {"speed": samples[len(samples) // 2], "samples": samples, "work": done}


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
