"""Scheduled DAGs on real worker processes (loopback): the order on every worker is the
schedule's, results equal a local run, a worker killed mid-DAG is re-planned around,
several requests from several cameras run at once, and calibration measures the workers
into a valid cluster file.

One embedded cluster of three workers named after the nodes (``cam1``, ``cam2``,
``edge``) serves the module; the test that kills a worker runs last.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from edgeoffload.model import (
    Cluster,
    Link,
    Node,
    execution_order,
    problem_from_dict,
    validate_schedule,
)
from edgeoffload.model.learning import LearnedCosts
from edgeoffload.schedulers import get_scheduler

pytestmark = pytest.mark.dask

distributed = pytest.importorskip("distributed")

import eo_dagapp  # noqa: E402  (tests/runtime/apps, put on sys.path by conftest)

from edgeoffload.runtime import WorkerSpec, connect, run_dag  # noqa: E402
from edgeoffload.runtime.dag import (  # noqa: E402
    Dag,
    DagRequest,
    DagRun,
    TaskCall,
    run_local,
)

NODES = ("cam1", "cam2", "edge")
# the model the schedulers plan on: equal cameras, an edge server twice as fast
CLUSTER = Cluster(
    [
        Node("cam1", 1e9, role="camera"),
        Node("cam2", 1e9, role="camera"),
        Node("edge", 2e9, role="edge"),
    ],
    default_link=Link(1e8, 0.001),
)


@pytest.fixture(scope="module")
def session() -> Iterator[object]:
    workers = [WorkerSpec("cam1", role="camera"), WorkerSpec("cam2", role="camera")]
    workers.append(WorkerSpec("edge", role="edge"))
    with connect(workers=workers, timeout=90) as s:
        yield s


def pipeline(seconds: float = 0.0) -> Dag:
    """A diamond with a tail: a -> (b, c) -> d -> e; FLOP chosen so that tasks spread."""
    dag = Dag("diamond")
    dag.task(
        "a", eo_dagapp.combine, kwargs={"tag": "a", "seconds": seconds}, work=2e7, output_bytes=1e4
    )
    dag.task(
        "b",
        eo_dagapp.combine,
        after=["a"],
        kwargs={"tag": "b", "seconds": seconds},
        work=4e7,
        output_bytes=1e4,
    )
    dag.task(
        "c",
        eo_dagapp.combine,
        after=["a"],
        kwargs={"tag": "c", "seconds": seconds},
        work=4e7,
        output_bytes=1e4,
    )
    dag.task(
        "d", eo_dagapp.combine, after=["b", "c"], kwargs={"tag": "d"}, work=2e7, output_bytes=1e3
    )
    dag.task("e", eo_dagapp.combine, after=["d"], kwargs={"tag": "e"}, work=1e7)
    return dag


def requests(seconds: float = 0.0) -> list[DagRequest]:
    """Three requests: two with a camera-like frame source, one with its input given."""
    app = pipeline(seconds)
    return [
        DagRequest("r1", app, "cam1", source=_source(1), input_bytes=6e5),
        DagRequest("r2", app, "cam2", arrival=0.1, source=_source(2), input_bytes=6e5),
        DagRequest("r3", app, "cam1", arrival=0.05, input=[5, 6, 7]),
    ]


def _source(seed: int) -> TaskCall:
    return TaskCall(eo_dagapp.frame, (seed,))


def assert_schedule_order(run: DagRun) -> None:
    expected = execution_order(run.problem, run.schedule)
    assert run.order() == {n: order for n, order in expected.items() if order}


@pytest.mark.parametrize("algorithm", ["heft", "cpop", "peft", "dhs", "local", "edge"])
def test_each_worker_runs_its_tasks_in_the_schedules_order(session, algorithm: str) -> None:
    """Every worker ran exactly the tasks the schedule gave it, in the schedule's order,
    and the results are those of a local run."""
    run = run_dag(session, requests(), cluster=CLUSTER, algorithm=algorithm)
    assert run.outputs == run_local(requests())
    assert_schedule_order(run)
    nodes = {e.node for e in run.executions}
    assert nodes <= set(NODES)
    assert {a.node for a in run.schedule} - {"cam1", "cam2"} <= nodes
    assert not run.failures
    assert run.makespan > 0 and run.predicted_makespan > 0


def test_several_requests_from_several_cameras_as_dhs_schedules_them(session) -> None:
    """Three requests at two cameras are merged into one problem; no task starts before
    its request arrives; each request's source runs on its camera; per-request latencies
    are reported beside the predicted ones."""
    run = run_dag(session, requests(seconds=0.02), cluster=CLUSTER, algorithm="dhs")
    assert run.schedule.details["dhs"]["condition"] in ("U-H", "U-L", "B-H", "B-L")
    local = run_local(requests())
    assert run.results("r2") == {"e": local["r2/e"]}
    arrivals = {r.id: r.arrival for r in run.problem.requests}
    for e in run.executions:
        request = e.task.partition("/")[0]
        assert e.start >= arrivals[request] - 2e-3, (e, arrivals[request])
    placed = {e.task: e.node for e in run.executions}
    assert placed["r1/input"] == "cam1" and placed["r2/input"] == "cam2"
    assert placed["r3/input"] == "cam1"
    assert [r.id for r in run.requests] == ["r1", "r2", "r3"]
    for timing in run.requests:
        assert timing.latency is not None and timing.latency > 0
        assert timing.predicted_latency > 0
    assert_schedule_order(run)
    # what the run measured teaches a cost model that learns
    costs = LearnedCosts(run.problem.cluster)
    final = [e for e in run.executions if e.final and not e.failed]
    arrived = [t for t in run.transfers if t.ok]
    assert run.teach(costs) == len(final) + len(arrived) > 0
    learned, graph = costs.summary(), run.problem.graph
    timed = [e for e in final if graph.task(e.task).work and e.finish > e.start]
    assert {(s["node"], s["kind"]) for s in learned["speeds"]} == {
        (e.node, graph.task(e.task).kind) for e in timed
    }
    assert all(math.isfinite(s["speed"]) and s["speed"] > 0 for s in learned["speeds"])
    pairs = {tuple(sorted((t.source, t.target))) for t in arrived if t.source != t.target}
    assert {tuple(link["between"]) for link in learned["links"]} == pairs


def test_results_move_worker_to_worker_never_through_the_client(session) -> None:
    """Each dependency that crosses nodes is one push from producer to consumer node, with
    the producer's output size; dependencies on one node move nothing."""
    run = run_dag(session, requests(), cluster=CLUSTER, algorithm="heft", outputs="all")
    placed = {a.task: a.node for a in run.schedule}
    crossing = {
        (d.source, placed[d.target])
        for d in run.problem.graph.dependencies
        if placed[d.source] != placed[d.target]
    }
    pushed = {(t.task, t.target) for t in run.transfers}
    assert pushed == crossing
    assert all(t.source == placed[t.task] and t.ok for t in run.transfers)
    assert all(t.end >= t.start for t in run.transfers)
    assert set(run.outputs) == {t.id for t in run.problem.graph.tasks}
    assert run.outputs == run_local(requests(), outputs="all")


def test_a_given_schedule_is_what_runs(session) -> None:
    """A schedule made outside (the one the simulator evaluates) runs as it is."""
    from edgeoffload.runtime.dag import DagProblem

    app = DagProblem.from_requests(requests(), CLUSTER)
    schedule = get_scheduler("peft").schedule(app.problem)
    run = run_dag(session, app, schedule=schedule)
    assert run.schedule is schedule
    assert run.algorithm == "peft"
    assert_schedule_order(run)
    assert run.outputs == run_local(app)


def test_a_task_that_raises_fails_the_run_with_its_exception(session) -> None:
    """The task's own exception type comes back, with the worker's traceback as cause."""
    dag = Dag("broken")
    dag.task("a", eo_dagapp.combine, kwargs={"tag": "a"}, work=1e7, output_bytes=10)
    dag.task("b", eo_dagapp.broken, after=["a"], work=1e7)
    with pytest.raises(eo_dagapp.StageError, match="always fails") as info:
        run_dag(session, dag, cluster=CLUSTER, algorithm="heft")
    assert "StageError" in str(info.value.__cause__)


def test_unknown_worker_name_is_refused(session) -> None:
    cluster = Cluster([Node("cam1", 1e9), Node("cam9", 1e9)])
    from edgeoffload.errors import WorkerUnavailableError

    with pytest.raises(WorkerUnavailableError, match="cam9"):
        run_dag(session, pipeline(), cluster=cluster, algorithm="heft")


def test_call_on_runs_on_the_named_worker(session) -> None:
    """A pinned call: installed code by name, application code from its bundle."""
    assert session.call_on("cam2", os.getpid) != os.getpid()
    assert session.call_on("edge", eo_dagapp.combine, 1, 2, tag="x") == eo_dagapp.combine(
        1, 2, tag="x"
    )


def test_clock_offsets_are_reused_while_fresh(session) -> None:
    """A run reuses a worker's clock offset for a while instead of five round trips."""
    pool = session.pool
    first: dict[str, float] = {}
    offset = pool.clock_offsets(["cam1"], rtts=first)["cam1"]
    again: dict[str, float] = {}
    assert pool.clock_offsets(["cam1"], rtts=again, max_age=60.0) == {"cam1": offset}
    assert again == first  # nothing was asked: the same round trip
    fresh: dict[str, float] = {}
    pool.clock_offsets(["cam1"], rtts=fresh, max_age=0.0)
    assert fresh["cam1"] != first["cam1"]  # measured again
    assert abs(pool.clock_offsets(["cam1"], max_age=60.0)["cam1"]) < 0.05  # one machine


def test_calibration_measures_the_workers_into_a_valid_cluster_file(session, tmp_path) -> None:
    """Speeds per kind and links between every pair; the file reads back as a problem's
    cluster, schedules and simulates."""
    from edgeoffload.runtime.client.calibration import calibrate_cluster, load_cluster_file

    calibration = calibrate_cluster(
        session,
        base=CLUSTER,
        kinds=["conv", "fc", "pool"],
        seconds=0.02,
        repeats=1,
        link_options={"pings": 3, "repeats": 1, "max_size": 1 << 20, "min_seconds": 0.005},
    )
    cluster = calibration.cluster
    assert cluster.node_ids == NODES
    assert [n.role for n in cluster] == ["camera", "camera", "edge"]
    for node in cluster:
        assert node.speed > 1e7
        assert set(node.speed_by_kind) == {"conv", "fc", "pool"}
        assert node.speed_for("conv") == node.speed  # conv's kernel is the default one
    assert set(cluster.links) == {("cam1", "cam2"), ("cam1", "edge"), ("cam2", "edge")}
    for link in cluster.links.values():
        assert link.bandwidth > 1e6 and 0 < link.latency < 0.05
    assert set(calibration.client_links) == set(NODES)

    path = calibration.save(tmp_path / "cluster.json")
    data = json.loads(path.read_text())
    problem = problem_from_dict(
        {
            **data,
            "tasks": [{"id": "a", "work": 1e8, "kind": "conv"}, {"id": "b", "work": 1e6}],
            "dependencies": [{"from": "a", "to": "b", "data": 1e5}],
        }
    )
    assert problem.cluster.node_ids == NODES
    assert load_cluster_file(path).links == cluster.links
    schedule = get_scheduler("heft").schedule(problem)
    validate_schedule(problem, schedule)
    pytest.importorskip("simpy")
    from edgeoffload.simulation import SimConfig, simulate

    simulated = simulate(problem, schedule, SimConfig.schedulers_assumptions())
    assert simulated.makespan == pytest.approx(schedule.makespan)


def test_a_worker_killed_mid_dag_still_yields_the_correct_result(session, tmp_path) -> None:
    """SIGKILL the worker running a fan-out task: the unfinished part is re-planned on the
    other two workers with the same scheduler, and the result equals a local run."""
    from edgeoffload.runtime.dag import DagProblem

    dag = Dag("fan")
    dag.task(
        "a", eo_dagapp.combine, kwargs={"tag": "a", "seconds": 0.15}, work=1e8, output_bytes=1e3
    )
    fan = []
    for k in range(6):
        tag = f"m{k}"
        marker = str(tmp_path / tag)
        dag.task(
            tag,
            eo_dagapp.combine,
            after=["a"],
            kwargs={"tag": tag, "seconds": 0.3, "marker": marker},
            work=3e8,
            output_bytes=1e3,
        )
        fan.append(tag)
    dag.task("z", eo_dagapp.combine, after=fan, kwargs={"tag": "z"}, work=1e7)
    equal = Cluster(
        [Node(n, 1e9, role="edge" if n == "edge" else "camera") for n in NODES],
        default_link=Link(1e9, 0.0005),
    )
    app = DagProblem.from_requests([DagRequest("r1", dag, "cam1", input=[1, 2, 3])], equal)
    planned = get_scheduler("heft").schedule(app.problem)
    victim = next(a.node for a in planned if a.task.startswith("r1/m") and a.node != "cam1")
    watched = next(a.task for a in planned if a.node == victim and a.task.startswith("r1/m"))
    marker = tmp_path / watched.partition("/")[2]
    pid = session.cluster.worker_pids()[victim]

    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(run_dag, session, app, algorithm="heft")
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline and not future.done():
            time.sleep(0.01)
        assert marker.exists(), "the watched task never started"
        os.kill(pid, signal.SIGKILL)
        run = future.result(timeout=120)

    assert run.outputs == run_local(app)
    assert len(run.failures) == 1 and run.failures[0].startswith(victim)
    assert len(run.replans) == 1
    replan = run.replans[0]
    assert victim not in {a.node for a in replan}
    assert min(a.start for a in replan) > 0  # the survivors were busy from the failure on
    final = [e for e in run.executions if e.final]
    assert {e.task for e in final} == {t.id for t in app.problem.graph.tasks}
    assert all(e.node != victim or e.epoch == 1 for e in final)
    assert any(e.epoch == 2 for e in final)
    Path(marker).unlink()
