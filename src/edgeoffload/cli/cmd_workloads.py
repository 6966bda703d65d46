"""``edgeoffload presets`` and ``edgeoffload dnn``: the shipped workloads, for reading."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.table import Table

from edgeoffload.cli._common import console
from edgeoffload.errors import ModelError
from edgeoffload.workloads.devices import DEVICE_PRESETS, LINK_PRESETS, presets_to_dict
from edgeoffload.workloads.dnn import GRANULARITIES, dnn_names, dnn_summary, load_dnn

__all__ = ["register"]

GIB = 1024**3


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "presets",
        help="list the device and link presets with their sourced figures",
        description=(
            "List the device presets (speed, memory, power) and link presets (bandwidth, "
            "latency) that scenarios can name, or show one preset with the source of every "
            "number. Speeds are effective rates (model FLOP / measured latency) unless the "
            "basis says otherwise; see docs/workloads.md."
        ),
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="show this preset with its sources")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(handler=run_presets)

    q = subparsers.add_parser(
        "dnn",
        help="list the shipped DNN task graphs, or summarise one",
        description=(
            "List the shipped DNN inference DAGs (AlexNet, GoogLeNet, ResNet-50; generated "
            "from torchvision, see docs/workloads.md) with their sizes, or show one model's "
            "tasks at the chosen granularity."
        ),
    )
    q.add_argument("name", nargs="?", metavar="NAME", help=f"one of: {', '.join(dnn_names())}")
    q.add_argument(
        "-g",
        "--granularity",
        choices=GRANULARITIES,
        default="layer",
        help="task granularity (default: layer)",
    )
    q.add_argument("--json", action="store_true", help="print JSON instead of tables")
    q.set_defaults(handler=run_dnn)


# --------------------------------------------------------------------------------------------
# presets
# --------------------------------------------------------------------------------------------
def _gflops(rate: float) -> str:
    return f"{rate / 1e9:.4g}"


def run_presets(args: argparse.Namespace) -> int:
    if args.name is not None:
        return _show_preset(args.name, as_json=args.json)
    if args.json:
        print(json.dumps(presets_to_dict(), indent=2))
        return 0
    devices = Table(title="Device presets", title_justify="left", box=None, pad_edge=False)
    devices.add_column("name", no_wrap=True)
    devices.add_column("role", no_wrap=True)
    devices.add_column("GFLOP/s", justify="right", no_wrap=True)
    devices.add_column("DNN GFLOP/s", justify="right", no_wrap=True)
    devices.add_column("GiB", justify="right", no_wrap=True)
    devices.add_column("W idle/busy/tx", no_wrap=True)
    devices.add_column("basis")  # one word: 'presets NAME' has the rest
    for p in DEVICE_PRESETS.values():
        conv = p.speed_by_kind.get("conv", p.speed)
        power = (
            "-"
            if p.power is None
            else f"{p.power.idle:.3g}/{p.power.busy:.3g}/{p.power.transmit:.3g}"
        )
        memory = "-" if p.memory is None else f"{p.memory / GIB:g}"
        devices.add_row(p.name, p.role, _gflops(p.speed), _gflops(conv), memory, power, p.basis_tag)
    console.print(devices)
    console.print()
    links = Table(title="Link presets", title_justify="left", box=None, pad_edge=False)
    links.add_column("name", no_wrap=True)
    links.add_column("Mbit/s", justify="right", no_wrap=True)
    links.add_column("latency (ms)", justify="right", no_wrap=True)
    links.add_column("description")
    for link in LINK_PRESETS.values():
        links.add_row(
            link.name, f"{link.bandwidth * 8 / 1e6:.4g}", f"{link.latency * 1e3:.3g}", link.title
        )
    console.print(links)
    console.print()
    console.print("Every number has a source: 'edgeoffload presets NAME' shows them.")
    return 0


def _show_preset(name: str, *, as_json: bool) -> int:
    if name in DEVICE_PRESETS:
        device = DEVICE_PRESETS[name]
        if as_json:
            print(json.dumps(device.to_dict(), indent=2))
            return 0
        console.print(f"[bold]{device.name}[/bold]: {device.title} (role {device.role})")
        console.print(f"hardware: {device.hardware}")
        console.print(f"speed basis: {device.speed_basis}")
        units = {"speed": "FLOP/s", "cores": "", "memory": "bytes", "power": "W"}
        table = Table("field", "value", "source", box=None, pad_edge=False)
        by_kind: dict[float, list[str]] = {}
        for kind, rate in device.speed_by_kind.items():
            by_kind.setdefault(rate, []).append(kind)
        for key, value in device.numeric_fields().items():
            if key.startswith("speed_by_kind."):
                continue
            unit = units.get(key.split(".")[0], "")
            table.add_row(key, f"{value:.6g} {unit}".strip(), device.source_of(key))
            if key == "speed":
                for rate, kinds in by_kind.items():
                    table.add_row(
                        f"speed for {', '.join(kinds)}",
                        f"{rate:.6g} FLOP/s",
                        device.source_of("speed_by_kind"),
                    )
        console.print(table)
        return 0
    if name in LINK_PRESETS:
        link = LINK_PRESETS[name]
        if as_json:
            print(json.dumps(link.to_dict(), indent=2))
            return 0
        console.print(f"[bold]{link.name}[/bold]: {link.title}")
        table = Table("field", "value", "source", box=None, pad_edge=False)
        table.add_row("bandwidth", f"{link.bandwidth:.6g} bytes/s", link.sources["bandwidth"])
        table.add_row("latency", f"{link.latency:.6g} s", link.sources["latency"])
        console.print(table)
        return 0
    known = ", ".join([*DEVICE_PRESETS, *LINK_PRESETS])
    raise ModelError(f"unknown preset {name!r}; known: {known}", "presets")


# --------------------------------------------------------------------------------------------
# dnn
# --------------------------------------------------------------------------------------------
def run_dnn(args: argparse.Namespace) -> int:
    if args.name is None:
        summaries = [dnn_summary(n) for n in dnn_names()]
        if args.json:
            print(json.dumps(summaries, indent=2))
            return 0
        table = Table(
            title="DNN task graphs (tasks/dependencies; batch 1, 3x224x224 FP32)",
            title_justify="left",
            box=None,
            pad_edge=False,
        )
        table.add_column("model", no_wrap=True)
        for header in ("layer", "block", "GMACs", "ref", "GFLOP", "M params", "max MB"):
            table.add_column(header, justify="right", no_wrap=True)
        for s in summaries:
            table.add_row(
                s["name"],
                f"{s['layer_tasks']}/{s['layer_dependencies']}",
                f"{s['block_tasks']}/{s['block_dependencies']}",
                f"{s['macs'] / 1e9:.3f}",
                f"{s['reference_gmacs']}",
                f"{s['flops'] / 1e9:.3f}",
                f"{s['parameters'] / 1e6:.2f}",
                f"{s['largest_output_bytes'] / 1e6:.2f}",
            )
        console.print(table)
        console.print(f"input image: {summaries[0]['input_bytes']:.0f} bytes")
        return 0
    model = load_dnn(args.name, args.granularity)
    if args.json:
        print(json.dumps(model.to_dict(), indent=2))
        return 0
    prov = model.provenance
    console.print(
        f"[bold]{model.name}[/bold] ({model.granularity}): {len(model.graph)} tasks, "
        f"{len(model.graph.dependencies)} dependencies, {model.total_macs / 1e9:.4f} GMACs "
        f"(reference {prov['reference_gmacs']}), {model.total_flops / 1e9:.4f} GFLOP, "
        f"{model.total_parameters / 1e6:.2f} M parameters, input {model.input_bytes:.0f} bytes"
    )
    console.print(
        f"generated {prov['generated']} by {prov['tool']} with torch {prov['torch']}, "
        f"torchvision {prov['torchvision']}"
    )
    table = Table(
        "task",
        "kind",
        "ops",
        "MFLOP",
        "params (KB)",
        "output (KB)",
        "after",
        box=None,
        pad_edge=False,
    )
    for t in model.graph.tasks:
        preds = model.graph.predecessors(t.id)
        table.add_row(
            t.id,
            t.kind or "",
            "+".join(model.ops[t.id]),
            f"{(t.work or 0.0) / 1e6:.1f}",
            f"{model.param_bytes[t.id] / 1e3:.1f}",
            f"{model.output_bytes[t.id] / 1e3:.1f}",
            ", ".join(preds) if preds else "(input)",
        )
    console.print(table)
    return 0
