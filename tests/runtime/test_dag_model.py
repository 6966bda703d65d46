"""The scheduled-DAG model without workers: building DAGs, binding calls, local runs."""

from __future__ import annotations

import operator

import pytest

from edgeoffload.errors import ModelError
from edgeoffload.model import (
    Cluster,
    Dependency,
    Link,
    Node,
    Problem,
    Task,
    TaskGraph,
)
from edgeoffload.runtime.dag import (
    Dag,
    DagProblem,
    DagRequest,
    TaskCall,
    run_local,
)
from edgeoffload.runtime.dag.model import pass_input


def add(*values: int) -> int:
    return sum(values)


def scale(value: int, factor: int = 1) -> int:
    return value * factor


def diamond() -> Dag:
    dag = Dag("diamond")
    dag.task("a", add, args=(1, 2), work=1e9, output_bytes=100)
    dag.task("b", scale, after=["a"], kwargs={"factor": 10}, work=2e9, output_bytes=50)
    dag.task("c", scale, after=["a"], kwargs={"factor": 100}, work=2e9, output_bytes=50)
    dag.task("d", add, after=["b", "c"], work=1e9)
    return dag


CLUSTER = Cluster(
    [
        Node("cam1", 1e9, role="camera"),
        Node("cam2", 1e9, role="camera"),
        Node("edge", 4e9, role="edge"),
    ],
    {("cam1", "edge"): Link(1e6, 0.002)},
    Link(5e5, 0.004),
)


class TestDag:
    def test_graph_carries_work_kind_and_the_producers_output_bytes(self) -> None:
        graph = diamond().graph
        assert [t.id for t in graph.tasks] == ["a", "b", "c", "d"]
        assert graph.task("b").work == 2e9
        assert graph.dependency("a", "b").data == 100
        assert graph.dependency("c", "d").data == 50
        assert graph.predecessors("d") == ("b", "c")

    def test_duplicate_and_unknown_ids_are_refused(self) -> None:
        dag = diamond()
        with pytest.raises(ModelError, match="duplicate task id 'a'"):
            dag.task("a", add)
        with pytest.raises(ModelError, match="unknown task 'zz'"):
            dag.task("e", add, after=["zz"])

    def test_functions_must_be_found_by_name_on_a_worker(self) -> None:
        with pytest.raises(TypeError, match="module level"):
            TaskCall(lambda x: x)

        def local(x: int) -> int:
            return x

        with pytest.raises(TypeError, match="module level"):
            Dag().task("a", local)

    def test_run_local_passes_predecessors_results_in_order(self) -> None:
        assert run_local(diamond()) == {"d": 30 + 300}
        assert run_local(diamond(), outputs="all") == {"a": 3, "b": 30, "c": 300, "d": 330}

    def test_from_graph_wraps_a_model_graph(self) -> None:
        graph = TaskGraph([Task("x", 1.0), Task("y", 2.0)], [Dependency("x", "y", 8.0)])
        dag = Dag.from_graph(graph, lambda t: TaskCall(add, (len(t.id),)))
        assert dag.graph is graph
        assert run_local(dag) == {"y": 2}


class TestRequests:
    def test_requests_merge_with_a_source_on_their_camera(self) -> None:
        app = diamond()
        requests = [
            DagRequest("r1", app, "cam1", input=7),
            DagRequest("r2", app, "cam2", arrival=0.5, source=TaskCall(operator.neg, (4,))),
        ]
        bound = DagProblem.from_requests(requests, CLUSTER)
        graph = bound.problem.graph
        assert graph.task("r1/input").pinned == "cam1"
        assert graph.task("r2/input").pinned == "cam2"
        assert bound.calls["r1/input"].function is pass_input
        assert graph.dependency("r2/input", "r2/a").data == 0.0  # a source: no size given
        assert graph.dependency("r1/input", "r1/a").data > 0  # the pickled input's size
        assert bound.outputs == ("r1/d", "r2/d")
        assert [r.arrival for r in bound.problem.requests] == [0.0, 0.5]
        # entry tasks receive the request's input first: a = 7 + 1 + 2, -4 + 1 + 2
        assert run_local(requests) == {"r1/d": 110 * 10, "r2/d": 110 * -1}

    def test_numpy_input_bytes_are_its_nbytes(self) -> None:
        np = pytest.importorskip("numpy")
        request = DagRequest("r1", diamond(), "cam1", input=np.zeros((3, 4), dtype=np.float32))
        assert request.data_bytes() == 48.0

    def test_bind_needs_a_call_for_every_task(self) -> None:
        problem = Problem(diamond().graph, CLUSTER)
        with pytest.raises(ModelError, match="no call for task"):
            DagProblem.bind(problem, {"a": add})
        with pytest.raises(ModelError, match="unknown task 'zz'"):
            DagProblem.bind(problem, lambda t: add, outputs=["zz"])
