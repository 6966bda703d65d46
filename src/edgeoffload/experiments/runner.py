"""Run a measurement plan in a throttled client subprocess and collect its events.

The parent side of :mod:`edgeoffload.experiments._phone`. It starts the cluster — an
embedded :class:`~edgeoffload.runtime.LocalCluster` of the plan's workers, throttled as
the plan says — *in this process*, the way a phone finds its nearby devices and servers
already running; copies the example apps into a temporary folder; starts
``python -m edgeoffload.experiments._phone`` in a new session (so that the client and
anything it starts can be stopped together), which joins the cluster by address; feeds
it the plan, relays its events, and tears everything down — the client, the cluster and
any throttling group left behind — whatever happens.

Why the cluster is not the phone's own embedded cluster: an embedded cluster runs the
Dask scheduler and the workers' nannies inside the client process, which costs about
0.05 of a core even when idle (measured here) — half of a phone held to 0.1 of a core.
A client that joins by address spends about 0.002 of a core while idle.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeoffload.errors import EdgeOffloadError
from edgeoffload.experiments.apps import app_dir

__all__ = ["Event", "PhoneOutput", "run_phone"]

Event = Mapping[str, Any]

ONE_BLAS_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""The environment that holds numpy's BLAS to one thread (in the client and the workers)."""


@dataclass
class PhoneOutput:
    """What the client reported.

    Attributes
    ----------
    records
        One dict per measured item (see ``_phone.run_item``).
    calibration
        One dict per calibration row (role, quota, wall, cpu, method).
    environment
        Facts about the run.
    phone_power
        The client preset's power figures, watts, if known.
    session
        The session's totals (calls per node, retries, fallbacks, code bytes).
    seconds
        Wall time of the whole run, client start to teardown.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    calibration: list[dict[str, Any]] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    phone_power: dict[str, float] | None = None
    session: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def run_phone(
    plan: Mapping[str, Any],
    *,
    on_event: Callable[[Event], None] | None = None,
    timeout: float = 3600.0,
    apps_source: str | Path | None = None,
) -> PhoneOutput:
    """Run ``plan`` (see :mod:`edgeoffload.experiments._phone`) and return its results.

    Raises
    ------
    EdgeOffloadError
        The client failed (the message carries its error and the end of its stderr) or
        did not finish within ``timeout`` seconds.
    """
    from edgeoffload.runtime.host.throttle import cleanup_stale_groups

    t0 = time.perf_counter()
    out = PhoneOutput()
    failure: str | None = None
    if on_event is not None:
        on_event({"event": "status", "text": f"starting {len(plan['workers'])} workers"})
    with (
        _cluster(plan["workers"]) as (address, security),
        app_dir(apps_source) as apps,
        tempfile.TemporaryFile("w+") as errors,
    ):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(apps), *filter(None, [env.get("PYTHONPATH")])])
        # one BLAS thread in the client, as in the workers (see _cluster)
        env.update(ONE_BLAS_THREAD)
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgeoffload.experiments._phone"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env=env,
            cwd=apps,
            start_new_session=True,
        )
        expired = threading.Event()

        def on_timeout() -> None:
            expired.set()
            _stop_session(proc)

        timer = threading.Timer(timeout, on_timeout)
        timer.daemon = True
        timer.start()
        try:
            assert proc.stdin is not None
            assert proc.stdout is not None
            joined = {**plan, "address": address, "security": security}
            proc.stdin.write(json.dumps(joined) + "\n")
            proc.stdin.close()
            for line in proc.stdout:
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue  # stray output of a library
                if not isinstance(event, dict):
                    continue
                kind = event.get("event")
                if kind == "record":
                    out.records.append(event["record"])
                elif kind == "calibration":
                    out.calibration.append(event["row"])
                elif kind == "environment":
                    out.environment.update(event["facts"])
                    out.phone_power = event.get("phone_power")
                elif kind == "session":
                    out.session = {k: v for k, v in event.items() if k != "event"}
                elif kind == "error":
                    failure = str(event.get("message"))
                if on_event is not None:
                    on_event(event)
            proc.wait()
        finally:
            timer.cancel()
            _stop_session(proc)  # the client if still running, and whatever it left behind
            cleanup_stale_groups()
        if expired.is_set():
            raise EdgeOffloadError(f"the experiment passed its {timeout:g} s timeout")
        if failure is not None or proc.returncode != 0:
            errors.seek(0)
            reason = failure or f"the client process exited with code {proc.returncode}"
            raise EdgeOffloadError(f"experiment failed: {reason}{_tail(errors.read())}")
    out.seconds = time.perf_counter() - t0
    return out


@contextmanager
def _cluster(workers: Sequence[Mapping[str, Any]]) -> Iterator[tuple[str, str | None]]:
    """An embedded cluster of ``workers`` (name, role, preset, quota); yields its address
    and the client certificate to join it with (JSON, for the phone's standard input).

    Raises
    ------
    EdgeOffloadError
        A worker's CPU quota could not be applied (the experiment would be meaningless).
    """
    from edgeoffload.runtime import LocalCluster, WorkerSpec

    specs = [
        WorkerSpec(
            str(w["name"]),
            role=w.get("role", "device"),
            preset=w.get("preset"),
            cpu_quota=w.get("quota"),
        )
        for w in workers
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        # one BLAS thread per worker, as in the client: every role runs the same
        # single-threaded code, and the quotas are the speed ratios
        cluster = LocalCluster(specs, timeout=120.0, env=ONE_BLAS_THREAD)
    try:
        problems = [str(w.message) for w in caught if "throttle" in str(w.message)]
        if problems:
            raise EdgeOffloadError(f"cannot set up the workers: {problems[0]}")
        material = cluster.client_material
        yield cluster.address, material.to_json() if material is not None else None
    finally:
        cluster.close()


def _stop_session(proc: subprocess.Popen[str]) -> None:
    """Stop the client and every process left in the session it leads (its cluster)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                try:
                    os.killpg(proc.pid, 0)
                except (ProcessLookupError, PermissionError):
                    return
            time.sleep(0.05)


def _tail(text: str, n: int = 6) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return " — its stderr ends: " + " | ".join(lines[-n:]) if lines else ""
