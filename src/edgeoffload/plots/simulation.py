"""Figures of simulated runs: the DHS paper's Fig. 1 and Fig. 2, simulated Gantt charts,
sweeps, threshold calibration and stream latency distributions.

Every function draws on an Axes (a new figure's when none is given) and returns it;
nothing is shown or saved, no global state is touched, inputs are not modified.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from edgeoffload.plots._timeline import (
    colours_for,
    draw_task,
    draw_transfer,
    finish_axes,
    new_axes,
    request_legend,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from edgeoffload.simulation.records import SimResult

__all__ = [
    "plot_calibration",
    "plot_latency_by_condition",
    "plot_latency_cdf",
    "plot_percent_of_local",
    "plot_sim_gantt",
    "plot_sweep",
]


def plot_latency_by_condition(
    simulated: Mapping[str, Mapping[str, float]],
    *,
    predicted: Mapping[str, Mapping[str, float]] | None = None,
    errors: Mapping[str, Mapping[str, float]] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    ylabel: str = "mean request latency (s)",
) -> Axes:
    """The paper's Fig. 1: latency of each algorithm (bars) in each condition (groups).

    ``simulated[condition][algorithm]`` gives the bar heights, ``errors`` their standard
    deviations (error bars) and ``predicted`` the schedulers' own predictions (black
    ticks on the bars).
    """
    ax = ax or new_axes(10, 4.8)
    conditions = list(simulated)
    algorithms: list[str] = []
    for row in simulated.values():
        algorithms.extend(a for a in row if a not in algorithms)
    n = max(len(algorithms), 1)
    width = 0.8 / n
    for k, algorithm in enumerate(algorithms):
        xs, hs, es, ps = [], [], [], []
        for g, condition in enumerate(conditions):
            value = simulated[condition].get(algorithm)
            if value is None or not math.isfinite(value):
                continue
            xs.append(g - 0.4 + width * (k + 0.5))
            hs.append(value)
            es.append((errors or {}).get(condition, {}).get(algorithm, 0.0))
            ps.append((predicted or {}).get(condition, {}).get(algorithm, math.nan))
        ax.bar(
            xs,
            hs,
            width=width,
            yerr=es if errors else None,
            capsize=2,
            label=algorithm,
            color=f"C{k % 10}",
            error_kw={"linewidth": 0.7},
        )
        if predicted:
            ax.plot(
                xs,
                ps,
                linestyle="none",
                marker="_",
                markersize=9,
                color="black",
                markeredgewidth=1.5,
            )
    ax.set_xticks(range(len(conditions)), conditions)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", linestyle=":", linewidth=0.5)
    handles, labels = ax.get_legend_handles_labels()
    if predicted:
        from matplotlib.lines import Line2D

        handles.append(
            Line2D(
                [],
                [],
                linestyle="none",
                marker="_",
                markersize=9,
                color="black",
                markeredgewidth=1.5,
            )
        )
        labels.append("predicted")
    ax.legend(handles, labels, fontsize=8, ncols=min(n + 1, 4), frameon=False)
    ax.set_title(title or "Latency per algorithm and condition (bars: simulated)")
    return ax


def plot_percent_of_local(
    percent: Mapping[str, Mapping[str, float]],
    *,
    algorithms: Sequence[str] = ("dhs", "edge"),
    paper: Mapping[str, float] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """The paper's Fig. 2: latency of ``algorithms`` as a percentage of Local's.

    ``percent[condition][algorithm]`` in percent (100 = as slow as Local). ``paper``
    gives the paper's DHS figure per condition where it has one (drawn as diamonds).
    """
    ax = ax or new_axes(8, 4.5)
    conditions = list(percent)
    n = max(len(algorithms), 1)
    width = 0.7 / n
    for k, algorithm in enumerate(algorithms):
        xs, hs = [], []
        for g, condition in enumerate(conditions):
            value = percent[condition].get(algorithm)
            if value is not None and math.isfinite(value):
                xs.append(g - 0.35 + width * (k + 0.5))
                hs.append(value)
        bars = ax.bar(xs, hs, width=width, label=algorithm, color=f"C{k % 10}")
        ax.bar_label(bars, fmt="%.0f%%", fontsize=7, padding=1)
    if paper:
        marked = [g for g, c in enumerate(conditions) if c in paper]
        ax.plot(
            marked,
            [paper[conditions[g]] for g in marked],
            linestyle="none",
            marker="D",
            color="black",
            markersize=6,
            label="paper: DHS",
        )
    ax.axhline(100.0, color="0.3", linestyle="--", linewidth=0.8)
    ax.set_xticks(range(len(conditions)), conditions)
    ax.set_ylabel("latency, % of Local")
    ax.grid(axis="y", linestyle=":", linewidth=0.5)
    ax.legend(fontsize=8, frameon=False)
    ax.set_title(title or "Latency as a percentage of Local (lower is better)")
    return ax


def plot_sim_gantt(
    result: SimResult,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    max_tasks: int = 2000,
) -> Axes:
    """Gantt chart of a simulated run: nodes as rows, executed tasks as bars.

    Bars are coloured by request (the task id's part before ``/``); transfers from the
    trace are thin grey bars on the receiving row; node failures are red crosses; a
    dashed line marks the predicted makespan. At most ``max_tasks`` tasks are drawn.
    """
    tasks = result.tasks
    rows = list(tasks.node_ids)
    ax = ax or new_axes(11, 1.2 + 0.6 * len(rows))
    requests = list(dict.fromkeys(tasks.task_id(i).split("/", 1)[0] for i in range(len(tasks))))
    colours = colours_for(requests)
    span = max(result.horizon, result.predicted_makespan, 1e-12)
    drawn = 0
    for i in range(len(tasks)):
        start, finish = float(tasks.start[i]), float(tasks.finish[i])
        if math.isnan(start) or math.isnan(finish):
            continue
        if drawn >= max_tasks:
            break
        drawn += 1
        request = tasks.task_id(i).split("/", 1)[0]
        draw_task(ax, int(tasks.node[i]), start, finish - start, colours[request], linewidth=0.3)
    sends: dict[tuple[str | None, str, str | None], float] = {}
    for event in result.trace:
        if event.kind == "send":
            sends[(event.task, event.node, event.peer)] = event.time
        elif event.kind == "receive" and event.peer is not None:
            began = sends.pop((event.task, event.node, event.peer), None)
            if began is not None:
                draw_transfer(ax, rows.index(event.peer), began, event.time - began)
        elif event.kind == "fail":
            ax.plot(
                [event.time],
                [rows.index(event.node)],
                marker="x",
                color="red",
                markersize=10,
                markeredgewidth=2,
            )
    ax.axvline(result.predicted_makespan, color="black", linestyle="--", linewidth=0.8)
    finish_axes(
        ax,
        rows,
        span,
        title
        or f"{result.algorithm}: simulated makespan {result.makespan:.4g} s"
        f" (predicted {result.predicted_makespan:.4g} s, dashed)",
    )
    request_legend(ax, colours)
    return ax


def plot_sweep(
    rows: Sequence[Mapping[str, Any]],
    x: str,
    y: str,
    *,
    group: str = "algorithm",
    ax: Axes | None = None,
    logx: bool = False,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
) -> Axes:
    """Lines of ``y`` against ``x``, one per value of ``group``, averaged over the rest."""
    ax = ax or new_axes(7, 4.2)
    series: dict[str, dict[float, list[float]]] = {}
    for row in rows:
        value = float(row[y])
        if not math.isfinite(value):
            continue
        series.setdefault(str(row[group]), {}).setdefault(float(row[x]), []).append(value)
    for k, (name, points) in enumerate(series.items()):
        xs = sorted(points)
        ax.plot(
            xs,
            [sum(points[v]) / len(points[v]) for v in xs],
            marker="o",
            markersize=3,
            label=name,
            color=f"C{k % 10}",
        )
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    ax.grid(linestyle=":", linewidth=0.5)
    ax.legend(fontsize=8, frameon=False)
    if title:
        ax.set_title(title)
    return ax


def plot_calibration(
    accuracy: Sequence[Sequence[float]],
    delta1: Sequence[float],
    delta2: Sequence[float],
    *,
    marks: Mapping[str, tuple[float, float]] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Heat map of how often DHS picks the best algorithm, over a δ1 × δ2 grid.

    ``accuracy[i][j]`` is the share (0-1) for ``delta1[i]`` and ``delta2[j]``; ``marks``
    labels points (e.g. the paper's thresholds and the best ones).
    """
    import numpy as np

    ax = ax or new_axes(7, 5)
    grid = np.asarray(accuracy, dtype=float)
    image = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.figure.colorbar(image, ax=ax, label="share of problems where DHS picks the best")
    ax.set_xticks(range(len(delta2)), [f"{v:g}" for v in delta2], fontsize=7)
    ax.set_yticks(range(len(delta1)), [f"{v:g}" for v in delta1], fontsize=7)
    ax.set_xlabel("δ2 (requests per camera)")
    ax.set_ylabel("δ1 (s)")
    for label, (d1, d2) in (marks or {}).items():
        i = int(np.argmin([abs(v - d1) for v in delta1]))
        j = int(np.argmin([abs(v - d2) for v in delta2]))
        ax.plot([j], [i], marker="o", markerfacecolor="none", markeredgecolor="red", markersize=12)
        ax.annotate(
            label, (j, i), textcoords="offset points", xytext=(8, 8), color="red", fontsize=8
        )
    ax.set_title(title or "DHS threshold calibration")
    return ax


def plot_latency_cdf(
    latencies: Mapping[str, Sequence[float]],
    *,
    deadline: float | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Empirical CDF of frame latencies, one line per algorithm (streams)."""
    ax = ax or new_axes(7, 4.2)
    for k, (name, values) in enumerate(latencies.items()):
        data = sorted(v for v in values if math.isfinite(v))
        if not data:
            continue
        ys = [(i + 1) / len(data) for i in range(len(data))]
        ax.step(data, ys, where="post", label=name, color=f"C{k % 10}")
    if deadline is not None:
        ax.axvline(deadline, color="red", linestyle="--", linewidth=0.8, label="deadline")
    ax.set_xlabel("frame latency (s)")
    ax.set_ylabel("share of completed frames")
    ax.grid(linestyle=":", linewidth=0.5)
    ax.legend(fontsize=8, frameon=False)
    ax.set_title(title or "Frame latency distribution")
    return ax
