"""``serve --netem``: serving across emulated hosts (root), a camera cut off mid-run, and
the command stopped with SIGTERM.

The command builds the hosts (a camera per host on Wi-Fi-like links, the edge server, a
client host), starts the scheduler and a worker per host, and serves from the client host.
While it runs, the test cuts one camera's link: that camera's frames end dropped with a
reason (or done before the cut) and the other camera keeps being served. Then a SIGTERM,
as a supervisor sends: the serving process finishes as after Ctrl-C (every arrival logged
once, the report marked interrupted), the hosts are torn down, and the exit code is 143.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from waiting import wait_until

pytestmark = pytest.mark.dask

pytest.importorskip("distributed")
pytest.importorskip("simpy")

from edgeoffload.experiments.serving import DROP_REASONS, read_frames  # noqa: E402
from edgeoffload.netem import EmulatedNetwork, check_support, list_topologies  # noqa: E402

if check_support() is not None:
    pytest.skip(f"needs network emulation: {check_support()}", allow_module_level=True)

NAME = "svtest"
TOPOLOGY = f"""\
name: {NAME}
subnet: 10.79.0.0/24
hosts:
  edge: {{address: 10.79.0.1, link: {{preset: ethernet}}}}
  cam1: {{address: 10.79.0.2, link: {{preset: wifi-ac}}}}
  cam2: {{address: 10.79.0.3, link: {{preset: wifi-ac}}}}
  client: {{address: 10.79.0.4, link: {{preset: ethernet}}}}
"""
SCENARIO = """\
format: 1
name: serve-netem
granularity: block
dhs: {delta1: 0.1, delta2: 1.0}
devices:
  - {id: cam1, preset: jetson-tx2, role: camera}
  - {id: cam2, preset: jetson-tx2, role: camera}
  - {id: edge, preset: edge-server, role: edge}
network:
  default_link: {preset: wifi-ac}
streams:
  - {name: a, model: alexnet, camera: cam1, rate: 2, start: 0, duration: 6, deadline: 1.0}
  - {name: b, model: alexnet, camera: cam2, rate: 2, start: 0.25, duration: 5.75, deadline: 1.0}
"""


def test_serve_across_emulated_hosts_with_a_camera_cut_off_then_sigterm(tmp_path: Path) -> None:
    (tmp_path / "topology.yaml").write_text(TOPOLOGY)
    (tmp_path / "scenario.yaml").write_text(SCENARIO)
    out = tmp_path / "out"
    log = tmp_path / "serve.log"
    argv = [sys.executable, "-m", "edgeoffload", "serve", "scenario.yaml"]
    argv += ["--netem", "topology.yaml", "--duration", "60", "--out", str(out)]
    argv += ["--seconds", "0.05", "--repeats", "1", "--no-links", "--no-plots", "--json"]
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            argv,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,
        )
    frames = out / "frames.jsonl"

    def logged() -> list[dict[str, Any]]:
        return read_frames(frames) if frames.exists() else []

    try:
        wait_until(lambda: len(logged()) >= 3, 150, "three frames served")
        EmulatedNetwork.attach(NAME).cut("cam2")
        cut_at = max(float(r["arrival"]) for r in logged())

        def cam2_lost_and_cam1_served() -> bool:
            records = logged()
            lost = any(r["reason"] == "worker-lost" for r in records)
            later = [r for r in records if r["camera"] == "cam1" and r["arrival"] > cut_at + 3]
            return lost and len(later) >= 3

        wait_until(cam2_lost_and_cam1_served, 60, "cam2 lost and cam1 still served")
        proc.send_signal(signal.SIGTERM)  # a supervisor stops it: all is torn down
        stdout, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 143, log.read_text()[-3000:]
    assert NAME not in {t["name"] for t in list_topologies()}  # the hosts are gone
    result = json.loads(stdout)
    assert result["interrupted"] is True and result["complete"] is True
    assert "cam2" in result["lost"]
    assert [m["event"] for m in result["membership"] if m["node"] == "cam2"][:1] == ["lost"]
    records = read_frames(frames)
    for camera in ("cam1", "cam2"):
        numbers = sorted(r["frame"] for r in records if r["camera"] == camera)
        assert numbers == list(range(len(numbers)))  # every arrival once, none lost
    assert all(r["reason"] in DROP_REASONS for r in records if r["status"] == "dropped")
    late = [r for r in records if r["camera"] == "cam2" and r["arrival"] > cut_at + 2]
    assert late and all(r["status"] == "dropped" for r in late), late
    cam1_after = [r for r in records if r["camera"] == "cam1" and r["arrival"] > cut_at + 3]
    assert sum(r["status"] == "done" for r in cam1_after) >= 2, cam1_after
