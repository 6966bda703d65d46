"""``serve --netem``: serving across emulated hosts (root), and a camera cut off mid-run.

The command builds the hosts (a camera per host on Wi-Fi-like links, the edge server, a
client host), starts the scheduler and a worker per host, and serves from the client host.
While it runs, the test cuts one camera's link: that camera's frames end dropped with a
reason (or done before the cut), the other camera keeps being served, every arrival is
logged once, and the command exits 0 in bounded time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from waiting import wait_until

pytestmark = pytest.mark.dask

pytest.importorskip("distributed")
pytest.importorskip("simpy")

from edgeoffload.experiments.serving import DROP_REASONS, read_frames  # noqa: E402
from edgeoffload.netem import EmulatedNetwork, check_support  # noqa: E402

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


def test_serve_across_emulated_hosts_with_a_camera_cut_off(tmp_path: Path) -> None:
    (tmp_path / "topology.yaml").write_text(TOPOLOGY)
    (tmp_path / "scenario.yaml").write_text(SCENARIO)
    out = tmp_path / "out"
    log = tmp_path / "serve.log"
    argv = [sys.executable, "-m", "edgeoffload", "serve", "scenario.yaml"]
    argv += ["--netem", "topology.yaml", "--duration", "6", "--out", str(out)]
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
    try:
        frames = out / "frames.jsonl"

        def served(n: int) -> bool:
            return frames.exists() and len(frames.read_text().splitlines()) >= n

        wait_until(lambda: served(3), 150, "three frames served")
        EmulatedNetwork.attach(NAME).cut("cam2")
        stdout, _ = proc.communicate(timeout=60)  # 6 s of frames, then at most the grace
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, log.read_text()[-3000:]
    result = json.loads(stdout)
    print(json.dumps({k: result[k] for k in ("membership", "lost", "learned", "dropped")}))
    assert "cam2" in result["lost"]
    assert [m["event"] for m in result["membership"] if m["node"] == "cam2"][:1] == ["lost"]
    records = read_frames(frames)
    for camera, count in (("cam1", 12), ("cam2", 12)):
        numbers = sorted(r["frame"] for r in records if r["camera"] == camera)
        assert numbers == list(range(count))  # every arrival once, none lost
    assert all(r["reason"] in DROP_REASONS for r in records if r["status"] == "dropped")
    cam1_done = [r for r in records if r["camera"] == "cam1" and r["status"] == "done"]
    assert len(cam1_done) >= 7, records  # the other camera is still served
    cut_at = max(r["arrival"] for r in records[:3])
    late = [r for r in records if r["camera"] == "cam2" and r["arrival"] > cut_at + 2]
    assert late and all(r["status"] == "dropped" for r in late), late
    assert result["complete"] is True
