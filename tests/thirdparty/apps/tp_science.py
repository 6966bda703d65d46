"""Small seeded programs on numpy, networkx and sympy, written as an application would.

Each function builds its input from a seed (or takes it as arguments), calls the library
unchanged, and returns what it computed. numpy, networkx and sympy are installed
distributions: ``edgeoffload`` records them as requirements, and a worker imports its own
copy by name.
"""

from __future__ import annotations

import random
from typing import Any

import networkx as nx
import numpy as np
import sympy

__all__ = [
    "monte_carlo_pi",
    "random_weighted_graph",
    "shortest_path_lengths",
    "solve_linear_system",
    "symbolic_integral",
    "symbolic_series",
]


def monte_carlo_pi(seed: int, samples: int, chunk: int = 1_000_000) -> tuple[float, int, Any]:
    """π by darts from ``numpy.random.default_rng(seed)``: the estimate, the hits, and the
    per-chunk hit counts (an int64 array)."""
    rng = np.random.default_rng(seed)
    counts = []
    left = samples
    while left > 0:
        n = min(chunk, left)
        xy = rng.random((n, 2))
        counts.append(int(np.count_nonzero(np.einsum("ij,ij->i", xy, xy) <= 1.0)))
        left -= n
    hits = int(sum(counts))
    return 4.0 * hits / samples, hits, np.asarray(counts, dtype=np.int64)


def solve_linear_system(seed: int, n: int, repeats: int = 1) -> Any:
    """``numpy.linalg.solve`` of a seeded, well-conditioned n×n system, ``repeats``
    right-hand sides one after another: the solutions, one row each."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n)) + n * np.eye(n)
    out = np.empty((repeats, n))
    for i in range(repeats):
        b = rng.standard_normal(n)
        out[i] = np.linalg.solve(a, b)
    return out


def random_weighted_graph(seed: int, n: int, p: float) -> nx.Graph:
    """``networkx.gnp_random_graph(n, p, seed)`` with weights from ``random.Random(seed)``."""
    graph = nx.gnp_random_graph(n, p, seed=seed)
    weights = random.Random(seed)
    for u, v in graph.edges():
        graph[u][v]["weight"] = weights.randint(1, 100)
    return graph


def shortest_path_lengths(seed: int, n: int, p: float) -> dict[Any, dict[Any, int]]:
    """All-pairs Dijkstra path lengths on :func:`random_weighted_graph`."""
    graph = random_weighted_graph(seed, n, p)
    return dict(nx.all_pairs_dijkstra_path_length(graph, weight="weight"))


def symbolic_series(order: int) -> Any:
    """The series of ``exp(sin(x)) / (1 - x)`` about 0 to ``order``, with sympy's cache
    cleared first (each call does the whole work)."""
    sympy.core.cache.clear_cache()
    x = sympy.Symbol("x")
    return sympy.series(sympy.exp(sympy.sin(x)) / (1 - x), x, 0, order)


def symbolic_integral(power: int) -> Any:
    """∫ x**power · sin(x) · exp(x) dx, with sympy's cache cleared first."""
    sympy.core.cache.clear_cache()
    x = sympy.Symbol("x")
    return sympy.integrate(x**power * sympy.sin(x) * sympy.exp(x), x)
