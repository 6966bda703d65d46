"""Run a scenario: every condition × algorithm, scheduled once and simulated N times.

:func:`run_experiment` is what ``edgeoffload simulate`` calls. For each condition of the
scenario it compiles the requests to a problem, schedules it with each algorithm
(checking every schedule with the validator), then simulates each schedule
``repetitions`` times. Repetition *k* of a condition uses the same random numbers for
every algorithm (common random numbers), so algorithms are compared on equal terms, and
the same whichever other conditions run.
:data:`PAPER` holds the DHS paper's published results and :func:`paper_comparison`
sets ours beside them. :func:`run_streams` plays a scenario's frame streams with each
algorithm, and :func:`estimate_work` says how much a run will do before it starts.

Ctrl-C (``KeyboardInterrupt``) stops both between simulated runs: they return what was
done, marked ``interrupted``, so that the caller can still write it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from edgeoffload.errors import ModelError
from edgeoffload.model import Problem, Schedule, mean_latency, merge_requests
from edgeoffload.schedulers import (
    LoadClass,
    Scheduler,
    check_scheduler_name,
    chosen_scheduler,
    classify_load,
)
from edgeoffload.simulation.batch import simulate
from edgeoffload.simulation.config import Medium, Network, NodeFailure, SimConfig
from edgeoffload.simulation.records import SimResult
from edgeoffload.simulation.streams import (
    FrameStream,
    SchedulerPlanner,
    StreamResult,
    simulate_stream,
)
from edgeoffload.simulation.variability import LognormalVariability
from edgeoffload.workloads.scenarios import Scenario

__all__ = [
    "GANTT_ALGORITHMS",
    "LIST_SCHEDULERS",
    "PAPER",
    "CaseResult",
    "ExperimentResult",
    "PaperFigures",
    "PaperRow",
    "StreamExperiment",
    "WorkEstimate",
    "check_algorithms",
    "check_conditions",
    "estimate_work",
    "frame_streams",
    "paper_comparison",
    "run_experiment",
    "run_streams",
    "sim_config",
]

LIST_SCHEDULERS: tuple[str, ...] = ("heft", "cpop", "peft")
"""The three list schedulers DHS chooses between (the paper's Fig. 1)."""


@dataclass(frozen=True, slots=True)
class PaperFigures:
    """What the DHS paper reports.

    Attributes
    ----------
    improvement
        DHS's latency reduction against Local, percent, where the paper gives it: at
        least 12.9 % (U-H), at most 30.1 % (B-L); U-L and B-H lie between.
    winners
        Fig. 1's fastest list scheduler per condition: PEFT when heavy, CPOP at U-L,
        HEFT at B-L (the rule DHS encodes).
    """

    improvement: Mapping[str, float]
    improvement_range: tuple[float, float]
    winners: Mapping[str, str]


PAPER = PaperFigures(
    improvement={"U-H": 12.9, "B-L": 30.1},
    improvement_range=(12.9, 30.1),
    winners={"U-H": "peft", "B-H": "peft", "U-L": "cpop", "B-L": "heft"},
)


def check_algorithms(names: Sequence[str], where: str = "algorithms") -> None:
    """Raise a :class:`ModelError` naming the first unknown scheduler in ``names``, or
    saying there is none."""
    if not names:
        raise ModelError("give at least one algorithm", where)
    for k, name in enumerate(names):
        check_scheduler_name(name, f"{where}[{k}]")
        if name in names[:k]:
            raise ModelError(f"{name!r} is given twice", f"{where}[{k}]")


def check_conditions(scenario: Scenario, names: Sequence[str] | None) -> tuple[str, ...]:
    """The conditions to run: ``names`` (default: all of the scenario's), checked.

    Raises
    ------
    ModelError
        The scenario has only streams, or a condition is unknown or given twice.
    """
    if names is None:
        return scenario.condition_names
    if names and not scenario.conditions:
        raise ModelError("this scenario has no request conditions, only streams", "condition")
    for k, name in enumerate(names):
        scenario.requests(name)  # raises on an unknown condition
        if name in names[:k]:
            raise ModelError(f"{name!r} is given twice", "condition")
    return tuple(names)


def sim_config(scenario: Scenario, *, record_trace: bool = False) -> SimConfig:
    """The simulator configuration a scenario describes."""
    settings = scenario.network
    network = Network(
        settings.model,  # type: ignore[arg-type]
        settings.contention,
        tuple(Medium(name, nodes) for name, nodes in settings.media),
    )
    return SimConfig(
        network=network,
        transfers=settings.transfers,  # type: ignore[arg-type]
        variability=LognormalVariability(scenario.exec_cv, scenario.transfer_cv),
        failures=tuple(NodeFailure(node, at) for node, at in scenario.failures),
        failure_policy=scenario.failure_policy,  # type: ignore[arg-type]
        record_trace=record_trace,
    )


def frame_streams(scenario: Scenario) -> list[FrameStream]:
    """The scenario's streams as :class:`FrameStream` objects."""
    out = []
    for s in scenario.streams:
        dnn = s.dnn()
        out.append(
            FrameStream(
                s.camera,
                dnn.graph,
                s.rate,
                s.process,  # type: ignore[arg-type]
                s.start,
                s.duration,
                dnn.input_bytes,
                s.deadline,
                s.name,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One condition × algorithm.

    Attributes
    ----------
    condition, algorithm
        The case.
    chosen
        The list scheduler DHS or Portfolio picked (``None`` for the others).
    predicted_latency, predicted_makespan
        The schedule's mean request latency and makespan, seconds.
    latency, latency_std
        Simulated mean request latency: mean and standard deviation over repetitions,
        seconds (completed requests only).
    latency_min, latency_max
        Smallest and largest per-repetition mean latency, seconds.
    makespan
        Mean simulated makespan, seconds.
    energy
        Mean energy of the whole cluster per run, joules.
    runs
        Repetitions simulated (fewer than asked when the run was interrupted).
    completed
        Repetitions in which every request completed.
    deadline_misses
        Mean number per run of requests with a deadline that finished late or not at all.
    schedule
        The schedule (not compared).
    first_run
        The first repetition's simulation, with its trace (not compared).
    """

    condition: str
    algorithm: str
    chosen: str | None
    predicted_latency: float
    predicted_makespan: float
    latency: float
    latency_std: float
    latency_min: float
    latency_max: float
    makespan: float
    energy: float
    runs: int
    completed: int
    deadline_misses: float
    schedule: Schedule = field(compare=False, repr=False)
    first_run: SimResult = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ExperimentResult:
    """Every case of a scenario run.

    Attributes
    ----------
    scenario
        Scenario name.
    conditions, algorithms
        In the order run.
    repetitions, seed
        Simulated runs per case and the seed they came from.
    cases
        One per condition × algorithm.
    loads
        DHS's load classification of each condition.
    problems
        The problem each condition compiled to (not compared).
    interrupted
        Whether Ctrl-C stopped the run: then ``conditions`` lists those with at least one
        repetition done, and a case's ``runs`` may be below ``repetitions``.
    """

    scenario: str
    conditions: tuple[str, ...]
    algorithms: tuple[str, ...]
    repetitions: int
    seed: int
    cases: tuple[CaseResult, ...]
    loads: Mapping[str, LoadClass]
    problems: Mapping[str, Problem] = field(compare=False, repr=False, default_factory=dict)
    interrupted: bool = False

    def case(self, condition: str, algorithm: str) -> CaseResult:
        for c in self.cases:
            if c.condition == condition and c.algorithm == algorithm:
                return c
        raise KeyError((condition, algorithm))

    def table(self, metric: str = "latency") -> dict[str, dict[str, float]]:
        """``metric`` (a :class:`CaseResult` field) as ``{condition: {algorithm: value}}``."""
        out: dict[str, dict[str, float]] = {c: {} for c in self.conditions}
        for case in self.cases:
            out[case.condition][case.algorithm] = float(getattr(case, metric))
        return out

    def percent_of_local(self, metric: str = "latency") -> dict[str, dict[str, float]]:
        """Each algorithm's ``metric`` as a percentage of Local's, per condition."""
        table = self.table(metric)
        out: dict[str, dict[str, float]] = {}
        for condition, row in table.items():
            local = row.get("local")
            if local is None or not local > 0:
                continue
            out[condition] = {a: 100.0 * v / local for a, v in row.items()}
        return out

    def improvement_over_local(
        self, algorithm: str = "dhs", metric: str = "latency"
    ) -> dict[str, float]:
        """``100 × (1 − algorithm / Local)`` per condition, percent (better when > 0)."""
        return {
            c: 100.0 - row[algorithm]
            for c, row in self.percent_of_local(metric).items()
            if algorithm in row
        }

    def winner(
        self, condition: str, among: Sequence[str] = LIST_SCHEDULERS, metric: str = "latency"
    ) -> str | None:
        """The algorithm of ``among`` with the smallest ``metric`` (ties: ``among``'s order)."""
        row = self.table(metric)[condition]
        present = [a for a in among if a in row and math.isfinite(row[a])]
        return min(present, key=lambda a: row[a]) if present else None


def run_experiment(
    scenario: Scenario,
    *,
    repetitions: int | None = None,
    seed: int | None = None,
    conditions: Sequence[str] | None = None,
    algorithms: Sequence[str] | None = None,
    config: SimConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ExperimentResult:
    """Schedule and simulate every condition × algorithm of ``scenario``.

    Parameters
    ----------
    scenario
        The scenario (its conditions, algorithms, δ1/δ2, seed, repetitions, network).
    repetitions, seed, conditions, algorithms
        Override the scenario's.
    config
        Override the simulator configuration the scenario describes.
    progress
        Called with (repetitions done, repetitions in all) when a condition's simulations
        start (its schedules made) and after each repetition.

    Returns
    -------
    ExperimentResult
        With ``interrupted`` set when Ctrl-C stopped it: every repetition that every
        algorithm finished is kept, the one under way is dropped.

    Raises
    ------
    ModelError
        On an unknown condition or scheduler, or a scheduler that does not apply.
    """
    reps = scenario.repetitions if repetitions is None else repetitions
    if reps < 1:
        raise ModelError(f"must be >= 1, got {reps}", "repetitions")
    base_seed = scenario.seed if seed is None else seed
    names = check_conditions(scenario, conditions)
    algos = tuple(algorithms) if algorithms is not None else scenario.algorithms
    check_algorithms(algos)
    config = config or sim_config(scenario)
    total = len(names) * reps
    done = 0
    cases: list[CaseResult] = []
    loads: dict[str, LoadClass] = {}
    problems: dict[str, Problem] = {}
    finished: list[str] = []
    interrupted = False
    for condition in names:
        # seeded by the condition's place in the scenario: a condition run alone (-c)
        # gets the random numbers it gets in a full run
        ci = scenario.condition_names.index(condition)
        problem = scenario.problem(condition)
        loads[condition] = classify_load(problem, scenario.delta1, scenario.delta2)
        schedulers = {name: scenario.scheduler(name) for name in algos}
        replanners = _replanners(scenario, config, schedulers)

        def step(condition_done: int, _: int, before: int = done) -> None:
            if progress is not None:
                progress(before + condition_done, total)

        schedules, runs, interrupted = _simulate_problem(
            problem, schedulers, replanners, reps, (base_seed, ci), config, step
        )
        done += reps
        kept = min(len(r) for r in runs.values())  # repetitions every algorithm finished
        if kept:
            problems[condition] = problem
            finished.append(condition)
            deadlines = {r.id: r.deadline for r in scenario.requests(condition) if r.deadline}
            cases.extend(
                _case(condition, name, problem, schedules[name], runs[name][:kept], deadlines)
                for name in algos
            )
        else:
            del loads[condition]
        if interrupted:
            break
    return ExperimentResult(
        scenario=scenario.name,
        conditions=tuple(finished),
        algorithms=algos,
        repetitions=reps,
        seed=base_seed,
        cases=tuple(cases),
        loads=loads,
        problems=problems,
        interrupted=interrupted,
    )


def _simulate_problem(
    problem: Problem,
    schedulers: Mapping[str, Scheduler],
    replanners: Mapping[str, Scheduler | None],
    repetitions: int,
    seed: tuple[int, int],
    config: SimConfig,
    progress: Callable[[int, int], None] | None,
) -> tuple[dict[str, Schedule], dict[str, list[SimResult]], bool]:
    """Schedule ``problem`` with each scheduler, then simulate each schedule
    ``repetitions`` times, repetition *k* of every algorithm from seed ``[*seed, k]``
    (common random numbers); the first repetition keeps its trace. Returns the schedules,
    the runs (per algorithm, possibly fewer after Ctrl-C) and whether Ctrl-C stopped it."""
    schedules: dict[str, Schedule] = {}
    runs: dict[str, list[SimResult]] = {name: [] for name in schedulers}
    try:
        for name, scheduler in schedulers.items():
            schedules[name] = scheduler.checked_schedule(problem, f"algorithms: {name}")
        if progress is not None:
            progress(0, repetitions)  # scheduled: the simulations start
        for rep in range(repetitions):
            for name in schedulers:
                run_config = config
                if rep == 0 and not config.record_trace:
                    run_config = _with_trace(config)
                runs[name].append(
                    simulate(
                        problem,
                        schedules[name],
                        run_config,
                        rng=np.random.default_rng([*seed, rep]),
                        scheduler=replanners[name],
                    )
                )
            if progress is not None:
                progress(rep + 1, repetitions)
    except KeyboardInterrupt:
        return schedules, runs, True
    return schedules, runs, False


def _replanners(
    scenario: Scenario, config: SimConfig, schedulers: Mapping[str, Scheduler]
) -> dict[str, Scheduler | None]:
    """Under "replan": the scheduler that re-plans each algorithm's runs, with the
    scenario's parameters: ``config.replan_algorithm`` if set, else the algorithm that
    made the schedule. ``None`` for every algorithm under the other policies."""
    if config.failure_policy != "replan":
        return dict.fromkeys(schedulers)
    chosen = config.replan_algorithm
    other = None if chosen is None else scenario.scheduler(chosen)
    return {name: s if chosen in (None, name) else other for name, s in schedulers.items()}


def _case(
    condition: str,
    algorithm: str,
    problem: Problem,
    schedule: Schedule,
    results: Sequence[SimResult],
    deadlines: Mapping[str, float],
) -> CaseResult:
    """One case's figures from its simulated runs."""
    means = np.array([r.mean_latency for r in results], dtype=float)
    finite = means[np.isfinite(means)]
    return CaseResult(
        condition=condition,
        algorithm=algorithm,
        chosen=chosen_scheduler(schedule),
        predicted_latency=mean_latency(problem, schedule),
        predicted_makespan=schedule.makespan,
        latency=float(finite.mean()) if finite.size else math.nan,
        latency_std=float(finite.std(ddof=1)) if finite.size > 1 else 0.0,
        latency_min=float(finite.min()) if finite.size else math.nan,
        latency_max=float(finite.max()) if finite.size else math.nan,
        makespan=float(np.mean([r.makespan for r in results])),
        energy=float(np.mean([r.energy for r in results])),
        runs=len(results),
        completed=sum(1 for r in results if r.completed),
        deadline_misses=float(np.mean([_misses(r, deadlines) for r in results])),
        schedule=schedule,
        first_run=results[0],
    )


@dataclass(frozen=True, slots=True)
class StreamExperiment:
    """A scenario's frame streams played with each algorithm (:func:`run_streams`).

    Attributes
    ----------
    scenario
        Scenario name.
    algorithms
        Those asked for, in order.
    results
        One per algorithm that finished, in that order.
    interrupted
        Whether Ctrl-C stopped it (the algorithm under way then is left out).
    """

    scenario: str
    algorithms: tuple[str, ...]
    results: tuple[StreamResult, ...]
    interrupted: bool = False


def run_streams(
    scenario: Scenario,
    *,
    seed: int | None = None,
    algorithms: Sequence[str] | None = None,
    config: SimConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> StreamExperiment:
    """Play the scenario's frame streams once with each algorithm, frames scheduled as
    they arrive (:func:`~edgeoffload.simulation.simulate_stream`).

    ``seed`` overrides the scenario's; every algorithm sees the same arrivals.
    ``progress`` is called with (algorithms done, algorithms in all).

    Raises
    ------
    ModelError
        On an unknown scheduler, or a scenario without streams.
    """
    if not scenario.streams:
        raise ModelError("this scenario has no streams", "streams")
    names = tuple(algorithms) if algorithms is not None else scenario.algorithms
    check_algorithms(names)
    streams = frame_streams(scenario)
    config = config or sim_config(scenario)
    results: list[StreamResult] = []
    try:
        for name in names:
            results.append(
                simulate_stream(
                    scenario.cluster,
                    streams,
                    SchedulerPlanner(scenario.scheduler(name)),
                    config,
                    rng=scenario.seed if seed is None else seed,
                    max_in_flight=scenario.max_in_flight,
                    drop_late=scenario.drop_late,
                )
            )
            if progress is not None:
                progress(len(results), len(names))
    except KeyboardInterrupt:
        return StreamExperiment(scenario.name, names, tuple(results), interrupted=True)
    return StreamExperiment(scenario.name, names, tuple(results))


# seconds of this project's reference machine (2 cores, Python 3.11) per simulated task
# execution with its share of scheduling: a batch run and a stream run (whose frames are
# planned one by one as they arrive); measured with ``dhs-paper`` and ``camera-streams``
_BATCH_TASK_SECONDS = 27e-6
_STREAM_TASK_SECONDS = 64e-6
_FIGURE_SECONDS = 0.3  # a figure drawn and written as PNG (14 of dhs-paper's took 4.1 s)
GANTT_ALGORITHMS = ("dhs", "local", "edge")
"""The algorithms whose simulated runs get a Gantt chart per condition, when run."""


@dataclass(frozen=True, slots=True)
class WorkEstimate:
    """How much a scenario run will simulate, before it starts (:func:`estimate_work`).

    Attributes
    ----------
    runs
        Simulated runs: conditions × algorithms × repetitions, plus one stream run per
        algorithm.
    task_runs
        Task executions over all those runs (requests' tasks and streams' frames' tasks).
    frames
        Stream frames per algorithm (expected: Poisson arrivals vary around it).
    figures
        Figures the files will have (with plots).
    seconds
        Rough wall-clock time, simulating and drawing, on a machine like the project's
        2-core reference; a progress bar refines it as the run goes.
    """

    runs: int
    task_runs: int
    frames: int
    figures: int
    seconds: float

    def describe(self) -> str:
        """One line for a person: what will run and about how long it takes."""
        parts = [f"{self.runs:,} simulated runs", f"{self.task_runs:,} task executions"]
        if self.frames:
            parts.append(f"about {self.frames:,} frames per algorithm")
        if self.figures:
            parts.append(f"{self.figures} figures")
        return (
            f"{', '.join(parts)}: about {_duration(self.seconds)} "
            "(Ctrl-C stops it and keeps what is done)"
        )


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "a second"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def estimate_work(
    scenario: Scenario,
    *,
    repetitions: int | None = None,
    conditions: Sequence[str] | None = None,
    algorithms: Sequence[str] | None = None,
    plots: bool = False,
) -> WorkEstimate:
    """What :func:`run_experiment` and :func:`run_streams` will simulate for ``scenario``
    with these overrides, counted without simulating (stream frames are counted from
    their rates and durations), and with ``plots`` the figures the files will have.

    Raises
    ------
    ModelError
        On an unknown condition or scheduler: the same errors the run would raise.
    """
    reps = scenario.repetitions if repetitions is None else repetitions
    algos = tuple(algorithms) if algorithms is not None else scenario.algorithms
    check_algorithms(algos)
    names = check_conditions(scenario, conditions)
    if repetitions is not None and not scenario.conditions:
        raise ModelError("a stream scenario runs each algorithm once", "repetitions")
    problems = [scenario.problem(c) for c in names] if scenario.conditions else []
    problems += [
        merge_requests([s.dnn().request(s.name, s.camera)], scenario.cluster)
        for s in scenario.streams
    ]
    for problem in problems:
        problem.costs  # noqa: B018 - the cost model refuses times that overflow, here
    batch_tasks = sum(len(problem.graph) for problem in problems[: len(names)])
    batch = batch_tasks * reps * len(algos)
    frames = sum(math.ceil(s.rate * s.duration) for s in scenario.streams)
    stream = sum(math.ceil(s.rate * s.duration) * len(s.dnn().graph) for s in scenario.streams)
    stream *= len(algos)
    runs = len(names) * len(algos) * reps if scenario.conditions else 0
    runs += len(algos) if scenario.streams else 0
    figures = 0
    if plots and names:
        figures += 1 + ("local" in algos)  # Fig. 1, and Fig. 2 against Local
        figures += len(names) * sum(a in algos for a in GANTT_ALGORITHMS)
    if plots and scenario.streams:
        figures += 1
    seconds = batch * _BATCH_TASK_SECONDS + stream * _STREAM_TASK_SECONDS
    seconds += figures * _FIGURE_SECONDS
    return WorkEstimate(runs, batch + stream, frames, figures, seconds)


def _misses(result: SimResult, deadlines: Mapping[str, float]) -> int:
    """Requests of ``result`` with a deadline in ``deadlines`` that finished late or never."""
    late = 0
    for request in result.requests:
        bound = deadlines.get(request.id)
        if bound is not None and (request.latency is None or request.latency > bound):
            late += 1
    return late


def _with_trace(config: SimConfig) -> SimConfig:
    from dataclasses import replace

    return replace(config, record_trace=True)


@dataclass(frozen=True, slots=True)
class PaperRow:
    """One published figure beside ours.

    ``paper`` and ``ours`` are display strings; ``agrees`` is ``None`` where the paper
    gives no figure to compare against.
    """

    quantity: str
    paper: str
    ours: str
    agrees: bool | None
    note: str = ""


def paper_comparison(result: ExperimentResult, metric: str = "latency") -> list[PaperRow]:
    """The paper's published results beside ours, one row per figure.

    Rows: DHS's improvement over Local per condition (the paper gives U-H 12.9 % and B-L
    30.1 %, the others between), Fig. 1's winner per condition, and whether DHS's choice
    is our fastest list scheduler. ``metric`` is ``"latency"`` (simulated) or
    ``"predicted_latency"``.
    """
    rows: list[PaperRow] = []
    improvement = result.improvement_over_local("dhs", metric)
    low, high = PAPER.improvement_range
    for condition in result.conditions:
        if condition not in improvement:
            continue
        ours = improvement[condition]
        if condition in PAPER.improvement:
            paper_value = PAPER.improvement[condition]
            paper = f"{paper_value:.1f} %"
            agrees: bool | None = abs(ours - paper_value) <= 5.0
            note = f"differs by {ours - paper_value:+.1f} points"
        elif condition in PAPER.winners:
            paper = f"{low:.1f}-{high:.1f} %"
            agrees = low <= ours <= high
            note = "the paper gives only the range"
        else:
            continue
        rows.append(
            PaperRow(f"DHS better than Local at {condition}", paper, f"{ours:.1f} %", agrees, note)
        )
    table = result.table(metric)
    for condition in result.conditions:
        if condition not in PAPER.winners:
            continue
        winner = result.winner(condition, metric=metric)
        if winner is None:
            continue
        row = table[condition]
        ranked = sorted((a for a in LIST_SCHEDULERS if a in row), key=lambda a: row[a])
        spread = 100.0 * (row[ranked[-1]] / row[ranked[0]] - 1.0) if len(ranked) > 1 else 0.0
        expected = PAPER.winners[condition]
        note = ", ".join(f"{a.upper()} {row[a]:.4g} s" for a in ranked)
        note += f" (slowest {spread:.1f} % behind the fastest)"
        rows.append(
            PaperRow(
                f"Fig. 1 winner at {condition}",
                expected.upper(),
                winner.upper(),
                winner == expected,
                note,
            )
        )
    return rows
