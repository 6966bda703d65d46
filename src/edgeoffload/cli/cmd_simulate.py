"""``edgeoffload simulate``, ``export``, ``sweep``, ``calibrate`` and ``scenarios``.

Thin: parse the arguments, load the scenario, call the simulation library, render tables
and write figures, CSV and a markdown report. simpy and matplotlib are imported only when
a command runs.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from edgeoffload.cli._common import (
    EXIT_INTERRUPTED,
    as_flags,
    console,
    err_console,
    number,
    output_folder,
    output_path,
    require_extra,
    whole,
)
from edgeoffload.errors import ModelError
from edgeoffload.experiments.simulation_files import (
    save_calibration,
    save_experiment,
    save_streams,
    save_sweep,
)
from edgeoffload.schedulers.dhs import PAPER_DELTA1, PAPER_DELTA2

if TYPE_CHECKING:
    from edgeoffload.experiments.simulated import ExperimentResult, StreamExperiment
    from edgeoffload.model import Problem
    from edgeoffload.workloads.scenarios import Scenario

__all__ = ["demo_step", "register"]

DEFAULT_SCENARIO = "dhs-paper"


def _floats(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = [math.nan]
    if not values or not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(
            f"expected finite numbers separated by commas, got {text[:40]!r}"
        )
    return values


MAX_CAMERAS = 100
"""Most cameras a sweep point may have (each adds requests and a node to every problem)."""


def _cameras(text: str) -> list[int]:
    parse = whole(1, MAX_CAMERAS)
    values = [parse(x) for x in text.split(",") if x.strip()]
    if not values:
        raise argparse.ArgumentTypeError("expected camera counts separated by commas")
    return values


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="simulate a scenario (default: the DHS paper's experiment)",
        description=(
            "Schedule every condition of SCENARIO (a scenario file or a built-in name; default "
            f"{DEFAULT_SCENARIO}) with each of its algorithms, simulate every schedule "
            "--repetitions times, and print latency per condition and algorithm, predicted "
            "and simulated, with the DHS paper's published results beside ours. Stream "
            "scenarios run their frame streams with each algorithm. Figures (PNG), CSV and "
            "a markdown report go to --out. An estimate of the work is printed first; "
            "Ctrl-C stops the run and writes what was done (exit status 130). SCENARIO may "
            "also be a problem file (.json, as 'edgeoffload schedule' reads): it is "
            "scheduled with every algorithm that applies and simulated under the "
            "schedulers' assumptions, with --exec-cv/--transfer-cv variation."
        ),
    )
    p.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO, metavar="SCENARIO|PROBLEM.json")
    p.add_argument(
        "--out",
        default="results/simulate",
        metavar="DIR",
        help="where figures, CSV and the report go (default: results/simulate)",
    )
    p.add_argument(
        "--repetitions",
        "-n",
        type=whole(1, 1000),
        metavar="N",
        help="simulated runs per case, 1 to 1,000 (default: the scenario's)",
    )
    p.add_argument(
        "--seed", type=whole(0, 2**63 - 1), metavar="S", help="seed >= 0 (default: the scenario's)"
    )
    p.add_argument(
        "--condition",
        "-c",
        action="append",
        metavar="C",
        help="run only this condition (repeatable)",
    )
    p.add_argument(
        "--algorithms",
        "-a",
        type=_names,
        metavar="A,B",
        help="algorithms to compare (default: the scenario's)",
    )
    for flag, what in (("--exec-cv", "execution"), ("--transfer-cv", "transfer")):
        p.add_argument(
            flag,
            type=number(0, 10, strict_low=False),
            metavar="CV",
            help=f"problem files only: coefficient of variation of {what} times, 0 to 10 "
            "(default 0: simulated equals predicted)",
        )
    p.add_argument("--no-plots", action="store_true", help="write no figures")
    p.set_defaults(handler=run_simulate)

    e = subparsers.add_parser(
        "export",
        help="write the problem file a scenario compiles to",
        description=(
            "Compile the requests of SCENARIO (one condition) to the problem file that "
            "'edgeoffload schedule' and outside tools read (docs/problem-file.md)."
        ),
    )
    e.add_argument("scenario", metavar="SCENARIO", help="scenario file or built-in name")
    e.add_argument("--condition", "-c", metavar="C", help="which condition (default: the first)")
    e.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    e.set_defaults(handler=run_export)

    s = subparsers.add_parser(
        "sweep",
        help="sweep bandwidth, camera count, request mix and DHS thresholds",
        description=(
            "Run a grid of variations of SCENARIO in parallel processes: every link's "
            "bandwidth times each --bandwidth-scale, each --cameras count (cameras copied "
            "from the scenario's in turn), each --mix (the paper's conditions scaled to the "
            "camera count) and each --delta1/--delta2. Writes sweep.csv and plots to --out."
        ),
    )
    s.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO, metavar="SCENARIO")
    s.add_argument(
        "--bandwidth-scale",
        type=_floats,
        default=[0.25, 0.5, 1.0, 2.0, 4.0, 8.0],
        metavar="X,Y",
        help="factors on every link's bandwidth (default 0.25..8)",
    )
    s.add_argument(
        "--cameras",
        type=_cameras,
        default=[4],
        metavar="N,M",
        help=f"camera counts, 1 to {MAX_CAMERAS} (default 4)",
    )
    s.add_argument(
        "--mix",
        type=_names,
        default=["U-H", "U-L", "B-H", "B-L"],
        metavar="M,N",
        help="request mixes: U-H, U-L, B-H, B-L (default all)",
    )
    s.add_argument(
        "--delta1",
        type=_floats,
        default=[PAPER_DELTA1],
        metavar="X,Y",
        help=f"DHS δ1 values, seconds (default {PAPER_DELTA1:g}, the paper's)",
    )
    s.add_argument(
        "--delta2",
        type=_floats,
        default=[PAPER_DELTA2],
        metavar="X,Y",
        help=f"DHS δ2 values (default {PAPER_DELTA2:g}, the paper's)",
    )
    s.add_argument(
        "--algorithms",
        "-a",
        type=_names,
        metavar="A,B",
        help="algorithms (default: the scenario's)",
    )
    s.add_argument(
        "--repetitions",
        "-n",
        type=whole(1, 1000),
        default=3,
        metavar="N",
        help="simulated runs per point (default 3)",
    )
    s.add_argument("--workers", type=whole(1, 256), metavar="N", help="processes (default: cores)")
    s.add_argument("--out", default="results/sweep", metavar="DIR")
    s.add_argument("--no-plots", action="store_true", help="write no figures")
    s.set_defaults(handler=run_sweep_command)

    c = subparsers.add_parser(
        "calibrate",
        help="find the DHS thresholds that pick the best list scheduler most often",
        description=(
            "Generate varied problems from SCENARIO's devices and network (camera counts, "
            "bandwidths, request counts, uneven loads), find the fastest of HEFT, CPOP and "
            "PEFT on each by simulation, and score every δ1 × δ2 of a grid by how often "
            "DHS's rule picks it; report the best thresholds and how the paper's (0.1 s, 1) "
            "do. Writes calibration_problems.csv, calibration_grid.csv and a heat map."
        ),
    )
    c.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO, metavar="SCENARIO")
    c.add_argument(
        "--problems",
        type=whole(1, 100_000),
        default=60,
        metavar="N",
        help="problems to generate (default 60)",
    )
    c.add_argument("--seed", type=whole(0, 2**63 - 1), default=0, metavar="S")
    c.add_argument("--delta1", type=_floats, metavar="X,Y", help="δ1 grid, seconds")
    c.add_argument("--delta2", type=_floats, metavar="X,Y", help="δ2 grid")
    c.add_argument(
        "--repetitions",
        "-n",
        type=whole(1, 1000),
        default=2,
        metavar="N",
        help="simulated runs per problem and scheduler (default 2)",
    )
    c.add_argument("--workers", type=whole(1, 256), metavar="N", help="processes (default: cores)")
    c.add_argument("--out", default="results/calibrate", metavar="DIR")
    c.add_argument("--no-plots", action="store_true", help="write no figures")
    c.set_defaults(handler=run_calibrate)

    g = subparsers.add_parser(
        "scenarios",
        help="list the built-in scenarios",
        description="List the scenarios shipped with edgeoffload ('simulate NAME' runs one).",
    )
    g.set_defaults(handler=run_scenarios)


# -- helpers ------------------------------------------------------------------------------------
@contextmanager
def _progress(
    description: str,
    announce: str | None = None,
    on_start: Callable[[], object] | None = None,
) -> Iterator[Callable[[int, int], None]]:
    """A progress bar (on stderr). Its first update, which the library makes once every
    input has been checked and the work starts, first calls ``on_start`` (which may still
    refuse, e.g. an output folder) and prints ``announce``."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        "left",
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,  # a bar only for a person
    ) as bar:
        task = bar.add_task(description, total=None)

        started = [False]

        def update(done: int, total: int) -> None:
            if not started[0]:
                started[0] = True
                if on_start is not None:
                    on_start()
                if announce is not None:
                    err_console.print(announce, highlight=False, soft_wrap=True)
            bar.update(task, completed=done, total=total)

        yield update


def _ms(seconds: float) -> str:
    """Seconds as milliseconds, 3 significant digits or so."""
    ms = seconds * 1e3
    return f"{ms:.0f}" if abs(ms) >= 100 else f"{ms:.1f}"


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _plots_wanted(args: argparse.Namespace) -> bool:
    if args.no_plots:
        return False
    require_extra("matplotlib", "plot")
    return True


# -- simulate -------------------------------------------------------------------------------------


SIMULATE_FLAGS = {
    "condition": "--condition",
    "algorithms": "--algorithms",
    "repetitions": "--repetitions",
}


def run_simulate(args: argparse.Namespace) -> int:
    require_extra("simpy", "sim")
    from edgeoffload.experiments.problem_sim import read_problem_file
    from edgeoffload.experiments.simulated import estimate_work
    from edgeoffload.workloads.scenarios import load_scenario

    problem = read_problem_file(args.scenario)
    if problem is not None:
        return _simulate_problem_file(args, problem)
    for flag, value in (("--exec-cv", args.exec_cv), ("--transfer-cv", args.transfer_cv)):
        if value is not None:
            raise ModelError("is for problem files; a scenario sets its own variation", flag)
    scenario = load_scenario(args.scenario)
    plots = _plots_wanted(args)
    conditions = args.condition or None
    with as_flags(SIMULATE_FLAGS):
        estimate = estimate_work(  # checks the conditions and algorithms too
            scenario,
            repetitions=args.repetitions,
            conditions=conditions,
            algorithms=args.algorithms,
            plots=plots,
        )
    out = output_folder(args.out, "--out")
    err_console.print(f"{scenario.name}: {estimate.describe()}", highlight=False, soft_wrap=True)
    interrupted = False
    if scenario.conditions:
        result = _experiment(scenario, args.repetitions, args.seed, conditions, args.algorithms)
        interrupted = result.interrupted
        if result.conditions:
            _print_experiment(result, scenario)
        save_experiment(result, scenario, out, plots)
    if scenario.streams and not interrupted:
        streams = _streams(scenario, args.seed, args.algorithms)
        interrupted = streams.interrupted
        if streams.results:
            _print_streams(streams, scenario)
        save_streams(streams, scenario, out, plots)
    if interrupted:
        console.print(f"Interrupted: what was done is written to {out}/")
        return EXIT_INTERRUPTED
    console.print(f"Report, CSV and figures written to {out}/")
    return 0


def _simulate_problem_file(args: argparse.Namespace, problem: Problem) -> int:
    """``simulate PROBLEM.json``: every algorithm that applies, N simulated runs each."""
    from edgeoffload.experiments.problem_sim import run_problem, save_problem_experiment

    if args.condition:
        raise ModelError("a problem file has no conditions", "--condition")
    plots = _plots_wanted(args)
    name = Path(args.scenario).stem
    out = Path(args.out)
    with (
        as_flags(SIMULATE_FLAGS),
        _progress(
            f"simulating {name}",
            announce=f"{name}: {len(problem.graph):,} tasks on {len(problem.cluster)} nodes",
            on_start=lambda: output_folder(out, "--out"),
        ) as update,
    ):
        result = run_problem(
            problem,
            name,
            algorithms=args.algorithms,
            repetitions=args.repetitions or 1,
            seed=args.seed or 0,
            exec_cv=args.exec_cv or 0.0,
            transfer_cv=args.transfer_cv or 0.0,
            progress=update,
        )
    if not result.conditions:  # interrupted before a repetition was done
        raise KeyboardInterrupt
    _print_experiment(result, None)
    save_problem_experiment(result, out, plots)
    if result.interrupted:
        console.print(f"Interrupted: what was done is written to {out}/")
        return EXIT_INTERRUPTED
    console.print(f"Report, CSV and figures written to {out}/")
    return 0


def _experiment(
    scenario: Scenario,
    repetitions: int | None,
    seed: int | None,
    conditions: Sequence[str] | None,
    algorithms: Sequence[str] | None,
) -> ExperimentResult:
    from edgeoffload.experiments.simulated import run_experiment

    with _progress(f"simulating {scenario.name}") as update:
        return run_experiment(
            scenario,
            repetitions=repetitions,
            seed=seed,
            conditions=conditions,
            algorithms=algorithms,
            progress=update,
        )


def _print_experiment(result: ExperimentResult, scenario: Scenario | None) -> None:
    """The latency table; for a scenario (not a problem file), the paper beside ours."""
    from rich import box

    from edgeoffload.experiments.report import paper_differences
    from edgeoffload.experiments.simulated import paper_comparison

    runs = {result.case(c, result.algorithms[0]).runs for c in result.conditions}
    table = Table(
        "",
        *result.conditions,
        title=(
            f"{result.scenario}: mean request latency, ms: simulated ± sd over "
            f"{'/'.join(str(n) for n in sorted(runs))} runs (predicted); fastest in green"
        ),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_row(
        "[dim]class, spread, A/n[/dim]",
        *(
            f"[dim]{result.loads[c].condition} {result.loads[c].spread * 1e3:.0f}ms "
            f"{result.loads[c].requests_per_camera:.2f}[/dim]"
            for c in result.conditions
        ),
    )
    for algorithm in result.algorithms:
        cells = []
        for condition in result.conditions:
            case = result.case(condition, algorithm)
            text = f"{_ms(case.latency)} ±{_ms(case.latency_std)} ({_ms(case.predicted_latency)})"
            if algorithm == result.winner(condition, among=result.algorithms):
                text = f"[bold green]{text}[/bold green]"
            if case.chosen:
                text += f" [dim]{case.chosen}[/dim]"
            cells.append(text)
        table.add_row(algorithm, *cells)
    console.print(table)
    rows = paper_comparison(result) if scenario is not None else []
    if rows and scenario is not None:
        paper = Table(
            "published figure",
            "paper",
            "ours (simulated)",
            "agrees",
            "detail",
            title="The DHS paper beside ours",
            title_justify="left",
        )
        for row in rows:
            agrees = "-" if row.agrees is None else ("yes" if row.agrees else "[red]no[/red]")
            paper.add_row(row.quantity, row.paper, row.ours, agrees, row.note)
        console.print(paper)
        console.print("[bold]Why ours differ[/bold]")
        for headline, text in paper_differences(result, scenario):
            console.print(f" • [bold]{_escape(headline)}[/bold] {_escape(text)}")


def _streams(
    scenario: Scenario, seed: int | None, algorithms: Sequence[str] | None
) -> StreamExperiment:
    from edgeoffload.experiments.simulated import run_streams

    with _progress(f"streaming {scenario.name}") as update:
        return run_streams(scenario, seed=seed, algorithms=algorithms, progress=update)


def _print_streams(experiment: StreamExperiment, scenario: Scenario) -> None:
    from rich import box

    results = experiment.results
    table = Table(
        "planner",
        "frames",
        "done",
        "drop",
        "late",
        "p50ms",
        "p95ms",
        "p99ms",
        "fps",
        "queue",
        "J",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        title=(
            f"{scenario.name}: frames scheduled on arrival (offered "
            f"{results[0].offered_rate:.1f} fps)"
        ),
        title_justify="left",
    )
    for r in results:
        table.add_row(
            r.algorithm,
            str(r.frames),
            str(r.completed),
            str(r.dropped),
            str(r.deadline_misses),
            _ms(r.latency_p50),
            _ms(r.latency_p95),
            _ms(r.latency_p99),
            f"{r.throughput:.1f}",
            str(r.max_in_flight),
            f"{r.sim.energy:.0f}",
        )
    console.print(table)


# -- export ---------------------------------------------------------------------------------------
def run_export(args: argparse.Namespace) -> int:
    from edgeoffload.model import problem_text
    from edgeoffload.workloads.scenarios import load_scenario

    scenario = load_scenario(args.scenario)
    output = output_path(args.output, "", "--output") if args.output else None
    condition = args.condition
    if condition is None and len(scenario.condition_names) > 1:
        print(
            f"edgeoffload: exporting condition {scenario.condition_names[0]!r} of "
            f"{', '.join(scenario.condition_names)} (choose one with --condition)",
            file=sys.stderr,
        )
    problem = scenario.problem(condition)
    text = problem_text(problem)
    if output is not None:
        output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


# -- sweep ----------------------------------------------------------------------------------------
SWEEP_FLAGS = {
    "bandwidth_scale": "--bandwidth-scale",
    "cameras": "--cameras",
    "mix": "--mix",
    "delta1": "--delta1",
    "delta2": "--delta2",
    "algorithms": "--algorithms",
    "repetitions": "--repetitions",
    "problems": "--problems",
}


def run_sweep_command(args: argparse.Namespace) -> int:
    require_extra("simpy", "sim")
    from edgeoffload.experiments.sweep import run_sweep, sweep_points
    from edgeoffload.workloads.scenarios import load_scenario

    load_scenario(args.scenario)  # one-line error on a bad scenario before any process starts
    plots = _plots_wanted(args)
    out = Path(args.out)
    with as_flags(SWEEP_FLAGS):
        points = sweep_points(
            bandwidth_scales=args.bandwidth_scale,
            cameras=args.cameras,
            mixes=args.mix,
            delta1=args.delta1,
            delta2=args.delta2,
        )
        start = (
            f"sweeping {len(points)} points × {args.repetitions} repetitions "
            "(Ctrl-C stops it and keeps the points done)"
        )
        with _progress(
            f"sweeping {len(points)} points",
            announce=start,
            on_start=lambda: output_folder(out, "--out"),
        ) as update:
            result = run_sweep(
                args.scenario,
                points,
                algorithms=args.algorithms,
                repetitions=args.repetitions,
                workers=args.workers,
                progress=update,
            )
    written = save_sweep(result, out, plots)
    if result.rows:
        _print_sweep(result.rows)
    console.print(f"{len(result.rows)} rows written to {written[0]}")
    if result.interrupted:
        console.print(f"Interrupted after {result.done} of {len(result.points)} points")
        return EXIT_INTERRUPTED
    return 0


def _print_sweep(rows: Sequence[dict[str, Any]]) -> None:
    from rich import box

    algorithms = list(dict.fromkeys(r["algorithm"] for r in rows))
    axes = [("mix", "mix"), ("cameras", "cams"), ("bandwidth_scale", "bw×")]
    axes += [(k, k[0] + k[-1]) for k in ("delta1", "delta2") if len({r[k] for r in rows}) > 1]
    table = Table(
        *(label for _, label in axes),
        "class",
        *algorithms,
        title="mean request latency, ms (simulated; fastest in green)",
        title_justify="left",
        box=box.SIMPLE,
        pad_edge=False,
    )
    points: dict[int, dict[str, Any]] = {}
    for row in rows:
        points.setdefault(row["point"], {"row": row})[row["algorithm"]] = row["latency"]
    for entry in points.values():
        row = entry["row"]
        values = {a: entry.get(a) for a in algorithms}
        best = min((v for v in values.values() if v is not None), default=None)
        cells = []
        for a in algorithms:
            v = values[a]
            cell = "-" if v is None else f"{v * 1e3:.0f}" if v >= 0.1 else f"{v * 1e3:.1f}"
            cells.append(
                f"[bold green]{cell}[/bold green]" if v is not None and v == best else cell
            )
        table.add_row(
            *(f"{row[key]:g}" if key != "mix" else row[key] for key, _ in axes),
            row["dhs_condition"],
            *cells,
        )
    console.print(table)


# -- calibrate ------------------------------------------------------------------------------------
def run_calibrate(args: argparse.Namespace) -> int:
    require_extra("simpy", "sim")
    from edgeoffload.experiments.sweep import calibrate
    from edgeoffload.workloads.scenarios import load_scenario

    load_scenario(args.scenario)
    plots = _plots_wanted(args)
    grid: dict[str, Any] = {}
    if args.delta1:
        grid["delta1"] = args.delta1
    if args.delta2:
        grid["delta2"] = args.delta2
    out = Path(args.out)
    start = (
        f"calibrating on {args.problems} problems (Ctrl-C stops it and scores the problems done)"
    )
    with (
        as_flags(SWEEP_FLAGS),
        _progress(
            f"calibrating on {args.problems} problems",
            announce=start,
            on_start=lambda: output_folder(out, "--out"),
        ) as update,
    ):
        result = calibrate(
            args.scenario,
            problems=args.problems,
            seed=args.seed,
            repetitions=args.repetitions,
            workers=args.workers,
            progress=update,
            **grid,
        )
    save_calibration(result, out, plots)
    table = Table(
        "δ1 \\ δ2",
        *(f"{d:g}" for d in result.delta2),
        title="share of problems where DHS picks the fastest list scheduler",
        title_justify="left",
    )
    for i, d1 in enumerate(result.delta1):
        cells = []
        for j, d2 in enumerate(result.delta2):
            cell = f"{result.accuracy[i][j]:.2f}"
            if (d1, d2) == result.best:
                cell = f"[bold green]{cell}[/bold green]"
            cells.append(cell)
        table.add_row(f"{d1:g}", *cells)
    console.print(table)
    always = ", ".join(f"{k.upper()} {v:.0%}" for k, v in result.always.items())
    console.print(
        f"Best thresholds: δ1 = {result.best[0]:g} s, δ2 = {result.best[1]:g}: DHS picks the "
        f"fastest in {result.best_accuracy:.0%} of {len(result.problems)} problems.\n"
        f"The paper's rule (δ1 = {PAPER_DELTA1:g} s, δ2 = {PAPER_DELTA2:g}): "
        f"{result.paper_accuracy:.0%}, its pick {result.paper_regret:.1%} slower than the "
        f"fastest on average.\n"
        f"Fastest list scheduler per problem: {always}."
    )
    console.print(f"Written to {out}/")
    if result.interrupted:
        console.print(f"Interrupted after {len(result.problems)} of {args.problems} problems")
        return EXIT_INTERRUPTED
    return 0


# -- scenarios ------------------------------------------------------------------------------------
def run_scenarios(args: argparse.Namespace) -> int:
    from edgeoffload.workloads.scenarios import builtin_scenario_names, load_scenario

    table = Table("name", "conditions", "streams", "description", box=None, pad_edge=False)
    for name in builtin_scenario_names():
        scenario = load_scenario(name)
        table.add_row(
            name,
            ", ".join(scenario.condition_names) or "-",
            str(len(scenario.streams)),
            scenario.description,
        )
    console.print(table)
    return 0


# -- demo -----------------------------------------------------------------------------------------
def demo_step(out: Path | None) -> None:
    """The DHS paper's experiment, 5 simulated runs per case (a few seconds)."""
    require_extra("simpy", "sim")
    from edgeoffload.workloads.scenarios import load_scenario

    scenario = load_scenario(DEFAULT_SCENARIO)
    console.rule("[bold]The DHS paper's experiment, simulated[/bold]")
    result = _experiment(scenario, 5, None, None, None)
    _print_experiment(result, scenario)
    if out is not None:
        save_experiment(result, scenario, out / "simulate", plots=True, gantt=("dhs",))
        console.print(f"Report and figures written to {out / 'simulate'}/")
