"""Drawing pieces every timeline chart shares (predicted, simulated and measured Gantts).

Rows are nodes, top to bottom; a task is a bar of height 0.55 centred on its row, a
transfer a thin grey bar (height 0.12) in the lower part of the receiving row. Keeping these
in one place keeps the three charts comparable side by side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "LABEL_MIN_FRACTION",
    "colours_for",
    "draw_task",
    "draw_tasks",
    "draw_transfer",
    "draw_transfers",
    "finish_axes",
    "new_axes",
    "request_legend",
]

LABEL_MIN_FRACTION = 0.035
"""A task bar is labelled only if it spans this share of the time axis."""


def new_axes(width: float, height: float) -> Axes:
    """Axes on a new Figure (no pyplot state, nothing shown)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height)).subplots()


def colours_for(keys: Sequence[str]) -> dict[str, Any]:
    """A distinct colour per key (tab10 up to 10 keys, tab20 beyond, then repeating)."""
    from matplotlib import colormaps

    cmap = colormaps["tab20"] if len(keys) > 10 else colormaps["tab10"]
    return {key: cmap(k % cmap.N) for k, key in enumerate(keys)}


def draw_task(
    ax: Axes,
    row: float,
    start: float,
    duration: float,
    colour: Any,
    *,
    label: str | None = None,
    span: float = 0.0,
    linewidth: float = 0.4,
) -> None:
    """A task bar; labelled with ``label`` when it is wide enough against ``span``."""
    duration = max(duration, 0.0)
    ax.barh(
        row, duration, left=start, height=0.55, color=colour, edgecolor="black", linewidth=linewidth
    )
    if label is not None and duration >= LABEL_MIN_FRACTION * span:
        ax.text(
            start + duration / 2, row, label, ha="center", va="center", fontsize=7, clip_on=True
        )


MAX_LABELS = 300
"""Charts with more bars than this are drawn without task labels (they would not fit)."""


def draw_tasks(
    ax: Axes,
    bars: Sequence[tuple[float, float, float, Any, str | None]],
    *,
    span: float = 0.0,
    linewidth: float = 0.4,
) -> None:
    """Many task bars at once, ``(row, start, duration, colour, label)`` each: one
    collection per row, so that thousands of tasks draw in a fraction of a second
    (:func:`draw_task` makes one patch each); labels only up to :data:`MAX_LABELS` bars."""
    by_row: dict[float, list[tuple[float, float, Any]]] = {}
    for row, start, duration, colour, _ in bars:
        by_row.setdefault(row, []).append((start, max(duration, 0.0), colour))
    for row, items in by_row.items():
        ax.broken_barh(
            [(start, duration) for start, duration, _ in items],
            (row - 0.275, 0.55),
            facecolors=[colour for _, _, colour in items],
            edgecolor="black",
            linewidth=linewidth,
        )
    if len(bars) > MAX_LABELS:
        return
    for row, start, duration, _, label in bars:
        if label is not None and max(duration, 0.0) >= LABEL_MIN_FRACTION * span:
            ax.text(
                start + duration / 2, row, label, ha="center", va="center", fontsize=7, clip_on=True
            )


def draw_transfers(ax: Axes, transfers: Sequence[tuple[float, float, float]]) -> None:
    """Many transfers at once, ``(row, start, duration)`` each (see :func:`draw_transfer`)."""
    by_row: dict[float, list[tuple[float, float]]] = {}
    for row, start, duration in transfers:
        by_row.setdefault(row, []).append((start, max(duration, 0.0)))
    for row, spans in by_row.items():
        ax.broken_barh(spans, (row + 0.30, 0.12), facecolors="0.55", edgecolor="none")


def draw_transfer(ax: Axes, row: float, start: float, duration: float) -> None:
    """A transfer arriving on ``row``: a thin grey bar from ``start`` for ``duration``."""
    ax.barh(row + 0.36, max(duration, 0.0), left=start, height=0.12, color="0.55", edgecolor="none")


def finish_axes(ax: Axes, rows: Sequence[str], span: float, title: str) -> None:
    """Row labels, limits, axis label, grid and title of a timeline chart."""
    ax.set_yticks(range(len(rows)), rows)
    ax.set_ylim(len(rows) - 0.4, -0.6)
    ax.set_xlim(0, span * 1.02)
    ax.set_xlabel("time (s)")
    ax.grid(axis="x", linestyle=":", linewidth=0.5)
    ax.set_title(title)


def request_legend(ax: Axes, colours: Mapping[str, Any], *, limit: int = 20) -> None:
    """A legend of request colours beside the chart (none beyond ``limit`` requests)."""
    if not 0 < len(colours) <= limit:
        return
    from matplotlib.patches import Patch

    ax.legend(
        handles=[Patch(color=c, label=r) for r, c in colours.items()],
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=7,
        frameon=False,
        title="request",
        title_fontsize=7,
    )
