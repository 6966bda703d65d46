"""The decision engine and its policies, with probe results fed in (no timing noise)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import pytest

from edgeoffload.errors import OffloadError
from edgeoffload.model.cluster import PowerProfile
from edgeoffload.runtime.client.decision import (
    LOCAL,
    AlwaysLocalPolicy,
    AlwaysRemotePolicy,
    CircuitBreaker,
    DecisionEngine,
    EnergyPolicy,
    Estimate,
    LatencyPolicy,
    Policy,
    Probe,
    get_policy,
)

FAST_LINK = {"rtt": 0.001, "bandwidth": 100e6}  # 1 ms round trip, 100 MB/s


def engine_with(*workers: tuple[str, float], local: float = 0.010) -> DecisionEngine:
    """An engine whose local probe takes ``local`` s and each worker's the given time."""
    engine = DecisionEngine(local_probe=local)
    for name, benchmark in workers:
        engine.set_probe(name, Probe(benchmark, **FAST_LINK), name)
    return engine


class TestLatencyPolicy:
    def test_remote_when_much_faster(self) -> None:
        """A worker 10x faster wins once the function is known to take 1 s locally."""
        engine = engine_with(("edge", 0.001))
        engine.record("f", LOCAL, 1.0, arg_bytes=1000, result_bytes=100)
        decision = engine.decide("f", LatencyPolicy())
        assert decision.node == "edge"
        assert decision.predicted == pytest.approx(0.1 + 0.001 + 1100 / 100e6)

    def test_local_when_remote_much_slower(self) -> None:
        """A worker 10x slower than the client never gets the call."""
        engine = engine_with(("phone", 0.100))
        engine.record("f", LOCAL, 1.0)
        decision = engine.decide("f", LatencyPolicy())
        assert decision.node == LOCAL
        assert "local predicted" in decision.reason

    def test_local_when_transfer_dominates(self) -> None:
        """A faster worker loses when sending 100 MB takes longer than computing here."""
        engine = engine_with(("edge", 0.001))
        engine.record("f", LOCAL, 0.5, arg_bytes=100e6)
        assert engine.decide("f", LatencyPolicy()).node == LOCAL

    def test_fastest_of_several_workers(self) -> None:
        engine = engine_with(("device", 0.005), ("server", 0.001))
        engine.record("f", LOCAL, 1.0)
        assert engine.decide("f", LatencyPolicy()).node == "server"

    def test_history_on_a_worker_is_used_directly(self) -> None:
        """Measured time on a node beats the probe-scaled guess."""
        engine = engine_with(("a", 0.001), ("b", 0.002))
        engine.record("f", "a", 2.0)  # a is slow for this function, whatever its probe says
        engine.record("f", "b", 0.5)
        assert engine.decide("f", LatencyPolicy()).node == "b"

    def test_no_history_uses_the_probe(self) -> None:
        """Before any call, COFA's rule: the candidate whose probe ran fastest."""
        decision = engine_with(("edge", 0.002)).decide("f", LatencyPolicy())
        assert decision.node == "edge"
        assert "no history yet" in decision.reason
        assert engine_with(("slow", 0.050)).decide("f", LatencyPolicy()).node == LOCAL

    def test_calls_in_flight_spread_over_workers(self) -> None:
        """Reserved calls count as queue, so concurrent decisions use both workers."""
        engine = engine_with(("a", 0.001), ("b", 0.0011))
        engine.record("f", LOCAL, 1.0)
        first = engine.decide("f", LatencyPolicy(), reserve=True)
        second = engine.decide("f", LatencyPolicy(), reserve=True)
        assert {first.node, second.node} == {"a", "b"}
        engine.finished(first.node)
        assert engine.inflight(first.node) == 0
        assert engine.inflight(second.node) == 1

    def test_excluded_and_failing_workers_are_skipped(self) -> None:
        engine = engine_with(("a", 0.001), ("b", 0.002))
        engine.record("f", LOCAL, 1.0)
        assert engine.decide("f", LatencyPolicy(), exclude=["a"]).node == "b"
        engine.breakers["b"].failure()
        assert engine.decide("f", LatencyPolicy(), exclude=["a"]).node == LOCAL


class TestOtherPolicies:
    def test_energy_prefers_offloading_when_it_saves_battery(self) -> None:
        """Waiting idle (1 W) for a slower worker beats computing at 5 W locally."""
        engine = DecisionEngine(0.010, client_power=PowerProfile(idle=1.0, busy=5.0, transmit=3.0))
        engine.set_probe("peer", Probe(0.015, **FAST_LINK), "peer")  # 1.5x slower than local
        engine.record("f", LOCAL, 1.0)
        assert engine.decide("f", LatencyPolicy()).node == LOCAL
        energy = engine.decide("f", EnergyPolicy())
        assert energy.node == "peer"
        local, remote = energy.estimates
        assert local.energy == pytest.approx(5.0)
        assert remote.energy == pytest.approx(3.0 * (0.001 + 0.0) + 1.0 * 1.5)

    def test_energy_needs_power_figures(self) -> None:
        engine = engine_with(("peer", 0.001))
        with pytest.raises(OffloadError, match="power figures"):
            engine.decide("f", EnergyPolicy())

    def test_always_local_and_always_remote(self) -> None:
        engine = engine_with(("slow", 1.0))
        engine.record("f", LOCAL, 0.001)
        assert engine.decide("f", AlwaysLocalPolicy()).node == LOCAL
        assert engine.decide("f", AlwaysRemotePolicy()).node == "slow"
        assert engine_with().decide("f", AlwaysRemotePolicy()).node == LOCAL

    def test_custom_policy(self) -> None:
        """A user's policy sees every estimate and its reason lands in the decision."""

        class SecondBest(Policy):
            name = "second-best"

            def choose(self, function: str, estimates: Sequence[Estimate]) -> tuple[Estimate, str]:
                ranked = sorted(estimates, key=lambda e: e.total)
                return ranked[min(1, len(ranked) - 1)], "second best on purpose"

        engine = engine_with(("a", 0.001), ("b", 0.002))
        engine.record("f", LOCAL, 1.0)
        decision = engine.decide("f", SecondBest())
        assert decision.node == "b"
        assert decision.reason == "second best on purpose"

    def test_policy_by_name(self) -> None:
        assert isinstance(get_policy("energy"), EnergyPolicy)
        assert isinstance(get_policy(None), LatencyPolicy)
        with pytest.raises(OffloadError, match="unknown policy 'fastest'"):
            get_policy("fastest")


def test_circuit_breaker_backs_off_exponentially() -> None:
    breaker = CircuitBreaker(base=1.0, cap=5.0)
    assert breaker.available(0.0)
    assert breaker.failure(now=0.0) == 1.0
    assert not breaker.available(0.5) and breaker.available(1.0)
    assert breaker.failure(now=1.0) == 2.0
    assert breaker.failure(now=3.0) == 4.0
    assert breaker.failure(now=7.0) == 5.0
    breaker.success()
    assert breaker.available(7.0)


def test_estimates_are_consistent() -> None:
    engine = engine_with(("edge", 0.002))
    engine.record("f", LOCAL, 0.4, arg_bytes=2e6, result_bytes=1e6)
    local, edge = engine.estimates("f")
    assert local.is_local and local.total == pytest.approx(0.4)
    assert edge.compute == pytest.approx(0.08)
    assert edge.send == pytest.approx(0.0005 + 0.02)
    assert edge.receive == pytest.approx(0.0005 + 0.01)
    assert math.isclose(edge.total, edge.send + edge.queue + edge.compute + edge.receive)


def test_no_history_prefers_idle_workers() -> None:
    """Before any history, a busy fast worker loses to an idle slower one."""
    engine = engine_with(("fast", 0.001), ("slower", 0.005))
    first = engine.decide("f", AlwaysRemotePolicy(), reserve=True)
    second = engine.decide("f", AlwaysRemotePolicy(), reserve=True)
    assert (first.node, second.node) == ("fast", "slower")
    third = engine.decide("f", LatencyPolicy(), reserve=True)
    assert third.node == "fast"  # the client's probe is slower: it never takes such calls
    idle = engine_with(("slow", 0.050))
    assert idle.decide("f", LatencyPolicy(), reserve=True).node == LOCAL
    assert idle.decide("f", LatencyPolicy(), reserve=True).node == "slow"  # local is busy


def edge_estimate(engine: DecisionEngine, function: str, size: float | None = None) -> Estimate:
    (edge,) = [e for e in engine.estimates(function, size=size) if e.node == "edge"]
    return edge


class TestSizeAwareHistory:
    """Compute time against the call's size: a robust slope, pooled across nodes."""

    # 10 tiny calls here (10 ms at size 1e3, probe 10 ms: 1 probe unit) and 3 calls on the
    # edge (20 ms at size 1e6, probe 1 ms: 20 units) give a pooled slope of 19 probe units
    # per 999 000 of size; each node keeps its own level and scales the slope by its probe.
    SLOPE = 19 / 999_000

    def tiny_here_big_there(self, as_arg_bytes: bool = False) -> DecisionEngine:
        engine = engine_with(("edge", 0.001))
        for node, seconds, size, calls in ((LOCAL, 0.010, 1e3, 10), ("edge", 0.020, 1e6, 3)):
            for _ in range(calls):
                if as_arg_bytes:
                    engine.record("f", node, seconds, size, 1e3)
                else:
                    engine.record("f", node, seconds, result_bytes=1e3, size=size)
        return engine

    def test_a_big_call_follows_the_fit_and_goes_remote(self) -> None:
        engine = self.tiny_here_big_there()
        local, edge = engine.estimates("f", size=1e7)
        assert local.compute == pytest.approx(0.010 + self.SLOPE * 0.010 * (1e7 - 1e3))  # 1.91 s
        assert edge.compute == pytest.approx(0.020 + self.SLOPE * 0.001 * (1e7 - 1e6))  # 0.19 s
        assert edge.receive == pytest.approx(0.0005 + 1e3 / 100e6)  # results: 1 KB at any size
        decision = engine.decide("f", LatencyPolicy(), size=1e7)
        assert decision.node == "edge"
        assert decision.predicted == pytest.approx(edge.compute + 0.001 + 1e3 / 100e6)
        assert decision.reason == (
            "edge predicted 192 ms (compute 191 + transfer 1.01; size 1e7) vs 1.91e3 ms locally"
        )

    def test_without_a_size_the_moving_averages_decide_as_before(self) -> None:
        engine = self.tiny_here_big_there()
        local, edge = engine.estimates("f")
        assert local.compute == pytest.approx(0.010)
        assert edge.compute == pytest.approx(0.020)
        assert local.size is None and edge.size is None
        decision = engine.decide("f", LatencyPolicy())
        assert decision.node == LOCAL
        assert decision.reason == "local predicted 10 ms vs edge 21 ms (compute 20 + transfer 1.01)"

    def test_argument_bytes_are_the_size_unless_one_is_given(self) -> None:
        """Sizes recorded as argument bytes: the big call pays for sending 10 MB too."""
        engine = self.tiny_here_big_there(as_arg_bytes=True)
        decision = engine.decide("f", LatencyPolicy(), 10e6)
        local, edge = decision.estimates
        assert edge.size == local.size == 10e6
        assert edge.compute == pytest.approx(0.020 + self.SLOPE * 0.001 * 9e6)
        assert edge.send == pytest.approx(0.0005 + 0.1)
        assert decision.node == "edge"
        assert local.total == pytest.approx(0.010 + self.SLOPE * 0.010 * (10e6 - 1e3))

    def test_a_nodes_own_fit_beats_the_pooled_slope(self) -> None:
        """Calls of many sizes on one worker: compute = 2 ms + 1e-8 s per unit, exactly."""
        engine = engine_with(("edge", 0.001))
        for k in range(1, 9):
            engine.record("f", "edge", 0.002 + 1e-8 * k * 1e5, size=k * 1e5)
        assert edge_estimate(engine, "f", size=1e7).compute == pytest.approx(0.002 + 0.1)
        assert edge_estimate(engine, "f", size=1e5).compute == pytest.approx(0.002 + 0.001)
        # local has no samples: the edge's prediction at that size, scaled by the probes
        local = engine.estimates("f", size=1e7)[0]
        assert local.compute == pytest.approx((0.002 + 0.1) * 0.010 / 0.001)
        # and the other way round: a function only ever run here
        for k in range(1, 9):
            engine.record("g", LOCAL, 0.02 + 1e-7 * k * 1e5, size=k * 1e5)
        local, edge = engine.estimates("g", size=1e7)
        assert local.compute == pytest.approx(0.02 + 1.0)
        assert edge.compute == pytest.approx((0.02 + 1.0) * 0.001 / 0.010)

    def test_results_grow_with_size(self) -> None:
        engine = engine_with(("edge", 0.001))
        for k in range(1, 6):
            engine.record("f", "edge", 0.01, size=k * 1e3, result_bytes=100 + 2 * k * 1e3)
        assert edge_estimate(engine, "f", size=1e6).receive == pytest.approx(
            0.0005 + (100 + 2e6) / 100e6
        )

    def test_a_noisy_fit_stays_sane(self) -> None:
        """±10 % noise, a 2 s stall and a call that took no time: the slope barely moves."""
        engine = engine_with(("edge", 0.001))
        for k in range(1, 19):
            seconds = (0.001 + 1e-7 * k * 1e4) * (1 + 0.1 * math.sin(1.7 * k))
            engine.record("f", "edge", {9: 2.0, 18: 0.0}.get(k, seconds), size=k * 1e4)
        slope = (
            edge_estimate(engine, "f", size=2e6).compute
            - edge_estimate(engine, "f", size=1e6).compute
        ) / 1e6
        assert 0.9e-7 < slope < 1.1e-7

    def test_one_stray_sample_sets_no_slope(self) -> None:
        """10 calls at 1e3 and one at 2e3 that stalled for 1 s: not 1 ms more per unit."""
        engine = engine_with(("edge", 0.001))
        for _ in range(10):
            engine.record("f", LOCAL, 0.010, size=1e3)
        engine.record("f", LOCAL, 1.0, size=2e3)
        mean = 0.7 * 0.010 + 0.3 * 1.0  # the moving average, as before sizes were known
        assert engine.history("f") == {LOCAL: pytest.approx(mean)}
        assert engine.estimates("f", size=1e7)[0].compute == pytest.approx(mean)

    def test_compute_never_falls_with_size_nor_below_zero(self) -> None:
        engine = engine_with(("edge", 0.001))
        for k in range(1, 9):
            engine.record("f", "edge", 0.1 - 0.01 * k, size=k * 1e3)  # faster when bigger
        big, small = edge_estimate(engine, "f", size=1e9), edge_estimate(engine, "f", size=0)
        assert big.compute == small.compute == pytest.approx(engine.history("f")["edge"])
        for k in range(1, 6):  # 0.1 µs per unit above 5000: the line crosses 0 at size 5000
            engine.record("g", "edge", 1e-7 * (k * 1e4 - 5e3), size=k * 1e4)
        assert edge_estimate(engine, "g", size=2e4).compute == pytest.approx(0.0015)
        assert edge_estimate(engine, "g", size=1e3).compute == 0.0


class TestLocalCapacity:
    def test_a_quota_divides_the_local_probe(self) -> None:
        """A client held to 0.25 core probed 4 ms: it counts as 16 ms, slower than 10 ms."""
        engine = DecisionEngine(0.004, local_capacity=0.25)
        engine.set_probe("edge", Probe(0.010, **FAST_LINK), "edge")
        local, edge = engine.estimates("f")
        assert (local.benchmark, local.compute, local.capacity) == (0.016, 0.016, 0.25)
        assert (edge.benchmark, edge.capacity) == (0.010, 1.0)
        decision = engine.decide("f", LatencyPolicy())
        assert decision.node == "edge"
        assert decision.reason == (
            "no history yet: edge ran the probe fastest (10 ms vs 16 ms locally at 0.25 core)"
        )
        unthrottled = DecisionEngine(0.004)
        unthrottled.set_probe("edge", Probe(0.010, **FAST_LINK), "edge")
        assert unthrottled.decide("f", LatencyPolicy()).node == LOCAL

    def test_history_here_scales_by_the_throttled_probe(self) -> None:
        engine = DecisionEngine(0.004, local_capacity=0.25)
        engine.set_probe("edge", Probe(0.010, **FAST_LINK), "edge")
        engine.record("f", LOCAL, 0.4)  # measured under the quota
        assert edge_estimate(engine, "f").compute == pytest.approx(0.4 * 0.010 / 0.016)

    def test_more_than_a_core_is_one_core_for_one_call(self) -> None:
        engine = DecisionEngine(0.004, local_capacity=3.0)
        assert engine.local_capacity == 3.0
        assert engine.estimates("f")[0].benchmark == 0.004
        with pytest.raises(ValueError, match="local_capacity must be > 0"):
            DecisionEngine(0.004, local_capacity=0.0)


def _mentions(reason: str, name: str) -> int:
    word = r"\blocal(ly)?\b" if name == LOCAL else rf"\b{re.escape(name)}\b"
    return len(re.findall(word, reason))


class TestReasons:
    def test_local_winning_the_probe_is_compared_with_the_best_worker(self) -> None:
        decision = engine_with(("slow", 0.050), ("slower", 0.080)).decide("f", LatencyPolicy())
        assert decision.node == LOCAL
        assert (
            decision.reason == "no history yet: local ran the probe fastest (10 ms vs slow 50 ms)"
        )

    def test_a_busy_client_says_so(self) -> None:
        engine = engine_with(("slow", 0.050))
        engine.started(LOCAL)
        decision = engine.decide("f", LatencyPolicy())
        assert decision.node == "slow"
        assert decision.reason == (
            "no history yet: local is busier (1 vs 0 rounds of calls in flight); "
            "slow ran the probe in 50 ms vs 10 ms locally"
        )

    def test_a_busy_fast_worker_is_passed_over_visibly(self) -> None:
        engine = engine_with(("fast", 0.001), ("slower", 0.005))
        engine.started("fast")
        assert engine.decide("f", LatencyPolicy()).reason == (
            "no history yet: slower ran the probe fastest of the least busy workers "
            "(5 ms vs 10 ms locally)"
        )

    def test_energy_reasons_compare_local_with_the_best_worker(self) -> None:
        engine = DecisionEngine(0.010, client_power=PowerProfile(idle=1.0, busy=5.0, transmit=3.0))
        engine.set_probe("peer", Probe(0.100, **FAST_LINK), "peer")  # 10x slower: 10 J idle
        engine.record("f", LOCAL, 1.0)
        decision = engine.decide("f", EnergyPolicy())
        assert decision.node == LOCAL
        assert decision.reason == "local predicted 5 J for the client vs peer 10 J"

    @pytest.mark.parametrize(
        "policy", [LatencyPolicy(), AlwaysLocalPolicy(), AlwaysRemotePolicy()], ids=repr
    )
    @pytest.mark.parametrize("local_seconds", [None, 0.001, 1.0])
    @pytest.mark.parametrize("capacity", [1.0, 0.25])
    def test_each_node_is_named_once_with_its_figure(
        self, policy: Policy, local_seconds: float | None, capacity: float
    ) -> None:
        engine = DecisionEngine(0.010, local_capacity=capacity)
        for name, benchmark in (("edge", 0.005), ("server", 0.002)):
            engine.set_probe(name, Probe(benchmark, **FAST_LINK), name)
        if local_seconds is not None:
            engine.record("f", LOCAL, local_seconds, size=1e3)
        decision = engine.decide("f", policy, size=1e3)
        by_node = {e.node: e for e in decision.estimates}
        chosen = by_node[decision.node]
        others = [e for e in decision.estimates if e.is_local != chosen.is_local]
        if chosen.known:
            other = min(others, key=lambda e: e.total)
            figures = (chosen.total, other.total)
        else:
            other = min(others, key=lambda e: (e.waves, e.benchmark))
            figures = (chosen.benchmark, other.benchmark)
        named = decision.reason.removeprefix(f"policy {policy.name}")  # not a node's name
        for e in (chosen, other):
            assert _mentions(named, e.node) == 1, decision.reason
        for seconds in figures:
            milliseconds = f"{seconds * 1e3:.3g}".replace("e+0", "e")  # 1e+03 is written 1e3
            assert f"{milliseconds} ms" in decision.reason, decision.reason
        assert ("at 0.25 core" in decision.reason) == (capacity == 0.25), decision.reason
