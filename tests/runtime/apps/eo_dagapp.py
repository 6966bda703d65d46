"""Task functions for the scheduled-DAG tests: an application module shipped as a bundle."""

from __future__ import annotations

import time
from pathlib import Path

import edgeoffload


@edgeoffload.offload
def frame(camera_seed: int) -> list[int]:
    """A camera-like source: a deterministic 'frame' for its seed."""
    return [camera_seed * 7 + k for k in range(16)]


@edgeoffload.offload
def combine(*inputs: object, tag: str = "", seconds: float = 0.0, marker: str = "") -> int:
    """Sleep ``seconds`` (writing ``marker`` first), then fold the inputs and the tag."""
    if marker:
        Path(marker).write_text(tag)
    if seconds:
        time.sleep(seconds)
    total = 0
    for value in inputs:
        total += sum(value) if isinstance(value, list) else int(value)  # type: ignore[arg-type]
    return (total * 31 + sum(map(ord, tag))) % 1_000_003


class StageError(ValueError):
    """Raised by :func:`broken`."""


@edgeoffload.offload
def broken(*inputs: object) -> int:
    raise StageError("this stage always fails")
