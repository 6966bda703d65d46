"""Simulated experiments from Python: the estimate before a run, and Ctrl-C keeping what
was done (a progress callback raises KeyboardInterrupt where Ctrl-C would land)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from edgeoffload.experiments.simulated import (
    estimate_work,
    run_experiment,
    run_streams,
)
from edgeoffload.experiments.simulation_files import (
    EXPERIMENT_COLUMNS,
    save_experiment,
    save_streams,
)
from edgeoffload.workloads.scenarios import load_scenario

pytest.importorskip("simpy")


def interrupt_after(calls: int):  # type: ignore[no-untyped-def]
    """A progress callback that raises KeyboardInterrupt when the ``calls``-th repetition
    (or stream run) is reported done (the calls that only say work starts do not count)."""
    seen = [0]
    last = [0]

    def progress(done: int, total: int) -> None:
        if done == last[0]:
            return  # (done, total) with nothing new: the start of a condition
        last[0] = done
        seen[0] += 1
        if seen[0] == calls:
            raise KeyboardInterrupt

    return progress


def test_estimate_counts_runs_and_task_executions() -> None:
    scenario = load_scenario("dhs-paper")
    estimate = estimate_work(scenario, repetitions=3, conditions=["U-H", "B-L"])
    tasks = len(scenario.problem("U-H").graph) + len(scenario.problem("B-L").graph)
    algorithms = len(scenario.algorithms)
    assert estimate.runs == 2 * algorithms * 3
    assert estimate.task_runs == tasks * algorithms * 3
    assert estimate.frames == 0
    assert estimate.seconds > 0
    assert f"{estimate.runs:,} simulated runs" in estimate.describe()


def test_estimate_counts_stream_frames() -> None:
    scenario = load_scenario("camera-streams")
    estimate = estimate_work(scenario, algorithms=["heft", "local"])
    frames = sum(math.ceil(s.rate * s.duration) for s in scenario.streams)
    tasks = sum(math.ceil(s.rate * s.duration) * len(s.dnn().graph) for s in scenario.streams)
    assert estimate.frames == frames
    assert estimate.runs == 2
    assert estimate.task_runs == 2 * tasks
    # the estimate is of the order of what actually arrives (Poisson arrivals vary)
    result = run_streams(scenario, algorithms=["local"])
    assert 0.8 * frames <= result.results[0].frames <= 1.2 * frames


def test_interrupted_experiment_keeps_the_repetitions_done(tmp_path: Path) -> None:
    scenario = load_scenario("dhs-paper")
    # 5 repetitions per condition: the 7th call is condition 2's second repetition
    result = run_experiment(
        scenario,
        repetitions=5,
        algorithms=["local", "heft"],
        progress=interrupt_after(7),
    )
    assert result.interrupted
    assert result.conditions == ("U-H", "U-L")  # the third condition never started
    assert [c.runs for c in result.cases] == [5, 5, 2, 2]
    full = run_experiment(scenario, repetitions=2, conditions=["U-L"], algorithms=["heft"])
    # the kept repetitions are the ones an uninterrupted run makes (same seeds)
    assert result.case("U-L", "heft").latency == full.case("U-L", "heft").latency
    written = save_experiment(result, scenario, tmp_path, plots=False)
    assert {p.name for p in written} == {"dhs-paper.csv", "report.md"}
    rows = (tmp_path / "dhs-paper.csv").read_text().splitlines()
    assert len(rows) == 1 + 4
    assert rows[-1].endswith(",2")  # the repetitions column is the runs kept
    assert "Interrupted (Ctrl-C)" in (tmp_path / "report.md").read_text()


def test_interrupt_inside_the_first_simulation_keeps_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Ctrl-C landing inside a simulation: the repetition under way is dropped."""
    import edgeoffload.experiments.simulated as simulated

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(simulated, "simulate", interrupted)
    scenario = load_scenario("dhs-paper")
    result = run_experiment(scenario, repetitions=2, algorithms=["local"])
    assert result.interrupted
    assert result.conditions == () and result.cases == () and not result.loads
    save_experiment(result, scenario, tmp_path, plots=False)
    header = (tmp_path / "dhs-paper.csv").read_text().splitlines()
    assert header == [",".join(EXPERIMENT_COLUMNS)]  # the columns, no rows
    assert "Repetitions done per condition: none" in (tmp_path / "report.md").read_text()


def test_interrupted_streams_keep_the_algorithms_done(tmp_path: Path) -> None:
    scenario = load_scenario("camera-streams")
    result = run_streams(
        scenario, algorithms=["local", "heft", "peft"], progress=interrupt_after(2)
    )
    assert result.interrupted
    assert [r.algorithm for r in result.results] == ["local", "heft"]
    save_streams(result, scenario, tmp_path, plots=False)
    rows = (tmp_path / "camera-streams.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["local", "heft"]
    report = (tmp_path / "report.md").read_text()
    assert "Interrupted (Ctrl-C)" in report and "local, heft" in report


def test_ctrl_c_while_figures_are_drawn_keeps_the_report(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    import edgeoffload.plots as plots

    scenario = load_scenario("dhs-paper")
    result = run_experiment(scenario, repetitions=1, conditions=["B-L"], algorithms=["local"])
    drawn: list[str] = []
    real = plots.save_figure

    def second_figure_interrupted(ax: object, path: Path, **kwargs: object) -> Path:
        if drawn:
            raise KeyboardInterrupt
        drawn.append(Path(path).name)
        return real(ax, path)

    monkeypatch.setattr(plots, "save_figure", second_figure_interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_experiment(result, scenario, tmp_path, plots=True)
    report = (tmp_path / "report.md").read_text()
    assert drawn == ["fig1_latency.png"] and "fig1_latency.png" in report
    assert "gantt_B-L_local.png" not in report  # only the figures that were written


def test_a_scenario_with_conditions_and_streams_keeps_both_csv(tmp_path: Path) -> None:
    import yaml

    from edgeoffload.experiments.simulated import check_conditions
    from edgeoffload.workloads.scenarios import scenario_from_dict

    document = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "src/edgeoffload/workloads/data/scenarios")
        .joinpath("dhs-paper.yaml")
        .read_text()
    )
    document["streams"] = [
        {"name": "s1", "model": "alexnet", "camera": "cam1", "rate": 4, "duration": 1}
    ]
    scenario = scenario_from_dict(document)
    assert check_conditions(scenario, ["B-L"]) == ("B-L",)
    batch = run_experiment(scenario, repetitions=1, conditions=["B-L"], algorithms=["heft"])
    streams = run_streams(scenario, algorithms=["heft"])
    save_experiment(batch, scenario, tmp_path, plots=False)
    save_streams(streams, scenario, tmp_path, plots=False)
    batch_rows = (tmp_path / f"{scenario.name}.csv").read_text().splitlines()
    stream_rows = (tmp_path / f"{scenario.name}-streams.csv").read_text().splitlines()
    assert batch_rows[0].startswith("condition,") and len(batch_rows) == 2
    assert stream_rows[0].startswith("algorithm,frames") and len(stream_rows) == 2
    assert (tmp_path / "report.md").exists() and (tmp_path / "streams.md").exists()


def test_calibrate_scores_a_zero_threshold() -> None:
    from edgeoffload.experiments.sweep import calibrate

    result = calibrate("dhs-paper", problems=2, repetitions=1, workers=1, delta2=(0.0, 1.0))
    assert result.delta2 == (0.0, 1.0)
    # δ2 = 0 makes every problem heavy: DHS always picks PEFT
    always_peft = result.always["peft"]
    assert result.accuracy[0][0] == pytest.approx(always_peft)
