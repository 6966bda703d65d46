"""Offloaded functions that print, change their arguments in place, or raise.

Shipped as a bundle by the tests of :mod:`edgeoffload.runtime.worker.child` (what a call
sends back besides its result) and of the session (what the caller then sees).
"""

from __future__ import annotations

import errno
import math
import sys
import types
import warnings
from typing import Any

import numpy as np

import edgeoffload


class Bad(Exception):  # noqa: N818 (the user study's example, named as there)
    """An exception whose constructor takes two arguments but passes one message on."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class RewordedError(Exception):
    """An exception whose constructor rewrites its argument (pickle would reword twice)."""

    def __init__(self, count: int) -> None:
        super().__init__(f"bad count {count}")
        self.count = count


class MissingConfigError(FileNotFoundError):
    """An OSError whose constructor takes only a path (OSError pickles errno and path)."""

    def __init__(self, path: str) -> None:
        super().__init__(errno.ENOENT, "no configuration", path)
        self.path = path


class Counter:
    """An object whose offloaded method changes it."""

    def __init__(self) -> None:
        self.count = 0

    @edgeoffload.offload
    def bump(self) -> None:
        self.count += 1

    @edgeoffload.offload
    def bumped(self) -> Counter:
        self.count += 1
        return self

    @edgeoffload.offload
    def peek(self, extra: list[int]) -> int:
        return self.count + len(extra)


class Cached:
    """An object that caches a value when read, and leaves the cache out of its pickle."""

    def __init__(self, values: list[float]) -> None:
        self.values = values
        self._total: float | None = None

    def total(self) -> float:
        if self._total is None:
            self._total = math.fsum(self.values)
        return self._total

    def __getstate__(self) -> dict[str, Any]:
        return {"values": self.values, "_total": None}


@edgeoffload.offload
def shout(lines: int) -> int:
    """Print ``lines`` lines, and one line to stderr."""
    for i in range(lines):
        print(f"line {i} from the worker")
    print("a line on stderr", file=sys.stderr)
    return lines


@edgeoffload.offload
def flood(text: str, times: int) -> int:
    """Write ``text`` ``times`` times to stdout (no newline)."""
    for _ in range(times):
        sys.stdout.write(text)
    return times


@edgeoffload.offload
def silent(x: int) -> int:
    return x + 1


@edgeoffload.offload
def warn_about(module: str) -> str:
    """Issue a warning (written to stderr with this file's path) and name a module."""
    warnings.warn(f"careful with {__name__}", UserWarning, stacklevel=1)
    return module


@edgeoffload.offload
def append_item(items: list[int], item: int) -> None:
    items.append(item)


@edgeoffload.offload
def append_and_return(items: list[int], item: int) -> list[int]:
    items.append(item)
    return items


@edgeoffload.offload
def fill(value: int, *, out: list[int]) -> None:
    out[:] = [value] * len(out)


@edgeoffload.offload
def scale_in_place(array: np.ndarray, factor: float) -> None:
    array *= factor


@edgeoffload.offload
def read_everything(
    names: set[str],
    frozen: frozenset[str],
    table: dict[str, set[int]],
    zero: float,
    nan: float,
    array: np.ndarray,
    cached: Cached,
    nested: list[Any],
) -> float:
    """Read every argument, change none (``cached`` fills its cache)."""
    total = float(len(names) + len(frozen) + sum(len(v) for v in table.values()))
    total += math.copysign(1.0, zero) + (0.0 if math.isnan(nan) else 1.0)
    total += float(np.nansum(array)) + cached.total() + len(nested)
    return total


@edgeoffload.offload
def print_change_and_fail(items: list[int]) -> None:
    print("about to fail")
    items.clear()
    raise ValueError(f"{len(items)} items left")


@edgeoffload.offload
def fail_bad(code: int, detail: str) -> None:
    raise Bad(code, detail)


@edgeoffload.offload
def fail_reworded(count: int) -> None:
    raise RewordedError(count)


@edgeoffload.offload
def fail_missing_file(name: str) -> None:
    with open(name):
        pass


@edgeoffload.offload
def fail_missing_config(path: str) -> None:
    raise MissingConfigError(path)


@edgeoffload.offload
def fail_hidden(counter: Counter) -> None:
    """Raise an exception of a class made here, in a module only this process has."""
    module = types.ModuleType(f"{__name__}_generated")
    exec("class Hidden(Exception):\n    pass\n", module.__dict__)
    sys.modules[module.__name__] = module
    raise module.Hidden(f"hidden failure in {__name__} with {counter!r}")
