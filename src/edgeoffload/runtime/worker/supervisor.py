"""A nanny for the cluster's processes: start one, and start it again when it dies.

``edgeoffload worker`` runs the worker process (:mod:`.service`) under a
:class:`Supervisor` unless ``--no-nanny``; the embedded cluster of ``connect()`` supervises
its scheduler and workers the same way. A process that dies (killed, crashed, out of memory)
is started again with the same options after a backoff (0.5 s doubling to 30 s, reset once
it has run for a minute); one that exits on purpose — status 0 (stopped), 2 (bad options) or
3 (gave up on its scheduler) — is not. Each restart is logged in one line. What the process
prints after its ready line (and what offloaded code prints) is passed on to this process's
standard output.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import IO

from edgeoffload.errors import OffloadError
from edgeoffload.runtime.host.procs import LOG_LEVEL_ENV, PARENT_ENV, die_with_parent
from edgeoffload.runtime.wire import dask_api

__all__ = ["FINAL_STATUSES", "Supervisor", "supervised_process"]

logger = logging.getLogger(__name__)

FINAL_STATUSES = (0, 2, 3)
"""Exit statuses meaning the process ended on purpose: not restarted."""


class Supervisor:
    """One supervised process.

    Parameters
    ----------
    command
        The program and its arguments (``[sys.executable, "-m", ...]``).
    stdin
        Bytes written to its standard input at every start (its options), then closed.
    ready
        Start of the line it prints on standard output once it serves.
    name
        What to call it in log lines.
    env
        Extra environment variables.
    output
        Where its later output goes (default: this process's standard output).
    on_start
        Called with the process id and the rest of its ready line after every (re)start.
    """

    def __init__(
        self,
        command: Sequence[str],
        stdin: bytes,
        *,
        ready: str,
        name: str,
        env: Mapping[str, str] | None = None,
        output: IO[str] | None = None,
        on_start: Callable[[int, str], None] | None = None,
        max_backoff: float = 30.0,
        cwd: str | None = None,
    ) -> None:
        self.command = list(command)
        self.cwd = cwd
        self.stdin = stdin
        self.ready = ready
        self.name = name
        self.env = {**os.environ, **dict(env or {}), PARENT_ENV: str(os.getpid())}
        self.output = output
        self.on_start = on_start
        self.max_backoff = max_backoff
        self.restarts = 0
        self.detail = ""
        self.status: int | None = None
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._ended = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        """The process id now (``None`` between a death and its restart)."""
        with self._lock:
            process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def start(self, timeout: float = 60.0) -> str:
        """Start the process and wait for its ready line; return the rest of that line.

        Every start happens in the supervisor's own thread, which lives as long as the
        supervisor: a child that must die with its parent (``PR_SET_PDEATHSIG``) is tied
        to the thread that started it, not only to the process.

        Raises
        ------
        OffloadError
            It exited or stayed silent before it was ready (its last output is in the
            message).
        """
        started: Future[str] = Future()
        self._watcher = threading.Thread(
            target=self._watch,
            args=(started, timeout),
            name=f"edgeoffload-nanny-{self.name}",
            daemon=True,
        )
        self._watcher.start()
        self.detail = started.result()
        return self.detail

    def _spawn(self, timeout: float) -> str:
        process = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            text=True,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,  # a Ctrl-C in the terminal is ours to pass on
        )
        assert process.stdin is not None
        assert process.stdout is not None
        with contextlib.suppress(BrokenPipeError):
            process.stdin.write(self.stdin.decode())
            process.stdin.close()
        found = threading.Event()
        lines: list[str] = []
        detail: list[str] = []

        def pump(stream: IO[str]) -> None:
            for line in stream:
                if not found.is_set():
                    if line.startswith(self.ready):
                        detail.append(line[len(self.ready) :].strip())
                        found.set()
                    else:
                        lines.append(line)
                    continue
                out = self.output or sys.stdout
                with contextlib.suppress(ValueError, OSError):
                    out.write(line)
                    out.flush()
            found.set()

        threading.Thread(
            target=pump, args=(process.stdout,), name=f"edgeoffload-out-{self.name}", daemon=True
        ).start()
        found.wait(timeout)
        if not detail:
            with contextlib.suppress(OSError):
                process.kill()
            process.wait()
            said = "".join(lines[-20:]).strip()
            status = process.returncode
            raise OffloadError(
                f"{self.name} did not start (exit status {status}"
                + (f"; it said: {said}" if said else "")
                + ")"
            )
        with self._lock:
            self._process = process
        if self.on_start is not None:
            self.on_start(process.pid, detail[0])
        return detail[0]

    def _watch(self, ready: Future[str], timeout: float) -> None:
        try:
            ready.set_result(self._spawn(timeout))
        except BaseException as exc:
            ready.set_exception(exc)
            self._ended.set()
            return
        backoff = 0.5
        while True:
            with self._lock:
                process = self._process
            assert process is not None
            started = time.monotonic()
            status = process.wait()
            if self._stopping.is_set() or status in FINAL_STATUSES:
                self.status = status
                self._ended.set()
                return
            if time.monotonic() - started > 60:
                backoff = 0.5
            reason = f"signal {signal.Signals(-status).name}" if status < 0 else f"status {status}"
            logger.warning(
                "edgeoffload: %s died (%s); starting it again in %.1f s", self.name, reason, backoff
            )
            while True:
                if self._stopping.wait(backoff):
                    self._ended.set()
                    return
                backoff = min(backoff * 2, self.max_backoff)
                try:
                    self.detail = self._spawn(60.0)
                except OffloadError as exc:
                    logger.warning("edgeoffload: %s; trying again in %.1f s", exc, backoff)
                    continue
                self.restarts += 1
                logger.warning("edgeoffload: %s is back (pid %s)", self.name, self.pid)
                break

    def wait(self) -> int:
        """Block until the process ended on purpose (or :meth:`stop`); its last status."""
        self._ended.wait()
        return self.status if self.status is not None else 0

    def stop(self, timeout: float = 10.0) -> None:
        """End the process (SIGTERM, then SIGKILL after ``timeout``); no restart."""
        self._stopping.set()
        with self._lock:
            process = self._process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait()
        if self._watcher is not None:
            self._watcher.join(timeout)


def supervised_process() -> None:
    """Set up a process a :class:`Supervisor` started (the scheduler or a worker): it
    never outlives its parent; it logs one line per change at ``EDGEOFFLOAD_LOG_LEVEL``
    (INFO), and Dask's own loggers, which say INFO about every connection, at WARNING."""
    die_with_parent()
    dask_api.quiet_dask_logs()
    level = os.environ.get(LOG_LEVEL_ENV, "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(message)s")
