"""Run a scenario's requests for real: Local, Edge and DHS on workers, beside the prediction
and the simulation. What ``edgeoffload run`` does.

For each condition of the scenario, its requests are merged into one problem
(``merge_requests``, as DHS schedules them), every task gets a synthetic kernel that burns
its FLOP at the worker's real speed (:mod:`edgeoffload.apps.synthetic`), and each
algorithm's schedule runs on the workers named after the scenario's nodes
(:func:`~edgeoffload.runtime.dag.run_dag`). The same schedule is simulated on the same
cluster model (the scenario's network model: shared media, transfers per node; no random
variation). Three figures per case, then: *predicted* (the scheduler's makespan),
*simulated* and *measured*, and the same per request.

The cluster model the schedulers plan on is, by default, measured first
(:func:`~edgeoffload.runtime.client.calibration.calibrate_cluster`): predictions that use the
presets' figures say nothing about a loopback cluster. Without an address, a local
cluster is started whose workers are made heterogeneous by CPU quotas in the ratio of the
scenario nodes' speeds on the scenario's workload (:func:`preset_quotas`).

:func:`save_run` writes what ``edgeoffload run`` leaves in its folder (``run.json``, the
measured ``cluster.json``, Gantt charts), and :func:`calibrate_for_scenario` is
``edgeoffload calibrate-cluster``: calibrate, write the cluster file and the calibrated
scenario, check the prediction.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import math
import os
import statistics
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeoffload.errors import ModelError
from edgeoffload.model import Cluster, Problem, merge_requests
from edgeoffload.model.task_graph import NodeId
from edgeoffload.workloads.scenarios import Scenario, load_scenario

if TYPE_CHECKING:
    from edgeoffload.runtime.client.calibration import Calibration
    from edgeoffload.runtime.client.session import Session
    from edgeoffload.runtime.dag import DagRun
    from edgeoffload.simulation.records import SimResult

__all__ = [
    "DEFAULT_RUN_ALGORITHMS",
    "ClusterCalibration",
    "RunCase",
    "RunFiles",
    "ScenarioRun",
    "calibrate_for_scenario",
    "calibrated_scenario",
    "condition_problem",
    "prediction_check",
    "preset_quotas",
    "run_scenario",
    "save_calibrated_scenario",
    "save_gantts",
    "save_run",
    "scenario_document",
    "scenario_session",
    "throttle_workers",
    "workload_speeds",
]

DEFAULT_RUN_ALGORITHMS: tuple[str, ...] = ("local", "edge", "dhs")
"""The papers' comparison: every request on its camera, on the edge server, and DHS."""


def condition_problem(
    scenario: Scenario,
    condition: str | None = None,
    *,
    granularity: str | None = None,
    scale: float = 1.0,
    cluster: Cluster | None = None,
) -> Problem:
    """The problem of a scenario's condition, optionally at another DNN granularity, with
    every task's work multiplied by ``scale``, on ``cluster`` (default the scenario's)."""
    from edgeoffload.apps.synthetic import scale_work

    specs = scenario.requests(condition)
    if granularity is not None:
        specs = tuple(dataclasses.replace(s, granularity=granularity) for s in specs)
    problem = merge_requests([s.app_request() for s in specs], scenario.cluster)
    if scale != 1.0:
        problem = scale_work(problem, scale)
    return problem if cluster is None else problem.with_cluster(cluster)


def workload_speeds(cluster: Cluster, problems: Sequence[Problem]) -> dict[NodeId, float]:
    """Each node's speed on the workload: the problems' total work over the time it would
    take there (``Σ work / Σ work_k / speed_k`` over task kinds), so that a node fast at
    ``conv`` is fast for a DNN; without any work, the nodes' own ``speed``."""
    work: dict[str | None, float] = {}
    for problem in problems:
        for task in problem.graph.tasks:
            work[task.kind] = work.get(task.kind, 0.0) + float(task.work or 0.0)
    total = sum(work.values())
    if total <= 0:
        return {node.id: node.speed for node in cluster.nodes}
    return {
        node.id: total / sum(w / node.speed_for(k) for k, w in work.items())
        for node in cluster.nodes
    }


def preset_quotas(
    cluster: Cluster,
    problems: Sequence[Problem] = (),
    *,
    budget: float | None = None,
    cap: float = 1.0,
) -> dict[NodeId, float]:
    """CPU quotas (cores) in the ratio of the nodes' speeds on the workload.

    A node's speed on the workload is its total work divided by the time it would take
    there (``Σ work / Σ work_k / speed_k`` over task kinds), so a node fast at ``conv`` is
    fast for a DNN. The fastest node gets ``min(cap, budget / Σ ratios)`` cores, the others
    their share of that; ``budget`` (default 80 % of this machine's cores) is what the
    workers may use together, the rest being left to the client and the scheduler.
    """
    effective = workload_speeds(cluster, problems)
    fastest = max(effective.values())
    ratios = {n: s / fastest for n, s in effective.items()}
    budget = budget if budget is not None else 0.8 * (os.cpu_count() or 1)
    if not budget > 0:
        raise ModelError(f"must be > 0 cores, got {budget!r}", "budget")
    top = min(cap, budget / sum(ratios.values()))
    return {n: r * top for n, r in ratios.items()}


@dataclass(frozen=True, slots=True)
class RunCase:
    """One algorithm on one condition: the real runs and the simulation of its schedule."""

    condition: str
    algorithm: str
    runs: tuple[DagRun, ...]
    simulated: SimResult

    @property
    def run(self) -> DagRun:
        """The run with the median measured makespan."""
        ordered = sorted(self.runs, key=lambda r: r.makespan)
        return ordered[(len(ordered) - 1) // 2]

    @property
    def predicted_makespan(self) -> float:
        return self.run.predicted_makespan

    @property
    def simulated_makespan(self) -> float:
        return self.simulated.makespan

    @property
    def measured_makespan(self) -> float:
        return statistics.median(r.makespan for r in self.runs)

    @property
    def error(self) -> float:
        """``|measured − predicted| / measured`` of the median makespan."""
        return self._gap(self.predicted_makespan)

    @property
    def simulated_error(self) -> float:
        """``|measured − simulated| / measured``: the simulator models what the schedulers
        leave out (shared media, contended links), so this can be smaller than
        :attr:`error`."""
        return self._gap(self.simulated_makespan)

    def _gap(self, makespan: float) -> float:
        measured = self.measured_makespan
        return abs(measured - makespan) / measured if measured > 0 else 0.0

    def latencies(self) -> dict[str, dict[str, float | None]]:
        """Per request: predicted, simulated and measured (median) latency, seconds."""
        simulated = {r.id: r.latency for r in self.simulated.requests}
        out: dict[str, dict[str, float | None]] = {}
        for k, timing in enumerate(self.run.requests):
            measured = [r.requests[k].latency for r in self.runs]
            known = [m for m in measured if m is not None]
            out[timing.id] = {
                "predicted": timing.predicted_latency,
                "simulated": simulated.get(timing.id),
                "measured": statistics.median(known) if known else None,
            }
        return out

    def mean_latency(self, which: str) -> float | None:
        values = [v[which] for v in self.latencies().values()]
        known = [v for v in values if v is not None]
        return statistics.fmean(known) if known else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "condition": self.condition,
            "algorithm": self.algorithm,
            "predicted_makespan": self.predicted_makespan,
            "simulated_makespan": self.simulated_makespan,
            "measured_makespan": self.measured_makespan,
            "measured_makespans": [r.makespan for r in self.runs],
            "error": self.error,
            "simulated_error": self.simulated_error,
            "latency": self.latencies(),
            "runs": [r.to_dict() for r in self.runs],
        }


@dataclass(frozen=True, slots=True)
class ScenarioRun:
    """What :func:`run_scenario` did: the cluster model used and every case."""

    scenario: str
    cluster: Cluster
    cases: tuple[RunCase, ...]
    calibration: Calibration | None = None
    quotas: Mapping[NodeId, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def case(self, condition: str, algorithm: str) -> RunCase:
        for c in self.cases:
            if c.condition == condition and c.algorithm == algorithm:
                return c
        raise KeyError((condition, algorithm))

    @property
    def conditions(self) -> list[str]:
        """The conditions run, in the order of :attr:`cases`."""
        return list(dict.fromkeys(c.condition for c in self.cases))

    def cases_of(self, condition: str) -> list[RunCase]:
        """The cases of ``condition``, one per algorithm, in run order."""
        return [c for c in self.cases if c.condition == condition]

    def latency_vs_local(self, case: RunCase) -> float | None:
        """``case``'s mean measured latency over Local's on the same condition (1.0 for
        Local itself; the ``% Local`` column of ``edgeoffload run`` is 100 times this).

        ``None`` when the condition was not run with ``"local"``, or either mean latency
        is unknown, or Local's is 0.
        """
        local = next(
            (c for c in self.cases_of(case.condition) if c.algorithm == "local"),
            None,
        )
        base = local.mean_latency("measured") if local is not None else None
        mean = case.mean_latency("measured")
        if not base or mean is None:
            return None
        return mean / base

    def to_dict(self) -> dict[str, Any]:
        from edgeoffload.runtime.client.calibration import cluster_file_dict

        return {
            "scenario": self.scenario,
            "cluster": (
                self.calibration.to_dict()
                if self.calibration is not None
                else cluster_file_dict(self.cluster)
            ),
            "quotas": dict(self.quotas),
            "notes": list(self.notes),
            "cases": [c.to_dict() for c in self.cases],
        }

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")
        return path


@contextlib.contextmanager
def scenario_session(
    scenario: Scenario,
    problems: Sequence[Problem],
    address: str | None,
    security: Any,
    budget: float | None,
    notes: list[str],
    quotas_out: dict[NodeId, float],
    throttle: bool = True,
) -> Iterator[Session]:
    """A session on the scenario's cluster: joined at ``address``, or an embedded one of
    workers named after its nodes, throttled in the ratio of their speeds (the quotas go
    to ``quotas_out``, what could not be done to ``notes``; ``throttle=False`` starts them
    unthrottled, for :func:`throttle_workers` after a warm-up)."""
    import warnings

    from edgeoffload.runtime import WorkerSpec, connect

    nodes = scenario.cluster.node_ids
    if address is not None:
        with connect(address, security=security, wait_for_workers=len(nodes)) as session:
            yield session
        return
    from edgeoffload.runtime.host.throttle import throttle_available

    quotas = preset_quotas(scenario.cluster, problems, budget=budget)
    reason = throttle_available("auto")
    if reason is not None:
        notes.append(f"workers not throttled ({reason}): they are equally fast")
    quotas_out.update(quotas)
    specs = [
        WorkerSpec(
            n.id, role=n.role, cpu_quota=quotas[n.id] if reason is None and throttle else None
        )
        for n in scenario.cluster.nodes
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        session = connect(workers=specs)
    notes.extend(str(w.message) for w in caught)
    with session:
        yield session


def run_scenario(
    scenario: Scenario,
    *,
    address: str | None = None,
    security: Any = None,
    session: Session | None = None,
    conditions: Sequence[str] | None = None,
    algorithms: Sequence[str] = DEFAULT_RUN_ALGORITHMS,
    granularity: str | None = None,
    scale: float = 1.0,
    cluster: Cluster | None = None,
    calibrate: bool = True,
    calibration_options: Mapping[str, Any] | None = None,
    budget: float | None = None,
    repeat: int = 1,
    progress: Callable[[str], None] | None = None,
) -> ScenarioRun:
    """Run the scenario's requests for real with each algorithm; simulate each schedule.

    Parameters
    ----------
    scenario
        The scenario (its nodes name the workers).
    address, security
        A running cluster to use (TLS folder or ``Security`` for ``tls://``); default:
        start a local one throttled by :func:`preset_quotas` (``budget`` cores in all).
    session
        An open session to use instead (neither address nor a new cluster).
    conditions
        Which conditions (default: all).
    algorithms
        Schedulers to compare (default Local, Edge, DHS).
    granularity
        ``"layer"`` or ``"block"`` instead of the scenario's.
    scale
        Multiply every task's work (shorter or longer runs of the same shape).
    cluster
        The cluster model to plan on (a cluster file's); default: calibrate now, or the
        scenario's own model with ``calibrate=False``.
    calibration_options
        Passed to :func:`~edgeoffload.runtime.client.calibration.calibrate_cluster`.
    repeat
        Real runs per case (the median is reported).
    progress
        Called with a line of text as the work goes on.
    """
    from edgeoffload.apps.synthetic import synthetic_calls
    from edgeoffload.experiments.simulated import check_algorithms, sim_config
    from edgeoffload.runtime.client.calibration import calibrate_cluster
    from edgeoffload.runtime.dag import DagProblem, run_dag
    from edgeoffload.simulation import NoVariability, simulate

    say = progress or (lambda line: None)
    if not (math.isfinite(scale) and scale > 0):
        raise ModelError(f"must be a finite number > 0, got {scale!r}", "scale")
    check_algorithms(list(algorithms))
    if "edge" in algorithms and not scenario.cluster.nodes_with_role("edge"):
        raise ModelError("the Edge baseline needs a node with role 'edge'", "algorithms")
    if repeat < 1:
        raise ModelError(f"must be >= 1, got {repeat}", "repeat")
    names = list(conditions or scenario.condition_names)
    problems = {
        c: condition_problem(scenario, c, granularity=granularity, scale=scale) for c in names
    }
    if cluster is not None:
        unknown = sorted(set(scenario.cluster.node_ids) ^ set(cluster.node_ids))
        if unknown:
            raise ModelError(
                f"the cluster file's nodes differ from the scenario's: {', '.join(unknown)}",
                "cluster",
            )
    config = dataclasses.replace(
        sim_config(scenario), variability=NoVariability(), failures=(), record_trace=False
    )
    notes: list[str] = []
    quotas: dict[NodeId, float] = {}
    calibration: Calibration | None = None
    cases: list[RunCase] = []
    owned = (
        scenario_session(
            scenario, list(problems.values()), address, security, budget, notes, quotas
        )
        if session is None
        else contextlib.nullcontext(session)
    )
    with owned as live:
        if cluster is None and calibrate:
            kinds = sorted({t.kind for p in problems.values() for t in p.graph.tasks if t.kind})
            options = {"kinds": kinds, **dict(calibration_options or {})}
            say("calibrating the workers ...")
            calibration = calibrate_cluster(
                live,
                nodes=list(scenario.cluster.node_ids),
                base=scenario.cluster,
                progress=say,
                **options,
            )
            cluster = calibration.cluster
        model = cluster or scenario.cluster
        for condition, problem in problems.items():
            on_model = problem.with_cluster(model)
            app = DagProblem.bind(on_model, synthetic_calls(on_model))
            for algorithm in algorithms:
                runs = []
                for k in range(repeat):
                    run = run_dag(
                        live, app, algorithm=algorithm, params=scenario.scheduler_params(algorithm)
                    )
                    runs.append(run)
                    say(
                        f"{condition} {algorithm} run {k + 1}: predicted "
                        f"{run.predicted_makespan:.4g} s, measured {run.makespan:.4g} s"
                    )
                simulated = simulate(on_model, runs[0].schedule, config)
                cases.append(RunCase(condition, algorithm, tuple(runs), simulated))
    return ScenarioRun(scenario.name, model, tuple(cases), calibration, quotas, tuple(notes))


@dataclass(frozen=True, slots=True)
class RunFiles:
    """What :func:`save_run` wrote.

    Attributes
    ----------
    run
        ``run.json``: :meth:`ScenarioRun.to_dict`.
    cluster
        ``cluster.json``, the calibration's cluster file (``None`` without a calibration).
    gantts
        The Gantt charts (none when plots were not asked for or could not be drawn).
    notes
        Why charts are missing (a chart is a by-product: failing to draw one is no error).
    """

    run: Path
    cluster: Path | None = None
    gantts: tuple[Path, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def paths(self) -> list[Path]:
        """Every file written, ``run.json`` first."""
        return [self.run, *([self.cluster] if self.cluster is not None else []), *self.gantts]


def save_run(result: ScenarioRun, folder: str | Path, *, plots: bool = True) -> RunFiles:
    """Write a run's files to ``folder`` (made if missing), as ``edgeoffload run`` does.

    ``run.json`` (:meth:`ScenarioRun.save`); ``cluster.json`` when the workers were
    calibrated (:meth:`~edgeoffload.runtime.client.calibration.Calibration.save`: the
    cluster file ``--cluster-file`` reads); with ``plots``, predicted-vs-measured Gantt
    charts (:func:`save_gantts`). A chart that cannot be drawn (no matplotlib, a plotting
    error) becomes a note in the result instead of an exception: the run succeeded.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    run = result.save(folder / "run.json")
    cluster = (
        result.calibration.save(folder / "cluster.json") if result.calibration is not None else None
    )
    gantts: list[Path] = []
    notes: list[str] = []
    if plots:
        if importlib.util.find_spec("matplotlib") is None:
            notes.append(
                "no Gantt charts: this needs matplotlib, which is not installed: "
                "pip install 'edgeoffload[plot]'"
            )
        else:
            try:
                gantts = save_gantts(result, folder)
            except Exception as exc:  # plots are a by-product: the run itself succeeded
                notes.append(f"no Gantt charts: {exc}")
    return RunFiles(run, cluster, tuple(gantts), tuple(notes))


def save_gantts(result: ScenarioRun, folder: str | Path) -> list[Path]:
    """Write ``gantt-<condition>-<algorithm>.png`` (predicted above measured) per case."""
    from edgeoffload.plots import save_figure
    from edgeoffload.plots.dag import plot_predicted_vs_measured

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for case in result.cases:
        run = case.run
        top, _ = plot_predicted_vs_measured(
            run.problem,
            run.schedule,
            run.measured,
            transfers=run.transfers,
            lost=[e for e in run.executions if not e.final],
        )
        safe = f"{case.condition}-{case.algorithm}".replace("/", "_")
        paths.append(save_figure(top, folder / f"gantt-{safe}.png"))
    return paths


def scenario_document(name_or_path: str | Path) -> dict[str, Any]:
    """The parsed YAML of a scenario file or of a shipped scenario (by name)."""
    from importlib import resources

    from edgeoffload.errors import ProblemFileError
    from edgeoffload.model.reading import exists, parse_yaml, read_text
    from edgeoffload.workloads.scenarios import builtin_scenario_names

    if exists(name_or_path):
        text = read_text(name_or_path, what="scenario")
    elif str(name_or_path) in builtin_scenario_names():
        folder = resources.files("edgeoffload.workloads.data.scenarios")
        text = (folder / f"{name_or_path}.yaml").read_text("utf-8")
    else:
        raise ProblemFileError("no such scenario", str(name_or_path)[:200])
    data = parse_yaml(text, str(name_or_path))
    if not isinstance(data, dict):
        raise ModelError("a scenario must be a mapping", str(name_or_path))
    return data


def calibrated_scenario(document: Mapping[str, Any], cluster: Cluster) -> dict[str, Any]:
    """A scenario document with its devices' speeds and its links replaced by ``cluster``'s
    (measured) figures: ``edgeoffload simulate`` then predicts the real cluster.

    Devices keep their other fields (role, preset for power and memory); every measured
    pair becomes a link, and the default link is dropped (every pair is listed). The
    network model (shared media, transfer mode) stays as it was.
    """
    out: dict[str, Any] = json.loads(json.dumps(document))  # a deep copy of plain data
    devices = out.get("devices") or []
    ids = {str(d.get("id")) for d in devices}
    if ids != set(cluster.node_ids):
        raise ModelError(
            "the scenario's devices and the cluster's nodes differ: "
            + ", ".join(sorted(ids ^ set(cluster.node_ids))),
            "devices",
        )
    for device in devices:
        node = cluster.node(str(device["id"]))
        device["speed"] = node.speed
        device["speed_by_kind"] = dict(node.speed_by_kind)
    network = dict(out.get("network") or {})
    network.pop("default_link", None)
    network["links"] = [
        {"between": [a, b], "bandwidth": link.bandwidth, "latency": link.latency}
        for (a, b), link in cluster.links.items()
    ]
    if cluster.default_link is not None:
        network["default_link"] = {
            "bandwidth": cluster.default_link.bandwidth,
            "latency": cluster.default_link.latency,
        }
    out["network"] = network
    out["description"] = (
        str(out.get("description", "")).strip() + " (devices and links calibrated)"
    ).strip()
    from edgeoffload.workloads.scenarios import scenario_from_dict

    scenario_from_dict(out)  # it must still be a valid scenario
    return out


def save_calibrated_scenario(source: str | Path, cluster: Cluster, path: str | Path) -> Path:
    """Write scenario ``source`` (a file or shipped name) with ``cluster``'s measured
    speeds and links (:func:`calibrated_scenario`) as YAML to ``path``; the path."""
    import yaml

    document = calibrated_scenario(scenario_document(source), cluster)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return out


def prediction_check(
    session: Session,
    scenario: Scenario,
    cluster: Cluster,
    *,
    scale: float = 1.0,
    algorithms: Sequence[str] = ("local", "dhs"),
) -> list[DagRun]:
    """Run the scenario's first condition on the live ``session`` with each of
    ``algorithms``, scheduled with ``cluster``'s (calibrated) figures and work scaled by
    ``scale``; each run's ``predicted_makespan``, ``makespan`` and ``error`` show how well
    the calibration predicts the cluster."""
    from edgeoffload.apps.synthetic import synthetic_calls
    from edgeoffload.runtime.dag import DagProblem, run_dag

    condition = scenario.condition_names[0]
    problem = condition_problem(scenario, condition, scale=scale, cluster=cluster)
    app = DagProblem.bind(problem, synthetic_calls(problem))
    return [
        run_dag(session, app, algorithm=a, params=scenario.scheduler_params(a)) for a in algorithms
    ]


@contextlib.contextmanager
def throttle_workers(
    session: Session, quotas: Mapping[NodeId, float], pids: Mapping[NodeId, int] | None = None
) -> Iterator[list[str]]:
    """Hold the local cluster's workers (or the processes ``pids`` of workers started on
    this machine otherwise) to ``quotas`` (cores) inside the ``with`` block.

    For work that must not be slowed (importing PyTorch, building weights) before the
    measured part: start the cluster unthrottled, warm it up, then throttle. Yields the
    reasons of workers that could not be throttled (empty when all were); every throttle
    is lifted on exit.
    """
    from edgeoffload.runtime.host.throttle import apply_cpu_quota, throttle_available

    if session.cluster is None and pids is None:
        raise ModelError("only the workers of a local cluster can be throttled", "session")
    problems: list[str] = []
    reason = throttle_available("auto")
    handles = []
    try:
        found: Mapping[NodeId, int | None] = (
            pids if pids is not None else session.cluster.worker_pids()  # type: ignore[union-attr]
        )
        for node, quota in quotas.items():
            pid = found.get(node)
            if reason is not None or pid is None:
                problems.append(f"{node}: {reason or 'no process'}")
                continue
            # with the processes it started already (its executor children)
            handles.append(
                apply_cpu_quota(pid, quota, name=f"worker-{node}", include_children=True)
            )
        yield problems
    finally:
        for handle in handles:
            with contextlib.suppress(Exception):
                handle.release()


@dataclass(frozen=True, slots=True)
class ClusterCalibration:
    """What :func:`calibrate_for_scenario` did.

    Attributes
    ----------
    calibration
        The measurements and the calibrated cluster model.
    path
        The cluster file written.
    scenario_path
        The calibrated scenario written, if one was asked for.
    check
        The prediction check's runs (:func:`prediction_check`), if one was asked for.
    quotas
        CPU quotas (cores) of a local cluster's workers (empty on a running cluster).
    notes
        What could not be done as asked (workers not throttled ...).
    """

    calibration: Calibration
    path: Path
    scenario_path: Path | None = None
    check: tuple[DagRun, ...] = ()
    quotas: Mapping[NodeId, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def calibrate_for_scenario(
    output: str | Path,
    scenario: Scenario | str | Path | None = None,
    *,
    source: str | Path | None = None,
    address: str | None = None,
    security: Any = None,
    budget: float | None = None,
    kinds: Iterable[str] | None = None,
    seconds: float = 0.2,
    repeats: int = 3,
    scenario_out: str | Path | None = None,
    check: bool = False,
    check_scale: float = 1.0,
    progress: Callable[[str], None] | None = None,
) -> ClusterCalibration:
    """Measure a cluster's workers into a cluster file: ``edgeoffload calibrate-cluster``.

    With a scenario, its nodes are measured: on the running cluster at ``address``
    (whose workers are named after them), or on a local cluster started for them,
    throttled in the ratio of their speeds on the scenario's workload (``budget`` cores in
    all, see :func:`scenario_session`); the scenario gives the nodes' roles and power.
    Without one, every worker of the cluster at ``address`` is measured.

    Parameters
    ----------
    output
        The cluster file to write (JSON; its folder is made).
    scenario
        A scenario, or its file or shipped name.
    source
        The scenario's file or shipped name when ``scenario`` is a :class:`Scenario`
        (needed for ``scenario_out``: the calibrated scenario keeps the file's layout).
    address, security
        A running cluster and its TLS material (a folder or ``Security``).
    budget
        Cores a local cluster's workers may use together (default 80 % of this machine's).
    kinds, seconds, repeats
        Passed to :func:`~edgeoffload.runtime.client.calibration.calibrate_cluster`
        (``kinds`` default: the DNN graphs' kinds).
    scenario_out
        Also write the scenario with the measured speeds and links here
        (:func:`save_calibrated_scenario`).
    check, check_scale
        Then run the scenario's first condition with Local and DHS, work scaled by
        ``check_scale``, on the same workers (:func:`prediction_check`).
    progress
        Called with a line of text as the work goes on.

    Raises
    ------
    ModelError
        Without a scenario and an address, or with ``scenario_out`` or ``check`` and no
        scenario, or ``scenario_out`` with a :class:`Scenario` but no ``source``.
    """
    from edgeoffload.runtime import connect
    from edgeoffload.runtime.client.calibration import calibrate_cluster

    say = progress or (lambda line: None)
    if isinstance(scenario, (str, Path)):
        source = scenario if source is None else source
        scenario = load_scenario(scenario)
    if scenario is None and address is None:
        raise ModelError("give a scenario or the address of a cluster to calibrate", "scenario")
    if scenario is None and (scenario_out is not None or check):
        raise ModelError("a calibrated scenario and a check need a scenario", "scenario")
    if scenario_out is not None and source is None:
        raise ModelError("writing the calibrated scenario needs its file or name", "source")
    if not (math.isfinite(check_scale) and check_scale > 0):
        raise ModelError(f"must be a finite number > 0, got {check_scale!r}", "check_scale")
    notes: list[str] = []
    quotas: dict[NodeId, float] = {}
    context: contextlib.AbstractContextManager[Session]
    if scenario is not None:
        problems = [condition_problem(scenario, c) for c in scenario.condition_names]
        context = scenario_session(scenario, problems, address, security, budget, notes, quotas)
    else:
        context = connect(address, security=security)
    options: dict[str, Any] = {"seconds": seconds, "repeats": repeats}
    if kinds is not None:
        options["kinds"] = list(kinds)
    check_runs: list[DagRun] = []
    scenario_path = None
    with context as session:
        calibration = calibrate_cluster(
            session,
            nodes=list(scenario.cluster.node_ids) if scenario is not None else None,
            base=scenario.cluster if scenario is not None else None,
            progress=say,
            **options,
        )
        path = Path(output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path = calibration.save(path)
        if scenario_out is not None:
            assert source is not None
            scenario_path = save_calibrated_scenario(source, calibration.cluster, scenario_out)
        if check:
            assert scenario is not None
            say(f"checking the prediction on {scenario.name} {scenario.condition_names[0]} ...")
            check_runs = prediction_check(session, scenario, calibration.cluster, scale=check_scale)
    return ClusterCalibration(
        calibration, path, scenario_path, tuple(check_runs), quotas, tuple(notes)
    )
