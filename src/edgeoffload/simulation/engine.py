"""The discrete-event engine: executes placed tasks on a modelled cluster, on simpy.

One :class:`Engine` holds the state of one run. Tasks are added in blocks (the whole
schedule for a batch run, one request at a time for a stream) with their node, their
position in the node's queue and their successors; the engine then runs them:

- a node starts the task at the head of its queue as soon as a core is free and every
  input has arrived (tasks on a node start in the schedule's order);
- a task takes its cost-model execution time (times a variability multiplier);
- a finished task's output goes to each node with a consumer of it, once per node or
  once per dependency (:attr:`SimConfig.transfers`); on a dedicated link without
  contention a transfer takes ``latency + data / bandwidth`` seconds, the cost model's
  expression term for term, so that a run under the schedulers' assumptions reproduces
  their times exactly; on a shared medium the transfers under way share its airtime
  (processor sharing);
- node failures, per :attr:`SimConfig.failure_policy`; under ``"replan"`` the engine stops
  the survivors once their running tasks are done, asks a re-planner (built by
  :func:`~edgeoffload.simulation.simulate`) for a plan of the rest and runs it, finished
  results that survive taking part as *stubs*: queue entries that run nothing and send the
  result on when their node's queue reaches them, as a zero-work task of the plan would.

Cheap constructions throughout: no simpy ``Process`` per task or transfer, only
``Timeout`` events whose callbacks advance the state (a simpy event costs about a
microsecond), and per-task work that is O(1) amortised (O(out-degree) per task).
"""

from __future__ import annotations

import gc
import heapq
import math
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import simpy
from simpy.events import Timeout

from edgeoffload.errors import InfeasibleScheduleError, SimulationError
from edgeoffload.model.cluster import Node
from edgeoffload.model.schedule import Schedule
from edgeoffload.schedulers.replan import holder
from edgeoffload.simulation.config import SimConfig
from edgeoffload.simulation.records import ReplanRecord

__all__ = ["Engine", "NewPlan", "Replanner", "node_state_times"]

# task states
WAITING, RUNNING, DONE, FAILED = 0, 3, 1, 2
# trace codes
T_START, T_FINISH, T_SEND, T_RECEIVE, T_FAIL, T_LOST, T_MOVE, T_REPLAN = range(8)
TRACE_KINDS = ("start", "finish", "send", "receive", "fail", "lost", "move", "replan")

_DEAD = -(1 << 40)  # free-core count of a failed node: it never starts anything again
_STOP = -(1 << 30)  # added to a survivor's free cores while it waits for a re-plan
_CHUNK = 4096  # transfer multipliers are drawn this many at a time


@dataclass(frozen=True, slots=True)
class NewPlan:
    """A re-plan of the rest of a run, in the engine's numbers.

    Attributes
    ----------
    entries
        ``(task, node, stub)`` in run order (:mod:`edgeoffload.model.order`): task number,
        node number and whether the entry is a stub, a finished result that ``node``
        holds: it runs nothing and sends the result on when the node's queue reaches it.
        A task runs for the cost model's execution time there (the engine's ``exec_row``).
    schedule
        The plan as the scheduler made it (of the remaining problem), for the records.
    """

    entries: Sequence[tuple[int, int, bool]]
    schedule: Schedule


class Replanner(Protocol):
    """What the ``replan`` policy asks for the rest of a run after a failure."""

    @property
    def algorithm(self) -> str:
        """Name of the scheduler that re-plans."""

    def __call__(self, now: float, held: dict[int, int], alive: list[int]) -> NewPlan | None:
        """The plan of the rest, or ``None`` when every output is held.

        ``now`` is the time of the re-plan, seconds; ``held`` maps each finished task
        whose result survives to the node holding it; ``alive`` lists the surviving
        nodes, in cluster order.

        Raises
        ------
        InfeasibleScheduleError
            The rest cannot run on the survivors (a needed task is pinned to a failed
            node, say).
        """


class _SharedChannel:
    """Processor sharing of one medium (or one contended link) between transfers.

    Each transfer needs ``airtime`` seconds of the channel alone; with *n* under way each
    progresses at 1/n. Virtual time ``v`` counts the airtime each active transfer has
    received; a transfer finishes when ``v`` reaches its tag ``v_join + airtime``.
    """

    __slots__ = ("_active", "_engine", "_env", "_gen", "_last", "_seq", "_v")

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._env = engine.env
        self._active: list[tuple[float, int, int]] = []
        self._v = 0.0
        self._last = 0.0
        self._gen = 0
        self._seq = 0

    def _advance(self, now: float) -> None:
        n = len(self._active)
        if n:
            self._v += (now - self._last) / n
        self._last = now

    def join(self, k: int, airtime: float) -> None:
        self._advance(self._env.now)
        self._seq += 1
        heapq.heappush(self._active, (self._v + airtime, self._seq, k))
        self._reschedule()

    def _reschedule(self) -> None:
        self._gen += 1
        if self._active:
            tag = self._active[0][0]
            delay = max(0.0, (tag - self._v) * len(self._active))
            ev = Timeout(self._env, delay, self._gen)
            ev.callbacks.append(self._on_event)

    def _on_event(self, ev: Any) -> None:
        engine = self._engine
        engine.events += 1
        if ev._value != self._gen:
            return  # superseded: a transfer joined or left since this was scheduled
        self._advance(self._env.now)
        active = self._active
        limit = self._v + 1e-12 * (1.0 + abs(self._v))
        done = []
        while active and active[0][0] <= limit:
            done.append(heapq.heappop(active)[2])
        self._reschedule()
        for k in done:
            engine._complete_transfer(k)


class Engine:
    """State of one simulated run (use :func:`~edgeoffload.simulation.simulate` or
    :func:`~edgeoffload.simulation.simulate_stream`; this class is their machinery).

    Parameters
    ----------
    nodes
        The cluster's nodes, in cluster order.
    latency, bandwidth
        P×P link matrices from the cost model (seconds, bytes/s; diagonal 0 and ``inf``).
    config
        The simulator's assumptions.
    rng
        Source of variability draws.
    exec_row
        For a re-run or a re-plan after a failure: the execution time of task number ``i``
        on every node, seconds.
    replanner
        For ``failure_policy="replan"``: makes the plan of the rest after a failure.

    Raises
    ------
    SimulationError
        A failure names an unknown node, or the config re-plans failures and no
        ``replanner`` is given.
    """

    def __init__(
        self,
        nodes: Sequence[Node],
        latency: np.ndarray,
        bandwidth: np.ndarray,
        config: SimConfig,
        rng: np.random.Generator,
        exec_row: Callable[[int], np.ndarray] | None = None,
        replanner: Replanner | None = None,
    ) -> None:
        self.env = simpy.Environment()
        self.config = config
        self.rng = rng
        self.events = 0
        self._exec_row = exec_row
        n_nodes = len(nodes)
        self.node_ids = tuple(n.id for n in nodes)
        self._nodes = tuple(nodes)
        self.cores = [n.cores if config.use_cores else 1 for n in nodes]
        self.n_free = [
            0 if n.available_from > 0 else c for n, c in zip(nodes, self.cores, strict=True)
        ]
        self.n_queue: list[list[int]] = [[] for _ in range(n_nodes)]
        self.n_head = [0] * n_nodes
        self.n_alive = [True] * n_nodes
        self.n_failed_at: list[float | None] = [None] * n_nodes
        for p, node in enumerate(nodes):
            if node.available_from > 0:
                self.at(node.available_from, self._on_open, p)
        self._lat = latency
        self._bw = bandwidth
        self._pairs: dict[int, tuple[float, float]] = {}
        self._n_nodes = n_nodes

        # network
        network = config.network
        self._per_node = config.transfers == "per-node"
        self._medium_of = [-1] * n_nodes
        self._media: list[_SharedChannel] = []
        if network.model == "shared":
            index = {node_id: p for p, node_id in enumerate(self.node_ids)}
            for m, medium in enumerate(network.media):
                self._media.append(_SharedChannel(self))
                for node_id in medium.nodes:
                    if node_id in index:
                        self._medium_of[index[node_id]] = m
        self._contended = network.model == "dedicated" and network.contention
        self._pair_channels: dict[tuple[int, int], _SharedChannel] = {}
        self._plain_links = not self._media and not self._contended

        # variability
        variability = config.variability
        self._vary = not variability.is_deterministic
        self._variability = variability
        self._xmult: list[float] = []
        self._xmult_pos = 0

        # tasks (growable columns)
        self.t_node: list[int] = []
        self.t_pnode: list[int] = []
        self.t_pstart: list[float] = []
        self.t_pfinish: list[float] = []
        self.t_rank: list[int] = []
        self.t_dur: list[float] = []
        self.t_pending: list[int] = []
        self.t_req: list[int] = []
        self.t_pin: list[int] = []
        self.t_status: list[int] = []
        self.t_start: list[float] = []
        self.t_finish: list[float] = []
        self.t_runs: list[int] = []
        self.t_ev: list[Any] = []
        self.t_moved_gen: list[int] = []
        self.s_ptr: list[int] = [0]
        self.s_tgt: list[int] = []
        self.s_data: list[float] = []
        self._next_rank = 0

        # requests
        self.r_arrival: list[float] = []
        self.r_left: list[int] = []
        self.r_finish: list[float] = []
        self.r_released: list[bool] = []
        self.r_tasks: list[list[int]] = []  # only for requests gated by a future arrival

        # runs and transfers, for statistics
        # executions cut short by a failure: (node, start, end); finished ones are in t_*
        self.lost_runs: list[tuple[int, float, float]] = []
        # transfers: (sender node, receiver node, start, bytes, target tasks, failure
        # generation when sent, sending task); x_end[k] is when transfer k ended
        self.x: list[tuple[int, int, float, float, Sequence[int], int, int]] = []
        self.x_end: list[float] = []

        self.t_bypass: set[int] = set()
        self.fail_gen = 0
        self._preds: list[list[int]] | None = None
        self.trace: list[tuple[float, int, int, int, int, float]] | None = (
            [] if config.record_trace else None
        )
        self.on_request_done: Callable[[int, float], None] | None = None

        # re-planning (failure_policy "replan")
        if config.failure_policy == "replan" and config.failures and replanner is None:
            raise SimulationError(
                "failure_policy 'replan' needs a problem to re-plan: use simulate(); a stream "
                "plans each frame on arrival (choose 'fail' or 'rerun' for streams)"
            )
        self._replanner = replanner
        self._stubs: list[tuple[int, int, int]] = []  # (task, holder node, plan generation)
        self._draining: dict[int, Any] = {}  # running tasks the survivors finish first
        # nodes failed since the last plan; while there are any, the survivors start
        # nothing and wait for the re-plan
        self._window: list[int] = []
        self._replan_off: str | None = None  # why re-planning stopped, if it did
        self.replans: list[ReplanRecord] = []
        for failure in config.failures:
            if failure.node not in self.node_ids:
                raise SimulationError(f"failure names unknown node {failure.node!r}")
            self.at(failure.at, self._on_failure, self.node_ids.index(failure.node))

    # -- scheduling helpers ---------------------------------------------------------------
    def at(self, time: float, callback: Callable[[Any], None], value: object) -> None:
        """Call ``callback`` at absolute ``time`` (only valid while the clock is at 0).

        ``0 + time == time`` exactly, which keeps arrival and availability times exact.
        """
        if self.env.now != 0:
            raise SimulationError("absolute events can only be set up before the run")
        ev = Timeout(self.env, time, value)
        ev.callbacks.append(callback)

    def run(self) -> None:
        """Process events until none is left.

        Python's cyclic garbage collector is paused meanwhile (and restored after): the
        run allocates millions of short-lived events that reference counting frees, and
        each full collection would scan every object of a large problem again, which
        makes big runs grow faster than linearly.
        """
        paused = gc.isenabled()
        if paused:
            gc.disable()
        try:
            self.env.run()
        finally:
            if paused:
                gc.enable()

    # -- building the workload ------------------------------------------------------------
    def add_request(self, arrival: float, gated: bool) -> int:
        """Register a request arriving at ``arrival``; ``gated``: its tasks wait for it."""
        r = len(self.r_arrival)
        self.r_arrival.append(arrival)
        self.r_left.append(0)
        self.r_finish.append(math.nan)
        self.r_released.append(not gated)
        self.r_tasks.append([])
        if gated:
            self.at(arrival, self._on_release, r)
        return r

    def add_tasks(
        self,
        node: Sequence[int],
        duration: Sequence[float],
        request: Sequence[int],
        pin: Sequence[int],
        predicted_start: Sequence[float],
        predicted_finish: Sequence[float],
        order: Sequence[int],
        succ_ptr: Sequence[int],
        succ_target: Sequence[int],
        succ_data: Sequence[float],
        in_degree: Sequence[int],
        bypass: Sequence[int] = (),
    ) -> int:
        """Append a block of tasks; return the global index of its first task.

        Indexes inside the block (``succ_target``, ``order``, ``bypass``) are local to it.
        ``order`` lists the block's tasks in queue order (by scheduled start, then finish,
        then topological position); each node's queue gets them in that order, after what
        it already holds. ``duration`` is the cost model's execution time on ``node``.
        ``bypass`` lists entry tasks that occupy no core and join no queue: they start as
        soon as their request is released (a camera handing a frame to its radio while its
        processor is busy).
        """
        base = len(self.t_node)
        m = len(node)
        if self._vary:
            mult = self._variability.exec_multipliers(self.rng, m)
            duration = (np.asarray(duration, dtype=float) * mult).tolist()
        self.t_node.extend(node)
        self.t_pnode.extend(node)
        self.t_pstart.extend(predicted_start)
        self.t_pfinish.extend(predicted_finish)
        self.t_dur.extend(duration)
        self.t_req.extend(request)
        self.t_pin.extend(pin)
        self.t_status.extend([WAITING] * m)
        self.t_start.extend([math.nan] * m)
        self.t_finish.extend([math.nan] * m)
        self.t_runs.extend([0] * m)
        self.t_ev.extend([None] * m)
        self.t_moved_gen.extend([0] * m)
        pending = list(in_degree)
        r_left, r_released, r_tasks = self.r_left, self.r_released, self.r_tasks
        for k, r in enumerate(request):
            r_left[r] += 1
            if not r_released[r]:
                pending[k] += 1
                r_tasks[r].append(base + k)
        self.t_pending.extend(pending)
        offset = len(self.s_tgt)
        self.s_ptr.extend(offset + x for x in succ_ptr[1:])
        self.s_tgt.extend(base + t for t in succ_target)
        self.s_data.extend(succ_data)
        rank = self.t_rank
        rank.extend([0] * m)
        queues = self.n_queue
        next_rank = self._next_rank
        touched = set()
        free_running = set(bypass)
        for k in order:
            i = base + k
            rank[i] = next_rank
            next_rank += 1
            if k in free_running:
                continue
            p = node[k]
            queues[p].append(i)
            touched.add(p)
        self._next_rank = next_rank
        self._preds = None
        for k in sorted(free_running):
            i = base + k
            if in_degree[k]:
                raise SimulationError("internal: only entry tasks may bypass the queue")
            self.t_bypass.add(i)
            if not pending[k]:
                self._start_bypass(i)
        for p in sorted(touched):
            self._try_start(p)
        return base

    def _start_bypass(self, i: int) -> None:
        """Start entry task ``i`` now, outside its node's queue and cores."""
        env = self.env
        now = env.now
        p = self.t_node[i]
        self.t_status[i] = RUNNING
        self.t_start[i] = now
        self.t_runs[i] += 1
        self.n_free[p] -= 1  # given back when it finishes: its core use nets to zero
        ev = Timeout(env, self.t_dur[i], i)
        ev.callbacks.append(self._on_finish)
        self.t_ev[i] = ev
        if self.trace is not None:
            self.trace.append((now, T_START, p, i, -1, 0.0))

    # -- the hot path -----------------------------------------------------------------------
    def _try_start(self, p: int) -> None:
        """Start tasks at the head of node ``p``'s queue while cores are free and inputs in."""
        free = self.n_free[p]
        if free <= 0:
            return
        queue = self.n_queue[p]
        h = self.n_head[p]
        n = len(queue)
        if h >= n:
            return
        head = queue[h]
        if head >= 0 and self.t_pending[head]:
            return
        pending, status, start, runs = self.t_pending, self.t_status, self.t_start, self.t_runs
        durations, events, callback = self.t_dur, self.t_ev, self._on_finish
        env = self.env
        now = env.now
        while h < n:
            i = queue[h]
            if i < 0:  # a stub of a re-plan: takes no core, sends its result on
                h += 1
                self._fire_stub(-1 - i)
                continue
            if pending[i]:
                break
            h += 1
            status[i] = RUNNING
            start[i] = now
            runs[i] += 1
            ev = Timeout(env, durations[i], i)
            ev.callbacks.append(callback)
            events[i] = ev
            if self.trace is not None:
                self.trace.append((now, T_START, p, i, -1, 0.0))
            free -= 1
            if free <= 0:
                break
        self.n_head[p] = h
        self.n_free[p] = free

    def _on_finish(self, ev: Any) -> None:
        self.events += 1
        i = ev._value
        if self.t_ev[i] is not ev:
            return  # lost to a node failure
        self.t_ev[i] = None
        now = self.env.now
        p = self.t_node[i]
        self.t_finish[i] = now
        self.t_status[i] = DONE
        self.n_free[p] += 1
        r = self.t_req[i]
        left = self.r_left[r] - 1
        self.r_left[r] = left
        if not left:
            self.r_finish[r] = now
            if self.on_request_done is not None:
                self.on_request_done(r, now)
        if self.trace is not None:
            self.trace.append((now, T_FINISH, p, i, -1, 0.0))
        a = self.s_ptr[i]
        b = self.s_ptr[i + 1]
        if a < b:
            self._send_outputs(i, p, a, b)
        self._try_start(p)

    def _send_outputs(self, i: int, p: int, a: int, b: int) -> None:
        tgt, data, node = self.s_tgt, self.s_data, self.t_node
        if b - a == 1 or not self._per_node:
            for k in range(a, b):
                t = tgt[k]
                q = node[t]
                if q == p:
                    self._deliver(t)
                elif self.t_status[t] == WAITING:
                    self._send(i, p, q, data[k], (t,))
            return
        groups: dict[int, list[Any]] = {}
        for k in range(a, b):
            t = tgt[k]
            q = node[t]
            if q == p:
                self._deliver(t)
                continue
            if self.t_status[t] != WAITING:
                continue
            g = groups.get(q)
            if g is None:
                groups[q] = [data[k], [t]]
            else:
                if data[k] > g[0]:
                    g[0] = data[k]
                g[1].append(t)
        for q, (size, targets) in groups.items():
            self._send(i, p, q, size, targets)

    def _deliver(self, t: int) -> None:
        left = self.t_pending[t] - 1
        self.t_pending[t] = left
        if not left:
            q = self.t_node[t]
            queue = self.n_queue[q]
            h = self.n_head[q]
            if h < len(queue) and queue[h] == t:  # only the head of a queue can start
                self._try_start(q)

    def _link(self, p: int, q: int) -> tuple[float, float]:
        """Latency (s) and bandwidth (bytes/s) from node ``p`` to ``q``, cached per pair."""
        key = p * self._n_nodes + q
        link = self._pairs.get(key)
        if link is None:
            link = self._pairs[key] = (float(self._lat[p, q]), float(self._bw[p, q]))
        return link

    def _transfer_multiplier(self) -> float:
        pos = self._xmult_pos
        if pos >= len(self._xmult):
            self._xmult = self._variability.transfer_multipliers(self.rng, _CHUNK).tolist()
            pos = 0
        self._xmult_pos = pos + 1
        return self._xmult[pos]

    def _send(self, i: int, p: int, q: int, data: float, targets: Sequence[int]) -> None:
        latency, bandwidth = self._link(p, q)
        env = self.env
        now = env.now
        k = len(self.x)
        self.x.append((p, q, now, data, targets, self.fail_gen, i))
        if self.trace is not None:
            self.trace.append((now, T_SEND, p, i, q, data))
        channel = None
        if not self._plain_links:
            channel = self._channel(p, q)
        if channel is None:
            if self._vary:
                seconds = latency + data / bandwidth * self._transfer_multiplier()
            else:
                seconds = latency + data / bandwidth  # the cost model's expression
            self.x_end.append(now + seconds)
            ev = Timeout(env, seconds, k)
            ev.callbacks.append(self._on_receive)
            return
        self.x_end.append(math.nan)
        airtime = data / bandwidth
        if self._vary:
            airtime *= self._transfer_multiplier()
        if latency > 0:
            ev = Timeout(env, latency, (channel, k, airtime))
            ev.callbacks.append(self._on_latency_done)
        else:
            channel.join(k, airtime)

    def _channel(self, p: int, q: int) -> _SharedChannel | None:
        if self._media:
            m = self._medium_of[p]
            if m < 0:
                m = self._medium_of[q]
            return self._media[m] if m >= 0 else None
        if self._contended:
            channel = self._pair_channels.get((p, q))
            if channel is None:
                channel = self._pair_channels[(p, q)] = _SharedChannel(self)
            return channel
        return None

    def _on_latency_done(self, ev: Any) -> None:
        self.events += 1
        channel, k, airtime = ev._value
        channel.join(k, airtime)

    def _on_receive(self, ev: Any) -> None:
        self.events += 1
        self._arrive(ev._value)

    def _complete_transfer(self, k: int) -> None:
        self.x_end[k] = self.env.now
        self._arrive(k)

    def _arrive(self, k: int) -> None:
        p, q, _, data, targets, gen, i = self.x[k]
        if self.trace is not None:
            self.trace.append((self.env.now, T_RECEIVE, p, i, q, data))
        pending = self.t_pending
        if self.fail_gen:
            for t in targets:
                if self.t_node[t] != q or self.t_moved_gen[t] > gen or self.t_status[t] != WAITING:
                    continue  # the target moved, or was lost, after this was sent
                pending[t] -= 1
            self._try_start(q)
            return
        start = False
        for t in targets:
            left = pending[t] - 1
            pending[t] = left
            if not left:
                start = True
        if start:
            queue = self.n_queue[q]
            h = self.n_head[q]
            if h < len(queue) and not pending[queue[h]]:
                self._try_start(q)

    # -- gates ------------------------------------------------------------------------------
    def _on_open(self, ev: Any) -> None:
        self.events += 1
        p = ev._value
        if self.n_alive[p]:
            self.n_free[p] = self.cores[p] + (_STOP if self._window else 0)
            self._try_start(p)

    def _on_release(self, ev: Any) -> None:
        self.events += 1
        r = ev._value
        self.r_released[r] = True
        touched = set()
        pending = self.t_pending
        for i in self.r_tasks[r]:
            pending[i] -= 1
            if not pending[i]:
                if i in self.t_bypass:
                    self._start_bypass(i)
                else:
                    touched.add(self.t_node[i])
        self.r_tasks[r] = []
        for p in sorted(touched):
            self._try_start(p)

    # -- failures ---------------------------------------------------------------------------
    def _on_failure(self, ev: Any) -> None:
        self.events += 1
        p = ev._value
        if not self.n_alive[p]:
            return
        now = self.env.now
        self.n_alive[p] = False
        self.n_failed_at[p] = now
        self.n_free[p] = _DEAD
        self.fail_gen += 1
        if self.trace is not None:
            self.trace.append((now, T_FAIL, p, -1, -1, 0.0))
        lost = []
        for i in self.n_queue[p]:
            if i < 0:
                continue  # a stub: the result it stood for is lost with the node
            status = self.t_status[i]
            if status == RUNNING:
                self.t_ev[i] = None
                self.lost_runs.append((p, self.t_start[i], now))
                self.t_start[i] = math.nan
                lost.append(i)
            elif status == WAITING:
                lost.append(i)
        self.n_queue[p] = []
        self.n_head[p] = 0
        for i in lost:
            self.t_status[i] = FAILED
            if self.trace is not None:
                self.trace.append((now, T_LOST, p, i, -1, 0.0))
        policy = self.config.failure_policy
        if policy == "rerun" and lost:
            self._rerun(lost, now)
        elif policy == "replan":
            self._stop_for_replan(p)

    def _predecessors(self) -> list[list[int]]:
        if self._preds is None or len(self._preds) != len(self.t_node):
            preds: list[list[int]] = [[] for _ in self.t_node]
            ptr, tgt = self.s_ptr, self.s_tgt
            for i in range(len(self.t_node)):
                for k in range(ptr[i], ptr[i + 1]):
                    preds[tgt[k]].append(i)
            self._preds = preds
        return self._preds

    def _rerun(self, lost: list[int], now: float) -> None:
        preds = self._predecessors()
        status, node, alive = self.t_status, self.t_node, self.n_alive
        again = set(lost)
        stack = list(lost)
        while stack:
            t = stack.pop()
            for j in preds[t]:
                if j not in again and status[j] == DONE and not alive[node[j]]:
                    again.add(j)  # its output lived only on a failed node
                    stack.append(j)
        order = sorted(again, key=self.t_rank.__getitem__)
        moved: list[int] = []
        for t in order:
            pin = self.t_pin[t]
            if pin >= 0 and not alive[pin]:
                status[t] = FAILED
                continue
            if self._exec_row is None:
                status[t] = FAILED
                continue
            times = self._exec_row(t)
            inputs = [(node[j], self._edge_data(j, t)) for j in preds[t] if status[j] != FAILED]
            best, q, run_time = math.inf, -1, 0.0
            for candidate in range(len(alive)):
                if alive[candidate] and (pin < 0 or candidate == pin):
                    seconds = float(times[candidate])
                    wait = 0.0
                    for source, data in inputs:
                        if source != candidate:
                            latency, bandwidth = self._link(source, candidate)
                            wait = max(wait, latency + data / bandwidth)
                    if seconds + wait < best:
                        best, q, run_time = seconds + wait, candidate, seconds
            if q < 0:
                status[t] = FAILED
                continue
            if self._vary:
                run_time *= float(self._variability.exec_multipliers(self.rng, 1)[0])
            self._requeue(t, q, run_time, self.fail_gen, now, self.t_pnode[t])
            moved.append(t)
            queue = self.n_queue[q]
            position = bisect_right(
                queue, self.t_rank[t], lo=self.n_head[q], key=self.t_rank.__getitem__
            )
            queue.insert(position, t)
        # inputs: count them again, and re-send those that exist on a surviving node
        touched: set[int] = set()
        sends: dict[tuple[int, int], list[Any]] = {}
        for t in moved:
            q = node[t]
            r = self.t_req[t]
            pending = 0 if self.r_released[r] else 1
            for j in preds[t]:
                if status[j] == FAILED:
                    pending += 1  # never arrives: t will not run
                    continue
                if j in again and status[j] != DONE:
                    pending += 1  # re-run: sends when it finishes
                    continue
                if status[j] != DONE:
                    pending += 1  # still to run elsewhere: sends to t's new node then
                    continue
                if node[j] == q:
                    continue  # already here
                pending += 1
                data = self._edge_data(j, t)
                key = (j, q) if self._per_node else (j, t)
                g = sends.get(key)
                if g is None:
                    sends[key] = [data, [t]]
                else:
                    g[0] = max(g[0], data)
                    g[1].append(t)
            self.t_pending[t] = pending
            touched.add(q)
        for (j, _), (data, targets) in sorted(sends.items()):
            self._send(j, node[j], node[targets[0]], data, targets)
        for q in sorted(touched):
            self._try_start(q)

    def _edge_data(self, j: int, t: int) -> float:
        for k in range(self.s_ptr[j], self.s_ptr[j + 1]):
            if self.s_tgt[k] == t:
                return self.s_data[k]
        raise SimulationError("internal: no such dependency")  # pragma: no cover

    # -- re-planning ------------------------------------------------------------------------
    def _stop_for_replan(self, p: int) -> None:
        """Node ``p`` failed under ``"replan"``: stop the survivors, re-plan once they are idle.

        Like the runtime's DAG runner, every surviving node finishes the tasks it is
        running (their results count as held) and starts nothing more of the plan; the
        re-plan happens when the last of those tasks ends, or now if none runs. A failure
        while the survivors finish joins the same re-plan (its running tasks are lost).
        """
        if self._replan_off is not None:
            return  # an earlier re-plan was impossible: the run goes on as under "fail"
        alive = self.n_alive
        if not self._window:  # the first failure since the last plan: stop the survivors
            if self._outputs_done():
                return  # every output was computed: the run was over, nothing to re-plan
            for q in range(self._n_nodes):
                if alive[q]:
                    self.n_free[q] += _STOP
            node, events = self.t_node, self.t_ev
            for i, status in enumerate(self.t_status):
                if status == RUNNING and alive[node[i]]:
                    ev = events[i]
                    self._draining[i] = ev
                    ev.callbacks.append(self._on_drained)
        else:
            for i in [i for i in self._draining if not alive[self.t_node[i]]]:
                del self._draining[i]  # lost with the node that just failed
        self._window.append(p)
        if not self._draining:
            self._replan()

    def _outputs_done(self) -> bool:
        """Whether every exit task (an output of the run) has finished."""
        ptr, status = self.s_ptr, self.t_status
        return all(status[i] == DONE for i in range(len(status)) if ptr[i] == ptr[i + 1])

    def _on_drained(self, ev: Any) -> None:
        # a second callback of a running task's finish, after _on_finish (not a new event)
        i = ev._value
        if self._draining.get(i) is ev:
            del self._draining[i]
            if not self._draining:
                self._replan()

    def _held(self, now: float) -> dict[int, int]:
        """Each finished task whose result survives, and the node holding it.

        The runtime's rule (:func:`~edgeoffload.schedulers.holder`): the producer when it
        is alive; else the first surviving node (in cluster order) that a transfer of the
        result had reached by ``now`` (results pushed to a peer are held there too).
        """
        held: dict[int, int] = {}
        alive, node = self.n_alive, self.t_node
        copies: dict[int, set[int]] = {}  # results whose producer failed: their receivers
        for i, status in enumerate(self.t_status):
            if status == DONE:
                if alive[node[i]]:
                    held[i] = node[i]
                else:
                    copies[i] = set()
        if copies:
            x_end = self.x_end
            for k, (_, q, _, _, _, _, i) in enumerate(self.x):
                if i in copies and alive[q] and x_end[k] <= now:  # nan: not arrived
                    copies[i].add(q)
            survivors = [q for q in range(self._n_nodes) if alive[q]]
            for i, nodes in copies.items():
                h = holder(node[i], nodes, survivors)
                if h is not None:
                    held[i] = h
        return held

    def _replan(self) -> None:
        """Plan the rest on the survivors and run it; or go on as under "fail" if impossible."""
        now = self.env.now
        failed = tuple(self._window)
        self._window = []  # the survivors are no longer stopped (n_free follows below)
        alive = [q for q in range(self._n_nodes) if self.n_alive[q]]
        replanner = self._replanner
        if replanner is None:  # pragma: no cover - refused by the constructor
            raise SimulationError("internal: no re-planner")
        try:
            plan = replanner(now, self._held(now), alive)
        except InfeasibleScheduleError as exc:
            self._replan_off = str(exc)
            self.replans.append(
                ReplanRecord(
                    now,
                    tuple(self.node_ids[p] for p in failed),
                    0,
                    0,
                    replanner.algorithm,
                    None,
                    str(exc),
                )
            )
            plan = None
        if plan is not None:
            self._install(plan, now, failed, replanner.algorithm)
        for q in alive:
            self.n_free[q] -= _STOP
        for q in alive:
            self._try_start(q)

    def _install(self, plan: NewPlan, now: float, failed: tuple[int, ...], algorithm: str) -> None:
        """Replace the survivors' queues by ``plan``'s (the survivors are idle now)."""
        exec_row = self._exec_row
        if exec_row is None:  # pragma: no cover - simulate() always gives it
            raise SimulationError("internal: re-planning needs the execution times")
        self.fail_gen += 1  # transfers sent before now no longer count for re-planned tasks
        gen = self.fail_gen
        for q in range(self._n_nodes):
            if self.n_alive[q]:
                self.n_queue[q] = []
                self.n_head[q] = 0
        runs = sum(1 for e in plan.entries if not e[2])
        mult: list[float] = []
        if self._vary:
            mult = self._variability.exec_multipliers(self.rng, runs).tolist()
        preds = self._predecessors()
        queues = self.n_queue
        if self.trace is not None:
            self.trace.append((now, T_REPLAN, failed[-1], -1, -1, 0.0))
        k = 0
        stubs = 0
        for i, q, stub in plan.entries:
            if stub:
                queues[q].append(-1 - len(self._stubs))
                self._stubs.append((i, q, gen))
                stubs += 1
                continue
            seconds = float(exec_row(i)[q])
            self._requeue(i, q, seconds * mult[k] if mult else seconds, gen, now, self.t_node[i])
            k += 1
            self.t_rank[i] = self._next_rank
            self._next_rank += 1
            self.t_pending[i] = len(preds[i]) + (0 if self.r_released[self.t_req[i]] else 1)
            queues[q].append(i)
        self.replans.append(
            ReplanRecord(
                now,
                tuple(self.node_ids[p] for p in failed),
                runs,
                stubs,
                algorithm,
                plan.schedule,
            )
        )

    def _requeue(
        self, t: int, q: int, seconds: float, gen: int, now: float, trace_from: int
    ) -> None:
        """Make task ``t`` wait to run again, on node ``q`` for ``seconds`` (variability
        applied), as moved in failure generation ``gen``; the caller puts it in ``q``'s
        queue and counts its inputs. A finished task's request is unfinished again (the
        result was lost). The trace shows the move from node ``trace_from``.
        """
        if self.t_status[t] == DONE:
            r = self.t_req[t]
            self.r_left[r] += 1
            self.r_finish[r] = math.nan
        if self.trace is not None:
            self.trace.append((now, T_MOVE, trace_from, t, q, 0.0))
        self.t_node[t] = q
        self.t_dur[t] = seconds
        self.t_status[t] = WAITING
        self.t_start[t] = math.nan
        self.t_finish[t] = math.nan
        self.t_ev[t] = None
        self.t_moved_gen[t] = gen

    def _fire_stub(self, s: int) -> None:
        """Stub ``s`` reached the head of its node's queue: send its result on.

        Only to the tasks of its plan; a consumer on the same node just counts the input
        (the queue being started goes on to it). Transfers are grouped as
        :meth:`_send_outputs` groups them.
        """
        i, p, gen = self._stubs[s]
        tgt, data, node = self.s_tgt, self.s_data, self.t_node
        status, moved, pending = self.t_status, self.t_moved_gen, self.t_pending
        groups: dict[int, list[Any]] = {}
        for k in range(self.s_ptr[i], self.s_ptr[i + 1]):
            t = tgt[k]
            if status[t] != WAITING or moved[t] != gen:
                continue  # not a task of this plan
            q = node[t]
            if q == p:
                pending[t] -= 1
                continue
            key = q if self._per_node else k  # never mixed: one mode per run
            g = groups.get(key)
            if g is None:
                groups[key] = [q, data[k], [t]]
            else:
                if data[k] > g[1]:
                    g[1] = data[k]
                g[2].append(t)
        for q, size, targets in groups.values():
            self._send(i, p, q, size, targets)

    # -- after the run ----------------------------------------------------------------------
    def stuck_task(self) -> int | None:
        """A task that never ran although nothing failed, or every failure was re-planned
        (a deadlock), if any."""
        replanned = self.config.failure_policy == "replan" and self._replan_off is None
        if self.fail_gen and not replanned:
            return None
        for i, status in enumerate(self.t_status):
            if status != DONE:
                return i
        return None

    def horizon(self) -> float:
        """End of the run: last task finish, transfer end or failure, seconds."""
        ends = [0.0]
        finishes = np.asarray(self.t_finish, dtype=float)
        if finishes.size and not np.isnan(finishes).all():
            ends.append(float(np.nanmax(finishes)))
        x_end = np.asarray(self.x_end, dtype=float)
        if x_end.size and not np.isnan(x_end).all():
            ends.append(float(np.nanmax(x_end)))
        ends.extend(t for t in self.n_failed_at if t is not None)
        ends.extend(end for _, _, end in self.lost_runs)
        return max(ends)

    def runs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Node, start and end of every execution: finished tasks, then lost runs."""
        done = np.asarray(self.t_status, dtype=np.int8) == DONE
        node = np.asarray(self.t_node, dtype=np.int64)[done]
        start = np.asarray(self.t_start, dtype=float)[done]
        end = np.asarray(self.t_finish, dtype=float)[done]
        if self.lost_runs:
            lost_node, lost_start, lost_end = (
                np.asarray(c) for c in zip(*self.lost_runs, strict=True)
            )
            node = np.concatenate([node, lost_node.astype(np.int64)])
            start = np.concatenate([start, lost_start.astype(float)])
            end = np.concatenate([end, lost_end.astype(float)])
        return node, start, end

    def transfer_columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Sender node, start, end and bytes of every transfer."""
        if not self.x:
            empty = np.zeros(0)
            return empty.astype(np.int64), empty, empty, empty
        sender, _, start, data, _, _, _ = zip(*self.x, strict=True)
        return (
            np.asarray(sender, dtype=np.int64),
            np.asarray(start, dtype=float),
            np.asarray(self.x_end, dtype=float),
            np.asarray(data, dtype=float),
        )


def node_state_times(
    n_nodes: int,
    horizons: np.ndarray,
    run_node: np.ndarray,
    run_start: np.ndarray,
    run_end: np.ndarray,
    tx_node: np.ndarray,
    tx_start: np.ndarray,
    tx_end: np.ndarray,
    cores: np.ndarray,
) -> dict[str, np.ndarray]:
    """Time each node spends in each state, and its core-weighted busy time.

    Intervals are clipped to the node's horizon. Returns arrays (one entry per node) of
    ``busy`` (some core busy, not sending), ``transmit`` (sending, no core busy),
    ``busy_transmit`` (both), ``idle`` (neither) seconds, and ``core_fraction`` =
    ∫ k(t)/cores dt and ``sending`` = ∫ [sending] dt, the two integrals the energy needs.
    """
    h_run = horizons[run_node] if run_node.size else np.zeros(0)
    h_tx = horizons[tx_node] if tx_node.size else np.zeros(0)
    rs, re_ = np.minimum(run_start, h_run), np.minimum(run_end, h_run)
    ts, te = np.minimum(tx_start, h_tx), np.minimum(tx_end, h_tx)
    node = np.concatenate([run_node, run_node, tx_node, tx_node]).astype(np.int64)
    time = np.concatenate([rs, re_, ts, te])
    d_core = np.concatenate(
        [np.ones(rs.size), -np.ones(re_.size), np.zeros(ts.size), np.zeros(te.size)]
    )
    d_tx = np.concatenate(
        [np.zeros(rs.size), np.zeros(re_.size), np.ones(ts.size), -np.ones(te.size)]
    )
    out = {
        name: np.zeros(n_nodes)
        for name in ("busy", "transmit", "busy_transmit", "idle", "core_fraction", "sending")
    }
    if time.size:
        order = np.lexsort((time, node))
        node, time, d_core, d_tx = node[order], time[order], d_core[order], d_tx[order]
        k = np.cumsum(d_core)  # every node's deltas sum to 0, so the running sum is per node
        x = np.cumsum(d_tx)
        same = node[1:] == node[:-1]
        dt = np.where(same, time[1:] - time[:-1], 0.0)
        k, x, seg_node = np.round(k[:-1]), np.round(x[:-1]), node[:-1]
        busy = k > 0
        sending = x > 0
        np.add.at(out["busy"], seg_node, dt * (busy & ~sending))
        np.add.at(out["transmit"], seg_node, dt * (~busy & sending))
        np.add.at(out["busy_transmit"], seg_node, dt * (busy & sending))
        np.add.at(out["core_fraction"], seg_node, dt * k / cores[seg_node])
        np.add.at(out["sending"], seg_node, dt * sending)
    out["idle"] = np.maximum(horizons - out["busy"] - out["transmit"] - out["busy_transmit"], 0.0)
    return out
