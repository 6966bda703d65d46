"""The re-planning step's shared rules: the scheduler must apply to the rest, which copy
of a surviving result is used, and the check of a scheduler's name."""

from __future__ import annotations

import pytest

from edgeoffload.errors import InfeasibleScheduleError, ModelError
from edgeoffload.model import Cluster, Dependency, Link, Node, Problem, Task, TaskGraph
from edgeoffload.schedulers import (
    available_schedulers,
    check_scheduler_name,
    get_scheduler,
    holder,
    replan,
)


def problem() -> Problem:
    """a -> b on a camera and an edge node."""
    graph = TaskGraph([Task("a", 1e9), Task("b", 1e9)], [Dependency("a", "b", 1e3)])
    cluster = Cluster(
        [Node("cam", 1e9, role="camera"), Node("edge", 4e9, role="edge")],
        default_link=Link(1e6, 0.001),
    )
    return Problem(graph, cluster)


class TestReplanChecksTheScheduler:
    def test_a_scheduler_that_does_not_apply_to_the_rest_is_infeasible(self) -> None:
        """Edge needs an edge node: once it failed, the re-plan says why it cannot run."""
        scheduler = get_scheduler("edge")
        assert scheduler.applies_to(problem()) is None
        with pytest.raises(InfeasibleScheduleError) as caught:
            replan(problem(), scheduler, {"a": "cam"}, ["cam"], 1.0, ["b"])
        message = str(caught.value)
        assert message.startswith("scheduler 'edge' cannot schedule the rest on the survivors: ")
        assert "needs a node with role 'edge'" in message

    def test_a_scheduler_that_applies_replans(self) -> None:
        plan = replan(problem(), get_scheduler("heft"), {"a": "cam"}, ["cam"], 1.0, ["b"])
        assert plan is not None
        assert plan.needed == ("b",) and dict(plan.stubs) == {"a": "cam"}
        assert plan.schedule.assignment("b").node == "cam"
        assert plan.schedule.assignment("b").start >= 1.0


class TestHolder:
    def test_the_producer_when_it_holds_a_copy(self) -> None:
        assert holder("q", {"r", "q"}, ["p", "q", "r"]) == "q"

    def test_else_the_first_copy_in_cluster_order(self) -> None:
        assert holder("x", {"r", "q"}, ["p", "q", "r"]) == "q"
        assert holder(None, {"r"}, ["p", "q", "r"]) == "r"
        assert holder(2, {5, 3}, range(6)) == 3

    def test_none_when_no_survivor_holds_one(self) -> None:
        assert holder("x", set(), ["p", "q"]) is None
        assert holder("x", {"z"}, ["p", "q"]) is None


class TestCheckSchedulerName:
    def test_a_registered_name_passes(self) -> None:
        for name in available_schedulers():
            check_scheduler_name(name, "algorithm")

    def test_an_unknown_name_names_the_field_and_the_known_ones(self) -> None:
        known = ", ".join(sorted(available_schedulers()))
        with pytest.raises(ModelError) as caught:
            check_scheduler_name("nope", "algorithms[2]")
        assert str(caught.value) == f"algorithms[2]: unknown scheduler 'nope'; known: {known}"
