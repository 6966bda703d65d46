"""The DHS paper's camera cluster serving frames live, from Python.

Starts a local cluster whose workers stand for the paper's devices (a Raspberry Pi, three
Jetson TX2, an edge server: CPU quotas in the ratio of their speeds), calibrates it, and
serves the ``camera-serve`` scenario for 12 s: steady AlexNet frames on the TX2s for 10 s
(DHS picks HEFT), then the Pi hot with ResNet-50 (CPOP). Then it checks what the frame log
says: every frame that arrived ended once, done or dropped with a reason.

Run: ``python examples/09_serve_camera_cluster.py`` (about 25 s; files go to
``results/serve-example``, or to ``$EDGEOFFLOAD_EXAMPLE_OUT``). The same with real PyTorch
inference: ``serve(..., torch=True)`` (the ``dnn`` extra); across emulated Wi-Fi hosts
(root): ``edgeoffload serve --netem deploy/netem/camera-serve.yaml``.
"""

from __future__ import annotations

import os
from pathlib import Path

from edgeoffload.experiments.serving import read_frames, serve

out = Path(os.environ.get("EDGEOFFLOAD_EXAMPLE_OUT", "results")) / "serve-example"
result = serve(
    "camera-serve",
    duration=12,
    out=out,
    # a quick calibration: node speeds only, no link measurements (16 s on the emulated
    # Pi); the cost model learns the links from the first frames' transfers
    calibration_options={"seconds": 0.05, "repeats": 1, "links": False, "client_links": False},
)
s = result.summary
frames = read_frames(out / "frames.jsonl")
print(f"{s['frames']} frames: {s['done']} done, dropped {s['dropped'] or 'none'}")
print(f"latency p50 {s['latency']['p50']:.3f} s, p99 {s['latency']['p99']:.3f} s")
print(f"prediction error (median): {s['prediction_error']['all']:.0%}")
print("switches:", ", ".join(f"{w['time']:.1f} s {w['to']} ({w['load']})" for w in result.switches))
print("figures:", ", ".join(sorted(k for k in result.files if k not in ("frames", "summary"))))

# what the log promises: every arrival once, numbered 0, 1, 2, ... per camera
assert s["complete"]
assert len(frames) == s["frames"]
assert all(f["status"] == "done" or f["reason"] for f in frames)
assert [w["to"] for w in result.switches][:2] == ["heft", "cpop"]
