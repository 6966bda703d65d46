"""DHS: DAG-task Hybrid Scheduling for a smart-camera edge cluster (the seed paper).

The load of the cameras is classified as balanced or unbalanced (threshold δ1, seconds)
and heavy or light (threshold δ2, requests per camera), and one of three list schedulers
is picked for the condition found: PEFT when heavy, CPOP when light and unbalanced, HEFT
when light and balanced. The chosen scheduler then uses every node, cameras and edge
server alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from edgeoffload.errors import ModelError
from edgeoffload.model import Node, Problem, Schedule
from edgeoffload.model.checks import check_number
from edgeoffload.schedulers.base import Scheduler
from edgeoffload.schedulers.registry import get_scheduler

__all__ = [
    "CONDITIONS",
    "PAPER_DELTA1",
    "PAPER_DELTA2",
    "DHSScheduler",
    "LoadClass",
    "classify_load",
    "dhs_cameras",
    "dhs_choice",
]

CONDITIONS = ("U-H", "U-L", "B-H", "B-L")


@dataclass(frozen=True, slots=True)
class LoadClass:
    """The load condition DHS found.

    Attributes
    ----------
    camera_times
        t_i = w_i / C_i of each camera: the summed execution time, on the camera, of the
        tasks of the requests that arrive at it, seconds.
    spread
        max(t_max − t_mean, t_mean − t_min), seconds; unbalanced when > δ1.
    requests_per_camera
        A / n; heavy when ≥ δ2.
    """

    camera_times: dict[str, float]
    spread: float
    requests_per_camera: float
    unbalanced: bool
    heavy: bool

    @property
    def condition(self) -> str:
        """``"U-H"``, ``"U-L"``, ``"B-H"`` or ``"B-L"``."""
        return f"{'U' if self.unbalanced else 'B'}-{'H' if self.heavy else 'L'}"


def dhs_cameras(problem: Problem) -> tuple[Node, ...]:
    """The nodes with role ``camera``; if none has that role, every node but ``storage``
    nodes (which run no requests of their own), and every node if all are storage."""
    cluster = problem.cluster
    return (
        cluster.nodes_with_role("camera")
        or tuple(node for node in cluster.nodes if node.role != "storage")
        or cluster.nodes
    )


PAPER_DELTA1 = 0.1
"""The DHS paper's δ1: the spread of the cameras' loads, seconds, above which the load is
unbalanced."""

PAPER_DELTA2 = 1.0
"""The DHS paper's δ2: requests per camera above which the load is heavy."""


def classify_load(
    problem: Problem, delta1: float = PAPER_DELTA1, delta2: float = PAPER_DELTA2
) -> LoadClass:
    """Classify the cameras' load as the DHS paper does (eqs. 1-4).

    Unbalanced if t_max − t_mean > δ1 or t_mean − t_min > δ1; heavy if A / n ≥ δ2, with
    A the number of requests and n the number of cameras.

    Examples
    --------
    >>> from edgeoffload.model import AppRequest, Cluster, Task, TaskGraph, merge_requests
    >>> app = TaskGraph([Task("cnn", 1e9)])
    >>> cams = Cluster([Node("c1", 1e9, role="camera"), Node("c2", 1e9, role="camera")])
    >>> p = merge_requests([AppRequest("r1", app, "c1"), AppRequest("r2", app, "c1")], cams)
    >>> classify_load(p).condition, classify_load(p).camera_times
    ('U-H', {'c1': 2.0, 'c2': 0.0})
    """
    cameras = dhs_cameras(problem)
    costs = problem.costs
    times = dict.fromkeys((c.id for c in cameras), 0.0)
    arrival_nodes = [problem.arrival_node(r) for r in range(len(problem.effective_requests))]
    for i, task in enumerate(problem.graph.tasks):
        home = arrival_nodes[problem.request_index_of_task(i)]
        if home in times:
            times[home] += costs.exec_time(task.id, home)
    values = list(times.values())
    mean = sum(values) / len(values)
    spread = max(max(values) - mean, mean - min(values))
    load = len(problem.effective_requests) / len(cameras)
    return LoadClass(times, spread, load, *_classes(spread, load, delta1, delta2))


def _classes(spread: float, load: float, delta1: float, delta2: float) -> tuple[bool, bool]:
    """(unbalanced, heavy): the paper's rule on the two figures."""
    return spread > delta1, load >= delta2


def dhs_choice(
    spread: float,
    requests_per_camera: float,
    delta1: float = PAPER_DELTA1,
    delta2: float = PAPER_DELTA2,
) -> str:
    """The scheduler DHS (with its default algorithms) picks for these load figures."""
    unbalanced, heavy = _classes(spread, requests_per_camera, delta1, delta2)
    load = LoadClass({}, spread, requests_per_camera, unbalanced, heavy)
    return DHSScheduler(delta1=delta1, delta2=delta2).choose(load)


class DHSScheduler(Scheduler):
    """DHS: classify the cameras' load, then schedule with the algorithm for that condition.

    Parameters
    ----------
    delta1
        Balance threshold δ1, seconds (default 0.1, the paper's).
    delta2
        Load threshold δ2, requests per camera (default 1, the paper's).
    heavy, light_unbalanced, light_balanced
        Scheduler used in each condition (defaults: the paper's PEFT, CPOP and HEFT).

    Notes
    -----
    The result's details carry ``dhs``: the condition found, the scheduler chosen and the
    figures behind them. The paper leaves the unit of δ1 open; seconds is the natural
    reading of t_i = w_i / C_i. Cameras are the nodes with role ``camera`` (every node if
    none has it); a request counts towards the camera it arrives at.

    References
    ----------
    The seed paper (Korean), summarised in the project's ``docs/papers.md``; the rule as built is in
    ``docs/schedulers.md`` ("DHS").
    """

    name: ClassVar[str] = "dhs"
    summary: ClassVar[str] = (
        "DAG-task Hybrid Scheduling: classify the load (δ1, δ2), then PEFT, CPOP or HEFT"
    )

    def __init__(
        self,
        *,
        delta1: float = PAPER_DELTA1,
        delta2: float = PAPER_DELTA2,
        heavy: str = "peft",
        light_unbalanced: str = "cpop",
        light_balanced: str = "heft",
    ) -> None:
        self.delta1 = check_number(delta1, "delta1")
        self.delta2 = check_number(delta2, "delta2")
        for label, choice in (
            ("heavy", heavy),
            ("light_unbalanced", light_unbalanced),
            ("light_balanced", light_balanced),
        ):
            if not isinstance(choice, str) or choice == self.name:
                raise ModelError(f"must name another scheduler, got {choice!r}", label)
        self.heavy = heavy
        self.light_unbalanced = light_unbalanced
        self.light_balanced = light_balanced

    def __repr__(self) -> str:
        return f"DHSScheduler(delta1={self.delta1!r}, delta2={self.delta2!r})"

    def choose(self, load: LoadClass) -> str:
        """The scheduler name for a load condition."""
        if load.heavy:
            return self.heavy
        return self.light_unbalanced if load.unbalanced else self.light_balanced

    def schedule(self, problem: Problem) -> Schedule:
        load = classify_load(problem, self.delta1, self.delta2)
        chosen = self.choose(load)
        inner = get_scheduler(chosen).schedule(problem)
        report: dict[str, Any] = {
            "condition": load.condition,
            "chosen": chosen,
            "camera_times": load.camera_times,
            "spread": load.spread,
            "requests_per_camera": load.requests_per_camera,
            "delta1": self.delta1,
            "delta2": self.delta2,
        }
        return inner.renamed(self.name, {**inner.details, "dhs": report})
