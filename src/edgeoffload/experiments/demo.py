"""The steps of ``edgeoffload demo`` (``make demo``), as functions returning data.

Scheduling: :func:`schedule_demo` schedules the HEFT paper's example and a smart-camera
cluster with every algorithm (:data:`DEMO_ALGORITHMS`); :func:`save_demo_figures` draws
their Gantt charts and makespans.

Offloading that pays, a slow phone, a nearby device and a server: the same
throttled-client setup as the COFA experiment (:mod:`.cofa`), cut to what ``make demo``
can show in well under a minute. The phone plays the first plies of a depth-6 Reversi
game and solves one Linpack system on its own, then again with the decision engine
choosing, per call, between running locally, on the nearby device and on the server
(:func:`offload_demo`; :func:`offload_demo_unavailable` says why it cannot run here,
:func:`save_offload_figure` draws it). Every figure is measured.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeoffload.experiments.runner import Event, run_phone
from edgeoffload.model import Problem, Schedule, mean_latency
from edgeoffload.schedulers import chosen_scheduler, get_scheduler

__all__ = [
    "DEMO_ALGORITHMS",
    "DEMO_PROBLEMS",
    "AlgorithmResult",
    "DemoProblem",
    "DemoRow",
    "offload_demo",
    "offload_demo_unavailable",
    "save_demo_figures",
    "save_offload_figure",
    "schedule_all",
    "schedule_demo",
    "schedule_problem",
]

# --------------------------------------------------------------------------- scheduling

DEMO_ALGORITHMS = ("local", "edge", "heft", "cpop", "peft", "dhs", "portfolio")
"""The schedulers the demo compares, in the order of its tables."""

DEMO_PROBLEMS: Mapping[str, str] = {
    "topcuoglu2002": ("HEFT paper example (Topcuoglu et al. 2002; published HEFT 80, CPOP 86)"),
    "camera_cluster": "Smart-camera cluster: 4 CNN requests, 3 cameras + edge server",
}
"""The built-in problems the demo schedules (:func:`~edgeoffload.workloads.builtin_problem`
names), with their titles."""

GANTT_ALGORITHMS = ("heft", "dhs")
"""The algorithms whose schedules :func:`save_demo_figures` draws as Gantt charts."""


@dataclass(frozen=True, slots=True)
class AlgorithmResult:
    """One algorithm's schedule of a demo problem.

    Attributes
    ----------
    algorithm
        The scheduler's name.
    schedule
        Its schedule (validated).
    mean_latency
        Mean request latency under the schedule, seconds
        (:func:`~edgeoffload.model.mean_latency`).
    note
        What DHS or the portfolio chose (DHS: ``condition B-L -> heft``; the portfolio:
        ``chose peft``); empty for the others.
    """

    algorithm: str
    schedule: Schedule
    mean_latency: float
    note: str

    @property
    def makespan(self) -> float:
        return self.schedule.makespan


@dataclass(frozen=True, slots=True)
class DemoProblem:
    """A problem scheduled by every algorithm that applies to it.

    Attributes
    ----------
    name
        The built-in problem's name (figure files start with it).
    title
        One line saying what it is (table and chart title).
    problem
        The problem.
    results
        Per algorithm, in :data:`DEMO_ALGORITHMS` order; algorithms that do not apply
        to the problem are left out.
    """

    name: str
    title: str
    problem: Problem
    results: Mapping[str, AlgorithmResult]

    def makespans(self) -> dict[str, float]:
        """Makespan per algorithm, seconds."""
        return {a: r.makespan for a, r in self.results.items()}


def schedule_all(
    problem: Problem, algorithms: Sequence[str] = DEMO_ALGORITHMS
) -> dict[str, Schedule]:
    """A validated schedule of ``problem`` by each of ``algorithms`` that applies to it."""
    results = {}
    for name in algorithms:
        scheduler = get_scheduler(name)
        if scheduler.applies_to(problem) is None:
            results[name] = scheduler.checked_schedule(problem, name)
    return results


def _note(schedule: Schedule) -> str:
    chosen = chosen_scheduler(schedule)
    if chosen is None:
        return ""
    if "dhs" in schedule.details:
        return f"condition {schedule.details['dhs']['condition']} -> {chosen}"
    return f"chose {chosen}"


def schedule_problem(
    problem: Problem,
    name: str,
    title: str = "",
    algorithms: Sequence[str] = DEMO_ALGORITHMS,
) -> DemoProblem:
    """``problem`` scheduled by each of ``algorithms`` that applies, with the mean
    latency of each schedule and what DHS and the portfolio chose."""
    return DemoProblem(
        name,
        title,
        problem,
        {
            algorithm: AlgorithmResult(
                algorithm, schedule, mean_latency(problem, schedule), _note(schedule)
            )
            for algorithm, schedule in schedule_all(problem, algorithms).items()
        },
    )


def schedule_demo(problems: Mapping[str, str] = DEMO_PROBLEMS) -> list[DemoProblem]:
    """The demo's scheduling step: each built-in problem of ``problems`` (name -> title)
    scheduled by every algorithm, in order."""
    from edgeoffload.workloads import builtin_problem

    return [
        schedule_problem(builtin_problem(name), name, title) for name, title in problems.items()
    ]


def save_demo_figures(problems: Sequence[DemoProblem], out: Path) -> list[Path]:
    """Write, per problem, Gantt charts of the :data:`GANTT_ALGORITHMS` schedules
    (``<name>_<algorithm>_gantt.png``) and a bar chart of the makespans
    (``<name>_makespans.png``) to ``out``; the paths written, in that order.

    Needs matplotlib (the ``plot`` extra).
    """
    from edgeoffload.plots import plot_comparison, save_figure, save_gantt

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for p in problems:
        for algorithm in GANTT_ALGORITHMS:
            if algorithm in p.results:
                path = out / f"{p.name}_{algorithm}_gantt.png"
                paths.append(save_gantt(p.problem, p.results[algorithm].schedule, path))
        path = out / f"{p.name}_makespans.png"
        paths.append(save_figure(plot_comparison(p.makespans(), title=p.title), path))
    return paths


# --------------------------------------------------------------------------- offloading


@dataclass(frozen=True, slots=True)
class DemoRow:
    """One app, alone on the phone and with offloading.

    Attributes
    ----------
    app
        ``reversi`` or ``linpack``.
    work
        What was computed, in words.
    local, offloaded
        Wall seconds on the phone, alone and with offloading decided per call.
    where
        Where the offloaded run's calls ran (``local`` or a worker), with counts.
    reason
        The decision engine's reason for the first offloaded call.
    """

    app: str
    work: str
    local: float
    offloaded: float
    where: Mapping[str, int]
    reason: str

    @property
    def speedup(self) -> float:
        return self.local / self.offloaded


def offload_demo(
    *,
    phone_quota: float = 0.1,
    nearby_quota: float = 0.28,
    plies: int = 4,
    depth: int = 6,
    linpack_n: int = 1500,
    on_event: Callable[[Event], None] | None = None,
    apps_source: str | Path | None = None,
) -> list[DemoRow]:
    """Run the demonstration; one :class:`DemoRow` per app.

    Raises
    ------
    EdgeOffloadError
        No way to throttle a process here, or the client failed.
    """
    from edgeoffload.errors import EdgeOffloadError
    from edgeoffload.runtime.host.throttle import throttle_available

    reason = throttle_available("auto")
    if reason is not None:
        raise EdgeOffloadError(f"cannot throttle the phone, so no offloading demo here: {reason}")
    works = {
        "reversi": f"{plies} plies, depth {depth}",
        "linpack": f"n = {linpack_n}",
    }
    items: list[dict[str, Any]] = []
    for target in ("phone", "auto"):
        items.append(
            {"app": "reversi", "kind": "game", "depth": depth, "plies": plies,
             "target": target, "quota": None}
        )  # fmt: skip
        items.append(
            {"app": "linpack", "kind": "linpack", "n": linpack_n, "seed": 1,
             "target": target, "quota": None}
        )  # fmt: skip
    plan = {
        "method": "auto",
        "phone_preset": "nexus7",
        "workers": [
            {"name": "nearby", "role": "device", "preset": "nexus6p", "quota": nearby_quota},
            {"name": "server", "role": "edge", "preset": "i7-6700", "quota": None},
        ],
        "session_quota": phone_quota,  # the decision engine probes the slow phone
        "calibrate": None,
        "warm_up": False,  # tiny warm-up calls would skew the decision engine's history
        "items": items,
    }
    out = run_phone(plan, on_event=on_event, timeout=300.0, apps_source=apps_source)
    rows = []
    for app in ("reversi", "linpack"):
        alone = next(r for r in out.records if r["app"] == app and r["target"] == "phone")
        auto = next(r for r in out.records if r["app"] == app and r["target"] == "auto")
        rows.append(
            DemoRow(
                app=app,
                work=works[app],
                local=alone["whole"],
                offloaded=auto["whole"],
                where=auto["where"],
                reason=(auto.get("reasons") or [""])[0],
            )
        )
    return rows


def offload_demo_unavailable() -> str | None:
    """Why :func:`offload_demo` cannot run here, in one line, or ``None`` if it can:
    Dask is not installed, or no process can be throttled (not root, no cgroup v1 and
    no signals)."""
    if importlib.util.find_spec("distributed") is None:
        return "Dask is not installed (pip install 'edgeoffload[runtime]')"
    from edgeoffload.runtime.host.throttle import throttle_available

    return throttle_available("auto")


def save_offload_figure(rows: Sequence[DemoRow], out: Path) -> Path:
    """Write a bar chart of the rows' offloading speedups to ``out/offload_speedup.png``;
    the path written. Needs matplotlib (the ``plot`` extra)."""
    from edgeoffload.plots import save_figure
    from edgeoffload.plots.offload import plot_speedups

    out.mkdir(parents=True, exist_ok=True)
    ax = plot_speedups(
        {r.app: r.speedup for r in rows},
        ylabel="speedup from offloading (×)",
        title="Throttled phone (0.1 core): offloading speedup",
    )
    return save_figure(ax, out / "offload_speedup.png")
