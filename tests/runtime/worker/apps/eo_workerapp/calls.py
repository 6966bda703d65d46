"""Functions the executor tests run in child processes."""

from __future__ import annotations

import os
import random
import sys
import time

import edgeoffload
from eo_workerapp import helpers
from eo_workerapp.shapes import Point


class AppError(Exception):
    """An application exception class that lives in the bundle."""


def add(a: int, b: int) -> int:
    return a + b


@edgeoffload.offload
def scaled(point: Point, k: int) -> Point:
    return Point(point.x * k, point.y * k)


def fail(message: str) -> None:
    raise AppError(message)


def seeded() -> list[float]:
    random.seed(7)
    return [random.random() for _ in range(5)]


def nap(seconds: float, value: int) -> int:
    time.sleep(seconds)
    return value


def pid() -> int:
    return os.getpid()


def process() -> tuple[int, list[str]]:
    """This process's id and the names of the modules it imported from bundles."""
    return os.getpid(), sorted(name for name in sys.modules if name.startswith("_eo_"))


def ident() -> tuple[int, str]:
    return os.getpid(), helpers.IDENT


def lazy_value() -> str:
    from eo_workerapp.lazy import VALUE

    return VALUE


def noop(*args: object, **kwargs: object) -> None:
    return None


def total(*numbers: int, extra: int = 0) -> int:
    return sum(numbers) + extra


def crash(code: int) -> None:
    os._exit(code)


class Tools:
    @staticmethod
    def double(x: int) -> int:
        return 2 * x


def clock(*args: object, **kwargs: object) -> float:
    """This machine's monotonic clock (``time.perf_counter``), to time the hop."""
    return time.perf_counter()
