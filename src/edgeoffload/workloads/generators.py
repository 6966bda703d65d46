"""Seeded random task graphs and clusters, for tests, sweeps and benchmarks.

Every function takes a ``numpy.random.Generator`` (or a seed); nothing touches global
random state, so the same seed gives the same graph on every machine.
"""

from __future__ import annotations

import numpy as np

from edgeoffload.errors import ModelError
from edgeoffload.model import Cluster, Dependency, Link, Node, Task, TaskGraph

__all__ = ["as_rng", "random_cluster", "random_layered_dag"]


def as_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """``seed`` as a Generator (a Generator is returned as it is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def random_layered_dag(
    n_tasks: int,
    seed: int | np.random.Generator | None = 0,
    *,
    width: int | None = None,
    max_parents: int = 3,
    work: tuple[float, float] = (1e8, 1e10),
    data: tuple[float, float] = (1e4, 1e7),
    prefix: str = "t",
) -> TaskGraph:
    """A random layered DAG of ``n_tasks`` tasks.

    Layers of 1 to ``2·width − 1`` tasks (``width`` defaults to √n) are stacked; every
    task outside the first layer depends on 1 to ``max_parents`` tasks of the layer
    before. Work is uniform in ``work`` (FLOP), data uniform in ``data`` (bytes).

    Examples
    --------
    >>> g = random_layered_dag(50, seed=1)
    >>> len(g), len(g.entry_tasks()) >= 1
    (50, True)
    """
    if n_tasks < 1:
        raise ModelError(f"must be >= 1, got {n_tasks}", "n_tasks")
    rng = as_rng(seed)
    width = width or max(2, round(n_tasks**0.5))
    tasks: list[Task] = []
    dependencies: list[Dependency] = []
    previous: list[str] = []
    made = 0
    while made < n_tasks:
        size = min(n_tasks - made, int(rng.integers(1, 2 * width)))
        layer = [f"{prefix}{made + k}" for k in range(size)]
        for task_id in layer:
            tasks.append(Task(task_id, float(rng.uniform(*work))))
            if previous:
                k = int(rng.integers(1, min(len(previous), max_parents) + 1))
                for parent in sorted(rng.choice(len(previous), size=k, replace=False).tolist()):
                    dependencies.append(
                        Dependency(previous[parent], task_id, float(rng.uniform(*data)))
                    )
        previous = layer
        made += size
    return TaskGraph(tasks, dependencies)


def random_cluster(
    n_nodes: int,
    seed: int | np.random.Generator | None = 0,
    *,
    speed: tuple[float, float] = (1e9, 1e11),
    bandwidth: tuple[float, float] = (1e6, 1e8),
    latency: tuple[float, float] = (0.0, 0.01),
    link_fraction: float = 0.5,
) -> Cluster:
    """A random cluster of ``n_nodes`` nodes (``n0``, ``n1``, ...).

    Speeds are log-uniform in ``speed`` (FLOP/s). A random ``link_fraction`` of the
    pairs get their own link; the rest share a default link. Bandwidths are log-uniform
    in ``bandwidth`` (bytes/s), latencies uniform in ``latency`` (s).
    """
    if n_nodes < 1:
        raise ModelError(f"must be >= 1, got {n_nodes}", "n_nodes")
    rng = as_rng(seed)

    def log_uniform(bounds: tuple[float, float]) -> float:
        low, high = np.log(bounds[0]), np.log(bounds[1])
        return float(np.exp(rng.uniform(low, high)))

    nodes = [Node(f"n{k}", log_uniform(speed)) for k in range(n_nodes)]
    links = {}
    for a in range(n_nodes):
        for b in range(a + 1, n_nodes):
            if rng.random() < link_fraction:
                links[(f"n{a}", f"n{b}")] = Link(
                    log_uniform(bandwidth), float(rng.uniform(*latency))
                )
    default = Link(log_uniform(bandwidth), float(rng.uniform(*latency)))
    return Cluster(nodes, links, default)
