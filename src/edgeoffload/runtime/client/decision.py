"""COFA's *DecisionEngine*: where should this call run?

The engine keeps two kinds of knowledge:

- **Probes** of every worker, refreshed on connect and periodically: the time of the
  fixed probe benchmark there (:mod:`edgeoffload.runtime.worker.kernels`) and locally, the round
  trip time and the bandwidth of the link. The local probe time is divided by the
  client's share of a core, ``min(1, local_capacity)``: a probe of a few milliseconds
  runs within one CFS period's budget and hardly sees a CPU quota
  (:func:`edgeoffload.runtime.host.cpu.cpu_capacity` reads it), so a client held to a
  quarter of a core counts as 4 times slower than it probed.
- **History** of every offloaded function, against each call's *size*: a number the
  caller passes, proportional to the call's work (the function's cost hint,
  ``@offload(cost=...)``, or else the bytes of its pickled arguments). Per (function,
  node) the engine keeps moving averages (EWMA, weight :attr:`DecisionEngine.alpha` on
  the newest sample) of the compute time and of the size, and a robust slope of compute
  time against size; per function, the same for argument and result bytes, and a slope
  pooled over every node in probe units (compute time / that node's probe time).

For each candidate (local, and every worker that is probed, not excluded and not avoided
by its circuit breaker) it predicts, in seconds, for a call of size ``s``::

    total   = send + queue + compute + receive
    send    = rtt / 2 + argument bytes / bandwidth            (0 locally)
    receive = rtt / 2 + result bytes(s) / bandwidth           (0 locally)
    compute = compute(s) on that node, else compute(s) on the node with the most samples
              scaled by the two nodes' probe times (compute_b = compute_a * probe_b / probe_a)
    queue   = floor(calls of this session in flight there / its slots) * compute

    compute(s) = max(0, mean compute + slope * (s - mean size))

The slope is Theil–Sen's: the median of the slopes between pairs of the node's last 16
sized samples whose sizes differ by more than 20 %, clamped at 0 from below (a noisy
sample moves a median little). It is fitted once at least two samples lie that far from
the window's median size, so one stray call never sets it. Until then the node uses the
pooled slope times its probe time (10 small calls here and a few large ones on a worker
make a slope for both), and without either the EWMA mean: a call without a size, or a
function never given one, is predicted exactly as before sizes were known.

A :class:`Policy` then picks one and says why, naming the chosen node and the best
candidate of the other kind (local against the best worker) with both figures. Before a
function has any history, every policy that ranks by time uses COFA's rule: the worker
whose probe benchmark ran fastest, among those with the fewest calls of this session
already in flight; local if its probe is faster still and it is no busier.

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
import statistics
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
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


_WINDOW = 16
"""Sized samples per (function, node) a slope is fitted on."""

_POOLED_WINDOW = 24
"""Sized samples per function, over every node, the pooled slope is fitted on."""

_DISTINCT_SIZES = 0.2
"""Two sizes are distinct when they differ by more than this fraction of the larger."""


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


def _distinct(a: float, b: float) -> bool:
    return abs(a - b) > _DISTINCT_SIZES * max(abs(a), abs(b))


class _Slope:
    """A robust slope of y against size over the last ``window`` samples (Theil–Sen)."""

    __slots__ = ("samples", "value")

    def __init__(self, window: int) -> None:
        self.samples: deque[tuple[float, float]] = deque(maxlen=window)
        self.value: float | None = None
        """``None`` until at least two samples lie apart from the window's median size."""

    def add(self, size: float, y: float) -> None:
        self.samples.append((size, y))
        samples = list(self.samples)
        sizes = [x for x, _ in samples]
        if not _distinct(min(sizes), max(sizes)):  # the usual case: calls of one size
            self.value = None
            return
        sizes.sort()
        middle = sizes[len(sizes) // 2]
        if sum(_distinct(x, middle) for x in sizes) < 2:
            self.value = None
            return
        slopes = [
            (y2 - y1) / (x2 - x1)
            for i, (x1, y1) in enumerate(samples)
            for x2, y2 in samples[i + 1 :]
            if _distinct(x1, x2)
        ]
        self.value = max(0.0, statistics.median(slopes))


class _Line:
    """y against the call's size: EWMAs of y (all samples) and of (size, y) (sized ones),
    and a robust slope; predicts ``mean y + slope * (size - mean size)``, at least 0."""

    __slots__ = ("at_size", "mean", "size", "slope")

    def __init__(self, alpha: float) -> None:
        self.mean = _EWMA(alpha)
        self.size = _EWMA(alpha)
        self.at_size = _EWMA(alpha)
        self.slope = _Slope(_WINDOW)

    @property
    def count(self) -> int:
        return self.mean.count

    def add(self, y: float, size: float | None) -> None:
        self.mean.add(y)
        if size is not None:
            self.size.add(size)
            self.at_size.add(y)
            self.slope.add(size, y)

    def predict(self, size: float | None, fallback_slope: float | None = None) -> float:
        """y at ``size``, with ``fallback_slope`` while this line has none of its own.

        Without a size, sized samples or any slope: the EWMA mean of every sample.
        """
        slope = self.slope.value if self.slope.value is not None else fallback_slope
        if size is None or self.size.count == 0 or slope is None:
            return self.mean.value
        return max(0.0, self.at_size.value + slope * (size - self.size.value))


class _History:
    """What the engine learnt about one function."""

    __slots__ = ("arg_bytes", "compute", "pooled", "result_bytes")

    def __init__(self, alpha: float) -> None:
        self.compute: dict[str, _Line] = {}
        self.pooled = _Slope(_POOLED_WINDOW)
        """Compute time in probe units (/ the node's probe time) against size, all nodes."""
        self.arg_bytes = _Line(alpha)
        self.result_bytes = _Line(alpha)


def _size_of(size: float | None, arg_bytes: float | None) -> float | None:
    """The call's size: ``size``, else ``arg_bytes``; ``None`` if neither is usable."""
    value = size if size is not None else arg_bytes
    if value is None or not math.isfinite(value) or value < 0:
        return None
    return float(value)


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
    size: float | None = None
    """The call's size the estimate is for (``None``: not given; EWMA means were used)."""
    capacity: float = 1.0
    """Share of a core one call gets there: below 1 for a client under a CPU quota, whose
    :attr:`benchmark` is already divided by it; 1 for workers."""

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


def _ms(seconds: float) -> str:
    return f"{_number(seconds * 1e3)} ms"


def _number(x: float) -> str:
    """Three significant digits, ``1.2e6`` rather than ``1.2e+06``."""
    mantissa, _, exponent = f"{x:.3g}".partition("e")
    return f"{mantissa}e{int(exponent)}" if exponent else mantissa


def _at(e: Estimate) -> str:
    """`` at 0.25 core`` for a client under a CPU quota, else nothing."""
    return f" at {e.capacity:.2g} core" if e.capacity < 1 else ""


def _notes(*notes: str) -> str:
    """`` (a; b)`` of the non-empty notes, or nothing."""
    kept = [n for n in notes if n]
    return f" ({'; '.join(kept)})" if kept else ""


def _size(e: Estimate) -> str:
    return "" if e.size is None else f"size {_number(e.size)}"


def _parts(e: Estimate) -> str:
    """``compute 2.1 + transfer 7.7 + queue 4`` (ms), or nothing for compute alone."""
    parts = [f"compute {_number(e.compute * 1e3)}"]
    if not e.is_local:
        parts.append(f"transfer {_number((e.send + e.receive) * 1e3)}")
    if e.queue:
        parts.append(f"queue {_number(e.queue * 1e3)}")
    return " + ".join(parts) if len(parts) > 1 else ""


def _workers(estimates: Sequence[Estimate]) -> list[Estimate]:
    return [e for e in estimates if not e.is_local]


def _fastest_probe(estimates: Sequence[Estimate]) -> tuple[Estimate, str]:
    # unknown compute: calls in flight may take any time, so the least busy worker wins,
    # then the fastest probe; local only if its probe beats that worker's and it is no busier
    local = estimates[0]
    remote = _workers(estimates)
    if not remote:
        return local, "no history yet and no worker available: runs locally"
    best = min(remote, key=lambda e: (e.waves, e.benchmark))
    if local.benchmark <= best.benchmark and local.waves <= best.waves:
        return local, (
            f"no history yet: local ran the probe fastest ({_ms(local.benchmark)}{_at(local)} "
            f"vs {best.name} {_ms(best.benchmark)})"
        )
    here = f"{_ms(local.benchmark)} locally{_at(local)}"
    if best.benchmark <= local.benchmark:
        faster = min(e.benchmark for e in remote) < best.benchmark  # but busier
        among = " of the least busy workers" if faster else ""
        return best, (
            f"no history yet: {best.name} ran the probe fastest{among} "
            f"({_ms(best.benchmark)} vs {here})"
        )
    return best, (
        f"no history yet: local is busier ({local.waves} vs {best.waves} rounds of calls in "
        f"flight); {best.name} ran the probe in {_ms(best.benchmark)} vs {here}"
    )


class LatencyPolicy(Policy):
    """The least predicted time wins (ties go to local); the default."""

    name = "latency"

    def choose(self, function: str, estimates: Sequence[Estimate]) -> tuple[Estimate, str]:
        if not any(e.known for e in estimates):
            return _fastest_probe(estimates)
        best = min(estimates, key=lambda e: (e.total, not e.is_local))
        local = estimates[0]
        remote = _workers(estimates)
        if not remote:
            return best, "no worker available: runs locally"
        if best.is_local:
            runner = min(remote, key=lambda e: e.total)
            return best, (
                f"local predicted {_ms(local.total)}{_at(local)}"
                f"{_notes(_parts(local), _size(local))} vs {runner.name} {_ms(runner.total)}"
                f"{_notes(_parts(runner))}"
            )
        return best, (
            f"{best.name} predicted {_ms(best.total)}{_notes(_parts(best), _size(best))} vs "
            f"{_ms(local.total)} locally{_at(local)}{_notes(_parts(local))}"
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

        def joules(e: Estimate) -> float:
            return e.energy if e.energy is not None else math.inf

        best = min(estimates, key=lambda e: (joules(e), e.total, not e.is_local))
        local = estimates[0]
        remote = _workers(estimates)
        if not remote:
            return best, "no worker available: runs locally (energy policy)"
        if best.is_local:
            runner = min(remote, key=lambda e: (joules(e), e.total))
            return best, (
                f"local predicted {joules(local):.3g} J for the client{_at(local)}"
                f"{_notes(_size(local))} vs {runner.name} {joules(runner):.3g} J"
            )
        return best, (
            f"{best.name} predicted {joules(best):.3g} J for the client{_notes(_size(best))} "
            f"vs {joules(local):.3g} J locally{_at(local)}"
        )


def _headline(e: Estimate) -> str:
    """The predicted time when the function has history, else the probe time."""
    return f"predicted {_ms(e.total)}" if e.known else f"probed {_ms(e.benchmark)}"


class AlwaysLocalPolicy(Policy):
    """Never offload (the papers' *Local* baseline)."""

    name = "always-local"

    def choose(self, function: str, estimates: Sequence[Estimate]) -> tuple[Estimate, str]:
        local = estimates[0]
        remote = _workers(estimates)
        if not remote:
            return local, "policy always-local (no worker available either)"
        if local.known:
            runner = min(remote, key=lambda e: e.total)
        else:
            runner = min(remote, key=lambda e: (e.waves, e.benchmark))
        return local, (
            f"policy always-local: local {_headline(local)}{_at(local)} vs {runner.name} "
            f"{_ms(runner.total if runner.known else runner.benchmark)}"
        )


class AlwaysRemotePolicy(Policy):
    """Always offload, to the worker with the least predicted time; local only if none."""

    name = "always-remote"

    def choose(self, function: str, estimates: Sequence[Estimate]) -> tuple[Estimate, str]:
        local = estimates[0]
        remote = _workers(estimates)
        if not remote:
            return local, "policy always-remote, but no worker is available: runs locally"
        if not any(e.known for e in remote):
            best = min(remote, key=lambda e: (e.waves, e.benchmark))
        else:
            best = min(remote, key=lambda e: e.total)
        return best, (
            f"policy always-remote: {best.name} {_headline(best)} vs "
            f"{_ms(local.total if local.known else local.benchmark)} locally{_at(local)}"
        )


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

    Every method is thread-safe. :meth:`decide` and :meth:`estimates` take time linear in
    the number of nodes; :meth:`record` refits the slopes over the last samples (a few
    hundred pairs, about 0.2 ms, while sizes vary).

    Parameters
    ----------
    local_probe
        The probe benchmark's time on the client, seconds.
    client_power
        The client's power figures, for energy estimates (``None``: no energy figures).
    alpha
        Weight of the newest sample in the moving averages.
    local_slots
        Calls that can run at once on the client.
    local_capacity
        Cores one call may use on the client (see
        :func:`edgeoffload.runtime.host.cpu.cpu_capacity`); below 1 the client is under a
        CPU quota and its probe time counts as ``local_probe / local_capacity``; above 1
        counts as 1 (one call runs on one core).
    """

    def __init__(
        self,
        local_probe: float,
        client_power: PowerProfile | None = None,
        alpha: float = 0.3,
        local_slots: int = 1,
        local_capacity: float = 1.0,
    ) -> None:
        if not local_capacity > 0:
            raise ValueError(f"local_capacity must be > 0 cores, got {local_capacity!r}")
        self.alpha = alpha
        self.client_power = client_power
        self._local_capacity = float(local_capacity)
        self._local_share = min(1.0, self._local_capacity)
        self._lock = threading.RLock()
        self._probes: dict[str, Probe] = {LOCAL: Probe(local_probe, 0.0, math.inf, local_slots)}
        self._names: dict[str, str] = {LOCAL: LOCAL}
        self._history: dict[str, _History] = {}
        self._inflight: dict[str, int] = {}
        self.breakers: dict[str, CircuitBreaker] = {}

    @property
    def local_capacity(self) -> float:
        """Cores one call may use on the client, as given."""
        return self._local_capacity

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
        *,
        size: float | None = None,
    ) -> None:
        """Add one observed call: compute seconds on ``node``, its size and payload bytes.

        Parameters
        ----------
        function, node
            The function's key and where the call ran.
        compute
            Its compute time there, seconds.
        arg_bytes, result_bytes
            Bytes of its pickled arguments and result, if known.
        size
            The call's size (its cost hint's value); ``None``: ``arg_bytes``. A call
            with neither only moves the moving averages.
        """
        x = _size_of(size, arg_bytes)
        with self._lock:
            history = self._history.get(function)
            if history is None:
                history = self._history[function] = _History(self.alpha)
            history.compute.setdefault(node, _Line(self.alpha)).add(compute, x)
            probe = self._probes.get(node)
            if x is not None and probe is not None and probe.benchmark > 0:
                history.pooled.add(x, compute / self._benchmark(node, probe))
            if arg_bytes is not None:  # against a size of its own only: else they are it
                history.arg_bytes.add(arg_bytes, None if size is None else x)
            if result_bytes is not None:
                history.result_bytes.add(result_bytes, x)

    def history(self, function: str) -> dict[str, float]:
        """node -> the moving average of the function's compute time there, seconds."""
        with self._lock:
            h = self._history.get(function)
            return {} if h is None else {n: line.mean.value for n, line in h.compute.items()}

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
    def _benchmark(self, node: str, probe: Probe) -> float:
        """The node's probe time as the model uses it (the client's divided by its share)."""
        return probe.benchmark / self._local_share if node == LOCAL else probe.benchmark

    def _reference(self, history: _History, size: float | None) -> tuple[float, float | None]:
        """Compute at ``size`` on the node with the most samples (local first on ties), and
        its probe time (``None``: it is gone, unscalable): what other nodes scale from."""
        ref_node, ref = max(history.compute.items(), key=lambda kv: (kv[1].count, kv[0] == LOCAL))
        ref_probe = self._probes.get(ref_node)
        if ref_probe is None or ref_probe.benchmark <= 0:
            return ref.predict(size), None
        ref_benchmark = self._benchmark(ref_node, ref_probe)
        pooled = history.pooled.value
        return ref.predict(size, None if pooled is None else pooled * ref_benchmark), ref_benchmark

    def estimates(
        self,
        function: str,
        arg_bytes: float | None = None,
        exclude: Iterable[str] = (),
        *,
        size: float | None = None,
    ) -> list[Estimate]:
        """Estimates of local and every usable worker, local first.

        Parameters
        ----------
        function
            The function's key.
        arg_bytes
            Bytes of the call's pickled arguments (``None``: predicted from its size, or
            the moving average).
        exclude
            Workers not to consider.
        size
            The call's size (its cost hint's value); ``None``: ``arg_bytes``; neither:
            the moving averages, as for a call of typical size.
        """
        excluded = set(exclude)
        x = _size_of(size, arg_bytes)
        now = time.monotonic()
        with self._lock:
            history = self._history.get(function)
            compute_history: dict[str, _Line] | None = None
            reference, per = 0.0, None  # what a node without samples scales from
            if history is not None and history.compute:
                compute_history = history.compute
                reference, per = self._reference(history, x)
            pooled = history.pooled.value if history else None
            if arg_bytes is None:
                arg_bytes = history.arg_bytes.predict(x) if history else 0.0
            result_bytes = history.result_bytes.predict(x) if history else 0.0
            out = []
            for node, probe in self._probes.items():
                if node != LOCAL and (
                    node in excluded
                    or not self.breakers.setdefault(node, CircuitBreaker()).available(now)
                ):
                    continue
                benchmark = self._benchmark(node, probe)
                own = compute_history.get(node) if compute_history else None
                if own is not None:
                    compute = own.predict(x, None if pooled is None else pooled * benchmark)
                elif compute_history is None:
                    compute = benchmark  # no history: the probe stands in
                else:
                    compute = reference if per is None else reference * benchmark / per
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
                        known=compute_history is not None,
                        benchmark=benchmark,
                        energy=energy,
                        waves=waves,
                        size=x,
                        capacity=self._local_share if node == LOCAL else 1.0,
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
        *,
        size: float | None = None,
    ) -> Decision:
        """Where to run the next call of ``function`` under ``policy``.

        ``arg_bytes`` and ``size`` are as for :meth:`estimates`. With ``reserve``, the
        chosen node's count of calls in flight is raised in the same step (so concurrent
        decisions see each other); call :meth:`finished` afterwards.
        """
        with self._lock:
            estimates = self.estimates(function, arg_bytes, exclude, size=size)
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
