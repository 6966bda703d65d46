"""The files of simulated experiments: CSV, figures and a markdown report.

``edgeoffload simulate``, ``sweep`` and ``calibrate`` write these; from Python,
:func:`save_experiment`, :func:`save_streams`, :func:`save_sweep` and
:func:`save_calibration` take what :func:`~edgeoffload.experiments.simulated.run_experiment`,
:func:`~edgeoffload.experiments.simulated.run_streams`,
:func:`~edgeoffload.experiments.sweep.run_sweep` and
:func:`~edgeoffload.experiments.sweep.calibrate` return, interrupted runs included.
Each returns the paths it wrote.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeoffload.schedulers.dhs import PAPER_DELTA1, PAPER_DELTA2

if TYPE_CHECKING:
    from edgeoffload.experiments.simulated import ExperimentResult, StreamExperiment
    from edgeoffload.experiments.sweep import CalibrationResult, SweepResult
    from edgeoffload.workloads.scenarios import Scenario

__all__ = [
    "EXPERIMENT_COLUMNS",
    "STREAM_COLUMNS",
    "experiment_rows",
    "save_calibration",
    "save_experiment",
    "save_streams",
    "save_sweep",
    "write_csv",
]


def ensure_parent(path: Path) -> Path:
    """``path``, after creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_csv(
    path: Path, rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None
) -> Path:
    """Write ``rows`` (dicts with the same keys, in order) as CSV to ``path``; the path.
    ``columns`` names the header when there may be no rows (an interrupted run)."""
    ensure_parent(path)
    fields = list(rows[0]) if rows else list(columns or ())
    with path.open("w", newline="") as handle:
        if fields:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
    return path


EXPERIMENT_COLUMNS = (
    "condition",
    "dhs_class",
    "algorithm",
    "chosen",
    "predicted_latency_s",
    "latency_s",
    "latency_sd_s",
    "latency_min_s",
    "latency_max_s",
    "predicted_makespan_s",
    "makespan_s",
    "energy_j",
    "completed_runs",
    "deadline_misses_per_run",
    "repetitions",
)
"""The columns of a batch experiment's CSV, one row per condition × algorithm."""

STREAM_COLUMNS = (
    "algorithm",
    "frames",
    "completed",
    "dropped",
    "deadline_misses",
    "latency_mean_s",
    "latency_p50_s",
    "latency_p95_s",
    "latency_p99_s",
    "throughput_fps",
    "offered_fps",
    "max_in_flight",
    "mean_in_flight",
    "energy_j",
)
"""The columns of a stream experiment's CSV, one row per algorithm."""


def experiment_rows(result: ExperimentResult) -> list[dict[str, Any]]:
    """The CSV rows of an experiment, one per condition × algorithm
    (:data:`EXPERIMENT_COLUMNS`)."""
    return [
        dict(
            zip(
                EXPERIMENT_COLUMNS,
                (
                    case.condition,
                    result.loads[case.condition].condition,
                    case.algorithm,
                    case.chosen or "",
                    case.predicted_latency,
                    case.latency,
                    case.latency_std,
                    case.latency_min,
                    case.latency_max,
                    case.predicted_makespan,
                    case.makespan,
                    case.energy,
                    case.completed,
                    case.deadline_misses,
                    case.runs,
                ),
                strict=True,
            )
        )
        for case in result.cases
    ]


def save_experiment(
    result: ExperimentResult,
    scenario: Scenario,
    out: Path,
    plots: bool,
    gantt: Sequence[str] | None = None,
) -> list[Path]:
    """Write a batch experiment's files to ``out``: ``SCENARIO.csv`` (one row per
    condition × algorithm), the figures (with ``plots``: the paper's Fig. 1 and 2 and a
    simulated Gantt chart per condition for each of ``gantt``, by default
    :data:`~edgeoffload.experiments.simulated.GANTT_ALGORITHMS`) and ``report.md``.

    Ctrl-C while the figures are drawn stops the drawing: the report is still written
    (with the figures done), then the interrupt goes on."""
    from edgeoffload.experiments.report import experiment_markdown
    from edgeoffload.experiments.simulated import GANTT_ALGORITHMS

    rows = experiment_rows(result)
    written = [write_csv(out / f"{scenario.name}.csv", rows, EXPERIMENT_COLUMNS)]
    figures: dict[str, str] = {}
    interrupted = False
    try:
        if plots:
            _experiment_figures(result, scenario, out, gantt or GANTT_ALGORITHMS, figures)
    except KeyboardInterrupt:
        interrupted = True
    report = ensure_parent(out / "report.md")
    report.write_text(experiment_markdown(result, scenario, figures))
    written += [*(out / name for name in figures.values()), report]
    if interrupted:
        raise KeyboardInterrupt
    return written


def _experiment_figures(
    result: ExperimentResult,
    scenario: Scenario,
    out: Path,
    gantt: Sequence[str],
    figures: dict[str, str],
) -> None:
    """Draw the experiment's figures into ``out``, adding each to ``figures`` (title: file
    name) as it is written."""
    from edgeoffload.experiments.simulated import PAPER
    from edgeoffload.plots import save_figure
    from edgeoffload.plots.simulation import (
        plot_latency_by_condition,
        plot_percent_of_local,
        plot_sim_gantt,
    )

    save_figure(
        plot_latency_by_condition(
            result.table("latency"),
            predicted=result.table("predicted_latency"),
            errors=result.table("latency_std"),
            title=f"{scenario.name}: latency per algorithm and condition (cf. paper Fig. 1)",
        ),
        ensure_parent(out / "fig1_latency.png"),
    )
    figures["Fig. 1: latency per algorithm and condition"] = "fig1_latency.png"
    percent = result.percent_of_local()
    if percent:
        shown = [a for a in ("dhs", "edge") if a in result.algorithms]
        paper = {c: 100.0 - v for c, v in PAPER.improvement.items()}
        save_figure(
            plot_percent_of_local(
                percent,
                algorithms=shown,
                paper=paper,
                title=f"{scenario.name}: latency as % of Local (cf. paper Fig. 2)",
            ),
            out / "fig2_percent_of_local.png",
        )
        figures["Fig. 2: DHS and Edge latency as % of Local"] = "fig2_percent_of_local.png"
    for condition in result.conditions:
        for algorithm in gantt:
            if algorithm not in result.algorithms:
                continue
            run = result.case(condition, algorithm).first_run
            name = f"gantt_{condition}_{algorithm}.png"
            save_figure(
                plot_sim_gantt(
                    run,
                    title=(
                        f"{condition}, {algorithm}: simulated run 1, makespan "
                        f"{run.makespan:.3g} s (predicted {run.predicted_makespan:.3g} s, "
                        "dashed)"
                    ),
                ),
                out / name,
            )
            figures[f"Gantt chart, {condition}, {algorithm} (simulated)"] = name


def save_streams(
    experiment: StreamExperiment, scenario: Scenario, out: Path, plots: bool
) -> list[Path]:
    """Write a stream experiment's files to ``out``: ``SCENARIO.csv`` (one row per
    algorithm), the latency distribution (with ``plots``) and a markdown report."""
    from edgeoffload.experiments.report import stream_markdown

    results = experiment.results
    rows = [
        dict(
            zip(
                STREAM_COLUMNS,
                (
                    r.algorithm,
                    r.frames,
                    r.completed,
                    r.dropped,
                    r.deadline_misses,
                    r.latency_mean,
                    r.latency_p50,
                    r.latency_p95,
                    r.latency_p99,
                    r.throughput,
                    r.offered_rate,
                    r.max_in_flight,
                    r.mean_in_flight,
                    r.sim.energy,
                ),
                strict=True,
            )
        )
        for r in results
    ]
    # beside a batch experiment's SCENARIO.csv (a scenario may have both), its own name
    csv_name = f"{scenario.name}-streams.csv" if scenario.conditions else f"{scenario.name}.csv"
    written = [write_csv(out / csv_name, rows, STREAM_COLUMNS)]
    text = stream_markdown(results, scenario, interrupted=experiment.interrupted)
    interrupted = False
    try:
        if plots and results:
            from edgeoffload.plots import save_figure
            from edgeoffload.plots.simulation import plot_latency_cdf

            deadlines = {s.deadline for s in scenario.streams}
            written.append(
                save_figure(
                    plot_latency_cdf(
                        {r.algorithm: r.sim.latencies for r in results},
                        deadline=deadlines.pop() if len(deadlines) == 1 else None,
                        title=f"{scenario.name}: frame latency",
                    ),
                    ensure_parent(out / "stream_latency_cdf.png"),
                )
            )
            text += "\n![frame latency distribution](stream_latency_cdf.png)\n"
    except KeyboardInterrupt:  # the report is still written, then the interrupt goes on
        interrupted = True
    report = ensure_parent(out / ("report.md" if not scenario.conditions else "streams.md"))
    report.write_text(text)
    if interrupted:
        raise KeyboardInterrupt
    return [*written, report]


def save_sweep(sweep: SweepResult, out: Path, plots: bool) -> list[Path]:
    """Write a sweep's files to ``out``: ``sweep.csv`` (one row per point × algorithm)
    and, with ``plots``, latency against bandwidth and against cameras per request mix
    (each only when the sweep varies that axis)."""
    rows = sweep.rows
    written = [write_csv(out / "sweep.csv", rows)]
    if not plots or not rows:
        return written
    from edgeoffload.plots import save_figure
    from edgeoffload.plots.simulation import plot_sweep

    axes = (
        ("bandwidth", "edge_link_mbps", "bandwidth_scale", True, "camera-edge link (Mbit/s)"),
        ("cameras", "cameras", "cameras", False, "cameras"),
    )
    for mix in dict.fromkeys(r["mix"] for r in rows):
        subset = [r for r in rows if r["mix"] == mix]
        for name, x, varied, logx, label in axes:
            if len({r[varied] for r in rows}) < 2:
                continue
            written.append(
                save_figure(
                    plot_sweep(
                        subset,
                        x,
                        "latency",
                        logx=logx,
                        xlabel=label,
                        ylabel="mean request latency (s)",
                        title=f"{mix}: {name}",
                    ),
                    out / f"sweep_{name}_{mix}.png",
                )
            )
    return written


def save_calibration(result: CalibrationResult, out: Path, plots: bool) -> list[Path]:
    """Write a DHS threshold calibration to ``out``: ``calibration_problems.csv`` (one
    row per problem), ``calibration_grid.csv`` (accuracy and regret per δ1, δ2) and, with
    ``plots``, the accuracy heat map with the paper's thresholds and the best marked."""
    written = [
        write_csv(out / "calibration_problems.csv", list(result.problems)),
        write_csv(
            out / "calibration_grid.csv",
            [
                {
                    "delta1": d1,
                    "delta2": d2,
                    "accuracy": result.accuracy[i][j],
                    "regret": result.regret[i][j],
                }
                for i, d1 in enumerate(result.delta1)
                for j, d2 in enumerate(result.delta2)
            ],
        ),
    ]
    if plots:
        from edgeoffload.plots import save_figure
        from edgeoffload.plots.simulation import plot_calibration

        written.append(
            save_figure(
                plot_calibration(
                    result.accuracy,
                    result.delta1,
                    result.delta2,
                    marks={"paper": (PAPER_DELTA1, PAPER_DELTA2), "best": result.best},
                ),
                ensure_parent(out / "calibration.png"),
            )
        )
    return written
