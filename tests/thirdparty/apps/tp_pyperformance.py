"""pyperformance's benchmark programs, loaded unchanged from the installed package.

``pip install pyperformance`` puts each benchmark's program under
``site-packages/pyperformance/data-files/benchmarks/bm_NAME/run_benchmark.py``. Those
folders are not packages and not on ``sys.path``: :func:`load` imports a file by path
(``importlib.util.spec_from_file_location``) as the module ``bm_NAME`` and registers it
in ``sys.modules``, as a script runner would, without touching its source. To
``edgeoffload`` such a module is application code (a ``.py`` source of no installed
distribution), so a function of it, or of a module importing it by name (``tp_wrappers``),
is shipped to the workers as source.

:func:`fingerprint` is the comparison the tests and ``benchmarks/bench_apps.py`` make
(also in the Ray environment): a SHA-256 over a value's exact bits.

This module is used on the client (the tests, the benchmark) and in Ray's workers
(:func:`install_finder` is the benchmark's ``worker_process_setup_hook`` there); the
offloaded code never imports it. ``TP_BENCHMARKS_DIR`` names another folder of the same
programs (the benchmark points Ray's environment at this one's).
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import math
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = [
    "BENCHMARKS",
    "benchmarks_dir",
    "fingerprint",
    "install_finder",
    "load",
    "load_benchmarks",
]

BENCHMARKS = (
    "nbody",
    "chaos",
    "raytrace",
    "richards",
    "nqueens",
    "fannkuch",
    "go",
    "float",
    "spectral_norm",
    "sympy",
)
"""The pyperformance benchmarks used here (``bm_sympy`` needs sympy)."""


def benchmarks_dir() -> Path:
    """The installed pyperformance's folder of benchmark programs (or ``TP_BENCHMARKS_DIR``)."""
    if os.environ.get("TP_BENCHMARKS_DIR"):
        return Path(os.environ["TP_BENCHMARKS_DIR"])
    import pyperformance

    return Path(pyperformance.__file__).resolve().parent / "data-files" / "benchmarks"


def load(name: str) -> ModuleType:
    """``bm_NAME/run_benchmark.py`` imported by path as the module ``bm_NAME`` (once)."""
    module_name = f"bm_{name}"
    loaded = sys.modules.get(module_name)
    if loaded is not None:
        return loaded
    path = benchmarks_dir() / module_name / "run_benchmark.py"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def load_benchmarks(names: Iterable[str] = BENCHMARKS) -> dict[str, ModuleType]:
    """Every named benchmark program, loaded (:func:`load`)."""
    return {name: load(name) for name in names}


class _ProgramFinder(importlib.abc.MetaPathFinder):
    """Finds ``bm_NAME`` as the file :func:`load` would load, when it is first imported."""

    def find_spec(
        self, fullname: str, path: Any = None, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith("bm_") or "." in fullname:
            return None
        file = benchmarks_dir() / fullname / "run_benchmark.py"
        return importlib.util.spec_from_file_location(fullname, file) if file.is_file() else None


def install_finder() -> None:
    """Make ``import bm_NAME`` load that program by path on first use (a lazy
    :func:`load`, for processes that unpickle references to the programs: Ray's workers)."""
    if not any(isinstance(f, _ProgramFinder) for f in sys.meta_path):
        sys.meta_path.append(_ProgramFinder())


def fingerprint(value: Any) -> str:
    """SHA-256 of ``value``'s exact content: floats by their bits, arrays by their bytes.

    Two results with the same fingerprint are identical bit for bit (including ``-0.0``
    against ``0.0`` and NaN payloads); dicts are taken in their iteration order, other
    objects by ``repr`` (``sympy.srepr`` for sympy objects).
    """
    digest = hashlib.sha256()
    _feed(digest, value)
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    kind = type(value)
    digest.update(f"<{kind.__module__}.{kind.__qualname__}>".encode())
    if isinstance(value, float):
        digest.update(value.hex().encode() if math.isfinite(value) else repr(value).encode())
    elif value is None or isinstance(value, (bool, int, str)):
        digest.update(repr(value).encode())
    elif isinstance(value, (bytes, bytearray)):
        digest.update(len(value).to_bytes(8, "little") + bytes(value))
    elif isinstance(value, (tuple, list)):
        digest.update(len(value).to_bytes(8, "little"))
        for item in value:
            _feed(digest, item)
    elif isinstance(value, dict):
        digest.update(len(value).to_bytes(8, "little"))
        for key, item in value.items():
            _feed(digest, key)
            _feed(digest, item)
    elif kind.__module__ == "numpy" and kind.__name__ == "ndarray":
        digest.update(f"{value.dtype.str}{value.shape}".encode())
        digest.update(value.tobytes())
    elif kind.__module__.startswith("numpy"):  # a numpy scalar
        digest.update(f"{value.dtype.str}".encode() + value.tobytes())
    elif kind.__module__.startswith("sympy"):
        import sympy

        digest.update(sympy.srepr(value).encode())
    else:
        digest.update(repr(value).encode())
