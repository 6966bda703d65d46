"""The session summary at full width when standard output is not a terminal: piped into a
file or a CI log, no table is squeezed, wrapped or cut at rich's default of 80 columns; on
a terminal the tables still fit the terminal.

Each test runs a real Python process that prints a summary of calls with long function
names, its standard output a pipe (or a pseudo-terminal of 80 columns).
"""

from __future__ import annotations

import os
import pty
import struct
import subprocess
import sys
import termios
from fcntl import ioctl

NAMES = [
    "eo_pipeline.preprocessing.very_long_module_name:ImageNormaliser.normalise_every_channel",
    "eo_pipeline.inference.another_quite_long_module_name:Backbone.forward_the_whole_batch",
]
REASON = "latency policy: predicted remote 12.5 ms beats local 40.1 ms on edge-server-one"

PRINT = f"""
import sys
from edgeoffload.runtime.client.stats import CallRecord, SessionStats, WorkerInfo
from edgeoffload.runtime.client import stats as module

records = tuple(
    CallRecord(name, "edge-server-one", {REASON!r}, 0.0125, 0.0131, 0.011, 4096, 512)
    for name in {NAMES!r}
)
worker = WorkerInfo(
    "edge-server-one", "tls://127.0.0.1:40000", "edge", "jetson-tx2", 0.002, 0.0004,
    1.2e8, 1, True,
)
stats = SessionStats(records=records, workers=(worker,), local_benchmark=0.004)
if sys.argv[1] == "session":  # the way Session.print_summary prints
    from edgeoffload.runtime.client.session import Session

    class Snapshot:
        def stats(self):
            return stats

    Session.print_summary(Snapshot())
else:
    module.print_summary(stats)
"""


def _environment() -> dict[str, str]:
    """This environment without a width rich would take instead of the stream's."""
    return {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}


def _piped(how: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PRINT, how],
        capture_output=True,
        text=True,
        timeout=60,
        env=_environment(),
        check=True,
    )
    return done.stdout


def _assert_whole(output: str) -> None:
    lines = output.splitlines()
    for text in [*NAMES, REASON]:
        assert [line for line in lines if text in line], f"{text!r} is cut or wrapped:\n{output}"
    rows = [line for line in lines if "edge-server-one" in line and "│" in line]
    assert len(rows) == 3, output  # a worker row and a row per function
    assert all(line.rstrip().endswith("│") for line in rows), output  # no row cropped


def test_piped_summary_is_not_squeezed() -> None:
    """Through a pipe, every function name and reason is whole on one line, wider than
    80 columns."""
    output = _piped("stats")
    _assert_whole(output)
    assert max(len(line) for line in output.splitlines()) > 80


def test_session_print_summary_piped() -> None:
    """``session.print_summary()`` through a pipe: the same whole lines."""
    _assert_whole(_piped("session"))


def test_a_terminal_still_gets_its_width() -> None:
    """On an 80-column terminal the tables fit it, as before."""
    leader, follower = pty.openpty()
    try:
        ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 80, 0, 0))
        proc = subprocess.Popen(
            [sys.executable, "-c", PRINT, "stats"],
            stdout=follower,
            stderr=subprocess.PIPE,
            env={**_environment(), "TERM": "dumb"},
        )
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: the process ended
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(60) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    output = b"".join(chunks).decode()
    lines = [line for line in output.replace("\r\n", "\n").splitlines() if line.strip()]
    assert lines, output
    assert max(len(line) for line in lines) <= 80, output
