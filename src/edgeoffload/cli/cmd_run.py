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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from edgeoffload.cli._common import (
    console,
    err_console,
    output_folder,
    output_path,
    require_extra,
    whole,
)
from edgeoffload.errors import ModelError

if TYPE_CHECKING:
    from edgeoffload.experiments.dag_run import ScenarioRun

__all__ = ["register"]


def _address_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="scheduler of a running cluster whose worker names are the scenario's nodes "
        "(default: start a local cluster throttled in the ratio of the nodes' speeds)",
    )
    p.add_argument("--tls", metavar="DIR", help="client TLS material for a tls:// cluster")
    p.add_argument(
        "--cores",
        type=float,
        metavar="N",
        help="cores the local cluster's workers may use together (default: 80%% of them)",
    )


def _calibration_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--seconds",
        type=float,
        default=0.2,
        metavar="S",
        help="length of one calibration kernel run, seconds (default 0.2)",
    )
    p.add_argument(
        "--repeats",
        type=whole(1, 100),
        default=3,
        metavar="N",
        help="kernel runs per kind (default 3)",
    )


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
    _address_args(p)
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
        type=float,
        default=1.0,
        metavar="F",
        help="multiply every task's work by F (default 1)",
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
    _calibration_args(p)
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
    _address_args(q)
    q.add_argument("-o", "--output", default="cluster.json", metavar="FILE", help="cluster file")
    _calibration_args(q)
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
        type=float,
        default=1.0,
        metavar="F",
        help="work factor of the --check run (default 1)",
    )
    q.set_defaults(handler=run_calibrate_cluster)


def _scenario(name: str) -> Any:
    from edgeoffload.workloads.scenarios import load_scenario

    return load_scenario(name)


def run_run(args: argparse.Namespace) -> int:
    require_extra("distributed", "runtime")
    require_extra("simpy", "sim")
    from edgeoffload.experiments.dag_run import run_scenario, save_gantts
    from edgeoffload.runtime.client.calibration import load_cluster_file

    scenario = _scenario(args.scenario)
    algorithms = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    if not algorithms:
        raise ModelError("give at least one algorithm", "--algorithms")
    if not args.scale > 0:
        raise ModelError(f"must be > 0, got {args.scale}", "--scale")
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
    saved = out / "run.json"
    result.save(saved)
    if result.calibration is not None:
        result.calibration.save(out / "cluster.json")
    figures: list[Path] = []
    if not args.no_plots:
        try:
            require_extra("matplotlib", "plot")
            figures = save_gantts(result, out)
        except Exception as exc:  # plots are a by-product: the run itself succeeded
            say(f"no Gantt charts: {exc}")
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    print_run(result)
    console.print(f"wrote {saved}" + (f" and {len(figures)} Gantt charts" if figures else ""))
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
    conditions = list(dict.fromkeys(c.condition for c in result.cases))
    for condition in conditions:
        cases = [c for c in result.cases if c.condition == condition]
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
        local = next((c for c in cases if c.algorithm == "local"), None)
        base = local.mean_latency("measured") if local is not None else None
        for case in cases:
            mean = {k: case.mean_latency(k) for k in ("predicted", "simulated", "measured")}
            share = (
                f"{100 * mean['measured'] / base:.1f}"
                if base and mean["measured"] is not None
                else "-"
            )
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
    from edgeoffload.experiments.dag_run import (
        condition_problem,
        save_calibrated_scenario,
        scenario_session,
    )
    from edgeoffload.runtime import connect
    from edgeoffload.runtime.client.calibration import calibrate_cluster

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
    notes: list[str] = []
    quotas: dict[str, float] = {}
    if scenario is not None:
        problems = [condition_problem(scenario, c) for c in scenario.condition_names]
        context: Any = scenario_session(
            scenario, problems, args.cluster, args.tls, args.cores, notes, quotas
        )
    else:
        context = connect(args.cluster, security=args.tls)
    with context as session:
        calibration = calibrate_cluster(
            session,
            nodes=list(scenario.cluster.node_ids) if scenario is not None else None,
            base=scenario.cluster if scenario is not None else None,
            kinds=kinds,
            seconds=args.seconds,
            repeats=args.repeats,
            progress=lambda line: err_console.print(line),
        )
        path = calibration.save(output)
        for note in notes:
            console.print(f"note: {note}")
        if quotas:
            console.print(
                "local workers' CPU quotas (cores): "
                + ", ".join(f"{n} {q:.3g}" for n, q in quotas.items())
            )
        print_calibration(calibration)
        console.print(f"wrote {path} (in {calibration.seconds:.3g} s)")
        if scenario_out is not None:
            out = save_calibrated_scenario(args.scenario, calibration.cluster, scenario_out)
            console.print(f"wrote {out}: 'edgeoffload simulate {out}' predicts this cluster")
        if args.check:
            assert scenario is not None
            _check(session, scenario, calibration.cluster, args.check_scale)
    return 0


def _check(session: Any, scenario: Any, cluster: Any, scale: float) -> None:
    from edgeoffload.experiments.dag_run import prediction_check

    runs = prediction_check(session, scenario, cluster, scale=scale)
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


def print_calibration(calibration: Any) -> None:
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
