"""Baselines: every request computed where it arrives (Local) or on the edge server
(Edge), the papers' two; and everything on the one best node (Single)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from edgeoffload.errors import ModelError
from edgeoffload.model import Node, Problem, Schedule
from edgeoffload.schedulers.base import Scheduler
from edgeoffload.schedulers.placement import place_in_order
from edgeoffload.schedulers.ranks import upward_rank_order
from edgeoffload.schedulers.ties import shorter, ties, tolerance

__all__ = ["EdgeScheduler", "LocalScheduler", "SingleNodeScheduler", "edge_node"]


def edge_node(problem: Problem) -> Node | None:
    """The node Edge ships work to: the fastest ``edge`` node, ties by node order."""
    edges = problem.cluster.nodes_with_role("edge")
    return max(edges, key=lambda n: n.speed, default=None)  # max keeps the first of equals


def _run_restricted(
    problem: Problem, allowed: np.ndarray, name: str, order: list[int] | None = None
) -> Schedule:
    """Place tasks in upward-rank order (``order``, if computed already), each on the one
    node ``allowed`` leaves it."""
    order = upward_rank_order(problem) if order is None else order
    return place_in_order(problem, order, allowed).result(name)


class LocalScheduler(Scheduler):
    """Local: every request runs wholly on the node it arrives at (the papers' baseline).

    Notes
    -----
    A request arrives at the node its source is pinned to (see
    :class:`~edgeoffload.model.Problem`); pinned tasks stay on their pins. Several requests
    on one node share it: tasks are taken in upward-rank order (ties topological) and
    inserted at their earliest start, as HEFT would on that node alone. It does not apply
    to a problem where a request with unpinned tasks arrives at a ``storage`` node (an
    imported workflow's stage-in tasks are pinned there): a storage node runs only pinned
    tasks, and there is no other node the request could be said to be local to.
    """

    name: ClassVar[str] = "local"
    summary: ClassVar[str] = "Baseline: each request runs wholly on the camera where it arrives"

    def applies_to(self, problem: Problem) -> str | None:
        storage = {n.id for n in problem.cluster.nodes_with_role("storage")}
        if not storage:
            return None
        for i, task in enumerate(problem.graph.tasks):
            if task.pinned is not None:
                continue
            r = problem.request_index_of_task(i)
            home = problem.arrival_node(r)
            if home in storage:
                request = problem.effective_requests[r].id
                return (
                    f"the Local baseline would run request {request!r} on {home!r}, a storage"
                    " node, which runs only pinned tasks"
                )
        return None

    def schedule(self, problem: Problem) -> Schedule:
        why = self.applies_to(problem)
        if why is not None:
            raise ModelError(why, "nodes")
        costs = problem.costs
        allowed = costs.allowed.copy()
        for i, task in enumerate(problem.graph.tasks):
            if task.pinned is None:
                home = problem.arrival_node(problem.request_index_of_task(i))
                allowed[i] = False
                allowed[i, costs.node_index(home)] = True
        return _run_restricted(problem, allowed, self.name)


class EdgeScheduler(Scheduler):
    """Edge: every unpinned task runs on the edge node, its inputs shipped there.

    Notes
    -----
    The edge node is the fastest node with role ``edge`` (ties by node order; never a
    ``storage`` node, whose role is not ``edge``). Pinned tasks (a request's source, on
    its camera, or a workflow's stage-in and stage-out on storage) stay where they are. Order as in
    :class:`LocalScheduler`.
    """

    name: ClassVar[str] = "edge"
    summary: ClassVar[str] = "Baseline: every request is shipped to the edge server and runs there"

    def applies_to(self, problem: Problem) -> str | None:
        if edge_node(problem) is None:
            return "the Edge baseline needs a node with role 'edge'"
        return None

    def schedule(self, problem: Problem) -> Schedule:
        edge = edge_node(problem)
        if edge is None:
            raise ModelError("the Edge baseline needs a node with role 'edge'", "nodes")
        costs = problem.costs
        allowed = costs.allowed.copy()
        unpinned = np.array([t.pinned is None for t in problem.graph.tasks])
        allowed[unpinned] = False
        allowed[unpinned, costs.node_index(edge.id)] = True
        return _run_restricted(problem, allowed, self.name)


class SingleNodeScheduler(Scheduler):
    """Single: every unpinned task on one node, the one where the problem finishes first.

    Notes
    -----
    Every node but ``storage`` nodes is tried (pinned tasks stay on their pins), in
    increasing order of the unpinned tasks' summed execution time there; a node is skipped
    once that sum alone, from the earliest request arrival on, exceeds the best makespan
    found, as no schedule on it can beat that. Ties go to the first node in cluster order.
    Order on the node as in :class:`LocalScheduler`.

    It is the schedule list schedulers cannot reach when transfers dominate: HEFT, CPOP
    and PEFT place each task where it finishes first given what is already placed, which
    spreads a communication-heavy graph over the cluster and pays for every transfer. The
    portfolio runs it as a member for that reason.
    """

    name: ClassVar[str] = "single"
    summary: ClassVar[str] = (
        "Baseline: every task on the one node where the whole problem ends first"
    )

    def applies_to(self, problem: Problem) -> str | None:
        if all(node.role == "storage" for node in problem.cluster.nodes):
            return "every node is a storage node"
        return None

    def schedule(self, problem: Problem) -> Schedule:
        why = self.applies_to(problem)
        if why is not None:
            raise ModelError(why, "nodes")
        costs = problem.costs
        unpinned = np.array([t.pinned is None for t in problem.graph.tasks])
        candidates = [p for p, node in enumerate(problem.cluster.nodes) if node.role != "storage"]
        serial = costs.exec[unpinned][:, candidates].sum(axis=0)
        origin = min(request.arrival for request in problem.effective_requests)
        order = upward_rank_order(problem)  # the same for every node tried
        best: Schedule | None = None
        best_node = -1
        for k in np.argsort(serial, kind="stable").tolist():
            p = candidates[k]
            if best is not None and origin + float(serial[k]) > best.makespan + tolerance(
                best.makespan
            ):
                break  # this node and every later one cannot finish first
            allowed = costs.allowed.copy()
            allowed[unpinned] = False
            allowed[unpinned, p] = True
            result = _run_restricted(problem, allowed, self.name, order)
            if (
                best is None
                or shorter(result.makespan, best.makespan)
                or (ties(result.makespan, best.makespan) and p < best_node)
            ):
                best, best_node = result, p
        assert best is not None
        node_id = costs.node_ids[best_node]
        return best.renamed(self.name, {"single": {"node": node_id}})
