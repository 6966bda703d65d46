"""Times stay exact at Unix-timestamp scale: schedulers work relative to the earliest
arrival (issue "Every input checked")."""

from __future__ import annotations

import pytest

from cases import multi_request_problem
from edgeoffload.model import Problem, Request, Schedule, schedule_violations, validate_schedule
from edgeoffload.schedulers import get_scheduler
from edgeoffload.schedulers.registry import available_schedulers

SHIFT = 1.7e9


def _later(problem: Problem, seconds: float) -> Problem:
    requests = [Request(r.id, r.arrival + seconds) for r in problem.requests]
    return Problem(problem.graph, problem.cluster, requests, problem.exec_times)


@pytest.mark.parametrize("name", sorted(available_schedulers()))
def test_shifting_every_arrival_shifts_every_time(name: str) -> None:
    """Every start and finish moves by the shift, within 1e-6 s, and the shifted
    schedule validates."""
    problem = multi_request_problem()
    scheduler = get_scheduler(name)
    if scheduler.applies_to(problem) is not None:
        pytest.skip(f"{name}: {scheduler.applies_to(problem)}")
    here = scheduler.schedule(problem)
    later_problem = _later(problem, SHIFT)
    later = scheduler.schedule(later_problem)
    validate_schedule(later_problem, later)
    for a in here:
        b = later.assignment(a.task)
        assert b.node == a.node
        assert abs(b.start - SHIFT - a.start) < 1e-6
        assert abs(b.finish - SHIFT - a.finish) < 1e-6


def test_a_real_gap_is_still_a_violation_at_timestamp_scale() -> None:
    """The tolerance covers float resolution there, not a late start of a millisecond."""
    problem = _later(multi_request_problem(), SHIFT)
    schedule = get_scheduler("heft").schedule(problem)
    first = schedule.assignments[0]
    early = [
        type(a)(a.task, a.node, a.start - 1e-3, a.finish - 1e-3) if a is first else a
        for a in schedule
    ]
    violations = schedule_violations(problem, Schedule("heft", early))
    assert any("before its request arrives" in v for v in violations), violations
