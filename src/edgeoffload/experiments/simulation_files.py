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

__all__ = ["save_calibration", "save_experiment", "save_streams", "save_sweep", "write_csv"]


def ensure_parent(path: Path) -> Path:
    """``path``, after creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Write ``rows`` (dicts with the same keys, in order) as CSV to ``path``; the path."""
    ensure_parent(path)
    with path.open("w", newline="") as handle:
        if rows:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return path


def save_experiment(
    result: ExperimentResult,
    scenario: Scenario,
    out: Path,
    plots: bool,
    gantt: Sequence[str] = ("dhs", "local", "edge"),
) -> list[Path]:
    """Write a batch experiment's files to ``out``: ``SCENARIO.csv`` (one row per
    condition × algorithm), the figures (with ``plots``: the paper's Fig. 1 and 2 and a
    simulated Gantt chart per condition for each of ``gantt``) and ``report.md``."""
    from edgeoffload.experiments.report import experiment_markdown
    from edgeoffload.experiments.simulated import PAPER

    rows = []
    for case in result.cases:
        load = result.loads[case.condition]
        rows.append(
            {
                "condition": case.condition,
                "dhs_class": load.condition,
                "algorithm": case.algorithm,
                "chosen": case.chosen or "",
                "predicted_latency_s": case.predicted_latency,
                "latency_s": case.latency,
                "latency_sd_s": case.latency_std,
                "latency_min_s": case.latency_min,
                "latency_max_s": case.latency_max,
                "predicted_makespan_s": case.predicted_makespan,
                "makespan_s": case.makespan,
                "energy_j": case.energy,
                "completed_runs": case.completed,
                "deadline_misses_per_run": case.deadline_misses,
                "repetitions": case.runs,
            }
        )
    written = [write_csv(out / f"{scenario.name}.csv", rows)]
    figures: dict[str, str] = {}
    if plots:
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
    report = ensure_parent(out / "report.md")
    report.write_text(experiment_markdown(result, scenario, figures))
    return [*written, *(out / name for name in figures.values()), report]


def save_streams(
    experiment: StreamExperiment, scenario: Scenario, out: Path, plots: bool
) -> list[Path]:
    """Write a stream experiment's files to ``out``: ``SCENARIO.csv`` (one row per
    algorithm), the latency distribution (with ``plots``) and a markdown report."""
    from edgeoffload.experiments.report import stream_markdown

    results = experiment.results
    rows = [
        {
            "algorithm": r.algorithm,
            "frames": r.frames,
            "completed": r.completed,
            "dropped": r.dropped,
            "deadline_misses": r.deadline_misses,
            "latency_mean_s": r.latency_mean,
            "latency_p50_s": r.latency_p50,
            "latency_p95_s": r.latency_p95,
            "latency_p99_s": r.latency_p99,
            "throughput_fps": r.throughput,
            "offered_fps": r.offered_rate,
            "max_in_flight": r.max_in_flight,
            "mean_in_flight": r.mean_in_flight,
            "energy_j": r.sim.energy,
        }
        for r in results
    ]
    written = [write_csv(out / f"{scenario.name}.csv", rows)]
    text = stream_markdown(results, scenario, interrupted=experiment.interrupted)
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
    name = "report.md" if not scenario.conditions else "streams.md"
    report = ensure_parent(out / name)
    report.write_text(text)
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
