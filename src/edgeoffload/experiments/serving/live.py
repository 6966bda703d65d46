"""``edgeoffload serve``: a camera cluster serving DNN inference live (see docs/serving.md).

:func:`serve` starts (or joins) the cluster, calibrates it, scales the frames' work so that
each emulated node takes as long as the device it stands for, warms the workers up, and
then plays the scenario's streams in real time for ``duration`` seconds:

1. the main thread waits for each frame's arrival, counts it in the load window and asks
   the :class:`~.control.Controller` to drop it (with a reason) or place it;
2. a placed frame runs on the workers as a scheduled DAG
   (:func:`~edgeoffload.runtime.dag.run_dag` with the controller's schedule: every task
   on its node, results pushed worker to worker), on a bounded pool of threads;
3. when the run ends its measurements teach the controller's cost model and the frame is
   logged with its predicted and measured latency; a run that lost a worker is placed
   again on the survivors once (``replanned``), else the frame is dropped
   ``worker-lost``;
4. at the end, frames still running get ``grace`` seconds; those that do not finish are
   logged ``shutdown``. Every arrival is logged exactly once.

A ticker thread calls ``on_tick`` with a snapshot once a second (the terminal view) and
updates the Prometheus metrics, if asked for.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeoffload.errors import ModelError, OffloadTimeoutError, WorkerUnavailableError
from edgeoffload.experiments.serving.control import (
    Admission,
    Controller,
    Frame,
    StreamSource,
    camera_sources,
    frame_problems,
)
from edgeoffload.experiments.serving.inference import Inference, Synthetic, Torch, work_scale
from edgeoffload.experiments.serving.log import FrameLog, LiveStats, read_frames
from edgeoffload.experiments.serving.report import save_report, summarise
from edgeoffload.experiments.serving.sources import Pictures, arrivals
from edgeoffload.model import Cluster, Problem
from edgeoffload.model.task_graph import NodeId
from edgeoffload.workloads.scenarios import Scenario, load_scenario

if TYPE_CHECKING:
    from edgeoffload.runtime.client.session import Session

__all__ = ["DEFAULT_SCENARIO", "ServeResult", "serve"]

logger = logging.getLogger(__name__)

DEFAULT_SCENARIO = "camera-serve"
"""The shipped scenario ``edgeoffload serve`` runs by default."""

DEFAULT_DEADLINE = 1.0
"""A frame's deadline when its stream gives none, seconds."""


@dataclass(frozen=True, slots=True)
class ServeResult:
    """What a serve run did: the summary of its frame log (:func:`~.report.summarise`),
    the scheduler switches, lost workers and what the cost model learned."""

    scenario: str
    algorithm: str
    duration: float
    scale: float
    summary: Mapping[str, Any]
    switches: Sequence[Mapping[str, Any]] = ()
    lost: Mapping[str, str] = field(default_factory=dict)
    membership: Sequence[Mapping[str, Any]] = ()
    """Workers that joined or left while serving (time, node, event, detail)."""
    shutdown_seconds: float = 0.0
    notes: Sequence[str] = ()
    learned: Mapping[str, Any] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    interrupted: bool = False
    """Whether Ctrl-C ended the run early (every frame that arrived is still logged)."""
    metrics: str | None = None
    """The Prometheus endpoint's address while it ran, if any."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "interrupted": self.interrupted,
            "metrics": self.metrics,
            "algorithm": self.algorithm,
            "duration": self.duration,
            "scale": self.scale,
            **dict(self.summary),
            "switches": list(self.switches),
            "lost": dict(self.lost),
            "membership": list(self.membership),
            "shutdown_seconds": self.shutdown_seconds,
            "notes": list(self.notes),
            "learned": dict(self.learned),
            "files": dict(self.files),
        }


class _Service:
    """One serve run's moving parts (see the module docstring)."""

    def __init__(
        self,
        session: Session,
        controller: Controller,
        log: FrameLog,
        stats: LiveStats,
        *,
        grace: float,
        threads: int,
        metrics: Any = None,
        inference: Inference | None = None,
    ) -> None:
        self.session = session
        self.inference = inference or Synthetic()
        self.controller = controller
        self.log = log
        self.stats = stats
        self.grace = grace
        self.metrics = metrics
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="edgeoffload-serve")
        self.pending: dict[str, Future[None]] = {}
        self.ended: set[str] = set()
        self.stopping = threading.Event()
        self.stop_at = math.inf
        self.start = 0.0
        self.calls: dict[int, tuple[Problem, Any]] = {}
        self.frames: dict[str, Frame] = {}
        self.kinds = sorted(
            {t.kind for s in controller.sources.values() for t in s.app.tasks if t.kind}
        )
        self.joining: set[str] = set()
        self.dask: Any = None  # the Dask baseline's client (made before the first frame)
        self.join_retry: dict[str, tuple[int, float]] = {}  # failures, next attempt
        self.membership: list[dict[str, Any]] = []
        """Workers that joined or left while serving: time, node, event, detail."""

    def now(self) -> float:
        return time.monotonic() - self.start

    # ------------------------------------------------------------------ logging
    def end(self, decision: Admission, status: str, **fields: Any) -> None:
        """Log ``decision``'s frame once (a later end of the same frame is ignored)."""
        frame = decision.frame
        now = self.now()
        with self.lock:
            if frame.key in self.ended:
                return
            self.ended.add(frame.key)
        record = {
            "camera": frame.camera,
            "frame": frame.number,
            "status": status,
            "reason": decision.reason if status == "dropped" else None,
            "arrival": round(frame.arrival, 6),
            "latency": None,
            "predicted_latency": (
                None if decision.predicted_latency is None else round(decision.predicted_latency, 6)
            ),
            "scheduler": decision.scheduler
            if decision.reason not in ("queue-full", "shed", "worker-lost")
            else None,
            "model": frame.source.model,
            "load": decision.load,
            "deadline": frame.source.deadline,
            "nodes": list(decision.nodes),
            "replanned": decision.replanned,
            "input": frame.origin,
            "probe": bool(decision.extra.get("probe")),
            **fields,
        }
        self.log.write(record)
        self.stats.frame(record, now)
        if self.metrics is not None:
            self.metrics.frame(record)

    # ------------------------------------------------------------------ frames
    def offer(self, frame: Frame) -> None:
        now = self.now()
        with self.lock:
            self.controller.arrived(frame)
            decision = self.controller.admit(frame, now)
        if not decision.admitted:
            self.end(decision, "dropped")
            return
        self.submit(decision)

    def submit(self, decision: Admission) -> None:
        key = decision.frame.key
        self.frames[key] = decision.frame
        self.pending[key] = self.pool.submit(self.execute, decision)

    def _bound(self, problem: Problem, frame: Frame) -> Any:
        """The frame's problem with a call per task (synthetic kernels or the model's
        blocks), its source task making this frame's input."""
        from edgeoffload.runtime.dag import DagProblem

        cached = self.calls.get(id(problem))
        if cached is None or cached[0] is not problem:
            if len(self.calls) > 64:
                self.calls.clear()
            cached = (problem, self.inference.bind(problem, frame.source.model))
            self.calls[id(problem)] = cached
        bound = cached[1]
        source = problem.graph.tasks[0].id  # the request's source, pinned to the camera
        call = self.inference.source(frame, source)
        if call is None:
            return bound
        return DagProblem(problem, {**bound.calls, source: call}, bound.outputs)

    def execute(self, decision: Admission) -> None:
        """Run an admitted frame; whatever goes wrong, the frame ends in the log."""
        try:
            self._execute(decision)
        except Exception as exc:  # a bug of ours, or a re-placement the model refused
            logger.exception("edgeoffload serve: frame %s", decision.frame.key)
            self.drop(decision, "error", f"{type(exc).__name__}: {exc}")

    def _execute(self, decision: Admission) -> None:
        from edgeoffload.runtime.dag import run_dag

        assert decision.problem is not None
        frame = decision.frame
        budget = max(2.0, 5 * frame.source.deadline)
        to_stop = self.stop_at + self.grace - self.now()
        limit = min(budget, to_stop)
        # past its limit, a run cut short by the end is "shutdown", any other "timeout"
        late = "shutdown" if to_stop < budget else "timeout"
        if decision.schedule is None:
            self.execute_on_dask(decision, max(0.5, limit), late)
            return
        try:
            run = run_dag(
                self.session,
                self._bound(decision.problem, frame),
                schedule=decision.schedule,
                replan=False,
                deadline=max(0.5, limit),
            )
        except WorkerUnavailableError as exc:
            self._lost(decision, str(exc))
            return
        except OffloadTimeoutError as exc:
            self.drop(decision, late, str(exc))
            return
        except Exception as exc:  # a task raised: the frame ends, the service goes on
            self.drop(decision, "error", f"{type(exc).__name__}: {exc}")
            return
        now = self.now()
        with self.lock:
            latency = self.controller.finished(decision, now, run.makespan, run.teach)
        busy: dict[str, float] = {}
        for e in run.executions:
            if e.final and not e.failed:
                busy[e.node] = busy.get(e.node, 0.0) + (e.finish - e.start)
                self.stats.busy(e.node, e.finish - e.start, now)
        self.end(
            decision,
            "done",
            latency=round(latency, 6),
            missed=latency > frame.source.deadline,
            makespan=round(run.makespan, 6),
            busy={n: round(b, 6) for n, b in sorted(busy.items())},
        )

    def drop(self, decision: Admission, reason: str, detail: str) -> None:
        """``decision``'s run failed: free what it held, log the frame dropped."""
        with self.lock:
            self.controller.failed(decision, self.now())
        decision.reason = reason
        self.end(decision, "dropped", detail=detail)

    def execute_on_dask(self, decision: Admission, timeout: float, late: str) -> None:
        """The Dask baseline: the frame's graph as plain Dask tasks (the source pinned to
        its camera, the rest placed by Dask's scheduler, with work stealing)."""
        assert decision.problem is not None
        graph = decision.problem.graph
        calls = self._bound(decision.problem, decision.frame).calls
        tasks = []
        for i in graph.topological_order:
            task = graph.tasks[i]
            function = self.inference.for_dask(calls[task.id])
            tasks.append((task.id, function, list(graph.predecessors(task.id)), task.pinned))
        try:
            placed = self.dask.run(tasks, list(graph.exit_tasks()), timeout)
        except WorkerUnavailableError as exc:  # Dask recomputes what it can; this it could not
            self.drop(decision, "worker-lost", str(exc))
            return
        except OffloadTimeoutError as exc:
            self.drop(decision, late, str(exc))
            return
        except Exception as exc:
            self.drop(decision, "error", f"{type(exc).__name__}: {exc}")
            return
        now = self.now()
        with self.lock:
            latency = self.controller.finished(decision, now, math.nan)
        decision.nodes = tuple(sorted(set(placed.values())))
        self.end(
            decision,
            "done",
            latency=round(latency, 6),
            missed=latency > decision.frame.source.deadline,
        )

    def _lost(self, decision: Admission, message: str) -> None:
        """A worker of ``decision``'s run failed: find which, then place the frame again
        on the survivors once, or drop it ``worker-lost``."""
        nodes = list(decision.problem.cluster.node_ids) if decision.problem else []
        lost: list[NodeId] = []
        deadline = time.monotonic() + 3.0
        while not lost and time.monotonic() < deadline:
            usable = {w.name for w in self.session.pool.usable()}
            lost = [n for n in nodes if n not in usable]
            if not lost:
                time.sleep(0.1)
        now = self.now()
        with self.lock:
            for node in lost:
                if self.controller.lose(node, "a run failed on it"):
                    self._member(node, "lost", message)
            self.controller.failed(decision, now)
            again = None
            if not decision.replanned and not self.stopping.is_set():
                with contextlib.suppress(ModelError):  # nothing left that can take it
                    again = self.controller.admit(decision.frame, now, replanned=1)
        if again is not None and again.admitted:
            again.extra["lost"] = lost
            self.execute(again)
            return
        failed = again if again is not None else decision
        failed.reason = "worker-lost"
        self.end(failed, "dropped", detail=message, lost=lost)

    # ------------------------------------------------------------------ shutdown
    def drain(self) -> float:
        """Stop: wait up to ``grace`` s for the frames in flight, log the rest as
        ``shutdown``. Returns the seconds it took."""
        began = time.monotonic()
        self.stopping.set()
        self.stop_at = self.now()
        limit = began + self.grace
        for future in list(self.pending.values()):
            with contextlib.suppress(Exception):
                future.result(timeout=max(0.0, limit - time.monotonic()))
        with self.lock:
            stranded = [k for k, f in self.pending.items() if not f.done()]
        for key in stranded:
            frame = self.frames.get(key)
            if frame is not None:
                decision = Admission(frame, self.now(), self.controller.load, reason="shutdown")
                self.end(decision, "dropped", detail=f"still running after {self.grace:g} s")
        self.pool.shutdown(wait=False, cancel_futures=True)
        if self.dask is not None:
            self.dask.close()
        return time.monotonic() - began

    def forget_ended(self) -> None:
        """Keep the bookkeeping bounded: forget frames whose run has ended (a frame that
        never ran needs no guard against a second end)."""
        if len(self.pending) < 64 and len(self.ended) < 1024:
            return
        with self.lock:
            for key in [k for k, f in self.pending.items() if f.done()]:
                del self.pending[key]
                self.frames.pop(key, None)
            self.ended.intersection_update(self.pending)

    # ------------------------------------------------------------------ membership
    def follow_membership(self) -> None:
        """Compare the session's usable workers with the controller's nodes: a worker
        gone is lost now (before a run fails on it); a new one, or a lost one back, is
        calibrated (briefly, in the background) and then takes frames."""
        usable = {w.name for w in self.session.pool.usable()}
        with self.lock:
            alive = set(self.controller.free) - set(self.controller.lost)
            for name in sorted(alive - usable):
                if self.controller.lose(name, "left the cluster"):
                    self._member(name, "lost", "no longer usable")
        now = self.now()
        for name in sorted(usable - alive - self.joining):
            if now < self.join_retry.get(name, (0, 0.0))[1]:
                continue
            self.joining.add(name)
            threading.Thread(
                target=self._join, args=(name,), name="edgeoffload-serve-join", daemon=True
            ).start()

    def _join(self, name: str) -> None:
        from edgeoffload.runtime.client.calibration import calibrate_cluster

        try:
            models = {s.model for s in self.controller.sources.values()}
            self.inference.prepare(self.session, [name], models)
            measured = calibrate_cluster(
                self.session,
                nodes=[name],
                kinds=self.kinds,
                seconds=0.05,
                repeats=1,
                links=False,
                client_links=False,
                **self.inference.calibration(),
            ).cluster.node(name)
        except Exception as exc:  # it left again, or cannot run the kernels: back off
            failures = self.join_retry.get(name, (0, 0.0))[0] + 1
            wait = min(60.0, 2.0**failures)
            self.join_retry[name] = (failures, self.now() + wait)
            self._member(name, "not joined", f"calibration failed ({exc}); again in {wait:g} s")
        else:
            self.join_retry.pop(name, None)
            with self.lock:
                self.controller.join(measured)
            self._member(name, "joined", f"{measured.speed:.3g} FLOP/s")
        finally:
            self.joining.discard(name)

    def _member(self, name: str, event: str, detail: str) -> None:
        self.membership.append(
            {"time": round(self.now(), 3), "node": name, "event": event, "detail": detail}
        )

    def snapshot(self) -> dict[str, Any]:
        """The live view's figures: the stats' and the controller's state."""
        with self.lock:
            state = self.controller.state()
        return {**self.stats.snapshot(self.now()), **state}


def _warm_up(service: _Service, progress: Callable[[str], None]) -> None:
    """Run one frame of every stream on its camera and one with HEFT, so that code is
    loaded everywhere and the first measurements are in before the clock starts."""
    from edgeoffload.runtime.dag import run_dag

    progress("warming up the workers ...")
    session, controller = service.session, service.controller
    for model, template in controller.templates():
        app = service.inference.bind(template.problem, model)
        for algorithm in ("local", "heft"):
            run = run_dag(session, app, algorithm=algorithm)
            if controller.learn:
                run.teach(controller.costs)


def serve(
    scenario: Scenario | str = DEFAULT_SCENARIO,
    *,
    duration: float = 40.0,
    out: str | Path | None = None,
    algorithm: str = "dhs",
    session: Session | None = None,
    address: str | None = None,
    security: Any = None,
    cluster: Cluster | None = None,
    scale: float | None = None,
    budget: float | None = None,
    window: float = 1.0,
    deadline: float = DEFAULT_DEADLINE,
    max_in_flight: int | None = None,
    seed: int | None = None,
    grace: float = 8.0,
    threads: int = 32,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
    calibration_options: Mapping[str, Any] | None = None,
    frames: str | Path | None = None,
    warm_up: bool = True,
    learn: bool = True,
    torch: bool = False,
    hold: Mapping[NodeId, tuple[int, float]] | None = None,
    plots: bool = True,
    progress: Callable[[str], None] | None = None,
    on_tick: Callable[[dict[str, Any]], None] | None = None,
    on_start: Callable[[_Service], None] | None = None,
) -> ServeResult:
    """Serve the scenario's camera streams live for ``duration`` seconds.

    Parameters
    ----------
    scenario
        A scenario with ``streams`` (file, built-in name, or :class:`Scenario`); default
        :data:`DEFAULT_SCENARIO`.
    duration
        Seconds of frames, counted from the first frame (start-up, calibration and warm-up
        come before it).
    out
        Folder for ``frames.jsonl``, ``summary.json`` and the report's figures (created).
    algorithm
        ``"dhs"`` or a fixed scheduler (``local``, ``edge``, ``heft``, ``cpop``, ``peft``).
    session, address, security
        An open session, or a running cluster's address (and TLS material); default: a
        local cluster throttled in the ratio of the scenario's node speeds.
    cluster
        Plan on this cluster model instead of calibrating.
    scale
        Multiply every task's work by this; default: what makes the calibrated workers take
        as long as the scenario's devices (:func:`work_scale`).
    budget
        Cores the local cluster's workers may use together.
    window, deadline, max_in_flight
        DHS's load window (s); the deadline of frames whose stream has none (s); frames
        per camera in flight (default: the scenario's ``max_in_flight``, else 8).
    seed
        Seed of the arrivals (default: the scenario's).
    grace
        Seconds frames still running at the end may take before they are dropped.
    threads
        Frames running at once, at most.
    metrics_port, metrics_host
        Serve Prometheus metrics there (default: none; loopback unless another host).
    frames
        A folder of images or a video file: each frame carries the next picture of it
        (every camera reads it from the start, in a loop), which its source task turns
        into the model's input tensor. Default: synthetic frames (no pixels).
    warm_up
        Before the clock starts, run one frame of every stream on its camera and one
        with HEFT (code loaded everywhere, first measurements in); default on.
    learn
        ``False``: plan and predict with the calibrated model only (the static model:
        no learned speeds or links, no overhead, no residual), for comparison.
    torch
        Run real PyTorch inference (:class:`~.inference.Torch`; the ``dnn`` extra)
        instead of synthetic kernels: block-granularity AlexNet, GoogLeNet or ResNet-50,
        work not scaled (``scale`` does not apply), profiled on the fastest worker. A local
        cluster loads PyTorch and the weights at full speed, then is throttled.
    hold
        ``{worker: (process id, cores)}``: workers started on this machine (by
        ``--netem``) to hold to CPU quotas once loaded, as a local cluster's are.
    progress, on_tick
        ``progress(line)`` as the run goes on; ``on_tick(snapshot)`` once a second.

    Raises
    ------
    ModelError
        A scenario without streams, a bad option.
    """
    from edgeoffload.experiments.dag_run import scenario_session, throttle_workers
    from edgeoffload.runtime.client.calibration import calibrate_cluster

    say = progress or (lambda line: None)
    if isinstance(scenario, str):
        scenario = load_scenario(scenario)
    if not scenario.streams:
        raise ModelError("this scenario has no streams to serve", "scenario")
    if not (math.isfinite(duration) and duration > 0):
        raise ModelError(f"must be a number of seconds > 0, got {duration!r}", "duration")
    if scale is not None and not (math.isfinite(scale) and scale > 0):
        raise ModelError(f"must be a finite number > 0, got {scale!r}", "scale")
    if not (math.isfinite(deadline) and deadline > 0):
        raise ModelError(f"must be a number of seconds > 0, got {deadline!r}", "deadline")
    runner = Torch() if torch else Synthetic()
    runner.check(scenario.streams)
    if torch and scale is not None:
        raise ModelError("does not apply to real inference: its work is what it is", "scale")
    in_flight = max_in_flight or scenario.max_in_flight or 8
    pictures = None if frames is None else Pictures(frames)
    folder = None if out is None else Path(out)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    problems = frame_problems(scenario.streams, scenario.cluster)
    notes: list[str] = []
    quotas: dict[NodeId, float] = {}
    late = torch and session is None and address is None  # throttled after loading torch
    owned = (
        scenario_session(
            scenario, problems, address, security, budget, notes, quotas, throttle=not late
        )
        if session is None
        else contextlib.nullcontext(session)
    )
    metrics = None
    if metrics_port is not None:  # before the cluster: a busy port fails at once
        from edgeoffload.experiments.serving.metrics import Metrics

        metrics = Metrics(metrics_port, metrics_host, scenario.cluster.node_ids)
        say(f"metrics on http://{metrics.host}:{metrics.port}/metrics")
    models = {s.model for s in scenario.streams}
    with owned as live, _closing(metrics), contextlib.ExitStack() as held:
        dask = live.pool.dask_tasks() if algorithm == "dask" else None
        if dask is not None:
            held.callback(dask.close)
        if torch:
            say("loading PyTorch and the models' weights on every worker ...")
            runner.prepare(live, scenario.cluster.node_ids, models)
            if dask is not None:  # plain Dask runs tasks in the worker's own process
                runner.prepare_dask(dask, scenario.cluster.node_ids, models)
        if hold:
            quotas = {n: q for n, (_, q) in hold.items()}
            pids = {n: p for n, (p, _) in hold.items()}
            refused = held.enter_context(throttle_workers(live, quotas, pids))
            notes.extend(f"not throttled: {r}" for r in refused)
        elif late and quotas:
            refused = held.enter_context(throttle_workers(live, quotas))
            if refused and not notes:  # else the session said why none is throttled
                notes.append(f"workers not throttled: {'; '.join(refused)}")
        model = cluster
        if model is None:
            kinds = sorted({t.kind for p in problems for t in p.graph.tasks if t.kind})
            say("calibrating the workers ...")
            model = calibrate_cluster(
                live,
                nodes=list(scenario.cluster.node_ids),
                base=scenario.cluster,
                kinds=kinds,
                progress=say,
                **{**runner.calibration(), **dict(calibration_options or {})},
            ).cluster
        work = runner.profiled_work(live, model, models)
        delta1 = scenario.delta1
        if not runner.scales:  # real work: DHS's δ1 (device seconds) follows the workers
            factor = 1.0
            real = frame_problems(scenario.streams, scenario.cluster, work)
            slower = 1.0 / work_scale(scenario.cluster, model, problems, real)
            delta1 *= slower
            notes.append(
                f"real inference here takes {slower:.3g}x the devices' time: "
                f"DHS's delta1 scaled to {delta1:.3g} s"
            )
            say(notes[-1])
        else:
            factor = scale if scale is not None else work_scale(scenario.cluster, model, problems)
            say(f"frame work scaled by {factor:.3g} (the workers stand for the devices)")
        sources = camera_sources(scenario.streams, factor, deadline, work)
        controller = Controller(
            model,
            sources.values(),
            algorithm=algorithm,
            window=window,
            delta1=delta1,
            delta2=scenario.delta2,
            max_in_flight=in_flight,
            learn=learn,
        )
        scratch = tempfile.TemporaryDirectory(prefix="edgeoffload-serve-")
        log_path = (Path(scratch.name) if folder is None else folder) / "frames.jsonl"
        log = FrameLog(log_path)
        stats = LiveStats(scenario.cluster.node_ids)
        service = _Service(
            live,
            controller,
            log,
            stats,
            grace=grace,
            threads=threads,
            metrics=metrics,
            inference=runner,
        )
        service.dask = dask
        if warm_up:
            _warm_up(service, say)
            controller.relearn_now()
        if on_start is not None:
            on_start(service)
        try:
            shutdown, interrupted = _play(
                service, scenario, sources, duration, seed, on_tick, say, pictures
            )
        finally:
            log.close()
    with scratch:
        records = read_frames(log_path)
    played = min(duration, service.stop_at) if interrupted else duration
    summary = summarise(records, duration=played)
    result = ServeResult(
        scenario=scenario.name,
        algorithm=algorithm,
        duration=played,
        scale=factor,
        summary=summary,
        switches=tuple(controller.switches),
        lost=dict(controller.lost),
        membership=tuple(service.membership),
        shutdown_seconds=shutdown,
        notes=tuple(notes),
        learned=dict(controller.learned()),
        interrupted=interrupted,
        metrics=None if metrics is None else f"http://{metrics.host}:{metrics.port}/metrics",
    )
    if folder is not None:
        files = save_report(result.to_dict(), records, folder, plots=plots)
        result = dataclasses.replace(result, files={k: str(v) for k, v in files.items()})
    return result


@contextlib.contextmanager
def _closing(metrics: Any) -> Iterator[None]:
    try:
        yield
    finally:
        if metrics is not None:
            metrics.close()


def _play(
    service: _Service,
    scenario: Scenario,
    sources: Mapping[tuple[NodeId, str], StreamSource],
    duration: float,
    seed: int | None,
    on_tick: Callable[[dict[str, Any]], None] | None,
    say: Callable[[str], None],
    pictures: Pictures | None = None,
) -> tuple[float, bool]:
    """Play the arrivals for ``duration`` s (or until Ctrl-C), then drain; returns the
    drain's seconds and whether Ctrl-C stopped it."""
    interrupted = False
    numbers: dict[NodeId, int] = {}
    ticker_stop = threading.Event()

    def tick() -> None:
        while not ticker_stop.wait(1.0):
            try:
                service.follow_membership()
                snapshot = service.snapshot()
                if service.metrics is not None:
                    service.metrics.update(snapshot)
                if on_tick is not None:
                    on_tick(snapshot)
            except Exception as exc:  # the view, the metrics or membership: say so, go on
                say(f"the live view failed this second: {type(exc).__name__}: {exc}")

    service.start = time.monotonic()
    service.stop_at = duration  # the planned end: no run outlives it by more than the grace
    ticker = threading.Thread(target=tick, name="edgeoffload-serve-view", daemon=True)
    ticker.start()
    say(f"serving for {duration:g} s ...")
    try:
        for at, stream in _until(
            arrivals(scenario.streams, scenario.seed if seed is None else seed), duration
        ):
            delay = at - service.now()
            if delay > 0:
                time.sleep(delay)
            number = numbers.get(stream.camera, 0)
            numbers[stream.camera] = number + 1
            source = sources[(stream.camera, stream.model)]
            if pictures is None:
                frame = Frame(stream.camera, number, at, source)
            else:
                try:
                    image, origin = pictures.next(stream.camera)
                except ModelError as exc:  # a broken picture: this frame only is lost
                    frame = Frame(stream.camera, number, at, source, None, exc.where)
                    broken = Admission(frame, service.now(), "", reason="error")
                    service.end(broken, "dropped", detail=f"{exc.where}: {exc.reason}")
                    continue
                frame = Frame(stream.camera, number, at, source, image, origin)
            service.offer(frame)
            service.forget_ended()
    except KeyboardInterrupt:
        interrupted = True
        say("interrupted: finishing the frames in flight ...")
    finally:
        shutdown = service.drain()
        ticker_stop.set()
        ticker.join(timeout=2.0)
    if on_tick is not None:
        on_tick(service.snapshot())
    return shutdown, interrupted


def _until(stream: Iterator[tuple[float, Any]], duration: float) -> Iterator[tuple[float, Any]]:
    for at, s in stream:
        if at >= duration:
            return
        yield at, s
