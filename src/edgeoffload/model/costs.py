"""The one cost model: how long a task runs on a node, how long data takes between nodes.

Every number a scheduler predicts, the simulator replays and the validator checks comes
from here, computed by the same expressions, so the three cannot disagree:

- execution time of task *t* on node *p* = ``exec_times[t][p]`` where the problem gives
  it, else ``work / speed`` (the node's speed for the task's kind where it has one);
- transfer time of *d* bytes from node *p* to node *q* = 0 when ``p == q``, else
  ``latency + d / bandwidth`` of the link between them (0 when no link applies).

The averages that HEFT, CPOP and PEFT rank tasks by are plain means: a task's mean
execution time over the nodes it may run on, and a dependency's mean transfer time over
all ordered pairs of distinct nodes. With uniform links that is the papers' definition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from edgeoffload.model.task_graph import NodeId, TaskId

if TYPE_CHECKING:
    from edgeoffload.model.problem import Problem

__all__ = ["CostModel"]


class CostModel:
    """Cost tables of one problem, as numpy arrays indexed by task, node and dependency.

    Attributes
    ----------
    exec
        T×P array: execution time of task *i* on node *p*, seconds.
    latency, bandwidth
        P×P arrays: latency (s) and bandwidth (bytes/s) of each ordered pair of nodes; the
        diagonal, and pairs that transfer instantly, have latency 0 and bandwidth ``inf``.
    data
        Bytes carried by each dependency, in the graph's dependency order.
    edge_source, edge_target
        Task index at either end of each dependency.
    allowed
        T×P boolean array: where each task may run (its pin only, if pinned).
    """

    __slots__ = (
        "_mean_bandwidth_inverse",
        "_mean_latency",
        "_node_index",
        "_task_index",
        "allowed",
        "bandwidth",
        "data",
        "edge_source",
        "edge_target",
        "exec",
        "latency",
        "node_ids",
    )

    def __init__(self, problem: Problem) -> None:
        graph, cluster = problem.graph, problem.cluster
        self.node_ids: tuple[NodeId, ...] = cluster.node_ids
        self._node_index = {n: i for i, n in enumerate(self.node_ids)}
        self._task_index = {t.id: i for i, t in enumerate(graph.tasks)}
        n_tasks, n_nodes = len(graph), len(cluster)

        work = np.array([t.work if t.work is not None else np.nan for t in graph.tasks])
        speed = np.empty((n_tasks, n_nodes))
        base = np.array([n.speed for n in cluster.nodes])
        speed[:] = base
        kinds = {t.kind for t in graph.tasks if t.kind is not None}
        for kind in kinds:
            rows = np.array([t.kind == kind for t in graph.tasks])
            speed[rows] = [n.speed_for(kind) for n in cluster.nodes]
        self.exec: np.ndarray = work[:, None] / speed
        for task_id, row in problem.exec_times.items():
            i = self._task_index[task_id]
            for node_id, seconds in row.items():
                self.exec[i, self._node_index[node_id]] = seconds

        self.latency, self.bandwidth = cluster.link_matrices()
        self.data = np.array([d.data for d in graph.dependencies], dtype=float)
        self.edge_source = np.array(
            [self._task_index[d.source] for d in graph.dependencies], dtype=np.intp
        )
        self.edge_target = np.array(
            [self._task_index[d.target] for d in graph.dependencies], dtype=np.intp
        )

        self.allowed = np.ones((n_tasks, n_nodes), dtype=bool)
        for i, task in enumerate(graph.tasks):
            if task.pinned is not None:
                self.allowed[i] = False
                self.allowed[i, self._node_index[task.pinned]] = True

        off_diagonal = ~np.eye(n_nodes, dtype=bool)
        if n_nodes > 1:
            self._mean_latency = float(self.latency[off_diagonal].mean())
            self._mean_bandwidth_inverse = float((1.0 / self.bandwidth[off_diagonal]).mean())
        else:
            self._mean_latency = 0.0
            self._mean_bandwidth_inverse = 0.0

    # -- the cost model, one value at a time -------------------------------------------------
    def exec_time(self, task: TaskId, node: NodeId) -> float:
        """Execution time of ``task`` on ``node``, seconds."""
        return float(self.exec[self._task_index[task], self._node_index[node]])

    def transfer_time(self, data: float, source: NodeId, target: NodeId) -> float:
        """Time to move ``data`` bytes from ``source`` to ``target``, seconds (0 if same)."""
        return self.transfer_time_ix(data, self._node_index[source], self._node_index[target])

    def transfer_time_ix(self, data: float, p: int, q: int) -> float:
        """:meth:`transfer_time` by node index."""
        if p == q:
            return 0.0
        return float(self.latency[p, q] + data / self.bandwidth[p, q])

    def node_index(self, node: NodeId) -> int:
        return self._node_index[node]

    # -- the schedulers' averages ------------------------------------------------------------
    def mean_exec(self) -> np.ndarray:
        """Mean execution time of each task over the nodes it may run on, seconds."""
        masked = np.where(self.allowed, self.exec, 0.0)
        out: np.ndarray = masked.sum(axis=1) / self.allowed.sum(axis=1)
        return out

    def mean_transfer(self) -> np.ndarray:
        """Mean transfer time of each dependency over ordered pairs of distinct nodes."""
        out: np.ndarray = self._mean_latency + self.data * self._mean_bandwidth_inverse
        return out
