"""Streams of camera frames, each scheduled on arrival against the cluster's current state.

A :class:`FrameStream` emits frames (application requests) at one camera, periodically or
as a seeded Poisson process. :func:`simulate_stream` runs all streams on one simulated
cluster: when a frame arrives, a :class:`Planner` schedules its DAG with every node
marked busy until the end of the work already planned on it (``Node.available_from``),
its tasks join the nodes' queues behind that work, and the engine runs them. Admission
rules drop frames when a camera has too many in flight or when the plan already misses
the frame's deadline.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, get_args

import numpy as np

from edgeoffload.errors import ModelError
from edgeoffload.model import AppRequest, Cluster, Problem, Request, merge_requests
from edgeoffload.model.checks import check_id, check_number
from edgeoffload.model.task_graph import NodeId, TaskGraph
from edgeoffload.schedulers import Scheduler, get_scheduler
from edgeoffload.schedulers.dhs import (
    PAPER_DELTA1,
    PAPER_DELTA2,
    LoadWindow,
    dhs_cameras,
    dhs_choice,
)
from edgeoffload.simulation.batch import ExecTimes, collect_result, edge_arrays
from edgeoffload.simulation.config import SimConfig
from edgeoffload.simulation.engine import Engine
from edgeoffload.simulation.records import RequestResult, SimResult

__all__ = [
    "ARRIVAL_PROCESSES",
    "FrameStream",
    "LocalPlanner",
    "Placement",
    "Planner",
    "RequestTemplate",
    "SchedulerPlanner",
    "StreamResult",
    "WindowedDHSPlanner",
    "simulate_stream",
]

ArrivalProcess = Literal["periodic", "poisson"]
ARRIVAL_PROCESSES: tuple[str, ...] = get_args(ArrivalProcess)

_FAR = 1e15  # available_from of a failed node, seconds: later than any plan would use it


@dataclass(frozen=True, slots=True)
class FrameStream:
    """Frames of one application arriving at one camera.

    Parameters
    ----------
    camera
        Node the frames arrive at.
    app
        The application DAG each frame runs (e.g. a DNN's layer graph).
    rate
        Frames per second, > 0.
    process
        ``"periodic"`` (a frame every ``1 / rate`` s from ``start``) or ``"poisson"``
        (exponential gaps of mean ``1 / rate`` s, drawn from the run's generator).
    start, duration
        Frames arrive in ``[start, start + duration)``, seconds.
    input_data
        Bytes of each frame's input (the image), sent to the application's entry tasks.
    deadline
        Latency bound of each frame, seconds, if any.
    name
        Label of the stream; frames are named ``NAME#k`` (default ``CAMERA``).
    """

    camera: NodeId
    app: TaskGraph
    rate: float
    process: ArrivalProcess = "periodic"
    start: float = 0.0
    duration: float = 1.0
    input_data: float = 0.0
    deadline: float | None = None
    name: str = ""

    def __post_init__(self) -> None:
        check_id(self.camera, "stream.camera")
        where = f"stream {self.name or self.camera!r}"
        check_number(self.rate, f"{where}.rate", positive=True)
        if self.process not in ARRIVAL_PROCESSES:
            raise ModelError(
                f"must be one of {', '.join(ARRIVAL_PROCESSES)}; got {self.process!r}",
                f"{where}.process",
            )
        check_number(self.start, f"{where}.start")
        check_number(self.duration, f"{where}.duration")
        check_number(self.input_data, f"{where}.input_data")
        if self.deadline is not None:
            check_number(self.deadline, f"{where}.deadline", positive=True)
        if "/" in self.name or "#" in self.name:
            raise ModelError("may not contain '/' or '#'", f"{where}.name")

    @property
    def label(self) -> str:
        return self.name or self.camera

    def arrivals(self, rng: np.random.Generator) -> np.ndarray:
        """Arrival times of the frames, seconds (Poisson draws come from ``rng``)."""
        end = self.start + self.duration
        if self.process == "periodic":
            count = math.ceil(self.duration * self.rate - 1e-9)
            times = self.start + np.arange(max(count, 0)) / self.rate
            return times[times < end]
        expected = self.duration * self.rate
        times_list: list[float] = []
        t = self.start
        while True:
            batch = max(16, int(expected * 1.2) + 16)
            gaps = rng.exponential(1.0 / self.rate, batch)
            for gap in gaps.tolist():
                t += gap
                if t >= end:
                    return np.asarray(times_list, dtype=float)
                times_list.append(t)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where and when a planner put each task of one frame (template task order).

    ``node`` indexes the cluster's nodes; ``start`` and ``finish`` are seconds.
    """

    node: Sequence[int]
    start: Sequence[float]
    finish: Sequence[float]
    algorithm: str = ""
    early_source: bool = False
    """Whether the frame's source (task 0, zero work) is dispatched at arrival, outside
    the camera's queue, while the camera's processor is still busy with earlier work."""


class RequestTemplate:
    """One stream's frame as a single-request problem, built once and reused per frame.

    Parameters
    ----------
    stream
        The stream.
    cluster
        The cluster.
    like
        A template of another stream with the same application and input size: its
        tables are shared (they do not depend on the camera), which keeps many streams
        cheap.

    Attributes
    ----------
    stream, cluster
        What it was made for.
    camera
        Index of the stream's camera in the cluster.
    problem
        The frame as a problem arriving at time 0 on the cluster with nothing busy (its
        task ids are ``frame/TASK``, the source ``frame/input`` is task 0); built on first
        use.
    exec
        T×P execution times, seconds (the cost model's values).
    order
        Task indexes in topological order.
    """

    _SHARED = (  # what depends only on the app, its input size and the cluster
        "exec",
        "exec_rows",
        "in_degree",
        "local_ids",
        "order",
        "position",
        "position_list",
        "succ_data",
        "succ_ptr",
        "succ_target",
    )
    __slots__ = ("_problem", "camera", "cluster", "stream", *_SHARED)

    def __init__(
        self, stream: FrameStream, cluster: Cluster, like: RequestTemplate | None = None
    ) -> None:
        self.stream = stream
        self.cluster = cluster
        self.camera = cluster.index(stream.camera)
        self._problem: Problem | None = None
        if (
            like is not None
            and like.stream.app is stream.app
            and like.stream.input_data == stream.input_data
            and like.cluster is cluster
        ):
            for name in self._SHARED:
                setattr(self, name, getattr(like, name))
            return
        problem = self.problem
        graph = problem.graph
        n = len(graph)
        times = ExecTimes(problem)
        self.exec: np.ndarray = np.stack([times.row(i) for i in range(n)])
        self.exec_rows: list[list[float]] = self.exec.tolist()
        self.local_ids = tuple(t.id.split("/", 1)[1] for t in graph.tasks)
        self.order: tuple[int, ...] = graph.topological_order
        position = np.empty(n, dtype=np.int64)
        position[np.asarray(graph.topological_order, dtype=np.int64)] = np.arange(n)
        self.position = position
        self.position_list: list[int] = position.tolist()
        source, target, data = edge_arrays(problem)
        by_source = np.argsort(source, kind="stable")
        ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(source, minlength=n), out=ptr[1:])
        self.succ_ptr: list[int] = ptr.tolist()
        self.succ_target: list[int] = target[by_source].tolist()
        self.succ_data: list[float] = data[by_source].tolist()
        self.in_degree: list[int] = np.bincount(target, minlength=n).tolist()

    @property
    def problem(self) -> Problem:
        if self._problem is None:
            stream = self.stream
            request = AppRequest("frame", stream.app, stream.camera, 0.0, stream.input_data)
            self._problem = merge_requests([request], self.cluster)
        return self._problem


class Planner(Protocol):
    """Schedules one frame on arrival.

    To implement one: give it a ``name`` and a :meth:`plan` that returns a
    :class:`Placement` for the template's tasks, no task starting before ``arrival`` or
    before ``available_from[p]`` on its node ``p``; pass it as ``simulate_stream(...,
    planner=...)``.
    """

    name: str

    def plan(
        self, template: RequestTemplate, arrival: float, available_from: Sequence[float]
    ) -> Placement: ...


class SchedulerPlanner:
    """Plan each frame with a registered scheduler (HEFT, DHS, ...), as its own problem.

    Each frame becomes a one-request problem arriving at ``arrival`` on the cluster with
    every node's ``available_from`` set to when the work already planned on it ends.

    Parameters
    ----------
    scheduler
        A scheduler or a registered name (with ``params``).
    early_dispatch
        The frame's source task (zero work, pinned to the camera) stands for the camera
        handing the image to its radio, which it can do while its processor is busy. The
        schedulers' model cannot say so (``available_from`` holds every task back), so
        with ``early_dispatch`` (default) the planner first plans with the camera free
        from the arrival on; if that plan puts no computation on the camera before the
        camera's earlier work ends, it is kept and the source is dispatched at arrival,
        outside the camera's queue. Otherwise the frame is planned again with the camera
        busy, the source included.
    """

    def __init__(
        self, scheduler: Scheduler | str, *, early_dispatch: bool = True, **params: object
    ) -> None:
        self.scheduler = (
            get_scheduler(scheduler, **params) if isinstance(scheduler, str) else scheduler
        )
        self.name = self.scheduler.name
        self.early_dispatch = early_dispatch

    def plan(
        self, template: RequestTemplate, arrival: float, available_from: Sequence[float]
    ) -> Placement:
        camera = template.camera
        busy_until = available_from[camera]
        if self.early_dispatch and busy_until > arrival:
            relaxed = list(available_from)
            relaxed[camera] = arrival
            placement = self._plan(template, arrival, relaxed)
            if all(
                start >= busy_until
                for i, (p, start) in enumerate(zip(placement.node, placement.start, strict=True))
                if p == camera and i != 0
            ):
                return dataclasses.replace(placement, early_source=True)
        return self._plan(template, arrival, available_from)

    def _plan(
        self, template: RequestTemplate, arrival: float, available_from: Sequence[float]
    ) -> Placement:
        base = template.problem
        cluster = base.cluster
        nodes = [
            dataclasses.replace(node, available_from=float(t)) if t > 0 else node
            for node, t in zip(cluster.nodes, available_from, strict=True)
        ]
        problem = Problem(
            base.graph,
            Cluster(nodes, cluster.links, cluster.default_link),
            [Request("frame", arrival)],
            base.exec_times,
        )
        reason = self.scheduler.applies_to(problem)
        if reason is not None:
            raise ModelError(reason, self.name)
        schedule = self.scheduler.schedule(problem)
        index = {node_id: p for p, node_id in enumerate(cluster.node_ids)}
        placed = [schedule.assignment(t.id) for t in base.graph.tasks]
        return Placement(
            [index[a.node] for a in placed],
            [a.start for a in placed],
            [a.finish for a in placed],
            schedule.algorithm,
        )


class WindowedDHSPlanner:
    """DHS live: classify the load over a sliding window of arrivals, then plan each frame
    with the list scheduler the paper picks for that class.

    Each frame is recorded in a :class:`~edgeoffload.schedulers.dhs.LoadWindow` (its
    execution time on its camera, at its arrival); the class of the window at the frame's
    arrival picks PEFT (heavy), CPOP (light, unbalanced) or HEFT (light, balanced), which
    plans the frame around the work already placed, as :class:`SchedulerPlanner` does.
    (The ``dhs`` scheduler given one frame at a time sees a batch of one request, so it
    always finds the load light.) The placement's ``algorithm`` is the scheduler that
    placed the frame; :attr:`switches` lists every change of scheduler.

    Parameters
    ----------
    window, delta1, delta2
        As for :class:`~edgeoffload.schedulers.dhs.LoadWindow` (default 1 s and the
        paper's thresholds).
    """

    name = "dhs-window"

    def __init__(
        self, *, window: float = 1.0, delta1: float = PAPER_DELTA1, delta2: float = PAPER_DELTA2
    ) -> None:
        self.window, self.delta1, self.delta2 = window, delta1, delta2
        LoadWindow(["x"], window=window, delta1=delta1, delta2=delta2)  # check the values now
        self._load: LoadWindow | None = None
        self._planners: dict[str, SchedulerPlanner] = {}
        self.switches: list[tuple[float, str, str, str]] = []
        """(arrival, from, to, load condition) at each change of scheduler."""
        self.placed: dict[str, int] = {}
        """Frames each scheduler placed."""

    def plan(
        self, template: RequestTemplate, arrival: float, available_from: Sequence[float]
    ) -> Placement:
        cluster = template.cluster
        if self._load is None:
            cameras = [n.id for n in dhs_cameras(cluster)]
            self._load = LoadWindow(
                cameras, window=self.window, delta1=self.delta1, delta2=self.delta2
            )
        camera = cluster.node_ids[template.camera]
        if camera in self._load.cameras:
            self._load.record(camera, arrival, float(template.exec[:, template.camera].sum()))
        load = self._load.classify(arrival)
        chosen = dhs_choice(load.spread, load.requests_per_camera, self.delta1, self.delta2)
        previous = self.switches[-1][2] if self.switches else None
        if chosen != previous:
            self.switches.append((arrival, previous or "", chosen, load.condition))
        self.placed[chosen] = self.placed.get(chosen, 0) + 1
        planner = self._planners.get(chosen)
        if planner is None:
            planner = self._planners[chosen] = SchedulerPlanner(chosen)
        return planner.plan(template, arrival, available_from)


class LocalPlanner:
    """Cheap plan: the whole frame on its camera, tasks in topological order, no insertion.

    O(tasks) per frame with no problem built; for very large runs and benchmarks.
    """

    name = "local-fifo"

    def plan(
        self, template: RequestTemplate, arrival: float, available_from: Sequence[float]
    ) -> Placement:
        p = template.camera
        column = template.exec[:, p].tolist()
        n = len(column)
        start = [0.0] * n
        finish = [0.0] * n
        t = max(arrival, available_from[p])
        for i in template.order:
            start[i] = t
            t = t + column[i]
            finish[i] = t
        return Placement([p] * n, start, finish, self.name)


@dataclass(frozen=True, slots=True)
class StreamResult:
    """What a stream run did.

    Attributes
    ----------
    algorithm
        The planner's name.
    frames, admitted, completed, dropped
        Frames that arrived, were admitted, finished, and were refused on arrival.
    deadline_misses
        Frames with a deadline that finished late, were dropped or did not finish.
    latency_mean, latency_p50, latency_p90, latency_p95, latency_p99, latency_max
        Over completed frames, seconds (``nan`` if none).
    predicted_latency_mean
        Mean of the planner's latencies of admitted frames, seconds.
    throughput
        Completion rate, frames per second: (completed − 1) / (last completion − first
        completion); 0 with fewer than two completions.
    offered_rate
        Frames per second that arrived over the streams' window.
    max_in_flight, mean_in_flight
        Frames admitted and not yet finished, over the whole cluster: the largest count
        and the time-average over the run.
    max_in_flight_per_camera
        Largest count per camera.
    sim
        The underlying run (its requests include the dropped frames).
    scheduling_seconds, simulation_seconds
        Wall-clock time spent planning frames and in the rest of the run (not compared).
    """

    algorithm: str
    frames: int
    admitted: int
    completed: int
    dropped: int
    deadline_misses: int
    latency_mean: float
    latency_p50: float
    latency_p90: float
    latency_p95: float
    latency_p99: float
    latency_max: float
    predicted_latency_mean: float
    throughput: float
    offered_rate: float
    max_in_flight: int
    mean_in_flight: float
    max_in_flight_per_camera: dict[NodeId, int]
    sim: SimResult
    scheduling_seconds: float = field(default=0.0, compare=False)
    simulation_seconds: float = field(default=0.0, compare=False)


class _Availability(Sequence[float]):
    """When each node is free for a new frame: the plan's end on it, or now (O(1) each)."""

    __slots__ = ("_alive", "_free", "_now")

    def __init__(self, now: float, free: list[float], alive: list[bool]) -> None:
        self._now, self._free, self._alive = now, free, alive

    def __len__(self) -> int:
        return len(self._free)

    def __getitem__(self, p: int) -> float:  # type: ignore[override]
        if not self._alive[p]:
            return _FAR
        free = self._free[p]
        return free if free > self._now else self._now


@dataclass(slots=True)
class _Frame:
    name: str
    stream: int
    camera: int
    arrival: float
    deadline: float | None
    engine_request: int = -1
    base: int = -1
    predicted_finish: float | None = None
    dropped: bool = False


def simulate_stream(
    cluster: Cluster,
    streams: Sequence[FrameStream],
    planner: Planner | Scheduler | str = "dhs",
    config: SimConfig | None = None,
    *,
    rng: np.random.Generator | int | None = None,
    max_in_flight: int | None = None,
    drop_late: bool = False,
) -> StreamResult:
    """Run camera frame streams on ``cluster``, scheduling each frame when it arrives.

    Parameters
    ----------
    cluster
        The nodes and links.
    streams
        The frame streams.
    planner
        A :class:`Planner`, a :class:`~edgeoffload.schedulers.Scheduler`, or a scheduler
        name (default ``"dhs"``); schedulers are wrapped in :class:`SchedulerPlanner`.
    config
        Simulator assumptions (default :class:`SimConfig` with ``record_trace=False``).
    rng
        Generator or seed (default 0): Poisson arrivals first (stream by stream), then
        variability.
    max_in_flight
        Queue bound: a frame arriving at a camera that already has this many frames in
        flight (admitted, not finished) is dropped.
    drop_late
        Admission rule: drop a frame whose planned latency already exceeds its deadline.

    Returns
    -------
    StreamResult

    Notes
    -----
    The cluster's state a frame is planned against is the plan so far: each node is busy
    until the latest planned finish on it (or the arrival, if later). Under the
    schedulers' assumptions the run follows the plans exactly; with variability or
    contention it runs behind or ahead of them, and the queues absorb the difference.
    A failed node is marked busy for ever (``available_from`` 10¹⁵ s), and frames
    arriving at a failed camera are dropped.
    """
    if not streams:
        raise ModelError("at least one stream is needed", "streams")
    config = config or SimConfig(record_trace=False)
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(0 if rng is None else rng)
    if max_in_flight is not None and max_in_flight < 1:
        raise ModelError(f"must be >= 1, got {max_in_flight}", "max_in_flight")
    if isinstance(planner, str | Scheduler):
        planner = SchedulerPlanner(planner)
    for s in streams:
        if s.camera not in cluster:
            raise ModelError(f"unknown node {s.camera!r}", f"stream {s.label!r}.camera")
    templates: list[RequestTemplate] = []
    shared: dict[tuple[int, float], RequestTemplate] = {}  # streams of one app share tables
    for s in streams:
        template = RequestTemplate(s, cluster, shared.get((id(s.app), s.input_data)))
        shared.setdefault((id(s.app), s.input_data), template)
        templates.append(template)
    frames: list[_Frame] = []
    for k, s in enumerate(streams):
        for j, t in enumerate(s.arrivals(rng).tolist()):
            frames.append(_Frame(f"{s.label}#{j}", k, cluster.index(s.camera), t, s.deadline))
    names = [f.name for f in frames]
    if len(set(names)) != len(names):
        raise ModelError("two streams share a name; give them distinct names", "streams")
    frames.sort(key=lambda f: (f.arrival, f.stream))
    owner: list[_Frame] = []  # engine request index -> frame

    def exec_row(i: int) -> np.ndarray:
        frame = owner[engine.t_req[i]]
        row: np.ndarray = templates[frame.stream].exec[i - frame.base]
        return row

    latency, bandwidth = cluster.link_matrices()
    engine = Engine(cluster.nodes, latency, bandwidth, config, rng, exec_row)
    n_nodes = len(cluster)
    planned_free = [n.available_from for n in cluster.nodes]
    in_flight = [0] * n_nodes
    max_per_camera = [0] * n_nodes
    total = [0, 0]  # in flight now, max
    area = [0.0, 0.0]  # ∫ in-flight dt, time of last change
    spent = [0.0]

    def change(delta: int, camera: int) -> None:
        now = engine.env.now
        area[0] += total[0] * (now - area[1])
        area[1] = now
        total[0] += delta
        total[1] = max(total[1], total[0])
        in_flight[camera] += delta
        max_per_camera[camera] = max(max_per_camera[camera], in_flight[camera])

    def done(r: int, now: float) -> None:
        change(-1, owner[r].camera)

    engine.on_request_done = done

    def arrive(ev: object) -> None:
        engine.events += 1
        frame = frames[ev._value]  # type: ignore[attr-defined]
        now = engine.env.now
        if not engine.n_alive[frame.camera] or (
            max_in_flight is not None and in_flight[frame.camera] >= max_in_flight
        ):
            frame.dropped = True
            return
        template = templates[frame.stream]
        available = _Availability(now, planned_free, engine.n_alive)
        tick = time.perf_counter()
        placement = planner.plan(template, now, available)
        spent[0] += time.perf_counter() - tick
        predicted = max(placement.finish, default=now)
        if drop_late and frame.deadline is not None and predicted - now > frame.deadline:
            frame.dropped = True
            return
        frame.predicted_finish = predicted
        r = engine.add_request(now, gated=False)
        owner.append(frame)
        frame.engine_request = r
        change(+1, frame.camera)
        for p, f in zip(placement.node, placement.finish, strict=True):
            if f > planned_free[p]:
                planned_free[p] = f
        starts, finishes, position = placement.start, placement.finish, template.position_list
        order = sorted(range(len(position)), key=lambda i: (starts[i], finishes[i], position[i]))
        nodes = list(placement.node)
        rows = template.exec_rows
        pins = [-1] * len(nodes)
        pins[0] = template.camera
        frame.base = engine.add_tasks(
            node=nodes,
            duration=[rows[i][p] for i, p in enumerate(nodes)],
            request=[r] * len(nodes),
            pin=pins,
            predicted_start=placement.start,
            predicted_finish=placement.finish,
            order=order,
            succ_ptr=template.succ_ptr,
            succ_target=template.succ_target,
            succ_data=template.succ_data,
            in_degree=template.in_degree,
            bypass=(0,) if placement.early_source else (),
        )

    for k, frame in enumerate(frames):
        engine.at(frame.arrival, arrive, k)
    wall = time.perf_counter()
    engine.run()
    wall = time.perf_counter() - wall

    request_results = []
    for frame in frames:
        finish = None
        if frame.engine_request >= 0:
            value = engine.r_finish[frame.engine_request]
            finish = None if math.isnan(value) else value
        request_results.append(
            RequestResult(
                frame.name,
                cluster.nodes[frame.camera].id,
                frame.arrival,
                finish,
                frame.predicted_finish,
                frame.deadline,
                frame.dropped,
            )
        )
    task_frame = engine.t_req

    def task_id(i: int) -> str:
        r = task_frame[i]
        frame = owner[r]
        return f"{frame.name}/{templates[frame.stream].local_ids[i - frame.base]}"

    sim = collect_result(
        engine,
        algorithm=planner.name,
        predicted_makespan=max((max(planned_free), 0.0)) if owner else 0.0,
        requests=tuple(request_results),
        task_id=task_id,
    )
    if sim.horizon > area[1]:
        area[0] += total[0] * (sim.horizon - area[1])
    return _summarise(
        planner.name,
        frames,
        request_results,
        sim,
        cluster,
        area,
        total,
        max_per_camera,
        streams,
        spent[0],
        wall - spent[0],
    )


def _summarise(
    name: str,
    frames: Sequence[_Frame],
    results: Sequence[RequestResult],
    sim: SimResult,
    cluster: Cluster,
    area: Sequence[float],
    total: Sequence[int],
    max_per_camera: Sequence[int],
    streams: Sequence[FrameStream],
    scheduling_seconds: float,
    simulation_seconds: float,
) -> StreamResult:
    latencies = np.array([r.latency for r in results if r.latency is not None], dtype=float)
    predicted = [r.predicted_latency for r in results if r.predicted_latency is not None]
    finishes = sorted(r.finish for r in results if r.finish is not None)

    def pct(q: float) -> float:
        return float(np.percentile(latencies, q)) if latencies.size else math.nan

    throughput = 0.0
    if len(finishes) >= 2 and finishes[-1] > finishes[0]:
        throughput = (len(finishes) - 1) / (finishes[-1] - finishes[0])
    window_start = min(s.start for s in streams)
    window_end = max(s.start + s.duration for s in streams)
    window = window_end - window_start
    horizon = sim.horizon
    cameras = sorted({f.camera for f in frames})
    return StreamResult(
        algorithm=name,
        frames=len(frames),
        admitted=sum(1 for f in frames if not f.dropped),
        completed=len(finishes),
        dropped=sum(1 for f in frames if f.dropped),
        deadline_misses=sum(1 for r in results if r.missed_deadline),
        latency_mean=float(latencies.mean()) if latencies.size else math.nan,
        latency_p50=pct(50),
        latency_p90=pct(90),
        latency_p95=pct(95),
        latency_p99=pct(99),
        latency_max=float(latencies.max()) if latencies.size else math.nan,
        predicted_latency_mean=sum(predicted) / len(predicted) if predicted else math.nan,
        throughput=throughput,
        offered_rate=len(frames) / window if window > 0 else math.nan,
        max_in_flight=total[1],
        mean_in_flight=area[0] / horizon if horizon > 0 else 0.0,
        max_in_flight_per_camera={cluster.nodes[c].id: max_per_camera[c] for c in cameras},
        sim=sim,
        scheduling_seconds=scheduling_seconds,
        simulation_seconds=simulation_seconds,
    )
