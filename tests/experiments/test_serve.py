"""``serve`` on real worker processes (loopback): every frame accounted for, DHS switching
as the load turns heavy, the report and the metrics endpoint, admission control, the
shutdown, and a worker killed mid-run.

One embedded cluster of three workers (``cam1``, ``cam2``, ``edge``; the cameras throttled),
calibrated once, serves the module; the test that kills a worker runs last.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cases import SERVE_SCENARIO as SCENARIO
from waiting import wait_until

pytestmark = pytest.mark.dask

pytest.importorskip("distributed")
pytest.importorskip("simpy")

from edgeoffload.experiments.serving import (  # noqa: E402
    DROP_REASONS,
    FRAME_KEYS,
    ServeResult,
    read_frames,
    serve,
)
from edgeoffload.experiments.serving.sources import arrivals  # noqa: E402
from edgeoffload.workloads.scenarios import load_scenario  # noqa: E402

DURATION = 6.0


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("serve") / "serve-test.yaml"
    path.write_text(SCENARIO)
    return load_scenario(path)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edgeoffload.runtime.wire.security import make_certificates

    folder = tmp_path_factory.mktemp("certs")
    make_certificates(folder)
    return folder


@pytest.fixture(scope="module")
def local(scenario: Any, certs: Path) -> Iterator[Any]:
    """The cluster: the cameras held to 0.4 of a core, so that the edge server is the
    fastest node, as it should be; its certificates on disk, so that workers can join."""
    from edgeoffload.runtime import LocalCluster, WorkerSpec

    specs = [
        WorkerSpec(n.id, role=n.role, cpu_quota=None if n.role == "edge" else 0.4)
        for n in scenario.cluster.nodes
    ]
    with LocalCluster(specs, tls=certs) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def session(local: Any, certs: Path, scenario: Any) -> Iterator[Any]:
    from edgeoffload.runtime import connect

    with connect(local.address, security=certs, wait_for_workers=3, timeout=90) as s:
        yield s


@pytest.fixture(scope="module")
def calibrated(session: Any, scenario: Any) -> Any:
    from edgeoffload.runtime.client.calibration import calibrate_cluster

    return calibrate_cluster(
        session,
        nodes=list(scenario.cluster.node_ids),
        base=scenario.cluster,
        kinds=["conv", "fc", "pool"],
        seconds=0.05,
        repeats=1,
        links=False,
    ).cluster


@pytest.fixture(scope="module")
def served(
    session: Any, calibrated: Any, scenario: Any, tmp_path_factory: pytest.TempPathFactory
) -> tuple[ServeResult, Path, list[str], int]:
    """One DHS run with the metrics endpoint on; the endpoint is read while it runs."""
    out = tmp_path_factory.mktemp("served")
    scraped: list[str] = []
    service: dict[str, Any] = {}

    def tick(snapshot: dict[str, Any]) -> None:
        if snapshot["time"] > 4.0 and not scraped:
            url = f"http://127.0.0.1:{service['port']}/metrics"
            with urllib.request.urlopen(url, timeout=5) as reply:
                scraped.append(reply.read().decode())

    result = serve(
        scenario,
        duration=DURATION,
        out=out,
        session=session,
        cluster=calibrated,
        metrics_port=0,
        on_tick=tick,
        on_start=lambda s: service.update(port=s.metrics.port, host=s.metrics.host),
    )
    assert service["host"] == "127.0.0.1"
    return result, out, scraped, service["port"]


def test_every_frame_ends_done_or_dropped_with_a_reason(served, scenario) -> None:
    result, out, _, _ = served
    frames = read_frames(out / "frames.jsonl")
    assert all(set(FRAME_KEYS) <= set(f) for f in frames)
    assert_accounted(frames, scenario, DURATION)
    for f in frames:
        if f["status"] == "done":
            assert f["reason"] is None and f["latency"] > 0 and f["predicted_latency"] > 0
            assert f["scheduler"] in ("heft", "cpop", "peft")
            assert set(f["busy"]) <= set(f["nodes"])
    s = result.summary
    assert s["done"] + sum(s["dropped"].values()) == s["frames"] == len(frames)
    assert s["done"] >= 0.8 * s["frames"]
    assert result.shutdown_seconds < 10


def assert_accounted(frames: list[dict[str, Any]], scenario: Any, duration: float) -> None:
    """Every arrival is in the log exactly once, numbered 0, 1, 2, ... per camera, and
    ended done or dropped with a known reason."""
    expected: dict[str, int] = {}
    for at, stream in arrivals(scenario.streams, scenario.seed):
        if at >= duration:
            break
        expected[stream.camera] = expected.get(stream.camera, 0) + 1
    by_camera: dict[str, list[int]] = {}
    for f in frames:
        by_camera.setdefault(f["camera"], []).append(f["frame"])
        assert f["status"] in ("done", "dropped")
        assert (f["status"] == "dropped") == (f["reason"] in DROP_REASONS)
    assert {c: sorted(n) for c, n in by_camera.items()} == {
        c: list(range(k)) for c, k in expected.items()
    }


def test_dhs_switches_to_peft_when_the_load_turns_heavy(served) -> None:
    result, out, _, _ = served
    assert [(w["from"], w["to"]) for w in result.switches][:2] == [(None, "heft"), ("heft", "peft")]
    switch = result.switches[1]
    assert 2.9 <= switch["time"] <= 3.6 and switch["load"].endswith("H")
    frames = read_frames(out / "frames.jsonl")
    placed = {(f["arrival"] < 2.9, f["scheduler"]) for f in frames if f["status"] == "done"}
    assert (True, "heft") in placed and (False, "peft") in placed
    assert (True, "peft") not in placed


def test_the_report_and_the_learned_model_are_written(served) -> None:
    import json

    result, out, _, _ = served
    for name in ("latency", "throughput", "utilisation", "prediction"):
        png = out / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert result.files[name] == str(png)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == result.summary["frames"]
    assert summary["switches"] == [dict(w) for w in result.switches]
    learned = {(s["node"], s["kind"]) for s in summary["learned"]["speeds"]}
    assert ("edge", "conv") in learned
    assert set(summary["learned"]["overhead"]) <= {"cam1", "cam2"}
    assert 0 < result.scale < 1e6


def test_the_metrics_endpoint_reports_the_frames(served) -> None:
    _, _, scraped, port = served
    assert scraped, "the metrics endpoint was never read during the run"
    text = scraped[0]
    assert 'edgeoffload_serve_frames_total{camera="cam2",reason="",status="done"}' in text
    assert "edgeoffload_serve_frame_latency_seconds_bucket" in text
    assert 'edgeoffload_serve_node_utilisation_ratio{node="edge"}' in text
    assert 'edgeoffload_serve_scheduler{load="' in text
    with pytest.raises(urllib.error.URLError):  # the endpoint is gone once the run ended
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_admission_drops_frames_that_cannot_make_their_deadline(
    session, calibrated, tmp_path
) -> None:
    # a deadline no frame can make: every frame is dropped with a reason; after three
    # misses in five frames a camera sheds every other frame
    path = tmp_path / "tight.yaml"
    path.write_text(SCENARIO.replace("deadline: 1.0", "deadline: 0.001"))
    tight = load_scenario(path)
    result = serve(
        tight, duration=4.5, out=tmp_path, session=session, cluster=calibrated, plots=False
    )
    frames = read_frames(tmp_path / "frames.jsonl")
    assert_accounted(frames, tight, 4.5)
    assert {f["status"] for f in frames} == {"dropped"}
    reasons = {f["reason"] for f in frames}
    assert reasons == {"deadline", "shed"}
    assert all(f["predicted_latency"] > 0.001 for f in frames if f["reason"] == "deadline")
    assert all(f["scheduler"] is None for f in frames if f["reason"] == "shed")
    assert result.summary["slo_miss_rate"] == 1.0


def test_frames_still_running_at_the_end_are_dropped_as_shutdown(
    session, calibrated, scenario, tmp_path
) -> None:
    # cam2's frames take about 3.6 s each (300 times the work), with 1 s of grace at the end
    path = tmp_path / "slow.yaml"
    path.write_text(SCENARIO.replace("deadline: 1.0", "deadline: 60"))
    slow = load_scenario(path)
    grace = 1.0
    result = serve(
        slow,
        duration=2.0,
        out=tmp_path,
        session=session,
        cluster=calibrated,
        scale=300 * result_scale(calibrated, slow),
        grace=grace,
        plots=False,
        algorithm="local",
        warm_up=False,
    )
    frames = read_frames(tmp_path / "frames.jsonl")
    assert_accounted(frames, slow, 2.0)
    assert "shutdown" in {f["reason"] for f in frames}
    assert result.shutdown_seconds < grace + 2.0
    # what was still running stops by itself soon after (the runs' own deadline)
    wait_until(
        lambda: not any(t.name.startswith("edgeoffload-serve") for t in threading.enumerate()),
        timeout=30,
        what="the serve threads to end",
    )


def result_scale(calibrated: Any, scenario: Any) -> float:
    """The work factor ``serve`` chooses on the calibrated cluster."""
    from edgeoffload.experiments.serving import work_scale
    from edgeoffload.experiments.serving.control import frame_problems

    return work_scale(
        scenario.cluster, calibrated, frame_problems(scenario.streams, scenario.cluster)
    )


def test_frames_of_a_video_run_through_the_cluster(session, calibrated, scenario, tmp_path):
    import imageio.v3 as iio
    import numpy as np

    video = tmp_path / "clip.mp4"
    pictures = np.stack([np.full((48, 64, 3), 30 * k, dtype=np.uint8) for k in range(4)])
    iio.imwrite(video, pictures, plugin="pyav", codec="mpeg4", fps=4)
    result = serve(
        scenario,
        duration=2.5,
        out=tmp_path / "out",
        session=session,
        cluster=calibrated,
        frames=video,
        plots=False,
    )
    frames = read_frames(tmp_path / "out" / "frames.jsonl")
    assert_accounted(frames, scenario, 2.5)
    # cam2 sends at 0, 1 and 2 s: the video's first three frames, each through the DAG
    assert [(f["frame"], f["input"]) for f in frames] == [(k, f"clip.mp4#{k}") for k in range(3)]
    assert all(f["status"] == "done" for f in frames)
    assert result.summary["done"] == 3
    # a folder whose second picture is broken: that frame is dropped, the others run
    folder = tmp_path / "pictures"
    folder.mkdir()
    iio.imwrite(folder / "a.png", pictures[0])
    (folder / "b.png").write_bytes(b"\x89PNG broken")
    iio.imwrite(folder / "c.png", pictures[1])
    serve(
        scenario,
        duration=2.5,
        out=tmp_path / "out2",
        session=session,
        cluster=calibrated,
        frames=folder,
        plots=False,
    )
    frames = read_frames(tmp_path / "out2" / "frames.jsonl")
    frames.sort(key=lambda f: f["frame"])
    ended = [(f["status"], f["reason"]) for f in frames]
    assert len(ended) == 3 and ended[1] == ("dropped", "error")
    # the pictures around it are not errors (done, unless a loaded machine made one late)
    assert ended[0] == ("done", None) and ended[2] in (("done", None), ("dropped", "deadline"))
    assert "b.png" in frames[1]["detail"] and frames[2]["input"] == "c.png"


def test_the_dask_baseline_leaves_placement_to_dask(session, calibrated, scenario, tmp_path):
    result = serve(
        scenario,
        duration=3.0,
        out=tmp_path,
        session=session,
        cluster=calibrated,
        algorithm="dask",
        plots=False,
    )
    frames = read_frames(tmp_path / "frames.jsonl")
    assert_accounted(frames, scenario, 3.0)
    done = [f for f in frames if f["status"] == "done"]
    assert done and all(f["scheduler"] == "dask" for f in frames)
    assert all(f["predicted_latency"] is None and f["latency"] > 0 for f in done)
    # the source is pinned to the camera; where the rest ran is Dask's choice, recorded
    assert all(f["camera"] in f["nodes"] for f in done)
    assert result.summary["prediction_error"]["all"] is None and not result.switches


def test_a_worker_that_joins_mid_run_gets_frames_within_seconds(
    local, session, calibrated, scenario, certs, tmp_path
) -> None:
    """Start another edge server (an ``edgeoffload worker`` process) while frames flow:
    it is calibrated and takes frames a few seconds after it joined."""
    from commands import start, stop

    started: dict[str, Any] = {}

    def joiner(service: Any) -> None:
        def go() -> None:
            args = ["worker", "--scheduler", local.address, "--name", "edge2"]
            started["worker"] = start(
                [*args, "--role", "edge", "--tls", str(certs)], tmp_path / "edge2.log", tmp_path
            )

        threading.Thread(target=go, daemon=True).start()

    try:
        result = serve(
            scenario,
            duration=DURATION + 2,
            out=tmp_path,
            session=session,
            cluster=calibrated,
            on_start=joiner,
            plots=False,
        )
    finally:
        if "worker" in started:
            stop(started["worker"].proc)
    joined = [m for m in result.membership if m["node"] == "edge2"]
    assert joined and joined[0]["event"] == "joined", result.membership
    frames = read_frames(tmp_path / "frames.jsonl")
    assert_accounted(frames, scenario, DURATION + 2)
    on_it = [f for f in frames if f["status"] == "done" and "edge2" in f["nodes"]]
    assert on_it, "no frame ran on the worker that joined"
    assert min(f["arrival"] for f in on_it) - joined[0]["time"] < 5.0


def test_a_worker_killed_mid_run_has_its_frames_placed_again(
    local, session, calibrated, scenario, tmp_path
) -> None:
    """SIGKILL a worker while it runs another camera's frame (the edge server if it does):
    that frame is placed again on the others (replanned) or dropped worker-lost; frames
    arriving later avoid the lost worker."""
    killed: dict[str, Any] = {}
    pids = local.worker_pids()

    def helper(controller: Any) -> str | None:
        """A node running a frame of another camera now, the edge server first."""
        busy, own = controller.busy_frames, controller.in_flight
        for node in ("edge", "cam1", "cam2"):
            if busy.get(node, 0) > own.get(node, 0):
                return node
        return None

    def killer(service: Any) -> None:
        def watch() -> None:
            while not service.start:  # the clock starts after on_start
                time.sleep(0.01)
            while service.now() < DURATION - 1.5:
                with service.lock:
                    victim = helper(service.controller) if service.now() > 3.2 else None
                    if victim is not None:
                        killed.update(at=service.now(), node=victim)
                        os.kill(pids[victim], signal.SIGKILL)
                        return
                time.sleep(0.001)

        threading.Thread(target=watch, daemon=True).start()

    result = serve(
        scenario,
        duration=DURATION,
        out=tmp_path,
        session=session,
        cluster=calibrated,
        on_start=killer,
        plots=False,
    )
    assert "at" in killed, "no worker ran another camera's frame in the heavy phase"
    victim = killed["node"]
    frames = read_frames(tmp_path / "frames.jsonl")
    assert_accounted(frames, scenario, DURATION)
    events = [(m["event"], m["time"]) for m in result.membership if m["node"] == victim]
    assert events and events[0][0] == "lost" and events[0][1] >= killed["at"], events
    # the local cluster restarts a killed worker: once back, it is calibrated and rejoins
    back = next((t for e, t in events if e == "joined"), math.inf)
    assert set(result.lost) == (set() if back < math.inf else {victim})
    hit = [f for f in frames if f["replanned"] or f["reason"] == "worker-lost"]
    assert hit, "no frame was running on the killed worker"
    for f in hit:
        assert f["status"] == "dropped" or victim not in f["nodes"]
    late = [f for f in frames if killed["at"] + 1.0 < f["arrival"] < back and f["status"] == "done"]
    assert late and all(victim not in f["nodes"] for f in late)
    assert result.summary["replanned"] == sum(1 for f in frames if f["replanned"])
