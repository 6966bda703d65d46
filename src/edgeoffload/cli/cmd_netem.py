"""``edgeoffload netem``: emulated networks of namespaces on this machine (root, Linux).

::

    edgeoffload netem check
    edgeoffload netem up deploy/netem/camera-cluster.yaml      # or: up camera-cluster
    edgeoffload netem status
    edgeoffload netem exec demo cam1 -- python3 -m http.server 8000
    edgeoffload netem measure demo client edge
    edgeoffload netem set demo client --delay 50ms --loss 1%
    edgeoffload netem cut demo cam2 [--reset]
    edgeoffload netem restore demo cam2
    edgeoffload netem down demo           # or: down --stale, down --all

See docs/network-emulation.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from typing import Any

from rich.table import Table

from edgeoffload.cli._common import console, whole
from edgeoffload.errors import ModelError
from edgeoffload.netem.topology import BUILTIN_TOPOLOGIES

__all__ = ["register"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "netem",
        help="emulated networks (namespaces, Wi-Fi-like links) on this machine",
        description=(
            "Build hosts as network namespaces on one emulated switch, with rate, delay, "
            "jitter and loss on each host's link (tc netem where the kernel has it, else a "
            "user-space forwarder plus tc tbf), run commands in them, measure, cut and "
            "restore links. Needs root and iproute2. See docs/network-emulation.md."
        ),
    )
    sub = p.add_subparsers(dest="netem_command", metavar="ACTION", required=True)

    c = sub.add_parser("check", help="say whether this machine can emulate networks")
    c.set_defaults(handler=run_check)

    c = sub.add_parser("up", help="build a topology and leave it running")
    c.add_argument(
        "topology",
        metavar="TOPOLOGY",
        help=f"topology YAML file, or a built-in: {', '.join(BUILTIN_TOPOLOGIES)}",
    )
    c.add_argument("--name", help="override the topology's name")
    c.add_argument("--shaper", choices=("auto", "netem", "forwarder"), help="override the shaper")
    c.set_defaults(handler=run_up)

    c = sub.add_parser("down", help="tear a topology down")
    c.add_argument("name", nargs="?", metavar="NAME")
    c.add_argument(
        "--stale", action="store_true", help="remove topologies whose owning process is gone"
    )
    c.add_argument(
        "--all",
        action="store_true",
        help="remove every eo-* namespace, including other live runs' (after crashes)",
    )
    c.set_defaults(handler=run_down)

    c = sub.add_parser("status", help="list the topologies that are up")
    c.add_argument("--json", action="store_true", help="print JSON")
    c.set_defaults(handler=run_status)

    for action, text in (("cut", "cut a host's link"), ("restore", "restore a cut link")):
        c = sub.add_parser(action, help=text)
        c.add_argument("name", metavar="NAME")
        c.add_argument("host", metavar="HOST")
        if action == "cut":
            c.add_argument(
                "--reset",
                action="store_true",
                help="also reset the host's TCP connections (ss -K) instead of letting them stall",
            )
        c.set_defaults(handler=run_cut if action == "cut" else run_restore)

    c = sub.add_parser("set", help="change a host's link while the topology runs")
    c.add_argument("name", metavar="NAME")
    c.add_argument("host", metavar="HOST")
    c.add_argument("--bandwidth", help="e.g. 50Mbit/s, or 'unlimited'")
    c.add_argument("--delay", help="one-way delay, e.g. 20ms")
    c.add_argument("--jitter", help="e.g. 2ms")
    c.add_argument("--loss", help="e.g. 1%% or 0.01")
    c.set_defaults(handler=run_set)

    c = sub.add_parser("exec", help="run a command inside a host's namespace")
    c.add_argument("name", metavar="NAME")
    c.add_argument("host", metavar="HOST")
    c.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND ...")
    c.set_defaults(handler=run_exec)

    c = sub.add_parser("measure", help="measure RTT and TCP throughput between two hosts")
    c.add_argument("name", metavar="NAME")
    c.add_argument("src", metavar="SRC")
    c.add_argument("dst", metavar="DST")
    c.add_argument(
        "--bytes", type=whole(1, 2**34), default=8_000_000, help="bytes to send (default 8e6)"
    )
    c.add_argument("--count", type=whole(1, 100_000), default=20, help="round trips (default 20)")
    c.add_argument("--json", action="store_true", help="print JSON")
    c.set_defaults(handler=run_measure)


def run_check(args: argparse.Namespace) -> int:
    from edgeoffload.netem import check_support, netem_available

    reason = check_support()
    if reason is not None:
        console.print(f"no: {reason}")
        return 1
    if netem_available():
        console.print("yes: namespaces, veth and tc netem (the kernel shapes the links)")
    else:
        console.print(
            "yes: namespaces and veth; this kernel has no netem qdisc, so delay and loss come "
            "from the user-space forwarder and rate from tc tbf"
        )
    return 0


def run_up(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from edgeoffload.netem import EmulatedNetwork, load_topology

    topology = load_topology(args.topology)
    if args.name:
        topology = replace(topology, name=args.name)
    net = EmulatedNetwork(topology, cleanup_at_exit=False, shaper=args.shaper)
    net.up()
    table = Table(title=f"emulated network {topology.name!r} is up (shaper: {net.shaper})")
    for column in ("host", "namespace", "address", "bandwidth", "delay", "jitter", "loss"):
        table.add_column(column)
    for host in topology.hosts:
        link = host.link
        table.add_row(
            host.name,
            net.namespace(host.name),
            host.address,
            "unlimited" if link.bandwidth is None else f"{link.bandwidth * 8 / 1e6:g} Mbit/s",
            f"{link.delay * 1e3:g} ms",
            f"{link.jitter * 1e3:g} ms",
            f"{link.loss * 100:g} %",
        )
    console.print(table)
    console.print(
        f"run: edgeoffload netem exec {topology.name} HOST -- COMMAND; "
        f"tear down: edgeoffload netem down {topology.name}"
    )
    return 0


def run_down(args: argparse.Namespace) -> int:
    from edgeoffload.netem import EmulatedNetwork, cleanup_stale, remove_all

    if sum(bool(x) for x in (args.name, args.stale, args.all)) != 1:
        raise ModelError("give exactly one of NAME, --stale or --all", "netem down")
    if args.all:
        removed = remove_all()
    elif args.stale:
        removed = cleanup_stale()
    else:
        EmulatedNetwork.attach(args.name).down()
        removed = [args.name]
    console.print(f"removed: {', '.join(removed) if removed else 'nothing'}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from edgeoffload.netem import list_topologies

    entries = list_topologies()
    if args.json:
        print(json.dumps(entries, indent=1))
        return 0
    if not entries:
        console.print("no emulated network is up")
        return 0
    table = Table()
    for column in ("name", "shaper", "owner", "hosts", "namespaces present"):
        table.add_column(column)
    for e in entries:
        owner = "kept (netem up)" if e["owner"] is None else str(e["owner"])
        if e["stale"]:
            owner += " (gone: stale)"
        table.add_row(
            e["name"], str(e["shaper"]), owner, ", ".join(e["hosts"]), str(len(e["namespaces"]))
        )
    console.print(table)
    return 0


def run_cut(args: argparse.Namespace) -> int:
    from edgeoffload.netem import EmulatedNetwork

    EmulatedNetwork.attach(args.name).cut(args.host, reset=args.reset)
    console.print(f"{args.host}'s link is cut")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    from edgeoffload.netem import EmulatedNetwork

    EmulatedNetwork.attach(args.name).restore(args.host)
    console.print(f"{args.host}'s link is restored")
    return 0


def run_set(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from edgeoffload.netem import EmulatedNetwork
    from edgeoffload.netem.topology import parse_bandwidth, parse_duration, parse_loss

    net = EmulatedNetwork.attach(args.name)
    link = net.topology.host(args.host).link
    changes: dict[str, Any] = {}
    if args.bandwidth is not None:
        changes["bandwidth"] = parse_bandwidth(args.bandwidth, "--bandwidth")
    if args.delay is not None:
        changes["delay"] = parse_duration(args.delay, "--delay")
    if args.jitter is not None:
        changes["jitter"] = parse_duration(args.jitter, "--jitter")
    if args.loss is not None:
        changes["loss"] = parse_loss(args.loss, "--loss")
    if not changes:
        raise ModelError("nothing to change: give --bandwidth, --delay, --jitter or --loss", "set")
    net.set_link(args.host, replace(link, **changes))
    console.print(f"{args.host}: {net.topology.host(args.host).link}")
    return 0


def run_exec(args: argparse.Namespace) -> int:
    from edgeoffload.netem import EmulatedNetwork

    argv = list(args.argv)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        raise ModelError("no command given (edgeoffload netem exec NAME HOST -- COMMAND)", "exec")
    net = EmulatedNetwork.attach(args.name)
    return subprocess.call(net.command(args.host, argv))


def run_measure(args: argparse.Namespace) -> int:
    from edgeoffload.netem import EmulatedNetwork
    from edgeoffload.netem.measure import measure_link

    net = EmulatedNetwork.attach(args.name)
    result = measure_link(net, args.src, args.dst, nbytes=args.bytes, count=args.count)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    table = Table(title=f"{args.src} -> {args.dst} on {args.name!r}")
    table.add_column("")
    table.add_column("configured", justify="right")
    table.add_column("measured", justify="right")
    configured = result["configured"]
    table.add_row(
        "round trip",
        f"{configured['rtt'] * 1e3:.1f} ms",
        f"{result['rtt_median'] * 1e3:.1f} ms "
        f"(median of {args.count}, min {result['rtt_min'] * 1e3:.1f})",
    )
    table.add_row(
        "TCP goodput",
        f"{configured['bandwidth'] * 8 / 1e6:.1f} Mbit/s (frames)",
        f"{result['throughput'] * 8 / 1e6:.1f} Mbit/s "
        f"(second half {result['throughput_second_half'] * 8 / 1e6:.1f})",
    )
    console.print(table)
    return 0
