"""What ``edgeoffload run`` and ``calibrate-cluster`` do, as library calls: the Local
latency ratio, the files a run writes, and the calibration procedure's checks (the
real calibration runs in tests/cli/test_run_cli.py and at the end of this file)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from cases import SMALL_SCENARIO
from edgeoffload.errors import ModelError
from edgeoffload.experiments.dag_run import (
    RunCase,
    ScenarioRun,
    calibrate_for_scenario,
    save_run,
)
from edgeoffload.model import Cluster, Node
from edgeoffload.runtime.dag.records import RequestTiming
from edgeoffload.workloads.scenarios import load_scenario


def _run(algorithm: str, makespan: float, finishes: dict[str, float | None]) -> Any:
    """A stand-in for a DagRun: requests arriving at 0 finishing at ``finishes``."""
    requests = tuple(RequestTiming(r, 0.0, 1.0, f) for r, f in finishes.items())
    return SimpleNamespace(
        algorithm=algorithm,
        makespan=makespan,
        predicted_makespan=1.0,
        requests=requests,
        to_dict=lambda: {"algorithm": algorithm, "makespan": makespan},
    )


def _case(condition: str, algorithm: str, *runs: Any) -> RunCase:
    simulated = SimpleNamespace(
        makespan=1.0, requests=[SimpleNamespace(id=t.id, latency=1.0) for t in runs[0].requests]
    )
    return RunCase(condition, algorithm, tuple(runs), simulated)


def _result() -> ScenarioRun:
    cases = (
        # A: Local's mean measured latency is (2 + 4) / 2 = 3 s
        _case("A", "local", _run("local", 4.0, {"r1": 2.0, "r2": 4.0})),
        _case("A", "dhs", _run("dhs", 2.0, {"r1": 1.0, "r2": 2.0})),  # mean 1.5
        # median of three runs per request: r1 (1, 3, 9) -> 3; r2 (3, 3, None) -> 3
        _case(
            "A",
            "edge",
            _run("edge", 1.0, {"r1": 1.0, "r2": 3.0}),
            _run("edge", 2.0, {"r1": 3.0, "r2": 3.0}),
            _run("edge", 3.0, {"r1": 9.0, "r2": None}),
        ),
        _case("B", "dhs", _run("dhs", 1.0, {"r1": 1.0})),  # no Local on B
        _case("C", "local", _run("local", 1.0, {"r1": None})),  # Local's latency unknown
        _case("C", "dhs", _run("dhs", 1.0, {"r1": 1.0})),
    )
    return ScenarioRun("test", Cluster([Node("a", 1e9)]), cases)


class TestLatencyVsLocal:
    def test_ratio_of_mean_measured_latencies(self) -> None:
        result = _result()
        assert result.latency_vs_local(result.case("A", "local")) == 1.0
        assert result.latency_vs_local(result.case("A", "dhs")) == pytest.approx(1.5 / 3)
        assert result.latency_vs_local(result.case("A", "edge")) == pytest.approx(3 / 3)

    def test_none_without_a_local_baseline(self) -> None:
        result = _result()
        assert result.latency_vs_local(result.case("B", "dhs")) is None
        assert result.latency_vs_local(result.case("C", "dhs")) is None
        assert result.latency_vs_local(result.case("C", "local")) is None

    def test_conditions_and_their_cases_in_run_order(self) -> None:
        result = _result()
        assert result.conditions == ["A", "B", "C"]
        assert [c.algorithm for c in result.cases_of("A")] == ["local", "dhs", "edge"]
        assert result.cases_of("nope") == []


class TestSaveRun:
    def test_without_plots_only_run_json(self, tmp_path: Path) -> None:
        result = _result()
        files = save_run(result, tmp_path / "out", plots=False)
        assert files.run == tmp_path / "out" / "run.json"
        assert (files.cluster, files.gantts, files.notes) == (None, (), ())
        assert files.paths == [files.run]
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["run.json"]
        doc = json.loads(files.run.read_text())
        assert doc["scenario"] == "test"
        assert [(c["condition"], c["algorithm"]) for c in doc["cases"]][:2] == [
            ("A", "local"),
            ("A", "dhs"),
        ]
        assert doc["cases"][1]["measured_makespan"] == 2.0

    def test_a_chart_that_cannot_be_drawn_is_a_note(self, tmp_path: Path) -> None:
        # the stand-in runs have no schedules to draw: the charts fail, the files stay
        files = save_run(_result(), tmp_path, plots=True)
        assert files.gantts == ()
        assert len(files.notes) == 1 and files.notes[0].startswith("no Gantt charts: ")
        assert files.run.is_file()

    def test_a_calibration_is_saved_as_cluster_json(self, tmp_path: Path) -> None:
        saved: list[Path] = []

        def save(path: Path) -> Path:
            path.write_text("{}\n")
            saved.append(path)
            return path

        base = _result()
        calibration: Any = SimpleNamespace(
            save=save, to_dict=lambda: {"nodes": [], "_calibration": {}}
        )
        result = ScenarioRun(base.scenario, base.cluster, base.cases, calibration)
        files = save_run(result, tmp_path, plots=False)
        assert files.cluster == tmp_path / "cluster.json" and saved == [files.cluster]
        assert files.paths == [tmp_path / "run.json", tmp_path / "cluster.json"]


class TestCalibrateForScenarioChecks:
    """Refused before any cluster is joined or started."""

    def test_needs_a_scenario_or_an_address(self, tmp_path: Path) -> None:
        with pytest.raises(ModelError, match="give a scenario or the address"):
            calibrate_for_scenario(tmp_path / "c.json")

    @pytest.mark.parametrize(
        "options", [{"check": True}, {"scenario_out": "x.yaml"}], ids=["check", "out"]
    )
    def test_check_and_scenario_out_need_a_scenario(
        self, tmp_path: Path, options: dict[str, Any]
    ) -> None:
        with pytest.raises(ModelError, match="need a scenario"):
            calibrate_for_scenario(tmp_path / "c.json", address="tcp://127.0.0.1:1", **options)

    def test_scenario_out_of_a_scenario_object_needs_its_source(self, tmp_path: Path) -> None:
        scenario = load_scenario("dhs-paper")
        with pytest.raises(ModelError, match="file or name"):
            calibrate_for_scenario(tmp_path / "c.json", scenario, scenario_out=tmp_path / "s.yaml")

    @pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), float("inf")])
    def test_check_scale_must_be_finite_and_positive(self, tmp_path: Path, scale: float) -> None:
        with pytest.raises(ModelError, match="check_scale"):
            calibrate_for_scenario(tmp_path / "c.json", "dhs-paper", check_scale=scale)
        assert not (tmp_path / "c.json").exists()

    def test_unknown_scenario(self, tmp_path: Path) -> None:
        with pytest.raises(ModelError, match="no such file"):
            calibrate_for_scenario(tmp_path / "c.json", "no-such-scenario")


def test_calibrate_for_scenario_on_a_local_cluster(tmp_path: Path) -> None:
    """The whole procedure: a local cluster for the scenario's nodes, calibrated, the
    cluster file and the calibrated scenario written, the prediction checked."""
    pytest.importorskip("distributed")
    from edgeoffload.runtime.client.calibration import load_cluster_file

    source = tmp_path / "small.yaml"
    source.write_text(SMALL_SCENARIO)
    lines: list[str] = []
    done = calibrate_for_scenario(
        tmp_path / "sub" / "cluster.json",
        str(source),
        kinds=["conv", "fc"],
        seconds=0.02,
        repeats=1,
        scenario_out=tmp_path / "calibrated.yaml",
        check=True,
        check_scale=0.05,
        progress=lines.append,
    )
    assert done.path == tmp_path / "sub" / "cluster.json"
    assert set(load_cluster_file(done.path).node_ids) == {"cam1", "cam2", "edge"}
    assert set(done.calibration.cluster.node_ids) == {"cam1", "cam2", "edge"}
    assert done.scenario_path == tmp_path / "calibrated.yaml"
    calibrated = load_scenario(done.scenario_path)
    for node in ("cam1", "cam2", "edge"):
        assert calibrated.cluster.node(node).speed == done.calibration.cluster.node(node).speed
    assert [r.algorithm for r in done.check] == ["local", "dhs"]
    assert all(r.makespan > 0 for r in done.check)
    assert set(done.quotas) == {"cam1", "cam2", "edge"}  # a local, throttled cluster
    assert max(done.quotas, key=done.quotas.__getitem__) == "edge"
    assert any("checking the prediction" in line for line in lines)
