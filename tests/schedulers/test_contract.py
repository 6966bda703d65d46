"""Every registered scheduler × every problem it applies to gives a valid schedule."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cases import problem_cases, scheduler_for_tests
from edgeoffload.model import Problem, schedule_violations
from edgeoffload.schedulers import available_schedulers, get_scheduler

CASES = problem_cases()


@pytest.mark.parametrize("algorithm", sorted(available_schedulers()))
@pytest.mark.parametrize("case", sorted(CASES))
def test_schedule_is_valid(algorithm: str, case: str) -> None:
    """The validator (the oracle) finds nothing wrong with the schedule."""
    problem: Problem = CASES[case]()
    scheduler = scheduler_for_tests(algorithm)
    reason = scheduler.applies_to(problem)
    if reason is not None:
        assert algorithm == "edge" and "edge" in reason
        assert not problem.cluster.nodes_with_role("edge")
        return
    result = scheduler.schedule(problem)
    assert result.algorithm == algorithm
    assert schedule_violations(problem, result) == []
    assert len(result) == len(problem.graph)


@pytest.mark.parametrize("algorithm", sorted(available_schedulers()))
def test_same_input_same_schedule_byte_for_byte(algorithm: str) -> None:
    """Two runs on freshly built copies of a problem give identical JSON."""
    make: Callable[[], Problem] = CASES["multi-request"]
    first = scheduler_for_tests(algorithm).schedule(make()).to_json()
    second = scheduler_for_tests(algorithm).schedule(make()).to_json()
    assert first == second


@pytest.mark.parametrize("algorithm", ["heft", "cpop", "peft", "dhs", "portfolio", "local", "edge"])
def test_arrivals_are_honoured(algorithm: str) -> None:
    """No task of a request starts before the request arrives."""
    problem = CASES["multi-request"]()
    result = get_scheduler(algorithm).schedule(problem)
    for i, task in enumerate(problem.graph.tasks):
        assert result.assignment(task.id).start >= problem.release_time(i)
    assert min(result.assignment(t).start for t in ("r3/input", "r3/conv1", "r3/fc")) >= 0.25


@pytest.mark.parametrize("algorithm", ["heft", "cpop", "peft", "local"])
def test_busy_node_is_not_used_before_it_is_free(algorithm: str) -> None:
    """A node's available_from holds back every task placed on it."""
    problem = CASES["busy-node"]()
    result = get_scheduler(algorithm).schedule(problem)
    assert all(a.start >= 5.0 for a in result.timeline("fast"))


@pytest.mark.parametrize("algorithm", ["heft", "cpop", "peft", "dhs", "portfolio", "local", "edge"])
def test_pins_are_honoured(algorithm: str) -> None:
    problem = CASES["pinned"]()
    result = get_scheduler(algorithm).schedule(problem)
    assert result.assignment("a").node == "cam1"
    assert result.assignment("d").node == "edge"


def test_checked_schedule_refuses_and_validates() -> None:
    """One line when a scheduler does not apply; a buggy schedule never comes out."""
    from typing import ClassVar

    from edgeoffload.errors import InvalidScheduleError, ModelError
    from edgeoffload.model import Assignment, Cluster, Node, Problem, Schedule, Task, TaskGraph
    from edgeoffload.schedulers import Scheduler, get_scheduler

    problem = Problem(TaskGraph([Task("a", 4.0)]), Cluster([Node("n1", 1.0), Node("n2", 2.0)]))

    class TooFast(Scheduler):
        name: ClassVar[str] = "too-fast"

        def schedule(self, problem: Problem) -> Schedule:  # finishes before its work is done
            return Schedule(self.name, [Assignment("a", "n2", 0.0, 1.0)])

    with pytest.raises(InvalidScheduleError):
        TooFast().checked_schedule(problem)
    with pytest.raises(ModelError, match=r"^edge: .*edge") as caught:
        get_scheduler("edge").checked_schedule(problem, "edge")
    assert caught.value.where == "edge"
    assert get_scheduler("heft").checked_schedule(problem).makespan == 2.0
