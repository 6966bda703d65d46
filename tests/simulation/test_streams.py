"""Frame streams: arrivals, throughput, determinism, overload and exact replay of plans."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from edgeoffload.errors import ModelError
from edgeoffload.model import Cluster, Dependency, Link, Node, Task, TaskGraph
from edgeoffload.simulation import LognormalVariability, SimConfig
from edgeoffload.simulation.streams import (
    FrameStream,
    LocalPlanner,
    Placement,
    RequestTemplate,
    SchedulerPlanner,
    WindowedDHSPlanner,
    simulate_stream,
)

EXACT = SimConfig.schedulers_assumptions(record_trace=False)
APP = TaskGraph(
    [Task("conv", 2e8, kind="conv"), Task("fc", 5e7, kind="fc")],
    [Dependency("conv", "fc", 1e5)],
)


def cluster() -> Cluster:
    return Cluster(
        [
            Node("cam1", 1e10, role="camera"),
            Node("cam2", 2e10, role="camera"),
            Node("edge", 1e11, role="edge"),
        ],
        default_link=Link(1e7, 0.002),
    )


class TestArrivals:
    def test_periodic_arrivals_are_evenly_spaced(self) -> None:
        """A 10 fps periodic stream over 1 s has 10 frames, 0.1 s apart."""
        stream = FrameStream("cam1", APP, rate=10.0, duration=1.0)
        times = stream.arrivals(np.random.default_rng(0))
        assert times.tolist() == pytest.approx([k / 10 for k in range(10)])

    def test_poisson_arrivals_depend_on_the_seed_only(self) -> None:
        """The same seed gives the same Poisson arrivals; the rate is about right."""
        stream = FrameStream("cam1", APP, rate=50.0, process="poisson", duration=20.0)
        a = stream.arrivals(np.random.default_rng(3))
        b = stream.arrivals(np.random.default_rng(3))
        assert np.array_equal(a, b)
        assert len(a) == pytest.approx(1000, rel=0.1)
        assert (np.diff(a) > 0).all() and a[-1] < 20.0

    def test_bad_rate_is_refused(self) -> None:
        with pytest.raises(ModelError, match="rate"):
            FrameStream("cam1", APP, rate=0.0)


class TestStreamRuns:
    def test_periodic_stream_throughput_matches_its_rate(self) -> None:
        """Under light load, frames complete as fast as they arrive: 20 fps in, 20 fps out."""
        stream = FrameStream("cam1", APP, rate=20.0, duration=2.0, deadline=0.5)
        result = simulate_stream(cluster(), [stream], "heft", EXACT)
        assert result.frames == result.completed == 40
        assert result.throughput == pytest.approx(20.0)
        assert result.offered_rate == pytest.approx(20.0)
        assert result.dropped == result.deadline_misses == 0
        assert result.latency_p50 <= result.latency_p99 <= result.latency_max

    def test_overload_saturates_throughput_at_service_rate(self) -> None:
        """A camera fed faster than it computes completes frames at its own rate."""
        stream = FrameStream("cam1", APP, rate=100.0, duration=1.0)  # 25 ms of work per frame
        result = simulate_stream(cluster(), [stream], LocalPlanner(), EXACT)
        assert result.throughput == pytest.approx(40.0)
        assert result.max_in_flight > 10
        assert result.latency_max > result.latency_p50

    def test_queue_bound_drops_frames(self) -> None:
        """With at most 2 frames in flight per camera, the rest are dropped."""
        stream = FrameStream("cam1", APP, rate=100.0, duration=1.0, deadline=0.05)
        result = simulate_stream(cluster(), [stream], LocalPlanner(), EXACT, max_in_flight=2)
        assert result.max_in_flight_per_camera["cam1"] == 2
        assert result.dropped > 0
        assert result.admitted + result.dropped == result.frames == 100
        assert result.deadline_misses >= result.dropped

    def test_drop_late_refuses_frames_planned_past_their_deadline(self) -> None:
        """The deadline admission rule drops what the plan says will be late."""
        stream = FrameStream("cam1", APP, rate=100.0, duration=1.0, deadline=0.06)
        result = simulate_stream(cluster(), [stream], LocalPlanner(), EXACT, drop_late=True)
        assert result.dropped > 0
        assert all(
            r.latency is not None and r.latency <= 0.06 + 1e-9
            for r in result.sim.requests
            if not r.dropped
        )

    @pytest.mark.parametrize("planner", ["heft", "cpop", "peft", "dhs", "local", "edge"])
    def test_simulated_frames_follow_their_plans_exactly(self, planner: str) -> None:
        """Under the schedulers' assumptions each frame finishes exactly when planned."""
        streams = [
            FrameStream("cam1", APP, rate=30.0, process="poisson", duration=1.0, name="a"),
            FrameStream("cam2", APP, rate=40.0, duration=1.0, name="b"),
        ]
        result = simulate_stream(cluster(), streams, planner, EXACT, rng=5)
        assert result.completed == result.frames
        for request in result.sim.requests:
            assert request.finish == request.predicted_finish

    def test_poisson_stream_run_is_deterministic_under_a_seed(self) -> None:
        """Same seed, same stream run; another seed, another one."""
        streams = [FrameStream("cam1", APP, rate=40.0, process="poisson", duration=1.0)]
        config = SimConfig(variability=LognormalVariability(0.2, 0.2), record_trace=False)
        first = simulate_stream(cluster(), streams, "heft", config, rng=11)
        again = simulate_stream(cluster(), streams, "heft", config, rng=11)
        other = simulate_stream(cluster(), streams, "heft", config, rng=12)
        assert first == again
        assert [r.arrival for r in first.sim.requests] != [r.arrival for r in other.sim.requests]

    def test_early_dispatch_sends_the_image_while_the_camera_computes(self) -> None:
        """A frame planned off a busy camera leaves at arrival; the run follows the plan."""
        slow = Cluster(
            [Node("cam", 1e9, role="camera"), Node("edge", 1e11, role="edge")],
            default_link=Link(1e8, 0.0),
        )

        class Mixed:
            """Frames of stream 'local' stay on the camera, the others go to the edge."""

            name = "mixed"

            def __init__(self, early: bool) -> None:
                self.remote = SchedulerPlanner("edge", early_dispatch=early)

            def plan(
                self, template: RequestTemplate, arrival: float, available: Sequence[float]
            ) -> Placement:
                if template.stream.name == "local":
                    return LocalPlanner().plan(template, arrival, available)
                return self.remote.plan(template, arrival, available)

        streams = [
            FrameStream("cam", APP, rate=2.0, duration=1.0, name="local"),  # 0.25 s each
            FrameStream("cam", APP, rate=2.0, duration=1.0, start=0.05, name="remote"),
        ]
        result = simulate_stream(slow, streams, Mixed(early=True), EXACT)
        assert result.completed == 4
        assert all(r.finish == r.predicted_finish for r in result.sim.requests)
        remote = [r for r in result.sim.requests if r.id.startswith("remote")]
        for request in remote:
            source = result.sim.tasks.get(f"{request.id}/input")
            assert source.start == request.arrival  # not after the local frame's 0.25 s
            assert request.latency == pytest.approx(0.0025)  # conv + fc on the edge
        queued = simulate_stream(slow, streams, Mixed(early=False), EXACT)
        late = [r for r in queued.sim.requests if r.id.startswith("remote")]
        assert late[0].latency == pytest.approx(0.25 - 0.05 + 0.0025)  # behind the local frame

    def test_unknown_camera_is_refused(self) -> None:
        with pytest.raises(ModelError, match="unknown node 'cam9'"):
            simulate_stream(cluster(), [FrameStream("cam9", APP, rate=1.0)], "heft")

    def test_stream_names_must_differ(self) -> None:
        streams = [FrameStream("cam1", APP, rate=5.0), FrameStream("cam1", APP, rate=5.0)]
        with pytest.raises(ModelError, match="distinct names"):
            simulate_stream(cluster(), streams, "heft")


class TestWindowedDHS:
    def test_the_scheduler_follows_the_load_class_of_the_window(self) -> None:
        """One camera at 1 fps (light, unbalanced: CPOP), then both at 10 fps (heavy:
        PEFT), then quiet again: each frame is placed by the class of the last second."""
        streams = [
            FrameStream("cam1", APP, rate=1.0, start=0.0, duration=5.0, name="calm"),
            FrameStream("cam1", APP, rate=10.0, start=5.0, duration=3.0, name="busy1"),
            FrameStream("cam2", APP, rate=10.0, start=5.0, duration=3.0, name="busy2"),
            FrameStream("cam1", APP, rate=1.0, start=10.0, duration=3.0, name="calm-again"),
        ]
        planner = WindowedDHSPlanner(window=1.0, delta1=0.01)
        result = simulate_stream(cluster(), streams, planner, EXACT)
        assert result.frames == result.completed == 5 + 30 + 30 + 3
        assert [(to, condition[-1]) for _, _, to, condition in planner.switches] == [
            ("cpop", "L"),
            ("peft", "H"),
            ("cpop", "L"),
        ]
        first_heavy = planner.switches[1][0]
        assert 5.0 <= first_heavy < 5.2  # within a few frames of the load change
        assert set(planner.placed) == {"cpop", "peft"}
        assert sum(planner.placed.values()) == result.frames
        assert planner.placed["peft"] >= 55  # nearly all of the 60 busy frames

    def test_the_load_window(self) -> None:
        from edgeoffload.schedulers.dhs import LoadWindow

        window = LoadWindow(["cam1", "cam2"], window=2.0, delta1=0.1, delta2=1.0)
        for k in range(4):  # 4 frames of 0.1 s at cam1 in 1.5 s
            window.record("cam1", 0.5 * k, 0.1)
        load = window.classify(1.5)
        assert load.camera_times == pytest.approx({"cam1": 0.4, "cam2": 0.0})
        assert (load.spread, load.requests_per_camera, load.condition) == (
            pytest.approx(0.2),
            2.0,
            "U-H",
        )
        assert window.classify(10.0).condition == "B-L"  # everything has left the window
        with pytest.raises(ModelError, match="unknown camera"):
            window.record("edge", 11.0, 0.1)
        with pytest.raises(ModelError, match="time order"):
            window.record("cam1", 1.0, 0.1)  # before the last frame recorded (1.5 s)

    def test_bad_window_is_refused(self) -> None:
        with pytest.raises(ModelError, match="window"):
            WindowedDHSPlanner(window=0.0)
