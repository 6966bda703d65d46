"""Run a scenario: every condition × algorithm, scheduled once and simulated N times.

:func:`run_experiment` is what ``edgeoffload simulate`` calls. For each condition of the
scenario it compiles the requests to a problem, schedules it with each algorithm
(checking every schedule with the validator), then simulates each schedule
``repetitions`` times. Repetition *k* of a condition uses the same random numbers for
every algorithm (common random numbers), so algorithms are compared on equal terms.
:data:`PAPER` holds the DHS paper's published results and :func:`paper_comparison`
sets ours beside them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from edgeoffload.errors import ModelError
from edgeoffload.model import Problem, Schedule, mean_latency, validate_schedule
from edgeoffload.schedulers import LoadClass, Scheduler, check_scheduler_name, classify_load
from edgeoffload.schedulers import get_scheduler as _get_scheduler
from edgeoffload.simulation.batch import simulate
from edgeoffload.simulation.config import Medium, Network, NodeFailure, SimConfig
from edgeoffload.simulation.records import SimResult
from edgeoffload.simulation.streams import FrameStream
from edgeoffload.simulation.variability import LognormalVariability
from edgeoffload.workloads.scenarios import Scenario

__all__ = [
    "LIST_SCHEDULERS",
    "PAPER",
    "CaseResult",
    "ExperimentResult",
    "PaperFigures",
    "PaperRow",
    "check_algorithms",
    "frame_streams",
    "paper_comparison",
    "run_experiment",
    "scheduler_for",
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
    """Raise a :class:`ModelError` naming the first unknown scheduler in ``names``."""
    for k, name in enumerate(names):
        check_scheduler_name(name, f"{where}[{k}]")


def scheduler_for(name: str, scenario: Scenario) -> Scheduler:
    """The scheduler ``name`` with the scenario's parameters (DHS gets δ1 and δ2)."""
    if name == "dhs":
        return _get_scheduler(name, delta1=scenario.delta1, delta2=scenario.delta2)
    return _get_scheduler(name)


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
    """

    scenario: str
    conditions: tuple[str, ...]
    algorithms: tuple[str, ...]
    repetitions: int
    seed: int
    cases: tuple[CaseResult, ...]
    loads: Mapping[str, LoadClass]
    problems: Mapping[str, Problem] = field(compare=False, repr=False, default_factory=dict)

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
        Called with (repetitions done, repetitions in all) after each repetition.

    Returns
    -------
    ExperimentResult

    Raises
    ------
    ModelError
        On an unknown condition or scheduler, or a scheduler that does not apply.
    """
    reps = scenario.repetitions if repetitions is None else repetitions
    if reps < 1:
        raise ModelError(f"must be >= 1, got {reps}", "repetitions")
    base_seed = scenario.seed if seed is None else seed
    names = tuple(conditions) if conditions is not None else scenario.condition_names
    algos = tuple(algorithms) if algorithms is not None else scenario.algorithms
    check_algorithms(algos)
    for name in names:
        scenario.requests(name)  # raises on an unknown condition
    config = config or sim_config(scenario)
    total = len(names) * reps
    done = 0
    cases: list[CaseResult] = []
    loads: dict[str, LoadClass] = {}
    problems: dict[str, Problem] = {}
    for ci, condition in enumerate(names):
        problem = scenario.problem(condition)
        problems[condition] = problem
        deadlines = {r.id: r.deadline for r in scenario.requests(condition) if r.deadline}
        loads[condition] = classify_load(problem, scenario.delta1, scenario.delta2)
        schedules: dict[str, Schedule] = {}
        schedulers: dict[str, Scheduler] = {}
        for name in algos:
            scheduler = schedulers[name] = scheduler_for(name, scenario)
            reason = scheduler.applies_to(problem)
            if reason is not None:
                raise ModelError(reason, f"algorithms: {name}")
            schedule = scheduler.schedule(problem)
            validate_schedule(problem, schedule)
            schedules[name] = schedule
        # under "replan": the scheduler that re-plans, with the scenario's parameters —
        # config.replan_algorithm if set, else the algorithm that made the schedule
        replanners: dict[str, Scheduler | None] = dict.fromkeys(algos)
        if config.failure_policy == "replan":
            chosen = config.replan_algorithm
            other = None if chosen is None else scheduler_for(chosen, scenario)
            for name in algos:
                replanners[name] = schedulers[name] if chosen in (None, name) else other
        runs: dict[str, list[SimResult]] = {name: [] for name in algos}
        for rep in range(reps):
            for name in algos:
                rng = np.random.default_rng([base_seed, ci, rep])
                run_config = config
                if rep == 0 and not config.record_trace:
                    run_config = _with_trace(config)
                runs[name].append(
                    simulate(
                        problem,
                        schedules[name],
                        run_config,
                        rng=rng,
                        scheduler=replanners[name],
                    )
                )
            done += 1
            if progress is not None:
                progress(done, total)
        for name in algos:
            schedule = schedules[name]
            results = runs[name]
            means = np.array([r.mean_latency for r in results], dtype=float)
            finite = means[np.isfinite(means)]
            chosen = None
            if "dhs" in schedule.details:
                chosen = str(schedule.details["dhs"]["chosen"])
            elif "portfolio" in schedule.details:
                chosen = str(schedule.details["portfolio"]["chosen"])
            cases.append(
                CaseResult(
                    condition=condition,
                    algorithm=name,
                    chosen=chosen,
                    predicted_latency=mean_latency(problem, schedule),
                    predicted_makespan=schedule.makespan,
                    latency=float(finite.mean()) if finite.size else math.nan,
                    latency_std=float(finite.std(ddof=1)) if finite.size > 1 else 0.0,
                    latency_min=float(finite.min()) if finite.size else math.nan,
                    latency_max=float(finite.max()) if finite.size else math.nan,
                    makespan=float(np.mean([r.makespan for r in results])),
                    energy=float(np.mean([r.energy for r in results])),
                    completed=sum(1 for r in results if r.completed),
                    deadline_misses=float(np.mean([_misses(r, deadlines) for r in results])),
                    schedule=schedule,
                    first_run=results[0],
                )
            )
    return ExperimentResult(
        scenario=scenario.name,
        conditions=names,
        algorithms=algos,
        repetitions=reps,
        seed=base_seed,
        cases=tuple(cases),
        loads=loads,
        problems=problems,
    )


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
