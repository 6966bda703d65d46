"""Where frames come from: when each camera's frames arrive, and what they carry.

A serve scenario's ``streams`` (the scenario file's) give each camera's rate, arrival
process and active period. :func:`arrivals` turns them into one time-ordered sequence of
``(seconds, stream)``, repeating the streams' pattern every :func:`pattern_period` seconds
for as long as the service runs, and drawing Poisson gaps from one seeded generator: the
same seed gives the same arrivals, whatever the cluster does.

A pattern over time is written as several streams of one camera with different ``start``
and ``duration`` (a camera hot from 12 s to 30 s is a second stream of it active then).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from edgeoffload.errors import ModelError
from edgeoffload.simulation.streams import FrameStream

__all__ = ["arrivals", "pattern_period"]


def pattern_period(streams: Sequence[Any]) -> float:
    """Seconds after which the streams' pattern repeats: the end of the last stream."""
    if not streams:
        raise ModelError("a serve scenario needs streams", "streams")
    return max(float(s.start) + float(s.duration) for s in streams)


def arrivals(streams: Sequence[Any], seed: int = 0) -> Iterator[tuple[float, Any]]:
    """Every frame arrival of ``streams`` (scenario :class:`StreamSpec` objects), in time
    order, as ``(seconds, stream)``; the pattern repeats every :func:`pattern_period`
    seconds, without end."""
    period = pattern_period(streams)
    if not (math.isfinite(period) and period > 0):
        raise ModelError("the streams must last > 0 s", "streams")
    rng = np.random.default_rng(seed)
    cycle = 0
    while True:
        merged: list[tuple[float, int, Any]] = []
        for k, s in enumerate(streams):
            frames = FrameStream(
                s.camera,
                _EMPTY,
                s.rate,
                s.process,
                s.start,
                s.duration,
            )
            for t in frames.arrivals(rng).tolist():
                merged.append((cycle * period + t, k, s))
        heapq.heapify(merged)
        while merged:
            t, _, s = heapq.heappop(merged)
            yield t, s
        cycle += 1


def _empty_graph() -> Any:
    from edgeoffload.model import Task, TaskGraph

    return TaskGraph([Task("x", 0.0)], [])


_EMPTY = _empty_graph()
