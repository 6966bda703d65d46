"""The files of a COFA experiment: ``cofa.json``, ``report.md`` and bar charts.

``edgeoffload experiment cofa --out DIR`` writes these; from Python, :func:`save_cofa`
takes what :func:`~edgeoffload.experiments.cofa.run_cofa` returns.
"""

from __future__ import annotations

import json
from pathlib import Path

from edgeoffload.experiments.cofa import (
    CofaResult,
    nominal_speedup,
    paper_value,
    render_markdown,
)

__all__ = ["save_cofa", "save_figures"]


def save_cofa(result: CofaResult, out: Path, plots: bool = True) -> list[Path]:
    """Write ``cofa.json`` (the results), the charts (with ``plots``:
    :func:`save_figures`) and ``report.md`` to ``out``; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    figures = save_figures(result, out) if plots else []
    report = out / "report.md"
    report.write_text(render_markdown(result, figures))
    data = out / "cofa.json"
    data.write_text(json.dumps(result.to_dict(), indent=1))
    return [data, *(out / name for name in figures), report]


def save_figures(result: CofaResult, out: Path) -> list[str]:
    """Bar charts of our speedups and energy beside the paper's; returns the file names."""
    from edgeoffload.plots import save_figure
    from edgeoffload.plots.offload import plot_speedups

    names = []
    summaries = result.summaries()
    for app in result.config.apps:
        ours: dict[str, float] = {}
        paper: dict[str, float | None] = {}
        nominal: dict[str, float] = {}
        for s in summaries:
            if s.app != app or s.target == "phone":
                continue
            for kind, value in (("whole", s.whole_speedup), ("compute", s.compute_speedup)):
                label = f"{kind}\n{s.target}"
                ours[label] = value
                paper[label] = paper_value(app, f"{kind}_speedup", s.target)
            nominal[f"compute\n{s.target}"] = nominal_speedup(result.config, s.target)
        if ours:
            name = f"{app}_speedups.png"
            save_figure(
                plot_speedups(ours, paper, nominal=nominal, title=f"{app}: speedup over the phone"),
                out / name,
            )
            names.append(name)
    energy = {
        f"{s.app}\n{s.target}": 100 * s.energy_change
        for s in summaries
        if s.target != "phone" and s.energy_change is not None
    }
    if energy:
        paper_energy: dict[str, float | None] = {}
        for label in energy:
            app, target = label.split("\n")
            published = paper_value(app, "energy_change", target)
            paper_energy[label] = None if published is None else 100 * published
        save_figure(
            plot_speedups(
                energy,
                paper_energy,
                ylabel="phone energy vs local (%)",
                title="Energy of the phone when offloading (estimate vs the paper's measurement)",
            ),
            out / "energy.png",
        )
        names.append("energy.png")
    return names
