"""The live DHS controller: admit, classify, place and learn, one frame at a time.

:class:`Controller` holds no threads and does no I/O: the service (:mod:`.live`) calls
:meth:`Controller.admit` when a frame arrives and :meth:`Controller.finished` or
:meth:`Controller.failed` when its run ends, under one lock. What it keeps:

- **the cost model**, a :class:`~edgeoffload.model.LearnedCosts` over the calibrated
  cluster, fed every measured task and transfer; every ``relearn`` seconds the frames'
  templates are rebuilt from what it learned, so plans follow the cluster as it drifts.
  The control path (sending a frame's plans, following and collecting its run) costs time
  the task model does not see: its *overhead*, learned per camera (the frame's source
  runs there, and a slow camera answers slowly) as an exponentially weighted mean of
  ``latency − measured makespan``, is added to every prediction. What the task model
  still misses systematically (a throttled worker runs a short task at full speed and a
  frame's tasks in turn much slower; queueing behind other frames) is learned as a
  *residual*: the weighted mean of measured over predicted makespan, per camera, model
  and set of nodes used (per camera and model while that set has fewer than three runs),
  which multiplies the predicted makespan.
- **the load window**: every arrival is recorded in a
  :class:`~edgeoffload.schedulers.dhs.LoadWindow` with its work on its camera (seconds, by
  the learned model); the window's class picks PEFT, CPOP or HEFT (DHS), or the fixed
  scheduler of a baseline places every frame.
- **when each node is free**: the predicted end of the work already placed on it.
  A frame is planned around it (``Node.available_from``), as the stream simulator does,
  and its tasks' predicted finishes push it on. A run that ends late or early moves its
  nodes' free times by the same error; a node with nothing in flight is free now.
- **admission**: a frame is dropped, with a reason, when its camera's worker is lost
  (``worker-lost``), its camera already has ``max_in_flight`` frames in flight
  (``queue-full``), its camera is shedding (``shed``: every other frame, then three of
  four, ... while the camera keeps missing), or its predicted latency passes its deadline
  (``deadline``). Three deadline drops among a camera's last five frames start shedding
  for ``shed_seconds``; a shedding period without a deadline drop halves the shedding.
  A camera that has had no frame run for :data:`PROBE_AFTER` seconds runs its next one
  even if it is predicted late (``probe`` in the log), so that the model can learn that
  things got better.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgeoffload.errors import ModelError
from edgeoffload.model import Assignment, Cluster, Node, Problem, Schedule, Task, TaskGraph
from edgeoffload.model.learning import LearnedCosts
from edgeoffload.model.task_graph import NodeId
from edgeoffload.schedulers.dhs import PAPER_DELTA1, PAPER_DELTA2, LoadWindow, dhs_cameras
from edgeoffload.schedulers.dhs import dhs_choice as _dhs_choice
from edgeoffload.simulation.streams import FrameStream, Placement, RequestTemplate, SchedulerPlanner

__all__ = [
    "ALGORITHMS",
    "BASELINES",
    "DROP_REASONS",
    "DYNAMIC",
    "Admission",
    "Controller",
    "Frame",
    "StreamSource",
    "camera_sources",
    "frame_problem",
    "frame_problems",
    "scaled_graph",
]

BASELINES: tuple[str, ...] = ("local", "edge", "heft", "cpop", "peft")
"""Schedulers that place every frame the same way (beside ``dhs``, which switches)."""

DYNAMIC = "dask"
"""No placement by the controller: each frame's graph goes to Dask's own scheduler."""

ALGORITHMS: tuple[str, ...] = ("dhs", *BASELINES, DYNAMIC)
"""What ``serve`` can run: DHS, a fixed scheduler, or Dask's dynamic scheduling."""

DROP_REASONS: tuple[str, ...] = (
    "queue-full",
    "shed",
    "deadline",
    "worker-lost",
    "timeout",
    "error",
    "shutdown",
)
"""Why a frame may be dropped (the frame log's ``reason``)."""

_FAR = 1e15  # free time of a lost node (it is left out of every plan)

PROBE_AFTER = 5.0
"""Seconds after which a camera whose every frame is predicted late runs one anyway (a
probe): predictions learn only from runs, so without it a camera could starve for good."""
_SHED_AFTER = (3, 5)  # deadline drops among a camera's last frames that start shedding
_MAX_SHED = 3  # shedding level: skip 1 - 2**-level of the frames (at most 7 of 8)


@dataclass(frozen=True, slots=True)
class StreamSource:
    """What one camera's frames run: the application graph (work already scaled to the
    emulation), the input size in bytes, and each frame's deadline in seconds."""

    camera: NodeId
    model: str
    app: TaskGraph
    input_data: float
    deadline: float


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame: ``number`` counts the camera's frames from 0; ``arrival`` is seconds since
    the first frame."""

    camera: NodeId
    number: int
    arrival: float
    source: StreamSource
    payload: Any = None
    """The frame's pixels (H x W x 3 ``uint8``), or ``None`` for a synthetic frame."""
    origin: str | None = None
    """Where the pixels came from (an image's name, ``video#index``)."""

    @property
    def key(self) -> str:
        return f"{self.camera}#{self.number}"


@dataclass(slots=True)
class Admission:
    """The controller's decision on a frame.

    A dropped frame has a ``reason``; an admitted one a ``problem`` and ``schedule`` (times
    in seconds from ``planned_at``, the controller's clock when it was placed), the list
    scheduler that placed it and its predicted latency (from the arrival).
    """

    frame: Frame
    planned_at: float
    load: str
    reason: str | None = None
    scheduler: str | None = None
    problem: Problem | None = None
    schedule: Schedule | None = None
    predicted_latency: float | None = None
    nodes: tuple[NodeId, ...] = ()
    replanned: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def admitted(self) -> bool:
        return self.reason is None


def scaled_graph(graph: TaskGraph, factor: float) -> TaskGraph:
    """``graph`` with every task's work multiplied by ``factor`` (> 0)."""
    if not (math.isfinite(factor) and factor > 0):
        raise ModelError(f"must be a finite number > 0, got {factor!r}", "scale")
    if factor == 1.0:
        return graph
    tasks = [
        Task(t.id, None if t.work is None else t.work * factor, t.kind, t.pinned, t.request)
        for t in graph.tasks
    ]
    return TaskGraph(tasks, graph.dependencies)


class Controller:
    """Admission, load classification, placement and learning for a live frame service.

    Parameters
    ----------
    cluster
        The calibrated cluster (node ids = worker names).
    sources
        The applications the cameras send (one per camera and model).
    algorithm
        ``"dhs"`` (the paper's switch over a sliding window), a fixed scheduler of
        :data:`BASELINES`, or ``"dask"`` (:data:`DYNAMIC`: admission only, no placement).
    window, delta1, delta2
        DHS's load window (seconds) and thresholds (δ1 seconds, δ2 requests per camera).
    max_in_flight
        Frames per camera admitted and not finished; more are dropped (``queue-full``).
    relearn
        Seconds between rebuilds of the frames' templates from the learned costs.
    shed_seconds
        How long a camera sheds frames once it keeps missing deadlines.
    overhead
        First guess of the control path's time per frame, seconds (learned from runs).
    weight
        The newest measurement's share in the learned averages.
    learn
        ``False``: plan and predict with the calibrated figures only, no overhead and no
        residual, as a one-shot calibration would (the static model, for comparison).
    """

    def __init__(
        self,
        cluster: Cluster,
        sources: Iterable[StreamSource],
        *,
        algorithm: str = "dhs",
        window: float = 1.0,
        delta1: float = PAPER_DELTA1,
        delta2: float = PAPER_DELTA2,
        max_in_flight: int = 8,
        relearn: float = 2.0,
        shed_seconds: float = 5.0,
        overhead: float = 0.05,
        weight: float = 0.2,
        learn: bool = True,
    ) -> None:
        if algorithm not in ALGORITHMS:
            raise ModelError(
                f"unknown algorithm {algorithm!r}; use one of {', '.join(ALGORITHMS)}",
                "algorithm",
            )
        if max_in_flight < 1:
            raise ModelError(f"must be >= 1, got {max_in_flight!r}", "max_in_flight")
        self.algorithm = algorithm
        self.costs = LearnedCosts(cluster, weight=weight)
        self.weight = weight
        self.model = cluster
        self.sources = {(s.camera, s.model): s for s in sources}
        if not self.sources:
            raise ModelError("needs at least one stream", "streams")
        for camera, _ in self.sources:
            if camera not in cluster:
                raise ModelError(f"camera {camera!r} is not a node of the cluster", "streams")
        self.delta1, self.delta2 = delta1, delta2
        cameras = [n.id for n in dhs_cameras(cluster)]
        cameras += sorted({c for c, _ in self.sources} - set(cameras))
        self.window = LoadWindow(cameras, window=window, delta1=delta1, delta2=delta2)
        self.max_in_flight = int(max_in_flight)
        self.relearn = relearn
        self.shed_seconds = shed_seconds
        self.learn = learn
        self.overhead = overhead if learn else 0.0
        self.overheads: dict[NodeId, float] = {}
        self.residuals: dict[tuple[Any, ...], tuple[float, int]] = {}
        self.nodes = list(cluster.node_ids)  # the live ones, in the model's order
        self.free = dict.fromkeys(cluster.node_ids, 0.0)
        self.busy_frames = dict.fromkeys(cluster.node_ids, 0)
        self.lost: dict[NodeId, str] = {}
        self.in_flight: dict[NodeId, int] = {}
        self.last_run: dict[NodeId, float] = {}  # when each camera last had a frame run
        self.recent: dict[NodeId, deque[bool]] = {}
        self.shedding: dict[NodeId, tuple[int, float, int]] = {}  # level, until, seen
        self.switches: list[dict[str, Any]] = []
        self.current = algorithm if algorithm != "dhs" else ""
        self.why = {"dhs": "no frame yet", DYNAMIC: "Dask places every task"}.get(
            algorithm, "fixed"
        )
        self.load = ""
        self._planners: dict[str, SchedulerPlanner] = {}
        self._templates: dict[tuple[NodeId, str], RequestTemplate] = {}
        self._problems: dict[tuple[int, tuple[int, ...]], Problem] = {}
        self._learned_at = 0.0
        self._rebuild()

    # ------------------------------------------------------------------ the model
    def _rebuild(self) -> None:
        """Templates of every stream on the learned cluster without the lost nodes."""
        learned = self.costs.cluster()
        if self.lost:
            keep = [n for n in learned.nodes if n.id not in self.lost]
            links = {
                pair: link
                for pair, link in learned.links.items()
                if not set(pair) & self.lost.keys()
            }
            if not keep:  # nothing left: every camera is lost, every frame dropped
                self.nodes, self._templates = [], {}
                return
            learned = Cluster(keep, links, learned.default_link)
        cluster = learned
        self.model = cluster
        self.nodes = list(cluster.node_ids)
        self._templates = {}
        self._problems = {}
        for key, s in self.sources.items():
            if s.camera in self.lost:
                continue
            stream = FrameStream(s.camera, s.app, 1.0, input_data=s.input_data, name="frame")
            like = next(
                (t for t in self._templates.values() if t.stream.app is s.app),
                None,
            )
            self._templates[key] = RequestTemplate(stream, cluster, like)

    def relearn_now(self) -> None:
        """Rebuild the frames' templates from what was learned, now."""
        self._rebuild()

    def templates(self) -> list[tuple[str, RequestTemplate]]:
        """The model and template of every stream whose camera is alive."""
        return [(k[1], self._templates[k]) for k in sorted(self._templates)]

    def template(self, frame: Frame) -> RequestTemplate:
        return self._templates[(frame.camera, frame.source.model)]

    def _planner(self, name: str) -> SchedulerPlanner:
        planner = self._planners.get(name)
        if planner is None:
            planner = self._planners[name] = SchedulerPlanner(name)
        return planner

    def _choose(self, now: float) -> tuple[str, str]:
        """The list scheduler for a frame placed at ``now``, and the load condition."""
        load = self.window.classify(now)
        self.load = load.condition
        if self.algorithm != "dhs":
            return self.algorithm, load.condition
        chosen = _dhs_choice(load.spread, load.requests_per_camera, self.delta1, self.delta2)
        if chosen != self.current:
            self.switches.append(
                {
                    "time": now,
                    "from": self.current or None,
                    "to": chosen,
                    "load": load.condition,
                    "spread": load.spread,
                    "requests_per_camera": load.requests_per_camera,
                }
            )
            self.current = chosen
        self.why = (
            f"{load.condition}: spread {load.spread:.3g} s vs delta1 {self.delta1:g}, "
            f"{load.requests_per_camera:.3g} frames/camera in {self.window.window:g} s "
            f"vs delta2 {self.delta2:g}"
        )
        return chosen, load.condition

    # ------------------------------------------------------------------ admission
    def arrived(self, frame: Frame) -> None:
        """Count ``frame`` in the load window (every arrival counts, dropped or not)."""
        if frame.camera in self.window.cameras and frame.camera not in self.lost:
            template = self.template(frame)
            local = float(template.exec[:, template.camera].sum())
            self.window.record(frame.camera, frame.arrival, local)

    def admit(self, frame: Frame, now: float, *, replanned: int = 0) -> Admission:
        """Decide on ``frame`` at ``now`` (seconds since the first frame): drop it with a
        reason, or place it (the caller then runs the admission's schedule)."""
        if now - self._learned_at >= self.relearn:
            self._learned_at = now
            self._rebuild()
        scheduler, load = self._choose(now)
        decision = Admission(frame, now, load, scheduler=scheduler, replanned=replanned)
        camera = frame.camera
        if camera in self.lost:
            decision.reason = "worker-lost"
            return decision
        if not replanned:
            if self.in_flight.get(camera, 0) >= self.max_in_flight:
                decision.reason = "queue-full"
                return decision
            if self._shed(camera, now):
                decision.reason = "shed"
                return decision
        template = self.template(frame)
        if self.algorithm == DYNAMIC:  # Dask places it: no plan, no prediction
            decision.problem = template.problem
            decision.nodes = tuple(self.nodes)
            self.in_flight[camera] = self.in_flight.get(camera, 0) + 1
            return decision
        available = [max(0.0, self.free[n] - now) for n in self.nodes]
        try:
            placement = self._planner(scheduler).plan(template, 0.0, available)
        except ModelError:
            if not self.lost:
                raise
            decision.reason = "worker-lost"  # e.g. Edge with its edge server gone
            return decision
        waited = now - frame.arrival
        overhead = self.overheads.get(camera, self.overhead)
        used = tuple(sorted({self.nodes[p] for p in placement.node}))
        factor = self.residual(camera, frame.source.model, used)
        predicted = waited + overhead + factor * max(placement.finish)
        decision.predicted_latency = predicted
        late = predicted > frame.source.deadline
        since = self.last_run.setdefault(camera, now)  # its first frame counts as a run
        probe = late and now - since >= PROBE_AFTER
        if late and not replanned and not probe:
            decision.reason = "deadline"
            self._missed(camera, now, True)
            return decision
        if probe:  # run one anyway, so that what it measures can bring the figures back
            decision.extra["probe"] = True
        self._missed(camera, now, False)
        self.last_run[camera] = now
        decision.problem, decision.schedule = self._schedule(template, placement)
        decision.nodes = used
        for p, finish in zip(placement.node, placement.finish, strict=True):
            node = self.nodes[p]  # the residual stretches every node's share alike
            self.free[node] = max(self.free[node], now + factor * finish)
        for node in used:
            self.busy_frames[node] += 1
        self.in_flight[camera] = self.in_flight.get(camera, 0) + 1
        decision.extra["predicted_makespan"] = max(placement.finish)
        return decision

    def _schedule(
        self, template: RequestTemplate, placement: Placement
    ) -> tuple[Problem, Schedule]:
        """The frame as a problem on the nodes it uses only (a run talks to every node of
        its problem: the others are spared its messages), and its schedule."""
        ids = self.nodes
        used = tuple(sorted(set(placement.node)))
        key = (id(template), used)
        problem = self._problems.get(key)
        if problem is None:
            base = template.problem
            keep = {ids[p] for p in used}
            cluster = self.model
            sub = Cluster(
                [n for n in cluster.nodes if n.id in keep],
                {pair: link for pair, link in cluster.links.items() if set(pair) <= keep},
                cluster.default_link,
            )
            problem = self._problems[key] = base.with_cluster(sub)
        assignments = [
            Assignment(t.id, ids[p], s, f)
            for t, p, s, f in zip(
                problem.graph.tasks, placement.node, placement.start, placement.finish, strict=True
            )
        ]
        return problem, Schedule(placement.algorithm or "live", assignments)

    def _shed(self, camera: NodeId, now: float) -> bool:
        """Whether to skip this frame of ``camera`` (shedding lowers its rate)."""
        state = self.shedding.get(camera)
        if state is None:
            return False
        level, until, seen = state
        if now >= until:
            missed = sum(self.recent.get(camera, ()))
            level = level - 1 if missed == 0 else level
            if level <= 0:
                del self.shedding[camera]
                return False
            until = now + self.shed_seconds
        seen += 1
        self.shedding[camera] = (level, until, seen)
        period: int = 2**level
        return bool(seen % period)

    def _missed(self, camera: NodeId, now: float, missed: bool) -> None:
        recent = self.recent.setdefault(camera, deque(maxlen=_SHED_AFTER[1]))
        recent.append(missed)
        if missed and sum(recent) >= _SHED_AFTER[0]:
            level, _, seen = self.shedding.get(camera, (0, 0.0, 0))
            self.shedding[camera] = (min(level + 1, _MAX_SHED), now + self.shed_seconds, seen)
            recent.clear()

    def residual(self, camera: NodeId, model: str, nodes: tuple[NodeId, ...]) -> float:
        """The learned factor on a frame's predicted makespan (1 before any run)."""
        fine = self.residuals.get((camera, model, nodes))
        if fine is not None and fine[1] >= 3:
            return math.exp(fine[0])
        coarse = self.residuals.get((camera, model))
        return 1.0 if coarse is None else math.exp(coarse[0])

    def shed_level(self, camera: NodeId) -> float:
        """The share of ``camera``'s frames being skipped now (0 when not shedding)."""
        state = self.shedding.get(camera)
        return 0.0 if state is None else 1.0 - 2.0 ** -state[0]

    # ------------------------------------------------------------------ outcomes
    def _release(self, decision: Admission, now: float) -> None:
        camera = decision.frame.camera
        self.in_flight[camera] = max(0, self.in_flight.get(camera, 0) - 1)
        for node in decision.nodes:
            self.busy_frames[node] = max(0, self.busy_frames[node] - 1)
            if self.busy_frames[node] == 0 and node not in self.lost:
                self.free[node] = now

    def finished(
        self,
        decision: Admission,
        now: float,
        makespan: float,
        teach: Any = None,
    ) -> float:
        """``decision``'s run ended at ``now`` with its tasks done ``makespan`` s after its
        start; ``teach(costs)`` feeds the run's measurements. Returns the measured latency."""
        latency = now - decision.frame.arrival
        if decision.schedule is None:  # Dask placed it: nothing planned to compare
            self._release(decision, now)
            return latency
        if self.learn:
            self._learn(decision, now, makespan, teach)
        error = latency - (decision.predicted_latency or 0.0)  # > 0: the nodes are behind
        for node in decision.nodes:
            if node not in self.lost:
                self.free[node] = max(now, self.free[node] + error)
        self._release(decision, now)
        return latency

    def _learn(self, decision: Admission, now: float, makespan: float, teach: Any) -> None:
        """Feed a finished run to the cost model, the overhead and the residual."""
        if teach is not None:
            teach(self.costs)
        overhead = now - decision.planned_at - makespan
        if math.isfinite(overhead) and overhead >= 0:
            camera = decision.frame.camera
            old = self.overheads.get(camera)
            self.overheads[camera] = (
                overhead if old is None else old + self.weight * (overhead - old)
            )
        planned = float(decision.extra.get("predicted_makespan", 0.0))
        if planned > 0 and makespan > 0 and math.isfinite(makespan):
            ratio = math.log(makespan / planned)
            model = decision.frame.source.model
            for key in (
                (decision.frame.camera, model, decision.nodes),
                (decision.frame.camera, model),
            ):
                old_r, n = self.residuals.get(key, (ratio, 0))
                self.residuals[key] = (old_r + self.weight * (ratio - old_r) if n else ratio, n + 1)

    def failed(self, decision: Admission, now: float, lost: Iterable[NodeId] = ()) -> None:
        """``decision``'s run failed at ``now``; ``lost`` are workers found gone."""
        for node in lost:
            self.lose(node, "lost")
        self._release(decision, now)

    def lose(self, node: NodeId, why: str) -> bool:
        """Stop placing work on ``node``; ``False`` if it was already lost."""
        if node in self.lost or node not in self.free:
            return False
        self.lost[node] = why
        self.free[node] = _FAR
        self._rebuild()
        return True

    def join(self, node: Node) -> None:
        """Place work on ``node`` from now on: a worker that joined the cluster (with its
        calibrated figures), or a lost one that came back (its learned figures kept)."""
        if node.id in self.lost:
            del self.lost[node.id]
        elif node.id not in self.free:
            self.costs.add_node(node)
        self.free[node.id] = 0.0
        self.busy_frames.setdefault(node.id, 0)
        self._rebuild()

    # ------------------------------------------------------------------ views
    def state(self) -> dict[str, Any]:
        """What the live view shows: the scheduler and why, in-flight frames, shedding."""
        return {
            "scheduler": self.current,
            "why": self.why,
            "load": self.load,
            "overhead": dict(self.overheads),
            "in_flight": dict(self.in_flight),
            "shedding": {c: self.shed_level(c) for c in self.shedding},
            "lost": dict(self.lost),
        }

    def learned(self) -> Mapping[str, Any]:
        return {**self.costs.summary(), "overhead": dict(self.overheads)}


def camera_sources(
    streams: Sequence[Any],
    scale: float,
    deadline: float,
    work: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[tuple[NodeId, str], StreamSource]:
    """One :class:`StreamSource` per (camera, model) of a scenario's streams
    (:class:`~edgeoffload.workloads.scenarios.StreamSpec`), work multiplied by ``scale``;
    a stream without a deadline gets ``deadline``. ``work[model][task]`` replaces a task's
    work (a profiled figure) before the scaling."""
    out: dict[tuple[NodeId, str], StreamSource] = {}
    graphs: dict[tuple[str, str], TaskGraph] = {}
    for s in streams:
        key = (s.camera, s.model)
        if key in out:
            continue
        dnn = s.dnn()
        graph_key = (s.model, s.granularity)
        if graph_key not in graphs:
            graph = dnn.graph
            given = (work or {}).get(s.model)
            if given:
                tasks = [
                    Task(t.id, given.get(t.id, t.work), t.kind, t.pinned, t.request)
                    for t in graph.tasks
                ]
                graph = TaskGraph(tasks, graph.dependencies)
            graphs[graph_key] = scaled_graph(graph, scale)
        out[key] = StreamSource(
            s.camera,
            s.model,
            graphs[graph_key],
            float(dnn.input_bytes),
            float(s.deadline if s.deadline is not None else deadline),
        )
    return out


def frame_problems(
    streams: Sequence[Any],
    cluster: Cluster,
    work: Mapping[str, Mapping[str, float]] | None = None,
) -> list[Problem]:
    """One frame of each (camera, model) of ``streams`` as a problem on ``cluster``, work
    unscaled (``work`` as in :func:`camera_sources`): what quotas and work scales are
    computed from."""
    return [frame_problem(s, cluster) for s in camera_sources(streams, 1.0, 1.0, work).values()]


def frame_problem(source: StreamSource, cluster: Cluster) -> Problem:
    """One frame of ``source`` as a single-request problem on ``cluster`` (arriving at 0)."""
    from edgeoffload.model import AppRequest, merge_requests

    request = AppRequest("frame", source.app, source.camera, 0.0, source.input_data)
    return merge_requests([request], cluster)
