"""``edgeoffload serve``: DHS as a live service over a camera cluster.

::

    edgeoffload serve                               # camera-serve on a local cluster, 40 s
    edgeoffload serve camera-serve --duration 120 --out results/serve
    edgeoffload serve -a heft                       # a fixed scheduler instead of DHS
    edgeoffload serve --torch                       # real PyTorch inference (dnn extra)
    edgeoffload serve --metrics-port 9464           # Prometheus at 127.0.0.1:9464/metrics
    edgeoffload serve my.yaml --cluster tls://10.0.0.5:8786 --tls certs/
    sudo edgeoffload serve --netem deploy/netem/camera-serve.yaml   # emulated Wi-Fi hosts

While it runs, a live view shows each camera's frame rate, latency percentiles and drops,
each node's utilisation and the scheduler DHS uses now, with why. Afterwards it writes
``frames.jsonl`` (one line per frame), ``summary.json`` and figures to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from edgeoffload.cli._common import (
    EXIT_INTERRUPTED,
    address_args,
    as_flags,
    calibration_args,
    console,
    err_console,
    number,
    output_folder,
    require_extra,
    whole,
)

if TYPE_CHECKING:
    from edgeoffload.experiments.serving import ServeResult

__all__ = ["register"]

FLAGS = {
    "frames": "--frames",
    "duration": "--duration",
    "scale": "--scale",
    "deadline": "--deadline",
    "window": "--window",
    "metrics_port": "--metrics-port",
    "max_in_flight": "--max-in-flight",
    "torch": "--torch",
    "netem": "--netem",
    "hold": "--hold-workers",
}
"""The library's names of what the user typed, for errors naming the flag."""

ALGORITHMS = ("dhs", "local", "edge", "heft", "cpop", "peft", "dask")
"""What ``-a`` takes (``experiments.serving.control.ALGORITHMS``, without importing it)."""
MAX_DURATION = 7 * 24 * 3600.0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve camera frames live: DHS places each frame on a real cluster",
        description=(
            "Play SCENARIO's camera streams in real time on workers named after its nodes: "
            "DHS classifies the load over a sliding window, switches PEFT/CPOP/HEFT, and "
            "places each frame around the work in flight; a cost model learns from every "
            "run; frames that cannot make their deadline are dropped with a reason. Writes "
            "frames.jsonl, summary.json and figures to --out. The default scenario, "
            "camera-serve, changes load class at 10 s and 25 s and repeats every 40 s."
        ),
    )
    p.add_argument(
        "scenario",
        nargs="?",
        default="camera-serve",
        metavar="SCENARIO",
        help="scenario file or built-in name with streams (default: camera-serve)",
    )
    p.add_argument(
        "--duration",
        type=number(0, MAX_DURATION),
        default=40.0,
        metavar="S",
        help="seconds of frames, from the first one (default 40; start-up not counted)",
    )
    p.add_argument("--out", default="results/serve", metavar="DIR", help="where files go")
    p.add_argument(
        "-a",
        "--algorithm",
        choices=ALGORITHMS,
        default="dhs",
        help="dhs (default), a scheduler that places every frame (local, edge, heft, cpop, "
        "peft), or dask: Dask's own dynamic scheduling",
    )
    address_args(p)
    p.add_argument(
        "--cluster-file",
        metavar="FILE",
        help="plan on this cluster file (from calibrate-cluster) instead of calibrating",
    )
    calibration_args(p)
    p.add_argument(
        "--no-links",
        action="store_true",
        help="calibrate the workers' speeds only; the cost model learns the links from the "
        "first frames (a faster start: the links of a throttled Pi take the longest)",
    )
    p.add_argument(
        "--scale",
        type=number(0, 1e6),
        metavar="F",
        help="multiply every task's work by F (default: what makes each worker take as "
        "long as the device it stands for)",
    )
    p.add_argument(
        "--window",
        type=number(0, 3600),
        default=1.0,
        metavar="S",
        help="DHS's load window: the arrivals of the last S seconds count (default 1)",
    )
    p.add_argument(
        "--deadline",
        type=number(0, 3600),
        default=1.0,
        metavar="S",
        help="deadline of frames whose stream gives none, seconds (default 1)",
    )
    p.add_argument(
        "--max-in-flight",
        type=whole(1, 10_000),
        metavar="N",
        help="frames per camera in flight (default: the scenario's, else 8)",
    )
    p.add_argument("--seed", type=whole(0, 2**63 - 1), metavar="N", help="seed of the arrivals")
    p.add_argument(
        "--grace",
        type=number(0, 3600, strict_low=False),
        default=8.0,
        metavar="S",
        help="seconds (0-3600) frames still running at the end may take before they are "
        "dropped as shutdown (default 8)",
    )
    p.add_argument(
        "--frames",
        metavar="PATH",
        help="a folder of images or a video file: every camera sends its pictures in turn "
        "(default: synthetic frames)",
    )
    p.add_argument(
        "--torch",
        action="store_true",
        help="run real PyTorch inference of the models' blocks (needs the dnn extra) "
        "instead of calibrated synthetic kernels; the work is not scaled",
    )
    p.add_argument(
        "--netem",
        metavar="FILE",
        help="serve across emulated hosts (root): a netem topology file with a host per "
        "node of the scenario and one for this client, e.g. deploy/netem/camera-serve.yaml",
    )
    p.add_argument("--hold-workers", help=argparse.SUPPRESS)  # set by --netem for its client
    p.add_argument(
        "--no-learning",
        action="store_true",
        help="plan and predict with the calibrated model only (the static model), to compare",
    )
    p.add_argument(
        "--metrics-port",
        type=whole(0, 65535),
        metavar="PORT",
        help="serve Prometheus metrics on this port (0: any free one) while running",
    )
    p.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="address the metrics listen on (default 127.0.0.1, this machine only)",
    )
    p.add_argument("--no-plots", action="store_true", help="write no figures")
    p.add_argument("--quiet", action="store_true", help="no live view, only the summary")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(handler=run_serve)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def live_table(snapshot: dict[str, Any]) -> Group:
    """The live view: per camera and per node, then the scheduler and why."""
    cameras = Table(title=f"t = {snapshot['time']:.0f} s", title_justify="left")
    for column in ("camera", "fps", "p50 ms", "p95 ms", "p99 ms", "done", "late", "dropped"):
        cameras.add_column(column, justify="left" if column == "camera" else "right")
    for camera, c in snapshot["cameras"].items():
        drops = ", ".join(f"{n} {r}" for r, n in sorted(c["dropped"].items())) or "0"
        shed = snapshot.get("shedding", {}).get(camera)
        if shed:
            drops += f" (shedding {shed:.0%})"
        cameras.add_row(
            camera,
            f"{c['rate']:.1f}",
            _ms(c["p50"]),
            _ms(c["p95"]),
            _ms(c["p99"]),
            str(c["done"]),
            str(c["missed"]),
            drops,
        )
    nodes = "  ".join(f"{n} {u:.0%}" for n, u in snapshot["utilisation"].items())
    error = snapshot.get("prediction_error")
    lines = [
        Text(f"nodes busy (last 10 s): {nodes}"),
        Text(f"scheduler: {snapshot['scheduler'] or '-'}  ({snapshot['why']})"),
        Text(
            "prediction error (median, last 10 s): "
            + ("-" if error is None else f"{error:.0%}")
            + (f"   lost: {', '.join(snapshot['lost'])}" if snapshot.get("lost") else "")
        ),
    ]
    return Group(cameras, *lines)


def run_serve(args: argparse.Namespace) -> int:
    require_extra("distributed", "runtime")
    require_extra("simpy", "sim")
    from edgeoffload.experiments.serving import serve
    from edgeoffload.runtime.client.calibration import load_cluster_file

    if args.netem:
        return _serve_emulated(args)
    out = output_folder(args.out, "--out")
    hold = None
    if args.hold_workers:
        from edgeoffload.experiments.serving.emulated import parse_hold

        with as_flags(FLAGS):
            hold = parse_hold(args.hold_workers)
    cluster = load_cluster_file(args.cluster_file) if args.cluster_file else None
    quiet = args.quiet or args.json
    live_view = not quiet and sys.stderr.isatty()

    def say(line: str) -> None:
        if not quiet or line.startswith("metrics on "):  # the port chosen: always shown
            err_console.print(line)

    shown = {"last": -1e9}
    view: Live | None = None

    def tick(snapshot: dict[str, Any]) -> None:
        if quiet:
            return
        if view is not None:
            view.update(live_table(snapshot))
        elif snapshot["time"] - shown["last"] >= 5.0:  # not a terminal: a line every 5 s
            shown["last"] = snapshot["time"]
            rates = " ".join(
                f"{c}:{v['rate']:.1f}fps/p99 {_ms(v['p99'])}ms"
                for c, v in snapshot["cameras"].items()
            )
            err_console.print(f"t={snapshot['time']:.0f}s {snapshot['scheduler']} {rates}")

    def started(_: object) -> None:
        nonlocal view
        if live_view:
            view = Live(console=err_console, refresh_per_second=2, transient=False)
            view.start()

    try:
        with as_flags(FLAGS):
            result = serve(
                args.scenario,
                duration=args.duration,
                out=out,
                algorithm=args.algorithm,
                address=args.cluster,
                security=args.tls,
                cluster=cluster,
                scale=args.scale,
                budget=args.cores,
                window=args.window,
                deadline=args.deadline,
                max_in_flight=args.max_in_flight,
                seed=args.seed,
                frames=args.frames,
                learn=not args.no_learning,
                grace=args.grace,
                torch=args.torch,
                hold=hold,
                metrics_port=args.metrics_port,
                metrics_host=args.metrics_host,
                calibration_options={
                    "seconds": args.seconds,
                    "repeats": args.repeats,
                    **({"links": False, "client_links": False} if args.no_links else {}),
                },
                plots=not args.no_plots,
                progress=say,
                on_tick=tick,
                on_start=started,
            )
    finally:
        if view is not None:
            view.stop()
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print_summary(result)
    return EXIT_INTERRUPTED if result.interrupted else 0


def print_summary(result: ServeResult) -> None:
    """The run's figures: frames, drops, latency, the prediction error, the switches."""
    s = result.summary
    lat, err = s["latency"], s["prediction_error"]
    drops = ", ".join(f"{n} {r}" for r, n in sorted(s["dropped"].items())) or "none"
    console.print(
        f"{result.scenario} with {result.algorithm} for {result.duration:g} s: "
        f"{s['frames']} frames, {s['done']} done ({s['missed']} late), dropped: {drops}"
    )
    console.print(
        f"throughput {s['throughput']:.2f} frames/s, within deadline {s['goodput']:.2f}/s; "
        f"latency p50 {_ms(lat['p50'])} ms, p95 {_ms(lat['p95'])} ms, p99 {_ms(lat['p99'])} ms"
    )
    after = err["after_warm_up"]
    console.print(
        "prediction error (median |predicted - measured| / measured): "
        + ("-" if err["all"] is None else f"{err['all']:.1%}")
        + ("" if after is None else f", after the first {err['warm_up']:g} s: {after:.1%}")
    )
    if result.switches:
        console.print(
            "scheduler switches: "
            + ", ".join(f"{w['time']:.1f} s -> {w['to']} ({w['load']})" for w in result.switches)
        )
    for change in result.membership:
        console.print(
            f"{change['time']:.1f} s: {change['node']} {change['event']} ({change['detail']})"
        )
    if result.lost:
        console.print(
            f"workers lost: {', '.join(result.lost)}; frames placed again: {s['replanned']}"
        )
    for note in result.notes:
        console.print(f"note: {note}")
    if result.metrics:
        console.print(f"metrics were served at {result.metrics}")
    console.print(f"wrote {result.files.get('frames')} and {result.files.get('summary')}")


_PASSED_ON = (  # serve's options that --netem hands to the serving client, as typed
    ("duration", "--duration"),
    ("algorithm", "--algorithm"),
    ("cluster_file", "--cluster-file"),
    ("seconds", "--seconds"),
    ("repeats", "--repeats"),
    ("no_links", "--no-links"),
    ("scale", "--scale"),
    ("window", "--window"),
    ("deadline", "--deadline"),
    ("max_in_flight", "--max-in-flight"),
    ("seed", "--seed"),
    ("grace", "--grace"),
    ("frames", "--frames"),
    ("torch", "--torch"),
    ("no_learning", "--no-learning"),
    ("metrics_port", "--metrics-port"),
    ("metrics_host", "--metrics-host"),
    ("no_plots", "--no-plots"),
    ("quiet", "--quiet"),
    ("json", "--json"),
)
_PATHS = ("cluster_file", "frames")


def _serve_emulated(args: argparse.Namespace) -> int:
    """``--netem``: build the hosts and the cluster, run this command again on the client
    host against it (see :mod:`edgeoffload.experiments.serving.emulated`)."""
    from pathlib import Path

    from edgeoffload.errors import ModelError
    from edgeoffload.experiments.serving.emulated import serve_emulated
    from edgeoffload.netem import load_topology
    from edgeoffload.workloads.scenarios import load_scenario

    if args.cluster or args.tls:
        raise ModelError("starts its own cluster: leave out --cluster and --tls", "--netem")
    try:
        topology = load_topology(args.netem)
    except ModelError as exc:  # name the flag before the file's own words
        raise ModelError(str(exc), "--netem") from None
    scenario = load_scenario(args.scenario)
    out = output_folder(args.out, "--out")
    # the client runs in this folder too; absolute paths say the same to it anyway
    given = Path(args.scenario)
    argv = ["serve", str(given.resolve()) if given.exists() else args.scenario]
    argv += ["--out", str(Path(out).resolve())]
    for dest, flag in _PASSED_ON:
        value = getattr(args, dest)
        if value is None or value is False:
            continue
        if value is True:
            argv.append(flag)
        else:
            argv += [flag, str(Path(value).resolve()) if dest in _PATHS else str(value)]
    quiet = args.quiet or args.json
    with as_flags(FLAGS):
        return serve_emulated(
            topology,
            scenario,
            argv,
            budget=args.cores,
            progress=None if quiet else err_console.print,
        )
