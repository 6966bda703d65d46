"""``edgeoffload simulate``, ``export``, ``sweep``, ``calibrate`` and ``scenarios`` via main()."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from edgeoffload.cli import main
from edgeoffload.model import problem_from_dict


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_simulate_paper_experiment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The default run prints every algorithm per condition and the paper's figures beside ours."""
    code, out, _ = run(["simulate", "-n", "2", "--out", str(tmp_path), "--no-plots"], capsys)
    assert code == 0
    for word in (
        "U-H",
        "U-L",
        "B-H",
        "B-L",
        "local",
        "edge",
        "heft",
        "cpop",
        "peft",
        "dhs",
        "portfolio",
        "12.9 %",
        "30.1 %",
        "Why ours differ",
    ):
        assert word in out, word
    rows = list(csv.DictReader((tmp_path / "dhs-paper.csv").open()))
    assert len(rows) == 4 * 7
    assert {r["dhs_class"] for r in rows} == {"U-H", "U-L", "B-H", "B-L"}
    report = (tmp_path / "report.md").read_text()
    assert "## The paper beside ours" in report and "### Why ours differ" in report


def test_simulate_writes_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Fig. 1, Fig. 2 and simulated Gantt charts are written as PNG files."""
    code, _, _ = run(
        [
            "simulate",
            "-n",
            "1",
            "-c",
            "U-L",
            "-c",
            "B-L",
            "-a",
            "local,edge,dhs",
            "--out",
            str(tmp_path),
        ],
        capsys,
    )
    assert code == 0
    for name in (
        "fig1_latency.png",
        "fig2_percent_of_local.png",
        "gantt_U-L_dhs.png",
        "gantt_B-L_edge.png",
    ):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG", name
    assert "![Fig. 1" in (tmp_path / "report.md").read_text()


def test_simulate_stream_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A stream scenario reports frames, drops, percentiles and throughput per planner."""
    scenario = {
        "name": "mini-streams",
        "devices": [
            {"id": "cam1", "preset": "jetson-tx2", "role": "camera"},
            {"id": "edge", "preset": "edge-server", "role": "edge"},
        ],
        "network": {"default_link": {"preset": "wifi-ac"}},
        "algorithms": ["local", "heft"],
        "streams": [
            {
                "model": "alexnet",
                "camera": "cam1",
                "rate": 20,
                "duration": 0.5,
                "deadline": 0.1,
                "granularity": "block",
            }
        ],
        "stream_options": {"max_in_flight": 2},
    }
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario))
    code, out, _ = run(["simulate", str(path), "--out", str(tmp_path / "o")], capsys)
    assert code == 0
    assert "mini-streams" in out and "p95" in out
    rows = list(csv.DictReader((tmp_path / "o" / "mini-streams.csv").open()))
    assert [r["algorithm"] for r in rows] == ["local", "heft"]
    assert all(int(r["frames"]) == 10 for r in rows)
    assert (tmp_path / "o" / "stream_latency_cdf.png").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["simulate", "nope.yaml"], "nope.yaml: no such file", id="missing-file"),
        pytest.param(
            ["simulate", "-c", "X-Y", "--no-plots"],
            "condition: unknown condition",
            id="unknown-condition",
        ),
        pytest.param(
            ["simulate", "-a", "heft,magic", "--no-plots"],
            "algorithms[1]: unknown scheduler 'magic'",
            id="unknown-algorithm",
        ),
        pytest.param(
            ["simulate", "-n", "0", "--no-plots"],
            "argument --repetitions/-n: must be between 1 and 1000, got 0",
            id="zero-repetitions",
        ),
        pytest.param(
            ["export", "dhs-paper", "-c", "Q"],
            "condition: unknown condition 'Q'",
            id="export-bad-condition",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        [*args, *(["--out", str(tmp_path)] if args[0] == "simulate" else [])], capsys
    )
    assert code == 2
    assert err.count("\n") == 1 and message in err, err


def test_bad_scenario_file_names_the_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "bad",
                "devices": [{"id": "cam1", "preset": "rpi4b", "role": "camera"}],
                "requests": [
                    {"model": "alexnet", "camera": "cam1"},
                    {"model": "alexnet", "camera": "cam1"},
                    {"model": "alexnet", "camera": "cam9"},
                ],
                "algorithms": ["local"],
            }
        )
    )
    code, _, err = run(["simulate", str(path), "--no-plots", "--out", str(tmp_path)], capsys)
    assert code == 2
    assert err == "edgeoffload: error: requests[2].camera: unknown node 'cam9'\n"


def test_export_writes_the_problem_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The exported problem file reads back as the scenario's problem; schedule accepts it."""
    code, out, err = run(["export", "dhs-paper"], capsys)
    assert code == 0 and "exporting condition 'U-H'" in err
    problem = problem_from_dict(json.loads(out))
    assert len(problem.requests) == 6
    target = tmp_path / "b-l.json"
    code, _, _ = run(["export", "dhs-paper", "--condition", "B-L", "-o", str(target)], capsys)
    assert code == 0
    code, out, _ = run(["schedule", str(target), "--json"], capsys)
    assert code == 0 and json.loads(out)["dhs"]["condition"] == "B-L"


def test_sweep_writes_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A small sweep in two processes gives one row per point and algorithm."""
    code, out, _ = run(
        [
            "sweep",
            "--bandwidth-scale",
            "0.5,2",
            "--mix",
            "U-L,B-L",
            "-a",
            "local,dhs",
            "-n",
            "1",
            "--workers",
            "2",
            "--out",
            str(tmp_path),
        ],
        capsys,
    )
    assert code == 0
    rows = list(csv.DictReader((tmp_path / "sweep.csv").open()))
    assert len(rows) == 2 * 2 * 2
    assert {r["mix"] for r in rows} == {"U-L", "B-L"}
    assert (tmp_path / "sweep_bandwidth_U-L.png").exists()
    assert "8 rows" in out


def test_sweep_is_independent_of_workers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same sweep in one process and in two gives the same CSV."""
    args = [
        "sweep",
        "--bandwidth-scale",
        "1",
        "--cameras",
        "2,3",
        "--mix",
        "B-H",
        "-a",
        "peft",
        "-n",
        "1",
        "--no-plots",
    ]
    assert run([*args, "--workers", "1", "--out", str(tmp_path / "a")], capsys)[0] == 0
    assert run([*args, "--workers", "2", "--out", str(tmp_path / "b")], capsys)[0] == 0
    assert (tmp_path / "a" / "sweep.csv").read_text() == (tmp_path / "b" / "sweep.csv").read_text()


def test_calibrate_reports_the_paper_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Calibration scores a δ grid and says how often the paper's thresholds pick the best."""
    code, out, _ = run(
        [
            "calibrate",
            "--problems",
            "4",
            "--delta1",
            "0.05,0.1",
            "--delta2",
            "0.5,1",
            "-n",
            "1",
            "--workers",
            "1",
            "--out",
            str(tmp_path),
        ],
        capsys,
    )
    assert code == 0
    assert "Best thresholds" in out and "The paper's rule" in out
    grid = list(csv.DictReader((tmp_path / "calibration_grid.csv").open()))
    assert len(grid) == 4
    problems = list(csv.DictReader((tmp_path / "calibration_problems.csv").open()))
    assert len(problems) == 4 and {p["best"] for p in problems} <= {"heft", "cpop", "peft"}
    assert (tmp_path / "calibration.png").exists()


def test_scenarios_lists_the_builtins(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["scenarios"], capsys)
    assert code == 0 and "dhs-paper" in out and "camera-streams" in out


def test_request_deadlines_are_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A request whose deadline is shorter than it can run is a miss in every run."""
    path = tmp_path / "d.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "deadlines",
                "devices": [{"id": "cam1", "preset": "rpi4b", "role": "camera"}],
                "algorithms": ["local"],
                "repetitions": 2,
                "requests": [
                    {"model": "alexnet", "camera": "cam1", "deadline": 0.001},
                    {"model": "alexnet", "camera": "cam1", "deadline": 10.0, "arrival": 1.0},
                ],
            }
        )
    )
    code, _, _ = run(["simulate", str(path), "--no-plots", "--out", str(tmp_path)], capsys)
    assert code == 0
    (row,) = csv.DictReader((tmp_path / "deadlines.csv").open())
    assert float(row["deadline_misses_per_run"]) == 1.0


def test_the_papers_winner_need_not_be_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Comparing with the paper skips a condition whose paper winner was not run."""
    code, out, err = run(
        ["simulate", "dhs-paper", "-c", "U-L", "-a", "local,heft", "--out", str(tmp_path)],
        capsys,
    )
    assert code == 0, err
    assert "U-L" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", "-1"], "argument --seed: must be between 0 and"),
        (["--repetitions", "1000000000"], "argument --repetitions/-n: must be between 1 and 1000"),
        (["--seed", "1e9"], "argument --seed: expected a whole number, got '1e9'"),
    ],
)
def test_command_line_numbers_are_bounded(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["simulate", "dhs-paper", *args], capsys)
    assert code == 2
    assert err.count("\n") == 1 and message in err, err
