"""The demo's steps as library functions: scheduling, notes, figures, the offloading skip."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from edgeoffload.experiments.demo import (
    DEMO_ALGORITHMS,
    DEMO_PROBLEMS,
    DemoProblem,
    DemoRow,
    offload_demo_unavailable,
    save_demo_figures,
    save_offload_figure,
    schedule_all,
    schedule_demo,
    schedule_problem,
)
from edgeoffload.model import Schedule, mean_latency, validate_schedule
from edgeoffload.schedulers import chosen_scheduler, schedule
from edgeoffload.workloads import builtin_problem


@pytest.fixture(scope="module")
def demo() -> list[DemoProblem]:
    return schedule_demo()


def test_the_heft_paper_example_gives_the_published_makespans() -> None:
    p = schedule_problem(builtin_problem("topcuoglu2002"), "topcuoglu2002")
    assert p.makespans() == {
        "local": 127,
        "heft": 80,  # Topcuoglu et al. 2002, Fig. 2
        "cpop": 86,
        "peft": 85,
        "dhs": 86,
        "portfolio": 79,  # HEFT's 80, shortened by the portfolio's local search
    }
    assert p.results["heft"].makespan == 80
    assert p.results["cpop"].makespan == 86


def test_algorithms_that_do_not_apply_are_left_out() -> None:
    problem = builtin_problem("topcuoglu2002")  # no edge node
    assert "edge" not in schedule_all(problem)
    assert list(schedule_all(builtin_problem("camera_cluster"))) == list(DEMO_ALGORITHMS)


def test_schedule_demo_schedules_each_problem_in_order(demo: list[DemoProblem]) -> None:
    assert [(p.name, p.title) for p in demo] == list(DEMO_PROBLEMS.items())
    assert demo[0].title.startswith("HEFT paper example")
    for p in demo:
        for algorithm, r in p.results.items():
            assert r.algorithm == algorithm == r.schedule.algorithm
            validate_schedule(p.problem, r.schedule)


def test_every_mean_latency_is_the_models(demo: list[DemoProblem]) -> None:
    for p in demo:
        for r in p.results.values():
            assert r.mean_latency == mean_latency(p.problem, r.schedule)
    camera = demo[1].results
    assert camera["peft"].mean_latency == pytest.approx(0.05145, abs=5e-6)
    assert camera["local"].mean_latency > camera["edge"].mean_latency


def test_notes_say_what_dhs_and_the_portfolio_chose(demo: list[DemoProblem]) -> None:
    paper, camera = (p.results for p in demo)
    assert paper["dhs"].note == "condition U-L -> cpop"
    assert paper["portfolio"].note == "chose heft"
    assert camera["dhs"].note == "condition U-H -> peft"
    assert camera["portfolio"].note == "chose peft"
    assert all(paper[a].note == "" for a in ("local", "heft", "cpop", "peft"))


def test_chosen_scheduler_reads_dhs_and_the_portfolio() -> None:
    problem = builtin_problem("topcuoglu2002")
    dhs = schedule(problem, "dhs")
    portfolio = schedule(problem, "portfolio")
    assert chosen_scheduler(dhs) == dhs.details["dhs"]["chosen"] == "cpop"
    assert chosen_scheduler(portfolio) == portfolio.details["portfolio"]["chosen"] == "heft"
    assert chosen_scheduler(schedule(problem, "heft")) is None
    assert chosen_scheduler(Schedule("x", [], {"dhs": "not a report"})) is None


def test_save_demo_figures_writes_the_files_it_returns(
    demo: list[DemoProblem], tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "figures"  # created
    paths = save_demo_figures(demo, out)
    assert [p.name for p in paths] == [
        "topcuoglu2002_heft_gantt.png",
        "topcuoglu2002_dhs_gantt.png",
        "topcuoglu2002_makespans.png",
        "camera_cluster_heft_gantt.png",
        "camera_cluster_dhs_gantt.png",
        "camera_cluster_makespans.png",
    ]
    assert sorted(out.iterdir()) == sorted(paths)
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_save_offload_figure(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    rows = [
        DemoRow("reversi", "4 plies, depth 6", 1.3, 0.26, {"server": 3, "nearby": 1}, "why"),
        DemoRow("linpack", "n = 1500", 1.4, 0.4, {"nearby": 1}, ""),
    ]
    assert rows[0].speedup == pytest.approx(5.0)
    path = save_offload_figure(rows, tmp_path / "demo")
    assert path == tmp_path / "demo" / "offload_speedup.png"
    assert path.read_bytes()[:4] == b"\x89PNG"


DASK_MISSING = "Dask is not installed (pip install 'edgeoffload[runtime]')"


@pytest.mark.parametrize(
    ("dask", "throttle_reason", "expected"),
    [
        (False, "not root", DASK_MISSING),  # Dask is named first
        (False, None, DASK_MISSING),
        (True, "not root", "not root"),
        (True, None, None),
    ],
)
def test_offload_demo_unavailable_says_why(
    monkeypatch: pytest.MonkeyPatch, dask: bool, throttle_reason: str | None, expected: str | None
) -> None:
    import edgeoffload.runtime.host.throttle as throttle

    find_spec = importlib.util.find_spec

    def fake_find_spec(name: str, *args: object) -> object:
        if name == "distributed":
            return object() if dask else None
        return find_spec(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", fake_find_spec)
    monkeypatch.setattr(throttle, "throttle_available", lambda method: throttle_reason)
    assert offload_demo_unavailable() == expected
