"""``edgeoffload schedule`` and ``edgeoffload schedulers`` through main()."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cases import PAPER_EXAMPLE, multi_request_problem
from edgeoffload.cli import main
from edgeoffload.model import problem_to_dict


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("algorithm", "makespan"), [("heft", 80.0), ("cpop", 86.0)])
def test_paper_example_published_makespans(
    algorithm: str, makespan: float, capsys: pytest.CaptureFixture[str]
) -> None:
    """The copy of the reference file gives the paper's makespans: HEFT 80, CPOP 86."""
    code, out, _ = run(["schedule", str(PAPER_EXAMPLE), "--algorithm", algorithm, "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["algorithm"] == algorithm
    assert report["makespan"] == makespan
    assert len(report["assignments"]) == 10


def test_output_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Keys, order of assignments, requests with latency, and DHS's condition and choice."""
    path = tmp_path / "p.json"
    path.write_text(json.dumps(problem_to_dict(multi_request_problem())))
    code, out, _ = run(["schedule", str(path), "--json"], capsys)
    assert code == 0
    report: dict[str, Any] = json.loads(out)
    assert list(report)[:3] == ["algorithm", "makespan", "assignments"]
    assert report["algorithm"] == "dhs"
    keys = [(a["start"], a["task"]) for a in report["assignments"]]
    assert keys == sorted(keys)
    assert [r["id"] for r in report["requests"]] == ["r1", "r2", "r3"]
    for r in report["requests"]:
        assert r["latency"] == pytest.approx(r["finish"] - r["arrival"])
    assert report["makespan"] == max(r["finish"] for r in report["requests"])
    assert report["dhs"]["condition"] in ("U-H", "U-L", "B-H", "B-L")
    assert report["dhs"]["chosen"] in ("heft", "cpop", "peft")


def test_no_requests_key_without_requests(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["schedule", "topcuoglu2002", "-a", "heft", "--json"], capsys)
    assert code == 0 and "requests" not in json.loads(out)


def test_table_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["schedule", "camera_cluster", "-a", "dhs"], capsys)
    assert code == 0
    assert "dhs: makespan" in out
    assert "DHS: condition U-H -> peft" in out
    assert "r4/fc" in out and "latency" in out


def test_default_without_requests_is_the_portfolio(capsys: pytest.CaptureFixture[str]) -> None:
    """No requests: the portfolio runs, the table says so and why, and the JSON names it
    and the member that won."""
    code, out, _ = run(["schedule", "topcuoglu2002"], capsys)
    assert code == 0
    assert "Scheduler: portfolio (the default for a problem without requests" in out
    assert "portfolio: makespan 79 s, 92.7 % above the lower bound 41 s" in out
    assert "chose heft (heft 80, cpop 86, peft 85, single 127, heft:average=harmonic 80," in out
    assert "moved task by task: 80 -> 79" in out
    code, out, _ = run(["schedule", "topcuoglu2002", "--json"], capsys)
    report = json.loads(out)
    assert report["algorithm"] == "portfolio"
    assert report["chosen"] == report["portfolio"]["chosen"] == "heft"
    assert report["makespan"] == 79.0 and report["lower_bound"] == 41.0
    assert report["portfolio"]["polished_from"] == 80.0  # HEFT, shortened


def test_default_with_requests_is_dhs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["schedule", "camera_cluster", "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["algorithm"] == "dhs"
    assert report["chosen"] == report["dhs"]["chosen"]
    assert 0 < report["lower_bound"] <= report["makespan"]
    code, out, _ = run(["schedule", "camera_cluster"], capsys)
    assert "Scheduler: dhs (the default for a problem that lists requests" in out
    code, out, _ = run(["schedule", "camera_cluster", "-a", "dhs"], capsys)
    assert "Scheduler:" not in out and "above the lower bound" in out


def test_a_named_scheduler_has_no_chosen_key(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["schedule", "topcuoglu2002", "-a", "heft", "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and "chosen" not in report and report["lower_bound"] <= report["makespan"]


def test_optimal_on_the_paper_example(capsys: pytest.CaptureFixture[str]) -> None:
    """The minimum of the paper's example is 73 (HEFT's 80 is 9.6 % above it), proven."""
    pytest.importorskip("ortools")
    code, out, _ = run(["schedule", "topcuoglu2002", "-a", "optimal", "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["algorithm"] == "optimal" and "chosen" not in report
    assert report["makespan"] == pytest.approx(73.0, rel=1e-9)
    assert report["optimal"]["proven"] is True
    assert report["lower_bound"] == report["optimal"]["bound"]
    assert 73.0 * (1 - 1e-6) <= report["optimal"]["bound"] <= report["makespan"]
    code, out, _ = run(["schedule", "topcuoglu2002", "-a", "optimal", "-p", "time_limit=5"], capsys)
    assert "optimal: makespan 73 s, at the lower bound 73 s" in out
    assert "Optimal: proven optimal" in out


def test_optimal_refuses_a_large_problem_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("ortools")
    from edgeoffload.model import Cluster, Node, Problem, Task, TaskGraph

    problem = Problem(TaskGraph([Task(f"t{i}", 1.0) for i in range(61)]), Cluster([Node("n", 1.0)]))
    path = tmp_path / "p.json"
    path.write_text(json.dumps(problem_to_dict(problem)))
    code, out, err = run(["schedule", str(path), "-a", "optimal"], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "max_tasks=60" in err and "-p max_tasks=61" in err


def test_gantt_title_shows_the_gap() -> None:
    pytest.importorskip("matplotlib")
    from edgeoffload.plots import plot_gantt
    from edgeoffload.schedulers import get_scheduler
    from edgeoffload.workloads import builtin_problem

    problem = builtin_problem("topcuoglu2002")
    ax = plot_gantt(problem, get_scheduler("heft").schedule(problem))
    assert ax.get_title().startswith("heft: makespan 80 s, 95.1 % above the lower bound 41 s")


def test_scheduler_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["schedule", "camera_cluster", "-p", "delta2=10", "--json"], capsys)
    assert code == 0
    assert json.loads(out)["dhs"]["condition"] == "U-L"
    code, out, _ = run(
        ["schedule", "topcuoglu2002", "-a", "portfolio", "-p", "members=cpop,peft", "--json"],
        capsys,
    )
    assert json.loads(out)["portfolio"]["chosen"] == "peft"


def test_gantt_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "sub" / "g.png"
    code, _, _ = run(["schedule", "camera_cluster", "--gantt", str(target)], capsys)
    assert code == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_schedulers_lists_every_builtin(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["schedulers"], capsys)
    assert code == 0
    for name in ("heft", "cpop", "peft", "dhs", "portfolio", "local", "edge", "optimal"):
        assert f"\n{name} " in "\n" + out


def test_same_input_same_output_byte_for_byte_across_processes() -> None:
    """Two separate processes print identical bytes."""
    cmd = [sys.executable, "-m", "edgeoffload", "schedule", "camera_cluster", "--json"]
    first = subprocess.run(cmd, check=True, capture_output=True).stdout
    second = subprocess.run(cmd, check=True, capture_output=True).stdout
    assert first == second and first.startswith(b'{"algorithm": "dhs"')


BAD_FILES = [
    pytest.param(
        '{"tasks": [], "dependencies": [], "nodes": [{"id": "a", "speed": 1}]}',
        "at least one task",
        id="no-tasks",
    ),
    pytest.param(
        '{"tasks": [{"id": "t", "work": 1}], "dependencies": [], "nodes": []}',
        "nodes: a cluster needs at least one node",
        id="no-nodes",
    ),
    pytest.param(
        '{"tasks": [{"id": "t", "work": -1}], "dependencies": [], '
        '"nodes": [{"id": "a", "speed": 1}]}',
        "tasks[0].work: must be >= 0",
        id="negative",
    ),
    pytest.param(
        '{"tasks": [{"id": "t", "work": NaN}], "dependencies": [], '
        '"nodes": [{"id": "a", "speed": 1}]}',
        "tasks[0].work: must be finite",
        id="nan",
    ),
    pytest.param(
        '{"tasks": [{"id": "t", "work": 1}], "dependencies": [], '
        '"nodes": [{"id": "a", "speed": 0}]}',
        "nodes[0].speed: must be > 0",
        id="zero-speed",
    ),
    pytest.param(
        '{"tasks": [{"id": "t", "work": 1, "pinned": "b"}], "dependencies": [], '
        '"nodes": [{"id": "a", "speed": 1}]}',
        "pinned to unknown node 'b'",
        id="pin",
    ),
    pytest.param(
        '{"tasks": [{"id": "t"}], "dependencies": [], "nodes": [{"id": "a", "speed": 1}]}',
        "no work and no execution time",
        id="no-work",
    ),
    pytest.param(
        '{"tasks": [{"id": "t", "work": 1}, {"id": "u", "work": 1}], "dependencies": '
        '[{"from": "t", "to": "u"}, {"from": "u", "to": "t"}], '
        '"nodes": [{"id": "a", "speed": 1}]}',
        "cycle",
        id="cycle",
    ),
    pytest.param(
        '{"tasks": [{"id": "t", "work": 1}], "dependencies": [], '
        '"nodes": [{"id": "a", "speed": 1}], "extra": 1}',
        "unknown key 'extra'",
        id="key",
    ),
    pytest.param('{"tasks": [', "line 1, column", id="malformed"),
    pytest.param("[]", "problem: must be an object", id="not-an-object"),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES)
def test_bad_input_is_one_line_and_exit_2(
    text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    code, out, err = run(["schedule", str(path)], capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("edgeoffload: error: ")
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["schedule", "missing.json"], "missing.json: no such file", id="missing-file"),
        pytest.param(
            ["schedule", "topcuoglu2002", "-a", "nope"],
            "unknown scheduler 'nope'",
            id="unknown-algorithm",
        ),
        pytest.param(
            ["schedule", "topcuoglu2002", "-a", "edge"],
            "needs a node with role 'edge'",
            id="edge-without-edge-node",
        ),
        pytest.param(
            ["schedule", "topcuoglu2002", "-p", "delta1"], "expected KEY=VALUE", id="param-syntax"
        ),
        pytest.param(
            ["schedule", "topcuoglu2002", "-a", "dhs", "-p", "delta1=-2"],
            "delta1: must be >= 0",
            id="param-value",
        ),
        pytest.param(
            ["schedule", "topcuoglu2002", "-a", "heft", "-p", "x=1"],
            "does not take these parameters",
            id="param-unknown",
        ),
    ],
)
def test_bad_arguments_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(args, capsys)
    assert code == 2
    assert message in err and err.count("\n") == 1


def test_the_reference_file_is_the_shared_one() -> None:
    """The test copy and the shipped built-in are the same problem."""
    from edgeoffload.workloads import builtin_problem

    shipped = problem_to_dict(builtin_problem("topcuoglu2002"))
    from edgeoffload.model import load_problem

    assert problem_to_dict(load_problem(PAPER_EXAMPLE)) == shipped


def test_gantt_path_written_is_the_path_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--gantt x`` writes x.png and says so."""
    pytest.importorskip("matplotlib")
    target = tmp_path / "chart"
    code, out, _ = run(
        ["schedule", str(PAPER_EXAMPLE), "-a", "heft", "--gantt", str(target)], capsys
    )
    assert code == 0
    assert (tmp_path / "chart.png").is_file() and not target.exists()
    assert f"Gantt chart written to {tmp_path / 'chart.png'}" in out


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (lambda tmp: "/dev/full", "--gantt: /dev/full is not a regular file to write"),
        (lambda tmp: str(tmp), "is not a regular file to write"),
        (lambda tmp: str(tmp / "a-file" / "x.png"), "--gantt: cannot make"),
        (lambda tmp: str(tmp / "chart.txt"), "--gantt: cannot write a .txt file; use one of"),
        (lambda tmp: "/proc/chart.png", "--gantt: cannot write /proc/chart.png"),  # root too
    ],
)
def test_gantt_path_is_checked_before_the_work(
    where: Any, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    (tmp_path / "a-file").write_text("")
    code, out, err = run(
        ["schedule", str(PAPER_EXAMPLE), "-a", "heft", "--gantt", where(tmp_path)], capsys
    )
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err, err
