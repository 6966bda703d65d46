"""Simulated-time tests of the engine: chains, links, shared media, cores, failures, energy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeoffload.errors import InvalidScheduleError, ModelError, SimulationError
from edgeoffload.model import (
    Assignment,
    Cluster,
    Dependency,
    Link,
    Node,
    PowerProfile,
    Problem,
    Schedule,
    Task,
    TaskGraph,
)
from edgeoffload.simulation import (
    LognormalVariability,
    Medium,
    Network,
    NodeFailure,
    SimConfig,
    simulate,
)
from edgeoffload.simulation.records import node_state_times

EXACT = SimConfig.schedulers_assumptions()


def chain_problem() -> tuple[Problem, Schedule]:
    graph = TaskGraph(
        [Task("a", 1e9), Task("b", 2e9), Task("c", 3e9)],
        [Dependency("a", "b", 1e6), Dependency("b", "c", 1e6)],
    )
    problem = Problem(graph, Cluster([Node("n", 1e9)]))
    schedule = Schedule(
        "manual",
        [Assignment("a", "n", 0, 1), Assignment("b", "n", 1, 3), Assignment("c", "n", 3, 6)],
    )
    return problem, schedule


def two_node_problem(data: float = 2e6, bandwidth: float = 1e6, latency: float = 0.01) -> Problem:
    graph = TaskGraph([Task("a", 1e9), Task("b", 1e9)], [Dependency("a", "b", data)])
    cluster = Cluster([Node("p", 1e9), Node("q", 1e9)], {("p", "q"): Link(bandwidth, latency)})
    return Problem(graph, cluster)


class TestChain:
    def test_chain_on_one_node_runs_back_to_back(self) -> None:
        """A chain on one node finishes at the sum of its execution times; no transfer."""
        problem, schedule = chain_problem()
        result = simulate(problem, schedule)
        assert result.makespan == 6.0
        assert [r.finish for r in result.tasks] == [1.0, 3.0, 6.0]
        assert result.transfers == 0
        starts = [(e.time, e.task) for e in result.trace if e.kind == "start"]
        assert starts == [(0.0, "a"), (1.0, "b"), (3.0, "c")]

    def test_chain_follows_schedule_order_not_readiness(self) -> None:
        """Two independent tasks on one node start in the schedule's order."""
        graph = TaskGraph([Task("x", 1e9), Task("y", 1e9)])
        problem = Problem(graph, Cluster([Node("n", 1e9)]))
        schedule = Schedule("manual", [Assignment("y", "n", 0, 1), Assignment("x", "n", 1, 2)])
        result = simulate(problem, schedule)
        assert result.tasks.get("y").start == 0.0
        assert result.tasks.get("x").start == 1.0

    def test_invalid_schedule_is_refused(self) -> None:
        """A schedule that breaks the problem's rules is rejected before simulating."""
        problem, _ = chain_problem()
        bad = Schedule(
            "bad",
            [
                Assignment("a", "n", 0, 1),
                Assignment("b", "n", 0.5, 2.5),
                Assignment("c", "n", 3, 6),
            ],
        )
        with pytest.raises(InvalidScheduleError):
            simulate(problem, bad)


class TestLinks:
    def test_transfer_takes_latency_plus_data_over_bandwidth(self) -> None:
        """2 MB over a 1 MB/s link with 10 ms latency arrive 2.01 s after the sender ends."""
        problem = two_node_problem()
        schedule = Schedule("m", [Assignment("a", "p", 0, 1), Assignment("b", "q", 3.01, 4.01)])
        result = simulate(problem, schedule)
        assert result.tasks.get("b").start == pytest.approx(3.01)
        sends = [e for e in result.trace if e.kind in ("send", "receive")]
        assert [(e.kind, e.time) for e in sends] == [("send", 1.0), ("receive", 3.01)]
        assert sends[0].data == 2e6
        assert result.bytes_sent == 2e6

    def test_release_time_holds_a_request_back(self) -> None:
        """No task of a request starts before the request arrives."""
        graph = TaskGraph([Task("a", 1e9, request="r")])
        from edgeoffload.model import Request

        problem = Problem(graph, Cluster([Node("n", 1e9)]), [Request("r", 2.5)])
        result = simulate(problem, Schedule("m", [Assignment("a", "n", 2.5, 3.5)]))
        assert result.tasks.get("a").start == 2.5
        assert result.requests[0].latency == 1.0

    def test_busy_node_starts_late(self) -> None:
        """A node busy until 5 s starts its first task at 5 s."""
        graph = TaskGraph([Task("a", 1e9)])
        problem = Problem(graph, Cluster([Node("n", 1e9, available_from=5.0)]))
        result = simulate(problem, Schedule("m", [Assignment("a", "n", 5.0, 6.0)]))
        assert result.tasks.get("a").start == 5.0

    def test_two_transfers_share_a_medium(self) -> None:
        """Two senders on one Wi-Fi medium share its airtime: 0.5 MB ends at 1 s, 1 MB at 1.5 s."""
        graph = TaskGraph(
            [Task("a", 0.0), Task("b", 0.0), Task("x", 0.0), Task("y", 0.0)],
            [Dependency("a", "x", 0.5e6), Dependency("b", "y", 1e6)],
        )
        cluster = Cluster(
            [Node("c1", 1e9), Node("c2", 1e9), Node("edge", 1e9)], default_link=Link(1e6, 0.0)
        )
        schedule = Schedule(
            "m",
            [
                Assignment("a", "c1", 0, 0),
                Assignment("b", "c2", 0, 0),
                Assignment("x", "edge", 0.5, 0.5),
                Assignment("y", "edge", 1.0, 1.0),
            ],
        )
        config = SimConfig(network=Network("shared", media=(Medium("wifi", ["c1", "c2"]),)))
        result = simulate(Problem(graph, cluster), schedule, config)
        assert result.tasks.get("x").start == pytest.approx(1.0)
        assert result.tasks.get("y").start == pytest.approx(1.5)
        alone = simulate(Problem(graph, cluster), schedule, SimConfig())
        assert alone.tasks.get("y").start == pytest.approx(1.0)

    def test_medium_latency_is_paid_before_airtime(self) -> None:
        """A lone transfer on a medium takes the cost model's latency + data / bandwidth."""
        problem = two_node_problem(data=1e6, bandwidth=1e6, latency=0.2)
        schedule = Schedule("m", [Assignment("a", "p", 0, 1), Assignment("b", "q", 2.2, 3.2)])
        config = SimConfig(network=Network("shared", media=(Medium("air", ["p", "q"]),)))
        result = simulate(problem, schedule, config)
        assert result.tasks.get("b").start == pytest.approx(2.2)

    def test_contended_dedicated_link_shares_its_bandwidth(self) -> None:
        """With contention, two transfers on one ordered pair take twice as long."""
        graph = TaskGraph(
            [Task("a", 0.0), Task("x", 0.0), Task("y", 0.0)],
            [Dependency("a", "x", 1e6), Dependency("a", "y", 1e6)],
        )
        cluster = Cluster([Node("p", 1e9), Node("q", 1e9)], default_link=Link(1e6))
        schedule = Schedule(
            "m",
            [Assignment("a", "p", 0, 0), Assignment("x", "q", 1, 1), Assignment("y", "q", 1, 1)],
        )
        problem = Problem(graph, cluster)
        free = simulate(problem, schedule, SimConfig(transfers="per-dependency"))
        shared = simulate(
            problem,
            schedule,
            SimConfig(transfers="per-dependency", network=Network("dedicated", contention=True)),
        )
        assert free.makespan == pytest.approx(1.0)
        assert shared.makespan == pytest.approx(2.0)

    def test_tensor_is_sent_once_per_destination_node(self) -> None:
        """Two consumers of one output on another node get one transfer, not two."""
        graph = TaskGraph(
            [Task("a", 0.0), Task("x", 0.0), Task("y", 0.0)],
            [Dependency("a", "x", 1e6), Dependency("a", "y", 1e6)],
        )
        cluster = Cluster([Node("p", 1e9), Node("q", 1e9)], default_link=Link(1e6))
        schedule = Schedule(
            "m",
            [Assignment("a", "p", 0, 0), Assignment("x", "q", 1, 1), Assignment("y", "q", 1, 1)],
        )
        problem = Problem(graph, cluster)
        assert simulate(problem, schedule, SimConfig(transfers="per-node")).transfers == 1
        assert simulate(problem, schedule, SimConfig(transfers="per-dependency")).transfers == 2


class TestCores:
    def test_two_cores_run_two_tasks_at_once(self) -> None:
        """A node with two cores runs two independent tasks side by side."""
        graph = TaskGraph([Task("x", 1e9), Task("y", 1e9)])
        problem = Problem(graph, Cluster([Node("n", 1e9, cores=2)]))
        schedule = Schedule("m", [Assignment("x", "n", 0, 1), Assignment("y", "n", 1, 2)])
        assert simulate(problem, schedule).makespan == 1.0
        assert simulate(problem, schedule, SimConfig(use_cores=False)).makespan == 2.0


class TestFailures:
    def make(self) -> tuple[Problem, Schedule]:
        graph = TaskGraph([Task("a", 1e9), Task("b", 1e9)], [Dependency("a", "b", 0.0)])
        cluster = Cluster([Node("p", 1e9), Node("q", 5e8)], default_link=Link(1e6))
        schedule = Schedule("m", [Assignment("a", "p", 0, 1), Assignment("b", "p", 1, 2)])
        return Problem(graph, cluster), schedule

    def test_failure_mid_task_loses_it_and_its_dependants(self) -> None:
        """A node failing half way through a task loses it; its successor never runs."""
        problem, schedule = self.make()
        config = SimConfig(failures=(NodeFailure("p", 0.5),))
        result = simulate(problem, schedule, config)
        a, b = result.tasks.get("a"), result.tasks.get("b")
        assert (a.status, b.status) == ("failed", "failed")
        assert not result.completed
        assert result.requests[0].finish is None
        assert result.node("p").failed_at == 0.5
        assert result.node("p").busy == pytest.approx(0.5)
        assert next((e.kind, e.time) for e in result.trace if e.kind in ("fail", "lost")) == (
            "fail",
            0.5,
        )

    def test_rerun_policy_restarts_lost_tasks_elsewhere(self) -> None:
        """Under 'rerun', the lost task restarts at the failure on the surviving node."""
        problem, schedule = self.make()
        config = SimConfig(failures=(NodeFailure("p", 0.5),), failure_policy="rerun")
        result = simulate(problem, schedule, config)
        a, b = result.tasks.get("a"), result.tasks.get("b")
        assert (a.node, a.start, a.finish, a.status) == ("q", 0.5, 2.5, "done")
        assert (b.node, b.start, b.finish) == ("q", 2.5, 4.5)
        assert result.completed and result.makespan == 4.5
        assert a.runs == 2  # started on p, lost, started again on q

    def test_rerun_resends_inputs_from_where_they_are(self) -> None:
        """A moved consumer gets its input again from the surviving producer's node."""
        graph = TaskGraph([Task("a", 1e9), Task("b", 1e9)], [Dependency("a", "b", 1e6)])
        cluster = Cluster([Node("p", 1e9), Node("q", 1e9), Node("r", 1e9)], default_link=Link(1e6))
        schedule = Schedule("m", [Assignment("a", "p", 0, 1), Assignment("b", "q", 2, 3)])
        config = SimConfig(failures=(NodeFailure("q", 1.5),), failure_policy="rerun")
        result = simulate(Problem(graph, cluster), schedule, config)
        b = result.tasks.get("b")
        assert b.node in ("p", "r")
        # p holds a's output: moving b there needs no transfer (ties go to node order)
        assert (b.node, b.start, b.finish) == ("p", 1.5, 2.5)

    def test_unknown_failure_node_is_an_error(self) -> None:
        problem, schedule = self.make()
        with pytest.raises(SimulationError, match="unknown node"):
            simulate(problem, schedule, SimConfig(failures=(NodeFailure("zz", 1.0),)))


class TestEnergy:
    def test_energy_is_power_times_time_in_each_state(self) -> None:
        """Energy = idle, busy, transmit and overlapping power, each times its time."""
        power = PowerProfile(idle=2.0, busy=10.0, transmit=5.0)
        graph = TaskGraph(
            [Task("a", 1e9), Task("b", 1e9), Task("c", 1e9)],
            [Dependency("a", "c", 1e6), Dependency("b", "c", 0.0)],
        )
        cluster = Cluster(
            [Node("p", 1e9, power=power), Node("q", 1e9, power=power)],
            default_link=Link(1e6, 0.0),
        )
        # a on p [0, 1]; b on p [1, 2] overlaps a's 1 s transfer p -> q [1, 2]; c on q [2, 3]
        schedule = Schedule(
            "m",
            [Assignment("a", "p", 0, 1), Assignment("b", "p", 1, 2), Assignment("c", "q", 2, 3)],
        )
        result = simulate(Problem(graph, cluster), schedule)
        p, q = result.node("p"), result.node("q")
        assert result.horizon == 3.0
        assert (p.idle, p.busy, p.transmit, p.busy_transmit) == pytest.approx((1, 1, 0, 1))
        assert (q.idle, q.busy, q.transmit, q.busy_transmit) == pytest.approx((2, 1, 0, 0))
        for stats in (p, q):
            expected = (
                power.idle * stats.idle
                + power.busy * stats.busy
                + power.transmit * stats.transmit
                + (power.busy + power.transmit - power.idle) * stats.busy_transmit
            )
            assert stats.energy == pytest.approx(expected)
            assert stats.idle + stats.busy + stats.transmit + stats.busy_transmit == pytest.approx(
                stats.horizon
            )
        assert p.energy == pytest.approx(2 * 1 + 10 * 1 + 13 * 1)
        assert result.energy == pytest.approx(p.energy + q.energy)
        assert p.utilisation == pytest.approx(2 / 3)

    def test_energy_of_a_partly_busy_multicore_node_scales_with_cores(self) -> None:
        """One of two cores busy draws idle + (busy - idle) / 2."""
        power = PowerProfile(idle=2.0, busy=6.0, transmit=2.0)
        graph = TaskGraph([Task("a", 1e9)])
        problem = Problem(graph, Cluster([Node("n", 1e9, cores=2, power=power)]))
        result = simulate(problem, Schedule("m", [Assignment("a", "n", 0, 1)]))
        assert result.node("n").energy == pytest.approx(4.0)

    def test_state_times_of_overlapping_intervals(self) -> None:
        """The state sweep splits time into idle, busy, transmit and both."""
        times = node_state_times(
            1,
            np.array([10.0]),
            np.array([0, 0]),
            np.array([0.0, 1.0]),
            np.array([2.0, 3.0]),
            np.array([0]),
            np.array([2.5]),
            np.array([5.0]),
            np.array([1.0]),
        )
        assert times["busy"][0] == pytest.approx(2.5)
        assert times["busy_transmit"][0] == pytest.approx(0.5)
        assert times["transmit"][0] == pytest.approx(2.0)
        assert times["idle"][0] == pytest.approx(5.0)
        assert times["core_fraction"][0] == pytest.approx(4.0)


class TestVariability:
    def test_same_seed_same_run(self) -> None:
        """Variability draws from the generator: the same seed gives the same run."""
        problem, schedule = chain_problem()
        config = SimConfig(variability=LognormalVariability(0.3, 0.3))
        first = simulate(problem, schedule, config, rng=7)
        again = simulate(problem, schedule, config, rng=np.random.default_rng(7))
        other = simulate(problem, schedule, config, rng=8)
        assert first == again
        assert first.makespan != other.makespan
        assert first.predicted_makespan == 6.0

    def test_lognormal_multipliers_have_mean_one(self) -> None:
        """The multipliers' mean is 1 and their CV the one asked for."""
        m = LognormalVariability(exec_cv=0.5).exec_multipliers(np.random.default_rng(1), 200_000)
        assert m.mean() == pytest.approx(1.0, abs=0.01)
        assert m.std() / m.mean() == pytest.approx(0.5, abs=0.01)

    def test_negative_cv_is_refused(self) -> None:
        with pytest.raises(ModelError, match="exec_cv"):
            LognormalVariability(exec_cv=-0.1)


class TestConfig:
    def test_shared_network_needs_a_medium(self) -> None:
        with pytest.raises(ModelError, match="medium"):
            Network("shared")

    def test_node_on_two_media_is_refused(self) -> None:
        with pytest.raises(ModelError, match="on media"):
            Network("shared", media=(Medium("a", ["n"]), Medium("b", ["n"])))

    def test_bad_policy_is_refused(self) -> None:
        with pytest.raises(ModelError, match="failure_policy"):
            SimConfig(failure_policy="retry")  # type: ignore[arg-type]


def test_results_record_nan_free_latencies() -> None:
    """Completed requests have a latency; mean latency is their mean."""
    problem, schedule = chain_problem()
    result = simulate(problem, schedule)
    assert result.latencies == [6.0]
    assert result.mean_latency == 6.0 and not math.isnan(result.predicted_mean_latency)
