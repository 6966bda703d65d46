"""`edgeoffload` commands (``python -m edgeoffload ...``) started as a user would, each
writing its standard output and error to a log file of its own."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from waiting import wait_until

LISTENING = re.compile(r"listening at (\S+)\n")
"""The line a command prints once it serves (whole lines only: the address is complete)."""


@dataclass(frozen=True)
class Command:
    """A started command: its process, the address it listens at, and its log file."""

    proc: subprocess.Popen[str]
    address: str
    log: Path


def read_log(log: Path) -> str:
    """What a command wrote so far ("" before it wrote anything)."""
    return log.read_text(errors="replace") if log.exists() else ""


def start(args: Sequence[str], log: Path, pythonpath: Path, timeout: float = 60.0) -> Command:
    """Start ``python -m edgeoffload ARGS`` with ``pythonpath`` first on its PYTHONPATH and
    its output in ``log``; wait for its 'listening at ADDRESS' line.

    Raises AssertionError (with the end of the log) if the command exits first or does not
    print that line within ``timeout`` seconds; it is killed then.
    """
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(pythonpath), os.environ.get("PYTHONPATH", "")]),
    }
    with log.open("w") as out:  # the child has its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgeoffload", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )

    address: list[str] = []

    def listening() -> bool:
        exited = proc.poll() is not None  # before reading: all it wrote is in the log then
        match = LISTENING.search(read_log(log))
        if match:
            address.append(match.group(1))
            return True
        if exited:
            raise AssertionError(f"{args[0]} exited with code {proc.returncode}")
        return False

    what = f"{args[0]} ({log.name})"
    try:
        wait_until(listening, timeout, f"{what} starting")
    except AssertionError as exc:
        proc.kill()
        proc.wait()
        raise AssertionError(f"{what} did not start ({exc}): {read_log(log)[-2000:]}") from None
    return Command(proc, address[0], log)


def stop(*procs: subprocess.Popen[str]) -> None:
    """SIGTERM to each running process (in the order given), then wait for each: 20 s, and
    10 s more after a SIGKILL."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
