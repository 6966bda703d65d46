"""Predicted and measured timelines of a scheduled DAG run, one above the other.

The upper chart is the scheduler's schedule (:func:`~edgeoffload.plots.gantt.plot_gantt`,
transfers as the cost model predicts them); the lower one is what the workers recorded:
each task's final execution, transfers from the producer's send to the consumer's
receipt, and executions lost with a failed worker hatched. Both share the time axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from edgeoffload.model import Problem, Schedule
from edgeoffload.plots._timeline import draw_task, draw_transfer, finish_axes, new_axes
from edgeoffload.plots.gantt import plot_gantt, task_colours

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
    ax = ax or new_axes(11, 1.2 + 0.7 * len(problem.cluster))
    rows = list(nodes or problem.cluster.node_ids)
    rows += sorted({a.node for a in measured} - set(rows))
    y = {node: k for k, node in enumerate(rows)}
    colours, keys = task_colours(problem)
    span = max([measured.makespan, *(t.end for t in transfers), *(e.finish for e in lost), 1e-12])
    for a in measured:
        if a.node in y and a.task in problem.graph:
            key = keys[problem.graph.index(a.task)]
            draw_task(
                ax, y[a.node], a.start, a.duration, colours.get(key, "C0"), label=a.task, span=span
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
            draw_transfer(ax, y[t.target], t.start, t.end - t.start)
    finish_axes(ax, rows, span, title or f"measured: makespan {measured.makespan:.4g} s")
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
