"""``edgeoffload run`` and ``edgeoffload calibrate-cluster``: scheduled DAGs on real workers.

::

    edgeoffload run dhs-paper --condition B-L --granularity block       # a local cluster
    edgeoffload run my.yaml --cluster tls://10.0.0.5:8786 --tls certs/   # a real one
    edgeoffload calibrate-cluster --cluster tls://10.0.0.5:8786 --tls certs/ -o cluster.json
    edgeoffload calibrate-cluster dhs-paper -o cluster.json --scenario-out calibrated.yaml

``run`` compiles each condition of the scenario to one problem, calibrates the workers
(unless given a cluster file), and runs Local, Edge and DHS for real with a synthetic
kernel per task; it prints predicted, simulated and measured makespans and latencies and
writes ``run.json`` and predicted-vs-measured Gantt charts to ``--out``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.table import Table

from edgeoffload.cli._common import (
    address_args,
    calibration_args,
    console,
    err_console,
    number,
    output_folder,
    output_path,
    require_extra,
    whole,
)
from edgeoffload.errors import ModelError

if TYPE_CHECKING:
    from edgeoffload.experiments.dag_run import ScenarioRun
    from edgeoffload.runtime.client.calibration import Calibration
    from edgeoffload.runtime.dag import DagRun

__all__ = ["number", "register"]


MAX_SCALE = 100.0
"""The largest work factor ``--scale`` and ``--check-scale`` take."""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "run",
        help="run a scenario's requests for real: Local, Edge and DHS on workers",
        description=(
            "Run each condition of SCENARIO on real workers named after its nodes, with each "
            "algorithm, every task burning its FLOP with a synthetic kernel; report the "
            "predicted, simulated and measured makespan and latency per request."
        ),
    )
    p.add_argument("scenario", metavar="SCENARIO", help="scenario file or built-in name")
    address_args(p)
    p.add_argument(
        "-c",
        "--condition",
        action="append",
        metavar="C",
        help="condition to run (repeatable; default: all)",
    )
    p.add_argument(
        "-a",
        "--algorithms",
        default="local,edge,dhs",
        metavar="A,B",
        help="schedulers to compare (default: local,edge,dhs)",
    )
    p.add_argument(
        "--granularity", choices=("layer", "block"), help="DNN granularity (default: scenario's)"
    )
    p.add_argument(
        "--scale",
        type=number(0, MAX_SCALE),
        default=1.0,
        metavar="F",
        help=f"multiply every task's work by F, at most {MAX_SCALE:g} (default 1)",
    )
    p.add_argument(
        "--cluster-file",
        metavar="FILE",
        help="plan on this cluster file (from calibrate-cluster) instead of calibrating",
    )
    p.add_argument(
        "--no-calibrate",
        action="store_true",
        help="plan on the scenario's own figures (presets), not measured ones",
    )
    calibration_args(p)
    p.add_argument(
        "--repeat", type=whole(1, 100), default=1, metavar="N", help="runs per case (median)"
    )
    p.add_argument("--out", default="results/run", metavar="DIR", help="where files go")
    p.add_argument("--no-plots", action="store_true", help="write no Gantt charts")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(handler=run_run)

    q = subparsers.add_parser(
        "calibrate-cluster",
        help="measure real workers' speeds and links into a cluster file",
        description=(
            "Measure each worker's speed per task kind and the bandwidth and latency between "
            "each pair of workers (and to this client) into a cluster file: the problem "
            "file's nodes and links, read by the schedulers and the simulator. Without "
            "--cluster, a local cluster is started for SCENARIO's nodes."
        ),
    )
    q.add_argument(
        "scenario",
        nargs="?",
        metavar="SCENARIO",
        help="scenario whose nodes these are (roles, power; needed without --cluster)",
    )
    address_args(q)
    q.add_argument("-o", "--output", default="cluster.json", metavar="FILE", help="cluster file")
    calibration_args(q)
    q.add_argument(
        "--kinds",
        default="conv,fc,pool,add,concat,flatten",
        metavar="K,L",
        help="task kinds to calibrate (default: the DNN graphs' kinds)",
    )
    q.add_argument(
        "--scenario-out",
        metavar="FILE.yaml",
        help="also write SCENARIO with the measured devices and links",
    )
    q.add_argument(
        "--check",
        action="store_true",
        help="then run SCENARIO's first condition with DHS and report the prediction error",
    )
    q.add_argument(
        "--check-scale",
        type=number(0, MAX_SCALE),
        default=1.0,
        metavar="F",
        help=f"work factor of the --check run, at most {MAX_SCALE:g} (default 1)",
    )
    q.set_defaults(handler=run_calibrate_cluster)


def _scenario(name: str) -> Any:
    from edgeoffload.workloads.scenarios import load_scenario

    return load_scenario(name)


def run_run(args: argparse.Namespace) -> int:
    require_extra("distributed", "runtime")
    require_extra("simpy", "sim")
    from edgeoffload.experiments.dag_run import run_scenario, save_run
    from edgeoffload.runtime.client.calibration import load_cluster_file

    scenario = _scenario(args.scenario)
    algorithms = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    if not algorithms:
        raise ModelError("give at least one algorithm", "--algorithms")
    cluster = load_cluster_file(args.cluster_file) if args.cluster_file else None
    out = output_folder(args.out, "--out")

    def say(line: str) -> None:
        if not args.json:
            err_console.print(line)

    result = run_scenario(
        scenario,
        address=args.cluster,
        security=args.tls,
        conditions=args.condition,
        algorithms=algorithms,
        granularity=args.granularity,
        scale=args.scale,
        cluster=cluster,
        calibrate=not args.no_calibrate,
        calibration_options={"seconds": args.seconds, "repeats": args.repeats},
        budget=args.cores,
        repeat=args.repeat,
        progress=say,
    )
    files = save_run(result, out, plots=not args.no_plots)
    for note in files.notes:
        say(note)
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    print_run(result)
    charts = f" and {len(files.gantts)} Gantt charts" if files.gantts else ""
    console.print(f"wrote {files.run}{charts}")
    return 0


def print_run(result: ScenarioRun) -> None:
    """Tables: per condition, each algorithm's predicted, simulated and measured figures."""
    if result.quotas:
        console.print(
            "local workers' CPU quotas (cores): "
            + ", ".join(f"{n} {q:.3g}" for n, q in result.quotas.items())
        )
    for note in result.notes:
        console.print(f"note: {note}")
    for condition in result.conditions:
        table = Table(
            title=f"{result.scenario} {condition}: makespan and mean latency (s), "
            "predicted / simulated / measured"
        )
        for column in (  # makespans, then mean latencies, then measured latency / Local's
            "algorithm",
            "pred",
            "sim",
            "meas",
            "error",
            "sim err",
            "lat pred",
            "lat sim",
            "lat meas",
            "% Local",
        ):
            table.add_column(column, justify="left" if column == "algorithm" else "right")
        for case in result.cases_of(condition):
            mean = {k: case.mean_latency(k) for k in ("predicted", "simulated", "measured")}
            ratio = result.latency_vs_local(case)
            share = f"{100 * ratio:.1f}" if ratio is not None else "-"
            table.add_row(
                case.algorithm,
                f"{case.predicted_makespan:.4g}",
                f"{case.simulated_makespan:.4g}",
                f"{case.measured_makespan:.4g}",
                f"{100 * case.error:.1f} %",
                f"{100 * case.simulated_error:.1f} %",
                *(f"{v:.4g}" if v is not None else "-" for v in mean.values()),
                share,
            )
        console.print(table)


def run_calibrate_cluster(args: argparse.Namespace) -> int:
    require_extra("distributed", "runtime")
    from edgeoffload.experiments.dag_run import calibrate_for_scenario

    scenario = _scenario(args.scenario) if args.scenario else None
    if scenario is None and args.cluster is None:
        raise ModelError("give a SCENARIO or a --cluster to calibrate", "arguments")
    if (args.scenario_out or args.check) and scenario is None:
        raise ModelError("--scenario-out and --check need a SCENARIO", "arguments")
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    output = output_path(args.output, ".json", "--output")
    scenario_out = (
        output_path(args.scenario_out, ".yaml", "--scenario-out") if args.scenario_out else None
    )
    done = calibrate_for_scenario(
        output,
        scenario,
        source=args.scenario,
        address=args.cluster,
        security=args.tls,
        budget=args.cores,
        kinds=kinds,
        seconds=args.seconds,
        repeats=args.repeats,
        scenario_out=scenario_out,
        check=args.check,
        check_scale=args.check_scale,
        progress=lambda line: err_console.print(line),
    )
    for note in done.notes:
        console.print(f"note: {note}")
    if done.quotas:
        console.print(
            "local workers' CPU quotas (cores): "
            + ", ".join(f"{n} {q:.3g}" for n, q in done.quotas.items())
        )
    print_calibration(done.calibration)
    console.print(f"wrote {done.path} (in {done.calibration.seconds:.3g} s)")
    if done.scenario_path is not None:
        out = done.scenario_path
        console.print(f"wrote {out}: 'edgeoffload simulate {out}' predicts this cluster")
    if args.check:
        assert scenario is not None
        print_check(scenario, done.check)
    return 0


def print_check(scenario: Any, runs: Sequence[DagRun]) -> None:
    """The prediction check's table: each algorithm's predicted and measured makespan."""
    table = Table(
        title=f"prediction error after calibration: {scenario.name} {scenario.condition_names[0]}"
    )
    for column in ("algorithm", "predicted (s)", "measured (s)", "error"):
        table.add_column(column, justify="left" if column == "algorithm" else "right")
    for run in runs:
        table.add_row(
            run.algorithm,
            f"{run.predicted_makespan:.4g}",
            f"{run.makespan:.4g}",
            f"{100 * run.error:.1f} %",
        )
    console.print(table)


def print_calibration(calibration: Calibration) -> None:
    nodes = Table(title="measured speeds (GFLOP/s)")
    nodes.add_column("node")
    kernels = sorted({k for v in calibration.kernel_speeds.values() for k in v})
    for kernel in kernels:
        nodes.add_column(kernel, justify="right")
    for node, speeds in calibration.kernel_speeds.items():
        nodes.add_row(node, *(f"{speeds[k] / 1e9:.3g}" for k in kernels))
    console.print(nodes)
    if calibration.links or calibration.client_links:
        links = Table(title="measured links")
        for column in ("between", "rtt (ms)", "bandwidth (Mbit/s)"):
            links.add_column(column, justify="left" if column == "between" else "right")
        for (a, b), m in calibration.links.items():
            links.add_row(f"{a} - {b}", f"{m.rtt * 1e3:.3g}", f"{m.bandwidth * 8 / 1e6:.4g}")
        for node, m in calibration.client_links.items():
            links.add_row(f"client - {node}", f"{m.rtt * 1e3:.3g}", f"{m.bandwidth * 8 / 1e6:.4g}")
        console.print(links)
