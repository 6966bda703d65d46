"""``edgeoffload run`` and ``edgeoffload calibrate-cluster`` end to end, via main(), on a
small scenario: two cameras and an edge server, AlexNet at block level, a fraction of
its work (a few seconds of compute in all)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cases import SMALL_SCENARIO
from edgeoffload.cli import main

pytest.importorskip("distributed")

QUICK = ["--seconds", "0.02", "--repeats", "1"]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("run") / "small.yaml"
    path.write_text(SMALL_SCENARIO)
    return path


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edgeoffload.runtime.wire.security import make_certificates

    folder = tmp_path_factory.mktemp("certs")
    make_certificates(folder)
    return folder


@pytest.fixture(scope="module")
def cluster(certs: Path) -> Iterator[str]:
    """A running cluster whose workers are named after the scenario's nodes, with the
    certificates of ``certs`` (the commands join it with --tls)."""
    from edgeoffload.runtime import LocalCluster, WorkerSpec

    workers = [WorkerSpec("cam1"), WorkerSpec("cam2"), WorkerSpec("edge")]
    with LocalCluster(workers, tls=certs) as local:
        yield local.address


def call(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.dask
@pytest.mark.slow
def test_run_starts_a_throttled_cluster_and_compares_local_edge_dhs(
    scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --cluster: workers named after the nodes, throttled in the ratio of their
    presets' speeds, calibrated; Local, Edge and DHS each run, with predicted, simulated
    and measured figures, run.json, the cluster file and a Gantt chart per algorithm."""
    args = ["run", str(scenario), "--scale", "0.1", *QUICK, "--out", str(tmp_path)]
    code, out, err = call(args, capsys)
    assert code == 0, err
    assert "quotas" in out or "not throttled" in out
    for algorithm in ("local", "edge", "dhs"):
        assert algorithm in out
    result = json.loads((tmp_path / "run.json").read_text())
    assert [c["algorithm"] for c in result["cases"]] == ["local", "edge", "dhs"]
    for case in result["cases"]:
        assert case["predicted_makespan"] > 0 and case["measured_makespan"] > 0
        assert case["simulated_makespan"] == pytest.approx(case["predicted_makespan"])
        measured = case["measured_makespan"]
        gap = abs(measured - case["simulated_makespan"]) / measured
        assert case["simulated_error"] == pytest.approx(gap)
        assert set(case["latency"]) == {"r1", "r2"}
        run = case["runs"][0]
        placed = {a["task"]: a["node"] for a in run["predicted"]["assignments"]}
        measured = {e["task"]: e["node"] for e in run["measured"] if e["final"]}
        assert measured == placed
    local = result["cases"][0]["runs"][0]["predicted"]["assignments"]
    assert {a["node"] for a in local if a["task"].startswith("r1/")} == {"cam1"}
    edge = result["cases"][1]["runs"][0]["predicted"]["assignments"]
    assert {a["node"] for a in edge if not a["task"].endswith("/input")} == {"edge"}
    if result["quotas"]:
        assert result["quotas"]["edge"] > result["quotas"]["cam2"] > result["quotas"]["cam1"]
    assert set(result["cluster"]["_calibration"]["kernel_speeds"]) == {"cam1", "cam2", "edge"}
    assert len(list(tmp_path.glob("gantt-default-*.png"))) == 3
    assert (tmp_path / "cluster.json").exists()


@pytest.mark.dask
def test_calibrate_cluster_by_address_then_run_on_the_file(
    scenario: Path, cluster: str, certs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """calibrate-cluster writes a cluster file and a calibrated scenario and reports the
    prediction error; run then plans on that file (no calibration) and prints JSON."""
    from edgeoffload.runtime.client.calibration import load_cluster_file
    from edgeoffload.workloads.scenarios import load_scenario

    out_file, yaml_file = tmp_path / "cluster.json", tmp_path / "calibrated.yaml"
    args = ["calibrate-cluster", str(scenario), "--cluster", cluster, "--tls", str(certs)]
    args += ["-o", str(out_file)]
    args += ["--scenario-out", str(yaml_file), "--check", "--check-scale", "0.05", *QUICK]
    code, out, err = call(args, capsys)
    assert code == 0, err
    assert "prediction error after calibration" in out
    measured = load_cluster_file(out_file)
    assert measured.node_ids == ("cam1", "cam2", "edge")
    assert [n.role for n in measured] == ["camera", "camera", "edge"]
    calibrated = load_scenario(yaml_file)
    assert calibrated.cluster.node("edge").speed == measured.node("edge").speed
    assert calibrated.cluster.links == measured.links

    args = ["run", str(scenario), "--cluster", cluster, "--tls", str(certs)]
    args += ["--cluster-file", str(out_file)]
    args += ["-a", "dhs", "--scale", "0.05", "--json", "--no-plots", "--out", str(tmp_path)]
    code, out, err = call(args, capsys)
    assert code == 0, err
    result = json.loads(out)
    assert [c["algorithm"] for c in result["cases"]] == ["dhs"]
    assert "_calibration" not in result["cluster"]  # planned on the file, not measured now


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["run", "no-such-scenario"], "no such file", id="unknown-scenario"),
        pytest.param(["run", "SCENARIO", "-a", "local,nope"], "unknown scheduler", id="algo"),
        pytest.param(["run", "SCENARIO", "--scale", "0"], "--scale", id="scale"),
        pytest.param(["calibrate-cluster"], "SCENARIO or a --cluster", id="nothing"),
        pytest.param(
            ["calibrate-cluster", "--cluster", "tcp://127.0.0.1:1", "--check"],
            "need a SCENARIO",
            id="check-without-scenario",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, scenario: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [str(scenario) if a == "SCENARIO" else a for a in args]
    code, _, err = call(args, capsys)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
