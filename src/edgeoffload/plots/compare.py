"""Bar charts comparing algorithms (one group of bars per case, one bar per algorithm)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_comparison"]


def plot_comparison(
    values: Mapping[str, Mapping[str, float]] | Mapping[str, float],
    *,
    ax: Axes | None = None,
    ylabel: str = "makespan (s)",
    title: str | None = None,
    annotate: bool = True,
) -> Axes:
    """Grouped bar chart: ``values[case][algorithm]``, or ``values[algorithm]`` for one case.

    Cases are groups along the x axis, algorithms are bars within a group in the order of
    the first case. Missing values leave a gap. Returns the Axes; nothing is saved.
    """
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(9, 4.5)).subplots()
    first = next(iter(values.values()), None)
    grouped: Mapping[str, Mapping[str, float]] = (
        values if isinstance(first, Mapping) else {"": values}  # type: ignore[assignment,dict-item]
    )
    algorithms: list[str] = []
    for row in grouped.values():
        algorithms.extend(a for a in row if a not in algorithms)
    n = max(len(algorithms), 1)
    width = 0.8 / n
    for k, algorithm in enumerate(algorithms):
        xs, hs = [], []
        for g, row in enumerate(grouped.values()):
            if algorithm in row and row[algorithm] is not None:
                xs.append(g - 0.4 + width * (k + 0.5))
                hs.append(row[algorithm])
        bars = ax.bar(xs, hs, width=width, label=algorithm, color=f"C{k % 10}")
        if annotate and len(grouped) * n <= 40:
            ax.bar_label(bars, fmt="%.3g", fontsize=6, padding=1)
    ax.set_xticks(range(len(grouped)), list(grouped))
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", linestyle=":", linewidth=0.5)
    ax.legend(fontsize=8, ncols=min(n, 4), frameon=False)
    if title:
        ax.set_title(title)
    return ax
