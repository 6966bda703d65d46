"""DHS classifies the cameras' load as the paper does and picks the paper's algorithm."""

from __future__ import annotations

import pytest

from edgeoffload.errors import ModelError
from edgeoffload.model import AppRequest, Cluster, Node, Problem, Task, TaskGraph, merge_requests
from edgeoffload.schedulers import DHSScheduler, classify_load, get_scheduler

CLUSTER = Cluster(
    [
        Node("c1", 1e9, role="camera"),
        Node("c2", 1e9, role="camera"),
        Node("c3", 1e9, role="camera"),
        Node("edge", 1e10, role="edge"),
    ]
)


def requests(cameras: list[str], work: float = 1e9) -> Problem:
    """One single-task request per entry of ``cameras``; each takes work / 1e9 s there."""
    app = TaskGraph([Task("cnn", work)])
    return merge_requests(
        [AppRequest(f"r{k}", app, cam, 0.0, 1e5) for k, cam in enumerate(cameras)], CLUSTER
    )


CONDITIONS = [
    # 4 requests, all at c1: t = (4, 0, 0) s, A/n = 1.33
    pytest.param(["c1", "c1", "c1", "c1"], 1e9, "U-H", "peft", id="U-H"),
    # 2 requests at c1: t = (2, 0, 0) s, A/n = 0.67
    pytest.param(["c1", "c1"], 1e9, "U-L", "cpop", id="U-L"),
    # one request per camera: t = (1, 1, 1) s, A/n = 1
    pytest.param(["c1", "c2", "c3"], 1e9, "B-H", "peft", id="B-H"),
    # 2 small requests: t = (0.05, 0.05, 0) s, spread 0.033 s < δ1, A/n = 0.67
    pytest.param(["c1", "c2"], 5e7, "B-L", "heft", id="B-L"),
]


@pytest.mark.parametrize(("cameras", "work", "condition", "chosen"), CONDITIONS)
def test_condition_and_choice(cameras: list[str], work: float, condition: str, chosen: str) -> None:
    problem = requests(cameras, work)
    assert classify_load(problem).condition == condition
    result = DHSScheduler().schedule(problem)
    assert result.details["dhs"]["condition"] == condition
    assert result.details["dhs"]["chosen"] == chosen
    assert result.algorithm == "dhs"
    inner = get_scheduler(chosen).schedule(problem)
    assert list(result) == list(inner)


def test_camera_times_are_per_camera_execution_times() -> None:
    load = classify_load(requests(["c1", "c1", "c3"]))
    assert load.camera_times == {"c1": 2.0, "c2": 0.0, "c3": 1.0}
    assert load.spread == pytest.approx(1.0)
    assert load.requests_per_camera == 1.0


def test_thresholds_are_parameters() -> None:
    problem = requests(["c1", "c1"])  # U-L with the paper's δ1 = 0.1, δ2 = 1
    relaxed = DHSScheduler(delta1=5.0).schedule(problem)
    assert relaxed.details["dhs"]["condition"] == "B-L"
    strict = DHSScheduler(delta2=0.5).schedule(problem)
    assert strict.details["dhs"]["condition"] == "U-H"


def test_every_node_is_a_camera_when_none_has_the_role(paper_problem: Problem) -> None:
    load = classify_load(paper_problem)
    assert set(load.camera_times) == {"P1", "P2", "P3"}
    assert load.camera_times["P1"] == 127.0  # the implicit request arrives at the first node


@pytest.mark.parametrize("bad", [{"delta1": -1}, {"delta2": float("nan")}, {"heavy": "dhs"}])
def test_bad_parameters(bad: dict[str, object]) -> None:
    with pytest.raises(ModelError):
        DHSScheduler(**bad)  # type: ignore[arg-type]


def test_choices_can_be_replaced() -> None:
    result = DHSScheduler(light_unbalanced="heft").schedule(requests(["c1", "c1"]))
    assert result.details["dhs"]["chosen"] == "heft"
