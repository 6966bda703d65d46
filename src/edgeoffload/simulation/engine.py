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
  That handling lives in :mod:`edgeoffload.simulation.recovery`
  (:class:`~edgeoffload.simulation.recovery.FailureRecovery`, which :class:`Engine` inherits).

Cheap constructions throughout: no simpy ``Process`` per task or transfer, only
``Timeout`` events whose callbacks advance the state (a simpy event costs about a
microsecond), and per-task work that is O(1) amortised (O(out-degree) per task).
"""

from __future__ import annotations

import gc
import heapq
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import simpy
from simpy.events import Timeout

from edgeoffload.errors import SimulationError
from edgeoffload.model.cluster import Node
from edgeoffload.simulation.config import SimConfig
from edgeoffload.simulation.records import ReplanRecord
from edgeoffload.simulation.recovery import (
    _STOP,
    DONE,
    RUNNING,
    T_FINISH,
    T_RECEIVE,
    T_SEND,
    T_START,
    WAITING,
    FailureRecovery,
    Replanner,
)

__all__ = ["Engine"]

_CHUNK = 4096  # transfer multipliers are drawn this many at a time


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


class Engine(FailureRecovery):
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
