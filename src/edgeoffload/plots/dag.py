"""Predicted and measured timelines of a scheduled DAG run, one above the other.

The upper chart is the scheduler's schedule (:func:`~edgeoffload.plots.gantt.plot_gantt`,
transfers as the cost model predicts them); the lower one is what the workers recorded:
each task's final execution, transfers from the producer's send to the consumer's
receipt, and executions lost with a failed worker hatched. Both share the time axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from edgeoffload.model import Problem, Schedule
from edgeoffload.plots.gantt import plot_gantt

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_measured_gantt", "plot_predicted_vs_measured"]


class TransferLike(Protocol):
    """A measured transfer: ``source`` and ``target`` nodes, ``start`` and ``end`` (s)."""

    @property
    def source(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...


class ExecutionLike(Protocol):
    """A measured execution: ``task``, ``node``, ``start``, ``finish`` (s)."""

    @property
    def task(self) -> str: ...
    @property
    def node(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def finish(self) -> float: ...


def _colours(problem: Problem) -> dict[str, Any]:
    from matplotlib import colormaps

    keys = (
        [r.id for r in problem.requests]
        if problem.has_requests
        else [t.id for t in problem.graph.tasks]
    )
    cmap = colormaps["tab20"] if len(keys) > 10 else colormaps["tab10"]
    return {k: cmap(i % cmap.N) for i, k in enumerate(keys)}


def plot_measured_gantt(
    problem: Problem,
    measured: Schedule,
    *,
    transfers: Sequence[TransferLike] = (),
    lost: Sequence[ExecutionLike] = (),
    ax: Axes | None = None,
    title: str | None = None,
    nodes: Sequence[str] | None = None,
) -> Axes:
    """Draw a measured timeline: tasks as bars (coloured by request), measured transfers as
    thin grey bars on the receiving row, lost executions hatched. Returns the Axes."""
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(11, 1.2 + 0.7 * len(problem.cluster))).subplots()
    rows = list(nodes or problem.cluster.node_ids)
    extra = sorted({a.node for a in measured} - set(rows))
    rows += extra
    y = {node: k for k, node in enumerate(rows)}
    colours = _colours(problem)
    span = max([measured.makespan, *(t.end for t in transfers), *(e.finish for e in lost), 1e-12])
    for a in measured:
        if a.node not in y or a.task not in problem.graph:
            continue
        task = problem.graph.task(a.task)
        key = task.request if problem.has_requests and task.request else task.id
        ax.barh(
            y[a.node],
            max(a.duration, 0.0),
            left=a.start,
            height=0.55,
            color=colours.get(key, "C0"),
            edgecolor="black",
            linewidth=0.4,
        )
        if a.duration >= 0.035 * span:
            ax.text(
                a.start + a.duration / 2,
                y[a.node],
                a.task,
                ha="center",
                va="center",
                fontsize=7,
                clip_on=True,
            )
    for e in lost:
        if e.node in y:
            ax.barh(
                y[e.node],
                max(e.finish - e.start, 0.0),
                left=e.start,
                height=0.55,
                color="none",
                edgecolor="red",
                hatch="///",
                linewidth=0.6,
            )
    for t in transfers:
        if t.target in y:
            ax.barh(
                y[t.target] + 0.36,
                max(t.end - t.start, 0.0),
                left=t.start,
                height=0.12,
                color="0.55",
                edgecolor="none",
            )
    ax.set_yticks(range(len(rows)), rows)
    ax.set_ylim(len(rows) - 0.4, -0.6)
    ax.set_xlim(0, span * 1.02)
    ax.set_xlabel("time (s)")
    ax.grid(axis="x", linestyle=":", linewidth=0.5)
    ax.set_title(title or f"measured: makespan {measured.makespan:.4g} s")
    return ax


def plot_predicted_vs_measured(
    problem: Problem,
    predicted: Schedule,
    measured: Schedule,
    *,
    transfers: Sequence[TransferLike] = (),
    lost: Sequence[ExecutionLike] = (),
    axes: tuple[Axes, Axes] | None = None,
    title: str | None = None,
) -> tuple[Axes, Axes]:
    """The predicted schedule above the measured timeline, on one time axis.

    Parameters
    ----------
    problem
        The problem that ran.
    predicted
        The scheduler's schedule.
    measured
        The measured timeline (``DagRun.measured``).
    transfers
        Measured transfers (``DagRun.transfers``).
    lost
        Executions lost with a failed worker (``DagRun.executions`` not final).
    axes
        Two Axes to draw on (default: a new figure with two rows).
    title
        Figure title (default: algorithm, both makespans and the error).

    Returns
    -------
    (Axes, Axes)
        The predicted and the measured chart. Nothing is shown or saved.
    """
    if axes is None:
        from matplotlib.figure import Figure

        height = 2 * (1.0 + 0.55 * len(problem.cluster)) + 0.6
        figure = Figure(figsize=(11, height))
        top, bottom = figure.subplots(2, 1, sharex=True)
        axes = (top, bottom)
    top, bottom = axes
    plot_gantt(
        problem,
        predicted,
        ax=top,
        title=f"predicted ({predicted.algorithm}): makespan {predicted.makespan:.4g} s",
    )
    plot_measured_gantt(problem, measured, transfers=transfers, lost=lost, ax=bottom)
    span = max(
        predicted.makespan,
        measured.makespan,
        *(t.end for t in transfers),
        *(e.finish for e in lost),
        1e-12,
    )
    for ax in (top, bottom):
        ax.set_xlim(0, span * 1.02)
    if title is None and measured.makespan > 0:
        error = abs(measured.makespan - predicted.makespan) / measured.makespan
        title = (
            f"{predicted.algorithm}: predicted {predicted.makespan:.4g} s, "
            f"measured {measured.makespan:.4g} s ({100 * error:.1f} % off)"
        )
    if title:
        top.figure.suptitle(title, fontsize=10)
    return top, bottom
