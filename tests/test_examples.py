"""Every example runs; where a ``.out`` file sits beside it, its stdout must match exactly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(EXAMPLES.glob("[0-9]*.py"))


def test_examples_exist() -> None:
    assert SCRIPTS, f"no examples found in {EXAMPLES}"


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_example(script: Path, tmp_path: Path) -> None:
    env = {**os.environ, "MPLBACKEND": "Agg", "EDGEOFFLOAD_EXAMPLE_OUT": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    expected = script.with_suffix(".out")
    if expected.exists():
        assert done.stdout == expected.read_text()
