"""Gantt charts of schedules: nodes as rows, tasks as bars, transfers as thin bars."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from edgeoffload.model import Problem, Schedule
from edgeoffload.model.report import gap_phrase
from edgeoffload.plots._timeline import (
    colours_for,
    draw_tasks,
    draw_transfers,
    finish_axes,
    new_axes,
    request_legend,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_gantt", "task_colours"]

_MAX_ARROWS = 150


def task_colours(problem: Problem) -> tuple[dict[str, object], list[str]]:
    """Colour per request (per task without requests), and each task's colour key."""
    if problem.has_requests:
        colours = colours_for([r.id for r in problem.requests])
        keys = [t.request or t.id for t in problem.graph.tasks]
    else:
        keys = [t.id for t in problem.graph.tasks]
        colours = colours_for(keys)
    return colours, keys


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
    arrow from sender to receiver when there are at most 150 such transfers (all or none:
    a chart with some of its arrows would mislead). Request arrivals are marked
    with a triangle on the node they arrive at. Nothing is shown or saved.
    """
    ax = ax or new_axes(11, 1.2 + 0.7 * len(problem.cluster))
    rows = list(nodes or problem.cluster.node_ids)
    y = {node: k for k, node in enumerate(rows)}
    graph, costs = problem.graph, problem.costs
    span = max(schedule.makespan, 1e-12)
    colours, keys = task_colours(problem)
    bars = []
    for task, key in zip(graph.tasks, keys, strict=True):
        a = schedule.assignment(task.id)
        if a.node in y:
            bars.append((y[a.node], a.start, a.duration, colours.get(key, "C0"), task.id))
    draw_tasks(ax, bars, span=span)

    transfers = []
    arrows = []
    for dep in graph.dependencies:
        src, dst = schedule.assignment(dep.source), schedule.assignment(dep.target)
        if src.node == dst.node or src.node not in y or dst.node not in y:
            continue
        transfer = costs.transfer_time(dep.data, src.node, dst.node)
        transfers.append((y[dst.node], src.finish, transfer))
        arrows.append(
            ((src.finish + transfer, y[dst.node] + 0.3), (src.finish, y[src.node] + 0.28))
        )
    crossing = len(transfers)
    if crossing <= _MAX_ARROWS:  # more would hide the bars (and some would mislead)
        for head, tail in arrows:
            ax.annotate(
                "",
                xy=head,
                xytext=tail,
                arrowprops={"arrowstyle": "->", "color": "0.45", "lw": 0.6},
            )
    draw_transfers(ax, transfers)

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

    if title is None:
        from edgeoffload.schedulers import lower_bound

        bound = lower_bound(problem, schedule)
        title = (
            f"{schedule.algorithm}: makespan {schedule.makespan:.4g} s,"
            f" {gap_phrase(problem, schedule.makespan, bound)}"
            + (f", {crossing} transfers (grey)" if crossing else "")
        )
    finish_axes(ax, rows, span, title)
    if problem.has_requests:
        request_legend(ax, colours)
    return ax
