"""Waiting for what a test cannot be told about (another process's state, a file, a log)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1
) -> float:
    """Seconds until ``predicate()`` held, asking every ``interval`` seconds.

    Raises AssertionError naming ``what`` when it still does not hold after ``timeout``
    seconds (it is asked once more after the last pause).
    """
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start >= timeout:
            raise AssertionError(f"{what} did not happen in {timeout} s")
        time.sleep(interval)
    return time.monotonic() - start


def pid_in(marker: Path, timeout: float, interval: float = 0.02) -> int:
    """The process id a call writes to ``marker`` once it runs (AssertionError after
    ``timeout`` seconds without one)."""
    wait_until(
        lambda: marker.exists() and marker.read_text() != "", timeout, "the call starting", interval
    )
    return int(marker.read_text())
