"""Schedules: ordering, makespan, timelines, JSON round trip."""

from __future__ import annotations

import json

import pytest

from edgeoffload.errors import ModelError
from edgeoffload.model import Assignment, Schedule


@pytest.fixture
def schedule() -> Schedule:
    return Schedule(
        "heft",
        [
            Assignment("c", "p2", 1.0, 4.0),
            Assignment("b", "p1", 1.0, 2.5),
            Assignment("a", "p1", 0.0, 1.0),
        ],
        {"note": {"x": 1}},
    )


def test_sorted_by_start_then_task(schedule: Schedule) -> None:
    assert [a.task for a in schedule] == ["a", "b", "c"]


def test_makespan_and_timelines(schedule: Schedule) -> None:
    assert schedule.makespan == 4.0
    assert [a.task for a in schedule.timeline("p1")] == ["a", "b"]
    assert set(schedule.timelines()) == {"p1", "p2"}
    assert schedule.assignment("b").duration == 1.5


def test_empty_schedule_has_zero_makespan() -> None:
    assert Schedule("x", []).makespan == 0.0


def test_task_assigned_twice() -> None:
    with pytest.raises(ModelError, match="assigned twice"):
        Schedule("x", [Assignment("a", "p", 0, 1), Assignment("a", "q", 0, 1)])


def test_json_round_trip_is_exact(schedule: Schedule) -> None:
    text = schedule.to_json()
    back = Schedule.from_dict(json.loads(text))
    assert back == schedule
    assert back.to_json() == text
    assert json.loads(text)["makespan"] == 4.0
    assert json.loads(text)["note"] == {"x": 1}


def test_from_dict_rejects_garbage() -> None:
    with pytest.raises(ModelError, match="not a schedule"):
        Schedule.from_dict({"algorithm": "x", "assignments": [{"task": "a"}]})
