"""What a serve run did, from its frame log: figures (:func:`summarise`) and the report
written after the run (:func:`save_report`: ``summary.json`` and PNG figures)."""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from edgeoffload.experiments.serving.log import percentile

__all__ = ["WARM_UP", "save_report", "summarise"]

WARM_UP = 10.0
"""Seconds from the first frame after which the cost model counts as warmed up."""


def _latency_figures(values: Sequence[float]) -> dict[str, float | None]:
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "mean": statistics.fmean(values) if values else None,
        "max": max(values) if values else None,
    }


def _prediction(frames: Sequence[Mapping[str, Any]]) -> float | None:
    errors = [
        abs(f["predicted_latency"] - f["latency"]) / f["latency"]
        for f in frames
        if f["status"] == "done" and f["predicted_latency"] is not None and f["latency"] > 0
    ]
    return statistics.median(errors) if errors else None


def summarise(
    frames: Sequence[Mapping[str, Any]], *, duration: float, warm_up: float = WARM_UP
) -> dict[str, Any]:
    """The run's figures from its frame records.

    ``slo_miss_rate`` counts a frame that was dropped or done after its deadline;
    ``goodput`` is frames done within their deadline per second. ``prediction_error`` is
    the median of |predicted − measured| / measured latency over done frames, for all and
    for those arriving after ``warm_up`` seconds. ``complete`` says every camera's frame
    numbers run 0, 1, 2, … without a gap or a repeat.
    """
    done = [f for f in frames if f["status"] == "done"]
    dropped: dict[str, int] = {}
    for f in frames:
        if f["status"] != "done":
            dropped[str(f["reason"])] = dropped.get(str(f["reason"]), 0) + 1
    on_time = [f for f in done if f["latency"] <= (f.get("deadline") or float("inf"))]
    numbers: dict[str, list[int]] = {}
    for f in frames:
        numbers.setdefault(str(f["camera"]), []).append(int(f["frame"]))
    complete = all(sorted(n) == list(range(len(n))) for n in numbers.values())
    cameras: dict[str, Any] = {}
    for camera in sorted(numbers):
        mine = [f for f in frames if f["camera"] == camera]
        mine_done = [f["latency"] for f in mine if f["status"] == "done"]
        cameras[camera] = {
            "frames": len(mine),
            "done": len(mine_done),
            "dropped": len(mine) - len(mine_done),
            "throughput": len(mine_done) / duration if duration > 0 else 0.0,
            "latency": _latency_figures(mine_done),
        }
    placed: dict[str, int] = {}
    for f in done:
        if f["scheduler"]:
            placed[f["scheduler"]] = placed.get(f["scheduler"], 0) + 1
    return {
        "frames": len(frames),
        "done": len(done),
        "dropped": dropped,
        "missed": len(done) - len(on_time),
        "slo_miss_rate": (len(frames) - len(on_time)) / len(frames) if frames else 0.0,
        "throughput": len(done) / duration if duration > 0 else 0.0,
        "goodput": len(on_time) / duration if duration > 0 else 0.0,
        "latency": _latency_figures([f["latency"] for f in done]),
        "prediction_error": {
            "all": _prediction(frames),
            "after_warm_up": _prediction([f for f in frames if f["arrival"] >= warm_up]),
            "warm_up": warm_up,
        },
        "replanned": sum(1 for f in frames if f.get("replanned")),
        "placed": placed,
        "cameras": cameras,
        "complete": complete,
    }


def save_report(
    result: Mapping[str, Any],
    frames: Sequence[Mapping[str, Any]],
    folder: str | Path,
    *,
    plots: bool = True,
) -> dict[str, Path]:
    """Write ``summary.json`` and, with ``plots`` (and matplotlib), the figures:
    ``latency.png`` (over time, load-class changes and scheduler switches marked),
    ``throughput.png``, ``utilisation.png`` and ``prediction.png`` (predicted against
    measured). Returns the files by name."""
    folder = Path(folder)
    files = {"frames": folder / "frames.jsonl", "summary": folder / "summary.json"}
    if plots:
        from edgeoffload.plots.serving import save_serve_figures

        files.update(save_serve_figures(result, frames, folder))
    document = {**dict(result), "files": {k: str(v) for k, v in files.items()}}
    files["summary"].write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    return files
