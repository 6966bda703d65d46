"""What the engine does when a node fails: :class:`FailureRecovery`, part of the
:class:`~edgeoffload.simulation.engine.Engine`.

At a failure the node's running and queued tasks are lost; then, per
:attr:`SimConfig.failure_policy`:

- ``"fail"``: they stay lost (reported failed), and what needs them never runs;
- ``"rerun"``: each lost task, and each finished one whose result lived only on a failed
  node, is queued again on the surviving node where it would finish first (never a
  ``storage`` node for an unpinned task: those run only pinned tasks), and its inputs
  are sent again from where they are;
- ``"replan"``: the survivors finish the tasks they are running and start nothing more;
  then a :class:`Replanner` (built by :func:`~edgeoffload.simulation.simulate`) makes a
  :class:`NewPlan` of the rest and the engine runs it, finished results that survive
  taking part as *stubs*: queue entries that run nothing and send the result on when their
  node's queue reaches them, as a zero-work task of the plan would.

:class:`FailureRecovery` is a mixin that :class:`~edgeoffload.simulation.engine.Engine`
inherits: its methods work on the engine's state (set by the engine's constructor, and
declared here for the type checker), and the engine's per-task path calls the one it needs
(:meth:`~FailureRecovery._fire_stub`) as directly as its own methods. The engine's task
states and trace codes are defined here too, as this module is imported by
:mod:`~edgeoffload.simulation.engine` and imports nothing of it.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from edgeoffload.errors import InfeasibleScheduleError, SimulationError
from edgeoffload.model.schedule import Schedule
from edgeoffload.schedulers.replan import holder
from edgeoffload.simulation.records import ReplanRecord

if TYPE_CHECKING:
    import numpy as np
    import simpy

    from edgeoffload.model.cluster import Node
    from edgeoffload.model.task_graph import NodeId
    from edgeoffload.simulation.config import SimConfig
    from edgeoffload.simulation.variability import Variability

__all__ = ["FailureRecovery", "NewPlan", "Replanner"]

# the engine's codes: here, below engine.py, so that both modules can use them
# task states
WAITING, RUNNING, DONE, FAILED = 0, 3, 1, 2
# trace codes
T_START, T_FINISH, T_SEND, T_RECEIVE, T_FAIL, T_LOST, T_MOVE, T_REPLAN = range(8)
TRACE_KINDS = ("start", "finish", "send", "receive", "fail", "lost", "move", "replan")

_DEAD = -(1 << 40)  # free-core count of a failed node: it never starts anything again
_STOP = -(1 << 30)  # added to a survivor's free cores while it waits for a re-plan


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


class FailureRecovery:
    """The failure handling of :class:`~edgeoffload.simulation.engine.Engine` (a mixin).

    Node failures are events the engine's constructor sets up (:meth:`_on_failure`); a
    re-plan's stubs are fired by the engine's :meth:`_try_start` (:meth:`_fire_stub`).
    """

    # the engine's state and methods used here (set and defined by Engine)
    env: simpy.Environment
    config: SimConfig
    rng: np.random.Generator
    events: int
    node_ids: tuple[NodeId, ...]
    _nodes: tuple[Node, ...]
    n_free: list[int]
    n_queue: list[list[int]]
    n_head: list[int]
    n_alive: list[bool]
    n_failed_at: list[float | None]
    t_node: list[int]
    t_pnode: list[int]
    t_rank: list[int]
    t_dur: list[float]
    t_pending: list[int]
    t_req: list[int]
    t_pin: list[int]
    t_status: list[int]
    t_start: list[float]
    t_finish: list[float]
    t_ev: list[Any]
    t_moved_gen: list[int]
    s_ptr: list[int]
    s_tgt: list[int]
    s_data: list[float]
    r_left: list[int]
    r_finish: list[float]
    r_released: list[bool]
    lost_runs: list[tuple[int, float, float]]
    x: list[tuple[int, int, float, float, Sequence[int], int, int]]
    x_end: list[float]
    fail_gen: int
    trace: list[tuple[float, int, int, int, int, float]] | None
    replans: list[ReplanRecord]
    _exec_row: Callable[[int], np.ndarray] | None
    _n_nodes: int
    _per_node: bool
    _vary: bool
    _variability: Variability
    _next_rank: int
    _preds: list[list[int]] | None
    _replanner: Replanner | None
    _stubs: list[tuple[int, int, int]]
    _draining: dict[int, Any]
    _window: list[int]
    _replan_off: str | None

    if TYPE_CHECKING:

        def _try_start(self, p: int) -> None: ...

        def _link(self, p: int, q: int) -> tuple[float, float]: ...

        def _send(self, i: int, p: int, q: int, data: float, targets: Sequence[int]) -> None: ...

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
                if pin < 0 and self._nodes[candidate].role == "storage":
                    continue  # a storage node runs only the tasks pinned to it
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
