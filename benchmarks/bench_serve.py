"""``edgeoffload serve`` under load: the sustained frame rate at the latency SLO, for DHS and
every baseline, and how well the live cost model predicts each frame.

The cluster: the DHS paper's (a Raspberry Pi 4B, three Jetson TX2, an edge server), each
worker held to a CPU quota in the ratio of its device's speed, work scaled so that each
worker takes as long as its device (as ``edgeoffload serve`` does by default), calibrated
once. As root, over the emulated network (``deploy/netem/camera-serve.yaml``: each node on
its own host, the cameras on 802.11ac links, the benchmark on a client host beside the
edge server, as ``serve --netem`` runs); otherwise, or with ``--loopback``, as local
workers on loopback.

Part 1, the load ladder. A base mix of Poisson streams (cam1 AlexNet 1/s, cam2 and cam3
GoogLeNet 2/s each, cam4 ResNet-50 1/s: 6 frames/s, block granularity, 1 s deadline) is
offered at multiples ``m`` of its rate; each algorithm serves each step for ``--step``
seconds, the algorithms interleaved at every step so that the machine's drift hits them
alike. An algorithm *sustains* a step when at most 1 % of its frames miss the SLO (dropped,
or done after the deadline) and its p99 latency is within the deadline; its sustained
frame rate is the highest offered rate it sustained (frames/s). An algorithm leaves the
ladder after two steps in a row that it did not sustain.

Part 2, prediction. ``camera-serve`` (load class changing at 10 s and 25 s) for
``--predict`` seconds with DHS, once with the cost model learning and once with the static
(calibrated once) model: the median |predicted − measured| / measured frame latency after
the first 10 s.

Part 3, memory (only with ``--soak MINUTES``): DHS on ``camera-serve`` for that long; the
resident memory of this process (the controller, the session) each minute, and minute
``MINUTES`` against minute 10.

Usage::

    make bench-serve                                  # parts 1 and 2 (~20 min)
    .venv/bin/python benchmarks/bench_serve.py --quick [--loopback]
    .venv/bin/python benchmarks/bench_serve.py --soak 60 --no-ladder --no-predict

Results: ``results/bench_serve.json`` (every step's figures) and
``results/bench_serve/`` (each run's frame log and summary). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ALGORITHMS = ("dhs", "dask", "local", "edge", "heft", "cpop", "peft")
LADDER = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
SLO_MISS = 0.01
DEADLINE = 1.0
BASE_MIX = (  # camera, model, frames/s at m = 1
    ("cam1", "alexnet", 1.0),
    ("cam2", "googlenet", 2.0),
    ("cam3", "googlenet", 2.0),
    ("cam4", "resnet50", 1.0),
)


def ladder_scenario(multiple: float, duration: float, seed: int) -> Any:
    """The DHS paper's cluster and network with the base mix at ``multiple`` times."""
    from edgeoffload.experiments.dag_run import scenario_document
    from edgeoffload.workloads.scenarios import scenario_from_dict

    document = scenario_document("camera-serve")
    document["name"] = f"ladder-x{multiple:g}"
    document["seed"] = seed
    document["streams"] = [
        {
            "name": f"{camera}-{model}",
            "model": model,
            "camera": camera,
            "rate": rate * multiple,
            "process": "poisson",
            "duration": duration,
            "deadline": DEADLINE,
        }
        for camera, model, rate in BASE_MIX
    ]
    document["stream_options"] = {"max_in_flight": 8}
    document["limits"] = {"max_frames": 10**6}
    return scenario_from_dict(document)


def sustained(summary: dict[str, Any]) -> bool:
    p99 = summary["latency"]["p99"]
    return summary["slo_miss_rate"] <= SLO_MISS and p99 is not None and p99 <= DEADLINE


def step_figures(result: Any, offered: float) -> dict[str, Any]:
    s = result.summary
    return {
        "offered": offered,
        "frames": s["frames"],
        "done": s["done"],
        "dropped": s["dropped"],
        "missed": s["missed"],
        "slo_miss_rate": s["slo_miss_rate"],
        "goodput": s["goodput"],
        "p50": s["latency"]["p50"],
        "p99": s["latency"]["p99"],
        "prediction_error": s["prediction_error"]["after_warm_up"],
        "replanned": s["replanned"],
        "sustained": sustained(dict(s)),
    }


def part_ladder(session: Any, cluster: Any, args: argparse.Namespace) -> dict[str, Any]:
    from edgeoffload.experiments.serving import serve

    base_rate = sum(rate for _, _, rate in BASE_MIX)
    alive = {a: 0 for a in args.algorithms}  # consecutive steps not sustained
    steps: dict[str, list[dict[str, Any]]] = {a: [] for a in args.algorithms}
    for multiple in args.ladder:
        scenario = ladder_scenario(multiple, args.step, args.seed)
        offered = base_rate * multiple
        for algorithm in [a for a, misses in alive.items() if misses < 2]:
            out = ROOT / "results" / "bench_serve" / f"{algorithm}-x{multiple:g}"
            result = serve(
                scenario,
                duration=args.step,
                out=out,
                session=session,
                cluster=cluster,
                algorithm=algorithm,
                plots=False,
            )
            figures = step_figures(result, offered)
            steps[algorithm].append(figures)
            alive[algorithm] = 0 if figures["sustained"] else alive[algorithm] + 1
            print(
                f"x{multiple:<4g} {offered:5.1f} fps offered  {algorithm:<6} "
                f"goodput {figures['goodput']:5.2f}/s  miss {figures['slo_miss_rate']:6.1%}  "
                f"p99 {_ms(figures['p99'])} ms  {'sustained' if figures['sustained'] else '-'}",
                flush=True,
            )
    rates = {
        a: max((s["offered"] for s in runs if s["sustained"]), default=0.0)
        for a, runs in steps.items()
    }
    out: dict[str, Any] = {"steps": steps, "sustained_fps": rates}
    if rates.get("dask"):
        out["dhs_over_dask"] = rates.get("dhs", 0.0) / rates["dask"]
    return out


def part_predict(session: Any, cluster: Any, args: argparse.Namespace) -> dict[str, Any]:
    from edgeoffload.experiments.serving import serve

    out: dict[str, Any] = {}
    for learn in (True, False):
        name = "learned" if learn else "static"
        result = serve(
            "camera-serve",
            duration=args.predict,
            out=ROOT / "results" / "bench_serve" / f"predict-{name}",
            session=session,
            cluster=cluster,
            learn=learn,
            plots=learn,
        )
        error = result.summary["prediction_error"]
        out[name] = {
            "after_warm_up": error["after_warm_up"],
            "all": error["all"],
            "frames": result.summary["frames"],
            "p99": result.summary["latency"]["p99"],
            "switches": [(w["time"], w["to"]) for w in result.switches],
        }
        print(
            f"prediction, {name} model: median error after 10 s "
            f"{_pct(error['after_warm_up'])} (all frames {_pct(error['all'])})",
            flush=True,
        )
    return out


def part_soak(session: Any, cluster: Any, minutes: float) -> dict[str, Any]:
    import psutil

    from edgeoffload.experiments.serving import serve

    me = psutil.Process()
    rss: list[tuple[float, int]] = []
    workers: list[tuple[float, int]] = []  # the worker processes' RSS, summed

    def children_rss() -> int:
        total = 0
        for child in me.children(recursive=True):
            with contextlib.suppress(psutil.Error):  # a child ended meanwhile
                total += child.memory_info().rss
        return total

    def tick(snapshot: dict[str, Any]) -> None:
        if not rss or snapshot["time"] - rss[-1][0] >= 60:
            rss.append((snapshot["time"], me.memory_info().rss))
            workers.append((snapshot["time"], children_rss()))
            print(
                f"soak {snapshot['time'] / 60:5.1f} min: RSS {rss[-1][1] / 2**20:.1f} MiB, "
                f"workers {workers[-1][1] / 2**20:.1f} MiB",
                flush=True,
            )

    result = serve(
        "camera-serve",
        duration=minutes * 60,
        out=ROOT / "results" / "bench_serve" / "soak",
        session=session,
        cluster=cluster,
        on_tick=tick,
        plots=False,
    )
    at10 = next((r for t, r in rss if t >= 600), None)
    last = rss[-1][1] if rss else None
    workers10 = next((r for t, r in workers if t >= 600), None)
    return {
        "minutes": minutes,
        "rss": rss,
        "rss_minute_10": at10,
        "rss_end": last,
        "growth_after_minute_10": None if at10 is None or last is None else last / at10 - 1,
        "workers_rss": workers,  # every process this one started (workers, executors)
        "workers_growth_after_minute_10": (
            None if workers10 is None or not workers else workers[-1][1] / workers10 - 1
        ),
        "frames": result.summary["frames"],
        "complete": result.summary["complete"],
    }


def _ms(value: float | None) -> str:
    return "    -" if value is None else f"{value * 1000:5.0f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="DHS and Dask, three steps of 12 s")
    parser.add_argument("--step", type=float, default=20.0, help="seconds per ladder step")
    parser.add_argument("--predict", type=float, default=40.0, help="seconds of part 2 runs")
    parser.add_argument("--soak", type=float, default=0.0, help="minutes of part 3 (0: none)")
    parser.add_argument("--no-ladder", action="store_true")
    parser.add_argument("--no-predict", action="store_true")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--loopback", action="store_true", help="local workers on loopback, not netem hosts"
    )
    parser.add_argument("--topology", default=str(ROOT / "deploy" / "netem" / "camera-serve.yaml"))
    # set by the netem run for the benchmark it starts on the client host
    parser.add_argument("--cluster", help=argparse.SUPPRESS)
    parser.add_argument("--tls", help=argparse.SUPPRESS)
    parser.add_argument("--hold-workers", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(ROOT / "results" / "bench_serve.json"))
    args = parser.parse_args(argv)
    args.algorithms = ("dhs", "dask") if args.quick else ALGORITHMS
    args.ladder = (0.5, 1.0, 2.0) if args.quick else LADDER
    if args.quick:
        args.step, args.predict = 12.0, 30.0

    from edgeoffload.experiments.dag_run import scenario_session, throttle_workers
    from edgeoffload.experiments.serving.control import frame_problems
    from edgeoffload.netem import check_support
    from edgeoffload.runtime.client.calibration import calibrate_cluster
    from edgeoffload.workloads.scenarios import load_scenario

    if args.cluster is None and not args.loopback:
        reason = check_support()
        if reason is None:
            return on_netem(args, list(sys.argv[1:] if argv is None else argv))
        print(f"not over the emulated network ({reason}): local workers on loopback")
    scenario = load_scenario("camera-serve")
    problems = frame_problems(ladder_scenario(1, 1, 0).streams, scenario.cluster)
    notes: list[str] = []
    quotas: dict[str, float] = {}
    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "network": "loopback" if args.cluster is None else f"netem: {args.topology}",
    }
    hold: dict[str, Any] = json.loads(args.hold_workers or "{}")
    with contextlib.ExitStack() as stack:
        session = stack.enter_context(
            scenario_session(scenario, problems, args.cluster, args.tls, None, notes, quotas)
        )
        if hold:  # the netem hosts' workers, held to their quotas from here (root)
            quotas = {n: q for n, (_, q) in hold.items()}
            refused = stack.enter_context(
                throttle_workers(session, quotas, {n: p for n, (p, _) in hold.items()})
            )
            notes.extend(f"not throttled: {r}" for r in refused)
        print(f"CPU quotas (cores): {', '.join(f'{n} {q:.3g}' for n, q in quotas.items())}")
        for note in notes:
            print(f"note: {note}")
        kinds = sorted({t.kind for p in problems for t in p.graph.tasks if t.kind})
        cluster = calibrate_cluster(
            session, nodes=list(scenario.cluster.node_ids), base=scenario.cluster, kinds=kinds
        ).cluster
        report.update(quotas=quotas, notes=notes)
        if not args.no_ladder:
            report["ladder"] = part_ladder(session, cluster, args)
        if not args.no_predict:
            report["prediction"] = part_predict(session, cluster, args)
        if args.soak > 0:
            report["soak"] = part_soak(session, cluster, args.soak)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print_summary(report)
    print(f"wrote {args.out}")
    return 0


def on_netem(args: argparse.Namespace, argv: list[str]) -> int:
    """Build the emulated hosts and cluster, run this benchmark again on the client host."""
    from edgeoffload.experiments.serving.emulated import emulated_cluster, run_on_client
    from edgeoffload.netem import load_topology

    topology = load_topology(args.topology)
    with emulated_cluster(topology, ladder_scenario(1, 1, 0), progress=print) as cluster:
        benchmark = [sys.executable, str(Path(__file__).resolve()), *argv]
        return run_on_client(cluster, [*benchmark, *cluster.client_argv()])


def print_summary(report: dict[str, Any]) -> None:
    ladder = report.get("ladder")
    if ladder:
        rates = ladder["sustained_fps"]
        dask = rates.get("dask") or None
        print("\nsustained frame rate at the SLO (<= 1 % missed, p99 <= 1 s):")
        for algorithm, rate in sorted(rates.items(), key=lambda kv: -kv[1]):
            ratio = f"{rate / dask:.2f}x Dask" if dask else "-"
            print(f"  {algorithm:<6} {rate:5.1f} frames/s   {ratio}")
        if "dhs_over_dask" in ladder:
            verdict = "met" if ladder["dhs_over_dask"] >= 1.3 else "NOT met"
            print(f"goal DHS >= 1.3x Dask: {ladder['dhs_over_dask']:.2f}x, {verdict}")
    prediction = report.get("prediction")
    if prediction:
        learned = prediction["learned"]["after_warm_up"]
        static = prediction["static"]["after_warm_up"]
        verdict = "met" if learned is not None and learned <= 0.15 else "NOT met"
        print(
            f"prediction error after 10 s: learned {_pct(learned)}, static {_pct(static)}; "
            f"goal <= 15 %: {verdict}"
        )
    soak = report.get("soak")
    if soak and soak.get("growth_after_minute_10") is not None:
        growth = soak["growth_after_minute_10"]
        verdict = "met" if abs(growth) <= 0.10 else "NOT met"
        print(f"memory: RSS at the end vs minute 10: {growth:+.1%}, goal within 10 %: {verdict}")
        if soak.get("workers_growth_after_minute_10") is not None:
            print(f"        the workers' RSS: {soak['workers_growth_after_minute_10']:+.1%}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
