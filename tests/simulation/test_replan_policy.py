"""The ``replan`` failure policy: the survivors finish, the rest is scheduled again and run."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

import numpy as np
import pytest

from cases import problem_cases
from edgeoffload.errors import ModelError, SimulationError
from edgeoffload.experiments.simulated import run_experiment, sim_config
from edgeoffload.model import (
    Assignment,
    Cluster,
    Dependency,
    Link,
    Node,
    Problem,
    Schedule,
    Task,
    TaskGraph,
)
from edgeoffload.model.task_graph import NodeId, TaskId
from edgeoffload.schedulers import available_schedulers, get_scheduler, replan
from edgeoffload.simulation import (
    LognormalVariability,
    Medium,
    Network,
    NodeFailure,
    SimConfig,
    SimResult,
    simulate,
)
from edgeoffload.simulation.batch import ProblemReplanner
from edgeoffload.simulation.records import ReplanRecord
from edgeoffload.simulation.streams import FrameStream, simulate_stream
from edgeoffload.workloads.scenarios import Scenario, load_scenario, scenario_from_dict


def replan_config(*failures: tuple[NodeId, float], **changes: object) -> SimConfig:
    """The schedulers' assumptions with ``failures`` handled by the ``replan`` policy."""
    return SimConfig.schedulers_assumptions(
        failures=tuple(NodeFailure(node, at) for node, at in failures),
        failure_policy="replan",
        **changes,
    )


def diamond(pinned: NodeId | None = None) -> tuple[Problem, Schedule]:
    """a -> b, c -> d; each task 1 s on p or q, 2 s on r; 0.1 s per transfer.

    The plan: a on p [0, 1], b on p [1, 2], c on q [1.1, 2.1], d on p [2.2, 3.2].
    """
    graph = TaskGraph(
        [Task("a", 1e9, pinned=pinned), Task("b", 1e9), Task("c", 1e9), Task("d", 1e9)],
        [
            Dependency("a", "b", 1e5),
            Dependency("a", "c", 1e5),
            Dependency("b", "d", 1e5),
            Dependency("c", "d", 1e5),
        ],
    )
    cluster = Cluster([Node("p", 1e9), Node("q", 1e9), Node("r", 5e8)], default_link=Link(1e6))
    schedule = Schedule(
        "heft",
        [
            Assignment("a", "p", 0, 1),
            Assignment("b", "p", 1, 2),
            Assignment("c", "q", 1.1, 2.1),
            Assignment("d", "p", 2.2, 3.2),
        ],
    )
    return Problem(graph, cluster), schedule


def timeline(result: SimResult) -> dict[TaskId, tuple[NodeId, float | None, float | None]]:
    return {t.task: (t.node, t.start, t.finish) for t in result.tasks}


def starts_after(result: SimResult, time: float) -> list[TaskId | None]:
    return [e.task for e in result.trace if e.kind == "start" and e.time > time]


class TestOneFailure:
    def test_the_rest_runs_on_the_survivors(self) -> None:
        """q fails while running c; once p has finished b, c and d are planned on p and run."""
        problem, schedule = diamond()
        result = simulate(problem, schedule, replan_config(("q", 1.5)))
        assert result.completed
        assert timeline(result) == {
            "a": ("p", 0.0, 1.0),
            "b": ("p", 1.0, 2.0),
            "c": ("p", 2.0, 3.0),
            "d": ("p", 3.0, 4.0),
        }
        assert result.makespan == 4.0 >= 1.5
        assert result.requests[0].finish == 4.0
        (record,) = result.replans
        assert (record.time, record.failed, record.tasks, record.reused) == (2.0, ("q",), 2, 2)
        assert record.algorithm == "heft" and record.reason is None
        assert record.schedule is not None
        assert {a.task: (a.node, a.start, a.finish) for a in record.schedule} == {
            "a": ("p", 2.0, 2.0),  # stubs: results held on p
            "b": ("p", 2.0, 2.0),
            "c": ("p", 2.0, 3.0),
            "d": ("p", 3.0, 4.0),
        }
        assert result.tasks.get("c").runs == 2  # lost on q, run again on p
        assert result.node("q").failed_at == 1.5

    def test_the_trace_shows_the_replan(self) -> None:
        """The trace has the failure, the lost task, one ``replan`` event and each re-queue."""
        problem, schedule = diamond()
        result = simulate(problem, schedule, replan_config(("q", 1.5)))
        events = [
            (e.time, e.kind, e.node, e.task, e.peer)
            for e in result.trace
            if e.kind in ("fail", "lost", "replan", "move")
        ]
        assert events == [
            (1.5, "fail", "q", None, None),
            (1.5, "lost", "q", "c", None),
            (2.0, "replan", "q", None, None),
            (2.0, "move", "q", "c", "p"),
            (2.0, "move", "p", "d", "p"),
        ]

    def test_survivors_start_nothing_of_the_old_plan_after_the_failure(self) -> None:
        """Between the failure and the re-plan no task starts; p finishes the b it runs."""
        problem, schedule = diamond()
        result = simulate(problem, schedule, replan_config(("q", 1.5)))
        starts = [(e.time, e.task) for e in result.trace if e.kind == "start"]
        assert starts == [(0.0, "a"), (1.0, "b"), (1.1, "c"), (2.0, "c"), (3.0, "d")]

    def test_held_results_are_not_recomputed(self) -> None:
        """Results finished on survivors (a, b) never run again after the failure."""
        problem, schedule = diamond()
        result = simulate(problem, schedule, replan_config(("q", 1.5)))
        assert starts_after(result, 1.5) == ["c", "d"]
        assert (result.tasks.get("a").runs, result.tasks.get("b").runs) == (1, 1)

    def test_a_result_received_before_the_failure_is_held_by_the_receiver(self) -> None:
        """p fails; q got a's output at 1.1, so a is reused from q and only b and d run."""
        problem, schedule = diamond()
        result = simulate(problem, schedule, replan_config(("p", 1.5)))
        assert result.completed
        (record,) = result.replans
        assert (record.time, record.tasks, record.reused) == (2.1, 2, 2)  # after q's c
        assert record.schedule is not None
        assert record.schedule.assignment("a").node == "q"  # the stub: held by the receiver
        assert starts_after(result, 1.5) == ["b", "d"]
        assert timeline(result) == {
            "a": ("p", 0.0, 1.0),
            "b": ("q", 2.1, 3.1),
            "c": ("q", 1.1, 2.1),
            "d": ("q", 3.1, 4.1),
        }
        assert result.tasks.get("a").runs == 1

    def test_a_needed_task_pinned_to_the_failed_node_fails_the_run(self) -> None:
        """a is pinned to p and lost with it: no plan, the reason recorded, as under 'fail'."""
        problem, schedule = diamond(pinned="p")
        result = simulate(problem, schedule, replan_config(("p", 0.5)))
        failed = simulate(
            problem,
            schedule,
            SimConfig.schedulers_assumptions(failures=(NodeFailure("p", 0.5),)),
        )
        (record,) = result.replans
        assert record.schedule is None and record.tasks == 0
        assert record.reason == (
            "task 'a' is pinned to node 'p', which failed: it cannot run elsewhere"
        )
        assert not result.completed and result.requests[0].finish is None
        assert [t.status for t in result.tasks] == ["failed", "failed", "not-run", "failed"]
        assert [t.status for t in result.tasks] == [t.status for t in failed.tasks]
        assert "replan" not in {e.kind for e in result.trace}

    def test_a_failure_with_nothing_left_to_do_changes_nothing(self) -> None:
        """q fails while p runs the last task, or after the run: the result is 'fail''s."""
        problem, schedule = diamond()
        for at in (3.0, 10.0):
            result = simulate(problem, schedule, replan_config(("q", at)))
            failed = simulate(
                problem,
                schedule,
                SimConfig.schedulers_assumptions(failures=(NodeFailure("q", at),)),
            )
            assert result == failed
            assert result.replans == () and result.makespan == 3.2 and result.completed


class TestSeveralFailures:
    def test_each_failure_replans_again(self) -> None:
        """q fails, then p while running c: the second plan recomputes everything on r."""
        problem, schedule = diamond()
        result = simulate(problem, schedule, replan_config(("q", 1.5), ("p", 2.5)))
        assert result.completed
        assert [(r.time, r.failed, r.tasks, r.reused) for r in result.replans] == [
            (2.0, ("q",), 2, 2),
            (2.5, ("p",), 4, 0),  # a and b lived only on p
        ]
        assert timeline(result) == {
            "a": ("r", 2.5, 4.5),
            "b": ("r", 4.5, 6.5),
            "c": ("r", 6.5, 8.5),
            "d": ("r", 8.5, 10.5),
        }
        assert [t.runs for t in result.tasks] == [2, 2, 3, 1]
        assert [e.time for e in result.trace if e.kind == "replan"] == [2.0, 2.5]

    def test_a_failure_while_the_survivors_finish_joins_the_same_replan(self) -> None:
        """r fails at 1.6, before p and q have finished b and c: one re-plan for both."""
        problem, schedule = diamond()
        result = simulate(problem, schedule, replan_config(("r", 1.6), ("q", 1.5)))
        (record,) = result.replans
        assert (record.time, record.failed) == (2.0, ("q", "r"))
        assert record.schedule is not None
        assert {a.node for a in record.schedule} == {"p"}
        assert result.completed and result.makespan == 4.0


def busiest_unpinned_node(problem: Problem, schedule: Schedule) -> NodeId | None:
    """The node busiest in ``schedule`` among those no task is pinned to (maybe idle)."""
    pinned = {t.pinned for t in problem.graph.tasks if t.pinned is not None}
    load = {n: 0.0 for n in problem.cluster.node_ids if n not in pinned}
    for a in schedule:
        if a.node in load:
            load[a.node] += a.finish - a.start
    return max(load, key=load.__getitem__, default=None)


def held_from_trace(result: SimResult, record: ReplanRecord) -> dict[TaskId, NodeId]:
    """The held rule re-derived from the trace: the producer if alive, else the first live
    node (cluster order) a transfer of the result reached before the re-plan."""
    order = result.tasks.node_ids
    dead = {n.node for n in result.nodes if n.failed_at is not None and n.failed_at <= record.time}
    end = next(
        k for k, e in enumerate(result.trace) if e.kind == "replan" and e.time == record.time
    )
    before = result.trace[:end]  # what happened before the re-plan (at its time too)
    finished = {e.task: e.node for e in before if e.kind == "finish"}
    received: dict[TaskId | None, set[NodeId]] = {}
    for e in before:
        if e.kind == "receive" and e.peer is not None:
            received.setdefault(e.task, set()).add(e.peer)
    held: dict[TaskId, NodeId] = {}
    for task, node in finished.items():
        if task is None:
            continue
        if node not in dead:
            held[task] = node
            continue
        copies = [n for n in order if n in received.get(task, set()) and n not in dead]
        if copies:
            held[task] = copies[0]
    return held


EXACT_CASES: dict[str, Callable[[], Problem]] = {
    name: make
    for name, make in problem_cases().items()
    if name in ("paper-example", "multi-request", "busy-node", "random-layered-1")
}
EXACT_CASES["dhs-paper-B-H"] = lambda: load_scenario("dhs-paper").problem("B-H")


@pytest.mark.parametrize("case", list(EXACT_CASES))
def test_replanned_tasks_run_at_their_replans_times(case: str) -> None:
    """Under the schedulers' assumptions every re-planned task runs exactly as re-planned."""
    problem = EXACT_CASES[case]()
    outputs = problem.graph.exit_tasks()
    checked = 0
    for name in sorted(available_schedulers()):
        scheduler = get_scheduler(name)
        if scheduler.applies_to(problem) is not None:
            continue
        schedule = scheduler.schedule(problem)
        victim = busiest_unpinned_node(problem, schedule)
        assert victim is not None
        at = 0.4 * schedule.makespan
        result = simulate(problem, schedule, replan_config((victim, at)))
        (record,) = result.replans
        assert record.algorithm == name
        if name == "edge" and victim == "edge":  # Edge cannot plan without its edge node
            assert record.schedule is None and not result.completed
            assert record.reason is not None and "needs a node with role 'edge'" in record.reason
            continue
        assert record.schedule is not None, (name, record.reason)
        assert result.completed and result.makespan >= at
        for task in outputs:
            assert result.tasks.get(task).node != victim
        # the plan is the pure re-planning step's, from the held results the trace shows
        alive = [n for n in problem.cluster.node_ids if n != victim]
        expected = replan(
            problem, scheduler, held_from_trace(result, record), alive, record.time, outputs
        )
        assert expected is not None and expected.schedule == record.schedule, name
        for a in record.schedule:
            if a.task in expected.stubs:
                continue
            simulated = result.tasks.get(a.task)
            assert (simulated.node, simulated.start, simulated.finish) == (
                a.node,
                a.start,
                a.finish,
            ), (name, a.task)
            assert a.start >= record.time
        assert record.tasks == len(expected.needed) and record.reused == len(expected.stubs)
        checked += 1
    assert checked >= 5


class TestModels:
    def test_variability_and_a_shared_medium_replan_reproducibly(self) -> None:
        """With varied times on a shared medium the re-planned run completes, per seed."""
        problem = EXACT_CASES["multi-request"]()
        schedule = get_scheduler("heft").schedule(problem)
        config = SimConfig(
            network=Network("shared", media=(Medium("wifi", ["cam1", "cam2"]),)),
            variability=LognormalVariability(0.3, 0.3),
            failures=(NodeFailure("edge", 0.3 * schedule.makespan),),
            failure_policy="replan",
        )
        first = simulate(problem, schedule, config, rng=3)
        again = simulate(problem, schedule, config, rng=3)
        other = simulate(problem, schedule, config, rng=4)
        assert first == again
        assert first.completed and other.completed
        assert first.makespan != other.makespan
        assert len(first.replans) == 1 and first.replans[0].schedule is not None
        assert first.node("edge").failed_at == first.node("edge").horizon


class TestScheduler:
    def test_the_config_names_the_replanning_scheduler(self) -> None:
        """replan_algorithm picks the scheduler; the record names it."""
        problem, schedule = diamond()
        result = simulate(problem, schedule, replan_config(("q", 1.5), replan_algorithm="peft"))
        assert [r.algorithm for r in result.replans] == ["peft"]

    def test_an_unregistered_schedule_name_replans_with_heft_and_says_so(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A hand-made schedule re-plans with HEFT, with a warning naming the setting."""
        problem, schedule = diamond()
        manual = schedule.renamed("manual")
        with caplog.at_level(logging.WARNING, logger="edgeoffload.simulation.batch"):
            result = simulate(problem, manual, replan_config(("q", 1.5)))
        assert [r.algorithm for r in result.replans] == ["heft"]
        assert "'manual' is not a registered scheduler" in caplog.text
        assert "replan_algorithm" in caplog.text

    def test_a_scheduler_instance_replans(self) -> None:
        """simulate(scheduler=...) re-plans with that instance."""
        problem, schedule = diamond()
        result = simulate(
            problem, schedule, replan_config(("q", 1.5)), scheduler=get_scheduler("cpop")
        )
        assert [r.algorithm for r in result.replans] == ["cpop"]

    def test_an_instance_that_contradicts_the_config_is_refused(self) -> None:
        problem, schedule = diamond()
        config = replan_config(("q", 1.5), replan_algorithm="peft")
        with pytest.raises(ModelError, match="replan_algorithm"):
            simulate(problem, schedule, config, scheduler=get_scheduler("cpop"))

    def test_an_unknown_algorithm_is_refused_up_front(self) -> None:
        with pytest.raises(ModelError, match="replan_algorithm: unknown scheduler 'nope'"):
            SimConfig(failure_policy="replan", replan_algorithm="nope")

    def test_an_algorithm_without_the_replan_policy_is_refused(self) -> None:
        with pytest.raises(ModelError, match="replan_algorithm: is for failure_policy 'replan'"):
            SimConfig(failure_policy="rerun", replan_algorithm="heft")


class TestReplanner:
    def test_a_plan_lists_task_node_and_stub_in_run_order(self) -> None:
        """The engine's plan: (task, node, stub) by run order; the engine finds the times."""
        problem, _ = diamond()
        replanner = ProblemReplanner(problem, get_scheduler("heft"))
        plan = replanner(2.0, {0: 0, 1: 0}, [0, 2])  # a and b held on p; q failed
        assert plan is not None
        assert list(plan.entries) == [(0, 0, True), (1, 0, True), (2, 0, False), (3, 0, False)]
        assert {a.task: (a.node, a.start, a.finish) for a in plan.schedule} == {
            "a": ("p", 2.0, 2.0),
            "b": ("p", 2.0, 2.0),
            "c": ("p", 2.0, 3.0),
            "d": ("p", 3.0, 4.0),
        }
        assert replanner(2.0, {3: 0}, [0, 2]) is None  # the output d is held


class TestExperiment:
    """run_experiment under "replan" re-plans with config.replan_algorithm when it is set."""

    def config(self, replan_algorithm: str) -> tuple[SimConfig, Scenario]:
        scenario = load_scenario("dhs-paper")
        config = dataclasses.replace(
            sim_config(scenario),
            failures=(NodeFailure("edge", 0.05),),
            failure_policy="replan",
            replan_algorithm=replan_algorithm,
        )
        return config, scenario

    def test_another_replan_algorithm_than_the_schedules(self) -> None:
        """PEFT and HEFT schedules, re-planned with HEFT: both runs re-plan and finish,
        each as simulate() re-planning with the config's algorithm finishes it."""
        config, scenario = self.config("heft")
        result = run_experiment(
            scenario,
            repetitions=1,
            conditions=["B-H"],
            algorithms=["peft", "heft"],
            config=config,
        )
        problem = result.problems["B-H"]
        traced = dataclasses.replace(config, record_trace=True)
        for name in ("peft", "heft"):
            case = result.case("B-H", name)
            assert case.completed == 1
            schedule = scenario.scheduler(name).schedule(problem)
            rng = np.random.default_rng([result.seed, scenario.condition_names.index("B-H"), 0])
            direct = simulate(problem, schedule, traced, rng=rng)
            assert direct.completed and [r.algorithm for r in direct.replans] == ["heft"]
            assert direct.replans[0].failed == ("edge",) and direct.replans[0].tasks > 0
            assert case.makespan == direct.makespan > 0.05
            assert case.latency == direct.mean_latency

    def test_the_replan_algorithm_gets_the_scenarios_parameters(self) -> None:
        """replan_algorithm "dhs" re-plans with the scenario's DHS (its δ1 and δ2)."""
        config, scenario = self.config("dhs")
        result = run_experiment(
            scenario,
            repetitions=1,
            conditions=["B-H"],
            algorithms=["heft"],
            config=config,
        )
        problem = result.problems["B-H"]
        schedule = get_scheduler("heft").schedule(problem)
        direct = simulate(
            problem,
            schedule,
            dataclasses.replace(config, record_trace=True),
            rng=np.random.default_rng([result.seed, scenario.condition_names.index("B-H"), 0]),
            scheduler=scenario.scheduler("dhs"),
        )
        assert [r.algorithm for r in direct.replans] == ["dhs"]
        case = result.case("B-H", "heft")
        assert case.completed == 1
        assert (case.makespan, case.latency) == (direct.makespan, direct.mean_latency)


class TestStreams:
    def test_streams_refuse_the_replan_policy(self) -> None:
        """simulate_stream has no problem to re-plan: it says so instead of ignoring it."""
        cluster = Cluster([Node("cam", 1e9, role="camera"), Node("edge", 1e10, role="edge")])
        stream = FrameStream("cam", TaskGraph([Task("x", 1e8)]), 10.0, duration=0.5)
        config = SimConfig(failures=(NodeFailure("edge", 0.2),), failure_policy="replan")
        with pytest.raises(SimulationError, match="'replan' needs a problem to re-plan"):
            simulate_stream(cluster, [stream], "heft", config)

    def test_a_scenario_with_streams_refuses_the_replan_policy(self) -> None:
        data = {
            "name": "s",
            "algorithms": ["heft"],
            "devices": [{"id": "cam1", "preset": "rpi4b", "role": "camera"}],
            "streams": [{"model": "alexnet", "camera": "cam1", "rate": 2, "duration": 1}],
            "failures": [{"node": "cam1", "at": 0.5}],
            "failure_policy": "replan",
        }
        with pytest.raises(ModelError, match="failure_policy: streams plan each frame"):
            scenario_from_dict(data)
        data["streams"] = []
        data["requests"] = [{"model": "alexnet", "camera": "cam1"}]
        assert scenario_from_dict(data).failure_policy == "replan"
