"""Offloaded functions written the way ordinary programs are (no edgeoffload idioms)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from edgeoffload import offload


@offload
def apply(function: Callable[[Any], Any], values: list[Any]) -> list[Any]:
    """Call ``function`` (a lambda or a closure, passed by the caller) on each value."""
    return [function(v) for v in values]


@offload
def make_adder(n: int) -> Callable[[int], int]:
    """Return a lambda: it comes back by value."""
    return lambda x: x + n


@offload
def make_lock() -> threading.Lock:
    """Return what can never leave a process."""
    return threading.Lock()


@offload
def read_weights() -> dict[str, Any]:
    """Read a data file that lies beside this module."""
    loaded: dict[str, Any] = json.loads(Path(__file__).with_name("weights.json").read_text())
    return loaded


@offload
def read_table() -> str:
    """Read a data file of this package through importlib.resources."""
    return resources.files("eo_localapp").joinpath("data/table.csv").read_text()


@offload
def norm2(point: Any) -> float:
    """Use an argument whose class lives in a module this one never imports."""
    return float(point.x**2 + point.y**2)


@offload
def pid() -> int:
    """The process that ran the call."""
    return os.getpid()


square = offload(lambda x: x * x)


def make_scaler(k: float) -> Callable[[float], float]:
    """An offloaded function defined inside another function: a closure over ``k``."""

    @offload
    def scale(x: float) -> float:
        return x * k

    return scale


_TABLE_AT_IMPORT = resources.files("eo_localapp").joinpath("data/table.csv").read_text()


@offload
def rows_read_at_import() -> int:
    """Use what the module read through importlib.resources when it was imported."""
    return len(_TABLE_AT_IMPORT.splitlines())


@offload
def working_directory() -> str:
    """Where the call runs."""
    return os.getcwd()


@offload
def fib(n: int) -> int:
    """Recursive: the inner calls run where the outer call runs."""
    return n if n < 2 else fib(n - 1) + fib(n - 2)


@offload(ship=["eo_localapp"])
def run_plugin(name: str, text: str) -> str:
    """Load a plugin by name: only a package shipped whole has it."""
    import importlib

    plugin: Any = importlib.import_module(f"eo_localapp.plugins.{name}")
    return str(plugin.apply(text))
