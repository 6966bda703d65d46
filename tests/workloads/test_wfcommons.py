"""The WfCommons importer (edgeoffload.workloads.wfcommons) on the shipped traces — two
real ones and one written by hand (tests/data/wfcommons/README.md) — and the task keys it
fills (cores, memory)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from edgeoffload.errors import ModelError
from edgeoffload.model import (
    Cluster,
    Link,
    Node,
    Problem,
    Task,
    TaskGraph,
    load_problem,
    problem_from_dict,
    problem_text,
    problem_to_dict,
    validate_schedule,
)
from edgeoffload.schedulers import get_scheduler
from edgeoffload.workloads.wfcommons import (
    STAGE_IN,
    STAGE_OUT,
    STORAGE_NODE,
    default_reference_speed,
    import_wfcommons,
    load_wfcommons,
    parse_wfcommons,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "wfcommons"
HANDMADE = DATA / "handmade-1.4.json"  # WfFormat 1.4, written by hand for these tests
SRASEARCH = DATA / "srasearch-chameleon-10a-001.json"  # WfFormat 1.5, Pegasus
EPIGENOMICS = DATA / "epigenomics-chameleon-hep-1seq-100k-001.json"  # WfFormat 1.5, Pegasus
TRACES = (HANDMADE, SRASEARCH, EPIGENOMICS)


def cluster() -> Cluster:
    nodes = [
        Node("pi", 2e9, role="camera"),
        Node("phone", 1e10),
        Node("edge", 5e10, role="edge"),
    ]
    return Cluster(nodes, {("pi", "edge"): Link(2e7, 0.002)}, Link(1.25e7, 0.003))


def raw(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def trace_task_count(data: dict[str, Any]) -> int:
    workflow = data["workflow"]
    tasks = workflow["tasks"] if "tasks" in workflow else workflow["specification"]["tasks"]
    return len(tasks)


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.stem)
def test_task_counts_match_the_trace(path: Path) -> None:
    data = raw(path)
    trace = load_wfcommons(path)
    assert len(trace.tasks) == trace_task_count(data)
    problem = import_wfcommons(trace, cluster())
    ids = [t.id for t in problem.graph.tasks]
    real = [i for i in ids if not i.startswith((STAGE_IN, STAGE_OUT))]
    assert len(real) == trace_task_count(data)
    # every stage task is zero-work and pinned to the storage node
    for t in problem.graph.tasks:
        if t.id.startswith((STAGE_IN, STAGE_OUT)):
            assert (t.work, t.pinned) == (0.0, STORAGE_NODE)
        else:
            assert t.pinned is None


def test_schema_versions_of_the_shipped_traces() -> None:
    assert [load_wfcommons(p).schema_version for p in TRACES] == ["1.4", "1.5", "1.5"]


def test_ids_are_the_traces_ids_unprefixed() -> None:
    hand = import_wfcommons(HANDMADE, cluster())  # 1.4: id 'ID01', name 'split_ID01'
    assert "ID01" in hand.graph and "split_ID01" not in hand.graph
    assert "package" in hand.graph  # 1.4 task with no id: its name
    sra = import_wfcommons(SRASEARCH, cluster())
    assert "bowtie2-build_ID0000001" in sra.graph


def test_dependency_data_is_the_shared_files_by_hand() -> None:
    """Checked by hand from the JSON: bowtie2-build_ID0000001 writes six index files
    that bowtie2_ID0000003 reads: 4226858 + 24280 + 24273 + 17 + 4226858 + 24280."""
    sra = import_wfcommons(SRASEARCH, cluster())
    dep = sra.graph.dependency("bowtie2-build_ID0000001", "bowtie2_ID0000003")
    assert dep.data == 8526566
    # 1.4, parents named by name: split_ID01 writes chunk.2 (200000 bytes), ID03 reads it;
    # stats_ID07 writes stats.txt and stats.json, package reads both: 2000 + 500
    hand = import_wfcommons(HANDMADE, cluster())
    assert hand.graph.dependency("ID01", "ID03").data == 200000
    assert hand.graph.dependency("ID07", "package").data == 2500
    assert hand.graph.dependency("ID06", "package").data == 0  # a parent, no file shared


def test_the_handmade_trace_by_hand() -> None:
    """Every task and dependency of tests/data/wfcommons/handmade-1.4.json, worked out by
    hand from the JSON (sizes in bytes; README.md there draws the graph)."""
    problem = import_wfcommons(HANDMADE, cluster(), reference_speed=1e9)
    graph = problem.graph
    work = {t.id: t.work for t in graph.tasks if not t.id.startswith((STAGE_IN, STAGE_OUT))}
    assert work == {
        "ID01": 10e9,  # split, 10 s x 1e9 FLOP/s
        "ID02": 60e9,  # the four aligns, 60, 70, 80 and 90 s
        "ID03": 70e9,
        "ID04": 80e9,
        "ID05": 90e9,
        "ID06": 15e9,  # merge
        "ID07": 5e9,  # stats
        "ID08": 8e9,  # plot
        "package": 3e9,
    }
    assert {(d.source, d.target): d.data for d in graph.dependencies} == {
        # workflow inputs: genome.fa + split.sh; ref.db to each align; plot.py
        (STAGE_IN + "ID01", "ID01"): 1000000 + 1000,
        (STAGE_IN + "ID02", "ID02"): 50000000,
        (STAGE_IN + "ID03", "ID03"): 50000000,
        (STAGE_IN + "ID04", "ID04"): 50000000,
        (STAGE_IN + "ID05", "ID05"): 50000000,
        (STAGE_IN + "ID08", "ID08"): 3000,
        # fan-out: chunk.1 .. chunk.4
        ("ID01", "ID02"): 100000,
        ("ID01", "ID03"): 200000,
        ("ID01", "ID04"): 300000,
        ("ID01", "ID05"): 400000,
        # fan-in: hits.1 .. hits.4 (log.1 .. log.4 are read by no task)
        ("ID02", "ID06"): 10000,
        ("ID03", "ID06"): 20000,
        ("ID04", "ID06"): 30000,
        ("ID05", "ID06"): 40000,
        # hits.all; ID06 -> ID08 is given only by merge's children list
        ("ID06", "ID07"): 100000,
        ("ID06", "ID08"): 100000,
        ("ID06", "package"): 0,
        ("ID07", "package"): 2000 + 500,  # stats.txt + stats.json
        ("ID08", "package"): 30000,  # plot.png
        # final outputs: log.1 .. log.4, results.tar
        ("ID02", STAGE_OUT + "ID02"): 1000,
        ("ID03", STAGE_OUT + "ID03"): 1000,
        ("ID04", STAGE_OUT + "ID04"): 1000,
        ("ID05", STAGE_OUT + "ID05"): 1000,
        ("package", STAGE_OUT + "package"): 32500,
    }
    assert len(graph.dependencies) == 24  # parents listed twice (parents, children) once
    assert len(graph.tasks) == 9 + 6 + 5  # tasks, stage-in, stage-out


def test_the_older_spellings_size_and_runtime_are_read() -> None:
    """``size`` for ``sizeInBytes`` and ``runtime`` for ``runtimeInSeconds`` (as WfFormat
    1.3 named them) give the same problem as the 1.4 names."""

    def older(d: dict[str, Any]) -> None:
        for task in d["workflow"]["tasks"]:
            task["runtime"] = task.pop("runtimeInSeconds")
            for entry in task["files"]:
                entry["size"] = entry.pop("sizeInBytes")

    data = mutated(HANDMADE, older)
    assert "runtimeInSeconds" not in json.dumps(data) and "sizeInBytes" not in json.dumps(data)
    again = import_wfcommons(parse_wfcommons(data), cluster())
    assert problem_text(again) == problem_text(import_wfcommons(HANDMADE, cluster()))


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.stem)
def test_every_dependency_is_the_sum_of_shared_files(path: Path) -> None:
    trace = load_wfcommons(path)
    problem = import_wfcommons(trace, cluster())
    by_id = {t.id: t for t in trace.tasks}
    for dep in problem.graph.dependencies:
        if dep.source in by_id and dep.target in by_id:
            shared = set(by_id[dep.source].outputs) & set(by_id[dep.target].inputs)
            assert dep.data == sum(trace.file_sizes[f] for f in shared)


def test_workflow_inputs_arrive_via_the_storage_node() -> None:
    """Workflow inputs (read, written by no task) come from stage-in tasks on storage:
    split_ID01 reads genome.fa (1000000 bytes) and split.sh (1000 bytes); bowtie2-build
    reads reference.fna (98721 bytes)."""
    hand = import_wfcommons(HANDMADE, cluster())
    assert hand.graph.dependency(STAGE_IN + "ID01", "ID01").data == 1001000
    assert hand.graph.dependency(STAGE_IN + "ID02", "ID02").data == 50000000  # ref.db
    sra = import_wfcommons(SRASEARCH, cluster())
    stage = STAGE_IN + "bowtie2-build_ID0000001"
    assert sra.graph.dependency(stage, "bowtie2-build_ID0000001").data == 98721
    assert sra.graph.task(stage).pinned == STORAGE_NODE
    # all workflow-input bytes of the trace arrive from storage, none from elsewhere
    trace = load_wfcommons(SRASEARCH)
    written = {f for t in trace.tasks for f in t.outputs}
    expected = sum(trace.file_sizes[f] for t in trace.tasks for f in t.inputs if f not in written)
    incoming = sum(d.data for d in sra.graph.dependencies if d.source.startswith(STAGE_IN))
    assert incoming == expected
    # final outputs leave for storage
    outgoing = [d for d in sra.graph.dependencies if d.target.startswith(STAGE_OUT)]
    assert outgoing and all(sra.graph.task(d.target).pinned == STORAGE_NODE for d in outgoing)


def test_storage_node_and_links() -> None:
    problem = import_wfcommons(
        HANDMADE, cluster(), storage_bandwidth=5e8, storage_latency=0.01, reference_speed=3e9
    )
    storage = problem.cluster.node(STORAGE_NODE)
    assert storage.role == "storage"
    for node in cluster().nodes:
        link = problem.cluster.link(STORAGE_NODE, node.id)
        assert link is not None and (link.bandwidth, link.latency) == (5e8, 0.01)
    # the cluster's own links are kept
    assert problem.cluster.link("pi", "edge") == Link(2e7, 0.002)
    # work = runtime x reference speed (split_ID01 ran 10 s)
    assert problem.graph.task("ID01").work == pytest.approx(10.0 * 3e9)


def test_default_reference_speed_is_the_median_node_speed() -> None:
    assert default_reference_speed(cluster()) == 1e10
    problem = import_wfcommons(HANDMADE, cluster())
    assert problem.graph.task("ID01").work == pytest.approx(10.0 * 1e10)


def test_cores_and_memory_are_kept() -> None:
    hand = import_wfcommons(HANDMADE, cluster())
    task = hand.graph.task("ID03")  # cores 1.5 in the trace: rounded up
    assert (task.cores, task.memory) == (2, 2000000000.0)
    assert task.kind == "align"
    task = hand.graph.task("ID04")
    assert (task.cores, task.memory, task.kind) == (4, 2000000000.0, "align")
    task = hand.graph.task("ID08")  # neither cores nor memoryInBytes in the trace
    assert (task.cores, task.memory, task.kind) == (None, None, "plot")
    sra = import_wfcommons(SRASEARCH, cluster())
    assert sra.graph.task("bowtie2-build_ID0000001").memory == 94720000.0


SCHEDULERS = ("heft", "cpop", "peft", "portfolio", "dhs", "edge")


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.stem)
@pytest.mark.parametrize("algorithm", SCHEDULERS)
def test_every_scheduler_schedules_the_import_validly(path: Path, algorithm: str) -> None:
    problem = import_wfcommons(path, cluster())
    schedule = get_scheduler(algorithm).checked_schedule(problem)
    validate_schedule(problem, schedule)
    for a in schedule:
        if problem.graph.task(a.task).pinned is None:
            assert a.node != STORAGE_NODE


def test_local_does_not_apply_to_an_import() -> None:
    """The request arrives at the storage node (its stage-in tasks are pinned there), and
    Local would run everything there: it says it does not apply."""
    problem = import_wfcommons(SRASEARCH, cluster())
    why = get_scheduler("local").applies_to(problem)
    assert why is not None and "storage" in why
    with pytest.raises(ModelError, match="storage"):
        get_scheduler("local").checked_schedule(problem)


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.stem)
def test_round_trip_through_the_problem_file(path: Path, tmp_path: Path) -> None:
    problem = import_wfcommons(path, cluster())
    text = problem_text(problem)
    out = tmp_path / "p.json"
    out.write_text(text)
    again = load_problem(out)
    assert problem_text(again) == text
    assert [(t.id, t.cores, t.memory) for t in again.graph.tasks] == [
        (t.id, t.cores, t.memory) for t in problem.graph.tasks
    ]
    assert again.cluster.node(STORAGE_NODE).role == "storage"


# -- bad traces ---------------------------------------------------------------------------


def mutated(path: Path, change: Any) -> dict[str, Any]:
    data = copy.deepcopy(raw(path))
    change(data)
    return data


def _set_version(d: dict[str, Any]) -> None:
    d["schemaVersion"] = "1.2"


def _drop_runtime_14(d: dict[str, Any]) -> None:
    del d["workflow"]["tasks"][3]["runtimeInSeconds"]


def _drop_runtime_15(d: dict[str, Any]) -> None:
    del d["workflow"]["execution"]["tasks"][2]["runtimeInSeconds"]


def _unknown_parent(d: dict[str, Any]) -> None:
    d["workflow"]["specification"]["tasks"][1]["parents"].append("nobody")


def _cycle(d: dict[str, Any]) -> None:
    tasks = d["workflow"]["specification"]["tasks"]
    first = next(t for t in tasks if t["children"])
    child = next(t for t in tasks if t["id"] == first["children"][0])
    child["children"].append(first["id"])


def _negative_size(d: dict[str, Any]) -> None:
    d["workflow"]["specification"]["files"][0]["sizeInBytes"] = -1


@pytest.mark.parametrize(
    ("path", "change", "message"),
    [
        (HANDMADE, _set_version, "schemaVersion: unknown schema version '1.2'"),
        (HANDMADE, _drop_runtime_14, "workflow.tasks[3]: missing runtime"),
        (SRASEARCH, _drop_runtime_15, "workflow.execution.tasks[2]: missing runtime"),
        (SRASEARCH, _unknown_parent, "workflow.specification.tasks[1].parents[0]: unknown"),
        (SRASEARCH, _cycle, "cycle"),
        (SRASEARCH, _negative_size, "workflow.specification.files[0].sizeInBytes: must be >= 0"),
    ],
)
def test_bad_traces_are_refused_by_place(
    path: Path, change: Any, message: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(mutated(path, change)))
    with pytest.raises(ModelError) as info:
        import_wfcommons(bad, cluster())
    text = str(info.value)
    assert "\n" not in text and text.startswith(f"{bad}: ")
    assert message in text


def test_unknown_parent_names_the_place() -> None:
    data = mutated(SRASEARCH, _unknown_parent)
    n = len(data["workflow"]["specification"]["tasks"][1]["parents"]) - 1
    with pytest.raises(ModelError, match=rf"tasks\[1\]\.parents\[{n}\]: unknown task 'nobody'"):
        parse_wfcommons(data)


def test_a_cluster_with_a_storage_node_of_its_own_is_refused() -> None:
    own = Cluster([Node("storage", 1e9), Node("x", 1e9)])
    with pytest.raises(ModelError, match="already has a node 'storage'"):
        import_wfcommons(HANDMADE, own)


def test_a_cluster_of_storage_nodes_only_is_refused() -> None:
    only = Cluster([Node("disk", 1e9, role="storage")])
    with pytest.raises(ModelError, match="would have nowhere to run") as caught:
        import_wfcommons(HANDMADE, only)
    assert caught.value.where == "cluster"


# -- the task keys cores and memory in the problem file -----------------------------------


def test_task_cores_and_memory_round_trip() -> None:
    data = {
        "tasks": [{"id": "a", "work": 1.0, "cores": 4, "memory": 2.5e9}, {"id": "b", "work": 1}],
        "dependencies": [],
        "nodes": [{"id": "n", "speed": 1.0}],
    }
    problem = problem_from_dict(data)
    assert (problem.graph.task("a").cores, problem.graph.task("a").memory) == (4, 2.5e9)
    assert (problem.graph.task("b").cores, problem.graph.task("b").memory) == (None, None)
    out = problem_to_dict(problem)
    assert out["format"] == 1
    assert out["tasks"][0] == {"id": "a", "work": 1.0, "cores": 4, "memory": 2.5e9}
    assert out["tasks"][1] == {"id": "b", "work": 1.0}  # absent stays absent


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("cores", 0, "tasks[0].cores: must be a whole number >= 1, got 0"),
        ("cores", 1.5, "tasks[0].cores: must be a whole number >= 1, got 1.5"),
        ("cores", True, "tasks[0].cores: must be a whole number >= 1, got True"),
        ("cores", "2", "tasks[0].cores: must be a whole number >= 1, got '2'"),
        ("memory", -1, "tasks[0].memory: must be >= 0, got -1"),
        ("memory", float("inf"), "tasks[0].memory: must be finite"),
        ("memory", "1GB", "tasks[0].memory: must be a number"),
    ],
)
def test_bad_task_cores_and_memory(key: str, value: Any, message: str) -> None:
    data = {
        "tasks": [{"id": "a", "work": 1.0, key: value}],
        "dependencies": [],
        "nodes": [{"id": "n", "speed": 1.0}],
    }
    with pytest.raises(ModelError) as info:
        problem_from_dict(data)
    assert str(info.value).startswith(message)


def test_task_constructor_checks_cores_and_memory() -> None:
    with pytest.raises(ModelError, match="cores"):
        Task("a", 1.0, cores=0)
    with pytest.raises(ModelError, match="memory"):
        Task("a", 1.0, memory=-5)
    problem = Problem(TaskGraph([Task("a", 1.0, cores=2, memory=10)]), Cluster([Node("n", 1)]))
    assert problem.graph.task("a").memory == 10.0
