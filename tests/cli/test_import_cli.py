"""``edgeoffload import wfcommons`` through main(): a problem file that ``schedule``
takes, and bad traces refused in one line with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeoffload.cli import main
from edgeoffload.model import load_problem

DATA = Path(__file__).resolve().parents[1] / "data" / "wfcommons"
HANDMADE = DATA / "handmade-1.4.json"  # WfFormat 1.4, written by hand
SRASEARCH = DATA / "srasearch-chameleon-10a-001.json"

CLUSTER = {
    "format": 1,
    "_about": "a cluster file as calibrate-cluster writes it",
    "nodes": [
        {"id": "pi", "speed": 2e9, "role": "camera"},
        {"id": "phone", "speed": 1e10},
        {"id": "edge", "speed": 5e10, "role": "edge"},
    ],
    "default_link": {"bandwidth": 1.25e7, "latency": 0.003},
}


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cluster_file(tmp_path: Path) -> Path:
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps(CLUSTER))
    return path


def test_import_then_schedule(
    cluster_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out" / "handmade.json"
    code, text, err = run(
        ["import", "wfcommons", str(HANDMADE), "--cluster", str(cluster_file), "-o", str(out)],
        capsys,
    )
    assert code == 0, err
    assert (
        "handmade-fan-out-fan-in (WfFormat 1.4): 9 tasks, 6 stage-in and 5 stage-out tasks"
        " on node 'storage', 24 dependencies"
    ) in text
    assert "reference speed 1e+10 FLOP/s (the cluster's median node speed" in text
    assert f"wrote {out}" in text
    problem = load_problem(out)
    assert len(problem.graph) == 9 + 6 + 5  # tasks, stage-in, stage-out
    for algorithm in ("heft", "cpop", "peft", "portfolio", "dhs", "edge"):
        code, report, err = run(["schedule", str(out), "-a", algorithm, "--json"], capsys)
        assert code == 0, err
        result = json.loads(report)
        for a in result["assignments"]:
            if problem.graph.task(a["task"]).pinned is None:
                assert a["node"] != "storage"
    code, _, err = run(["schedule", str(out), "-a", "local"], capsys)
    assert code == 2 and "storage" in err and len(err.splitlines()) == 1


def test_options(cluster_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sra"  # the suffix is added
    args = ["import", "wfcommons", str(SRASEARCH), "--cluster", str(cluster_file), "-o", str(out)]
    args += ["--reference-speed", "3e9", "--storage-bandwidth", "1e9", "--storage-latency", "0"]
    code, text, err = run(args, capsys)
    assert code == 0, err
    assert "reference speed 3e+09 FLOP/s (--reference-speed)" in text
    problem = load_problem(tmp_path / "sra.json")
    link = problem.cluster.link("storage", "pi")
    assert link is not None and (link.bandwidth, link.latency) == (1e9, 0.0)
    assert problem.graph.task("bowtie2-build_ID0000001").work == pytest.approx(6.352 * 3e9)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"schemaVersion": "2.0", "workflow": {}}', "schemaVersion: unknown schema version"),
        ("{not json", "line 1, column 2"),
        (
            '{"schemaVersion": "1.4", "workflow": {"tasks": [{"name": "a", "parents": []}]}}',
            "workflow.tasks[0]: missing runtime",
        ),
        (
            '{"schemaVersion": "1.4", "workflow": {"tasks": [{"name": "a", "runtime": 1,'
            ' "parents": ["b"]}]}}',
            "workflow.tasks[0].parents[0]: unknown task 'b'",
        ),
        (
            '{"schemaVersion": "1.4", "workflow": {"tasks": ['
            '{"name": "a", "runtime": 1, "parents": ["b"]},'
            '{"name": "b", "runtime": 1, "parents": ["a"]}]}}',
            "workflow: the dependencies form a cycle",
        ),
    ],
)
def test_bad_traces_exit_2_in_one_line(
    content: str,
    message: str,
    cluster_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    out = tmp_path / "p.json"
    code, _, err = run(
        ["import", "wfcommons", str(bad), "--cluster", str(cluster_file), "-o", str(out)], capsys
    )
    assert code == 2
    assert err.startswith(f"edgeoffload: error: {bad}: ") and message in err
    assert len(err.splitlines()) == 1
    assert not out.exists()


def test_bad_cluster_and_numbers(
    cluster_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "p.json")
    base = ["import", "wfcommons", str(HANDMADE), "-o", out]
    code, _, err = run([*base, "--cluster", str(tmp_path / "missing.json")], capsys)
    assert code == 2 and "missing.json" in err and len(err.splitlines()) == 1
    code, _, err = run([*base, "--cluster", str(cluster_file), "--reference-speed", "0"], capsys)
    assert code == 2 and "--reference-speed" in err and len(err.splitlines()) == 1
    code, _, err = run(
        [*base, "--cluster", str(cluster_file), "--storage-bandwidth", "nan"], capsys
    )
    assert code == 2 and "--storage-bandwidth" in err
    own = tmp_path / "own.json"
    own.write_text(json.dumps({**CLUSTER, "nodes": [{"id": "storage", "speed": 1e9}]}))
    code, _, err = run([*base, "--cluster", str(own)], capsys)
    assert code == 2 and "already has a node 'storage'" in err
