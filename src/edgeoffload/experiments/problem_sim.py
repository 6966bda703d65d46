"""Simulate a problem file (what ``edgeoffload schedule`` reads) the way a scenario is.

A scenario compiles its requests to problems and knows its network and variability; a
problem file (an imported workflow, an exported condition, the HEFT paper's example) has
only tasks, a cluster and perhaps requests. :func:`run_problem` schedules it with each
algorithm that applies and simulates each schedule ``repetitions`` times under a
:class:`~edgeoffload.simulation.SimConfig` (by default the schedulers' own assumptions
with the given execution and transfer variation), with the same common random numbers
and Ctrl-C behaviour as :func:`~edgeoffload.experiments.simulated.run_experiment`.
:func:`save_problem_experiment` writes its CSV, a report and figures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from edgeoffload.errors import ModelError
from edgeoffload.experiments.simulated import (
    CaseResult,
    ExperimentResult,
    _case,
    _simulate_problem,
    check_algorithms,
)
from edgeoffload.model import Problem, problem_from_dict
from edgeoffload.model.reading import exists, located, parse_json, read_text
from edgeoffload.schedulers import classify_load, get_scheduler
from edgeoffload.simulation.config import SimConfig
from edgeoffload.simulation.variability import LognormalVariability

__all__ = [
    "PROBLEM_ALGORITHMS",
    "problem_algorithms",
    "read_problem_file",
    "run_problem",
    "save_problem_experiment",
]

PROBLEM_ALGORITHMS: tuple[str, ...] = ("local", "edge", "heft", "cpop", "peft", "dhs", "portfolio")
"""What a problem is simulated with by default: those of these that apply to it (DHS only
when the problem has requests: it classifies requests per camera)."""


def read_problem_file(source: str | Path) -> Problem | None:
    """The problem ``source`` names if it is a problem file (a JSON object with
    ``tasks``), read once; ``None`` for a scenario (a shipped name, or a file with
    ``devices``).

    Raises
    ------
    ModelError
        A problem file that is not a valid problem (the message names the file first).
    """
    if not str(source).endswith(".json") or not exists(source):
        return None
    data = parse_json(read_text(source, what="problem file"), str(source))
    if not isinstance(data, dict) or "tasks" not in data:
        return None
    return located(source, data, problem_from_dict)


def problem_algorithms(
    problem: Problem, algorithms: Sequence[str] | None = None
) -> tuple[str, ...]:
    """``algorithms`` checked (each must apply), or by default those of
    :data:`PROBLEM_ALGORITHMS` that apply to ``problem``."""
    if algorithms is not None:
        check_algorithms(algorithms)
        for k, name in enumerate(algorithms):
            reason = get_scheduler(name).applies_to(problem)
            if reason is not None:
                raise ModelError(reason, f"algorithms[{k}]")
        return tuple(algorithms)
    chosen = []
    for name in PROBLEM_ALGORITHMS:
        if name == "dhs" and not problem.has_requests:
            continue
        if get_scheduler(name).applies_to(problem) is None:
            chosen.append(name)
    return tuple(chosen)


def run_problem(
    problem: Problem,
    name: str,
    *,
    algorithms: Sequence[str] | None = None,
    repetitions: int = 1,
    seed: int = 0,
    exec_cv: float = 0.0,
    transfer_cv: float = 0.0,
    config: SimConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ExperimentResult:
    """Schedule ``problem`` with each algorithm and simulate each schedule ``repetitions``
    times; one condition, called ``name``.

    Without ``config`` the simulator makes the schedulers' assumptions (dedicated links,
    no contention) with lognormal variation of coefficients ``exec_cv``/``transfer_cv``:
    at 0 the simulated times equal the predicted ones exactly.

    Raises
    ------
    ModelError
        An unknown or inapplicable algorithm, or a repetition count below 1.
    """
    if repetitions < 1:
        raise ModelError(f"must be >= 1, got {repetitions}", "repetitions")
    algos = problem_algorithms(problem, algorithms)
    if not algos:
        raise ModelError("no scheduler applies to this problem", "algorithms")
    if config is None:
        variability = LognormalVariability(exec_cv, transfer_cv)
        config = SimConfig.schedulers_assumptions(variability=variability)
    schedulers = {a: get_scheduler(a) for a in algos}
    schedules, runs, interrupted = _simulate_problem(
        problem, schedulers, dict.fromkeys(algos), repetitions, (seed, 0), config, progress
    )
    kept = min(len(r) for r in runs.values())
    cases: tuple[CaseResult, ...] = ()
    if kept:
        cases = tuple(_case(name, a, problem, schedules[a], runs[a][:kept], {}) for a in algos)
    return ExperimentResult(
        scenario=name,
        conditions=(name,) if kept else (),
        algorithms=algos,
        repetitions=repetitions,
        seed=seed,
        cases=cases,
        loads={name: classify_load(problem)} if kept else {},
        problems={name: problem} if kept else {},
        interrupted=interrupted,
    )


def _s(seconds: float) -> str:
    return f"{seconds:.6g}"


def save_problem_experiment(result: ExperimentResult, out: Path, plots: bool) -> list[Path]:
    """Write ``NAME.csv`` (one row per algorithm, the columns of a scenario's CSV),
    ``report.md`` and, with ``plots``, the Gantt chart of the fastest algorithm's first
    simulated run, to ``out``; the paths written."""
    from edgeoffload.experiments.simulation_files import (
        EXPERIMENT_COLUMNS,
        ensure_parent,
        experiment_rows,
        write_csv,
    )

    rows = experiment_rows(result)
    written = [write_csv(out / f"{result.scenario}.csv", rows, EXPERIMENT_COLUMNS)]
    lines = [f"# {result.scenario}: simulated", ""]
    if result.interrupted:
        lines += ["**Interrupted (Ctrl-C).** The figures are over the repetitions done.", ""]
    lines += [
        "| algorithm | chosen | predicted makespan (s) | simulated makespan (s) | "
        "predicted latency (s) | simulated latency (s) | runs |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in result.cases:
        lines.append(
            f"| {c.algorithm} | {c.chosen or '-'} | {_s(c.predicted_makespan)} | "
            f"{_s(c.makespan)} | {_s(c.predicted_latency)} | {_s(c.latency)} | {c.runs} |"
        )
    if plots and result.cases:
        from edgeoffload.plots import save_figure
        from edgeoffload.plots.simulation import plot_sim_gantt

        best = min(result.cases, key=lambda c: c.makespan)
        run = best.first_run
        name = f"gantt_{best.algorithm}.png"
        title = (
            f"{best.algorithm} (fastest): simulated run 1, makespan {run.makespan:.4g} s "
            f"(predicted {run.predicted_makespan:.4g} s, dashed)"
        )
        written.append(save_figure(plot_sim_gantt(run, title=title), out / name))
        lines += ["", f"![{best.algorithm}, simulated]({name})"]
    report = ensure_parent(out / "report.md")
    report.write_text("\n".join(lines) + "\n")
    return [*written, report]
