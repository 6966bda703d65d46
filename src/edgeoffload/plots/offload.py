"""Offloading figures: measured speedups beside the paper's, and speedup against throttling.

Plain data in (mappings and sequences of numbers), an Axes out; nothing shown or saved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_speedup_vs_factor", "plot_speedups"]


def _new_axes(size: tuple[float, float]) -> Axes:
    from matplotlib.figure import Figure

    ax: Axes = Figure(figsize=size).subplots()
    return ax


def plot_speedups(
    ours: Mapping[str, float],
    paper: Mapping[str, float | None] | None = None,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    ylabel: str = "speedup over the phone (×)",
    nominal: Mapping[str, float] | None = None,
) -> Axes:
    """Bars of our speedups per label (e.g. ``"whole, nearby"``), the paper's beside them.

    Parameters
    ----------
    ours
        Label -> our measured value.
    paper
        Label -> the paper's value (missing or ``None``: no bar).
    nominal
        Label -> what the throttling asks for, drawn as a short black line over the bar.
    """
    if ax is None:
        ax = _new_axes((max(4.5, 1.3 * len(ours) + 2), 4))
    labels = list(ours)
    xs = range(len(labels))
    width = 0.38 if paper else 0.6
    offset = width / 2 if paper else 0.0
    bars = ax.bar([x - offset for x in xs], [ours[k] for k in labels], width, label="ours")
    ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    if paper:
        px = [x + offset for x, k in zip(xs, labels, strict=True) if paper.get(k) is not None]
        ph = [float(paper[k]) for k in labels if paper.get(k) is not None]  # type: ignore[arg-type]
        pbars = ax.bar(px, ph, width, label="paper", color="C1", alpha=0.8)
        ax.bar_label(pbars, fmt="%.1f", fontsize=7, padding=1)
    if nominal:
        for x, k in zip(xs, labels, strict=True):
            if k in nominal:
                ax.hlines(nominal[k], x - offset - width / 2, x - offset + width / 2, colors="k")
        ax.plot([], [], color="k", label="asked by the quotas")
    ax.set_xticks(list(xs), labels, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", linestyle=":", linewidth=0.5)
    ax.legend(fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_speedup_vs_factor(
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Measured speedup against the throttling factor, one line per series, ideal = factor.

    Parameters
    ----------
    series
        Name (e.g. ``"reversi"``) -> ``(factor, measured speedup)`` points.
    """
    if ax is None:
        ax = _new_axes((5.5, 4.2))
    factors: list[float] = sorted({f for pts in series.values() for f, _ in pts})
    if factors:
        ax.plot(factors, factors, "k--", linewidth=1, label="ideal (= factor)")
        ax.plot(factors, [0.9 * f for f in factors], "k:", linewidth=1, label="90 % of ideal")
    for k, (name, pts) in enumerate(series.items()):
        pts = sorted(pts)
        ax.plot([f for f, _ in pts], [s for _, s in pts], "o-", color=f"C{k}", label=name)
    ax.set_xlabel("throttling factor of the client (×)")
    ax.set_ylabel("speedup from offloading (×)")
    ax.grid(linestyle=":", linewidth=0.5)
    ax.legend(fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    return ax
