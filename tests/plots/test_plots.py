"""Plots draw what they are given: bars per task, transfers, one group per case."""

from __future__ import annotations

from matplotlib.patches import Rectangle

from cases import multi_request_problem
from edgeoffload.model import Problem
from edgeoffload.plots import plot_comparison, plot_gantt, save_gantt
from edgeoffload.schedulers import get_scheduler


class Bar:
    """One drawn bar: a Rectangle patch or a rectangle of a collection (broken_barh)."""

    def __init__(self, x: float, width: float, height: float) -> None:
        self.x, self.width, self.height = x, width, height

    def get_x(self) -> float:
        return self.x

    def get_width(self) -> float:
        return self.width

    def get_height(self) -> float:
        return self.height


def bars(ax: object) -> list[Bar]:
    out = [
        Bar(p.get_x(), p.get_width(), p.get_height())
        for p in ax.patches  # type: ignore[attr-defined]
        if isinstance(p, Rectangle)
    ]
    for collection in ax.collections:  # type: ignore[attr-defined]
        for path in collection.get_paths():
            xs, ys = path.vertices[:, 0], path.vertices[:, 1]
            out.append(Bar(float(xs.min()), float(xs.max() - xs.min()), float(ys.max() - ys.min())))
    return out


def test_gantt_has_a_row_per_node_and_a_bar_per_task(paper_problem: Problem) -> None:
    schedule = get_scheduler("heft").schedule(paper_problem)
    ax = plot_gantt(paper_problem, schedule)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["P1", "P2", "P3"]
    task_bars = [b for b in bars(ax) if b.get_height() > 0.5]
    assert len(task_bars) == 10
    t10 = schedule.assignment("T10")
    assert any(b.get_x() == t10.start and b.get_width() == t10.duration for b in task_bars)
    assert "makespan 80" in ax.get_title()


def test_gantt_shows_each_cross_node_transfer(paper_problem: Problem) -> None:
    schedule = get_scheduler("heft").schedule(paper_problem)
    crossing = [
        d
        for d in paper_problem.graph.dependencies
        if schedule.assignment(d.source).node != schedule.assignment(d.target).node
    ]
    ax = plot_gantt(paper_problem, schedule)
    transfer_bars = [b for b in bars(ax) if b.get_height() < 0.2]
    assert len(transfer_bars) == len(crossing) > 0
    widths = sorted(b.get_width() for b in transfer_bars)
    assert widths == sorted(d.data for d in crossing)  # unit bandwidth: width = data


def test_gantt_marks_request_arrivals_and_legend(tmp_path: object) -> None:
    problem = multi_request_problem()
    schedule = get_scheduler("dhs").schedule(problem)
    ax = plot_gantt(problem, schedule)
    markers = [line for line in ax.get_lines() if line.get_marker() == "v"]
    assert sorted(float(m.get_xdata()[0]) for m in markers) == [0.0, 0.1, 0.25]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["r1", "r2", "r3"]


def test_save_gantt_writes_a_png(tmp_path: object, paper_problem: Problem) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "g.png"
    save_gantt(paper_problem, get_scheduler("cpop").schedule(paper_problem), path)
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_comparison_groups_and_bars() -> None:
    ax = plot_comparison({"U-H": {"local": 3.0, "dhs": 2.0}, "B-L": {"local": 1.0, "dhs": 0.5}})
    assert [t.get_text() for t in ax.get_xticklabels()] == ["U-H", "B-L"]
    heights = sorted(b.get_height() for b in bars(ax))
    assert heights == [0.5, 1.0, 2.0, 3.0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["local", "dhs"]


def test_comparison_of_one_case() -> None:
    ax = plot_comparison({"heft": 80.0, "cpop": 86.0})
    assert sorted(b.get_height() for b in bars(ax)) == [80.0, 86.0]
