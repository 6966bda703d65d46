"""CPU throttling of processes (cgroup v1 quota and the SIGSTOP/SIGCONT fallback).

Timings on a shared machine are noisy, so the tests assert on ratios with generous
bounds: the CPU time a throttled process gets per wall second (a hard cap the kernel
enforces, whatever else runs), and the slowdown of a fixed probe relative to itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edgeoffload.runtime.host import throttle
from edgeoffload.runtime.host.throttle import (
    GROUP_PARENT,
    ThrottleError,
    apply_cpu_quota,
    cgroup_cpu_root,
    cleanup_stale_groups,
    measure_slowdown,
    throttle_available,
    throttled,
)

CGROUP_REASON = throttle_available("cgroup")
needs_cgroup = pytest.mark.skipif(
    CGROUP_REASON is not None, reason=f"cgroup v1 throttling unavailable: {CGROUP_REASON}"
)
DUTY_REASON = throttle_available("duty")
needs_duty = pytest.mark.skipif(
    DUTY_REASON is not None, reason=f"duty-cycle throttling unavailable: {DUTY_REASON}"
)

# A busy child: spins for WALL seconds of wall time, then prints CPU seconds / wall seconds.
SPIN = textwrap.dedent(
    """
    import sys, time
    ready = sys.stdin.readline()
    wall = float(sys.argv[1])
    c0, t0 = time.process_time(), time.perf_counter()
    acc = 0
    while time.perf_counter() - t0 < wall:
        for i in range(2000):
            acc = (acc + i * i) % 1000003
    print((time.process_time() - c0) / (time.perf_counter() - t0), flush=True)
    """
)


def spinner() -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SPIN, "1.5"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def cpu_share(proc: subprocess.Popen[str]) -> float:
    """Start the spinner's measurement and return the CPU share it got."""
    out, _ = proc.communicate("go\n", timeout=60)
    return float(out)


def cpu_group_of(pid: int) -> str:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "cpu" in controllers.split(","):
            return path
    return ""


def our_groups() -> set[str]:
    root = cgroup_cpu_root()
    folder = root / GROUP_PARENT if root else None
    if folder is None or not folder.is_dir():
        return set()
    return {p.name for p in folder.iterdir() if p.is_dir() and p.name.startswith(f"{os.getpid()}-")}


class TestArguments:
    @pytest.mark.parametrize("fraction", [0, -0.5, float("nan"), float("inf")])
    def test_bad_fraction(self, fraction: float) -> None:
        """A quota that is not a positive finite number of cores is refused up front."""
        with pytest.raises(ValueError, match="fraction"):
            apply_cpu_quota(os.getpid(), fraction)

    def test_bad_method(self) -> None:
        """An unknown method is named in the error."""
        with pytest.raises(ValueError, match="'warp'"):
            apply_cpu_quota(os.getpid(), 0.5, method="warp")  # type: ignore[arg-type]

    def test_missing_process(self) -> None:
        """Throttling a process that does not exist is a ThrottleError naming the pid."""
        proc = subprocess.Popen([sys.executable, "-c", "pass"])
        proc.wait()
        with pytest.raises(ThrottleError, match=str(proc.pid)):
            apply_cpu_quota(proc.pid, 0.5)

    def test_availability_is_reason_or_none(self) -> None:
        """throttle_available answers None or a one-line reason for every method."""
        for method in ("auto", "cgroup", "duty"):
            reason = throttle_available(method)  # type: ignore[arg-type]
            assert reason is None or (isinstance(reason, str) and "\n" not in reason)


@needs_cgroup
class TestCgroup:
    def test_quota_caps_cpu_share(self) -> None:
        """A busy process held to a quarter of a core gets about a quarter of a core."""
        proc = spinner()
        with apply_cpu_quota(proc.pid, 0.25, method="cgroup") as handle:
            share = cpu_share(proc)
            stats = handle.stats()
        assert 0.12 < share < 0.32
        assert stats["nr_throttled"] > 0

    def test_release_restores_group_and_removes_it(self) -> None:
        """After release the process is back in its old group and ours is gone."""
        proc = spinner()
        try:
            before = cpu_group_of(proc.pid)
            handle = apply_cpu_quota(proc.pid, 0.08, method="cgroup", name="restore")
            assert handle.path is not None and handle.path.is_dir()
            assert cpu_group_of(proc.pid) == f"/{GROUP_PARENT}/{handle.path.name}"
            period = int((handle.path / "cpu.cfs_period_us").read_text())
            quota = int((handle.path / "cpu.cfs_quota_us").read_text())
            assert quota / period == pytest.approx(0.08, rel=0.01)
            handle.release()
            handle.release()  # idempotent
            assert cpu_group_of(proc.pid) == before
            assert not handle.path.exists()
            # no longer capped at 0.08 (a busy shared machine may not give it a whole core)
            assert cpu_share(proc) > 0.15
        finally:
            proc.kill()
            proc.wait()

    def test_tiny_quota_stretches_period(self) -> None:
        """A quota below the kernel's 1 ms minimum per period lengthens the period instead."""
        proc = spinner()
        try:
            with apply_cpu_quota(proc.pid, 0.02, method="cgroup", period=0.02) as handle:
                assert handle.path is not None
                quota = int((handle.path / "cpu.cfs_quota_us").read_text())
                period = int((handle.path / "cpu.cfs_period_us").read_text())
                assert quota >= 1000
                assert quota / period == pytest.approx(0.02, rel=0.01)
        finally:
            proc.kill()
            proc.wait()

    def test_children_forked_later_are_throttled(self) -> None:
        """A process started by a throttled process is born in the same group."""
        code = "import subprocess, sys; sys.stdin.readline(); " + (
            "subprocess.run([sys.executable, '-c', "
            "'import pathlib; print(pathlib.Path(\"/proc/self/cgroup\").read_text())'])"
        )
        parent = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        with apply_cpu_quota(parent.pid, 0.5, method="cgroup") as handle:
            out, _ = parent.communicate("go\n", timeout=60)
            assert handle.path is not None
            assert f"/{GROUP_PARENT}/{handle.path.name}" in out

    def test_include_children(self) -> None:
        """include_children also moves the descendants that exist already."""
        code = "import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', " + (
            "'import time; time.sleep(30)']); print(p.pid, flush=True); time.sleep(30)"
        )
        parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        try:
            assert parent.stdout is not None
            child = int(parent.stdout.readline())
            with apply_cpu_quota(parent.pid, 0.5, method="cgroup", include_children=True) as h:
                assert h.path is not None
                assert cpu_group_of(child) == f"/{GROUP_PARENT}/{h.path.name}"
            assert GROUP_PARENT not in cpu_group_of(child)
            os.kill(child, 9)
        finally:
            parent.kill()
            parent.wait()

    def test_current_process(self) -> None:
        """throttled() holds this process inside the block and lets it go afterwards."""
        with throttled(0.8, method="cgroup") as handle:
            assert handle.pid == os.getpid()
            assert cpu_group_of(os.getpid()).startswith(f"/{GROUP_PARENT}/")
        assert GROUP_PARENT not in cpu_group_of(os.getpid())
        assert handle.path is not None and not handle.path.exists()

    def test_probe_slowdown_matches_quota(self) -> None:
        """The calibration probe runs about 1/fraction times slower under the quota."""
        cal = measure_slowdown(0.25, method="cgroup", repeats=3)
        assert cal.method == "cgroup"
        assert cal.nominal == 4.0
        assert 0.15 < cal.share < 0.32  # the kernel's cap, robust to other load
        # Wall time stretches by ~4x over an idle machine's; other load stretches the
        # unthrottled run too (contention = its wall / CPU time), so compare against that.
        assert 2.0 < cal.slowdown * max(1.0, cal.contention) < 8.0

    def test_group_removed_when_owner_exits_without_release(self) -> None:
        """A process that exits while throttled leaves no group behind (atexit)."""
        code = (
            "import os; from edgeoffload.runtime.host.throttle import apply_cpu_quota; "
            "h = apply_cpu_quota(os.getpid(), 0.5, method='cgroup'); print(h.path.name)"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
        )
        root = cgroup_cpu_root()
        assert root is not None
        assert not (root / GROUP_PARENT / done.stdout.strip()).exists()

    def test_stale_groups_are_removed_live_ones_kept(self) -> None:
        """Groups whose creator is dead are removed; groups of live processes stay."""
        root = cgroup_cpu_root()
        assert root is not None
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        stale = root / GROUP_PARENT / f"{dead.pid}-stale-1"
        stale.mkdir(parents=True, exist_ok=True)
        with throttled(0.9, method="cgroup", name="live") as handle:
            removed = cleanup_stale_groups()
            assert stale in removed
            assert not stale.exists()
            assert handle.path is not None and handle.path.exists()

    def test_no_group_left_behind(self) -> None:
        """Every test above cleaned up after itself."""
        assert our_groups() == set()


@needs_duty
class TestDutyCycle:
    def test_duty_cycle_caps_cpu_share(self) -> None:
        """The SIGSTOP/SIGCONT fallback also holds a busy process to about its fraction."""
        proc = spinner()
        with apply_cpu_quota(proc.pid, 0.25, method="duty", period=0.04) as handle:
            assert handle.method == "duty"
            share = cpu_share(proc)
        assert 0.1 < share < 0.4

    def test_release_continues_the_process(self) -> None:
        """Releasing a duty cycle never leaves the process stopped."""
        proc = spinner()
        try:
            handle = apply_cpu_quota(proc.pid, 0.08, method="duty", period=0.05)
            handle.release()
            state = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            assert state != "T"
            assert cpu_share(proc) > 0.15  # no longer held to 0.08
        finally:
            proc.kill()
            proc.wait()

    def test_helper_exits_with_target(self) -> None:
        """The helper stops by itself when its target has exited."""
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
        handle = apply_cpu_quota(proc.pid, 0.5, method="duty", period=0.02)
        proc.wait(timeout=30)
        assert handle._helper is not None
        handle._helper.wait(timeout=10)
        handle.release()


def test_module_docstring_documents_the_api() -> None:
    """The module docstring names every public function (the runtime's contract)."""
    doc = throttle.__doc__ or ""
    for name in ("throttle_available", "apply_cpu_quota", "release", "throttled",
                 "cleanup_stale_groups", "measure_slowdown"):  # fmt: skip
        assert name in doc
