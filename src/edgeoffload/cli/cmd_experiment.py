"""``edgeoffload experiment cofa``: the COFA paper's experiments on this machine."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from edgeoffload.cli._common import console, output_folder, require_extra, whole
from edgeoffload.errors import ModelError

if TYPE_CHECKING:
    from edgeoffload.experiments.cofa import CofaConfig, CofaResult

__all__ = ["register"]


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be a fraction of one core in (0, 1]: {text}")
    return value


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "experiment",
        help="reproduce a paper's experiment on this machine",
        description="Reproduce a paper's experiment on this machine, with real processes.",
    )
    experiments = p.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    c = experiments.add_parser(
        "cofa",
        help="COFA's Reversi and Linpack offloading experiments (throttled client)",
        description=(
            "COFA's experiments: Reversi (both players AI, alpha-beta minimax to depth 6) and "
            "Linpack, run on a throttled client ('phone', a subprocess held to a CPU quota), "
            "locally and offloaded to a less throttled worker ('nearby device') and an "
            "unthrottled one ('server'). Prints whole-run and computation speedups, the "
            "offloading overhead and an energy estimate beside the paper's numbers. Needs "
            "root and a cgroup v1 cpu hierarchy, or falls back to a SIGSTOP/SIGCONT duty cycle."
        ),
    )
    c.add_argument(
        "--quick",
        action="store_true",
        help="a short run: 4 plies, Linpack n=1500, one run (about half a minute)",
    )
    c.add_argument(
        "--paper-ratios",
        action="store_true",
        help="use the paper's device ratios (phone 1/25.6, nearby 1/9.1 of the server)",
    )
    c.add_argument(
        "--runs", type=whole(1, 1000), metavar="N", help="repetitions (default: 3; paper: 5)"
    )
    c.add_argument(
        "--plies", type=whole(1, 60), metavar="N", help="Reversi moves per game (default: 12)"
    )
    c.add_argument(
        "--depth", type=whole(1, 12), metavar="N", help="Reversi search depth (default: 6)"
    )
    c.add_argument(
        "--linpack-n", type=whole(1, 20_000), metavar="N", help="Linpack order (default: 3000)"
    )
    c.add_argument(
        "--apps",
        metavar="LIST",
        help="comma-separated apps to run: reversi,linpack (default: both)",
    )
    c.add_argument(
        "--phone-quota",
        type=_fraction,
        metavar="CORES",
        help="CPU of the phone in cores (default: 0.10)",
    )
    c.add_argument(
        "--nearby-quota",
        type=_fraction,
        metavar="CORES",
        help="CPU of the nearby device in cores (default: 0.28)",
    )
    c.add_argument(
        "--method",
        choices=("auto", "cgroup", "duty"),
        help="throttling method (default: auto = cgroup v1 where possible)",
    )
    c.add_argument(
        "--out",
        metavar="DIR",
        help="write report.md, cofa.json and PNG charts to DIR",
    )
    c.add_argument("--no-plots", action="store_true", help="with --out, skip the charts")
    c.add_argument("--json", action="store_true", help="print the results as JSON only")
    c.set_defaults(handler=run_experiment_cofa)


def config_from_args(args: argparse.Namespace) -> CofaConfig:
    """The :class:`CofaConfig` the options ask for (bad values: ModelError, exit 2)."""
    from edgeoffload.experiments.cofa import CofaConfig

    changes: dict[str, Any] = {}
    for option, name in (
        ("runs", "runs"),
        ("plies", "plies"),
        ("depth", "depth"),
        ("linpack_n", "linpack_n"),
        ("phone_quota", "phone_quota"),
        ("nearby_quota", "nearby_quota"),
        ("method", "method"),
    ):
        value = getattr(args, option)
        if value is not None:
            changes[name] = value
    if args.apps:
        changes["apps"] = tuple(a.strip() for a in args.apps.split(",") if a.strip())
    if args.quick and args.paper_ratios:
        raise ModelError("choose one of --quick and --paper-ratios", "options")
    if args.quick:
        return CofaConfig.quick(**changes)
    if args.paper_ratios:
        return CofaConfig.paper_ratios(**changes)
    return CofaConfig(**changes)


def run_experiment_cofa(args: argparse.Namespace) -> int:
    from edgeoffload.experiments.cofa import run_cofa

    config = config_from_args(args)
    out = output_folder(args.out, "--out") if args.out else None
    if out is not None and not args.no_plots:
        require_extra("matplotlib", "plot")
    if args.json:
        result = run_cofa(config)
    else:
        console.print(
            f"[bold]COFA experiments[/bold]: phone {config.phone_quota:g} core,"
            f" nearby {config.nearby_quota:g} core, server unthrottled;"
            f" {', '.join(config.apps)}; {config.runs} run(s)"
        )
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("starting the phone", total=config.steps)

            def on_event(event: Mapping[str, Any]) -> None:
                kind = event.get("event")
                if kind == "status":
                    progress.update(task, description=str(event["text"]))
                elif kind == "start":
                    where = "locally" if event["target"] == "phone" else f"→ {event['target']}"
                    progress.update(
                        task,
                        description=f"{event['app']} {where}, run {event['run']}/{config.runs}",
                    )
                elif kind == "step":
                    progress.advance(task)
                elif kind == "record":
                    r = event["record"]
                    progress.console.print(
                        f"  {r['app']:8} {r['target']:7} run {r['run']}:"
                        f" whole {r['whole']:7.2f} s, compute {r['compute']:7.2f} s"
                    )

            result = run_cofa(config, on_event=on_event)
    if out is not None:
        from edgeoffload.experiments.cofa_files import save_cofa

        save_cofa(result, out, plots=not args.no_plots)
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    print_result(result)
    if out is not None:
        console.print(f"Report, data and charts written to {out}/")
    return 0


def print_result(result: CofaResult) -> None:
    """The tables: measured times, beside the paper, and the calibration."""
    from edgeoffload.experiments.cofa import (
        CALIBRATION_COLUMNS,
        PAPER_COLUMNS,
        TIME_COLUMNS,
        calibration_rows,
        table_rows,
    )

    rows = table_rows(result)
    for title, columns in (
        ("Measured (means over the runs; seconds)", TIME_COLUMNS),
        ("Beside the paper (COFA, 2017)", PAPER_COLUMNS),
    ):
        table = Table(*columns, title=title, title_justify="left", box=box.SIMPLE_HEAD)
        for row in rows:
            table.add_row(*(row[c] for c in columns))
        console.print(table)
    table = Table(
        *CALIBRATION_COLUMNS,
        title="Calibration: the throttle probe in each role",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for row in calibration_rows(result):
        table.add_row(*(row[c] for c in CALIBRATION_COLUMNS))
    console.print(table)
    console.print(
        "×: speedup over the phone, (the paper's). asked = the computation speedup the"
        " quotas ask for; probe = the one the calibration probe measured. The paper states Linpack"
        " speedups of 2.9× and 29.2×; its own MFLOPS figures give 2.8× and 25.6× (shown)."
    )


def step_offload(out: Path | None) -> None:
    """Demo step: a throttled phone offloads Reversi and Linpack, and it pays.

    Skipped, in one line saying why, where Dask is not installed or no process can be
    throttled (not root, no cgroup v1 and no signals).
    """
    from edgeoffload.experiments.demo import (
        offload_demo,
        offload_demo_unavailable,
        save_offload_figure,
    )

    reason = offload_demo_unavailable()
    if reason is not None:
        console.print(f"\nOffloading demo skipped: {reason}")
        return

    console.print(
        "\n[bold]Offloading that pays[/bold]: the client is a 'phone' held to 0.1 of a core;"
        " a 'nearby' worker has 0.28 of a core, the 'server' an unthrottled one."
    )
    with console.status("starting the phone and its two workers…") as status:

        def on_event(event: Mapping[str, Any]) -> None:
            if event.get("event") == "start":
                how = "alone" if event["target"] == "phone" else "with offloading"
                status.update(f"{event['app']} on the phone {how}…")

        rows = offload_demo(on_event=on_event)
    table = Table(
        "app",
        "work",
        "phone alone (s)",
        "offloaded (s)",
        "speedup",
        "calls ran",
        title="Same work on the phone, alone and offloading (decided per call)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for r in rows:
        where = ", ".join(f"{k} {v}" for k, v in sorted(r.where.items()))
        table.add_row(
            r.app, r.work, f"{r.local:.2f}", f"{r.offloaded:.2f}", f"{r.speedup:.1f}×", where
        )
    console.print(table)
    console.print(f"First decision: {rows[0].reason}")
    if out is not None:
        save_offload_figure(rows, out)
