"""Offloading figures: speedups beside the paper's, speedup against the throttling factor."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from edgeoffload.plots import save_figure
from edgeoffload.plots.offload import plot_speedup_vs_factor, plot_speedups


def test_speedups_beside_the_paper(tmp_path: Path) -> None:
    """One bar per label for ours and one for each of the paper's figures given."""
    ours = {"whole\nnearby": 3.1, "compute\nnearby": 3.0, "compute\nserver": 9.5}
    paper = {"whole\nnearby": 1.8, "compute\nnearby": 2.2, "compute\nserver": None}
    before = (dict(ours), dict(paper))
    ax = plot_speedups(ours, paper, nominal={"compute\nserver": 10.0}, title="t")
    heights = sorted(round(p.get_height(), 2) for p in ax.patches)
    assert heights == [1.8, 2.2, 3.0, 3.1, 9.5]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(ours)
    assert (ours, paper) == before  # inputs untouched
    assert save_figure(ax, tmp_path / "s.png").read_bytes().startswith(b"\x89PNG")


def test_speedup_vs_factor() -> None:
    """The ideal line is speedup = factor; each series is drawn through its points."""
    ax = plot_speedup_vs_factor({"reversi": [(4, 3.8), (2, 1.9)], "linpack": [(2, 2.1)]})
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["ideal (= factor)"].get_xdata()) == [2, 4]
    assert list(lines["ideal (= factor)"].get_ydata()) == [2, 4]
    assert list(lines["reversi"].get_xdata()) == [2, 4]
    assert list(lines["reversi"].get_ydata()) == [1.9, 3.8]
