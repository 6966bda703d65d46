"""The frame log (``frames.jsonl``) and the running figures the live view shows.

:class:`FrameLog` writes one JSON object per frame as soon as the frame ends, flushed, so
a run cut short keeps every frame it ended. Each line has at least :data:`FRAME_KEYS`
(``null`` where one does not apply). :class:`LiveStats` keeps what the terminal view and
the metrics need in bounded memory: counters, the last ``horizon`` seconds of latencies
and of node busy time.
"""

from __future__ import annotations

import json
import math
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

__all__ = ["FRAME_KEYS", "FrameLog", "LiveStats", "percentile", "read_frames"]

FRAME_KEYS: tuple[str, ...] = (
    "camera",
    "frame",
    "status",
    "reason",
    "arrival",
    "latency",
    "predicted_latency",
    "scheduler",
)
"""Keys every line of ``frames.jsonl`` has."""


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100, nearest rank) of ``values``; ``None`` if empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


class FrameLog:
    """Append-only ``frames.jsonl`` (``path=None``: count, write nothing)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path is None else Path(path)
        self._file: IO[str] | None = (
            None if self.path is None else self.path.open("w", encoding="utf-8")
        )
        self._lock = threading.Lock()
        self.lines = 0

    def write(self, record: Mapping[str, Any]) -> None:
        line = json.dumps({**dict.fromkeys(FRAME_KEYS), **record}, allow_nan=False)
        with self._lock:
            if self._file is not None:
                self._file.write(line + "\n")
                self._file.flush()
            self.lines += 1

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def read_frames(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``frames.jsonl``."""
    with Path(path).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class LiveStats:
    """Counters and recent figures of a running service (thread-safe).

    Parameters
    ----------
    nodes
        The cluster's nodes (utilisation is per node).
    horizon
        Seconds of history behind the rates, percentiles and utilisation.
    """

    def __init__(self, nodes: Iterable[str], horizon: float = 10.0) -> None:
        self.horizon = horizon
        self.nodes = list(nodes)
        self._lock = threading.Lock()
        self.arrived: dict[str, int] = {}
        self.done: dict[str, int] = {}
        self.missed: dict[str, int] = {}
        self.dropped: dict[str, dict[str, int]] = {}
        self.replanned = 0
        self._latency: dict[str, deque[tuple[float, float]]] = {}
        self._errors: deque[tuple[float, float]] = deque()
        self._busy: deque[tuple[float, str, float]] = deque()

    def frame(self, record: Mapping[str, Any], now: float) -> None:
        """Count a frame's log record (``now``: seconds since the first frame)."""
        camera = str(record["camera"])
        with self._lock:
            self.arrived[camera] = self.arrived.get(camera, 0) + 1
            if record["status"] == "done":
                self.done[camera] = self.done.get(camera, 0) + 1
                latency = float(record["latency"])
                self._latency.setdefault(camera, deque()).append((now, latency))
                if record.get("missed"):
                    self.missed[camera] = self.missed.get(camera, 0) + 1
                predicted = record.get("predicted_latency")
                if predicted is not None and latency > 0:
                    self._errors.append((now, abs(float(predicted) - latency) / latency))
            else:
                reasons = self.dropped.setdefault(camera, {})
                reasons[str(record["reason"])] = reasons.get(str(record["reason"]), 0) + 1
            if record.get("replanned"):
                self.replanned += 1
            self._trim(now)

    def busy(self, node: str, seconds: float, now: float) -> None:
        """``node`` computed for ``seconds`` (a task of a run that ended at ``now``)."""
        with self._lock:
            self._busy.append((now, node, seconds))
            self._trim(now)

    def _trim(self, now: float) -> None:
        edge = now - self.horizon  # the horizon is (now - horizon, now]
        for q in self._latency.values():
            while q and q[0][0] <= edge:
                q.popleft()
        while self._errors and self._errors[0][0] <= edge:
            self._errors.popleft()
        while self._busy and self._busy[0][0] <= edge:
            self._busy.popleft()

    def snapshot(self, now: float) -> dict[str, Any]:
        """Per camera: frame rate (done per second), latency p50/p95/p99 over the horizon,
        totals; per node: utilisation over the horizon; the prediction error's median."""
        with self._lock:
            self._trim(now)
            span = max(1e-9, min(self.horizon, now)) if now > 0 else 1.0
            cameras = {}
            for camera in sorted(set(self.arrived) | set(self._latency)):
                recent = [lat for _, lat in self._latency.get(camera, ())]
                cameras[camera] = {
                    "rate": len(recent) / span,
                    "p50": percentile(recent, 50),
                    "p95": percentile(recent, 95),
                    "p99": percentile(recent, 99),
                    "arrived": self.arrived.get(camera, 0),
                    "done": self.done.get(camera, 0),
                    "missed": self.missed.get(camera, 0),
                    "dropped": dict(self.dropped.get(camera, {})),
                }
            busy = dict.fromkeys(self.nodes, 0.0)
            for _, node, seconds in self._busy:
                busy[node] = busy.get(node, 0.0) + seconds
            return {
                "time": now,
                "cameras": cameras,
                "utilisation": {n: min(1.0, b / span) for n, b in busy.items()},
                "prediction_error": percentile([e for _, e in self._errors], 50),
                "replanned": self.replanned,
            }
