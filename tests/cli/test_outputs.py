"""Where commands write: checked before any work starts, refused in one line naming the
flag (exit 2), never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgeoffload.cli import main


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str, *words: str) -> None:
    assert err.count("\n") == 1 and err.startswith("edgeoffload: error: "), err
    for word in words:
        assert word in err, (word, err)


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["simulate", "-n", "1", "-c", "B-L", "--no-plots"],
        ["sweep", "--cameras", "2", "--mix", "B-L", "-n", "1", "--no-plots"],
        ["calibrate", "--problems", "1", "-n", "1", "--no-plots"],
    ],
    ids=["simulate", "sweep", "calibrate"],
)
@pytest.mark.parametrize("where", ["file", "long", "under-a-file"])
def test_out_folders_are_checked_before_the_work(
    command: list[str], where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("kept\n")
    out = {
        "file": a_file,
        "long": tmp_path / ("x" * 300),
        "under-a-file": a_file / "sub",
    }[where]
    code, stdout, err = run([*command, "--out", str(out)], capsys)
    assert code == 2
    one_line_error(err, "--out")
    assert stdout == ""  # nothing ran: no table, no estimate on stdout
    assert "simulated runs" not in err and "sweeping" not in err and "calibrating" not in err
    assert a_file.read_text() == "kept\n"


def test_export_output_is_checked(
    fifo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["export", "dhs-paper", "-c", "U-H", "-o", str(fifo)], capsys)
    assert code == 2
    one_line_error(err, "--output", "not a regular file")
    code, _, err = run(["export", "dhs-paper", "-c", "U-H", "-o", str(tmp_path)], capsys)
    assert code == 2
    one_line_error(err, "--output")


def test_certs_refuses_a_fifo_and_a_bad_host(
    fifo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("cryptography")
    code, _, err = run(["certs", str(fifo)], capsys)
    assert code == 2
    one_line_error(err, "DIR", "exists and is not a folder")
    code, _, err = run(["certs", str(tmp_path / "c"), "--host", "a/b"], capsys)
    assert code == 2
    one_line_error(err, "--host", "not a host name")
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["sweep", "--cameras", "1000000"], ["--cameras", "between 1 and 100"]),
        (["sweep", "--bandwidth-scale", "nan"], ["--bandwidth-scale", "finite"]),
        (["sweep", "--bandwidth-scale", "-1"], ["--bandwidth-scale:", "positive"]),
        (["sweep", "--mix", "1e400"], ["--mix:", "U-H"]),
        (["sweep", "--mix", ""], ["--mix:", "at least one"]),
        (["sweep", "--delta1", ""], ["--delta1", "finite numbers"]),
        (["calibrate", "--delta1", "-1"], ["--delta1:", ">= 0"]),
        (["calibrate", "--delta2", "0", "--problems", "0"], ["--problems", "between 1"]),
        (["sweep", "-a="], ["--algorithms:", "at least one"]),
        (["sweep", "-a", "heft,nosuch"], ["--algorithms[1]:", "unknown scheduler"]),
        (["simulate", "-a="], ["--algorithms:", "at least one"]),
        (["simulate", "-a", "heft,heft"], ["--algorithms[1]:", "given twice"]),
        (["simulate", "-c", "U-H", "-c", "U-H"], ["--condition:", "given twice"]),
        (["simulate", "camera-streams", "-n", "3"], ["--repetitions:", "runs each algorithm once"]),
        (["simulate", "camera-streams", "-c", "U-H"], ["--condition:", "only streams"]),
        (["simulate", "--out", ""], ["--out:", "give a folder"]),
    ],
    ids=[
        "cameras",
        "nan",
        "negative",
        "mix",
        "no-mix",
        "no-delta",
        "delta1",
        "problems",
        "no-algorithm",
        "unknown-algorithm",
        "simulate-none",
        "twice",
        "condition-twice",
        "streams-repetitions",
        "streams-condition",
        "empty-out",
    ],
)
def test_sweep_and_calibrate_values(
    args: list[str], words: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = [] if "--out" in args else ["--out", str(tmp_path / "out")]
    code, _, err = run([*args, "--no-plots", *out], capsys)
    assert code == 2
    one_line_error(err, *words)
    assert not (tmp_path / "out").exists()  # refused before the output folder was made


@pytest.mark.parametrize(("columns", "cut"), [(None, False), ("60", True)])
def test_tables_keep_their_columns_when_piped(
    columns: str | None, cut: bool, tmp_path: Path
) -> None:
    """Piped output is 160 columns wide (COLUMNS overrides it): no header cut to 'plann…'."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = columns
    args = ["simulate", "camera-streams", "-a", "local", "--no-plots", "--out", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, "-m", "edgeoffload", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    header = done.stdout.splitlines()[2]  # the title, a blank line, the header
    assert ("planner" not in header) is cut, header


@pytest.mark.parametrize("scenario", ["dhs-paper", "camera-streams"])
def test_times_that_overflow_are_refused_before_the_estimate(
    scenario: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A link of 1e-320 bytes/s is positive and finite, but no transfer over it is: one line
    (found by make fuzz: the estimate line came first)."""
    import yaml

    folder = Path(__file__).resolve().parents[2] / "src/edgeoffload/workloads/data/scenarios"
    document = yaml.safe_load((folder / f"{scenario}.yaml").read_text())
    document["network"]["default_link"] = {"bandwidth": 1e-320, "latency": 0.001}
    document["network"].pop("links", None)
    path = tmp_path / f"{scenario}.yaml"
    path.write_text(yaml.safe_dump(document))
    code, out, err = run(
        ["simulate", str(path), "--no-plots", "--out", str(tmp_path / "o")], capsys
    )
    assert code == 2 and out == ""
    one_line_error(err, "transfer time overflows")
