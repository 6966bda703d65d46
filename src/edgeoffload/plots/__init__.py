"""Plots: the only package that imports matplotlib.

``plot_*`` functions draw on an Axes and return it (no global state, nothing shown or
saved); ``save_*`` helpers write a PNG with the non-interactive Agg canvas.
"""

from __future__ import annotations

from pathlib import Path

from edgeoffload.model import Problem, Schedule
from edgeoffload.plots.compare import plot_comparison
from edgeoffload.plots.gantt import plot_gantt

__all__ = ["figure_formats", "plot_comparison", "plot_gantt", "save_figure", "save_gantt"]


def figure_formats() -> frozenset[str]:
    """The file suffixes :func:`save_figure` can write (``png``, ``pdf``, ``svg``, ...)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    return frozenset(FigureCanvasAgg.get_supported_filetypes())


def save_figure(ax: object, path: str | Path, *, dpi: int = 130) -> Path:
    """Write the figure holding ``ax`` to ``path`` (PNG unless the suffix says otherwise)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = ax.figure  # type: ignore[attr-defined]
    FigureCanvasAgg(figure)
    figure.tight_layout()
    figure.savefig(path, dpi=dpi)
    return Path(path)


def save_gantt(
    problem: Problem, schedule: Schedule, path: str | Path, title: str | None = None
) -> Path:
    """Draw :func:`plot_gantt` on a new figure and write it to ``path``."""
    return save_figure(plot_gantt(problem, schedule, title=title), path)
