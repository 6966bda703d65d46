"""Re-planning after a failure: the remaining problem and its schedule on the survivors."""

from __future__ import annotations

import pytest

from edgeoffload.errors import InfeasibleScheduleError
from edgeoffload.model import (
    AppRequest,
    Cluster,
    Dependency,
    Link,
    Node,
    Problem,
    Task,
    TaskGraph,
    merge_requests,
    validate_schedule,
)
from edgeoffload.schedulers import available_schedulers, get_scheduler, remaining_problem, replan

CLUSTER = Cluster(
    [
        Node("cam1", 1e9, role="camera"),
        Node("cam2", 1e9, role="camera"),
        Node("edge", 4e9, role="edge"),
    ],
    {("cam1", "edge"): Link(1e6, 0.002)},
    Link(5e5, 0.004),
)


def diamond() -> TaskGraph:
    return TaskGraph(
        [Task("a", 1e9), Task("b", 2e9), Task("c", 2e9), Task("d", 1e9)],
        [
            Dependency("a", "b", 100),
            Dependency("a", "c", 100),
            Dependency("b", "d", 50),
            Dependency("c", "d", 50),
        ],
    )


def diamond_problem() -> Problem:
    """The diamond as one request arriving at cam1 at time 0, with 8 bytes of input."""
    return merge_requests([AppRequest("r1", diamond(), "cam1", 0.0, 8.0)], CLUSTER)


class TestRemainingProblem:
    def test_nothing_left_when_every_output_is_held(self) -> None:
        sub, needed, stubs = remaining_problem(
            diamond_problem(), {"r1/d": "edge"}, ["edge"], 1.0, ["r1/d"]
        )
        assert (sub, needed, stubs) == (None, (), {})

    def test_finished_inputs_become_zero_work_tasks_pinned_where_they_are(self) -> None:
        held = {"r1/input": "cam1", "r1/a": "cam1", "r1/b": "cam2"}
        sub, needed, stubs = remaining_problem(
            diamond_problem(), held, ["cam1", "cam2"], 2.5, ["r1/d"]
        )
        assert sub is not None
        assert needed == ("r1/c", "r1/d")
        assert stubs == {"r1/a": "cam1", "r1/b": "cam2"}
        assert [t.id for t in sub.graph.tasks] == ["r1/a", "r1/b", "r1/c", "r1/d"]
        assert sub.graph.task("r1/a").work == 0 and sub.graph.task("r1/a").pinned == "cam1"
        assert sub.graph.dependency("r1/a", "r1/c").data == 100
        assert sub.cluster.node_ids == ("cam1", "cam2")  # edge failed
        assert all(n.available_from == 2.5 for n in sub.cluster)
        assert sub.cluster.links == {}  # the only link listed was to the edge
        assert sub.cluster.default_link == CLUSTER.default_link
        assert [r.id for r in sub.requests] == ["r1"]

    def test_unfinished_tasks_no_output_needs_are_left_out(self) -> None:
        """b's consumer is done, so b need not run again even though its result is lost."""
        held = {"r1/input": "cam1", "r1/a": "cam1", "r1/c": "cam1", "r1/d": "cam1"}
        graph = diamond_problem().graph
        outputs = ["r1/d"]
        sub, needed, _ = remaining_problem(diamond_problem(), held, ["cam1"], 0.0, outputs)
        assert sub is None and needed == ()
        held.pop("r1/d")
        sub, needed, stubs = remaining_problem(diamond_problem(), held, ["cam1"], 0.0, outputs)
        assert needed == ("r1/b", "r1/d") and set(stubs) == {"r1/a", "r1/c"}
        assert "r1/b" in graph

    def test_a_needed_task_pinned_to_a_failed_node_cannot_move(self) -> None:
        with pytest.raises(InfeasibleScheduleError, match="pinned to node 'cam1'"):
            remaining_problem(diamond_problem(), {}, ["cam2", "edge"], 1.0, ["r1/d"])

    @pytest.mark.parametrize("algorithm", sorted(available_schedulers()))
    def test_every_scheduler_schedules_the_remaining_problem(self, algorithm: str) -> None:
        held = {"r1/input": "cam1", "r1/a": "cam2"}
        sub, _, _ = remaining_problem(
            diamond_problem(), held, ["cam1", "cam2", "edge"], 3.0, ["r1/d"]
        )
        assert sub is not None
        schedule = get_scheduler(algorithm).schedule(sub)
        validate_schedule(sub, schedule)
        assert min(a.start for a in schedule) >= 3.0


class TestReplan:
    def test_the_rest_is_scheduled_on_the_survivors_from_now(self) -> None:
        problem = diamond_problem()
        held = {"r1/input": "cam1", "r1/a": "cam1"}
        plan = replan(problem, get_scheduler("heft"), held, ["cam1", "cam2"], 1.5, ["r1/d"])
        assert plan is not None
        assert plan.needed == ("r1/b", "r1/c", "r1/d")
        assert dict(plan.stubs) == {"r1/a": "cam1"}
        assert {a.node for a in plan.schedule} <= {"cam1", "cam2"}
        assert min(a.start for a in plan.schedule if a.task in plan.needed) >= 1.5

    def test_nothing_to_do_when_the_outputs_are_held(self) -> None:
        problem = diamond_problem()
        assert (
            replan(problem, get_scheduler("heft"), {"r1/d": "edge"}, ["edge"], 0.0, ["r1/d"])
            is None
        )

    def test_no_survivor_is_infeasible(self) -> None:
        problem = diamond_problem()
        with pytest.raises(InfeasibleScheduleError, match="no node"):
            replan(problem, get_scheduler("heft"), {}, [], 0.0, ["r1/d"])
