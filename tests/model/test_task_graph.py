"""TaskGraph: validation on construction and O(1) lookups."""

from __future__ import annotations

import math

import pytest

from edgeoffload.errors import ModelError
from edgeoffload.model import Dependency, Task, TaskGraph


class TestConstruction:
    def test_empty_graph_is_refused(self) -> None:
        with pytest.raises(ModelError, match="at least one task"):
            TaskGraph([])

    def test_duplicate_task_id_names_the_position(self) -> None:
        with pytest.raises(ModelError, match=r"tasks\[1\]: duplicate task id 'a'"):
            TaskGraph([Task("a", 1.0), Task("a", 2.0)])

    def test_unknown_task_in_dependency(self) -> None:
        with pytest.raises(ModelError, match=r"dependencies\[0\]: unknown task 'z'"):
            TaskGraph([Task("a", 1.0)], [Dependency("a", "z")])

    def test_self_dependency(self) -> None:
        with pytest.raises(ModelError, match="depends on itself"):
            TaskGraph([Task("a", 1.0)], [Dependency("a", "a")])

    def test_pair_listed_twice(self) -> None:
        with pytest.raises(ModelError, match="listed twice"):
            TaskGraph([Task("a"), Task("b")], [Dependency("a", "b", 1), Dependency("a", "b", 2)])

    def test_cycle_names_a_task_on_it(self) -> None:
        tasks = [Task("a", 1.0), Task("b", 1.0), Task("c", 1.0), Task("d", 1.0)]
        deps = [
            Dependency("a", "b"),
            Dependency("b", "c"),
            Dependency("c", "b"),
            Dependency("c", "d"),
        ]
        with pytest.raises(ModelError, match=r"cycle through task '[bc]'"):
            TaskGraph(tasks, deps)

    @pytest.mark.parametrize("work", [-1.0, math.nan, math.inf, "3", True])
    def test_bad_work(self, work: object) -> None:
        with pytest.raises(ModelError, match=r"task 'a'\.work"):
            Task("a", work)  # type: ignore[arg-type]

    @pytest.mark.parametrize("data", [-5.0, math.inf])
    def test_bad_data(self, data: float) -> None:
        with pytest.raises(ModelError, match=r"dependency 'a' -> 'b'\.data"):
            Dependency("a", "b", data)

    def test_zero_work_and_data_are_valid(self) -> None:
        g = TaskGraph([Task("a", 0.0), Task("b", 0.0)], [Dependency("a", "b", 0.0)])
        assert g.dependency("a", "b").data == 0.0


class TestLookups:
    @pytest.fixture
    def diamond(self) -> TaskGraph:
        return TaskGraph(
            [Task("d", 1.0), Task("b", 1.0), Task("a", 1.0), Task("c", 1.0)],
            [
                Dependency("a", "b", 1.0),
                Dependency("a", "c", 2.0),
                Dependency("b", "d", 3.0),
                Dependency("c", "d", 4.0),
            ],
        )

    def test_predecessors_and_successors(self, diamond: TaskGraph) -> None:
        assert diamond.successors("a") == ("b", "c")
        assert diamond.predecessors("d") == ("b", "c")
        assert diamond.predecessors("a") == ()

    def test_dependency_lookup(self, diamond: TaskGraph) -> None:
        assert diamond.dependency("c", "d").data == 4.0
        with pytest.raises(KeyError):
            diamond.dependency("d", "c")

    def test_entry_and_exit(self, diamond: TaskGraph) -> None:
        assert diamond.entry_tasks() == ("a",)
        assert diamond.exit_tasks() == ("d",)

    def test_topological_order_respects_dependencies_and_ties_by_task_order(
        self, diamond: TaskGraph
    ) -> None:
        order = [diamond.tasks[i].id for i in diamond.topological_order]
        assert order == ["a", "b", "c", "d"]

    def test_membership_and_index(self, diamond: TaskGraph) -> None:
        assert "c" in diamond and "x" not in diamond
        assert diamond.index("a") == 2
        assert diamond.task("b").work == 1.0
        assert len(diamond) == 4
