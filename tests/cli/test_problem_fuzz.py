"""Random malformed problems never crash the loader or the CLI any other way than a ModelError."""

from __future__ import annotations

import contextlib
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeoffload.cli import main
from edgeoffload.errors import ModelError
from edgeoffload.model import problem_from_dict

VALID: dict[str, Any] = {
    "tasks": [
        {"id": "a", "work": 1.0, "kind": "conv"},
        {"id": "b", "work": 2.0, "request": "r"},
        {"id": "c", "pinned": "n1"},
    ],
    "dependencies": [{"from": "a", "to": "b", "data": 3.0}, {"from": "b", "to": "c"}],
    "nodes": [
        {"id": "n1", "speed": 1.0, "role": "camera", "power": {"idle": 1, "busy": 2}},
        {"id": "n2", "speed": 2.0, "speed_by_kind": {"conv": 4.0}},
    ],
    "links": [{"between": ["n1", "n2"], "bandwidth": 5.0, "latency": 0.1}],
    "default_link": {"bandwidth": 1.0},
    "requests": [{"id": "r", "arrival": 0.0}],
    "exec_times": {"c": {"n1": 1.0, "n2": 2.0}},
}
for task in VALID["tasks"]:
    task["request"] = "r"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-10, 10)
    | st.floats(allow_nan=True)
    | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*prefix, i))
    return out


ALL_PATHS = paths(VALID)[1:]


@st.composite
def malformed(draw: st.DrawFn) -> Any:
    data = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(ALL_PATHS))
        target: Any = data
        try:
            for key in path[:-1]:
                target = target[key]
            action = draw(st.sampled_from(["replace", "delete", "insert"]))
            if action == "delete":
                del target[path[-1]]
            elif action == "insert" and isinstance(target, dict):
                target[draw(st.text(max_size=6))] = draw(json_values)
            else:
                target[path[-1]] = draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue
    return data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(malformed())
def test_loader_raises_only_model_errors(data: Any) -> None:
    try:
        problem = problem_from_dict(data)
    except ModelError as exc:
        message = str(exc)
    else:
        assert problem.costs.exec.shape == (len(problem.graph), len(problem.cluster))
        return
    assert message
    assert "\n" not in message


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=malformed())
def test_cli_exits_0_or_2_with_one_line(
    data: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    code = main(["schedule", str(path), "--json"])
    out, err = capsys.readouterr()
    assert code in (0, 2), err
    if code == 2:
        assert err.count("\n") == 1 and "Traceback" not in err
    else:
        assert json.loads(out)["makespan"] >= 0


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_text_files(text: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "p.json"
        path.write_text(text, encoding="utf-8")
        from edgeoffload.model import load_problem

        with contextlib.suppress(ModelError):
            load_problem(path)
