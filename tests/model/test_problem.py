"""Problems: pins, requests, execution-time tables, arrival nodes."""

from __future__ import annotations

import pytest

from edgeoffload.errors import ModelError
from edgeoffload.model import (
    IMPLICIT_REQUEST,
    AppRequest,
    Cluster,
    Dependency,
    Link,
    Node,
    Problem,
    Request,
    Task,
    TaskGraph,
    merge_requests,
)

CLUSTER = Cluster(
    [Node("c1", 1.0, role="camera"), Node("c2", 2.0, role="camera"), Node("e", 8.0, role="edge")]
)


def test_pin_to_unknown_node() -> None:
    with pytest.raises(ModelError, match=r"tasks\[0\] \('a'\): pinned to unknown node 'zz'"):
        Problem(TaskGraph([Task("a", 1.0, pinned="zz")]), CLUSTER)


def test_task_without_work_needs_a_time_on_every_node() -> None:
    g = TaskGraph([Task("a")])
    with pytest.raises(ModelError, match="no work and no execution time on every node"):
        Problem(g, CLUSTER, exec_times={"a": {"c1": 1.0}})
    full = Problem(g, CLUSTER, exec_times={"a": {"c1": 1.0, "c2": 2.0, "e": 3.0}})
    assert full.costs.exec_time("a", "e") == 3.0


def test_exec_times_for_unknown_task_or_node() -> None:
    g = TaskGraph([Task("a", 1.0)])
    with pytest.raises(ModelError, match="exec_times: unknown task 'b'"):
        Problem(g, CLUSTER, exec_times={"b": {"c1": 1.0}})
    with pytest.raises(ModelError, match=r"exec_times\.a: unknown node 'x'"):
        Problem(g, CLUSTER, exec_times={"a": {"x": 1.0}})


def test_requests_must_be_named_consistently() -> None:
    g = TaskGraph([Task("a", 1.0, request="r1"), Task("b", 1.0)])
    with pytest.raises(ModelError, match="names no request"):
        Problem(g, CLUSTER, [Request("r1")])
    with pytest.raises(ModelError, match="unknown request 'r1'"):
        Problem(TaskGraph([Task("a", 1.0, request="r1")]), CLUSTER)
    with pytest.raises(ModelError, match="duplicate request id"):
        Problem(TaskGraph([Task("a", 1.0, request="r")]), CLUSTER, [Request("r"), Request("r")])


def test_problem_without_requests_is_one_implicit_request_at_the_first_node() -> None:
    p = Problem(TaskGraph([Task("a", 1.0)]), CLUSTER)
    assert not p.has_requests
    assert [r.id for r in p.effective_requests] == [IMPLICIT_REQUEST]
    assert p.arrival_node(0) == "c1"


def test_arrival_node_is_the_pinned_entry_task() -> None:
    g = TaskGraph(
        [
            Task("x", 1.0, request="r"),
            Task("src", 0.0, pinned="c2", request="r"),
            Task("late", 1.0, pinned="e", request="r"),
        ],
        [Dependency("src", "x"), Dependency("x", "late")],
    )
    p = Problem(g, CLUSTER, [Request("r", 2.5)])
    assert p.arrival_node(0) == "c2"
    assert p.release_time(0) == 2.5


class TestMergeRequests:
    APP = TaskGraph(
        [Task("conv", 1e9, kind="conv"), Task("fc", 1e8, kind="fc")],
        [Dependency("conv", "fc", 4e3)],
    )

    def test_namespaces_ids_and_adds_a_pinned_source(self) -> None:
        p = merge_requests(
            [
                AppRequest("r1", self.APP, "c1", 0.0, 6e5),
                AppRequest("r2", self.APP, "c2", 1.5, 6e5),
            ],
            CLUSTER,
        )
        ids = [t.id for t in p.graph.tasks]
        assert ids == ["r1/input", "r1/conv", "r1/fc", "r2/input", "r2/conv", "r2/fc"]
        source = p.graph.task("r2/input")
        assert (source.work, source.pinned, source.request) == (0.0, "c2", "r2")
        assert p.graph.dependency("r2/input", "r2/conv").data == 6e5
        assert p.graph.dependency("r2/conv", "r2/fc").data == 4e3
        assert [(r.id, r.arrival) for r in p.requests] == [("r1", 0.0), ("r2", 1.5)]
        assert p.arrival_node(1) == "c2"
        assert p.graph.task("r1/fc").kind == "fc"

    def test_duplicate_request(self) -> None:
        with pytest.raises(ModelError, match="duplicate request id 'r'"):
            merge_requests(
                [AppRequest("r", self.APP, "c1"), AppRequest("r", self.APP, "c2")], CLUSTER
            )

    def test_unknown_camera(self) -> None:
        with pytest.raises(ModelError, match="unknown camera 'c9'"):
            merge_requests([AppRequest("r", self.APP, "c9")], CLUSTER)

    def test_application_may_not_have_an_input_task(self) -> None:
        with pytest.raises(ModelError, match="already has a task named 'input'"):
            AppRequest("r", TaskGraph([Task("input", 1.0)]), "c1")

    def test_exec_times_are_namespaced(self) -> None:
        app = TaskGraph([Task("k")])
        p = merge_requests(
            [AppRequest("r", app, "c1", exec_times={"k": {"c1": 1.0, "c2": 2.0, "e": 0.5}})],
            CLUSTER,
        )
        assert p.costs.exec_time("r/k", "e") == 0.5


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        (
            lambda: Problem(TaskGraph([Task("a", 1e308)]), Cluster([Node("n", 1e-10)])),
            "task 'a' on node 'n': its execution time overflows",
        ),
        (
            lambda: Problem(
                TaskGraph([Task("a", 1.0), Task("b", 1.0)], [Dependency("a", "b", 1e308)]),
                Cluster([Node("n", 1.0), Node("m", 1.0)], default_link=Link(1e-10)),
            ),
            "a transfer time overflows",
        ),
    ],
)
def test_overflowing_costs_are_input_errors(problem: object, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        _ = problem().costs  # type: ignore[operator]
