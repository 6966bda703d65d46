"""Scenario files: the shipped ones, compilation to problems, and one-line errors."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from edgeoffload.errors import ModelError, ProblemFileError
from edgeoffload.model import problem_from_dict, problem_to_dict
from edgeoffload.schedulers import classify_load
from edgeoffload.workloads.scenarios import (
    builtin_scenario_names,
    load_scenario,
    scenario_from_dict,
)

MINIMAL: dict[str, Any] = {
    "name": "tiny",
    "devices": [
        {"id": "cam1", "preset": "rpi4b", "role": "camera"},
        {
            "id": "cam2",
            "speed": 5e10,
            "role": "camera",
            "cores": 2,
            "power": {"idle": 1, "busy": 5, "transmit": 2},
        },
        {"id": "edge", "preset": "edge-server"},
    ],
    "network": {
        "model": "shared",
        "media": [{"name": "wifi", "nodes": ["cam1", "cam2"]}],
        "links": [{"between": ["cam1", "edge"], "preset": "wifi-ac"}],
        "default_link": {"bandwidth": 5e6, "latency": 0.004},
    },
    "requests": [
        {"model": "alexnet", "camera": "cam1"},
        {"model": "resnet50", "camera": "cam2", "arrival": 0.5, "count": 2, "granularity": "block"},
    ],
}


def with_change(path: str, value: Any) -> dict[str, Any]:
    """MINIMAL with the entry at dotted ``path`` (list indexes as numbers) replaced."""
    data = copy.deepcopy(MINIMAL)
    *parents, last = path.split(".")
    target: Any = data
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is _DELETE:
        del target[int(last) if last.isdigit() else last]
    elif last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    return data


_DELETE = object()


class TestShipped:
    def test_builtin_scenarios_load(self) -> None:
        """Every shipped scenario loads and compiles."""
        assert {"dhs-paper", "camera-streams"} <= set(builtin_scenario_names())
        for name in builtin_scenario_names():
            scenario = load_scenario(name)
            for condition in scenario.condition_names:
                assert len(scenario.problem(condition).graph) > 1

    @pytest.mark.parametrize("condition", ["U-H", "U-L", "B-H", "B-L"])
    def test_paper_scenario_classifies_each_case_as_named(self, condition: str) -> None:
        """DHS classifies each of the paper scenario's cases as the condition it is named for."""
        scenario = load_scenario("dhs-paper")
        problem = scenario.problem(condition)
        assert classify_load(problem, scenario.delta1, scenario.delta2).condition == condition

    def test_paper_scenario_matches_the_paper(self) -> None:
        """4 cameras (1 Pi, 3 TX2) and an edge server; 6 heavy and 3 light requests."""
        scenario = load_scenario("dhs-paper")
        cameras = scenario.cluster.nodes_with_role("camera")
        assert len(cameras) == 4 and len(scenario.cluster.nodes_with_role("edge")) == 1
        assert (scenario.delta1, scenario.delta2) == (0.1, 1.0)
        for condition in scenario.condition_names:
            models = sorted(r.model for r in scenario.requests(condition))
            per_model = 2 if condition.endswith("H") else 1
            assert models == sorted(["alexnet", "googlenet", "resnet50"] * per_model)

    def test_export_round_trips_through_the_problem_file(self) -> None:
        """A scenario's problem survives the problem file's JSON form."""
        problem = load_scenario("dhs-paper").problem("U-L")
        again = problem_from_dict(problem_to_dict(problem))
        assert problem_to_dict(again) == problem_to_dict(problem)
        assert [r.id for r in again.requests] == ["r1", "r2", "r3"]


class TestConversion:
    def test_minimal_scenario(self) -> None:
        """Presets, overrides, links, media and request counts become model objects."""
        scenario = scenario_from_dict(MINIMAL)
        cluster = scenario.cluster
        assert cluster.node("cam1").speed > 1e10 and cluster.node("cam1").role == "camera"
        assert cluster.node("cam2").cores == 2 and cluster.node("cam2").power is not None
        assert cluster.link("cam1", "edge").bandwidth == pytest.approx(9.7e6)
        assert cluster.link("cam2", "edge").latency == 0.004
        assert scenario.network.media == (("wifi", ("cam1", "cam2")),)
        requests = scenario.requests()
        assert [(r.id, r.granularity, r.arrival) for r in requests] == [
            ("r1", "layer", 0.0),
            ("r2", "block", 0.5),
            ("r3", "block", 0.5),
        ]
        assert scenario.condition_names == ("default",)

    def test_file_and_builtin_name(self, tmp_path: Path) -> None:
        path = tmp_path / "s.yaml"
        path.write_text(yaml.safe_dump(MINIMAL))
        assert load_scenario(path).name == "tiny"
        assert load_scenario(str(path)).cluster.node_ids == ("cam1", "cam2", "edge")


BAD_CASES = [
    pytest.param(
        with_change("requests.1.camera", "cam9"),
        "requests[1].camera: unknown node 'cam9'",
        id="unknown-camera",
    ),
    pytest.param(
        with_change("requests.0.model", "vgg"),
        "requests[0].model: unknown model 'vgg'",
        id="unknown-model",
    ),
    pytest.param(
        with_change("devices.0.preset", "pi5"),
        "devices[0].preset: unknown device preset 'pi5'",
        id="unknown-device-preset",
    ),
    pytest.param(
        with_change("network.links.0.preset", "5g"),
        "network.links[0].preset: unknown link preset '5g'",
        id="unknown-link-preset",
    ),
    pytest.param(
        with_change("devices.1.colour", "red"), "devices[1].colour: unknown key", id="unknown-key"
    ),
    pytest.param(with_change("name", _DELETE), "name: missing required key", id="missing-key"),
    pytest.param(
        with_change("devices.1.speed", -1),
        "devices[1].speed: must be greater than 0",
        id="negative-number",
    ),
    pytest.param(
        with_change("requests.0.arrival", "soon"),
        "requests[0].arrival: must be a valid",
        id="wrong-type",
    ),
    pytest.param(
        with_change("requests.0.granularity", "neuron"),
        "requests[0].granularity: must be 'layer' or 'block'",
        id="bad-choice",
    ),
    pytest.param(
        with_change("devices.1.id", "cam1"),
        "devices[1].id: duplicate device id 'cam1'",
        id="duplicate-device",
    ),
    pytest.param(
        with_change("devices.2", {"id": "edge"}),
        "devices[2]: needs a preset or a speed",
        id="device-without-speed",
    ),
    pytest.param(
        with_change("network.links.0.between", ["cam1", "cloud"]),
        "network.links[0].between: unknown node 'cloud'",
        id="link-to-unknown-node",
    ),
    pytest.param(
        with_change("network.media.0.nodes", ["cam1", "cam7"]),
        "network.media[0].nodes[1]: unknown node 'cam7'",
        id="medium-unknown-node",
    ),
    pytest.param(
        with_change("network.model", "dedicated"),
        "network.media: media need",
        id="media-without-shared",
    ),
    pytest.param(
        with_change("requests", []), "scenario: a scenario needs requests", id="nothing-to-run"
    ),
    pytest.param(
        with_change("algorithms", ["heft", "heft"]),
        "algorithms: an algorithm is listed",
        id="algorithm-twice",
    ),
    pytest.param(
        with_change("failures", [{"node": "cam5", "at": 1.0}]),
        "failures[0].node: unknown node 'cam5'",
        id="failure-unknown-node",
    ),
    pytest.param(
        with_change("streams", [{"model": "alexnet", "camera": "cam1", "rate": 0, "duration": 1}]),
        "streams[0].rate: must be greater than 0",
        id="stream-zero-rate",
    ),
    pytest.param(
        with_change("conditions", {"U-H": {"requests": [{"model": "alexnet", "camera": "cam1"}]}}),
        "conditions: give either requests or conditions",
        id="requests-and-conditions",
    ),
    pytest.param(["not", "a", "mapping"], "scenario: must be a mapping", id="not-a-mapping"),
]


@pytest.mark.parametrize(("data", "message"), BAD_CASES)
def test_validation_errors_name_the_place(data: Any, message: str) -> None:
    """Each kind of mistake is one line that starts with where it is."""
    with pytest.raises(ModelError) as info:
        scenario_from_dict(data)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(message), text


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\ndevices: [\n  {id: a\n")
    with pytest.raises(ProblemFileError, match=r"broken.yaml: line \d+: not valid YAML"):
        load_scenario(path)


def test_missing_file_lists_the_builtins(tmp_path: Path) -> None:
    with pytest.raises(ProblemFileError, match="dhs-paper"):
        load_scenario(tmp_path / "nope.yaml")


def test_unknown_condition() -> None:
    with pytest.raises(ModelError, match="unknown condition 'X-Y'"):
        load_scenario("dhs-paper").requests("X-Y")
