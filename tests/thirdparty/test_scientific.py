"""Seeded numpy, networkx and sympy programs offloaded, compared with local runs.

The programs are in ``apps/tp_science.py`` (application code, shipped as source); the
libraries are installed distributions, imported by name on the worker. Library functions
are also offloaded directly where they are plain Python functions
(``offload(networkx.single_source_dijkstra_path_length)``, ``offload(sympy.series)``).
Every result must equal the local one bit for bit, and every call must run on the worker.
"""

from __future__ import annotations

import importlib
from typing import Any

import networkx as nx
import numpy as np
import pytest
import sympy

import edgeoffload

pytestmark = pytest.mark.dask

science = importlib.import_module("tp_science")
fingerprint = importlib.import_module("tp_pyperformance").fingerprint


def _same_array(remote: Any, local: Any) -> None:
    assert remote.dtype == local.dtype and remote.shape == local.shape
    assert np.array_equal(remote, local)
    assert remote.tobytes() == local.tobytes()  # bit for bit


def test_numpy_monte_carlo(remote_call: Any) -> None:
    """A ``numpy.random.default_rng(seed)`` Monte Carlo estimate of π (wrapper-free: the
    program is ``tp_science.monte_carlo_pi``)."""
    f = edgeoffload.offload(science.monte_carlo_pi)
    local = science.monte_carlo_pi(7, 300_000, 100_000)
    remote = remote_call(f, 7, 300_000, 100_000)
    assert remote[:2] == local[:2]
    _same_array(remote[2], local[2])
    assert fingerprint(remote) == fingerprint(local)


def test_numpy_linalg_solve(remote_call: Any) -> None:
    """``numpy.linalg.solve`` of seeded systems (``tp_science.solve_linear_system``),
    large enough (n = 400) for OpenBLAS to use its threads."""
    f = edgeoffload.offload(science.solve_linear_system)
    local = science.solve_linear_system(3, 400, 2)
    _same_array(remote_call(f, 3, 400, 2), local)


def test_numpy_function_offloaded_directly(remote_call: Any) -> None:
    """``offload(numpy.linalg.solve)``: numpy's public functions are
    ``numpy._ArrayFunctionDispatcher`` objects, not Python functions; the worker finds
    one by module and name, like any installed function."""
    rng = np.random.default_rng(5)
    a, b = rng.random((60, 60)) + 60 * np.eye(60), rng.random(60)
    solve = edgeoffload.offload(np.linalg.solve)
    _same_array(remote_call(solve, a, b), np.linalg.solve(a, b))


def test_networkx_shortest_paths(remote_call: Any) -> None:
    """networkx on a seeded random graph: all-pairs Dijkstra built and run on the worker
    (``tp_science.shortest_path_lengths``), and ``networkx.single_source_dijkstra_path_length``
    offloaded directly with a graph built here as its argument."""
    f = edgeoffload.offload(science.shortest_path_lengths)
    local = science.shortest_path_lengths(11, 60, 0.1)
    remote = remote_call(f, 11, 60, 0.1)
    assert remote == local
    assert fingerprint(remote) == fingerprint(local)  # iteration order too

    graph = science.random_weighted_graph(5, 80, 0.08)
    direct = edgeoffload.offload(nx.single_source_dijkstra_path_length)
    local_one = nx.single_source_dijkstra_path_length(graph, 0, weight="weight")
    remote_one = remote_call(direct, graph, 0, weight="weight")
    assert remote_one == local_one
    assert fingerprint(remote_one) == fingerprint(local_one)


def test_sympy_series_and_integral(remote_call: Any) -> None:
    """sympy: ``tp_science.symbolic_series`` and ``symbolic_integral`` (cache cleared, built
    on the worker), and ``sympy.series`` / ``sympy.integrate`` offloaded directly with
    expressions built here."""
    series = edgeoffload.offload(science.symbolic_series)
    local = science.symbolic_series(5)
    remote = remote_call(series, 5)
    assert remote == local
    assert sympy.srepr(remote) == sympy.srepr(local)

    integral = edgeoffload.offload(science.symbolic_integral)
    assert remote_call(integral, 1) == science.symbolic_integral(1)

    x = sympy.Symbol("x")
    expr = sympy.cos(x) ** 3 * sympy.exp(2 * x)
    direct = edgeoffload.offload(sympy.integrate)
    remote_int = remote_call(direct, expr, x)
    local_int = sympy.integrate(expr, x)
    assert remote_int == local_int
    assert sympy.srepr(remote_int) == sympy.srepr(local_int)
    direct_series = edgeoffload.offload(sympy.series)
    assert remote_call(direct_series, sympy.tan(x), x, 0, 7) == sympy.series(sympy.tan(x), x, 0, 7)
