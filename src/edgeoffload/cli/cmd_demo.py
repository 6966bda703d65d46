"""``edgeoffload demo``: the main job, end to end, on an embedded local setup.

Each step is a function of the output folder; later features add theirs to
:data:`DEMO_STEPS`. ``make demo`` runs all of them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.table import Table

from edgeoffload.cli._common import console, ensure_parent
from edgeoffload.cli.cmd_experiment import step_offload
from edgeoffload.cli.cmd_simulate import demo_step as step_simulate
from edgeoffload.model import Problem, Schedule, request_outcomes, validate_schedule
from edgeoffload.schedulers import get_scheduler
from edgeoffload.workloads import builtin_problem

__all__ = ["DEMO_STEPS", "register"]

_ALGORITHMS = ("local", "edge", "heft", "cpop", "peft", "dhs", "portfolio")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the main demonstration end to end",
        description=(
            "Schedule the HEFT paper's example and a smart-camera cluster with every "
            "algorithm, print the comparison and write Gantt charts and a bar chart to --out."
        ),
    )
    p.add_argument(
        "--out",
        default="results/demo",
        metavar="DIR",
        help="where figures go (default: results/demo)",
    )
    p.add_argument("--no-plots", action="store_true", help="skip the figures")
    p.set_defaults(handler=run_demo)


def _schedule_all(problem: Problem) -> dict[str, Schedule]:
    results = {}
    for name in _ALGORITHMS:
        scheduler = get_scheduler(name)
        if scheduler.applies_to(problem) is None:
            result = scheduler.schedule(problem)
            validate_schedule(problem, result)
            results[name] = result
    return results


def step_schedule(out: Path | None) -> None:
    """Schedule the paper example and the camera cluster with every algorithm."""
    summary: dict[str, dict[str, float]] = {}
    for name, title in (
        ("topcuoglu2002", "HEFT paper example (Topcuoglu et al. 2002; published HEFT 80, CPOP 86)"),
        ("camera_cluster", "Smart-camera cluster: 4 CNN requests, 3 cameras + edge server"),
    ):
        problem = builtin_problem(name)
        results = _schedule_all(problem)
        table = Table(
            "algorithm",
            "makespan (s)",
            "mean request latency (s)",
            "note",
            title=title,
            title_justify="left",
        )
        for algorithm, result in results.items():
            latencies = [o.latency for o in request_outcomes(problem, result)]
            note = ""
            if "dhs" in result.details:
                d = result.details["dhs"]
                note = f"condition {d['condition']} -> {d['chosen']}"
            elif "portfolio" in result.details:
                note = f"chose {result.details['portfolio']['chosen']}"
            table.add_row(
                algorithm, f"{result.makespan:.4g}", f"{sum(latencies) / len(latencies):.4g}", note
            )
        console.print(table)
        summary[name] = {a: r.makespan for a, r in results.items()}
        if out is not None:
            from edgeoffload.plots import plot_comparison, save_figure, save_gantt

            for algorithm in ("heft", "dhs"):
                path = ensure_parent(out / f"{name}_{algorithm}_gantt.png")
                save_gantt(problem, results[algorithm], path)
            path = out / f"{name}_makespans.png"
            save_figure(
                plot_comparison(summary[name], title=title),
                path,
            )
    if out is not None:
        console.print(f"Figures written to {out}/")


DEMO_STEPS: list[Callable[[Path | None], None]] = [step_schedule, step_simulate, step_offload]


def run_demo(args: argparse.Namespace) -> int:
    out = None
    if not args.no_plots:
        from edgeoffload.cli._common import output_folder, require_extra

        require_extra("matplotlib", "plot")
        out = output_folder(args.out, "--out")
    for step in DEMO_STEPS:
        step(out)
    return 0
