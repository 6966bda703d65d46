"""How much CPU a process may use: its cgroup quota, its affinity mask, the machine.

The decision engine compares the client's speed with the workers' by a probe benchmark
of a few milliseconds. A CFS quota does not show in so short a run: the kernel lets a
throttled group run at full speed until the period's budget is spent, so a client held
to a quarter of a core probes 1.05–1.9 times slower, not 4 times. :func:`cpu_capacity`
reads the limits instead, the smallest of:

- the **cgroup v2** ``cpu.max`` (``"<quota> <period>"`` or ``"max <period>"``) of the
  process's group and of every ancestor up to the hierarchy's mount point: a quota
  anywhere above applies too, so the smallest wins;
- the **cgroup v1** ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` of its group in the
  hierarchy holding the ``cpu`` controller, and its ancestors (``-1``: no quota);
- the CPUs in its **affinity mask** (``os.sched_getaffinity``);
- the CPUs of the **machine** (``os.cpu_count``).

The groups are found from ``/proc/<pid>/cgroup`` and the mount points from
``/proc/self/mountinfo`` (whose ``root`` field maps a group's path inside a container to
the folder it is mounted as). Nothing here raises on an odd or missing file: that limit
is skipped and the result's :attr:`CpuCapacity.source` says so.

What it cannot see: a quota enforced from outside the process's view, such as the
``SIGSTOP``/``SIGCONT`` duty cycle of :func:`edgeoffload.runtime.host.throttle.apply_cpu_quota`
(``method="duty"``), which writes no file; whoever applies it must pass the fraction on.

Examples
--------
>>> from edgeoffload.runtime.host.cpu import cpu_capacity
>>> capacity = cpu_capacity()
>>> capacity.cores > 0
True
>>> print(capacity.source)  # doctest: +SKIP
cgroup v1 cpu.cfs_quota_us/cpu.cfs_period_us 5000/20000 = 0.25 core in /edgeoffload/812-client-1
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CpuCapacity", "cpu_capacity"]


@dataclass(frozen=True, slots=True)
class CpuCapacity:
    """The CPU a process may use.

    Attributes
    ----------
    cores
        Cores' worth of CPU time per wall second the process may use (0.25: a quarter of
        one core; 3: three cores).
    source
        One line saying which limit gave :attr:`cores`, and any file that could not be
        read or understood.
    """

    cores: float
    source: str


@dataclass(frozen=True, slots=True)
class _Mount:
    fstype: str  # "cgroup2" or "cgroup"
    root: str  # the folder of the hierarchy mounted, as /proc/<pid>/cgroup names it
    point: Path  # where it is mounted (under the reader's root)
    options: frozenset[str]  # super options: the v1 controllers


def cpu_capacity(pid: int | None = None, *, root: str | os.PathLike[str] = "/") -> CpuCapacity:
    """The CPU process ``pid`` (default: this one) may use, and where that comes from.

    Parameters
    ----------
    pid
        The process; ``None`` for the calling process.
    root
        The file system root under which ``proc/`` and the cgroup mounts are read (tests
        point it at a folder of fixture files). The affinity mask and the machine's CPU
        count always come from the running system.

    Returns
    -------
    CpuCapacity
        The smallest of the cgroup quotas (v2 and v1, the process's group and its
        ancestors), the affinity mask's CPUs and the machine's CPUs; 1 core if none of
        them could be read.
    """
    notes: list[str] = []
    limits = _cgroup_limits(pid, Path(root), notes)
    if hasattr(os, "sched_getaffinity"):
        try:
            n = len(os.sched_getaffinity(pid or 0))
        except OSError as exc:
            notes.append(f"affinity mask unreadable: {exc.strerror or exc}")
        else:
            if n > 0:
                limits.append((float(n), f"{n} CPU{'s' if n != 1 else ''} in its affinity mask"))
    count = os.cpu_count()
    if count:
        limits.append((float(count), f"{count} CPU{'s' if count != 1 else ''} on the machine"))
    else:
        notes.append("os.cpu_count() does not know")
    if limits:
        cores, source = min(limits, key=lambda limit: limit[0])
    else:
        cores, source = 1.0, "assumed 1 core"
    return CpuCapacity(cores, source + (f" ({'; '.join(notes)})" if notes else ""))


def _cgroup_limits(pid: int | None, root: Path, notes: list[str]) -> list[tuple[float, str]]:
    """Every CPU quota on the process's groups and their ancestors, as (cores, source)."""
    cgroup_file = root / "proc" / (str(pid) if pid else "self") / "cgroup"
    try:
        lines = cgroup_file.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        notes.append(f"cgroup unknown: cannot read {cgroup_file} ({_why(exc)})")
        return []
    v2: str | None = None
    v1: str | None = None
    for line in lines:
        fields = line.split(":", 2)
        if len(fields) != 3 or not fields[2].startswith("/"):
            if line.strip():
                notes.append(f"ignored line {line!r} of {cgroup_file}")
            continue
        hierarchy, controllers, path = fields
        path = path.removesuffix(" (deleted)")
        if hierarchy == "0" and controllers == "":
            v2 = path
        elif "cpu" in controllers.split(","):
            v1 = path
    if v2 is None and v1 is None:
        return []
    mounts = _cgroup_mounts(root, notes)
    out: list[tuple[float, str]] = []
    for mount in mounts:
        if mount.fstype == "cgroup2" and v2 is not None:
            out += _limits_v2(mount, v2, notes)
        elif mount.fstype == "cgroup" and "cpu" in mount.options and v1 is not None:
            out += _limits_v1(mount, v1, notes)
    return out


def _cgroup_mounts(root: Path, notes: list[str]) -> list[_Mount]:
    """The cgroup hierarchies mounted, from ``/proc/self/mountinfo``."""
    mountinfo = root / "proc" / "self" / "mountinfo"
    try:
        lines = mountinfo.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        notes.append(f"cgroup mounts unknown: cannot read {mountinfo} ({_why(exc)})")
        return []
    out = []
    for line in lines:
        # id parent major:minor root mount-point options [optional...] - fstype source super
        fields = line.split()
        if "-" not in fields[6:]:
            continue
        dash = fields.index("-", 6)
        if len(fields) < dash + 2 or fields[dash + 1] not in ("cgroup", "cgroup2"):
            continue
        options = fields[dash + 3] if len(fields) > dash + 3 else ""
        point = root / _unescape(fields[4]).lstrip("/")
        out.append(
            _Mount(fields[dash + 1], _unescape(fields[3]), point, frozenset(options.split(",")))
        )
    return out


def _groups(mount: _Mount, path: str, notes: list[str]) -> Iterator[tuple[Path, str]]:
    """The folder of group ``path`` in ``mount`` and of each ancestor up to the mount point,
    with the group's name as the process sees it."""
    mount_root = mount.root.rstrip("/")
    if path != mount_root and not path.startswith(mount_root + "/"):
        notes.append(f"group {path} is outside {mount.point} (mounted from {mount.root})")
        return
    relative = path[len(mount_root) :].strip("/")
    folder = mount.point / relative if relative else mount.point
    while folder != mount.point and not folder.is_dir():
        notes.append(f"no folder {folder}")
        folder = folder.parent
    while True:
        inside = folder.relative_to(mount.point).as_posix()
        yield folder, (mount_root + "/" + inside if inside != "." else mount_root) or "/"
        if folder == mount.point:
            return
        folder = folder.parent


def _limits_v2(mount: _Mount, path: str, notes: list[str]) -> list[tuple[float, str]]:
    out = []
    for folder, group in _groups(mount, path, notes):
        text = _read(folder / "cpu.max", notes)
        if text is None:
            continue
        fields = text.split()
        if len(fields) == 2 and fields[0] == "max" and fields[1].isdigit():
            continue  # no quota at this level
        if len(fields) != 2 or not all(f.isdigit() and int(f) > 0 for f in fields):
            notes.append(f"ignored {folder / 'cpu.max'}: {text!r} is not '<quota> <period>'")
            continue
        quota, period = int(fields[0]), int(fields[1])
        cores = quota / period
        out.append((cores, f"cgroup cpu.max {quota}/{period} = {_cores(cores)} in {group}"))
    return out


def _limits_v1(mount: _Mount, path: str, notes: list[str]) -> list[tuple[float, str]]:
    out = []
    for folder, group in _groups(mount, path, notes):
        quota_text = _read(folder / "cpu.cfs_quota_us", notes)
        if quota_text is None or quota_text == "-1":
            continue
        period_text = _read(folder / "cpu.cfs_period_us", notes)
        if period_text is None:
            continue
        if not all(t.isdigit() and int(t) > 0 for t in (quota_text, period_text)):
            notes.append(
                f"ignored {folder}: quota {quota_text!r} / period {period_text!r} "
                "are not whole microseconds"
            )
            continue
        quota, period = int(quota_text), int(period_text)
        cores = quota / period
        out.append(
            (
                cores,
                f"cgroup v1 cpu.cfs_quota_us/cpu.cfs_period_us {quota}/{period} = "
                f"{_cores(cores)} in {group}",
            )
        )
    return out


def _read(path: Path, notes: list[str]) -> str | None:
    """The stripped text of a control file; ``None`` if absent (no limit there) or odd."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        notes.append(f"cannot read {path} ({_why(exc)})")
        return None


def _why(exc: Exception) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or type(exc).__name__


def _unescape(field: str) -> str:
    """A mountinfo path field, with its octal escapes (``\\040`` for a space) decoded."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field)


def _cores(cores: float) -> str:
    return f"{cores:.3g} core{'s' if cores > 1 else ''}"
