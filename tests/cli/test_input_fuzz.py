"""A fixed budget of the seeded input fuzzer (``make fuzz`` runs thousands): every mutated
problem file, scenario, netem topology, cluster file, WfCommons trace and command line
either works or is refused in one line with exit code 2, within 20 s and 1 GiB each. The
fuzzer forks a child per case, so it runs in a process of its own, not in pytest's (whose
other tests leave threads behind)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz_inputs.py"


def test_mutated_inputs_work_or_are_refused_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--cases", "120", "--seed", "12345", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    outcomes = json.loads((tmp_path / "fuzz.json").read_text())
    assert len(outcomes) == 120
    formats = {"problem", "scenario", "topology", "cluster", "wfcommons", "cli"}
    assert {o["format"] for o in outcomes} == formats
    assert {o["kind"] for o in outcomes} == {"ok", "rejected"}
    for o in outcomes:
        if o["kind"] == "rejected":
            assert o["message"].startswith("edgeoffload: error: ")
    assert "goal: 0 tracebacks" in done.stdout and ": met (0 failures)" in done.stdout
