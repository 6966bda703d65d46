"""The fixed benchmark the decision engine times on each worker and locally.

COFA runs "a predefined test code" on a remote when it connects and compares it with the
local run. Ours is pure-Python integer arithmetic (interpreter-bound, like most offloaded
Python code; no numpy, so BLAS threads do not blur the comparison): the ratio of the
local time to a worker's time is that worker's relative speed.
"""

from __future__ import annotations

import time

__all__ = ["DEFAULT_PROBE_WORK", "probe_benchmark"]

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
