"""DHS: DAG-task Hybrid Scheduling for a smart-camera edge cluster (the seed paper).

The load of the cameras is classified as balanced or unbalanced (threshold δ1, seconds)
and heavy or light (threshold δ2, requests per camera), and one of three list schedulers
is picked for the condition found: PEFT when heavy, CPOP when light and unbalanced, HEFT
when light and balanced. The chosen scheduler then uses every node, cameras and edge
server alike.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, ClassVar

from edgeoffload.errors import ModelError
from edgeoffload.model import Cluster, Node, Problem, Schedule
from edgeoffload.model.checks import check_number
from edgeoffload.schedulers.base import Scheduler
from edgeoffload.schedulers.registry import get_scheduler

__all__ = [
    "CONDITIONS",
    "PAPER_DELTA1",
    "PAPER_DELTA2",
    "DHSScheduler",
    "LoadClass",
    "LoadWindow",
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


def dhs_cameras(problem: Problem | Cluster) -> tuple[Node, ...]:
    """The nodes with role ``camera``; if none has that role, every node but ``storage``
    nodes (which run no requests of their own), and every node if all are storage."""
    cluster = problem.cluster if isinstance(problem, Problem) else problem
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
    return _load_class(times, len(problem.effective_requests), delta1, delta2)


def _load_class(times: dict[str, float], requests: int, delta1: float, delta2: float) -> LoadClass:
    """The paper's rule (eqs. 1-4) on the cameras' t_i and the request count A."""
    values = list(times.values())
    mean = sum(values) / len(values)
    spread = max(max(values) - mean, mean - min(values))
    load = requests / len(values)
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


class LoadWindow:
    """The DHS paper's load classification over a sliding window of arrivals, for a system
    whose cameras keep producing frames.

    The paper classifies one batch of requests; live, the batch is what arrived in the last
    ``window`` seconds. At time ``now``, over the requests that arrived in
    (now − window, now]:

    - t_i = the summed execution time, on camera i, of the requests that arrived at i
      (what :func:`classify_load` sums for a batch), seconds;
    - A / n = the number of those requests over the number of cameras n.

    Both then meet δ1 and δ2 exactly as in :func:`classify_load`. With the default window
    of 1 s, A / n is frames per camera per second and t_i the seconds of work per second
    that arrive at camera i.

    Parameters
    ----------
    cameras
        The cameras' node ids (every one counts in n and in the spread, idle or not).
    window
        Seconds of arrivals that count (default 1).
    delta1, delta2
        The thresholds (default the paper's).

    Examples
    --------
    >>> w = LoadWindow(["c1", "c2"], window=1.0)
    >>> w.record("c1", 0.0, 0.3); w.record("c1", 0.5, 0.3)
    >>> w.classify(0.9).condition, w.classify(1.4).condition  # one frame left at 1.4 s
    ('U-H', 'U-L')
    """

    def __init__(
        self,
        cameras: list[str] | tuple[str, ...],
        *,
        window: float = 1.0,
        delta1: float = PAPER_DELTA1,
        delta2: float = PAPER_DELTA2,
    ) -> None:
        if not cameras:
            raise ModelError("needs at least one camera", "cameras")
        self.window = check_number(window, "window", positive=True)
        self.delta1 = check_number(delta1, "delta1")
        self.delta2 = check_number(delta2, "delta2")
        self._times = dict.fromkeys(cameras, 0.0)
        self._arrivals: deque[tuple[float, str, float]] = deque()
        self._last = -math.inf

    @property
    def cameras(self) -> tuple[str, ...]:
        return tuple(self._times)

    def record(self, camera: str, arrival: float, seconds: float) -> None:
        """A request arrived at ``camera`` at ``arrival`` (s), ``seconds`` of work there.
        Arrivals must come in time order."""
        if camera not in self._times:
            raise ModelError(f"unknown camera {camera!r}", "camera")
        if not arrival >= self._last:  # NaN too
            raise ModelError(f"arrivals must come in time order, got {arrival!r}", "arrival")
        seconds = check_number(seconds, "seconds")
        self._last = arrival
        self._arrivals.append((arrival, camera, seconds))
        self._times[camera] += seconds

    def classify(self, now: float) -> LoadClass:
        """The load class of the arrivals in (now − window, now]."""
        arrivals = self._arrivals
        while arrivals and arrivals[0][0] <= now - self.window:
            _, camera, seconds = arrivals.popleft()
            self._times[camera] -= seconds
        if not arrivals:  # no drift left over from the sums
            self._times = dict.fromkeys(self._times, 0.0)
        times = {c: max(t, 0.0) for c, t in self._times.items()}
        return _load_class(times, len(arrivals), self.delta1, self.delta2)
