"""``edgeoffload schedule`` and ``edgeoffload schedulers``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.table import Table

from edgeoffload.cli._common import console, output_path, parse_params, require_extra
from edgeoffload.model import Problem, Schedule, schedule_report
from edgeoffload.model.report import gap_phrase
from edgeoffload.schedulers import (
    available_schedulers,
    chosen_scheduler,
    get_scheduler,
    lower_bound,
    plugin_errors,
)
from edgeoffload.workloads import builtin_problem_names, resolve_problem

__all__ = ["register"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "schedule",
        help="schedule a problem file and print the schedule",
        description=(
            "Schedule PROBLEM (a problem file, see docs/problem-file.md, or a built-in name: "
            f"{', '.join(builtin_problem_names())}) and print the schedule as a table, or as "
            "the problem file's output JSON with --json, with a lower bound of the makespan "
            "and how far above it the schedule is. Without -a: DHS when the problem lists "
            "requests (the load-aware choice its paper makes for camera requests), else the "
            "portfolio (the best of HEFT with three rank averages, CPOP, PEFT and Single, "
            "improved task by task). "
            "Exit code 2 on bad input."
        ),
    )
    p.add_argument("problem", metavar="PROBLEM", help="problem file (JSON) or built-in name")
    p.add_argument(
        "-a",
        "--algorithm",
        default=None,
        metavar="NAME",
        help=(
            "scheduler to use (default: dhs if the problem lists requests, else portfolio;"
            " -a optimal for the proven minimum on small problems, with the exact extra;"
            " 'edgeoffload schedulers' lists them)"
        ),
    )
    p.add_argument(
        "-p",
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help=(
            "scheduler parameter, repeatable (e.g. delta1=0.2 for dhs,"
            " members=heft,peft for portfolio, time_limit=10 for optimal)"
        ),
    )
    p.add_argument("--json", action="store_true", help="print the output JSON instead of a table")
    p.add_argument("--gantt", metavar="FILE.png", help="also write a Gantt chart to FILE.png")
    p.set_defaults(handler=run_schedule)

    q = subparsers.add_parser(
        "schedulers",
        help="list the registered schedulers",
        description="List every scheduler the 'schedule' command accepts, plugins included.",
    )
    q.set_defaults(handler=run_schedulers)


def run_schedule(args: argparse.Namespace) -> int:
    gantt = None
    if args.gantt:  # checked before the work, so that nothing is computed for nothing
        require_extra("matplotlib", "plot")
        from edgeoffload.plots import figure_formats

        gantt = output_path(args.gantt, ".png", "--gantt", figure_formats())
    problem = resolve_problem(args.problem)
    algorithm, why = default_algorithm(problem, args.algorithm)
    scheduler = get_scheduler(algorithm, **parse_params(args.param))
    result = scheduler.checked_schedule(problem, algorithm)
    result = result.renamed(algorithm, result.details)
    report = schedule_report(
        problem,
        result,
        lower_bound=lower_bound(problem, result),
        chosen=chosen_scheduler(result),
    )
    if args.json:
        print(json.dumps(report))
    else:
        if why:
            console.print(f"Scheduler: [bold]{algorithm}[/bold] ({why}; -a NAME picks another)")
        print_schedule(problem, result, report)
    if gantt is not None:
        from edgeoffload.plots import save_gantt

        written = save_gantt(problem, result, gantt)
        if not args.json:
            console.print(f"Gantt chart written to {written}")
    return 0


def default_algorithm(problem: Problem, asked: str | None) -> tuple[str, str | None]:
    """The scheduler to run, and why when it was not ``asked`` for: DHS when the problem
    lists requests (the seed paper's setting: requests arriving at cameras), else the
    portfolio, which is never worse than HEFT, CPOP or PEFT."""
    if asked is not None:
        return asked, None
    if problem.has_requests:
        return "dhs", "the default for a problem that lists requests"
    return "portfolio", (
        "the default for a problem without requests: the best of HEFT (three rank averages),"
        " CPOP, PEFT and Single,"
        " improved task by task"
    )


def print_schedule(problem: Problem, schedule: Schedule, report: dict[str, Any]) -> None:
    """The human-readable form of a schedule: a header, the assignments, the requests."""
    gap = ""
    if "lower_bound" in report:
        gap = f", {gap_phrase(problem, report['makespan'], report['lower_bound'])}"
    console.print(
        f"[bold]{report['algorithm']}[/bold]: makespan [bold]{report['makespan']:.6g}[/bold] s"
        f"{gap}, {len(schedule)} tasks on {len(schedule.timelines())} of"
        f" {len(problem.cluster)} nodes"
    )
    if "optimal" in report:
        d = report["optimal"]
        if d["proven"]:
            verdict = "[bold]proven optimal[/bold] (to 1e-6 relative)"
        else:
            verdict = (
                f"[bold]not proven[/bold] within {d['time_limit']:g} s; no schedule finishes"
                f" before {d['bound']:.6g} s"
            )
        console.print(
            f"Optimal: {verdict}; CP-SAT {d['status']}, started from the portfolio's"
            f" {d['start']:.6g} s"
        )
    if "dhs" in report:
        d = report["dhs"]
        console.print(
            f"DHS: condition [bold]{d['condition']}[/bold] -> [bold]{d['chosen']}[/bold]"
            f" (spread {d['spread']:.4g} s vs δ1 {d['delta1']:g};"
            f" {d['requests_per_camera']:.3g} requests per camera vs δ2 {d['delta2']:g})"
        )
    if "portfolio" in report:
        d = report["portfolio"]
        spans = ", ".join(
            f"{k} {'n/a' if v is None else format(v, '.6g')}" for k, v in d["makespans"].items()
        )
        polished = ""
        if "polished_from" in d:
            polished = f"; moved task by task: {d['polished_from']:.6g} -> {schedule.makespan:.6g}"
        console.print(f"Portfolio: chose [bold]{d['chosen']}[/bold] ({spans}){polished}")
    table = Table("task", "node", "start (s)", "finish (s)", box=None, pad_edge=False)
    for a in schedule:
        table.add_row(a.task, a.node, f"{a.start:.6g}", f"{a.finish:.6g}")
    console.print(table)
    if "requests" in report:
        rt = Table("request", "arrival (s)", "finish (s)", "latency (s)", box=None, pad_edge=False)
        for r in report["requests"]:
            rt.add_row(r["id"], f"{r['arrival']:.6g}", f"{r['finish']:.6g}", f"{r['latency']:.6g}")
        console.print(rt)


def run_schedulers(args: argparse.Namespace) -> int:
    table = Table("name", "description", box=None, pad_edge=False)
    for name, cls in sorted(available_schedulers().items()):
        doc = (cls.__doc__ or "").strip().splitlines()
        table.add_row(name, cls.summary or (doc[0] if doc else ""))
    console.print(table)
    for name, reason in sorted(plugin_errors().items()):
        console.print(f"[red]plugin {name!r} failed to load[/red]: {reason}")
    return 0
