"""The run-order rule: by start, then finish, then topological position."""

from __future__ import annotations

from edgeoffload.model import (
    Assignment,
    Cluster,
    Dependency,
    Node,
    Problem,
    Schedule,
    Task,
    TaskGraph,
    execution_order,
)


class TestExecutionOrder:
    def test_start_then_finish_then_topological_position(self) -> None:
        """A zero-length source starts with the task it feeds and goes first."""
        graph = TaskGraph(
            [Task("z", 0.0), Task("a", 1.0), Task("b", 1.0)],
            [Dependency("z", "a"), Dependency("z", "b")],
        )
        problem = Problem(graph, Cluster([Node("p", 1.0), Node("q", 1.0)]))
        schedule = Schedule(
            "x",
            [
                Assignment("a", "p", 0.0, 1.0),
                Assignment("z", "p", 0.0, 0.0),
                Assignment("b", "q", 0.0, 1.0),
            ],
        )
        assert execution_order(problem, schedule) == {"p": ["z", "a"], "q": ["b"]}

    def test_tasks_the_schedule_does_not_place_are_left_out(self) -> None:
        """A re-plan schedules a subset: only the placed tasks are ordered."""
        graph = TaskGraph([Task("a", 1.0), Task("b", 1.0)], [Dependency("a", "b")])
        problem = Problem(graph, Cluster([Node("p", 1.0)]))
        schedule = Schedule("x", [Assignment("b", "p", 5.0, 6.0)])
        assert execution_order(problem, schedule) == {"p": ["b"]}
