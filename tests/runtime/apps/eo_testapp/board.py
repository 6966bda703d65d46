"""Offloaded functions of every shape the runtime must handle."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

import edgeoffload
from eo_testapp.helpers import weight

from . import geometry


class AppError(Exception):
    """An application exception class that lives in the bundle."""


@dataclass
class Board:
    cells: list[int]
    tags: dict[str, int] = field(default_factory=dict)

    def total(self) -> int:
        return sum(weight(i) * c for i, c in enumerate(self.cells))


@edgeoffload.offload
def score(board: Board, depth: int) -> int:
    return board.total() * depth


@edgeoffload.offload
def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a @ b


@edgeoffload.offload
def summarise(data: dict[str, list[int]]) -> dict[str, object]:
    return {
        k: {"sum": sum(v), "max": max(v), "point": geometry.Point(len(v), -1)}
        for k, v in data.items()
    }


@edgeoffload.offload
def make_board(n: int) -> Board:
    return Board(list(range(n)), {"n": n})


@edgeoffload.offload
def fail(message: str) -> None:
    raise AppError(message)


@edgeoffload.offload
def where() -> int:
    """The process id that ran the call."""
    return os.getpid()


@edgeoffload.offload
def slow(seconds: float, value: int) -> int:
    time.sleep(seconds)
    return value


@edgeoffload.offload
def spin(n: int) -> int:
    acc = 0
    for i in range(n):
        acc = (acc + i * i) % 1_000_003
    return acc


def lazy_import_norm(x: int, y: int) -> int:
    from eo_testapp.geometry import Point

    return Point(x, y).norm1()


@edgeoffload.offload
def norm(x: int, y: int) -> int:
    return lazy_import_norm(x, y)


class Scorer:
    def __init__(self, factor: int) -> None:
        self.factor = factor

    @edgeoffload.offload
    def weighted(self, board: Board) -> int:
        return board.total() * self.factor


@edgeoffload.offload
def slow_pid(path: str, seconds: float, value: int) -> int:
    """Write the process id to ``path``, then sleep: lets a test kill it mid-call."""
    with open(path, "w") as handle:
        handle.write(str(os.getpid()))
    time.sleep(seconds)
    return value


@edgeoffload.offload
def die_unless_in(pid: int, value: int) -> int:
    """Return ``value`` in process ``pid``; anywhere else, end the process running it."""
    if os.getpid() != pid:
        os._exit(3)
    return value


@edgeoffload.offload
def burn_to(path: str, seconds: float) -> int:
    """Write the process id to ``path``, then burn ``seconds`` of CPU time (a process that
    is stopped meanwhile burns nothing)."""
    with open(path, "w") as handle:
        handle.write(str(os.getpid()))
    end = time.process_time() + seconds
    count = 0
    while time.process_time() < end:
        count += 1
    return count
