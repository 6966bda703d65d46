"""The paper quantities list schedulers order tasks by, as pure functions.

All take the averages of the cost model (:meth:`CostModel.mean_exec`,
:meth:`CostModel.mean_transfer`): w̄ is a task's mean execution time over the nodes it
may run on, c̄ a dependency's mean transfer time over ordered pairs of distinct nodes.
With ``storage`` nodes in the cluster (they run only pinned tasks) those averages leave
them out for unpinned tasks (:func:`mean_exec`, :func:`mean_transfer`); without, they are
the cost model's, bit for bit.

References
----------
.. [1] H. Topcuoglu, S. Hariri, M.-Y. Wu, "Performance-effective and low-complexity task
   scheduling for heterogeneous computing", IEEE TPDS 13(3):260-274, 2002,
   doi:10.1109/71.993206.
.. [2] H. Arabnejad, J. G. Barbosa, "List scheduling algorithm for heterogeneous systems
   by an optimistic cost table", IEEE TPDS 25(3):682-694, 2014, doi:10.1109/TPDS.2013.57.
.. [3] H. Zhao, R. Sakellariou, "An experimental investigation into the rank function of
   the heterogeneous earliest finish time scheduling algorithm", Euro-Par 2003, LNCS 2790,
   pp. 189-194.
"""

from __future__ import annotations

import numpy as np

from edgeoffload.model import Problem
from edgeoffload.schedulers.placement import usable_nodes
from edgeoffload.schedulers.ties import snap

__all__ = [
    "AVERAGES",
    "downward_rank",
    "mean_exec",
    "mean_transfer",
    "optimistic_cost_table",
    "upward_rank",
    "upward_rank_order",
]


AVERAGES = ("mean", "harmonic", "best")
"""How w̄ averages a task's execution times over its nodes (:func:`mean_exec`)."""


def mean_exec(problem: Problem, average: str = "mean") -> np.ndarray:
    """w̄: each task's average execution time over the nodes a scheduler may place it on
    (:func:`~edgeoffload.schedulers.placement.usable_nodes`), seconds.

    ``average`` is one of :data:`AVERAGES`: ``mean``, the arithmetic mean, as the papers
    define w̄; ``harmonic``, 1 / mean(1 / w), the task's time at the nodes' mean speed
    when times are work / speed; ``best``, the shortest. Zhao and Sakellariou [3]_ found
    that which one HEFT ranks by changes its makespans markedly and that none is best on
    every graph, which is why the portfolio tries more than one.
    """
    costs = problem.costs
    mask = usable_nodes(problem)
    if average == "harmonic":
        # a zero time is an infinite speed; a task with no node gets NaN (placing it raises)
        with np.errstate(divide="ignore", invalid="ignore"):
            inverse = np.where(mask, 1.0 / costs.exec, 0.0)
            harmonic: np.ndarray = mask.sum(axis=1) / inverse.sum(axis=1)
        return harmonic
    if average == "best":
        best: np.ndarray = np.where(mask, costs.exec, np.inf).min(axis=1)
        return best
    if average != "mean":
        raise ValueError(f"average must be one of {AVERAGES}, got {average!r}")
    if mask is costs.allowed:
        return costs.mean_exec()
    masked = np.where(mask, costs.exec, 0.0)
    with np.errstate(invalid="ignore"):  # a task with no node: NaN; placing it raises
        out: np.ndarray = masked.sum(axis=1) / mask.sum(axis=1)
    return out


def mean_transfer(problem: Problem) -> np.ndarray:
    """c̄: each dependency's mean transfer time over ordered pairs of distinct nodes,
    seconds; the end of an unpinned task never on a storage node (data between two
    unpinned tasks never passes through one)."""
    costs = problem.costs
    storage = problem.cluster.storage_mask()
    if not storage.any():
        return costs.mean_transfer()
    n_nodes = len(storage)
    unpinned = np.array([t.pinned is None for t in problem.graph.tasks], dtype=bool)
    off_diagonal = ~np.eye(n_nodes, dtype=bool)
    inverse = 1.0 / costs.bandwidth
    out = np.empty(len(costs.data))
    # one mean per kind of dependency: (source unpinned?, target unpinned?)
    for src_free in (False, True):
        for dst_free in (False, True):
            rows = (unpinned[costs.edge_source] == src_free) & (
                unpinned[costs.edge_target] == dst_free
            )
            if not rows.any():
                continue
            pairs = off_diagonal.copy()
            if src_free:
                pairs[storage, :] = False
            if dst_free:
                pairs[:, storage] = False
            if pairs.any():
                latency = float(costs.latency[pairs].mean())
                per_byte = float(inverse[pairs].mean())
            else:
                latency = per_byte = 0.0
            out[rows] = latency + costs.data[rows] * per_byte
    return out


def upward_rank(
    problem: Problem, mean_exec: np.ndarray | None = None, mean_transfer: np.ndarray | None = None
) -> np.ndarray:
    """rank_u of every task, seconds ([1], eq. 3).

    rank_u(n_i) = w̄_i + max over successors n_j of (c̄_ij + rank_u(n_j)); an exit task's
    rank is its w̄. The length of the longest average-cost path from a task to an exit.

    Examples
    --------
    >>> from edgeoffload.model import Cluster, Dependency, Node, Problem, Task, TaskGraph
    >>> g = TaskGraph([Task("a", 2.0), Task("b", 4.0)], [Dependency("a", "b", 0.0)])
    >>> upward_rank(Problem(g, Cluster([Node("p", 1.0)]))).tolist()
    [6.0, 4.0]
    """
    graph, costs = problem.graph, problem.costs
    w = (_mean_exec(problem) if mean_exec is None else mean_exec).tolist()
    c = (_mean_transfer(problem) if mean_transfer is None else mean_transfer).tolist()
    target = costs.edge_target.tolist()
    rank = [0.0] * len(graph)  # plain floats: the same IEEE sums, without numpy scalars
    for i in reversed(graph.topological_order):
        tail = max([c[k] + rank[target[k]] for k in graph.out_edges(i)], default=0.0)
        rank[i] = w[i] + tail
    return np.array(rank)


def downward_rank(
    problem: Problem, mean_exec: np.ndarray | None = None, mean_transfer: np.ndarray | None = None
) -> np.ndarray:
    """rank_d of every task, seconds ([1], eq. 5).

    rank_d(n_i) = max over predecessors n_j of (rank_d(n_j) + w̄_j + c̄_ji); an entry
    task's rank is 0. The length of the longest average-cost path from an entry to the
    task, the task itself excluded.
    """
    graph, costs = problem.graph, problem.costs
    w = (_mean_exec(problem) if mean_exec is None else mean_exec).tolist()
    c = (_mean_transfer(problem) if mean_transfer is None else mean_transfer).tolist()
    source = costs.edge_source.tolist()
    rank = [0.0] * len(graph)
    for i in graph.topological_order:
        rank[i] = max(
            [rank[source[k]] + w[source[k]] + c[k] for k in graph.in_edges(i)], default=0.0
        )
    return np.array(rank)


def optimistic_cost_table(problem: Problem, allowed: np.ndarray | None = None) -> np.ndarray:
    """OCT(t_i, p_k) of every task and node, seconds ([2], eq. 7).

    OCT(t_i, p_k) = max over successors t_j of min over nodes p_w of
    (OCT(t_j, p_w) + w(t_j, p_w) + c̄_ij), with c̄_ij = 0 when p_w = p_k; 0 for exit
    tasks. The shortest time from the end of t_i on p_k to an exit, assuming every later
    task finds its best node free.

    ``allowed`` (T×P, default the cost model's pins less storage nodes for unpinned
    tasks, :func:`~edgeoffload.schedulers.placement.usable_nodes`) restricts p_w to the
    nodes t_j may run on; without pins this is the paper's table.

    Notes
    -----
    The inner minimum is vectorised over p_k: with A = OCT(t_j, ·) + w(t_j, ·),
    min_w (A_w + c̄·[w ≠ k]) = min(A_k, min_w A_w + c̄), since c̄ ≥ 0. O(e·P) in all.
    """
    graph, costs = problem.graph, problem.costs
    mask = usable_nodes(problem) if allowed is None else allowed
    c = _mean_transfer(problem)
    target = costs.edge_target
    table = np.zeros((len(graph), costs.exec.shape[1]))
    through = np.where(mask, costs.exec, np.inf)  # w(t_j, p_w), inf where t_j may not run
    for i in reversed(graph.topological_order):
        edges = graph.out_edges(i)
        if not edges:
            continue
        # one row per successor t_j: A = OCT(t_j, ·) + w(t_j, ·), then min(A_k, min A + c̄)
        succ = target[edges]
        a = table[succ] + through[succ]
        best = np.minimum(a, a.min(axis=1, keepdims=True) + c[edges, None])
        table[i] = best[0] if len(edges) == 1 else best.max(axis=0)
    return table


def upward_rank_order(problem: Problem, average: str = "mean") -> list[int]:
    """Task indexes by decreasing upward rank; ties (to the tolerance of
    :mod:`~edgeoffload.schedulers.ties`) by topological position.

    rank_u never increases along a dependency (costs are ≥ 0 and rounding is monotone),
    and merging ties keeps that, so this order is topological even where zero costs
    make ranks equal. ``average`` is how w̄ averages execution times (:func:`mean_exec`).
    """
    w = _mean_exec(problem, average)
    rank = snap(upward_rank(problem, mean_exec=w))  # tied ranks exactly equal: position decides
    position = np.empty(len(rank), dtype=np.intp)
    position[list(problem.graph.topological_order)] = np.arange(len(rank))
    order: list[int] = np.lexsort((position, -rank)).tolist()  # by -rank, then position
    return order


# the module-level names, for functions whose parameters shadow them
_mean_exec = mean_exec
_mean_transfer = mean_transfer
