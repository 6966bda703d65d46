"""Problem files simulated like scenarios: ``edgeoffload simulate PROBLEM.json``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from edgeoffload.cli import main
from edgeoffload.experiments.problem_sim import (
    problem_algorithms,
    read_problem_file,
    run_problem,
    save_problem_experiment,
)
from edgeoffload.model import load_problem, problem_to_dict

pytest.importorskip("simpy")

PAPER = Path(__file__).resolve().parents[1] / "data" / "topcuoglu2002.json"


def test_a_problem_file_is_told_from_a_scenario(tmp_path: Path) -> None:
    assert problem_to_dict(read_problem_file(PAPER)) == problem_to_dict(load_problem(PAPER))
    assert read_problem_file("dhs-paper") is None
    scenario = tmp_path / "s.json"
    scenario.write_text(json.dumps({"format": 1, "devices": []}))
    assert read_problem_file(scenario) is None


def test_without_variation_simulated_equals_predicted() -> None:
    problem = load_problem(PAPER)
    result = run_problem(problem, "paper", repetitions=2)
    # no requests: no DHS; no edge server: no Edge
    assert result.algorithms == ("local", "heft", "cpop", "peft", "portfolio")
    makespans = {c.algorithm: c.makespan for c in result.cases}
    assert makespans == {c.algorithm: c.predicted_makespan for c in result.cases}
    assert makespans["heft"] == 80 and makespans["cpop"] == 86  # the paper's figures
    assert all(c.runs == 2 and c.latency_std == 0 for c in result.cases)


def test_variation_is_seeded_and_shared_by_the_algorithms() -> None:
    problem = load_problem(PAPER)
    one = run_problem(problem, "p", algorithms=["heft", "portfolio"], repetitions=3, exec_cv=0.3)
    two = run_problem(problem, "p", algorithms=["heft", "portfolio"], repetitions=3, exec_cv=0.3)
    assert one.cases == two.cases
    heft, portfolio = one.cases  # the portfolio picks HEFT here, then shortens it to 79
    assert portfolio.chosen == "heft" and portfolio.predicted_makespan == 79.0
    assert heft.latency != 80 and portfolio.latency != 79  # the times did vary


def test_an_algorithm_that_does_not_apply_is_named() -> None:
    from edgeoffload.errors import ModelError

    with pytest.raises(ModelError, match=r"^algorithms\[1\]: .*edge"):
        problem_algorithms(load_problem(PAPER), ["heft", "edge"])


def test_files_and_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["simulate", str(PAPER), "-n", "2", "--exec-cv", "0.1", "--out", str(out)])
    stdout = capsys.readouterr().out
    assert code == 0 and "heft" in stdout and "fastest in green" in stdout
    rows = list(csv.DictReader((out / "topcuoglu2002.csv").open()))
    assert [r["algorithm"] for r in rows] == ["local", "heft", "cpop", "peft", "portfolio"]
    assert {r["repetitions"] for r in rows} == {"2"}
    report = (out / "report.md").read_text()
    assert "| heft |" in report and "gantt_" in report
    assert any(p.name.startswith("gantt_") for p in out.iterdir())
    result = run_problem(load_problem(PAPER), "again", algorithms=["heft"])
    written = save_problem_experiment(result, tmp_path / "again", plots=False)
    assert [p.name for p in written] == ["again.csv", "report.md"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["simulate", "dhs-paper", "--exec-cv", "0.1"], ["--exec-cv", "problem files"]),
        (["simulate", str(PAPER), "-c", "U-H"], ["--condition", "no conditions"]),
        (["simulate", str(PAPER), "-a", "heft,edge"], ["--algorithms[1]"]),
        (["simulate", str(PAPER), "--exec-cv", "nan"], ["--exec-cv"]),
    ],
    ids=["cv-on-scenario", "condition", "edge", "nan"],
)
def test_bad_input_is_one_line(
    args: list[str], words: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([*args, "--no-plots", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert all(w in err for w in words), err
    assert not (tmp_path / "out").exists()
