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

from edgeoffload.cli._common import console
from edgeoffload.cli.cmd_experiment import step_offload
from edgeoffload.cli.cmd_simulate import demo_step as step_simulate

__all__ = ["DEMO_STEPS", "register"]


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


def step_schedule(out: Path | None) -> None:
    """Schedule the paper example and the camera cluster with every algorithm."""
    from edgeoffload.experiments.demo import save_demo_figures, schedule_demo

    problems = schedule_demo()
    for p in problems:
        table = Table(
            "algorithm",
            "makespan (s)",
            "mean request latency (s)",
            "note",
            title=p.title,
            title_justify="left",
        )
        for r in p.results.values():
            table.add_row(r.algorithm, f"{r.makespan:.4g}", f"{r.mean_latency:.4g}", r.note)
        console.print(table)
    if out is not None:
        save_demo_figures(problems, out)
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
