"""The problem file: reading, writing, and one-line errors that name the place."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from cases import PAPER_EXAMPLE, multi_request_problem
from edgeoffload.errors import ModelError, ProblemFileError
from edgeoffload.model import load_problem, problem_from_dict, problem_to_dict

BASE: dict[str, Any] = {
    "format": 1,
    "tasks": [
        {"id": "r1/input", "work": 0, "pinned": "cam1", "request": "r1"},
        {"id": "r1/conv1", "work": 1.2e9, "kind": "conv", "request": "r1"},
    ],
    "dependencies": [{"from": "r1/input", "to": "r1/conv1", "data": 6.0e5}],
    "nodes": [
        {"id": "cam1", "speed": 1.5e10, "role": "camera"},
        {
            "id": "edge",
            "speed": 2.0e11,
            "speed_by_kind": {"conv": 4.0e11},
            "role": "edge",
            "available_from": 0.0,
            "power": {"idle": 30, "busy": 90},
        },
    ],
    "links": [{"between": ["cam1", "edge"], "bandwidth": 1.0e7, "latency": 0.003}],
    "default_link": {"bandwidth": 1.0e7, "latency": 0.0},
    "requests": [{"id": "r1", "arrival": 0.0}],
    "exec_times": {"r1/conv1": {"cam1": 0.08, "edge": 0.006}},
    "_comment": "keys starting with _ are ignored",
}


def mutate(path: str, value: Any) -> dict[str, Any]:
    """BASE with the field at dotted ``path`` set to ``value`` (``...`` deletes it)."""
    data = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    target: Any = data
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    key: Any = int(last) if isinstance(target, list) else last
    if value is ...:
        del target[key]
    else:
        target[key] = value
    return data


def test_design_example_reads() -> None:
    p = problem_from_dict(BASE)
    assert p.costs.exec_time("r1/conv1", "edge") == 0.006
    assert p.cluster.node("edge").speed_for("conv") == 4.0e11
    assert p.cluster.node("edge").power is not None
    assert p.cluster.link("edge", "cam1").latency == 0.003  # type: ignore[union-attr]


def test_round_trip_describes_the_same_problem() -> None:
    for problem in (load_problem(PAPER_EXAMPLE), multi_request_problem(), problem_from_dict(BASE)):
        again = problem_from_dict(json.loads(json.dumps(problem_to_dict(problem))))
        assert problem_to_dict(again) == problem_to_dict(problem)


@pytest.mark.parametrize(
    ("path", "value", "where", "what"),
    [
        pytest.param("tasks.1.work", -1, "tasks[1].work", "must be >= 0", id="negative-work"),
        pytest.param("tasks.1.work", float("nan"), "tasks[1].work", "finite", id="nan-work"),
        pytest.param("tasks.1.work", "big", "tasks[1].work", "must be a number", id="text-work"),
        pytest.param(
            "tasks.1.id", "r1/input", "tasks[1]", "duplicate task id", id="duplicate-task"
        ),
        pytest.param("tasks.1.pinned", "cam9", "tasks[1]", "unknown node 'cam9'", id="pin-missing"),
        pytest.param("tasks.1.colour", "red", "tasks[1]", "unknown key 'colour'", id="unknown-key"),
        pytest.param("tasks.0.id", ..., "tasks[0]", "missing required key 'id'", id="no-id"),
        pytest.param("dependencies.0.to", "nope", "dependencies[0]", "unknown task", id="dangling"),
        pytest.param(
            "dependencies.0.data", float("inf"), "dependencies[0].data", "finite", id="inf-data"
        ),
        pytest.param("nodes.0.speed", 0, "nodes[0].speed", "must be > 0", id="zero-speed"),
        pytest.param(
            "nodes.1.speed_by_kind",
            {"conv": -4},
            "nodes[1].speed_by_kind.conv",
            "> 0",
            id="kind-speed",
        ),
        pytest.param("nodes.1.id", "cam1", "nodes[1]", "duplicate node id", id="duplicate-node"),
        pytest.param("nodes.0.role", "boss", "nodes[0].role", "must be one of", id="bad-role"),
        pytest.param("nodes", [], "nodes", "at least one node", id="no-nodes"),
        pytest.param(
            "links.0.between",
            ["cam1", "cam1"],
            "links[0].between",
            "linked to itself",
            id="self-link",
        ),
        pytest.param(
            "links.0.between",
            ["cam1", "x"],
            "links[0].between",
            "unknown node 'x'",
            id="link-unknown",
        ),
        pytest.param("links.0.bandwidth", 0, "links[0].bandwidth", "> 0", id="zero-bandwidth"),
        pytest.param(
            "requests.0.arrival", -3, "requests[0].arrival", ">= 0", id="negative-arrival"
        ),
        pytest.param(
            "exec_times.r1/conv1.edge", -1, "exec_times.r1/conv1.edge", ">= 0", id="neg-exec"
        ),
        pytest.param("format", 7, "format", "unsupported version", id="format"),
        pytest.param("tasks", {"a": 1}, "tasks", "must be a list", id="tasks-not-list"),
        pytest.param("colour", 1, "problem", "unknown key 'colour'", id="top-unknown"),
    ],
)
def test_bad_input_names_the_place(path: str, value: Any, where: str, what: str) -> None:
    with pytest.raises(ModelError) as info:
        problem_from_dict(mutate(path, value))
    assert str(info.value).startswith(where)
    assert what in str(info.value)
    assert "\n" not in str(info.value)


def test_link_listed_twice() -> None:
    data = copy.deepcopy(BASE)
    data["links"].append({"between": ["edge", "cam1"], "bandwidth": 1.0})
    with pytest.raises(ModelError, match=r"links\[1\]: the pair 'edge'-'cam1' is linked twice"):
        problem_from_dict(data)


def test_cycle() -> None:
    data = copy.deepcopy(BASE)
    data["dependencies"].append({"from": "r1/conv1", "to": "r1/input"})
    with pytest.raises(ModelError, match="cycle"):
        problem_from_dict(data)


def test_task_with_neither_work_nor_times() -> None:
    data = mutate("tasks.1.work", ...)
    data["exec_times"]["r1/conv1"] = {"cam1": 0.08}
    with pytest.raises(ModelError, match="no work and no execution time on every node"):
        problem_from_dict(data)


class TestFiles:
    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(ProblemFileError, match="no such file"):
            load_problem(tmp_path / "nope.json")

    def test_malformed_json_names_line_and_column(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.json"
        path.write_text('{"tasks": [\n  {"id": "a",}\n]}')
        with pytest.raises(ProblemFileError, match=r"bad.json: line 2, column"):
            load_problem(path)

    def test_directory(self, tmp_path: Path) -> None:
        with pytest.raises(ProblemFileError, match="is a directory"):
            load_problem(tmp_path)

    def test_error_inside_file_names_file_and_place(self, tmp_path: Path) -> None:
        path = tmp_path / "p.json"
        path.write_text(json.dumps(mutate("nodes.0.speed", -1)))
        with pytest.raises(ModelError, match=r"p.json: nodes\[0\].speed: must be > 0"):
            load_problem(path)

    def test_not_utf8(self, tmp_path: Path) -> None:
        path = tmp_path / "p.json"
        path.write_bytes(b"\xff\xfe\x00garbage")
        with pytest.raises(ProblemFileError, match="not UTF-8 text"):
            load_problem(path)


def test_problem_text_reads_back_as_the_same_problem(tmp_path: Path) -> None:
    from edgeoffload.model import problem_text
    from edgeoffload.workloads import builtin_problem

    problem = builtin_problem("camera_cluster")
    path = tmp_path / "p.json"
    path.write_text(problem_text(problem))
    again = load_problem(path)
    assert problem_to_dict(again) == problem_to_dict(problem)
    assert path.read_text().endswith("}\n") and path.read_text().startswith('{\n "format"')
