"""Kernels a worker runs for the client's measurements: probes, speeds, links.

- :func:`probe_benchmark`: COFA runs "a predefined test code" on a remote when it
  connects and compares it with the local run. Ours is pure-Python integer arithmetic
  (interpreter-bound, like most offloaded Python code; no numpy, so BLAS threads do not
  blur the comparison): the ratio of the local time to a worker's is its relative speed.
- The synthetic compute kernels (:func:`burn`, :func:`kernel_speed`): a task of the model
  burns its FLOP at the worker's real speed, with numpy arithmetic of the kernel standing
  for its kind (calibration measures each node's speed per kind with them):

  ========  ==========================================================  ==================
  kernel    what it does                                                task kinds
  ========  ==========================================================  ==================
  ``gemm``  128×128 float32 matrix products, 2·128³ FLOP each            ``conv``, others
  ``gemv``  1024×1024 float32 matrix × vector, 2·1024² FLOP each         ``fc``
  ``stream`` element-wise add over 256 Ki float32, 1 FLOP per element   ``pool``, ``add``,
                                                                        ``concat``,
                                                                        ``flatten``
  ========  ==========================================================  ==================

  They are compute-bound, cache-bound and memory-bound like the layers they stand for, so
  a node's speed differs per kind as it does for real layers. A fraction of an operation
  is done on a slice, so any amount of work is burnt to within one element.
- :func:`measure_link`: round trip and bandwidth of a path, through any ``send``.
"""

from __future__ import annotations

import functools
import math
import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_KERNEL",
    "DEFAULT_PROBE_WORK",
    "KERNELS",
    "KIND_KERNELS",
    "burn",
    "kernel_for",
    "kernel_speed",
    "measure_link",
    "measure_speed",
    "probe_benchmark",
]

DEFAULT_PROBE_WORK = 60_000
"""Loop iterations of one probe: about 10 ms on one core of the project's machine."""


def probe_benchmark(work: int = DEFAULT_PROBE_WORK) -> float:
    """Run ``work`` iterations of the fixed benchmark; return the wall time, seconds."""
    start = time.perf_counter()
    acc = 0
    for i in range(max(1, int(work))):
        acc = (acc * 31 + i * i) % 1_000_003
    elapsed = time.perf_counter() - start
    if acc < 0:  # keeps the loop from being optimised into nothing by a smarter runtime
        raise AssertionError
    return elapsed


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


def measure_link(
    send: Callable[[list[bytes]], None],
    *,
    pings: int = 7,
    repeats: int = 3,
    size: int = 256 * 1024,
    max_size: int = 16 * 1024 * 1024,
    min_seconds: float = 0.05,
) -> dict[str, float]:
    """Round trip and bandwidth of a link, through ``send(frames)`` (one message and its
    empty reply).

    Round trip: the median of ``pings`` empty messages (after one to connect). Bandwidth:
    ``size`` bytes in one message, the best of ``repeats``, the fastest empty round trip
    taken off (best against best: a slow, jittery peer, such as a throttled one, gives a
    median round trip longer than its best transfer); ``size`` grows fourfold (up to
    ``max_size``) until the best transfer takes ``min_seconds`` more than that round trip,
    so that neither a fast link nor a slow peer is judged on a tiny payload.

    Returns ``rtt`` and ``rtt_min`` (s), ``size`` (bytes), ``seconds`` (the best
    transfer) and ``bandwidth`` (bytes/s).
    """
    send([])  # connect (and the TLS handshake) first
    rtts = []
    for _ in range(max(1, int(pings))):
        start = time.perf_counter()
        send([])
        rtts.append(time.perf_counter() - start)
    rtt = statistics.median(rtts)
    size = int(size)
    while True:
        blob = bytes(size)
        best = math.inf
        for _ in range(max(1, int(repeats))):
            start = time.perf_counter()
            send([blob])
            best = min(best, time.perf_counter() - start)
        if best - min(rtts) >= min_seconds or size >= max_size:
            break
        size = min(size * 4, int(max_size))
    return {
        "rtt": rtt,
        "rtt_min": min(rtts),
        "size": float(size),
        "seconds": best,
        "bandwidth": size / max(best - min(rtts), 1e-7),
    }
