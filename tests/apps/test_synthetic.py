"""Synthetic kernels: the work done, the results' determinism and sizes, the calls a
problem's tasks get."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edgeoffload.apps.synthetic import (
    KERNELS,
    burn,
    checksum,
    kernel_for,
    kernel_speed,
    measure_speed,
    scale_work,
    synthetic_calls,
    synthetic_task,
)
from edgeoffload.model import Cluster, Node, merge_requests
from edgeoffload.runtime.dag import DagProblem, run_local
from edgeoffload.workloads.dnn import load_dnn


class TestKernels:
    def test_each_dnn_kind_has_the_kernel_it_resembles(self) -> None:
        assert kernel_for("conv") == "gemm"
        assert kernel_for("fc") == "gemv"
        assert {kernel_for(k) for k in ("pool", "add", "concat", "flatten")} == {"stream"}
        assert kernel_for(None) == kernel_for("mystery") == "gemm"

    @pytest.mark.parametrize("kernel", KERNELS)
    def test_burn_takes_longer_for_more_work(self, kernel: str) -> None:
        """Ten times the work takes clearly longer (timing on a shared machine: loose)."""
        burn(1e6, kernel)
        small = min(burn(1e7, kernel) for _ in range(5))
        large = min(burn(1e8, kernel) for _ in range(3))
        assert large > 3 * small

    def test_zero_work_and_bad_input(self) -> None:
        assert burn(0.0) >= 0.0
        with pytest.raises(ValueError, match="work"):
            burn(-1.0)
        with pytest.raises(ValueError, match="unknown kernel"):
            burn(1.0, "fft")

    def test_kernel_speed_is_a_positive_rate(self) -> None:
        result = kernel_speed("stream", seconds=0.01, repeats=1)
        assert result["speed"] > 1e6 and result["samples"] == [result["speed"]]

    def test_measure_speed_measures_the_quota_not_one_burst(self) -> None:
        """A quota-throttled process: ten instant steps, then a 20 ms wait for the next
        period. The speed is 10 steps per 20 ms = 500/s (whole periods), not the speed of
        a burst (the old probe-sized measurement said millions per second)."""
        calls = [0]

        def step() -> None:
            calls[0] += 1
            if calls[0] % 10 == 0:
                time.sleep(0.02)

        result = measure_speed(step, 1.0, seconds=0.1, repeats=3)
        assert all(300 < s < 520 for s in result["samples"]), result["samples"]
        assert result["work"] % 10 == 0  # whole periods: the window starts and ends on a wait

    def test_measure_speed_rejects_a_bad_window(self) -> None:
        with pytest.raises(ValueError, match="seconds"):
            measure_speed(lambda: None, 1.0, seconds=float("nan"))


class TestSyntheticTask:
    def test_output_has_the_tasks_size_and_a_deterministic_checksum(self) -> None:
        frame = np.zeros(10, dtype=np.float32)
        frame[0] = 17
        out = synthetic_task(frame, 5, work=1e5, kind="conv", output_bytes=4000, tag="t1")
        assert out.dtype == np.float32 and out.nbytes == 4000
        again = synthetic_task(frame, 5, work=0.0, kind="fc", output_bytes=8, tag="t1")
        assert again[0] == out[0]
        assert synthetic_task(frame, 6, output_bytes=8, tag="t1")[0] != out[0]
        assert synthetic_task(output_bytes=0).nbytes == 4  # never empty

    def test_checksum_of_other_values(self) -> None:
        assert checksum(b"abc") == checksum(bytearray(b"abc"))
        assert checksum(7) == 7
        assert checksum("x") == checksum("x")


def test_synthetic_calls_and_scale_work_keep_the_problems_shape() -> None:
    cluster = Cluster([Node("cam", 1e10, role="camera")])
    dnn = load_dnn("alexnet", "block")
    problem = merge_requests([dnn.request("r1", "cam")], cluster)
    small = scale_work(problem, 0.001)
    assert small.graph.dependencies == problem.graph.dependencies
    assert small.graph.task("r1/stage2").work == pytest.approx(dnn.graph.task("stage2").work * 1e-3)
    calls = synthetic_calls(small)
    assert calls["r1/input"].kwargs["output_bytes"] == dnn.input_bytes
    assert calls["r1/stage1"].kwargs == {
        "work": small.graph.task("r1/stage1").work,
        "kind": "conv",
        "output_bytes": float(dnn.output_bytes["stage1"]),
        "tag": "r1/stage1",
    }
    result = run_local(DagProblem.bind(small, calls))
    assert list(result) == ["r1/classifier"]
    assert result["r1/classifier"].nbytes == 4  # an exit task has no consumer: no data
    with pytest.raises(ValueError, match="factor"):
        scale_work(problem, 0.0)


def test_measure_link_survives_a_slow_jittery_peer() -> None:
    """A throttled peer answers in 60-100 ms, more than a small payload's transfer: the
    payload grows until its transfer stands out of the fastest round trip, and the
    bandwidth comes out near the link's (it was once 10⁶ times too high)."""
    import itertools

    from edgeoffload.runtime.worker.kernels import measure_link

    delays = itertools.cycle([0.1, 0.06, 0.09, 0.1, 0.07, 0.095, 0.1, 0.08, 0.065])
    rate = 10e6  # bytes/s

    def send(frames: list[bytes]) -> None:
        time.sleep(next(delays) + sum(len(f) for f in frames) / rate)

    result = measure_link(send, pings=7, repeats=3)
    assert result["size"] > 256 * 1024  # grown past the first payload
    assert result["seconds"] - result["rtt_min"] >= 0.05
    assert 0.6 * rate < result["bandwidth"] < 1.3 * rate
