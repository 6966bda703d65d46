"""The decision engine and its policies, with probe results fed in (no timing noise)."""

from __future__ import annotations

import math
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
