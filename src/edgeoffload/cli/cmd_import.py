"""``edgeoffload import wfcommons``: a real workflow trace in, a problem file out."""

from __future__ import annotations

import argparse
from typing import Any

from edgeoffload.cli._common import console, number, output_path
from edgeoffload.model import problem_text
from edgeoffload.workloads.wfcommons import (
    DEFAULT_STORAGE_BANDWIDTH,
    DEFAULT_STORAGE_LATENCY,
    STAGE_IN,
    STAGE_OUT,
    default_reference_speed,
    import_wfcommons,
    load_wfcommons,
)

__all__ = ["register"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "import",
        help="turn a workflow trace into a problem file",
        description=(
            "Turn a recorded workflow run into a problem file that 'edgeoffload schedule'"
            " takes (see docs/workflows.md). Exit code 2 on bad input."
        ),
    )
    formats = p.add_subparsers(dest="format", metavar="FORMAT", required=True)
    w = formats.add_parser(
        "wfcommons",
        help="a WfCommons trace (WfFormat 1.4 to 1.6)",
        description=(
            "Import TRACE, a WfCommons execution trace (WfFormat 1.4 to 1.6), onto the"
            " cluster of CLUSTER (a cluster file, as calibrate-cluster writes, or a problem"
            " file) plus a node 'storage' that holds the workflow's input and output files,"
            " and write the problem file PROBLEM. A task's work is its runtime times the"
            " reference speed."
        ),
    )
    w.add_argument("trace", metavar="TRACE.json", help="the WfCommons trace (JSON)")
    w.add_argument(
        "--cluster", required=True, metavar="CLUSTER.json", help="cluster file to run it on"
    )
    w.add_argument(
        "-o", "--output", required=True, metavar="PROBLEM.json", help="problem file to write"
    )
    w.add_argument(
        "--reference-speed",
        type=number(0.0, 1e30),
        metavar="FLOP/S",
        help=(
            "speed of the machines the trace was measured on: work = runtime x this"
            " (default: the cluster's median node speed)"
        ),
    )
    w.add_argument(
        "--storage-bandwidth",
        type=number(0.0, 1e15),
        default=DEFAULT_STORAGE_BANDWIDTH,
        metavar="BYTES/S",
        help=f"bandwidth between storage and every node (default {DEFAULT_STORAGE_BANDWIDTH:g})",
    )
    w.add_argument(
        "--storage-latency",
        type=number(0.0, 3600.0, strict_low=False),
        default=DEFAULT_STORAGE_LATENCY,
        metavar="SECONDS",
        help=f"latency between storage and every node (default {DEFAULT_STORAGE_LATENCY:g})",
    )
    w.set_defaults(handler=run_import_wfcommons)


def run_import_wfcommons(args: argparse.Namespace) -> int:
    from edgeoffload.runtime.client.calibration import load_cluster_file

    target = output_path(args.output, ".json", "--output")
    trace = load_wfcommons(args.trace)
    cluster = load_cluster_file(args.cluster)
    speed = args.reference_speed
    if speed is None:
        speed = default_reference_speed(cluster)
        how = "the cluster's median node speed; set it with --reference-speed"
    else:
        how = "--reference-speed"
    problem = import_wfcommons(
        trace,
        cluster,
        reference_speed=speed,
        storage_bandwidth=args.storage_bandwidth,
        storage_latency=args.storage_latency,
    )
    target.write_text(problem_text(problem), encoding="utf-8")
    ids = [t.id for t in problem.graph.tasks]
    stage_in = sum(i.startswith(STAGE_IN) for i in ids)
    stage_out = sum(i.startswith(STAGE_OUT) for i in ids)
    console.print(
        f"{trace.name or args.trace} (WfFormat {trace.schema_version}): {len(trace.tasks)}"
        f" tasks, {stage_in} stage-in and {stage_out} stage-out tasks on node 'storage',"
        f" {len(problem.graph.dependencies)} dependencies"
    )
    console.print(f"reference speed {speed:g} FLOP/s ({how}): work = runtime x {speed:g}")
    console.print(f"wrote {target}")
    return 0
