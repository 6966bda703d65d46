"""Ctrl-C on long simulations: a real SIGINT to a real ``edgeoffload`` process stops it
within seconds, with exit status 130, what was done written, and no traceback."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from commands import read_log
from waiting import wait_until

pytest.importorskip("simpy")


def start(args: list[str], log: Path) -> subprocess.Popen[str]:
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "edgeoffload", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
        )


def interrupt(proc: subprocess.Popen[str], log: Path, line: str, after: float) -> float:
    """Send SIGINT ``after`` seconds past the moment ``line`` appears in ``log``; the
    seconds the process then took to exit."""
    wait_until(lambda: line in read_log(log), 60, f"{line!r} in the output")
    time.sleep(after)
    assert proc.poll() is None, read_log(log)
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    proc.wait(timeout=60)
    return time.monotonic() - sent


def test_ctrl_c_stops_simulate_with_the_repetitions_done(tmp_path: Path) -> None:
    log = tmp_path / "log"
    out = tmp_path / "out"
    proc = start(["simulate", "-n", "1000", "--no-plots", "--out", str(out)], log)
    seconds = interrupt(proc, log, "simulated runs", after=3.0)
    text = read_log(log)
    assert proc.returncode == 130, text
    assert seconds < 10, text
    assert "Traceback" not in text
    assert "about" in text and "task executions" in text  # the estimate came first
    assert f"Interrupted: what was done is written to {out}/" in text
    rows = list(csv.DictReader((out / "dhs-paper.csv").open()))
    assert rows, text
    runs = {int(r["repetitions"]) for r in rows}
    assert all(1 <= n < 1000 for n in runs)
    assert "Interrupted (Ctrl-C)" in (out / "report.md").read_text()


def test_ctrl_c_stops_a_parallel_sweep_with_the_points_done(tmp_path: Path) -> None:
    log = tmp_path / "log"
    out = tmp_path / "out"
    # 216 points of 50 repetitions: minutes of work, stopped after a few seconds
    args = ["sweep", "--cameras", "2,3,4,5,6,7,8,9,10", "--bandwidth-scale", "1,2,4,8,16,32"]
    args += ["-n", "50", "--workers", "2", "--no-plots", "--out", str(out)]
    proc = start(args, log)
    seconds = interrupt(proc, log, "sweeping 216 points", after=4.0)
    text = read_log(log)
    assert proc.returncode == 130, text
    assert seconds < 10, text  # the points under way are abandoned at once
    assert "Traceback" not in text and "KeyboardInterrupt" not in text
    match = [line for line in text.splitlines() if line.startswith("Interrupted after")]
    assert match, text
    done = int(match[0].split()[2])
    assert 0 < done < 216
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert len({r["point"] for r in rows}) == done


def test_ctrl_c_before_calibrate_has_a_problem_done_exits_130(tmp_path: Path) -> None:
    """Nothing to score: one line, exit 130, nothing written but the folder."""
    log = tmp_path / "log"
    out = tmp_path / "out"
    args = ["calibrate", "--problems", "500", "-n", "200", "--workers", "2", "--no-plots"]
    proc = start([*args, "--out", str(out)], log)
    interrupt(proc, log, "calibrating on 500 problems", after=0.2)
    text = read_log(log)
    assert proc.returncode == 130, text
    assert "Traceback" not in text
    assert text.strip().splitlines()[-1] == "edgeoffload: interrupted"
    assert list(out.iterdir()) == []
