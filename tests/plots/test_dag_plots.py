"""The predicted-vs-measured chart of a DAG run: both timelines on one time axis."""

from __future__ import annotations

import pytest
from matplotlib.patches import Rectangle

from cases import multi_request_problem
from edgeoffload.model import Assignment, Schedule
from edgeoffload.plots import save_figure
from edgeoffload.plots.dag import plot_measured_gantt, plot_predicted_vs_measured
from edgeoffload.runtime.dag import TaskExecution, TransferRecord
from edgeoffload.schedulers import get_scheduler


def bars(ax: object) -> list[Rectangle]:
    return [p for p in ax.patches if isinstance(p, Rectangle)]  # type: ignore[attr-defined]


def measured_like(schedule: Schedule, stretch: float) -> Schedule:
    return Schedule(
        "measured",
        [Assignment(a.task, a.node, a.start * stretch, a.finish * stretch) for a in schedule],
    )


def test_predicted_above_measured_on_one_axis(tmp_path: object) -> None:
    problem = multi_request_problem()
    predicted = get_scheduler("dhs").schedule(problem)
    measured = measured_like(predicted, 1.25)
    first = predicted.assignments[0]
    transfers = [TransferRecord(first.task, first.node, "edge", 0.01, 0.05, 1000)]
    lost = [TaskExecution(first.task, "cam2", 0.0, 0.02, 1, final=False)]
    top, bottom = plot_predicted_vs_measured(
        problem, predicted, measured, transfers=transfers, lost=lost
    )
    assert top.figure is bottom.figure
    assert top.get_xlim() == bottom.get_xlim()
    assert bottom.get_xlim()[1] >= measured.makespan
    tasks = [b for b in bars(bottom) if b.get_height() > 0.5]
    assert len(tasks) == len(problem.graph) + len(lost)
    assert [b.get_hatch() for b in tasks].count("///") == 1
    transfer = next(b for b in bars(bottom) if b.get_height() < 0.2)
    assert transfer.get_width() == pytest.approx(0.04)
    assert "20.0 % off" in top.figure._suptitle.get_text()  # measured 1.25x: 20 % of it
    from pathlib import Path

    path = save_figure(top, Path(str(tmp_path)) / "g.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_measured_chart_skips_what_it_cannot_place() -> None:
    """A task missing from the measured timeline (its record was lost) leaves a gap."""
    problem = multi_request_problem()
    predicted = get_scheduler("heft").schedule(problem)
    partial = Schedule("measured", predicted.assignments[1:])
    ax = plot_measured_gantt(problem, partial)
    assert len([b for b in bars(ax) if b.get_height() > 0.5]) == len(problem.graph) - 1
    assert "measured" in ax.get_title()
