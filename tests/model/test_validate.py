"""The validator finds every kind of violation."""

from __future__ import annotations

import pytest

from edgeoffload.errors import InvalidScheduleError
from edgeoffload.model import (
    Assignment,
    Cluster,
    Dependency,
    Link,
    Node,
    Problem,
    Request,
    Schedule,
    Task,
    TaskGraph,
    schedule_violations,
    validate_schedule,
)


@pytest.fixture
def problem() -> Problem:
    g = TaskGraph(
        [
            Task("a", 2.0, request="r"),
            Task("b", 4.0, request="r"),
            Task("c", 2.0, pinned="p1", request="r"),
        ],
        [Dependency("a", "b", 10.0), Dependency("a", "c", 0.0)],
    )
    c = Cluster([Node("p1", 1.0), Node("p2", 2.0, available_from=1.0)], default_link=Link(5.0, 1.0))
    return Problem(g, c, [Request("r", 0.5)])


def good() -> list[Assignment]:
    # a on p1 [0.5, 2.5]; b on p2 after the 1 + 10/5 = 3 s transfer: [5.5, 7.5]; c on p1 [2.5, 4.5]
    return [
        Assignment("a", "p1", 0.5, 2.5),
        Assignment("b", "p2", 5.5, 7.5),
        Assignment("c", "p1", 2.5, 4.5),
    ]


def test_valid_schedule_passes(problem: Problem) -> None:
    validate_schedule(problem, Schedule("x", good()))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s[:2], "task 'c' is not scheduled"),
        (lambda s: [*s, Assignment("zz", "p1", 9, 9)], "unknown task 'zz'"),
        (lambda s: [s[0], Assignment("b", "p9", 5.5, 7.5), s[2]], "unknown node 'p9'"),
        (
            lambda s: [s[0], Assignment("b", "p2", 5.0, 7.0), s[2]],
            "its input from 'a' arrives at 5.5",
        ),
        (lambda s: [s[0], Assignment("b", "p2", 5.5, 8.0), s[2]], "the cost model says 2"),
        (lambda s: [Assignment("a", "p1", 0.0, 2.0), *s[1:]], "before its request arrives at 0.5"),
        (lambda s: [s[0], s[1], Assignment("c", "p2", 7.5, 8.5)], "pinned to 'p1'"),
        (lambda s: [s[0], s[1], Assignment("c", "p1", 1.5, 3.5)], "overlap on 'p1'"),
        (
            lambda s: [Assignment("a", "p2", 0.5, 1.5), Assignment("b", "p2", 1.5, 3.5), s[2]],
            "busy until 1",
        ),
    ],
)
def test_each_violation_is_reported(problem: Problem, change: object, message: str) -> None:
    broken = Schedule("x", change(good()))  # type: ignore[operator]
    violations = schedule_violations(problem, broken)
    assert any(message in v for v in violations), violations
    with pytest.raises(InvalidScheduleError):
        validate_schedule(problem, broken)


def test_zero_length_task_may_touch_another(problem: Problem) -> None:
    g = TaskGraph([Task("a", 0.0), Task("b", 2.0)])
    p = Problem(g, Cluster([Node("p", 1.0)]))
    validate_schedule(
        p, Schedule("x", [Assignment("b", "p", 0.0, 2.0), Assignment("a", "p", 2.0, 2.0)])
    )
    validate_schedule(
        p, Schedule("x", [Assignment("b", "p", 0.0, 2.0), Assignment("a", "p", 0.0, 0.0)])
    )
