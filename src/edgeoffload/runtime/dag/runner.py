"""Scheduled DAGs on real workers: the schedule the simulator evaluates is what runs.

A DAG of functions — usually ``@offload`` functions; a task receives its predecessors'
results as its first positional arguments — is scheduled by any registered scheduler on
a cluster whose node ids are the workers' names, and run there: every task on the worker
the schedule put it on, in the schedule's order on that worker, results moving worker to
worker. The caller gets the results back with the predicted and the measured timelines.

Build a DAG with :class:`Dag` (or wrap a model :class:`~edgeoffload.model.TaskGraph` with
:meth:`Dag.from_graph`), send several requests of it from cameras at once with
:class:`DagRequest` (merged as DHS schedules them, :func:`~edgeoffload.model.merge_requests`),
or bind functions to any :class:`~edgeoffload.model.Problem` with :meth:`DagProblem.bind`
(a scenario's problem, a problem file). Then::

    with edgeoffload.connect(...) as session:
        run = run_dag(session, requests, algorithm="dhs", cluster=cluster)
        run.results("r1"), run.makespan, run.predicted_makespan

How it runs (see docs/dag-execution.md)
---------------------------------------
1. The problem is scheduled (or a given :class:`~edgeoffload.model.Schedule` is checked
   against it with the validator). Each node's tasks are put in the schedule's order:
   by start, then finish, then topological position (the simulator's order).
2. Code: each function's module is packaged as an offloaded function's is and sent to
   the workers that lack it; functions of installed distributions (numpy, edgeoffload,
   torch…) are imported by name on the worker instead.
3. The session measures each worker's clock offset (reused for :data:`CLOCK_MAX_AGE`
   seconds), fixes a start time ``t0`` and sends
   every worker its *plan* at once. A worker runs its tasks strictly one after another in
   that order (:mod:`edgeoffload.runtime.worker.dag_service`), each as soon as its inputs are
   there and its request has arrived, and pushes each result straight to every other
   node that needs it, once per node. The client is not on the data path: the cost model's
   transfer is one hop from producer to consumer.
4. The session follows the workers (a long poll on each); when one fails — its
   connection drops, it stops answering, a peer cannot reach it — the unfinished part is
   re-planned (:func:`~edgeoffload.schedulers.replan`): surviving workers stop after
   their current task and say which results they hold; the tasks still needed for the
   outputs are scheduled again with the same scheduler on the surviving nodes, busy from
   now, with finished results as zero-work tasks pinned where they are; and the new plans
   run.
5. The outputs (by default the exit tasks' results) are fetched from where they are, and
   every worker forgets the run.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edgeoffload.errors import (
    InfeasibleScheduleError,
    ModelError,
    OffloadTimeoutError,
    WorkerUnavailableError,
)
from edgeoffload.model import (
    Assignment,
    Cluster,
    Link,
    Problem,
    Schedule,
    execution_order,
    validate_schedule,
)
from edgeoffload.model.task_graph import NodeId, TaskId
from edgeoffload.runtime.client.pool import CONTROL_TIMEOUT, FunctionRef, WorkerPool
from edgeoffload.runtime.client.session import Session
from edgeoffload.runtime.dag.model import AppLike, DagProblem, dag_problem
from edgeoffload.runtime.dag.records import DagRun, RequestTiming, TaskExecution, TransferRecord
from edgeoffload.runtime.wire.errors import rebuild_exception
from edgeoffload.runtime.wire.ops import Op
from edgeoffload.runtime.wire.protocol import client_module_name, dumps, loads
from edgeoffload.schedulers import holder as copy_holder
from edgeoffload.schedulers import replan as replan_rest

if TYPE_CHECKING:
    from edgeoffload.schedulers import Scheduler

__all__ = ["run_dag", "session_cluster"]

_POLL = 1.0  # seconds a worker holds a wait before answering "still running"
CLOCK_MAX_AGE = 10.0
"""Seconds a worker's measured clock offset is reused by later runs (each measurement is
five round trips: before every frame, they were most of a throttled worker's latency)."""


def session_cluster(session: Session) -> Cluster:
    """The session's workers as a cluster model: the speeds they describe themselves with
    (presets), one default link from the client's probes (median round trip / 2 and
    median bandwidth). Calibrate for measured figures
    (:mod:`~edgeoffload.runtime.client.calibration`).
    """
    nodes = session.model_nodes()
    usable = sorted(w.name for w in session.pool.usable())
    missing = [n for n in usable if n not in nodes]
    if missing:
        raise ModelError(
            f"worker(s) {', '.join(missing)} gave no speed or preset: pass a cluster "
            "(or calibrate one with edgeoffload.runtime.calibrate_cluster)",
            "cluster",
        )
    probes = [i for i in session.workers().values() if i.rtt is not None and i.bandwidth]
    link = None
    if probes:
        link = Link(
            statistics.median(float(i.bandwidth or 0) for i in probes),
            statistics.median(float(i.rtt or 0) for i in probes) / 2,
        )
    return Cluster([nodes[n] for n in usable], default_link=link)


# --------------------------------------------------------------------------- running


@dataclass
class _Plan:
    node: NodeId
    order: list[TaskId]
    send: dict[TaskId, list[tuple[NodeId, float]]]  # node, when it is needed there (s)
    forward: dict[TaskId, list[tuple[NodeId, float]]]


class _Runner:
    """One run of a bound problem on a session's workers (see the module docstring)."""

    def __init__(
        self,
        session: Session,
        app: DagProblem,
        scheduler: Scheduler | None,
        algorithm: str,
        schedule: Schedule,
        deadline: float,
        replan: bool,
        scheduling_seconds: float,
    ) -> None:
        self.session = session
        self.pool: WorkerPool = session.pool
        self.app = app
        self.problem = app.problem
        self.graph = app.problem.graph
        self.scheduler = scheduler
        self.algorithm = algorithm
        self.schedule = schedule
        self.deadline = deadline
        self.replan_enabled = replan
        self.scheduling_seconds = scheduling_seconds
        self.run_id = uuid.uuid4().hex
        self.nodes = list(self.problem.cluster.node_ids)
        self.workers = {n: self.pool.require(n) for n in self.nodes}
        self.alive = list(self.nodes)
        self.failed: dict[NodeId, str] = {}
        self.epoch = 0
        self.location: dict[TaskId, NodeId] = {}
        self.records: dict[tuple[TaskId, NodeId, int], dict[str, Any]] = {}
        self.transfers: dict[tuple[TaskId, str, str, float], dict[str, Any]] = {}
        self.record_counts: dict[NodeId, tuple[int, int]] = {}
        self.replans: list[Schedule] = []
        self.threads = ThreadPoolExecutor(
            max_workers=max(4, 2 * len(self.nodes)), thread_name_prefix="edgeoffload-dag"
        )
        self.refs: dict[TaskId, FunctionRef] = {}
        self.payloads: dict[TaskId, list[Any]] = {}
        self.t0 = 0.0
        self.offsets: dict[NodeId, float] = {}
        self.rtts: dict[NodeId, float] = {}
        self.dispatch_seconds = 0.0
        self.waiting: set[NodeId] = set()
        self.received: dict[TaskId, dict[NodeId, float]] = {}

    # ---------------------------------------------------------------- helpers
    def _send_all(
        self, make: Callable[[NodeId], tuple[dict[str, Any], Sequence[Any], float] | None]
    ) -> dict[NodeId, tuple[dict[str, Any], list[Any]] | BaseException]:
        futures: dict[NodeId, Future[tuple[dict[str, Any], list[Any]]]] = {}
        for node in list(self.alive):
            message = make(node)
            if message is None:
                continue
            header, frames, timeout = message
            futures[node] = self.threads.submit(
                self.pool.channel_request, self.workers[node], header, frames, timeout
            )
        out: dict[NodeId, tuple[dict[str, Any], list[Any]] | BaseException] = {}
        for node, future in futures.items():
            try:
                out[node] = future.result()
            except BaseException as exc:
                out[node] = exc
        return out

    def _header(self, op: Op, **fields: Any) -> dict[str, Any]:
        return {"op": op.value, "session": self.session.client_id, "run": self.run_id, **fields}

    def _fail_node(self, node: NodeId, reason: str) -> None:
        if node in self.alive:
            self.alive.remove(node)
            self.failed[node] = reason

    # ---------------------------------------------------------------- plans
    def _prepare_code(self) -> None:
        digests: set[str] = set()
        for task in self.graph.tasks:
            call = self.app.calls[task.id]
            ref = self.pool.function_ref(call.function)
            self.refs[task.id] = ref
            if ref[0]:
                digests.add(ref[0])
            self.payloads[task.id] = dumps((tuple(call.args), dict(call.kwargs)))
        for node in self.nodes:
            try:
                self.pool.ensure_code(self.workers[node], sorted(digests))
            except (WorkerUnavailableError, OffloadTimeoutError) as exc:
                self._fail_node(node, f"could not take the code: {exc}")

    def _plans(
        self,
        problem: Problem,
        schedule: Schedule,
        to_run: Iterable[TaskId],
        stubs: Mapping[TaskId, NodeId],
        holders: Mapping[TaskId, set[NodeId]],
    ) -> dict[NodeId, _Plan]:
        run_set = set(to_run)
        node_of = {a.task: a.node for a in schedule}
        start_of = {a.task: a.start for a in schedule}
        plans = {n: _Plan(n, [], {}, {}) for n in self.alive}
        for node, order in execution_order(problem, schedule).items():
            plans[node].order = [t for t in order if t in run_set]

        def targets(task_id: TaskId, skip: set[NodeId]) -> list[tuple[NodeId, float]]:
            """Nodes needing ``task_id``'s result, each with the earliest scheduled start
            of a consumer there: a worker sends what is needed first first."""
            need: dict[NodeId, float] = {}
            for c in self.graph.successors(task_id):
                if c in run_set and node_of[c] not in skip:
                    need[node_of[c]] = min(need.get(node_of[c], math.inf), start_of[c])
            return sorted(need.items(), key=lambda item: self.nodes.index(item[0]))

        for task_id in run_set:
            sends = targets(task_id, {node_of[task_id]})
            if sends:
                plans[node_of[task_id]].send[task_id] = sends
        for stub, holder in stubs.items():
            sends = targets(stub, {holder} | holders.get(stub, set()))
            if sends:
                plans[holder].forward[stub] = sends
        for task_id in run_set:
            self.location[task_id] = node_of[task_id]
        return plans

    def _dispatch(self, problem: Problem, plans: Mapping[NodeId, _Plan], first: bool) -> None:
        self.epoch += 1
        peers = {n: self.workers[n].channel_address for n in self.alive}
        release = {t.id: problem.release_time(i) for i, t in enumerate(problem.graph.tasks)}
        messages: dict[NodeId, tuple[dict[str, Any], list[Any]]] = {}
        for node, plan in plans.items():
            if not plan.order and not plan.forward:
                continue
            frames: list[Any] = []
            tasks = []
            bundles: set[str] = set()
            for task_id in plan.order:
                ref = self.refs[task_id]
                if ref[0]:
                    bundles.add(ref[0])
                payload = self.payloads[task_id]
                tasks.append(
                    {
                        "id": task_id,
                        "fn": list(ref),
                        "inputs": list(self.graph.predecessors(task_id)),
                        "payload": [len(frames), len(payload)],
                        "release": release.get(task_id, 0.0),
                        "send": [list(x) for x in plan.send.get(task_id, [])],
                    }
                )
                frames.extend(payload)
            header = self._header(
                Op.DAG_PLAN,
                epoch=self.epoch,
                node=node,
                peers=peers,
                bundles=sorted(bundles),
                tasks=tasks,
                forward=[[t, [list(x) for x in sends]] for t, sends in plan.forward.items()],
            )
            messages[node] = (header, frames)
        if not first:  # the run goes on: the new plans start at once, on the same clock
            for node, (header, _) in messages.items():
                header["t0"] = self.t0 + self.offsets.get(node, 0.0)
        sent = time.time()
        replies = self._send_all(
            lambda n: (*messages[n], CONTROL_TIMEOUT) if n in messages else None
        )
        for node, reply in replies.items():
            if isinstance(reply, (WorkerUnavailableError, OffloadTimeoutError)):
                self._fail_node(node, f"could not take its plan: {reply}")
            elif isinstance(reply, BaseException):
                raise reply
        self.waiting = {n for n in messages if n in self.alive}
        if first:
            # every worker holds its plan (code loaded, arguments unpickled): start them
            # together, a little ahead so that the last "go" arrives before t0
            self.t0 = time.time() + max(0.002, 2 * max(self.rtts.values(), default=0.0))
            replies = self._send_all(
                lambda n: (
                    (
                        self._header(
                            Op.DAG_GO, epoch=self.epoch, t0=self.t0 + self.offsets.get(n, 0.0)
                        ),
                        (),
                        CONTROL_TIMEOUT,
                    )
                    if n in self.waiting
                    else None
                )
            )
            for node, reply in replies.items():
                if isinstance(reply, BaseException):
                    self._fail_node(node, f"could not start: {reply}")
            self.dispatch_seconds = self.t0 - sent

    # ---------------------------------------------------------------- following
    def _note(self, node: NodeId, reply: Mapping[str, Any]) -> None:
        records = list(reply.get("records", []))
        transfers = list(reply.get("transfers", []))
        r, t = self.record_counts.get(node, (0, 0))
        self.record_counts[node] = (r + len(records), t + len(transfers))
        self._add_records(node, records, transfers)

    def _add_records(
        self,
        node: NodeId,
        records: Sequence[Mapping[str, Any]],
        transfers: Sequence[Mapping[str, Any]],
    ) -> None:
        offset = self.offsets.get(node, 0.0) + self.t0
        for rec in records:
            key = (str(rec["task"]), node, int(rec["epoch"]))
            self.records[key] = {
                **rec,
                "node": node,
                "start": float(rec["start"]) - offset,
                "finish": float(rec["finish"]) - offset,
            }
        for tr in transfers:
            key2 = (str(tr["task"]), node, str(tr["target"]), float(tr["start"]))
            self.transfers[key2] = {
                **tr,
                "source": node,
                "start": float(tr["start"]) - offset,
                "end": float(tr["end"]) - offset,
            }

    def _wait_epoch(self) -> None:
        """Follow the workers until the epoch is done; returns early after a failure."""
        pending: dict[Future[tuple[dict[str, Any], list[Any]]], NodeId] = {}
        limit = time.monotonic() + self.deadline

        def poll(node: NodeId) -> None:
            records_from, transfers_from = self.record_counts.get(node, (0, 0))
            header = self._header(
                Op.DAG_WAIT,
                epoch=self.epoch,
                timeout=_POLL,
                records_from=records_from,
                transfers_from=transfers_from,
            )
            future = self.threads.submit(
                self.pool.channel_request,
                self.workers[node],
                header,
                (),
                _POLL + self.pool.liveness,
            )
            pending[future] = node

        for node in sorted(self.waiting, key=self.nodes.index):
            poll(node)
        while pending:
            if time.monotonic() > limit:
                raise OffloadTimeoutError(
                    f"the DAG run did not finish within its deadline of {self.deadline:.3g} s"
                )
            done, _ = wait(
                list(pending), timeout=_POLL + self.pool.liveness, return_when=FIRST_COMPLETED
            )
            failure = False
            for future in done:
                node = pending.pop(future)
                try:
                    reply, frames = future.result()
                except (WorkerUnavailableError, OffloadTimeoutError) as exc:
                    self._fail_node(node, str(exc))
                    failure = True
                    continue
                self._note(node, reply)
                status = reply.get("status")
                if status == "error":
                    self._abort()
                    raise rebuild_exception(reply, frames, f"task {reply.get('task')}")
                for target, reason in dict(reply.get("push_failed", {})).items():
                    if target in self.alive:
                        self._fail_node(target, f"unreachable from {node}: {reason}")
                        failure = True
                if status in ("done", "stopped"):
                    self.waiting.discard(node)
                elif status == "running" and node in self.alive:
                    poll(node)
                elif status == "unknown":
                    self._fail_node(node, "lost the run (restarted?)")
                    failure = True
            if failure:
                for future in pending:
                    future.cancel()
                return

    def _abort(self) -> None:
        self._send_all(
            lambda n: (
                self._header(Op.DAG_STOP, epoch=self.epoch, timeout=0.0),
                (),
                CONTROL_TIMEOUT,
            )
        )

    # ---------------------------------------------------------------- re-planning
    def _replan(self) -> bool:
        """Re-plan the unfinished part on the survivors; False when nothing is left."""
        if not self.replan_enabled:
            raise WorkerUnavailableError(
                "a worker failed during the DAG run (re-planning is off): "
                + "; ".join(f"{n}: {r}" for n, r in self.failed.items())
            )
        if self.scheduler is None:
            raise WorkerUnavailableError(
                "a worker failed during a run of a given schedule; pass an algorithm to "
                "let the run re-plan: " + "; ".join(f"{n}: {r}" for n, r in self.failed.items())
            )
        replies = self._send_all(
            lambda n: (
                self._header(Op.DAG_STOP, epoch=self.epoch, timeout=self.deadline),
                (),
                self.deadline + CONTROL_TIMEOUT,
            )
        )
        holders: dict[TaskId, set[NodeId]] = {}
        for node, reply in replies.items():
            if isinstance(reply, BaseException):
                self._fail_node(node, f"did not stop: {reply}")
                continue
            for task_id in reply[0].get("held", []):
                holders.setdefault(str(task_id), set()).add(node)
        held: dict[TaskId, NodeId] = {}
        for task_id, nodes in holders.items():
            kept = copy_holder(self.location.get(task_id), nodes, self.alive)
            if kept is not None:
                held[task_id] = kept
        now = time.time() - self.t0
        start = time.perf_counter()
        try:
            rest = replan_rest(
                self.problem, self.scheduler, held, self.alive, now, self.app.outputs
            )
        except InfeasibleScheduleError as exc:
            raise WorkerUnavailableError(str(exc)) from None
        self.scheduling_seconds += time.perf_counter() - start
        for task_id in self.app.outputs:
            if task_id in held:
                self.location[task_id] = held[task_id]
        if rest is None:
            return False
        new = rest.schedule
        self.replans.append(
            new.renamed(f"{self.algorithm} (re-plan {len(self.replans) + 1})", new.details)
        )
        plans = self._plans(rest.problem, new, rest.needed, rest.stubs, holders)
        self._dispatch(rest.problem, plans, first=False)
        return True

    # ---------------------------------------------------------------- the run
    def run(self) -> DagRun:
        started = time.perf_counter()
        self._prepare_code()
        for node in list(self.alive):
            try:
                self.offsets.update(
                    self.pool.clock_offsets([node], rtts=self.rtts, max_age=CLOCK_MAX_AGE)
                )
            except (WorkerUnavailableError, OffloadTimeoutError) as exc:
                self._fail_node(node, f"did not answer before the start: {exc}")
        try:
            if self.failed:  # lost before anything ran: plan from the start without them
                self.t0 = time.time()
            else:
                everything = [t.id for t in self.graph.tasks]
                plans = self._plans(self.problem, self.schedule, everything, {}, {})
                self._dispatch(self.problem, plans, first=True)
            handled: set[NodeId] = set()
            while True:  # failures may show while dispatching as well as while waiting
                new_failures = self.failed.keys() - handled
                if new_failures:
                    handled |= new_failures
                    if not self._replan():
                        break
                    continue
                if not self.waiting:
                    break
                self._wait_epoch()
            outputs = self._collect()
        finally:
            self._release()
        return self._result(outputs, time.perf_counter() - started)

    def _collect(self) -> dict[TaskId, Any]:
        wanted: dict[NodeId, list[TaskId]] = {}
        for task_id in self.app.outputs:
            wanted.setdefault(self.location[task_id], []).append(task_id)
        replies = self._send_all(
            lambda n: (self._header(Op.DAG_COLLECT, outputs=wanted.get(n, [])), (), self.deadline)
        )
        outputs: dict[TaskId, Any] = {}
        for node, reply in replies.items():
            if isinstance(reply, BaseException):
                if node in wanted:
                    raise reply
                continue
            header, frames = reply
            self._add_records(node, header.get("records", []), header.get("transfers", []))
            for task_id, received in dict(header.get("received", {})).items():
                self.received.setdefault(str(task_id), {})[node] = (
                    float(received[0]) - self.t0 - self.offsets.get(node, 0.0)
                )
            for task_id, first, count in header.get("outputs", []):
                outputs[str(task_id)] = loads(
                    frames[first : first + count], rename=client_module_name
                )
        missing = [t for t in self.app.outputs if t not in outputs]
        if missing:
            raise WorkerUnavailableError(f"the results of {', '.join(missing)} were lost")
        return outputs

    def _release(self) -> None:
        """Every worker forgets the run (failed ones too, in case they only seemed so)."""
        with contextlib.suppress(Exception):
            self._send_all(lambda n: (self._header(Op.DAG_RELEASE), (), 10.0))
        for node in self.failed:
            with contextlib.suppress(Exception):
                self.threads.submit(
                    self.pool.channel_request,
                    self.workers[node],
                    self._header(Op.DAG_RELEASE),
                    (),
                    5.0,
                )
        self.threads.shutdown(wait=False, cancel_futures=False)

    def _result(self, outputs: dict[TaskId, Any], wall: float) -> DagRun:
        latest: dict[TaskId, dict[str, Any]] = {}
        for rec in self.records.values():
            best = latest.get(rec["task"])
            if best is None or (rec["epoch"], rec["finish"]) > (best["epoch"], best["finish"]):
                latest[rec["task"]] = rec
        executions = tuple(
            sorted(
                (
                    TaskExecution(
                        str(r["task"]),
                        str(r["node"]),
                        float(r["start"]),
                        float(r["finish"]),
                        int(r["epoch"]),
                        final=latest.get(r["task"]) is r,
                        failed=bool(r.get("error")),
                        sequence=int(r.get("seq", 0)),
                    )
                    for r in self.records.values()
                ),
                key=lambda e: (e.start, e.node, e.task),
            )
        )
        measured = Schedule(
            "measured",
            [Assignment(e.task, e.node, e.start, e.finish) for e in executions if e.final],
        )
        transfers = []
        for tr in self.transfers.values():
            arrival = self.received.get(str(tr["task"]), {}).get(str(tr["target"]))
            transfers.append(
                TransferRecord(
                    str(tr["task"]),
                    str(tr["source"]),
                    str(tr["target"]),
                    float(tr["start"]),
                    float(arrival if arrival is not None else tr["end"]),
                    int(tr.get("bytes", 0)),
                    bool(tr.get("ok", True)),
                )
            )
        transfers.sort(key=lambda t: (t.start, t.source, t.target))
        finish_of = {e.task: e.finish for e in executions if e.final}
        predicted: dict[str, float] = {}
        measured_finish: dict[str, float | None] = {}
        requests = self.problem.effective_requests
        for i, task in enumerate(self.graph.tasks):
            r = requests[self.problem.request_index_of_task(i)].id
            a = self.schedule.assignment(task.id)
            predicted[r] = max(predicted.get(r, -math.inf), a.finish)
            if r not in measured_finish or measured_finish[r] is not None:
                got = finish_of.get(task.id)
                measured_finish[r] = (
                    None if got is None else max(measured_finish.get(r) or -math.inf, got)
                )
        timings = tuple(
            RequestTiming(
                r.id, r.arrival, predicted.get(r.id, r.arrival), measured_finish.get(r.id)
            )
            for r in requests
        )
        return DagRun(
            algorithm=self.algorithm,
            problem=self.problem,
            schedule=self.schedule,
            measured=measured,
            executions=executions,
            transfers=tuple(transfers),
            outputs=outputs,
            requests=timings,
            replans=tuple(self.replans),
            failures=tuple(f"{n}: {r}" for n, r in self.failed.items()),
            scheduling_seconds=self.scheduling_seconds,
            dispatch_seconds=self.dispatch_seconds,
            wall_seconds=wall,
            clock_offsets=dict(self.offsets),
        )


def run_dag(
    session: Session,
    app: AppLike,
    *,
    cluster: Cluster | None = None,
    algorithm: str = "dhs",
    params: Mapping[str, Any] | None = None,
    schedule: Schedule | None = None,
    outputs: Sequence[TaskId] | str | None = None,
    deadline: float | None = None,
    replan: bool = True,
) -> DagRun:
    """Schedule ``app`` and run it on the session's workers.

    Parameters
    ----------
    session
        An open session; its workers' names are the cluster's node ids.
    app
        A :class:`Dag` (one implicit request), one or more :class:`DagRequest` (merged
        as DHS schedules them), or a :class:`DagProblem` (any problem with calls).
    cluster
        The model of the workers the scheduler plans on (node ids = worker names): a
        calibrated one (:func:`~edgeoffload.runtime.client.calibration.calibrate_cluster`) for
        predictions that hold. Default: the DagProblem's cluster, else the workers'
        self-descriptions (:func:`session_cluster`).
    algorithm
        A registered scheduler (``edgeoffload schedulers``); default ``"dhs"``.
    params
        The scheduler's parameters (DHS: ``delta1``, ``delta2``).
    schedule
        Run this schedule instead of computing one (checked with the validator); the
        run then cannot re-plan around a failure.
    outputs
        Tasks whose results to return (default: the exit tasks; ``"all"``: every task).
    deadline
        Seconds the whole run may take (default: the session's deadline plus four times
        the predicted makespan).
    replan
        Re-plan the unfinished part on the surviving workers when one fails (default);
        ``False`` raises :class:`~edgeoffload.errors.WorkerUnavailableError` instead.

    Returns
    -------
    DagRun

    Raises
    ------
    ModelError
        Invalid problem or schedule, or an unknown scheduler.
    WorkerUnavailableError
        A node of the cluster has no worker, a worker failed and the rest cannot finish
        (a pinned task's node failed), or re-planning is off.
    OffloadTimeoutError
        The run passed its deadline.
    Exception
        A task raised: its exception, as for offloaded calls (``__cause__`` holds the
        worker's traceback).
    """
    session.check_open()
    if cluster is None and not isinstance(app, DagProblem):
        cluster = session_cluster(session)
    bound = dag_problem(app, cluster)
    if outputs is not None:
        wanted = [t.id for t in bound.problem.graph.tasks] if outputs == "all" else list(outputs)
        bound = DagProblem(bound.problem, bound.calls, tuple(wanted))
    problem = bound.problem
    scheduler: Scheduler | None = None
    start = time.perf_counter()
    if schedule is None:
        from edgeoffload.schedulers import get_scheduler

        scheduler = get_scheduler(algorithm, **dict(params or {}))
        reason = scheduler.applies_to(problem)
        if reason is not None:
            raise ModelError(reason, algorithm)
        schedule = scheduler.schedule(problem)
    else:
        algorithm = schedule.algorithm
    validate_schedule(problem, schedule)
    scheduling_seconds = time.perf_counter() - start
    if deadline is None:
        deadline = session.deadline + 4 * schedule.makespan
    runner = _Runner(
        session, bound, scheduler, algorithm, schedule, deadline, replan, scheduling_seconds
    )
    return runner.run()
