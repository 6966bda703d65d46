"""Lambdas and closures over unchanged pyperformance programs, offloaded by value.

A lambda or a nested function travels with each call (cloudpickle), its closure with it;
the modules it names travel by reference and must be importable on the worker, where they
come from the bundle of the module that defines the lambda (this one) and of what that
module imports.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest

import edgeoffload

pytestmark = pytest.mark.dask

pytest.importorskip("pyperformance", reason="pyperformance is in the dev extra")
BM = importlib.import_module("tp_pyperformance").load_benchmarks()
import tp_wrappers  # noqa: E402  (imports the bm_* modules loaded above by name)


def test_lambda_over_a_wrapper(remote_call: Any) -> None:
    """``offload(lambda n: tp_wrappers.nqueens_solutions(n))``: this module imports
    tp_wrappers, so its bundle carries it and the bm_* modules it imports."""
    f = edgeoffload.offload(lambda n: tp_wrappers.nqueens_solutions(n))
    assert remote_call(f, 6) == tp_wrappers.nqueens_solutions(6)


def test_closure_over_a_program_module(remote_call: Any) -> None:
    """A closure holding the ``bm_nqueens`` module object (loaded by path) and a size:
    the module travels by name and is found in the bundle (tp_wrappers imports it)."""

    def make(module: Any, base: int) -> Any:
        def solve(extra: int) -> list[tuple[int, ...]]:
            return list(module.n_queens(base + extra))

        return solve

    solve = make(BM["nqueens"], 4)
    f = edgeoffload.offload(solve)
    assert remote_call(f, 2) == solve(2)


def test_closure_over_a_module_no_shipped_module_imports(remote_call: Any) -> None:
    """A closure holding ``bm_fannkuch`` (loaded by path, imported by no module of the
    bundle): the module the by-value function refers to is found while pickling the call
    and shipped with it."""
    module = BM["fannkuch"]
    f = edgeoffload.offload(lambda n: module.fannkuch(n))
    assert remote_call(f, 7) == module.fannkuch(7)
