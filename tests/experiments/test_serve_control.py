"""The live service's parts without workers: the controller's admission, load classes and
learning, the arrivals, the frame log and the summary."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

pytest.importorskip("simpy")

from edgeoffload.errors import ModelError
from edgeoffload.experiments.serving import work_scale
from edgeoffload.experiments.serving.control import (
    Controller,
    Frame,
    StreamSource,
    camera_sources,
    scaled_graph,
)
from edgeoffload.experiments.serving.log import (
    FRAME_KEYS,
    FrameLog,
    LiveStats,
    percentile,
    read_frames,
)
from edgeoffload.experiments.serving.report import summarise
from edgeoffload.experiments.serving.sources import arrivals, pattern_period
from edgeoffload.model import Cluster, Link, Node, Task, TaskGraph
from edgeoffload.model.task_graph import Dependency
from edgeoffload.workloads.scenarios import load_scenario

CLUSTER = Cluster(
    [
        Node("cam1", 1e9, role="camera"),
        Node("cam2", 1e9, role="camera"),
        Node("edge", 4e9, role="edge"),
    ],
    default_link=Link(1e8, 0.001),
)


def _app(work: float = 1e8) -> TaskGraph:
    return TaskGraph(
        [Task("a", work, kind="conv"), Task("b", work, kind="conv")],
        [Dependency("a", "b", 1e4)],
    )


def _sources(work: float = 1e8, deadline: float = 1.0) -> list[StreamSource]:
    app = _app(work)
    return [StreamSource(c, "net", app, 1e5, deadline) for c in ("cam1", "cam2")]


def _frame(controller: Controller, camera: str, number: int, at: float) -> Frame:
    return Frame(camera, number, at, controller.sources[(camera, "net")])


class TestAdmission:
    def test_a_frame_is_placed_around_the_work_in_flight(self) -> None:
        c = Controller(CLUSTER, _sources(), algorithm="heft", max_in_flight=8)
        first = c.admit(_frame(c, "cam1", 0, 0.0), 0.0)
        second = c.admit(_frame(c, "cam2", 0, 0.0), 0.0)
        assert first.admitted and second.admitted
        assert first.scheduler == second.scheduler == "heft"
        # both want the edge server; the second starts when the first's work there ends
        on_edge = [a for a in first.schedule if a.node == "edge"]
        later = [a for a in second.schedule if a.node == "edge"]
        assert on_edge and later
        assert min(a.start for a in later) >= max(a.finish for a in on_edge) - 1e-9
        assert second.predicted_latency > first.predicted_latency
        # the run's problem holds the nodes it uses only
        assert set(first.problem.cluster.node_ids) == set(first.nodes)

    def test_a_camera_with_max_in_flight_frames_drops_new_ones(self) -> None:
        c = Controller(CLUSTER, _sources(), algorithm="heft", max_in_flight=2)
        got = [c.admit(_frame(c, "cam1", k, 0.01 * k), 0.01 * k) for k in range(3)]
        assert [d.reason for d in got] == [None, None, "queue-full"]
        assert got[2].scheduler == "heft" and got[2].predicted_latency is None
        c.finished(got[0], 0.5, 0.3)
        assert c.admit(_frame(c, "cam1", 3, 0.5), 0.5).admitted

    def test_a_frame_predicted_past_its_deadline_is_dropped_then_the_camera_sheds(
        self,
    ) -> None:
        # each frame needs 0.2 s of work on the edge server alone: a 0.05 s deadline fails
        c = Controller(CLUSTER, _sources(work=4e8, deadline=0.05), algorithm="edge")
        reasons = [c.admit(_frame(c, "cam1", k, 0.1 * k), 0.1 * k).reason for k in range(12)]
        assert reasons[:3] == ["deadline"] * 3
        assert "shed" in reasons  # three deadline drops in five frames start shedding
        assert c.shed_level("cam1") > 0
        assert set(reasons) == {"deadline", "shed"}
        # shedding skips a share of the frames, not all of them
        assert 0 < reasons.count("shed") < len(reasons) - 3

    def test_shedding_ends_once_frames_stop_missing(self) -> None:
        c = Controller(
            CLUSTER, _sources(work=4e8, deadline=0.05), algorithm="edge", shed_seconds=1.0
        )
        for k in range(6):
            c.admit(_frame(c, "cam1", k, 0.1 * k), 0.1 * k)
        assert c.shed_level("cam1") > 0
        # from now on frames fit (a generous deadline): the shedding halves, then ends
        easy = StreamSource("cam1", "net", _app(4e8), 1e5, 10.0)
        k, t = 6, 0.6
        while c.shed_level("cam1") > 0 and t < 30:
            d = c.admit(Frame("cam1", k, t, easy), t)
            if d.admitted:
                c.finished(d, t + 0.3, 0.25)
            k, t = k + 1, t + 0.3
        assert c.shed_level("cam1") == 0 and t < 30

    def test_a_lost_node_is_left_out_and_its_camera_frames_dropped(self) -> None:
        c = Controller(CLUSTER, _sources(), algorithm="heft")
        assert c.lose("edge", "killed") and not c.lose("edge", "again")
        d = c.admit(_frame(c, "cam1", 0, 0.0), 0.0)
        assert d.admitted and "edge" not in d.nodes
        assert "edge" not in d.problem.cluster.node_ids
        c.lose("cam2", "killed")
        assert c.admit(_frame(c, "cam2", 0, 0.1), 0.1).reason == "worker-lost"

    def test_the_edge_baseline_without_its_edge_server_drops_with_a_reason(self) -> None:
        c = Controller(CLUSTER, _sources(), algorithm="edge")
        c.lose("edge", "killed")
        assert c.admit(_frame(c, "cam1", 0, 0.0), 0.0).reason == "worker-lost"

    def test_bad_settings_are_refused(self) -> None:
        with pytest.raises(ModelError, match="unknown algorithm"):
            Controller(CLUSTER, _sources(), algorithm="fastest")
        with pytest.raises(ModelError, match="max_in_flight"):
            Controller(CLUSTER, _sources(), max_in_flight=0)
        with pytest.raises(ModelError, match="camera"):
            Controller(CLUSTER, [StreamSource("nope", "net", _app(), 0.0, 1.0)])


class TestDHS:
    def test_dhs_switches_from_heft_to_peft_as_the_load_turns_heavy(self) -> None:
        c = Controller(CLUSTER, _sources(work=1e6), algorithm="dhs", window=1.0)
        placed = []
        t, k = 0.0, 0
        while t < 4.0:
            # light: cam1 alone, a frame every 2 s (A/n = 0.5); heavy: both, 6 frames/s
            rate = 0.5 if t < 2.0 else 6.0
            for camera in ("cam1",) if t < 2.0 else ("cam1", "cam2"):
                frame = _frame(c, camera, k, t)
                c.arrived(frame)
                d = c.admit(frame, t)
                placed.append((t, d.scheduler))
                if d.admitted:
                    c.finished(d, t, 0.0)
            k, t = k + 1, t + 1.0 / rate
        before = {s for at, s in placed if at < 1.9}
        after = {s for at, s in placed if at > 2.5}
        assert before == {"heft"} and after == {"peft"}
        assert [(w["from"], w["to"], w["load"]) for w in c.switches] == [
            (None, "heft", "B-L"),
            ("heft", "peft", "B-H"),
        ]
        assert 2.0 <= c.switches[1]["time"] < 2.5
        assert "B-H" in c.why and "delta2" in c.why

    def test_an_unbalanced_light_load_picks_cpop(self) -> None:
        c = Controller(CLUSTER, _sources(work=2e8), algorithm="dhs")
        frame = _frame(c, "cam1", 0, 0.0)  # 0.4 s of work on cam1, nothing on cam2
        c.arrived(frame)
        assert c.admit(frame, 0.0).scheduler == "cpop"
        assert c.load == "U-L"


class TestLearning:
    def test_runs_teach_the_overhead_and_the_residual(self) -> None:
        c = Controller(CLUSTER, _sources(), algorithm="local", weight=0.5)
        d = c.admit(_frame(c, "cam1", 0, 0.0), 0.0)
        planned = d.extra["predicted_makespan"]
        # the run took twice its predicted makespan, and 0.1 s more around it
        latency = c.finished(d, 2 * planned + 0.1, 2 * planned)
        assert latency == pytest.approx(2 * planned + 0.1)
        assert c.overheads["cam1"] == pytest.approx(0.1)
        assert c.residual("cam1", "net", ("cam1",)) == pytest.approx(2.0)
        again = c.admit(_frame(c, "cam1", 1, 10.0), 10.0)
        assert again.predicted_latency == pytest.approx(0.1 + 2 * planned)

    def test_learned_speeds_reach_the_plans_after_relearning(self) -> None:
        c = Controller(CLUSTER, _sources(), algorithm="local", relearn=1.0)
        slow = c.admit(_frame(c, "cam1", 0, 0.0), 0.0).extra["predicted_makespan"]
        for _ in range(40):  # cam1 is four times slower than calibrated
            c.costs.observe_task("cam1", 1e8, "conv", 0.4)
        d = c.admit(_frame(c, "cam1", 1, 5.0), 5.0)
        assert d.extra["predicted_makespan"] == pytest.approx(4 * slow, rel=1e-3)


class TestSources:
    def test_arrivals_repeat_the_pattern_in_time_order(self) -> None:
        scenario = load_scenario("camera-serve")
        period = pattern_period(scenario.streams)
        assert period == 40.0
        first = []
        for at, stream in arrivals(scenario.streams, seed=1):
            if at >= 2 * period:
                break
            first.append((at, stream.name))
        times = [t for t, _ in first]
        assert times == sorted(times)
        one = [(t, n) for t, n in first if t < period]
        two = [(t - period, n) for t, n in first if t >= period]
        assert [n for _, n in one] == [n for _, n in two]  # periodic streams only
        assert all(
            math.isclose(a, b, abs_tol=1e-9) for (a, _), (b, _) in zip(one, two, strict=True)
        )
        names = {n for t, n in one if 10 <= t < 25}
        assert names == {"cam1-hot", "cam2-during-hot"}

    def test_the_same_seed_gives_the_same_poisson_arrivals(self) -> None:
        scenario = load_scenario("camera-streams")
        a, b, c = (
            [t for _, (t, _) in zip(range(50), arrivals(scenario.streams, seed=s), strict=False)]
            for s in (3, 3, 4)
        )
        assert a == b and a != c

    def test_camera_sources_scale_the_work(self) -> None:
        scenario = load_scenario("camera-serve")
        full = camera_sources(scenario.streams, 1.0, 1.0)
        tenth = camera_sources(scenario.streams, 0.1, 1.0)
        assert set(full) == {
            ("cam1", "resnet50"),
            ("cam1", "alexnet"),
            ("cam2", "alexnet"),
            ("cam2", "googlenet"),
            ("cam3", "alexnet"),
            ("cam3", "googlenet"),
            ("cam4", "alexnet"),
            ("cam4", "googlenet"),
        }
        work = sum(t.work or 0 for t in full[("cam1", "resnet50")].app.tasks)
        assert sum(t.work or 0 for t in tenth[("cam1", "resnet50")].app.tasks) == pytest.approx(
            work / 10
        )
        with pytest.raises(ModelError, match="scale"):
            scaled_graph(_app(), 0.0)

    def test_work_scale_is_the_median_speed_ratio(self) -> None:
        from edgeoffload.model import Problem

        problem = Problem(_app(), CLUSTER)
        measured = Cluster(
            [Node("cam1", 2e9), Node("cam2", 3e9), Node("edge", 4e9 * 0.5)],
            default_link=Link(1e8, 0.001),
        )
        assert work_scale(CLUSTER, measured, [problem]) == pytest.approx(2.0)

    def test_work_scale_of_real_work_is_the_time_ratio(self) -> None:
        """Profiled real work three times the FLOP on nodes twice as fast: each frame takes
        1.5 times the modelled time, so the factor is 1 / 1.5."""
        from edgeoffload.model import Problem

        problem = Problem(_app(), CLUSTER)
        real = Problem(_app(3e8), CLUSTER)
        measured = Cluster(
            [Node(n.id, 2 * n.speed, role=n.role) for n in CLUSTER.nodes],
            default_link=Link(1e8, 0.001),
        )
        assert work_scale(CLUSTER, measured, [problem], [real]) == pytest.approx(1 / 1.5)


class TestEmulated:
    def test_hosts_for_the_scheduler_and_the_client(self) -> None:
        from edgeoffload.experiments.serving.emulated import cluster_hosts, parse_hold
        from edgeoffload.netem import topology_from_dict
        from edgeoffload.workloads.scenarios import load_scenario

        scenario = load_scenario("camera-serve")
        hosts = {
            n: {"address": f"10.77.0.{i + 1}"}
            for i, n in enumerate(["cam1", "cam2", "cam3", "cam4", "edge", "ctl"])
        }
        topology = topology_from_dict({"name": "t", "hosts": hosts})
        assert cluster_hosts(scenario, topology) == ("edge", "ctl")
        del hosts["ctl"]
        with pytest.raises(ModelError, match="one host more"):
            cluster_hosts(scenario, topology_from_dict({"name": "t", "hosts": hosts}))
        assert parse_hold('{"cam1": [12, 0.25]}') == {"cam1": (12, 0.25)}
        with pytest.raises(ModelError, match="JSON"):
            parse_hold('{"cam1": 3}')


class TestLogAndSummary:
    def test_every_line_has_every_key(self, tmp_path: Path) -> None:
        log = FrameLog(tmp_path / "frames.jsonl")
        log.write({"camera": "c", "frame": 0, "status": "dropped", "reason": "shed"})
        log.write({"camera": "c", "frame": 1, "status": "done", "latency": 0.1, "extra": 1})
        log.close()
        frames = read_frames(tmp_path / "frames.jsonl")
        assert [set(FRAME_KEYS) <= set(f) for f in frames] == [True, True]
        assert frames[0]["latency"] is None and frames[1]["extra"] == 1
        with pytest.raises(ValueError, match="JSON"):
            FrameLog(None).write({"camera": "c", "latency": math.nan})

    def test_summary_counts_every_frame_once(self) -> None:
        frames = [
            _record("a", 0, "done", 0.1, 0.11, arrival=1.0),
            _record("a", 1, "done", 1.5, 1.0, arrival=12.0),  # late
            _record("a", 2, "dropped", arrival=13.0, reason="deadline"),
            _record("b", 0, "done", 0.2, 0.3, arrival=14.0),
            _record("b", 1, "dropped", arrival=15.0, reason="shed"),
        ]
        s = summarise(frames, duration=20.0)
        assert s["frames"] == 5 and s["done"] == 3 and s["missed"] == 1
        assert s["dropped"] == {"deadline": 1, "shed": 1}
        assert s["slo_miss_rate"] == pytest.approx(3 / 5)
        assert s["goodput"] == pytest.approx(2 / 20) and s["throughput"] == pytest.approx(3 / 20)
        assert s["complete"]
        # |0.11-0.1|/0.1, |1.0-1.5|/1.5, |0.3-0.2|/0.2: median 1/3; after 10 s: 1/3, 1/2
        assert s["prediction_error"]["all"] == pytest.approx(1 / 3)
        assert s["prediction_error"]["after_warm_up"] == pytest.approx((1 / 3 + 1 / 2) / 2)
        assert s["cameras"]["a"]["dropped"] == 1
        gap = [*frames, _record("b", 3, "done", 0.1, 0.1)]
        assert not summarise(gap, duration=20.0)["complete"]

    def test_percentile_is_nearest_rank(self) -> None:
        assert percentile([], 50) is None
        assert percentile([3.0, 1.0, 2.0], 50) == 2.0
        assert percentile(range(1, 101), 99) == 99

    def test_live_stats_keep_only_the_horizon(self) -> None:
        stats = LiveStats(["n"], horizon=5.0)
        for k in range(20):
            record = _record("c", k, "done", 0.1 * (k + 1), 0.1 * (k + 1))
            stats.frame(record, float(k))
            stats.busy("n", 0.5, float(k))
        snap = stats.snapshot(19.0)
        camera = snap["cameras"]["c"]
        assert camera["done"] == 20 and camera["rate"] == pytest.approx(5 / 5.0)
        assert camera["p99"] == pytest.approx(2.0)  # frames 15..19 only
        assert snap["utilisation"]["n"] == pytest.approx(0.5)
        json.dumps(snap)


def _record(
    camera: str,
    number: int,
    status: str,
    latency: float | None = None,
    predicted: float | None = None,
    *,
    arrival: float = 0.0,
    reason: str | None = None,
) -> dict[str, object]:
    return {
        "camera": camera,
        "frame": number,
        "status": status,
        "reason": reason,
        "arrival": arrival,
        "latency": latency,
        "predicted_latency": predicted,
        "scheduler": "heft" if status == "done" else None,
        "deadline": 1.0,
    }


class TestPictures:
    @pytest.fixture
    def images(self, tmp_path: Path) -> Path:
        import imageio.v3 as iio
        import numpy as np

        folder = tmp_path / "images"
        folder.mkdir()
        rng = np.random.default_rng(1)
        for k in range(3):
            iio.imwrite(folder / f"img{k}.png", rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
        iio.imwrite(folder / "grey.png", np.full((10, 10), 7, dtype=np.uint8))
        (folder / "notes.txt").write_text("not an image")
        return folder

    @pytest.fixture
    def video(self, tmp_path: Path) -> Path:
        import imageio.v3 as iio
        import numpy as np

        path = tmp_path / "clip.mp4"
        frames = np.stack(
            [np.full((64, 64, 3), 20 * k, dtype=np.uint8) for k in range(5)]
        )  # five flat frames of growing brightness
        iio.imwrite(path, frames, plugin="pyav", codec="mpeg4", fps=5)
        return path

    def test_an_image_folder_is_read_in_order_and_again(self, images: Path) -> None:
        from edgeoffload.experiments.serving.sources import SIDE, Pictures

        pictures = Pictures(images)
        names = [pictures.next("cam1")[1] for _ in range(6)]
        assert names == ["grey.png", "img0.png", "img1.png", "img2.png", "grey.png", "img0.png"]
        assert pictures.next("cam2")[1] == "grey.png"  # each camera at its own place
        image, _ = pictures.next("cam1")
        assert image.shape == (SIDE, SIDE, 3) and image.dtype.name == "uint8"
        grey, _ = pictures.next("cam3")
        assert (grey == 7).all()  # grey became RGB

    def test_a_video_is_read_frame_by_frame_and_looped(self, video: Path) -> None:
        from edgeoffload.experiments.serving.sources import Pictures

        pictures = Pictures(video)
        got = [pictures.next("cam1") for _ in range(7)]
        assert [name for _, name in got] == [f"clip.mp4#{k}" for k in (0, 1, 2, 3, 4, 0, 1)]
        brightness = [float(image.mean()) for image, _ in got[:5]]
        assert brightness == sorted(brightness) and brightness[4] - brightness[0] > 60
        assert got[5][0].mean() == pytest.approx(got[0][0].mean(), abs=2)

    def test_bad_frame_sources_are_refused_in_one_line(self, tmp_path: Path) -> None:
        from edgeoffload.experiments.serving.sources import Pictures

        with pytest.raises(ModelError, match="no such file"):
            Pictures(tmp_path / "missing")
        (tmp_path / "empty").mkdir()
        with pytest.raises(ModelError, match="holds no image"):
            Pictures(tmp_path / "empty")
        (tmp_path / "x.csv").write_text("1,2")
        with pytest.raises(ModelError, match="neither a folder of images nor a video"):
            Pictures(tmp_path / "x.csv")
        (tmp_path / "broken.mp4").write_bytes(b"not a video at all")
        with pytest.raises(ModelError, match="cannot read the video"):
            Pictures(tmp_path / "broken.mp4")
        (tmp_path / "bad").mkdir()
        (tmp_path / "bad" / "a.png").write_bytes(b"\x89PNG broken")
        with pytest.raises(ModelError, match="cannot read the image"):
            Pictures(tmp_path / "bad")

    def test_the_source_task_turns_pixels_into_the_input_tensor(self) -> None:
        import numpy as np

        from edgeoffload.apps.synthetic import image_input

        image = np.full((224, 224, 3), 51, dtype=np.uint8)
        tensor = image_input(image, tag="frame/input")
        assert tensor.shape == (3, 224, 224) and tensor.dtype == np.float32
        assert tensor.nbytes == 602_112  # the models' input_bytes
        assert tensor.flat[1] == pytest.approx(0.2)
        other = image_input(image + 1, tag="frame/input")
        assert tensor.flat[0] != other.flat[0]  # the checksum follows the pixels


def test_the_static_model_neither_learns_nor_adds_an_overhead() -> None:
    c = Controller(CLUSTER, _sources(), algorithm="local", learn=False, relearn=0.0)
    d = c.admit(_frame(c, "cam1", 0, 0.0), 0.0)
    planned = d.extra["predicted_makespan"]
    assert d.predicted_latency == pytest.approx(planned)  # no overhead term
    taught: list[object] = []
    c.finished(d, 3 * planned + 0.1, 3 * planned, taught.append)
    assert taught == [] and c.overheads == {} and c.residuals == {}
    again = c.admit(_frame(c, "cam1", 1, 10.0), 10.0)
    assert again.predicted_latency == pytest.approx(planned)


def test_a_camera_predicted_late_for_5_s_runs_a_probe_frame() -> None:
    c = Controller(CLUSTER, _sources(work=4e8, deadline=0.05), algorithm="edge")
    got = [c.admit(_frame(c, "cam1", k, float(k)), float(k)) for k in range(8)]
    admitted = [k for k, d in enumerate(got) if d.admitted]
    assert admitted and admitted[0] >= 5  # none for 5 s, then a probe
    assert got[admitted[0]].extra.get("probe") is True
    assert got[admitted[0]].predicted_latency > 0.05


def test_pictures_of_every_kind_become_rgb() -> None:
    import numpy as np

    from edgeoffload.experiments.serving.sources import SIDE, _fit

    grey_alpha = np.zeros((20, 30, 2), dtype=np.uint8)
    grey_alpha[..., 0] = 90
    deep = np.full((8, 8, 3), 65535, dtype=np.uint16)
    rgba = np.full((5, 5, 4), 200, dtype=np.uint8)
    for picture, value in ((grey_alpha, 90), (deep, 255), (rgba, 200)):
        out = _fit(picture)
        assert out.shape == (SIDE, SIDE, 3) and out.dtype == np.uint8
        assert int(out[0, 0, 0]) == value
    with pytest.raises(ModelError, match="not a picture"):
        _fit(np.zeros((4, 4, 5), dtype=np.uint8))
