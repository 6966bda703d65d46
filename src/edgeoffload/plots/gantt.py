"""Gantt charts of schedules: nodes as rows, tasks as bars, transfers as thin bars."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from edgeoffload.model import Problem, Schedule

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_gantt"]

_LABEL_MIN_FRACTION = 0.035  # label a bar only if it spans this share of the x range
_MAX_ARROWS = 150


def _palette(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab20"] if n > 10 else colormaps["tab10"]
    return [cmap(k % cmap.N) for k in range(max(n, 1))]


def plot_gantt(
    problem: Problem,
    schedule: Schedule,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    nodes: Sequence[str] | None = None,
) -> Axes:
    """Draw ``schedule`` of ``problem`` as a Gantt chart and return the Axes.

    Each node is a row (in cluster order, or ``nodes``); each task a bar coloured by its
    request (or by task, without requests); each dependency that crosses nodes a thin
    grey bar on the receiving row from the sender's finish to the data's arrival, with an
    arrow from sender to receiver when there are few enough. Request arrivals are marked
    with a triangle on the node they arrive at. Nothing is shown or saved.
    """
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(11, 1.2 + 0.7 * len(problem.cluster))).subplots()
    rows = list(nodes or problem.cluster.node_ids)
    y = {node: k for k, node in enumerate(rows)}
    graph, costs = problem.graph, problem.costs
    span = max(schedule.makespan, 1e-12)

    colour_keys = (
        [r.id for r in problem.requests] if problem.has_requests else [t.id for t in graph.tasks]
    )
    colours = dict(zip(colour_keys, _palette(len(colour_keys)), strict=False))
    for task in graph.tasks:
        a = schedule.assignment(task.id)
        if a.node not in y:
            continue
        key = task.request if problem.has_requests and task.request else task.id
        row = y[a.node]
        ax.barh(
            row,
            a.duration,
            left=a.start,
            height=0.55,
            color=colours.get(key, "C0"),
            edgecolor="black",
            linewidth=0.4,
        )
        if a.duration >= _LABEL_MIN_FRACTION * span:
            ax.text(
                a.start + a.duration / 2,
                row,
                task.id,
                ha="center",
                va="center",
                fontsize=7,
                clip_on=True,
            )

    crossing = 0
    for dep in graph.dependencies:
        src, dst = schedule.assignment(dep.source), schedule.assignment(dep.target)
        if src.node == dst.node or src.node not in y or dst.node not in y:
            continue
        transfer = costs.transfer_time(dep.data, src.node, dst.node)
        ax.barh(
            y[dst.node] + 0.36,
            transfer,
            left=src.finish,
            height=0.12,
            color="0.55",
            edgecolor="none",
        )
        if crossing < _MAX_ARROWS:
            ax.annotate(
                "",
                xy=(src.finish + transfer, y[dst.node] + 0.3),
                xytext=(src.finish, y[src.node] + 0.28),
                arrowprops={"arrowstyle": "->", "color": "0.45", "lw": 0.6},
            )
        crossing += 1

    for k, request in enumerate(problem.requests):
        node = problem.arrival_node(k)
        if node in y:
            ax.plot(
                [request.arrival],
                [y[node] - 0.38],
                marker="v",
                color=colours[request.id],
                markeredgecolor="black",
                markersize=6,
                linestyle="none",
            )

    ax.set_yticks(range(len(rows)), rows)
    ax.set_ylim(len(rows) - 0.4, -0.6)
    ax.set_xlim(0, span * 1.02)
    ax.set_xlabel("time (s)")
    ax.grid(axis="x", linestyle=":", linewidth=0.5)
    ax.set_title(
        title
        or f"{schedule.algorithm}: makespan {schedule.makespan:.4g} s"
        + (f", {crossing} transfers (grey)" if crossing else "")
    )
    if problem.has_requests and len(problem.requests) <= 20:
        from matplotlib.patches import Patch

        handles = [Patch(color=colours[r.id], label=r.id) for r in problem.requests]
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.0, 1.0),
            fontsize=7,
            frameon=False,
            title="request",
            title_fontsize=7,
        )
    return ax
