"""Offloaded calls under a schedule of kills, freezes, cuts and scheduler restarts.

A real cluster, started as a user would: ``edgeoffload certs``, ``edgeoffload scheduler``
and three ``edgeoffload worker`` (each under its default nanny), all with ``--tls``. As
root, with network namespaces (:mod:`edgeoffload.netem`), the scheduler, each worker and
the client program run on hosts of their own, so that a *cut* is a real link cut;
otherwise (or with ``--loopback``) everything runs on loopback and cuts are skipped, which
the output and the JSON say.

The client program (a subprocess, on the client host) opens ``edgeoffload.connect(address,
security=certs, policy="always-remote", liveness_timeout=L, deadline=D)`` and keeps K
callers busy, each submitting one call at a time (``f.submit``) of a known CPU work W
(``time.thread_time()`` burnt: a frozen process burns nothing). A call's result is a
deterministic function of its id (so a wrong one shows); every tenth call raises its own
exception on purpose (so a call that raised something else shows). Each caller has a
function of its own, so the n-th session record of that function is the caller's n-th
call: its ``where``, attempts and outcome. Every *execution* (on a worker or locally)
writes its start and end to an executions log in the run folder (all namespaces share the
filesystem); the benchmark watches the process of every running execution and notes when
it disappears (killed), so it counts executions per call and the overlap of two
executions of one call. The client program also prints every change of the session's
view of the workers (usable or not, process id) and of the scheduler, and of the
scheduler's own list of workers (polled every 0.25 s).

Faults (a seeded schedule, printed first; each round has one of each, shuffled), against
the worker running calls at that moment:

- ``kill``: SIGKILL the worker process (its nanny starts it again);
- ``child``: SIGKILL the executor process running a call;
- ``freeze``: SIGSTOP the worker's process group (the worker and its executor processes)
  for F s, then SIGCONT;
- ``cut``: cut the worker's host off the network for C s (longer than the scheduler's
  30 s worker TTL by default, so that the worker really has to rejoin), then restore it;
- ``scheduler``: SIGKILL the scheduler and start it again on the same port after S s.

A fault starts at its planned time, or later if the cluster is not whole again by then
(every worker usable in the session and on the scheduler's list, the session seeing the
scheduler): then it starts ``settle`` seconds after the cluster is whole, and
the report says how late.

Reported: calls (total, ok, raised on purpose, fallback), **lost** (never returned a value,
or raised something other than its own exception), **wrong** (a value other than the
expected one), **accepted twice** (more than one record for one call id, or more session
records than calls), calls *executed* more than once (allowed) and the longest overlap of
two executions of one call (time both were running, a frozen process not counted; also
the overlap of their lifetimes); per fault type, the faulted calls (in flight on the
faulted worker at the fault, or sent to it while it was faulted), their extra latency
(end - submit - W) p50/p99, and whether each resolved by max(fault, submit) + L + W +
slack; per fault, the time until the session marked the worker lost, until it was usable
in the session again (after the kill, the thaw, the restore), and until the scheduler
listed the worker again (the client program polls the scheduler's list every 0.25 s); for
a scheduler restart, until it listed every worker.

Goals (the issue's): 0 lost, 0 wrong, no result accepted twice, overlapping executions no
longer than one liveness timeout (+ slack), every faulted call resolved by the fault + the
liveness timeout + its own work (+ slack). Slack: ``--slack`` seconds (default 2, for the
shared 2-core machine: a moved call opens a connection to its next worker, and its W
seconds of CPU take longer than W in wall time when the machine is busy); the report
says how much of it the calls used.

Writes ``results/bench_chaos.json`` and the logs of every process to
``results/bench_chaos/``. ``--quick`` shortens everything (one round, L = 2 s, freeze 3 s,
cut 5 s, scheduler down 4 s; about a minute). Cleans up every process and namespace it
started, also on Ctrl-C or failure.

Run: ``make bench-chaos`` or ``.venv/bin/python benchmarks/bench_chaos.py [--quick]``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from edgeoffload.runtime.host.procs import pid_alive

ROOT = Path(__file__).resolve().parent.parent
EDGEOFFLOAD = [sys.executable, "-m", "edgeoffload"]
WORKERS = ("w1", "w2", "w3")
FAULT_KINDS = ("kill", "child", "freeze", "cut", "scheduler")
WORKER_ENV = "EO_CHAOS_WORKER"  # tells an execution which worker runs it
FAIL_EVERY = 10  # every tenth call raises its own exception, on purpose
NETNS_PORT = 8786  # the scheduler's port on its own host

# --------------------------------------------------------------------------- programs

APP_HEAD = '''
"""The chaos benchmark's offloaded functions (written by benchmarks/bench_chaos.py)."""

import hashlib
import json
import os
import time

import edgeoffload


class ChaosFailure(Exception):
    """What a call chosen to fail raises, on purpose."""


def expected(call, seed):
    return hashlib.sha256(f"{seed}:{call}".encode()).hexdigest()[:16]


def _log(path, **data):
    data["t"] = time.time()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(data) + "\\n").encode())  # one write: atomic append
    finally:
        os.close(fd)


def _work(call, seed, seconds, fail, path):
    token = os.urandom(8).hex()
    where = os.environ.get("EO_CHAOS_WORKER", "local")
    _log(path, event="start", call=call, exec=token, worker=where, pid=os.getpid(),
         ppid=os.getppid(), pgid=os.getpgid(0))
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass
    _log(path, event="end", call=call, exec=token)
    if fail:
        raise ChaosFailure(f"call {call} fails on purpose")
    return {"call": call, "value": expected(call, seed), "exec": token, "worker": where,
            "pid": os.getpid()}
'''

APP_FUNCTION = """

@edgeoffload.offload
def work_{k}(call, seed, seconds, fail, path):
    return _work(call, seed, seconds, fail, path)
"""

CLIENT = textwrap.dedent(
    '''
    """The chaos benchmark's client program (written by benchmarks/bench_chaos.py)."""

    import itertools
    import json
    import logging
    import os
    import random
    import sys
    import threading
    import time

    config = json.loads(open(sys.argv[1]).read())
    sys.path.insert(0, config["app"])

    import edgeoffload  # noqa: E402
    import chaosapp  # noqa: E402

    lock = threading.Lock()


    def say(event, **data):
        data["event"] = event
        data["t"] = time.time()
        line = json.dumps(data, default=str) + "\\n"
        with lock:
            sys.stdout.write(line)
            sys.stdout.flush()


    class Forward(logging.Handler):
        def emit(self, record):
            say("log", logger=record.name, message=record.getMessage())


    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("edgeoffload").addHandler(Forward(level=logging.WARNING))
    session = edgeoffload.connect(
        config["address"],
        security=config["certs"],
        policy="always-remote",
        liveness_timeout=config["liveness"],
        deadline=config["deadline"],
        max_retries=config["max_retries"],
        wait_for_workers=len(config["workers"]),
        timeout=120,
    )
    say("ready", workers=sorted(w.name for w in session.pool.usable()))
    stop = threading.Event()
    ids = itertools.count()
    seed, (low, high) = config["seed"], config["work"]


    def listing():
        """The scheduler's list of workers (name -> worker pid), polled: one line per change."""
        from edgeoffload.runtime.wire import dask_api
        from edgeoffload.runtime.wire.security import TLSMaterial

        material = TLSMaterial.from_folder(config["certs"], "client")
        security = dask_api.make_security(material)
        last = ()
        while True:
            try:
                entries = dask_api.scheduler_workers(config["address"], security, 2.0).values()
                now = sorted(
                    [str(e["name"]), (e.get(dask_api.ADVERT_KEY) or {}).get("pid")]
                    for e in entries
                )
            except Exception as exc:  # unreachable: said as a list of None
                now, error = None, f"{type(exc).__name__}: {exc}"
            if now != last:
                last = now
                say("listed", workers=now, error=None if now is not None else error)
            time.sleep(0.25)


    def watch():
        seen, reachable = {}, None
        while True:
            for w in session.pool.workers():
                state = (w.usable, w.pid)
                if seen.get(w.name) != state:
                    seen[w.name] = state
                    say("worker", name=w.name, usable=w.usable, pid=w.pid, note=w.note)
            if session.pool.scheduler_reachable != reachable:
                reachable = session.pool.scheduler_reachable
                say("scheduler", reachable=reachable)
            time.sleep(0.05)


    def caller(k):
        function = getattr(chaosapp, f"work_{k}")
        while not stop.is_set():
            with lock:
                call = next(ids)
            seconds = random.Random(f"{seed}:{call}").uniform(low, high)
            fail = call % config["fail_every"] == config["fail_every"] - 1
            before = sum(r.function == function.key for r in session.calls.records())
            say("submit", call=call, caller=k, work=seconds, fail=fail)
            submit = time.time()
            future = function.submit(call, seed, seconds, fail, config["executions"])
            data = {}
            try:
                data["result"] = future.result()
            except BaseException as exc:
                data["raised"] = type(exc).__name__
                data["message"] = str(exc)[:800]
            end = time.time()
            records = [r for r in session.calls.records() if r.function == function.key]
            if len(records) == before + 1:
                record = records[before]
                data.update(
                    where=record.where,
                    outcome=record.outcome,
                    attempts=[[a.worker, a.error] for a in record.attempts],
                    elapsed=record.elapsed,
                )
            else:
                data["records_added"] = len(records) - before
            say("call", call=call, caller=k, work=seconds, fail=fail, submit=submit, end=end,
                **data)


    threading.Thread(target=watch, name="chaos-watch", daemon=True).start()
    threading.Thread(target=listing, name="chaos-listing", daemon=True).start()
    callers = [
        threading.Thread(target=caller, args=(k,), name=f"chaos-caller-{k}", daemon=True)
        for k in range(config["callers"])
    ]
    for thread in callers:
        thread.start()
    for line in sys.stdin:  # the benchmark writes "stop" (or goes away: end of input)
        if line.strip() == "stop":
            break
    stop.set()
    limit = time.monotonic() + config["deadline"] + 60
    for thread in callers:
        thread.join(max(0.1, limit - time.monotonic()))
    stats = session.stats()
    say("done", records=len(stats.records), stuck=[t.name for t in callers if t.is_alive()])
    closer = threading.Thread(target=session.close, daemon=True)
    closer.start()
    closer.join(30)
    say("closed", cleanly=not closer.is_alive())
    os._exit(0)
    '''
)


def expected_value(call: int, seed: int) -> str:
    """The value call ``call`` must return (the app's ``expected``, computed here anew)."""
    return hashlib.sha256(f"{seed}:{call}".encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    """One run's parameters (seconds unless said otherwise)."""

    quick: bool
    seed: int
    liveness: float
    deadline: float
    work: tuple[float, float]
    callers: int
    rounds: int
    freeze: float
    cut: float
    scheduler_down: float
    settle: float
    slack: float
    max_retries: int


def make_settings(args: argparse.Namespace) -> Settings:
    quick = bool(args.quick)
    return Settings(
        quick=quick,
        seed=args.seed,
        liveness=args.liveness or (2.0 if quick else 5.0),
        deadline=30.0 if quick else 120.0,
        work=(0.2, 0.5) if quick else (0.3, 1.0),
        callers=args.callers,
        rounds=args.rounds or (1 if quick else 3),
        freeze=3.0 if quick else 10.0,
        cut=5.0 if quick else 40.0,
        scheduler_down=4.0 if quick else 20.0,
        settle=2.0 if quick else 5.0,
        slack=args.slack,
        max_retries=2,
    )


@dataclass
class Planned:
    """A fault of the schedule: its kind, planned start (s after the faults begin), length."""

    index: int
    kind: str
    at: float
    duration: float


def plan(settings: Settings, kinds: Sequence[str]) -> list[Planned]:
    """The seeded schedule: each round one fault of each kind, in a shuffled order, spaced
    by the fault's length, the time it should take to recover, and ``settle``."""
    rng = random.Random(settings.seed)
    durations = {
        "freeze": settings.freeze,
        "cut": settings.cut,
        "scheduler": settings.scheduler_down,
    }
    recovery = {  # expected seconds until the cluster is whole again
        "kill": settings.liveness + 8.0,  # the nanny's restart, a process start, a greeting
        "child": settings.liveness,
        "freeze": settings.liveness + 2.0,
        "cut": settings.liveness + 10.0,  # joining the scheduler again (backoff)
        "scheduler": 15.0,  # the workers' backoff
    }
    out: list[Planned] = []
    t = settings.settle
    for _ in range(settings.rounds):
        order = list(kinds)
        rng.shuffle(order)
        for kind in order:
            duration = durations.get(kind, 0.0)
            out.append(Planned(len(out), kind, t, duration))
            t += duration + recovery[kind] + settings.settle
    return out


# --------------------------------------------------------------------------- helpers


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_text(
    path: Path, text: str, timeout: float, proc: subprocess.Popen[Any] | None = None
) -> float:
    """``time.time()`` when ``text`` appeared in the file at ``path``.

    Raises
    ------
    RuntimeError
        ``proc`` exited first, or ``timeout`` seconds passed (the file's tail is in the
        message).
    """
    ends = time.monotonic() + timeout
    while True:
        content = path.read_text(errors="replace") if path.exists() else ""
        if text in content:
            return time.time()
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{path.name}: the process exited:\n{content[-3000:]}")
        if time.monotonic() > ends:
            raise RuntimeError(f"{path.name}: no {text!r} after {timeout} s:\n{content[-3000:]}")
        time.sleep(0.05)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (linear interpolation), ``None`` for no values."""
    return float(np.percentile(values, q)) if values else None


def _fmt(value: float | None, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals, ``-`` for none."""
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.{digits}f}"


# --------------------------------------------------------------------------- the cluster


class Cluster:
    """The scheduler, workers and client program of one run, started as a user would.

    :meth:`close` stops everything it started (thawing and reconnecting first), also after
    a failure; with namespaces, tearing the network down stops whatever is left in them.
    """

    def __init__(self, folder: Path, netns: bool) -> None:
        self.folder = folder
        self.logs = folder / "logs"
        self.certs = folder / "certs"
        self.netns = netns
        self.net: Any = None
        self.port = NETNS_PORT if netns else _free_port()
        self.procs: list[subprocess.Popen[Any]] = []
        self.nannies: dict[str, subprocess.Popen[Any]] = {}
        self.scheduler: subprocess.Popen[Any] | None = None
        self.scheduler_starts = 0
        self.client: subprocess.Popen[str] | None = None
        self.frozen: set[int] = set()
        self.cut_off: set[str] = set()

    # ------------------------------------------------------------ addresses
    def address(self, host: str) -> str:
        return str(self.net.address(host)) if self.net is not None else "127.0.0.1"

    @property
    def scheduler_address(self) -> str:
        return f"tls://{self.address('sched')}:{self.port}"

    def worker_log(self, name: str) -> Path:
        return self.logs / f"worker-{name}.log"

    # ------------------------------------------------------------ starting
    def start(self) -> None:
        """Network (namespaces), certificates, the scheduler and the three workers."""
        for name in ("logs", "certs", "app"):  # what an earlier run left (nothing else)
            shutil.rmtree(self.folder / name, ignore_errors=True)
        for name in ("executions.jsonl", "client.py", "client.json"):
            (self.folder / name).unlink(missing_ok=True)
        self.logs.mkdir(parents=True)
        if self.netns:
            from edgeoffload.netem import EmulatedNetwork, HostSpec, Topology, cleanup_stale

            hosts = ("sched", *WORKERS, "client")
            topology = Topology(
                f"chaos{os.getpid()}"[:12],
                tuple(HostSpec(h, f"10.77.0.{i + 1}") for i, h in enumerate(hosts)),
            )
            cleanup_stale()
            self.net = EmulatedNetwork(topology).up()
        hosts_args = [a for h in ("sched", *WORKERS) for a in ("--host", self.address(h))]
        subprocess.run(
            [*EDGEOFFLOAD, "certs", str(self.certs), *hosts_args],
            check=True,
            capture_output=True,
        )
        self.start_scheduler()
        for name in WORKERS:
            argv = [*EDGEOFFLOAD, "worker", "--name", name, "--scheduler", self.scheduler_address]
            argv += ["--host", self.address(name), "--tls", str(self.certs)]
            env = {**os.environ, WORKER_ENV: name}
            self.nannies[name] = self.popen(name, argv, self.worker_log(name), env=env)
        for name in WORKERS:
            wait_for_text(self.worker_log(name), "listening at", 90, self.nannies[name])

    def popen(
        self, host: str, argv: Sequence[str], log: Path, **kwargs: Any
    ) -> subprocess.Popen[Any]:
        """Start ``argv`` on ``host`` (its own session), output appended to ``log``."""
        with log.open("ab") as out:
            kwargs.setdefault("stderr", subprocess.STDOUT if "stdout" not in kwargs else out)
            kwargs.setdefault("stdout", out)
            if self.net is not None:
                proc: subprocess.Popen[Any] = self.net.popen(host, list(argv), **kwargs)
            else:
                proc = subprocess.Popen(list(argv), start_new_session=True, **kwargs)
        self.procs.append(proc)
        return proc

    def start_scheduler(self) -> float:
        """Start the scheduler (again) on its port; ``time.time()`` once it listens."""
        self.scheduler_starts += 1
        log = self.logs / f"scheduler-{self.scheduler_starts}.log"
        argv = [*EDGEOFFLOAD, "scheduler", "--host", self.address("sched")]
        argv += ["--port", str(self.port), "--tls", str(self.certs), "--no-dashboard"]
        self.scheduler = self.popen("sched", argv, log)
        return wait_for_text(log, "listening at", 90, self.scheduler)

    def start_client(self, config: dict[str, Any]) -> subprocess.Popen[str]:
        """Start the client program with ``config``; its standard output is a pipe."""
        app = self.folder / "app"
        app.mkdir()
        source = APP_HEAD + "".join(APP_FUNCTION.format(k=k) for k in range(config["callers"]))
        (app / "chaosapp.py").write_text(source, encoding="utf-8")
        script = self.folder / "client.py"
        script.write_text(CLIENT, encoding="utf-8")
        path = self.folder / "client.json"
        path.write_text(json.dumps({**config, "app": str(app)}), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k != WORKER_ENV}
        self.client = self.popen(
            "client",
            [sys.executable, str(script), str(path)],
            self.logs / "client.log",
            stdout=subprocess.PIPE,
            stdin=subprocess.PIPE,
            text=True,
            env=env,
        )
        return self.client

    # ------------------------------------------------------------ processes
    def service_pid(self, name: str) -> int | None:
        """The worker process of ``name`` now (the nanny's child), if there is one."""
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.nannies[name].pid).children():
                if "edgeoffload.runtime.worker.service" in " ".join(child.cmdline()):
                    return int(child.pid)
        return None

    def freeze(self, pgid: int) -> None:
        self.frozen.add(pgid)
        os.killpg(pgid, signal.SIGSTOP)

    def thaw(self, pgid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGCONT)
        self.frozen.discard(pgid)

    def cut(self, host: str) -> None:
        self.cut_off.add(host)
        self.net.cut(host)

    def restore(self, host: str) -> None:
        self.net.restore(host)
        self.cut_off.discard(host)

    def close(self) -> None:
        """Stop everything started (thaw and reconnect first); delete the namespaces."""
        for pgid in list(self.frozen):
            self.thaw(pgid)
        for host in list(self.cut_off):
            with contextlib.suppress(Exception):
                self.restore(host)
        if self.client is not None and self.client.poll() is None and self.client.stdin:
            with contextlib.suppress(OSError, ValueError):
                self.client.stdin.close()
        family: list[psutil.Process] = []
        for proc in self.procs:
            with contextlib.suppress(psutil.Error):
                family.extend(psutil.Process(proc.pid).children(recursive=True))
        # the order of a clean shutdown: the client, the workers, then the scheduler
        first = [p for p in (self.client,) if p is not None]
        workers = list(self.nannies.values())
        for group in (first, workers, self.procs):
            for proc in group:
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.send_signal(signal.SIGTERM)
            ends = time.monotonic() + 20
            for proc in group:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(max(0.1, ends - time.monotonic()))
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)
        for child in family:
            with contextlib.suppress(psutil.Error):
                child.kill()
        if self.net is not None:
            self.net.down()
            self.net = None


# --------------------------------------------------------------------------- observers


class Executions:
    """Follows the executions log, and the process of every execution still running.

    Each execution is a dict: ``call``, ``exec`` (its token), ``worker``, ``pid``,
    ``ppid``, ``pgid``, ``start``, and ``end`` (it finished) or ``gone`` (its process
    disappeared before it finished: killed), ``time.time()`` seconds.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.by_token: dict[str, dict[str, Any]] = {}
        self._offset = 0
        self._partial = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="chaos-executions", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.02):
            self.poll()

    def poll(self) -> None:
        """Read new lines; note the executions whose process is gone."""
        if self.path.exists():
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
            self._offset += len(chunk)
            lines = (self._partial + chunk).split(b"\n")
            self._partial = lines.pop()
            with self.lock:
                for line in lines:
                    if line.strip():
                        self._add(json.loads(line))
        now = time.time()
        with self.lock:
            running = [e for e in self.by_token.values() if "end" not in e and "gone" not in e]
        for execution in running:
            if execution["worker"] != "local" and not pid_alive(execution["pid"]):
                with self.lock:
                    if "end" not in execution:
                        execution["gone"] = now

    def _add(self, data: dict[str, Any]) -> None:
        token = data["exec"]
        if data["event"] == "start":
            self.by_token[token] = {
                **{k: data[k] for k in ("call", "exec", "worker", "pid", "ppid", "pgid")},
                "start": data["t"],
            }
        else:
            execution = self.by_token.setdefault(token, {"call": data["call"], "exec": token})
            execution["end"] = data["t"]
            execution.pop("gone", None)  # its end line was read after its process was gone

    def running(self) -> list[dict[str, Any]]:
        """The executions running now (on a worker or locally)."""
        with self.lock:
            return [dict(e) for e in self.by_token.values() if "end" not in e and "gone" not in e]

    def all(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(e) for e in self.by_token.values()]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.poll()


class ClientView:
    """Reads the client program's JSON lines: calls, the session's view of the workers."""

    def __init__(self, proc: subprocess.Popen[str], copy: Path) -> None:
        self.proc = proc
        self.copy = copy
        self.lock = threading.Lock()
        self.events: list[dict[str, Any]] = []
        self.workers: dict[str, dict[str, Any]] = {}
        self.scheduler_reachable: bool | None = None
        self.listed: dict[str, int | None] | None = None  # the scheduler's list: name -> pid
        self.ready = threading.Event()
        self.done = threading.Event()
        self.ended = threading.Event()
        self._thread = threading.Thread(target=self._read, name="chaos-client", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.copy.open("w") as out:
            for line in self.proc.stdout:
                out.write(line)
                out.flush()
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                with self.lock:
                    self.events.append(event)
                    if event["event"] == "worker":
                        self.workers[event["name"]] = event
                    elif event["event"] == "scheduler":
                        self.scheduler_reachable = event["reachable"]
                    elif event["event"] == "listed":
                        listed = event["workers"]
                        self.listed = None if listed is None else dict(map(tuple, listed))
                if event["event"] == "ready":
                    self.ready.set()
                elif event["event"] == "done":
                    self.done.set()
        self.ended.set()

    def of(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.events if e["event"] == kind]

    def usable(self, name: str) -> bool:
        with self.lock:
            return bool(self.workers.get(name, {}).get("usable"))

    def stop(self, timeout: float) -> None:
        """Ask the program to stop calling; wait for its last calls and its summary."""
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
        ends = time.monotonic() + timeout
        while not (self.done.is_set() or self.ended.is_set()) and time.monotonic() < ends:
            self.done.wait(0.5)
        self.ended.wait(40)


# --------------------------------------------------------------------------- the run


@dataclass
class Fault:
    """A fault as it happened (``time.time()`` seconds)."""

    index: int
    kind: str
    planned: float  # absolute planned start
    target: str = ""
    pid: int | None = None  # the process killed or frozen (the worker's, or the child's)
    pgid: int | None = None
    at: float = math.nan  # when it hit
    end: float = math.nan  # when it was over: kill instant, thaw, restore, scheduler listening
    note: str = ""
    whole_before: str = ""  # what the cluster lacked when the fault was due (it waited)

    def add_note(self, text: str) -> None:
        self.note = f"{self.note}; {text}" if self.note else text


class Chaos:
    """Runs the schedule against a cluster, watching the client and the executions."""

    def __init__(self, settings: Settings, cluster: Cluster, console: Any) -> None:
        self.settings = settings
        self.cluster = cluster
        self.console = console
        self.faults: list[Fault] = []
        self.view: ClientView | None = None
        self.executions: Executions | None = None

    def missing(self) -> list[str]:
        """What keeps the cluster from being whole (empty when it is whole)."""
        assert self.view is not None
        out = [f"{w} not usable in the session" for w in WORKERS if not self.view.usable(w)]
        listed = self.view.listed or {}
        out += [f"{w} not listed by the scheduler" for w in WORKERS if w not in listed]
        if self.view.scheduler_reachable is False:
            out.append("the session does not reach the scheduler")
        return out

    def wait_whole(self, timeout: float) -> list[str]:
        ends = time.monotonic() + timeout
        while (missing := self.missing()) and time.monotonic() < ends:
            time.sleep(0.1)
        return missing

    def run(self, schedule: Sequence[Planned]) -> tuple[float, float]:
        """Start the client, apply the schedule, stop the client: (start, end) of the faults
        phase."""
        s = self.settings
        config = {
            "address": self.cluster.scheduler_address,
            "certs": str(self.cluster.certs),
            "workers": list(WORKERS),
            "liveness": s.liveness,
            "deadline": s.deadline,
            "max_retries": s.max_retries,
            "callers": s.callers,
            "seed": s.seed,
            "work": list(s.work),
            "fail_every": FAIL_EVERY,
            "executions": str(self.cluster.folder / "executions.jsonl"),
        }
        self.executions = Executions(Path(str(config["executions"])))
        proc = self.cluster.start_client(config)
        self.view = ClientView(proc, self.cluster.logs / "client-events.jsonl")
        while not self.view.ready.wait(0.5):
            if proc.poll() is not None:
                tail = (self.cluster.logs / "client.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"the client program exited before it was ready:\n{tail}")
        missing = self.wait_whole(60)
        if missing:
            raise RuntimeError(f"the cluster is not whole at the start: {'; '.join(missing)}")
        begin = time.time()
        self.console.print(f"calls running; faults from now on ({len(schedule)} planned)")
        for planned in schedule:
            fault = Fault(planned.index, planned.kind, begin + planned.at)
            time.sleep(max(0.0, fault.planned - time.time()))
            if proc.poll() is not None:  # its calls in flight count as lost
                self.console.print(
                    f"the client program exited (status {proc.returncode}) before fault "
                    f"{fault.index + 1}: see {self.cluster.logs / 'client.log'}"
                )
                break
            missing = self.missing()
            if missing:  # not whole when due: wait for it, then let calls settle
                fault.whole_before = "; ".join(missing)
                still = self.wait_whole(180)
                if still:
                    fault.add_note(f"still not whole after 180 s: {'; '.join(still)}")
                time.sleep(s.settle)
            self.apply(fault, planned.duration)
            self.faults.append(fault)
            self.console.print(
                f"  fault {fault.index + 1}/{len(schedule)} {fault.kind:9s} {fault.target:5s} "
                f"at {fault.at - begin:6.1f} s (planned {planned.at:6.1f} s)"
                + (f" [{fault.note}]" if fault.note else "")
                + (f" [late; when due: {fault.whole_before}]" if fault.whole_before else "")
            )
        missing = self.wait_whole(180)
        if missing:
            self.console.print(f"not whole after the last fault: {'; '.join(missing)}")
        time.sleep(s.settle)
        finished = time.time()
        self.view.stop(s.deadline + 90)
        self.executions.close()
        return begin, finished

    def _busy_target(self, fault: Fault) -> tuple[str, dict[str, Any] | None]:
        """The worker (and one of its executions) running calls now, chosen with the seed."""
        assert self.executions is not None
        rng = random.Random(f"{self.settings.seed}:{fault.index}")
        low = self.settings.work[0]
        for _ in range(50):  # wait up to 5 s for a call that has time left to run
            running = [
                e
                for e in self.executions.running()
                if e["worker"] in WORKERS and time.time() - e["start"] < low * 0.8
            ]
            if running:
                running.sort(key=lambda e: (e["worker"], e["exec"]))
                chosen = rng.choice(running)
                return str(chosen["worker"]), chosen
            time.sleep(0.1)
        fault.add_note("no call running: a worker chosen at random")
        return rng.choice(WORKERS), None

    def apply(self, fault: Fault, duration: float) -> None:
        """Inflict ``fault`` (and its end, for those that last)."""
        cluster = self.cluster
        if fault.kind == "scheduler":
            assert cluster.scheduler is not None
            fault.target, fault.pid = "scheduler", cluster.scheduler.pid
            fault.at = time.time()
            cluster.scheduler.kill()
            cluster.scheduler.wait(10)
            time.sleep(duration)
            fault.end = cluster.start_scheduler()
            return
        fault.target, execution = self._busy_target(fault)
        if fault.kind == "child":
            if execution is None:
                fault.add_note("nothing to kill")
                fault.at = fault.end = time.time()
                return
            fault.pid = int(execution["pid"])
            fault.at = time.time()
            with contextlib.suppress(ProcessLookupError):
                os.kill(fault.pid, signal.SIGKILL)
            fault.end = fault.at
            return
        if fault.kind == "cut":
            fault.at = time.time()
            cluster.cut(fault.target)
            time.sleep(duration)
            cluster.restore(fault.target)
            fault.end = time.time()
            return
        pid = cluster.service_pid(fault.target)
        if pid is None:
            fault.add_note("the worker had no process")
            fault.at = fault.end = time.time()
            return
        fault.pid = pid
        if fault.kind == "kill":
            fault.at = time.time()
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            fault.end = fault.at
        elif fault.kind == "freeze":
            fault.pgid = os.getpgid(pid)
            fault.at = time.time()
            cluster.freeze(fault.pgid)
            time.sleep(duration)
            cluster.thaw(fault.pgid)
            fault.end = time.time()


# --------------------------------------------------------------------------- analysis


def _intervals(
    execution: dict[str, Any], freezes: Sequence[Fault], horizon: float
) -> tuple[tuple[float, float], list[tuple[float, float]]]:
    """An execution's lifetime, and the parts of it when it ran (its group not frozen)."""
    start = float(execution.get("start", math.nan))
    stop = float(execution.get("end", execution.get("gone", horizon)))
    parts = [(start, stop)]
    for fault in freezes:
        if fault.pgid is None or execution.get("pgid") != fault.pgid:
            continue
        cut: list[tuple[float, float]] = []
        for a, b in parts:
            if fault.end <= a or fault.at >= b:
                cut.append((a, b))
                continue
            if a < fault.at:
                cut.append((a, fault.at))
            if fault.end < b:
                cut.append((fault.end, b))
        parts = cut
    return (start, stop), parts


def _overlap(a: Iterable[tuple[float, float]], b: Iterable[tuple[float, float]]) -> float:
    b = list(b)
    return sum(max(0.0, min(x2, y2) - max(x1, y1)) for x1, x2 in a for y1, y2 in b)


def analyse(
    settings: Settings,
    faults: Sequence[Fault],
    view: ClientView,
    executions: Sequence[dict[str, Any]],
    horizon: float,
) -> dict[str, Any]:
    """Everything the report says, as plain data."""
    L, slack = settings.liveness, settings.slack
    submits = {e["call"]: e for e in view.of("submit")}
    ends: dict[int, list[dict[str, Any]]] = {}
    for event in view.of("call"):
        ends.setdefault(event["call"], []).append(event)
    done = (view.of("done") or [{}])[-1]
    killed = {f.pid: f.at for f in faults if f.kind == "child" and f.pid is not None}
    executions = [dict(e) for e in executions]
    by_call: dict[int, list[dict[str, Any]]] = {}
    for execution in executions:
        by_call.setdefault(execution["call"], []).append(execution)
        moment = killed.get(int(execution.get("pid", -1)))
        if moment is not None and "gone" in execution and execution["start"] <= moment:
            # the benchmark killed it: it ended then, not when the benchmark noticed (20 ms)
            execution["gone"] = min(execution["gone"], moment)

    calls: list[dict[str, Any]] = []
    for call, submit in sorted(submits.items()):
        events = ends.get(call, [])
        row: dict[str, Any] = {
            "call": call,
            "caller": submit["caller"],
            "work": submit["work"],
            "fail": submit["fail"],
            "submit": submit["t"],
            "accepted": len(events),
            "executions": len(by_call.get(call, [])),
        }
        if not events:
            row.update(verdict="lost", why="never returned")
            calls.append(row)
            continue
        event = events[0]
        row.update(
            submit=event["submit"],
            end=event["end"],
            where=event.get("where"),
            outcome=event.get("outcome"),
            attempts=event.get("attempts", []),
        )
        result, raised = event.get("result"), event.get("raised")
        if raised == "ChaosFailure":
            if submit["fail"] and event["message"] == f"call {call} fails on purpose":
                row["verdict"] = "raised on purpose"
            else:
                row.update(verdict="wrong", why=f"raised ChaosFailure({event['message']!r})")
        elif raised is not None:
            row.update(verdict="lost", why=f"{raised}: {event['message'][:300]}")
        elif submit["fail"]:
            row.update(verdict="wrong", why=f"returned {result!r} instead of raising")
        elif (
            not isinstance(result, dict)
            or result.get("call") != call
            or result.get("value") != expected_value(call, settings.seed)
        ):
            row.update(verdict="wrong", why=f"returned {result!r}")
        else:
            row["verdict"] = "ok"
            if event.get("where") not in (None, result.get("worker")):
                row["mismatch"] = f"record says {event.get('where')}, ran on {result['worker']}"
        if "where" not in event:
            row["no_record"] = f"{event.get('records_added')} session record(s) for this call"
        calls.append(row)
    by_id = {row["call"]: row for row in calls}

    # executions and their overlaps
    freezes = [f for f in faults if f.kind == "freeze"]
    longest_active, longest_alive, overlap_call = 0.0, 0.0, None
    for call, runs in by_call.items():
        spans = [_intervals(r, freezes, horizon) for r in runs if "start" in r]
        for i in range(len(spans)):
            for j in range(i + 1, len(spans)):
                active = _overlap(spans[i][1], spans[j][1])
                alive = _overlap([spans[i][0]], [spans[j][0]])
                longest_alive = max(longest_alive, alive)
                if active > longest_active:
                    longest_active, overlap_call = active, call

    # faulted calls, per fault
    per_fault: list[dict[str, Any]] = []
    faulted_ids: set[int] = set()
    for number, fault in enumerate(faults):
        until = faults[number + 1].at if number + 1 < len(faults) else horizon
        hit: dict[int, float] = {}  # call -> when the fault hit it
        for row in calls:
            if "end" not in row and row["verdict"] != "lost":
                continue
            end = row.get("end", horizon)
            if fault.kind == "scheduler":
                if row["submit"] <= fault.at < end:
                    hit[row["call"]] = fault.at
                continue
            for execution in by_call.get(row["call"], []):
                if "start" not in execution:
                    continue
                stop = execution.get("end", execution.get("gone", horizon))
                running = execution["start"] <= fault.at < stop
                on_target = (
                    execution["pid"] == fault.pid
                    if fault.kind == "child"
                    else execution["worker"] == fault.target
                )
                if running and on_target:
                    hit[row["call"]] = fault.at
            tried = any(a[0] == fault.target for a in row.get("attempts", []))
            window = fault.end + L + 2.0
            if tried and row["call"] not in hit and fault.at <= end and row["submit"] <= window:
                hit[row["call"]] = max(fault.at, row["submit"])
        faulted = []
        for call, moment in sorted(hit.items()):
            row = by_id[call]
            faulted_ids.add(call)
            if "end" not in row:
                faulted.append({"call": call, "resolved": False, "extra": None, "margin": None})
                continue
            bound = moment + L + row["work"] + slack
            resolved = row["verdict"] in ("ok", "raised on purpose") and row["end"] <= bound
            faulted.append(
                {
                    "call": call,
                    "extra": row["end"] - row["submit"] - row["work"],
                    "after_fault": row["end"] - moment,
                    "margin": bound - row["end"],
                    "over_liveness_and_work": row["end"] - moment - L - row["work"],
                    "resolved": resolved,
                    "where": row.get("where"),
                    "attempts": len(row.get("attempts", [])),
                }
            )
        seen = recovery(fault, view, L, until)
        per_fault.append({**asdict(fault), **seen, "calls": faulted})

    # baseline: calls touched by no fault
    windows = [(f.at, f.end) for f in faults]
    baseline = [
        row["end"] - row["submit"] - row["work"]
        for row in calls
        if "end" in row
        and row["call"] not in faulted_ids
        and not row.get("attempts")
        and not any(row["submit"] <= b and a <= row["end"] for a, b in windows)
    ]

    per_kind: dict[str, dict[str, Any]] = {}
    for kind in FAULT_KINDS:
        these = [f for f in per_fault if f["kind"] == kind]
        if not these:
            continue
        hits = [c for f in these for c in f["calls"]]
        extras = [c["extra"] for c in hits if c["extra"] is not None]

        def values(key: str, rows: list[dict[str, Any]] = these) -> list[float]:
            return [float(f[key]) for f in rows if f.get(key) is not None]

        per_kind[kind] = {
            "faults": len(these),
            "faulted_calls": len(hits),
            "extra_p50": percentile(extras, 50),
            "extra_p99": percentile(extras, 99),
            "resolved_in_bound": sum(c["resolved"] for c in hits),
            "worst_over_liveness_and_work": max(
                (c["over_liveness_and_work"] for c in hits if c["extra"] is not None),
                default=None,
            ),
            "detected_p50": percentile(values("detected"), 50),
            "detected_max": max(values("detected"), default=None),
            "session_back_p50": percentile(values("session_back"), 50),
            "session_back_max": max(values("session_back"), default=None),
            "scheduler_back_p50": percentile(values("scheduler_back"), 50),
            "scheduler_back_max": max(values("scheduler_back"), default=None),
        }

    verdicts = [row["verdict"] for row in calls]
    records = done.get("records")
    twice = [row["call"] for row in calls if row["accepted"] > 1]
    summary = {
        "total": len(calls),
        "ok": verdicts.count("ok"),
        "raised_on_purpose": verdicts.count("raised on purpose"),
        "remote": sum(1 for r in calls if r.get("where") not in (None, "local")),
        "fallback": sum(1 for r in calls if r.get("outcome") == "fallback"),
        "local": sum(1 for r in calls if r.get("where") == "local"),
        "retried": sum(1 for r in calls if r.get("attempts")),
        "lost": verdicts.count("lost"),
        "wrong": verdicts.count("wrong"),
        "accepted_twice": len(twice),
        "session_records": records,
        "calls_ended": sum(len(v) for v in ends.values()),
        "executed_more_than_once": sum(1 for r in calls if r["executions"] > 1),
        "never_executed": sum(1 for r in calls if r["executions"] == 0),
        "executions": len(executions),
        "killed_executions": sum(1 for e in executions if "gone" in e),
        "longest_overlap_running": longest_active,
        "longest_overlap_alive": longest_alive,
        "longest_overlap_call": overlap_call,
        "mismatched_where": [r["call"] for r in calls if "mismatch" in r],
        "without_record": [r["call"] for r in calls if "no_record" in r],
        "stuck_callers": done.get("stuck"),
        "baseline_extra_p50": percentile(baseline, 50),
        "baseline_extra_p99": percentile(baseline, 99),
        "baseline_calls": len(baseline),
    }
    faulted_rows = [c for f in per_fault for c in f["calls"]]
    goals = {
        "0 lost": summary["lost"] == 0,
        "0 wrong": summary["wrong"] == 0,
        "no result accepted twice": not twice
        and (records is None or records == summary["calls_ended"]),
        f"overlapping executions <= liveness timeout + slack ({L + slack:g} s)": (
            longest_active <= L + slack
        ),
        "every faulted call resolved by max(fault, submit) + liveness + W + slack": all(
            c["resolved"] for c in faulted_rows
        ),
    }
    return {
        "summary": summary,
        "per_kind": per_kind,
        "faults": per_fault,
        "goals": goals,
        "calls": calls,
        "executions": executions,
    }


def recovery(fault: Fault, view: ClientView, liveness: float, until: float) -> dict[str, Any]:
    """How the session and the scheduler saw ``fault``, from what happened before ``until``
    (the next fault), seconds: from the fault until the session marked the worker lost
    (``detected``; for a scheduler restart, until it saw the scheduler unreachable), from
    the fault's end until the worker was usable in the session again (``session_back``; the
    scheduler reachable again), and until the scheduler listed the worker again
    (``scheduler_back``; every worker, for a scheduler restart). ``None``: it did not
    happen (``never_lost``: the session never lost it; ``scheduler_kept``: the worker never
    left the scheduler's list)."""
    out: dict[str, Any] = {"detected": None, "session_back": None, "scheduler_back": None}
    if fault.kind == "scheduler":
        backs = [listed_again(view, name, fault.at, until)[1] for name in WORKERS]
        out["workers_back"] = {
            name: None if back is None else back - fault.end
            for name, back in zip(WORKERS, backs, strict=True)
        }
        known = [b for b in out["workers_back"].values() if b is not None]
        out["scheduler_back"] = max(known) if len(known) == len(WORKERS) else None
        changes = [e for e in view.of("scheduler") if fault.at <= e["t"] < until]
        down = next((e for e in changes if e["reachable"] is False), None)
        if down is None:
            out["never_lost"] = True
            return out
        out["detected"] = down["t"] - fault.at
        up = next((e for e in changes if e["reachable"] is True and e["t"] > down["t"]), None)
        out["session_back"] = up["t"] - fault.end if up is not None else None
        return out
    events = [
        e for e in view.of("worker") if e["name"] == fault.target and fault.at <= e["t"] < until
    ]
    lost = next((e for e in events if not e["usable"]), None)
    if lost is not None and lost["t"] <= fault.end + liveness + 10:
        out["detected"] = lost["t"] - fault.at
        back = next(
            (
                e
                for e in events
                if e["usable"]
                and e["t"] > lost["t"]
                and (fault.kind != "kill" or e["pid"] != fault.pid)
            ),
            None,
        )
        if back is not None:
            out["session_back"] = max(0.0, back["t"] - fault.end)
    else:
        out["never_lost"] = True
    old = fault.pid if fault.kind == "kill" else None
    left, relisted = listed_again(view, fault.target, fault.at, until, old)
    out["scheduler_kept"] = not left
    if left:
        out["scheduler_back"] = None if relisted is None else relisted - fault.end
    return out


def listed_again(
    view: ClientView, name: str, since: float, until: float, old_pid: int | None = None
) -> tuple[bool, float | None]:
    """Whether worker ``name`` left the scheduler's list between ``since`` and ``until``
    (with ``old_pid``: that process is gone, only another one counts), and when it was
    listed again (``time.time()``; ``None``: not before ``until``)."""
    gone = old_pid is not None
    for event in view.of("listed"):
        if not since <= event["t"] < until:
            continue
        listed = dict(map(tuple, event["workers"])) if event["workers"] is not None else {}
        present = name in listed and (old_pid is None or listed[name] != old_pid)
        if not present:
            gone = True
        elif gone:
            return True, float(event["t"])
    return gone, None


# --------------------------------------------------------------------------- report


def print_report(
    console: Any, settings: Settings, result: dict[str, Any], mode: dict[str, Any], begin: float
) -> None:
    from rich.table import Table

    s = result["summary"]
    table = Table("calls", "count", title="Calls under chaos", title_justify="left")
    for label, value in (
        ("total", s["total"]),
        ("ok (the right value)", s["ok"]),
        ("raised their own exception, on purpose", s["raised_on_purpose"]),
        ("ran on a worker / locally", f"{s['remote']} / {s['local']}"),
        ("fell back to local after failed attempts", s["fallback"]),
        ("retried on another worker", s["retried"]),
        ("lost", s["lost"]),
        ("wrong", s["wrong"]),
        ("accepted twice", s["accepted_twice"]),
        ("session records / calls ended", f"{s['session_records']} / {s['calls_ended']}"),
        ("executed more than once (allowed)", s["executed_more_than_once"]),
        ("executions / killed mid-run", f"{s['executions']} / {s['killed_executions']}"),
        (
            "longest overlap of two executions of a call, running / alive (s)",
            f"{s['longest_overlap_running']:.2f} / {s['longest_overlap_alive']:.2f}",
        ),
        (
            "extra latency of calls no fault touched, p50 / p99 (s)",
            f"{_fmt(s['baseline_extra_p50'])} / {_fmt(s['baseline_extra_p99'])} "
            f"({s['baseline_calls']} calls)",
        ),
    ):
        table.add_row(label, str(value))
    console.print(table)

    def pair(a: float | None, b: float | None) -> str:
        return f"{_fmt(a)} / {_fmt(b)}"

    table = Table(
        "fault",
        "n",
        "calls hit",
        "extra p50 / p99",
        "in bound",
        "worst over L + W",
        "lost after (p50 / max)",
        "back after (p50 / max)",
        "listed again after (p50 / max)",
        title=f"Per fault type, seconds (L = {settings.liveness:g} s, W = {settings.work[0]:g}-"
        f"{settings.work[1]:g} s CPU, bound: max(fault, submit) + L + W + {settings.slack:g} s)",
        title_justify="left",
    )
    for kind, k in result["per_kind"].items():
        table.add_row(
            kind,
            str(k["faults"]),
            str(k["faulted_calls"]),
            pair(k["extra_p50"], k["extra_p99"]),
            f"{k['resolved_in_bound']}/{k['faulted_calls']}",
            _fmt(k["worst_over_liveness_and_work"]),
            pair(k["detected_p50"], k["detected_max"]),
            pair(k["session_back_p50"], k["session_back_max"]),
            pair(k["scheduler_back_p50"], k["scheduler_back_max"]),
        )
    console.print(table)
    console.print(
        "worst over L + W: the latest end of a hit call after max(fault, submit) + L + W (what "
        "the slack covers); lost after: the fault until the session marked the worker unusable "
        "(scheduler: saw it unreachable); back after: the kill, thaw, restore or scheduler "
        "listening again until the worker was usable in the session (scheduler: reachable); "
        "listed again after: until the scheduler listed the worker (scheduler: every worker) "
        "again; -: did not happen (the session never lost it, the worker stayed listed)"
    )
    table = Table(
        "#",
        "fault",
        "target",
        "at (s)",
        "calls hit",
        "worst extra",
        "lost after",
        "back after",
        "listed again after",
        "note",
        title="Each fault, seconds",
        title_justify="left",
    )
    for f in result["faults"]:
        extras = [c["extra"] for c in f["calls"] if c["extra"] is not None]
        notes = [n for n in (f["note"], f["whole_before"] and f"late: {f['whole_before']}") if n]
        table.add_row(
            str(f["index"] + 1),
            f["kind"],
            f["target"],
            f"{f['at'] - begin:.1f}",
            str(len(f["calls"])),
            _fmt(max(extras, default=None)),
            _fmt(f["detected"]),
            _fmt(f["session_back"]),
            _fmt(f["scheduler_back"]),
            "; ".join(notes),
        )
    console.print(table)
    if mode["cuts"] != "run":
        console.print(f"cuts skipped: {mode['cuts']}")
    for goal, met in result["goals"].items():
        console.print(f"goal: {goal}: {'met' if met else 'NOT met'}")


# --------------------------------------------------------------------------- main


def netns_mode(loopback: bool) -> tuple[bool, str]:
    """Whether to use namespaces, and if not, why cuts are skipped."""
    if loopback:
        return False, "--loopback was given"
    from edgeoffload.netem import check_support

    reason = check_support()
    if reason is not None:
        return False, f"no emulated network here: {reason}"
    return True, "run"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short faults, one round (~1 min)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the schedule (1)")
    parser.add_argument("--rounds", type=int, help="rounds of faults (3; --quick: 1)")
    parser.add_argument("--callers", type=int, default=2, help="concurrent callers (2)")
    parser.add_argument("--liveness", type=float, help="liveness timeout, s (5; --quick: 2)")
    parser.add_argument("--slack", type=float, default=2.0, help="slack of the bounds, s (2)")
    parser.add_argument("--loopback", action="store_true", help="no namespaces: skip cuts")
    parser.add_argument("--out", default=str(ROOT / "results" / "bench_chaos.json"))
    parser.add_argument("--folder", default=str(ROOT / "results" / "bench_chaos"))
    args = parser.parse_args(argv)
    if args.callers < 1 or (args.rounds is not None and args.rounds < 1):
        parser.error("--callers and --rounds must be at least 1")
    if (args.liveness is not None and not args.liveness > 0) or args.slack < 0:
        parser.error("--liveness must be > 0 and --slack >= 0 seconds")

    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=140)  # a log file: no wrapping of tables
    settings = make_settings(args)
    netns, cuts = netns_mode(args.loopback)
    kinds = [k for k in FAULT_KINDS if netns or k != "cut"]
    schedule = plan(settings, kinds)
    mode = {"netns": netns, "cuts": cuts}
    console.print(
        f"chaos benchmark, seed {settings.seed}: {len(schedule)} faults, "
        f"{'each process on its own emulated host' if netns else 'loopback'}; "
        f"L = {settings.liveness:g} s, deadline {settings.deadline:g} s, "
        f"{settings.callers} callers, W = {settings.work[0]:g}-{settings.work[1]:g} s CPU"
    )
    if cuts != "run":
        console.print(f"cuts skipped: {cuts}")
    for p in schedule:
        lasting = f" for {p.duration:g} s" if p.duration else ""
        console.print(f"  planned: {p.at:6.1f} s  {p.kind}{lasting}")

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    stops = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, interrupted) for sig in stops}
    cluster = Cluster(Path(args.folder), netns)
    chaos = Chaos(settings, cluster, console)
    load_before = os.getloadavg()
    started = time.time()
    try:
        cluster.start()
        console.print(f"cluster up in {time.time() - started:.1f} s: {cluster.scheduler_address}")
        begin, finished = chaos.run(schedule)
    except KeyboardInterrupt:
        console.print("interrupted: stopping everything the benchmark started")
        return 130
    finally:
        for sig in stops:  # a second Ctrl-C must not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        cluster.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    assert chaos.view is not None
    assert chaos.executions is not None
    result = analyse(settings, chaos.faults, chaos.view, chaos.executions.all(), time.time())
    print_report(console, settings, result, mode, begin)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "date": datetime.now().isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_before": load_before,
            "load_after": os.getloadavg(),
        },
        "mode": mode,
        "settings": asdict(settings),
        "schedule": [asdict(p) for p in schedule],
        "faults_began": begin,
        "faults_ended": finished,
        "run_seconds": time.time() - started,
        **result,
    }
    out.write_text(json.dumps(document, indent=1, default=str) + "\n")
    console.print(f"written to {out} (logs in {cluster.folder}); {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
