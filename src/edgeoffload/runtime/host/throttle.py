"""CPU throttling of a process by PID: make a fast core behave like a slow device.

The COFA experiments (and ``make demo``) need a slow "phone" and a "nearby device" on one
machine. This module caps the CPU a process may use to a fraction of one core, two ways:

``"cgroup"`` (preferred)
    A cgroup v1 ``cpu`` controller group, ``<mount>/edgeoffload/<name>``, with
    ``cpu.cfs_quota_us = fraction * cpu.cfs_period_us``. The kernel's CFS bandwidth
    control then lets the group's threads run for at most ``quota`` microseconds of CPU
    time per period, summed over every thread and core: a busy single-threaded process
    runs ``1 / fraction`` times slower, with no cost per call. Writing the PID to
    ``cgroup.procs`` moves every thread of the process; children it forks later are
    born in the group. Needs root (or a delegated, writable hierarchy) and a cgroup v1
    ``cpu`` hierarchy; cgroup v2's ``cpu.max`` is not used.
``"duty"`` (fallback)
    A small helper process stops and continues the target with ``SIGSTOP``/``SIGCONT``:
    it runs for ``fraction * period`` seconds of each period, then is stopped. This is a
    fraction of *wall* time (a process with two busy threads gets ``2 * fraction`` cores),
    and a message that arrives while the target is stopped waits for the next run slice
    (about 15 ms per call measured on this project's machine). Needs only permission to
    signal the target.

API
---
``throttle_available(method="cgroup") -> str | None``
    ``None`` if ``method`` can be used here, else the reason in one line (not Linux, no
    cgroup v1 ``cpu`` hierarchy, not writable: not root). ``method="auto"`` asks whether
    any method works.
``apply_cpu_quota(pid, fraction, *, method="auto", ...) -> Throttle``
    Throttle a running process to ``fraction`` of one core (0 < fraction ≤ 1, or any
    fraction > 1 for a multi-core quota with ``"cgroup"``). ``"auto"`` uses ``"cgroup"``
    where available and ``"duty"`` otherwise; :attr:`Throttle.method` says which.
``Throttle.release()``
    Move the process (and anything it forked meanwhile) back to the group it came from
    and remove our group, or stop the duty-cycle helper and continue the process.
    Idempotent; also runs on ``with`` exit and, for handles still alive, at interpreter
    exit (only in the process that created them, never in a forked child).
``throttled(fraction, ...)``
    Context manager throttling the *current* process.
``cleanup_stale_groups()``
    Remove ``edgeoffload/*`` groups whose creating process is gone (a crashed earlier
    run), moving any process still in them back to the root group. Runs automatically
    before the first group is created in a process.
``cpu_probe()`` and ``measure_slowdown(fraction)``
    Calibration: time a fixed pure-Python CPU benchmark unthrottled and throttled in the
    current process and report the real slowdown (wall and CPU time), so experiments
    state what the throttle actually did on a machine shared with other work.

Examples
--------
>>> from edgeoffload.runtime.host.throttle import apply_cpu_quota, throttle_available
>>> if throttle_available() is None:  # doctest: +SKIP
...     with apply_cpu_quota(worker_pid, 0.25) as t:  # the worker now runs 4x slower
...         print(t.method, t.path)

Notes
-----
Group names are ``<creator pid>-<label>-<n>``: several processes (parallel tests, two
experiments) can throttle at once without touching each other's groups, and a group
whose creator died is recognised as stale. The period defaults to 20 ms (the kernel's
default is 100 ms) so that a throttled process is slow evenly rather than in 100 ms
bursts; it is stretched where needed so that the quota is never below the kernel's
1 ms minimum.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edgeoffload.errors import ThrottleError
from edgeoffload.runtime.host.procs import pid_alive

__all__ = [
    "DEFAULT_PERIOD",
    "Calibration",
    "Method",
    "Throttle",
    "ThrottleError",
    "apply_cpu_quota",
    "cgroup_cpu_root",
    "cleanup_stale_groups",
    "cpu_probe",
    "measure_slowdown",
    "throttle_available",
    "throttled",
]

Method = Literal["auto", "cgroup", "duty"]

DEFAULT_PERIOD = 0.02
"""Default CFS period and duty-cycle period, seconds."""

GROUP_PARENT = "edgeoffload"
"""Name of our folder in the cgroup v1 ``cpu`` hierarchy."""

_MIN_QUOTA_US = 1000  # the kernel refuses cfs_quota_us below 1 ms
_MAX_PERIOD_US = 1_000_000  # ... and cfs_period_us above 1 s
_DUTY_MIN_RUN = 0.005  # seconds of each duty period at least; below, signalling dominates


# --------------------------------------------------------------------------- discovery


def cgroup_cpu_root() -> Path | None:
    """The mount point of the cgroup v1 hierarchy holding the ``cpu`` controller, if any."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return None
    for line in mounts:
        fields = line.split()
        if len(fields) >= 4 and fields[2] == "cgroup" and "cpu" in fields[3].split(","):
            return Path(fields[1])
    return None


def throttle_available(method: Method = "cgroup") -> str | None:
    """``None`` if ``method`` can throttle processes here, else the reason in one line.

    Parameters
    ----------
    method
        ``"cgroup"`` (default), ``"duty"``, or ``"auto"`` (either will do).
    """
    if method == "auto":
        reason = throttle_available("cgroup")
        return None if reason is None else throttle_available("duty")
    if not sys.platform.startswith("linux"):
        return f"CPU throttling needs Linux (this is {sys.platform})"
    if method == "duty":
        return None if hasattr(signal, "SIGSTOP") else "no SIGSTOP on this platform"
    if method != "cgroup":
        raise ValueError(f"method must be 'auto', 'cgroup' or 'duty', not {method!r}")
    root = cgroup_cpu_root()
    if root is None:
        return "no cgroup v1 'cpu' hierarchy is mounted (cgroup v2 cpu.max is not supported)"
    if not (root / "cpu.cfs_quota_us").exists():
        return f"{root} has no cpu.cfs_quota_us (kernel without CFS bandwidth control)"
    parent = root / GROUP_PARENT
    target = parent if parent.is_dir() else root
    if not os.access(target, os.W_OK):
        who = "not root" if os.geteuid() != 0 else "read-only"
        return f"cannot create cgroups under {target} ({who})"
    return None


# --------------------------------------------------------------------------- handles

_counter = itertools.count(1)
_live: set[Throttle] = set()
_live_lock = threading.Lock()
_stale_cleaned = False


@dataclass(eq=False)
class Throttle:
    """A process held to a fraction of one core; :meth:`release` undoes it.

    Attributes
    ----------
    pid
        The throttled process.
    fraction
        CPU allowed, in cores (0.25 = a quarter of one core).
    method
        ``"cgroup"`` or ``"duty"``.
    period
        CFS or duty-cycle period, seconds.
    path
        The cgroup folder (``"cgroup"`` only).
    """

    pid: int
    fraction: float
    method: Literal["cgroup", "duty"]
    period: float
    path: Path | None = None
    _origins: dict[int, Path] | None = None
    _helper: subprocess.Popen[bytes] | None = None
    _pids: tuple[int, ...] = ()
    _owner: int = 0
    released: bool = False

    def __enter__(self) -> Throttle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    @property
    def slowdown(self) -> float:
        """Nominal slowdown of a busy single-threaded process: ``1 / fraction``."""
        return 1.0 / self.fraction

    def stats(self) -> dict[str, int]:
        """The group's ``cpu.stat`` (``nr_periods``, ``nr_throttled``, ``throttled_time`` ns).

        Empty for the duty cycle or after release.
        """
        if self.path is None or self.released:
            return {}
        try:
            text = (self.path / "cpu.stat").read_text()
        except OSError:
            return {}
        out: dict[str, int] = {}
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            with contextlib.suppress(ValueError):
                out[key] = int(value)
        return out

    def release(self) -> None:
        """Undo the throttle: the process runs at full speed again. Idempotent.

        Raises
        ------
        ThrottleError
            The group could not be removed (a process we did not move is still in it).
        """
        if self.released:
            return
        self.released = True
        with _live_lock:
            _live.discard(self)
        if self.method == "duty":
            _stop_duty_helper(self._helper, self._pids)
            return
        assert self.path is not None
        _empty_group(self.path, self._origins or {})
        _remove_group(self.path)


def apply_cpu_quota(
    pid: int,
    fraction: float,
    *,
    method: Method = "auto",
    period: float = DEFAULT_PERIOD,
    name: str | None = None,
    include_children: bool = False,
) -> Throttle:
    """Hold process ``pid`` to ``fraction`` of one core until the handle is released.

    Parameters
    ----------
    pid
        A running process (all its threads are throttled).
    fraction
        CPU allowed, in cores: 0.25 makes a busy single-threaded process 4x slower.
        Must be > 0; above 1 only with the cgroup method (a multi-core quota).
    method
        ``"cgroup"``, ``"duty"`` or ``"auto"`` (default: cgroup where possible).
    period
        Seconds; the CFS period (stretched so that the quota is at least 1 ms) or the
        duty-cycle period (stretched so that each run slice is at least 5 ms: a shorter
        one is lost to signal and timer latency). Default 20 ms.
    name
        Label in the group's name (default ``pid<PID>``); letters, digits, ``-_.``.
    include_children
        Also throttle the process's current descendants (e.g. a Dask nanny's worker).
        Processes forked later are throttled either way with ``"cgroup"``, never with
        ``"duty"``.

    Returns
    -------
    Throttle
        The handle; use it as a context manager or call :meth:`Throttle.release`.

    Raises
    ------
    ValueError
        ``fraction`` or ``period`` out of range, or an unknown ``method``.
    ThrottleError
        The chosen method is not available here, or the process does not exist.
    """
    if not fraction > 0 or fraction != fraction or fraction == float("inf"):
        raise ValueError(f"fraction must be a positive number of cores, not {fraction!r}")
    if not period > 0:
        raise ValueError(f"period must be positive seconds, not {period!r}")
    if method not in ("auto", "cgroup", "duty"):
        raise ValueError(f"method must be 'auto', 'cgroup' or 'duty', not {method!r}")
    if not pid_alive(pid):
        raise ThrottleError(f"cannot throttle process {pid}: no such process")
    chosen: Literal["cgroup", "duty"]
    if method == "auto":
        chosen = "cgroup" if throttle_available("cgroup") is None else "duty"
    else:
        chosen = method
    reason = throttle_available(chosen)
    if reason is not None:
        raise ThrottleError(f"cannot throttle process {pid} with {chosen!r}: {reason}")
    pids = [pid, *(_descendants(pid) if include_children else ())]
    label = _safe_label(name or f"pid{pid}")
    if chosen == "cgroup":
        handle = _apply_cgroup(pids, fraction, period, label)
    else:
        if fraction >= 1:
            raise ValueError("the duty-cycle method cannot grant more than one core")
        handle = _apply_duty(pids, fraction, max(period, _DUTY_MIN_RUN / fraction))
    with _live_lock:
        _live.add(handle)
    return handle


@contextlib.contextmanager
def throttled(
    fraction: float,
    *,
    method: Method = "auto",
    period: float = DEFAULT_PERIOD,
    name: str | None = None,
) -> Iterator[Throttle]:
    """Throttle the current process to ``fraction`` of one core inside the ``with`` block.

    Every thread of the process is throttled (Dask's event-loop thread, a progress bar);
    processes it starts inside the block inherit the cgroup.
    """
    handle = apply_cpu_quota(
        os.getpid(), fraction, method=method, period=period, name=name or "self"
    )
    try:
        yield handle
    finally:
        handle.release()


# --------------------------------------------------------------------------- cgroup v1


def _apply_cgroup(pids: list[int], fraction: float, period: float, label: str) -> Throttle:
    root = cgroup_cpu_root()
    assert root is not None  # checked by throttle_available
    global _stale_cleaned
    if not _stale_cleaned:
        _stale_cleaned = True
        cleanup_stale_groups()
    period_us = max(round(period * 1e6), math.ceil(_MIN_QUOTA_US / fraction))
    if period_us > _MAX_PERIOD_US:
        raise ValueError(f"fraction {fraction!r} is too small: the quota would be below 1 ms/s")
    quota_us = max(round(fraction * period_us), _MIN_QUOTA_US)
    path = root / GROUP_PARENT / f"{os.getpid()}-{label}-{next(_counter)}"
    try:
        path.mkdir(parents=True)
        # Order matters when shrinking: the period must be set before a quota above it.
        (path / "cpu.cfs_period_us").write_text(str(period_us))
        (path / "cpu.cfs_quota_us").write_text(str(quota_us))
    except OSError as exc:
        _remove_group(path)
        raise ThrottleError(f"cannot create cgroup {path}: {exc.strerror or exc}") from exc
    origins: dict[int, Path] = {}
    for p in pids:
        origin = _current_group(p, root)
        try:
            (path / "cgroup.procs").write_text(str(p))
        except OSError as exc:
            if p != pids[0] and not pid_alive(p):
                continue  # a child that exited meanwhile
            _empty_group(path, origins)
            _remove_group(path)
            raise ThrottleError(f"cannot move process {p} into {path}: {exc}") from exc
        origins[p] = origin
    return Throttle(
        pid=pids[0],
        fraction=fraction,
        method="cgroup",
        period=period_us / 1e6,
        path=path,
        _origins=origins,
        _pids=tuple(pids),
        _owner=os.getpid(),
    )


def _current_group(pid: int, root: Path) -> Path:
    """The folder of the ``cpu`` group ``pid`` is in now (the hierarchy root if unknown)."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return root
    for line in lines:
        _, controllers, rel = line.split(":", 2)
        if "cpu" in controllers.split(","):
            folder = root / rel.lstrip("/")
            return folder if (folder / "cgroup.procs").exists() else root
    return root


def _group_pids(path: Path) -> list[int]:
    try:
        return [int(x) for x in (path / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _empty_group(path: Path, origins: dict[int, Path]) -> None:
    """Move every process in ``path`` back where it came from (the root if unknown)."""
    root = path.parent.parent
    for _ in range(3):  # a process may fork while we move its siblings
        pids = _group_pids(path)
        if not pids:
            return
        for p in pids:
            dest = origins.get(p, root)
            try:
                (dest / "cgroup.procs").write_text(str(p))
            except OSError:
                with contextlib.suppress(OSError):
                    (root / "cgroup.procs").write_text(str(p))


def _remove_group(path: Path) -> None:
    deadline = time.monotonic() + 2.0
    while True:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as exc:  # EBUSY while an exiting process is still being reaped
            if time.monotonic() > deadline:
                raise ThrottleError(f"cannot remove cgroup {path}: {exc.strerror}") from exc
            _empty_group(path, {})
            time.sleep(0.02)


def cleanup_stale_groups() -> list[Path]:
    """Remove groups under ``edgeoffload/`` whose creating process no longer exists.

    Processes still inside a stale group are moved back to the root group. Groups of
    live processes (another experiment, a parallel test) are left alone.

    Returns
    -------
    list of Path
        The groups removed.
    """
    root = cgroup_cpu_root()
    if root is None or not (root / GROUP_PARENT).is_dir():
        return []
    removed = []
    for group in sorted((root / GROUP_PARENT).iterdir()):
        if not group.is_dir():
            continue
        owner, _, _ = group.name.partition("-")
        if owner.isdigit() and pid_alive(int(owner)):
            continue
        _empty_group(group, {})
        with contextlib.suppress(ThrottleError):
            _remove_group(group)
            removed.append(group)
    return removed


# --------------------------------------------------------------------------- duty cycle


# The helper is a tiny script run with ``python -I -c`` (no package import, so it starts
# in milliseconds): run FRACTION of each PERIOD, stop for the rest; continue the targets
# and exit on SIGTERM, when the parent that started it is gone, or when no target is left.
_DUTY_HELPER = """
import os, signal, sys, threading
fraction, period, parent = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
pids = [int(p) for p in sys.argv[4:]]
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: stop.set())
signal.signal(signal.SIGINT, lambda *a: stop.set())
def send(sig, targets):
    alive = []
    for p in targets:
        try:
            os.kill(p, sig)
            alive.append(p)
        except (ProcessLookupError, PermissionError):
            pass
    return alive
print("ready", flush=True)
try:
    while not stop.is_set() and os.getppid() == parent and pids:
        pids = send(signal.SIGCONT, pids)
        if stop.wait(fraction * period):
            break
        send(signal.SIGSTOP, pids)
        stop.wait((1.0 - fraction) * period)
finally:
    send(signal.SIGCONT, pids)
"""


def _apply_duty(pids: list[int], fraction: float, period: float) -> Throttle:
    cmd = [sys.executable, "-I", "-c", _DUTY_HELPER, str(fraction), str(period)]
    cmd += [str(os.getpid()), *map(str, pids)]
    helper = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert helper.stdout is not None
    if helper.stdout.readline().strip() != b"ready":
        helper.kill()
        helper.wait()
        _continue(pids)
        raise ThrottleError(f"the duty-cycle helper for process {pids[0]} did not start")
    return Throttle(
        pid=pids[0],
        fraction=fraction,
        method="duty",
        period=period,
        _helper=helper,
        _pids=tuple(pids),
        _owner=os.getpid(),
    )


def _continue(pids: Iterable[int]) -> None:
    for p in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p, signal.SIGCONT)


def _stop_duty_helper(helper: subprocess.Popen[bytes] | None, pids: Iterable[int]) -> None:
    if helper is not None and helper.poll() is None:
        helper.terminate()  # the helper continues the targets on SIGTERM
        try:
            helper.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            helper.kill()
            helper.wait()
    if helper is not None and helper.stdout is not None:
        helper.stdout.close()
    _continue(pids)  # whatever happened to the helper, never leave a target stopped


# --------------------------------------------------------------------------- calibration


def cpu_probe(n: int = 300_000) -> float:
    """Wall seconds of a fixed pure-Python CPU benchmark (about 8 ms per 100 000 here).

    Integer arithmetic in a loop: no allocation to speak of, no I/O, one thread, so the
    time scales with the CPU share the process gets.
    """
    t0 = time.perf_counter()
    acc = 0
    for i in range(n):
        acc = (acc + i * i) % 1_000_003
    elapsed = time.perf_counter() - t0
    if acc < 0:  # pragma: no cover - keeps the loop from being optimised away
        raise AssertionError
    return elapsed


@dataclass(frozen=True, slots=True)
class Calibration:
    """What a throttle really did to the probe (see :func:`measure_slowdown`).

    Attributes
    ----------
    fraction
        The quota asked for, in cores.
    method
        The throttling method used.
    slowdown
        Measured slowdown: throttled wall time / unthrottled wall time of the same probe
        (median over the repeats, each pair run back to back).
    share
        CPU seconds the throttled probe got per wall second (median): what the kernel
        enforced, ≈ ``fraction`` for a busy single thread.
    contention
        Unthrottled wall / CPU time (median): 1.0 on an idle core, more when other
        processes compete for it.
    base_wall
        Wall seconds of the unthrottled probe (median).
    """

    fraction: float
    method: str
    slowdown: float
    share: float
    contention: float
    base_wall: float

    @property
    def nominal(self) -> float:
        """The slowdown asked for, ``1 / fraction``."""
        return 1.0 / self.fraction


def _timed_probe(n: int) -> tuple[float, float]:
    c0 = time.thread_time()
    wall = cpu_probe(n)
    return wall, time.thread_time() - c0


def measure_slowdown(
    fraction: float,
    *,
    method: Method = "auto",
    period: float = DEFAULT_PERIOD,
    repeats: int = 3,
    duration: float = 0.4,
) -> Calibration:
    """Time :func:`cpu_probe` in this process unthrottled and throttled to ``fraction``.

    Each repeat runs the probe unthrottled, then throttled, back to back (a shared or
    virtual machine's speed drifts, so pairs close in time compare best); the figures
    are medians over the repeats. The throttled probe is sized to last about
    ``duration`` wall seconds, many periods, so the full quota a new group starts with
    hardly matters, and is scaled to the unthrottled probe's size. Takes about
    ``repeats * (duration + 0.1)`` seconds on an idle machine.
    """
    from statistics import median

    n = 1_000_000
    ratios, shares, contentions, walls = [], [], [], []
    used: str = method
    for _ in range(repeats):
        base_wall, base_cpu = _timed_probe(n)
        m = max(int(n * duration * fraction / base_wall), 10_000)
        with throttled(fraction, method=method, period=period, name="probe") as handle:
            used = handle.method
            _timed_probe(max(m // 10, 10_000))  # spend the first period's quota
            wall, cpu = _timed_probe(m)
        ratios.append(wall * n / m / base_wall)
        shares.append(cpu / wall)
        contentions.append(base_wall / base_cpu if base_cpu > 0 else float("nan"))
        walls.append(base_wall)
    return Calibration(
        fraction=fraction,
        method=used,
        slowdown=median(ratios),
        share=median(shares),
        contention=median(contentions),
        base_wall=median(walls),
    )


# --------------------------------------------------------------------------- helpers


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            out.append(child)
            todo.append(child)
    return out


def _safe_label(label: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in label)
    return cleaned[:40] or "group"


@atexit.register
def _release_all() -> None:
    """Release this process's live throttles at exit (never a parent's, after a fork)."""
    with _live_lock:
        mine = [h for h in _live if h._owner == os.getpid()]
    for handle in mine:
        with contextlib.suppress(ThrottleError, OSError):
            handle.release()
