"""Figures of a serve run (``edgeoffload serve``), drawn from its frame log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

__all__ = ["save_serve_figures"]

_SCHEDULER_COLOURS = {
    "heft": "tab:blue",
    "cpop": "tab:orange",
    "peft": "tab:green",
    "local": "tab:gray",
    "edge": "tab:purple",
}


def _figure(height: float = 3.6) -> tuple[Figure, Any]:
    figure = Figure(figsize=(9.0, height))
    return figure, figure.add_subplot()


def _save(figure: Figure, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return path


def _mark_switches(ax: Any, switches: Sequence[Mapping[str, Any]]) -> None:
    for k, s in enumerate(switches):
        ax.axvline(s["time"], color="black", lw=0.8, ls=":", alpha=0.7)
        ax.annotate(
            f"{s['to']} ({s['load']})",
            (s["time"], 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, -10 - 9 * (k % 3)),
            textcoords="offset points",
            fontsize=7,
        )


def _bins(duration: float) -> int:
    return max(1, int(duration + 0.999))


def save_serve_figures(
    result: Mapping[str, Any], frames: Sequence[Mapping[str, Any]], folder: Path
) -> dict[str, Path]:
    """Write latency.png, throughput.png, utilisation.png and prediction.png to ``folder``."""
    duration = float(result.get("duration") or 0.0) or max(
        (f["arrival"] for f in frames), default=1.0
    )
    switches = result.get("switches", [])
    done = [f for f in frames if f["status"] == "done"]
    dropped = [f for f in frames if f["status"] != "done"]
    out: dict[str, Path] = {}

    figure, ax = _figure()
    for name in sorted({f["scheduler"] for f in done if f["scheduler"]}):
        mine = [f for f in done if f["scheduler"] == name]
        ax.scatter(
            [f["arrival"] for f in mine],
            [f["latency"] * 1000 for f in mine],
            s=6,
            color=_SCHEDULER_COLOURS.get(name),
            label=f"done, placed by {name}",
        )
    if dropped:
        ax.scatter(
            [f["arrival"] for f in dropped],
            [0.0] * len(dropped),
            marker="x",
            s=12,
            color="tab:red",
            label=f"dropped ({len(dropped)})",
        )
    deadlines = sorted({float(f["deadline"]) for f in frames if f.get("deadline")})
    for d in deadlines:
        ax.axhline(d * 1000, color="tab:red", lw=0.8, ls="--")
    _mark_switches(ax, switches)
    ax.set_xlabel("arrival, s since the first frame")
    ax.set_ylabel("latency, ms")
    ax.set_title(f"{result.get('scenario')}: frame latency ({result.get('algorithm')})")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    out["latency"] = _save(figure, folder / "latency.png")

    figure, ax = _figure(3.0)
    bins = _bins(duration)
    edges = [float(k) for k in range(bins + 1)]
    ax.hist(
        [
            [f["arrival"] for f in done if f["latency"] <= (f.get("deadline") or 1e9)],
            [f["arrival"] for f in done if f["latency"] > (f.get("deadline") or 1e9)],
            [f["arrival"] for f in dropped],
        ],
        bins=edges,
        stacked=True,
        color=["tab:blue", "tab:orange", "tab:red"],
        label=["done within deadline", "done late", "dropped"],
    )
    _mark_switches(ax, switches)
    ax.set_xlabel("arrival, s since the first frame")
    ax.set_ylabel("frames per second")
    ax.set_title("throughput")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    out["throughput"] = _save(figure, folder / "throughput.png")

    figure, ax = _figure(3.0)
    nodes = sorted({n for f in done for n in (f.get("busy") or {})})
    for node in nodes:
        per_second = [0.0] * bins
        for f in done:
            seconds = (f.get("busy") or {}).get(node)
            if seconds:
                k = min(bins - 1, max(0, int(f["arrival"] + f["latency"])))
                per_second[k] += seconds
        ax.plot(range(bins), [min(1.0, s) * 100 for s in per_second], lw=1.0, label=node)
    _mark_switches(ax, switches)
    ax.set_xlabel("s since the first frame")
    ax.set_ylabel("busy, % of each second")
    ax.set_ylim(0, 105)
    ax.set_title("utilisation (task time per node, by when the frame ended)")
    if nodes:  # Dask's baseline measures no task times
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    out["utilisation"] = _save(figure, folder / "utilisation.png")

    figure = Figure(figsize=(5.0, 4.6))
    ax = figure.add_subplot()
    pairs = [(f["predicted_latency"], f["latency"]) for f in done if f["predicted_latency"]]
    if pairs:
        top = max(max(p, m) for p, m in pairs) * 1000 * 1.05
        ax.scatter([m * 1000 for _, m in pairs], [p * 1000 for p, _ in pairs], s=6)
        ax.plot([0, top], [0, top], color="black", lw=0.8, ls="--", label="exact")
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.legend(fontsize=7)
    ax.set_xlabel("measured latency, ms")
    ax.set_ylabel("predicted latency, ms")
    ax.set_title("predicted against measured, per frame")
    out["prediction"] = _save(figure, folder / "prediction.png")
    return out
