"""The CPU a process may use: cgroup quotas (fixture files), affinity, a real quota."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeoffload.runtime.host.cpu import CpuCapacity, cpu_capacity
from edgeoffload.runtime.host.throttle import apply_cpu_quota, throttle_available

V2_MOUNT = "41 23 0:38 {root} /sys/fs/cgroup rw,relatime shared:9 - cgroup2 cgroup2 rw"
V1_MOUNT = "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct"
OTHER_MOUNTS = [
    "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw",
    "31 23 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
]


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """8 CPUs, all in the affinity mask: the cgroup files decide."""
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)


def fake_root(
    tmp_path: Path,
    cgroup: str,
    mounts: list[str] | None,
    files: dict[str, str],
) -> Path:
    """A file system root with /proc/self/{cgroup,mountinfo} and the given control files."""
    proc = tmp_path / "proc" / "self"
    proc.mkdir(parents=True)
    (proc / "cgroup").write_text(cgroup)
    if mounts is not None:
        (proc / "mountinfo").write_text("\n".join([*OTHER_MOUNTS, *mounts]) + "\n")
    for name, text in files.items():
        path = tmp_path / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


@pytest.mark.usefixtures("machine")
class TestCgroupFiles:
    def test_v2_quota_of_an_ancestor_applies(self, tmp_path: Path) -> None:
        root = fake_root(
            tmp_path,
            "0::/user.slice/app.scope\n",
            [V2_MOUNT.format(root="/")],
            {
                "sys/fs/cgroup/user.slice/cpu.max": "50000 100000\n",
                "sys/fs/cgroup/user.slice/app.scope/cpu.max": "max 100000\n",
            },
        )
        assert cpu_capacity(root=root) == CpuCapacity(
            0.5, "cgroup cpu.max 50000/100000 = 0.5 core in /user.slice"
        )

    def test_the_smallest_quota_wins(self, tmp_path: Path) -> None:
        root = fake_root(
            tmp_path,
            "0::/a/b\n",
            [V2_MOUNT.format(root="/")],
            {
                "sys/fs/cgroup/a/cpu.max": "200000 100000\n",  # two cores for the parent
                "sys/fs/cgroup/a/b/cpu.max": "25000 100000\n",
            },
        )
        capacity = cpu_capacity(root=root)
        assert capacity.cores == 0.25
        assert capacity.source == "cgroup cpu.max 25000/100000 = 0.25 core in /a/b"

    def test_v1_cfs_quota(self, tmp_path: Path) -> None:
        """The hierarchy throttle.apply_cpu_quota uses: cpu.cfs_quota_us / cpu.cfs_period_us."""
        root = fake_root(
            tmp_path,
            "5:memory:/\n4:cpu,cpuacct:/edgeoffload/12-client-1\n0::/\n",
            [V1_MOUNT, V2_MOUNT.format(root="/")],
            {
                "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
                "sys/fs/cgroup/cpu,cpuacct/edgeoffload/cpu.cfs_quota_us": "-1\n",
                "sys/fs/cgroup/cpu,cpuacct/edgeoffload/12-client-1/cpu.cfs_quota_us": "5000\n",
                "sys/fs/cgroup/cpu,cpuacct/edgeoffload/12-client-1/cpu.cfs_period_us": "20000\n",
            },
        )
        assert cpu_capacity(root=root) == CpuCapacity(
            0.25,
            "cgroup v1 cpu.cfs_quota_us/cpu.cfs_period_us 5000/20000 = 0.25 core "
            "in /edgeoffload/12-client-1",
        )

    def test_a_container_sees_its_own_group_at_the_mount_point(self, tmp_path: Path) -> None:
        """Mounted from /docker/abc (mountinfo's root field): its cpu.max is the mount's."""
        root = fake_root(
            tmp_path,
            "0::/docker/abc\n",
            [V2_MOUNT.format(root="/docker/abc")],
            {"sys/fs/cgroup/cpu.max": "150000 100000\n"},
        )
        assert cpu_capacity(root=root) == CpuCapacity(
            1.5, "cgroup cpu.max 150000/100000 = 1.5 cores in /docker/abc"
        )

    def test_no_quota_leaves_the_affinity_mask(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5}, raising=False)
        root = fake_root(
            tmp_path,
            "0::/user.slice\n",
            [V2_MOUNT.format(root="/")],
            {"sys/fs/cgroup/user.slice/cpu.max": "max 100000\n"},
        )
        assert cpu_capacity(root=root) == CpuCapacity(3.0, "3 CPUs in its affinity mask")

    def test_nothing_but_the_machine(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delattr(os, "sched_getaffinity", raising=False)
        root = fake_root(tmp_path, "0::/\n", [V2_MOUNT.format(root="/")], {})
        assert cpu_capacity(root=root) == CpuCapacity(8.0, "8 CPUs on the machine")


@pytest.mark.usefixtures("machine")
class TestOddFiles:
    """Odd files never raise: the limit is skipped and the source says why."""

    def test_malformed_cpu_max(self, tmp_path: Path) -> None:
        folder = "sys/fs/cgroup/app"
        root = fake_root(
            tmp_path,
            "0::/app\n",
            [V2_MOUNT.format(root="/")],
            {f"{folder}/cpu.max": "lots\n", "sys/fs/cgroup/cpu.max": "0 100000\n"},
        )
        capacity = cpu_capacity(root=root)
        assert capacity.cores == 8.0
        assert capacity.source == (
            f"8 CPUs in its affinity mask (ignored {root / folder / 'cpu.max'}: 'lots' is not "
            f"'<quota> <period>'; ignored {root / 'sys/fs/cgroup/cpu.max'}: '0 100000' is not "
            "'<quota> <period>')"
        )

    def test_malformed_v1_quota_and_a_garbled_cgroup_line(self, tmp_path: Path) -> None:
        root = fake_root(
            tmp_path,
            "garbage\n4:cpu,cpuacct:/g\n",
            [V1_MOUNT],
            {
                "sys/fs/cgroup/cpu,cpuacct/g/cpu.cfs_quota_us": "soon\n",
                "sys/fs/cgroup/cpu,cpuacct/g/cpu.cfs_period_us": "100000\n",
            },
        )
        capacity = cpu_capacity(root=root)
        assert capacity.cores == 8.0
        assert "ignored line 'garbage'" in capacity.source
        assert "quota 'soon' / period '100000' are not whole microseconds" in capacity.source

    def test_unreadable_control_file(self, tmp_path: Path) -> None:
        root = fake_root(tmp_path, "0::/app\n", [V2_MOUNT.format(root="/")], {})
        (root / "sys/fs/cgroup/app/cpu.max").mkdir(parents=True)  # a folder: cannot be read
        capacity = cpu_capacity(root=root)
        assert capacity.cores == 8.0
        assert f"cannot read {root / 'sys/fs/cgroup/app/cpu.max'}" in capacity.source

    def test_missing_group_folder_reads_its_ancestors(self, tmp_path: Path) -> None:
        root = fake_root(
            tmp_path,
            "0::/gone/away\n",
            [V2_MOUNT.format(root="/")],
            {"sys/fs/cgroup/cpu.max": "50000 100000\n"},
        )
        capacity = cpu_capacity(root=root)
        assert capacity.cores == 0.5
        assert capacity.source.startswith("cgroup cpu.max 50000/100000 = 0.5 core in / (no folder")

    def test_no_mountinfo(self, tmp_path: Path) -> None:
        root = fake_root(tmp_path, "0::/app\n", None, {"sys/fs/cgroup/app/cpu.max": "1 2\n"})
        capacity = cpu_capacity(root=root)
        assert capacity.cores == 8.0
        assert "cgroup mounts unknown: cannot read" in capacity.source

    def test_no_such_process(self, tmp_path: Path) -> None:
        capacity = cpu_capacity(2**22 + 1, root=tmp_path)  # above any pid_max
        assert capacity.cores == 8.0  # the affinity mask is faked; the count is the machine's
        assert f"cannot read {tmp_path}/proc/{2**22 + 1}/cgroup" in capacity.source

    def test_nothing_readable_assumes_one_core(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delattr(os, "sched_getaffinity", raising=False)
        monkeypatch.setattr(os, "cpu_count", lambda: None)
        assert cpu_capacity(root=tmp_path) == CpuCapacity(
            1.0,
            f"assumed 1 core (cgroup unknown: cannot read {tmp_path}/proc/self/cgroup "
            "(No such file or directory); os.cpu_count() does not know)",
        )


# --------------------------------------------------------------------------- real processes

needs_affinity = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity"), reason="no sched_setaffinity on this platform"
)
CGROUP_REASON = throttle_available("cgroup")
DUTY_REASON = throttle_available("duty")

# A child that imports the reader, says so, waits for a line, then reports from inside.
REPORT = textwrap.dedent(
    """
    import sys
    from edgeoffload.runtime.host.cpu import cpu_capacity
    print("ready", flush=True)
    sys.stdin.readline()
    capacity = cpu_capacity()
    print(capacity.cores, flush=True)
    print(capacity.source, flush=True)
    """
)


@pytest.fixture
def child() -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", REPORT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def report(proc: subprocess.Popen[str]) -> tuple[float, str]:
    out, _ = proc.communicate("go\n", timeout=60)
    cores, source = out.splitlines()
    return float(cores), source


@needs_affinity
def test_a_child_pinned_to_one_cpu(child: subprocess.Popen[str]) -> None:
    os.sched_setaffinity(child.pid, {min(os.sched_getaffinity(0))})
    ours = cpu_capacity()
    assert cpu_capacity(child.pid).cores == min(1.0, ours.cores)
    cores, source = report(child)
    assert cores == min(1.0, ours.cores)
    if ours.cores >= 1:
        assert source == "1 CPU in its affinity mask"


@pytest.mark.skipif(CGROUP_REASON is not None, reason=f"cannot make a cgroup: {CGROUP_REASON}")
def test_a_real_quota_is_seen_from_inside(child: subprocess.Popen[str]) -> None:
    """apply_cpu_quota's cgroup (v1 cpu.cfs_quota_us here) holds the child to 0.25 core."""
    with apply_cpu_quota(child.pid, 0.25, method="cgroup", name="cpu-capacity") as handle:
        assert handle.path is not None
        cores, source = report(child)
    assert cores == 0.25
    assert "= 0.25 core in /" in source
    assert source.endswith(handle.path.name)


@pytest.mark.skipif(DUTY_REASON is not None, reason=f"no duty cycle: {DUTY_REASON}")
def test_a_duty_cycle_is_invisible(child: subprocess.Popen[str]) -> None:
    """SIGSTOP/SIGCONT writes no file: whoever applies it must pass the fraction on."""
    before = cpu_capacity(child.pid)
    with apply_cpu_quota(child.pid, 0.25, method="duty", name="cpu-capacity"):
        assert cpu_capacity(child.pid) == before
