"""COFA's *DecisionEngine*: where should this call run?

The engine keeps two kinds of knowledge:

- **Probes** of every worker, refreshed on connect and periodically: the time of the
  fixed probe benchmark there (:mod:`edgeoffload.runtime.worker.kernels`) and locally, the round
  trip time and the bandwidth of the link.
- **History** of every offloaded function: its compute time on each node (local or a
  worker) and the sizes of its arguments and results, as exponentially weighted moving
  averages (EWMA, weight :attr:`DecisionEngine.alpha` on the newest sample).

For each candidate (local, and every worker that is probed, not excluded and not avoided
by its circuit breaker) it predicts, in seconds::

    total = send + queue + compute + receive
    send    = rtt / 2 + argument bytes / bandwidth            (0 locally)
    receive = rtt / 2 + result bytes / bandwidth              (0 locally)
    compute = history on that node, else the history on another node scaled by the two
              nodes' probe times (compute_b = compute_a * probe_b / probe_a)
    queue   = floor(calls of this session in flight there / its slots) * compute

A :class:`Policy` then picks one. Before a function has any history, every policy that
ranks by time uses COFA's rule: the worker whose probe benchmark ran fastest, among those
with the fewest calls of this session already in flight; local if its probe is faster
still and it is no busier.

To implement a policy:

1. subclass :class:`Policy` and give it a ``name``;
2. implement :meth:`Policy.choose`, which receives the :class:`Estimate` of every
   candidate (the first is always local) and returns the chosen one and a one-line
   reason (it appears in ``session.stats()`` and the summary);
3. set ``needs_power = True`` if it uses the client's power figures (the session then
   refuses to start without them);
4. pass an instance: ``connect(policy=MyPolicy())`` or ``@offload(policy=MyPolicy())``,
   or register it by name with :func:`register_policy`.
"""

from __future__ import annotations

import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from edgeoffload.errors import OffloadError
from edgeoffload.model.cluster import PowerProfile

__all__ = [
    "LOCAL",
    "POLICIES",
    "AlwaysLocalPolicy",
    "AlwaysRemotePolicy",
    "CircuitBreaker",
    "Decision",
    "DecisionEngine",
    "EnergyPolicy",
    "Estimate",
    "LatencyPolicy",
    "Policy",
    "Probe",
    "get_policy",
    "register_policy",
]

LOCAL = "local"
"""Node id of the client itself in estimates, history and stats."""


@dataclass(frozen=True, slots=True)
class Probe:
    """What a probe found out about a node.

    Parameters
    ----------
    benchmark
        Wall time of the probe benchmark there, seconds.
    rtt
        Round trip time of an empty message, seconds (0 for local).
    bandwidth
        Bytes per second over the link (``inf`` for local).
    slots
        Calls that can run there at once.
    """

    benchmark: float
    rtt: float = 0.0
    bandwidth: float = math.inf
    slots: int = 1


class _EWMA:
    __slots__ = ("alpha", "count", "value")

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha
        self.value = 0.0
        self.count = 0

    def add(self, sample: float) -> None:
        self.value = (
            sample if self.count == 0 else self.alpha * sample + (1 - self.alpha) * self.value
        )
        self.count += 1


@dataclass
class _History:
    compute: dict[str, _EWMA] = field(default_factory=dict)
    arg_bytes: _EWMA = field(default_factory=lambda: _EWMA(0.3))
    result_bytes: _EWMA = field(default_factory=lambda: _EWMA(0.3))


@dataclass(frozen=True, slots=True)
class Estimate:
    """Predicted cost of running one call on one node (seconds, joules)."""

    node: str
    name: str
    send: float
    queue: float
    compute: float
    receive: float
    known: bool
    """Whether ``compute`` comes from this function's history (else from probes only)."""
    benchmark: float
    energy: float | None = None
    """Energy the *client* spends on the call, joules (needs the client's power figures)."""
    waves: int = 0
    """Whole rounds of this session's calls in flight there (calls in flight // slots)."""

    @property
    def total(self) -> float:
        return self.send + self.queue + self.compute + self.receive

    @property
    def is_local(self) -> bool:
        return self.node == LOCAL


@dataclass(frozen=True, slots=True)
class Decision:
    """The engine's answer: where to run, why, and what it predicted for every candidate."""

    node: str
    reason: str
    estimates: tuple[Estimate, ...]

    @property
    def predicted(self) -> float:
        for e in self.estimates:
            if e.node == self.node:
                return e.total
        return math.nan


class Policy(ABC):
    """Chooses among the candidates' estimates (see the module docstring's recipe)."""

    name: ClassVar[str] = "custom"
    needs_power: ClassVar[bool] = False

    @abstractmethod
    def choose(self, function: str, estimates: Sequence[Estimate]) -> tuple[Estimate, str]:
        """Return the chosen estimate (one of ``estimates``) and a one-line reason."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _fastest_probe(estimates: Sequence[Estimate]) -> tuple[Estimate, str]:
    # unknown compute: calls in flight may take any time, so the least busy worker wins,
    # then the fastest probe; local only if its probe beats that worker's and it is no busier
    local = estimates[0]
    remote = [e for e in estimates if not e.is_local]
    best = min(remote, key=lambda e: (e.waves, e.benchmark)) if remote else local
    if local.benchmark <= best.benchmark and local.waves <= best.waves:
        best = local
    return best, (
        f"no history yet: {best.name} ran the probe fastest "
        f"({best.benchmark * 1e3:.3g} ms vs {local.benchmark * 1e3:.3g} ms locally)"
    )


class LatencyPolicy(Policy):
    """The least predicted time wins (ties go to local); the default."""

    name = "latency"

    def choose(self, function: str, estimates: Sequence[Estimate]) -> tuple[Estimate, str]:
        if not any(e.known for e in estimates):
            return _fastest_probe(estimates)
        best = min(estimates, key=lambda e: (e.total, not e.is_local))
        local = estimates[0]
        if best.is_local:
            others = [e for e in estimates if not e.is_local]
            if not others:
                return best, "no worker available"
            runner = min(others, key=lambda e: e.total)
            return best, (
                f"local predicted {local.total * 1e3:.3g} ms, best worker {runner.name} "
                f"{runner.total * 1e3:.3g} ms"
            )
        return best, (
            f"{best.name} predicted {best.total * 1e3:.3g} ms "
            f"(compute {best.compute * 1e3:.3g} + transfer {(best.send + best.receive) * 1e3:.3g}"
            f" + queue {best.queue * 1e3:.3g}) vs local {local.total * 1e3:.3g} ms"
        )


class EnergyPolicy(Policy):
    """The least energy spent by the client wins; ties broken by time.

    Local energy = busy power × (queue + compute); remote energy = transmit power ×
    (send + receive) + idle power × (queue + compute there), with the client's
    :class:`~edgeoffload.model.cluster.PowerProfile` (the power model the simulator uses).
    """

    name = "energy"
    needs_power = True

    def choose(self, function: str, estimates: Sequence[Estimate]) -> tuple[Estimate, str]:
        if not any(e.known for e in estimates):
            best, why = _fastest_probe(estimates)
            return best, why + " (energy policy)"
        best = min(
            estimates,
            key=lambda e: (e.energy if e.energy is not None else math.inf, e.total, not e.is_local),
        )
        local = estimates[0]
        return best, (
            f"{best.name} predicted {best.energy or 0:.3g} J for the client vs "
            f"{local.energy or 0:.3g} J locally"
        )


class AlwaysLocalPolicy(Policy):
    """Never offload (the papers' *Local* baseline)."""

    name = "always-local"

    def choose(self, function: str, estimates: Sequence[Estimate]) -> tuple[Estimate, str]:
        return estimates[0], "policy always-local"


class AlwaysRemotePolicy(Policy):
    """Always offload, to the worker with the least predicted time; local only if none."""

    name = "always-remote"

    def choose(self, function: str, estimates: Sequence[Estimate]) -> tuple[Estimate, str]:
        remote = [e for e in estimates if not e.is_local]
        if not remote:
            return estimates[0], "policy always-remote, but no worker is available"
        if not any(e.known for e in remote):
            best = min(remote, key=lambda e: (e.waves, e.benchmark))
        else:
            best = min(remote, key=lambda e: e.total)
        return best, f"policy always-remote: {best.name} is the best worker"


POLICIES: dict[str, type[Policy]] = {
    "latency": LatencyPolicy,
    "energy": EnergyPolicy,
    "always-local": AlwaysLocalPolicy,
    "always-remote": AlwaysRemotePolicy,
}


def register_policy(policy: type[Policy]) -> type[Policy]:
    """Make ``policy`` available by its ``name`` (usable as a class decorator)."""
    POLICIES[policy.name] = policy
    return policy


def get_policy(policy: str | Policy | None) -> Policy:
    """A policy instance from a name, an instance, or ``None`` (latency)."""
    if policy is None:
        return LatencyPolicy()
    if isinstance(policy, Policy):
        return policy
    try:
        return POLICIES[policy]()
    except KeyError:
        raise OffloadError(
            f"unknown policy {policy!r}; known: {', '.join(sorted(POLICIES))}"
        ) from None


class CircuitBreaker:
    """Avoids a node that keeps failing, for a while that doubles with each failure.

    After a failure the node is avoided for ``base`` seconds, after the next consecutive
    one for ``2 * base``, and so on up to ``cap``; a success closes the breaker.
    """

    def __init__(self, base: float = 2.0, cap: float = 60.0) -> None:
        self.base = base
        self.cap = cap
        self.failures = 0
        self.open_until = 0.0

    def available(self, now: float | None = None) -> bool:
        return (time.monotonic() if now is None else now) >= self.open_until

    def failure(self, now: float | None = None) -> float:
        """Record a failure; return how long the node is now avoided, seconds."""
        self.failures += 1
        pause = min(self.cap, self.base * 2.0 ** (self.failures - 1))
        self.open_until = (time.monotonic() if now is None else now) + pause
        return pause

    def success(self) -> None:
        self.failures = 0
        self.open_until = 0.0


class DecisionEngine:
    """Probes, per-function history and the cost model (see the module docstring).

    Parameters
    ----------
    local_probe
        The probe benchmark's time on the client, seconds.
    client_power
        The client's power figures, for energy estimates (``None``: no energy figures).
    alpha
        Weight of the newest sample in the moving averages.
    """

    def __init__(
        self,
        local_probe: float,
        client_power: PowerProfile | None = None,
        alpha: float = 0.3,
        local_slots: int = 1,
    ) -> None:
        self.alpha = alpha
        self.client_power = client_power
        self._lock = threading.RLock()
        self._probes: dict[str, Probe] = {LOCAL: Probe(local_probe, 0.0, math.inf, local_slots)}
        self._names: dict[str, str] = {LOCAL: LOCAL}
        self._history: dict[str, _History] = {}
        self._inflight: dict[str, int] = {}
        self.breakers: dict[str, CircuitBreaker] = {}

    # ---------------------------------------------------------------- knowledge
    def set_probe(self, node: str, probe: Probe, name: str | None = None) -> None:
        """Add or refresh a node's probe results (tests feed them in directly)."""
        with self._lock:
            self._probes[node] = probe
            self._names[node] = name or self._names.get(node, node)
            self.breakers.setdefault(node, CircuitBreaker())

    def remove_node(self, node: str) -> None:
        with self._lock:
            if node != LOCAL:
                self._probes.pop(node, None)
                self._inflight.pop(node, None)

    def probe(self, node: str) -> Probe | None:
        with self._lock:
            return self._probes.get(node)

    def nodes(self) -> list[str]:
        with self._lock:
            return [n for n in self._probes if n != LOCAL]

    def name(self, node: str) -> str:
        return self._names.get(node, node)

    def record(
        self,
        function: str,
        node: str,
        compute: float,
        arg_bytes: float | None = None,
        result_bytes: float | None = None,
    ) -> None:
        """Add one observed call: compute seconds on ``node`` and the payload sizes."""
        with self._lock:
            history = self._history.setdefault(function, _History())
            history.compute.setdefault(node, _EWMA(self.alpha)).add(compute)
            if arg_bytes is not None:
                history.arg_bytes.add(arg_bytes)
            if result_bytes is not None:
                history.result_bytes.add(result_bytes)

    def history(self, function: str) -> dict[str, float]:
        """node -> the moving average of the function's compute time there, seconds."""
        with self._lock:
            h = self._history.get(function)
            return {} if h is None else {n: e.value for n, e in h.compute.items()}

    def started(self, node: str) -> None:
        with self._lock:
            self._inflight[node] = self._inflight.get(node, 0) + 1

    def finished(self, node: str) -> None:
        with self._lock:
            self._inflight[node] = max(0, self._inflight.get(node, 0) - 1)

    def inflight(self, node: str) -> int:
        with self._lock:
            return self._inflight.get(node, 0)

    # ---------------------------------------------------------------- prediction
    def _compute(self, history: _History | None, node: str) -> tuple[float, bool]:
        probe = self._probes[node]
        if history is None or not history.compute:
            return probe.benchmark, False
        own = history.compute.get(node)
        if own is not None:
            return own.value, True
        # scale from the reference node with the most samples (local first on ties)
        ref_node, ref = max(history.compute.items(), key=lambda kv: (kv[1].count, kv[0] == LOCAL))
        ref_probe = self._probes.get(ref_node)
        if ref_probe is None or ref_probe.benchmark <= 0:
            return ref.value, True
        return ref.value * probe.benchmark / ref_probe.benchmark, True

    def estimates(
        self, function: str, arg_bytes: float | None = None, exclude: Iterable[str] = ()
    ) -> list[Estimate]:
        """Estimates of local and every usable worker, local first."""
        excluded = set(exclude)
        now = time.monotonic()
        with self._lock:
            history = self._history.get(function)
            if arg_bytes is None:
                arg_bytes = history.arg_bytes.value if history else 0.0
            result_bytes = history.result_bytes.value if history else 0.0
            out = []
            for node, probe in self._probes.items():
                if node != LOCAL and (
                    node in excluded
                    or not self.breakers.setdefault(node, CircuitBreaker()).available(now)
                ):
                    continue
                compute, known = self._compute(history, node)
                waves = self._inflight.get(node, 0) // max(1, probe.slots)
                queue = waves * compute
                if node == LOCAL:
                    send = receive = 0.0
                else:
                    send = probe.rtt / 2 + arg_bytes / probe.bandwidth
                    receive = probe.rtt / 2 + result_bytes / probe.bandwidth
                energy = None
                if self.client_power is not None:
                    p = self.client_power
                    if node == LOCAL:
                        energy = p.busy * (queue + compute)
                    else:
                        energy = p.transmit * (send + receive) + p.idle * (queue + compute)
                out.append(
                    Estimate(
                        node=node,
                        name=self._names.get(node, node),
                        send=send,
                        queue=queue,
                        compute=compute,
                        receive=receive,
                        known=known,
                        benchmark=probe.benchmark,
                        energy=energy,
                        waves=waves,
                    )
                )
            out.sort(key=lambda e: not e.is_local)
            return out

    def decide(
        self,
        function: str,
        policy: Policy,
        arg_bytes: float | None = None,
        exclude: Iterable[str] = (),
        reserve: bool = False,
    ) -> Decision:
        """Where to run the next call of ``function`` under ``policy``.

        With ``reserve``, the chosen node's count of calls in flight is raised in the same
        step (so concurrent decisions see each other); call :meth:`finished` afterwards.
        """
        with self._lock:
            return self._decide(function, policy, arg_bytes, exclude, reserve)

    def _decide(
        self,
        function: str,
        policy: Policy,
        arg_bytes: float | None,
        exclude: Iterable[str],
        reserve: bool,
    ) -> Decision:
        estimates = self.estimates(function, arg_bytes, exclude)
        if policy.needs_power and self.client_power is None:
            raise OffloadError(
                f"policy {policy.name!r} needs the client's power figures: "
                "connect(client=WorkerSpec(..., preset=...)) or give power=PowerProfile(...)"
            )
        chosen, reason = policy.choose(function, estimates)
        if chosen not in estimates:
            raise OffloadError(f"policy {policy.name!r} returned an estimate it was not given")
        if reserve:
            self.started(chosen.node)
        return Decision(chosen.node, reason, tuple(estimates))

    def snapshot(self) -> Mapping[str, Probe]:
        with self._lock:
            return dict(self._probes)
