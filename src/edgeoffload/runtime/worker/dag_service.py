"""The worker side of scheduled DAGs: the I/O shell around :mod:`.dag_state`.

A session running a DAG (:mod:`edgeoffload.runtime.dag`) sends every worker its *plan*:
the tasks the schedule put on that node, in the schedule's order. The worker runs them one
after another, each as a :class:`~edgeoffload.runtime.worker.jobs.Job` in one of the
executor's child processes, and pushes each result, as the pickled frames the job
returned, straight to every other node that needs it (the cost model's transfer: worker
to worker, never through the client). This process never unpickles user data.

What a run does is decided by :class:`~edgeoffload.runtime.worker.dag_state.DagRunState`,
a pure state machine; this module feeds it events and carries out its instructions:

- **messages** (:meth:`DagService.handle`, the agent decodes and authorises them):

  ================  ==============================================================
  ``dag_plan``      this node's part of a run (one *epoch*; a re-plan is a new epoch)
  ``dag_go``        start the epoch at time ``t0`` (a first plan waits for it)
  ``dag_put``       a peer's result for a run (pushed by the producer)
  ``dag_wait``      a long poll: answer when the epoch ends or a push fails, or after
                    ``timeout`` seconds
  ``dag_stop``      start no more tasks; wait up to ``timeout`` for the running one,
                    then cancel it; say which results this node holds
  ``dag_collect``   the run's records and requested results (frames as held); waits
                    up to a second for pushes still being sent, for their records
  ``dag_release``   forget the run (cancelling its running job)
  ================  ==============================================================

- **plans**: :func:`plan_from_message` checks a plan's task entries (fields, types, each
  payload within the frames) into a :class:`~.dag_state.Plan`; a malformed one is refused.
- **jobs**: started on the runner; their completion callbacks become events. A job whose
  process died is started once more on a fresh process.
- **pushes**: one sender thread per destination node, taking the earliest-needed result
  first; each push is tried :data:`PUSH_ATTEMPTS` times with a short backoff, and its
  start, end, bytes and outcome are recorded.
- **release times**: one timer thread for the whole service, which sends ``Tick`` events.

Runs are keyed by ``(owner, run)``: one owner never sees another's run. A run's results
and records live in memory until ``dag_release`` (the session always sends it) or
:meth:`DagService.drop_owner` (the owner left or stopped heartbeating).
"""

from __future__ import annotations

import collections
import functools
import heapq
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from edgeoffload.errors import BundleError, OffloadError, RemoteTaskError
from edgeoffload.runtime.wire.errors import error_reply
from edgeoffload.runtime.wire.ops import (
    DagCollect,
    DagGo,
    DagPlan,
    DagPut,
    DagRelease,
    DagStop,
    DagWait,
    Message,
    MessageError,
)
from edgeoffload.runtime.wire.protocol import Frames
from edgeoffload.runtime.worker.dag_state import (
    CancelTask,
    DagRunState,
    DuplicateResult,
    Event,
    Go,
    Instruction,
    Notify,
    Plan,
    PlannedTask,
    PlanReceived,
    Push,
    PushFinished,
    Refuse,
    Released,
    ResultArrived,
    StartTask,
    StopOverdue,
    StopRequested,
    Targets,
    TaskCancelled,
    TaskFailed,
    TaskFinished,
    TaskLost,
    Tick,
    WakeAt,
)
from edgeoffload.runtime.worker.jobs import JobHandle, JobResult, Runner

__all__ = ["PUSH_ATTEMPTS", "PUSH_TIMEOUT", "DagService", "Peer", "plan_from_message"]

logger = logging.getLogger(__name__)

PUSH_ATTEMPTS = 3
"""Times a push to a peer is tried before it is reported failed."""

PUSH_TIMEOUT = 120.0
"""Seconds one push may take (a large tensor on a slow link)."""

_PUSH_BACKOFF = 0.05  # seconds before the second attempt; twice that before the third
_RELEASED_MEMORY = 4096  # released runs remembered, so that a late push is refused
_COLLECT_GRACE = 1.0  # seconds a collect waits for pushes still being sent (their records)
_ERROR_FIELDS = frozenset({"type", "message", "traceback", "worker"})  # of error_reply

Reply = tuple[dict[str, Any], Frames]
RunKey = tuple[str, str]


class Peer(Protocol):
    """Another worker's channel (a :class:`~edgeoffload.runtime.wire.channel.ChannelClient`)."""

    def request(
        self, header: dict[str, Any], frames: Sequence[Any] = (), timeout: float | None = None
    ) -> tuple[dict[str, Any], list[bytearray], int, int]:
        """Send one message, wait for the reply: (header, frames, bytes sent, received)."""
        ...


# --------------------------------------------------------------------------- plans


def plan_from_message(message: DagPlan, frames: Sequence[Any]) -> Plan:
    """The plan a ``dag_plan`` message and its frames stand for.

    Raises
    ------
    MessageError
        A task entry or a ``forward`` entry is malformed (the text names it), two
        tasks share an id, or a payload lies outside the frames.
    """
    tasks = tuple(
        _planned_task(item, frames, f"dag_plan.tasks[{i}]") for i, item in enumerate(message.tasks)
    )
    ids = [t.id for t in tasks]
    if len(set(ids)) != len(ids):
        twice = sorted({i for i in ids if ids.count(i) > 1})
        raise MessageError(f"dag_plan.tasks: task(s) {', '.join(twice)} appear twice")
    forward = []
    for i, entry in enumerate(message.forward):
        where = f"dag_plan.forward[{i}]"
        if len(entry) != 2 or not isinstance(entry[0], str):
            raise MessageError(f"{where}: must be [task, [[node, needed], ...]]")
        forward.append((entry[0], _targets(entry[1], where)))
    return Plan(
        epoch=message.epoch,
        node=message.node,
        tasks=tasks,
        peers=dict(message.peers),
        bundles=tuple(message.bundles),
        forward=tuple(forward),
        t0=message.t0,
    )


_TASK_FIELDS = frozenset({"id", "fn", "inputs", "payload", "release", "send"})


def _number(value: Any) -> bool:
    """A finite JSON number (the wire's rule for a float field: no NaN, no infinity)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _planned_task(item: Any, frames: Sequence[Any], where: str) -> PlannedTask:
    """One ``tasks`` entry of a plan, checked (raises :class:`MessageError`)."""
    if not isinstance(item, Mapping):
        raise MessageError(f"{where}: must be an object")
    unknown = sorted(str(k) for k in item if k not in _TASK_FIELDS)
    if unknown:
        raise MessageError(f"{where}: unknown field(s) {', '.join(unknown)}")
    missing = sorted(k for k in ("id", "fn", "payload") if k not in item)
    if missing:
        raise MessageError(f"{where}: missing field(s) {', '.join(missing)}")
    task_id = item["id"]
    if not isinstance(task_id, str):
        raise MessageError(f"{where}.id: must be str, got {task_id!r}")
    fn = item["fn"]
    if (
        not isinstance(fn, list)
        or len(fn) != 3
        or not (fn[0] is None or isinstance(fn[0], str))
        or not all(isinstance(x, str) for x in fn[1:])
    ):
        raise MessageError(f"{where}.fn: must be [bundle hash or null, module, qualname]")
    inputs = item.get("inputs", [])
    if not isinstance(inputs, list) or not all(isinstance(x, str) for x in inputs):
        raise MessageError(f"{where}.inputs: must be a list of task ids")
    payload = item["payload"]
    if (
        not isinstance(payload, list)
        or len(payload) != 2
        or not all(isinstance(x, int) and not isinstance(x, bool) for x in payload)
        or payload[0] < 0
        or payload[1] < 1
        or payload[0] + payload[1] > len(frames)
    ):
        raise MessageError(
            f"{where}.payload: must be [first frame, count] within the {len(frames)} frames, "
            f"got {payload!r}"
        )
    release = item.get("release", 0.0)
    if not _number(release):
        raise MessageError(f"{where}.release: must be a number of seconds, got {release!r}")
    first, count = payload
    return PlannedTask(
        id=task_id,
        fn=(fn[0], fn[1], fn[2]),
        inputs=tuple(inputs),
        payload=tuple(frames[first : first + count]),
        release=float(release),
        send=_targets(item.get("send", []), f"{where}.send"),
    )


def _targets(items: Any, where: str) -> Targets:
    """``[[node, when needed], ...]`` as pairs."""
    if not isinstance(items, list):
        raise MessageError(f"{where}: must be a list of [node, needed]")
    out = []
    for item in items:
        if (
            isinstance(item, list)
            and len(item) == 2
            and isinstance(item[0], str)
            and _number(item[1])
        ):
            out.append((item[0], float(item[1])))
        else:
            raise MessageError(f"{where}: must be a list of [node, needed], got {item!r}")
    return tuple(out)


# --------------------------------------------------------------------------- threads


T = TypeVar("T")


class _Heap(Generic[T]):
    """One thread taking items in key order: each item when the key comes first (a sender:
    the earliest-needed result first) or, with a ``clock``, not before its key's time
    (the release times' waker).

    Parameters
    ----------
    handle
        Called with each item in turn, in the thread; its exceptions are logged.
    name
        The thread's name.
    clock
        With a clock, an item's key is the time (on that clock) it is due.
    """

    def __init__(
        self,
        handle: Callable[[T], None],
        name: str,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._handle = handle
        self._clock = clock
        self._heap: list[tuple[float, int, T]] = []
        self._count = 0
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def put(self, key: float, item: T) -> None:
        with self._cond:
            self._count += 1
            heapq.heappush(self._heap, (key, self._count, item))
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify()

    def _due(self) -> float | None:
        """Seconds until the first item is due (0: now), ``None`` with nothing queued."""
        if not self._heap:
            return None
        if self._clock is None:
            return 0.0
        return max(0.0, self._heap[0][0] - self._clock())

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (delay := self._due()) != 0.0:
                    self._cond.wait(delay)
                if self._closed:
                    return
                _, _, item = heapq.heappop(self._heap)
            try:
                self._handle(item)
            except Exception:  # the handler reports its own failures; never let it die
                logger.exception("edgeoffload: %s failed on %r", self._thread.name, item)


# --------------------------------------------------------------------------- the service


@dataclass
class _Run:
    """One run's state machine and the I/O around it (guarded by ``cond``)."""

    key: RunKey
    state: DagRunState
    cond: threading.Condition = field(default_factory=threading.Condition)
    jobs: dict[tuple[int, str], JobHandle] = field(default_factory=dict)
    cancel_on_start: set[tuple[int, str]] = field(default_factory=set)
    senders: dict[str, _Heap[str]] = field(default_factory=dict)  # one per destination
    pushing: int = 0  # pushes queued or being sent
    closing: threading.Event = field(default_factory=threading.Event)


class DagService:
    """Scheduled-DAG runs inside one worker (created by its agent).

    Parameters
    ----------
    worker_name
        The worker's name (it names errors).
    runner
        Runs the tasks' jobs (the worker's executor).
    peer
        ``peer(address)`` is the channel to the worker at ``address`` (called for every
        push: return a pooled client).
    clock
        This worker's clock, seconds (``time.time``): the times of records, transfers,
        arrivals and release times.
    """

    def __init__(
        self,
        worker_name: str,
        runner: Runner,
        peer: Callable[[str], Peer],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.worker_name = worker_name
        self._runner = runner
        self._peer = peer
        self._clock = clock
        self._runs: dict[RunKey, _Run] = {}
        self._released: collections.OrderedDict[RunKey, None] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._closed = False
        self._waker: _Heap[RunKey] = _Heap(self._tick, "edgeoffload-dag-wake", clock)
        self._handlers: dict[type[Message], Callable[[str, Any, list[Any]], Reply]] = {
            DagPlan: self._on_plan,
            DagGo: self._on_go,
            DagPut: self._on_put,
            DagWait: self._on_wait,
            DagStop: self._on_stop,
            DagCollect: self._on_collect,
            DagRelease: self._on_release,
        }

    # ---------------------------------------------------------------- entry points
    def handle(self, owner: str, message: Message, frames: Sequence[Any]) -> Reply:
        """Answer one DAG message of ``owner`` (for ``dag_put``: ``message.owner``).

        Never raises: a message it cannot act on is answered ``{"status": "refused",
        "error": ...}``.
        """
        handler = self._handlers.get(type(message))
        if handler is None:
            return self._refused(f"{message.op} is not handled by the DAG service")
        if self._closed:
            return self._refused("this worker is closing")
        try:
            return handler(owner, message, list(frames))
        except BundleError as exc:
            return self._refused(str(exc))
        except Exception as exc:  # a malformed message or a bug: say so to the caller
            logger.exception("edgeoffload %s failed", message.op)
            return self._refused(f"{message.op}: {type(exc).__name__}: {exc}")

    def drop_owner(self, owner: str) -> None:
        """Forget every run of ``owner`` (it left), cancelling their running jobs."""
        with self._lock:
            keys = [k for k in self._runs if k[0] == owner]
            runs = [self._pop(k) for k in keys]
        for run in runs:
            if run is not None:
                self._forget(run)

    def close(self) -> None:
        """Forget every run and stop the service's threads."""
        with self._lock:
            self._closed = True
            runs = list(self._runs.values())
            self._runs.clear()
        for run in runs:
            self._forget(run)
        self._waker.close()

    # ---------------------------------------------------------------- runs
    def _refused(self, error: str) -> Reply:
        return {"status": "refused", "error": f"worker {self.worker_name}: {error}"}, []

    def _get(self, owner: str, run: str, create: bool = False) -> _Run | None:
        key = (owner, run)
        with self._lock:
            found = self._runs.get(key)
            if found is None and create and not self._closed and key not in self._released:
                found = _Run(key, DagRunState(owner))
                self._runs[key] = found
            return found

    def _pop(self, key: RunKey) -> _Run | None:
        """Take run ``key`` out of the table and remember it was released (under _lock)."""
        self._released[key] = None
        while len(self._released) > _RELEASED_MEMORY:
            self._released.popitem(last=False)
        return self._runs.pop(key, None)

    def _forget(self, run: _Run) -> None:
        self._feed(run, Released())
        with run.cond:
            senders = list(run.senders.values())
            run.senders.clear()
        run.closing.set()
        for sender in senders:
            sender.close()

    def _tick(self, key: RunKey) -> None:
        with self._lock:
            run = self._runs.get(key)
        if run is not None:
            self._feed(run, Tick(self._clock()))

    # ---------------------------------------------------------------- the state machine
    def _feed(self, run: _Run, event: Event) -> list[Instruction]:
        """Hand ``event`` to the run's state machine; carry out its instructions."""
        with run.cond:
            instructions = run.state.handle(event)
            if any(isinstance(i, Notify) for i in instructions):
                run.cond.notify_all()
        for instruction in instructions:
            if isinstance(instruction, StartTask):
                self._start(run, instruction)
            elif isinstance(instruction, CancelTask):
                self._cancel(run, (instruction.epoch, instruction.task))
            elif isinstance(instruction, Push):
                self._queue_push(run, instruction)
            elif isinstance(instruction, WakeAt):
                self._waker.put(instruction.time, run.key)
            # Notify is done above; Refuse and DuplicateResult are for the caller's reply
        return instructions

    def _start(self, run: _Run, start: StartTask) -> None:
        key = (start.epoch, start.task)
        submitted = self._clock()
        try:
            handle = self._runner.submit(start.job)
        except Exception as exc:  # the executor could not take it: the task fails
            logger.exception("edgeoffload: submitting task %s failed", start.task)
            header, frames = error_reply(exc, f"task {start.task}", self.worker_name)
            self._feed(run, TaskFailed(*key, header, frames, submitted, self._clock()))
            return
        with run.cond:
            cancel = key in run.cancel_on_start or run.closing.is_set()
            run.cancel_on_start.discard(key)
            run.jobs[key] = handle
        if cancel:
            handle.cancel()
        handle.add_done_callback(
            functools.partial(self._job_done, run, start.epoch, start.task, submitted, handle)
        )

    def _cancel(self, run: _Run, key: tuple[int, str]) -> None:
        with run.cond:
            handle = run.jobs.get(key)
            if handle is None:  # StartTask is being carried out: cancel it once submitted
                run.cancel_on_start.add(key)
        if handle is not None:
            handle.cancel()

    def _job_done(
        self,
        run: _Run,
        epoch: int,
        task: str,
        submitted: float,
        handle: JobHandle,
        result: JobResult,
    ) -> None:
        try:
            finish = self._clock()
            start = min(finish, submitted + max(0.0, result.waited))
            with run.cond:
                if run.jobs.get((epoch, task)) is handle:
                    del run.jobs[(epoch, task)]
            self._feed(run, self._job_event(epoch, task, start, finish, result))
        except Exception:  # never into the executor's thread; a bug, said loudly
            logger.exception("edgeoffload: handling the end of task %s failed", task)

    def _job_event(
        self, epoch: int, task: str, start: float, finish: float, result: JobResult
    ) -> Event:
        """The event a job's result stands for."""
        if result.status == "ok":
            return TaskFinished(epoch, task, result.frames, start, finish)
        line = str(result.header.get("error", "")) or f"the job ended {result.status}"
        if result.status == "error":
            error = {k: v for k, v in result.header.items() if k in _ERROR_FIELDS}
            error.setdefault("worker", self.worker_name)
            return TaskFailed(epoch, task, error, result.frames, start, finish)
        if result.status == "refused":
            header, frames = error_reply(BundleError(line), f"task {task}", self.worker_name)
            return TaskFailed(epoch, task, header, frames, start, finish)
        if result.status == "lost":
            logger.warning("edgeoffload: the process running task %s died: %s", task, line)
            exc = RemoteTaskError(f"task {task} ended the process running it, twice: {line}")
            header, frames = error_reply(exc, f"task {task}", self.worker_name)
            return TaskLost(epoch, task, header, frames, start, finish)
        # cancelled: what a stop or a release asked for, else the epoch cannot go on
        cancelled = OffloadError(f"task {task} was cancelled by the executor: {line}")
        header, frames = error_reply(cancelled, f"task {task}", self.worker_name)
        return TaskCancelled(epoch, task, header, frames, start, finish)

    # ---------------------------------------------------------------- pushes
    def _queue_push(self, run: _Run, push: Push) -> None:
        # one sender per destination, taking the result needed there first first: a slow
        # link (or a sender short of CPU) then delivers what the next task waits for,
        # instead of spreading itself over every result at once
        with run.cond:
            if run.closing.is_set():
                return
            run.pushing += 1
            sender = run.senders.get(push.node)
            if sender is None:
                sender = _Heap(
                    functools.partial(self._send, run, push.node, push.address),
                    f"edgeoffload-dag-push-{run.key[1][:8]}-{push.node}",
                )
                run.senders[push.node] = sender
        sender.put(push.needed, push.task)

    def _send(self, run: _Run, node: str, address: str, task: str) -> None:
        try:
            self._push(run, node, address, task)
        finally:
            with run.cond:
                run.pushing -= 1
                if run.pushing == 0:
                    run.cond.notify_all()

    def _push(self, run: _Run, node: str, address: str, task: str) -> None:
        with run.cond:
            frames = run.state.result(task)
        if frames is None:  # only after a release: the sender is closing
            logger.debug("edgeoffload: %s is no longer held; not pushed to %s", task, node)
            return
        header = DagPut(owner=run.key[0], run=run.key[1], task=task).header()
        start = self._clock()
        error = ""
        nbytes = 0
        for attempt in range(PUSH_ATTEMPTS):
            try:
                reply, _, nbytes, _ = self._peer(address).request(header, frames, PUSH_TIMEOUT)
                if reply.get("status") == "ok":
                    error = ""
                    break
                error = str(reply.get("error", reply))
            except Exception as exc:  # unreachable, refused, timed out: reported below
                error = f"{type(exc).__name__}: {exc}"
            if attempt + 1 < PUSH_ATTEMPTS and run.closing.wait(_PUSH_BACKOFF * (attempt + 1)):
                return  # released while backing off: nobody wants it
        if error:
            logger.warning(
                "edgeoffload: pushing %s to %s failed %d times: %s",
                task,
                node,
                PUSH_ATTEMPTS,
                error,
            )
        self._feed(run, PushFinished(task, node, start, self._clock(), nbytes, error))

    # ---------------------------------------------------------------- messages
    def _on_plan(self, owner: str, message: DagPlan, frames: list[Any]) -> Reply:
        plan = plan_from_message(message, frames)
        run = self._get(owner, message.run, create=True)
        if run is None:
            return self._refused(f"run {message.run} was released here")
        refused = self._refusal(self._feed(run, PlanReceived(plan, self._clock())))
        if refused is not None:
            return refused
        return {"status": "ok", "tasks": len(plan.tasks)}, []

    def _on_go(self, owner: str, message: DagGo, frames: list[Any]) -> Reply:
        run = self._get(owner, message.run)
        if run is None:
            return self._refused("no such plan here")
        refused = self._refusal(self._feed(run, Go(message.epoch, message.t0, self._clock())))
        return refused if refused is not None else ({"status": "ok"}, [])

    def _on_put(self, owner: str, message: DagPut, frames: list[Any]) -> Reply:
        if owner != message.owner:
            return self._refused(f"a result for {message.owner!r} sent as {owner!r}")
        run = self._get(owner, message.run, create=True)
        if run is None:
            return self._refused(f"run {message.run} was released here")
        out = self._feed(run, ResultArrived(message.task, frames, self._clock()))
        if any(isinstance(i, DuplicateResult) for i in out):
            return {"status": "ok", "duplicate": True}, []
        return {"status": "ok"}, []

    def _on_wait(self, owner: str, message: DagWait, frames: list[Any]) -> Reply:
        run = self._get(owner, message.run)
        if run is None:
            return {"status": "unknown"}, []
        deadline = time.monotonic() + max(0.0, message.timeout)
        with run.cond:
            while True:
                ready = run.state.wait_reply(
                    message.epoch, message.records_from, message.transfers_from
                )
                if ready is not None:
                    return ready
                left = deadline - time.monotonic()
                if left <= 0:
                    return run.state.status_reply(
                        message.epoch, message.records_from, message.transfers_from
                    )
                run.cond.wait(left)

    def _on_stop(self, owner: str, message: DagStop, frames: list[Any]) -> Reply:
        run = self._get(owner, message.run)
        if run is None:
            return {"status": "ok", "held": []}, []
        self._feed(run, StopRequested(message.epoch))
        deadline = time.monotonic() + max(0.0, message.timeout)
        with run.cond:  # the running task, if any, may finish first
            while run.state.status(message.epoch) == "running":
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                run.cond.wait(left)
            overdue = run.state.status(message.epoch) == "running"
        if overdue:  # its CPU must not keep burning: cancel it
            self._feed(run, StopOverdue(message.epoch))
        with run.cond:
            return {"status": "ok", "held": run.state.held()}, []

    def _on_collect(self, owner: str, message: DagCollect, frames: list[Any]) -> Reply:
        run = self._get(owner, message.run)
        if run is None:
            return {"status": "unknown"}, []
        deadline = time.monotonic() + _COLLECT_GRACE
        with run.cond:  # a push just delivered may not be recorded yet: wait a little
            while run.pushing and not run.closing.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    logger.info(
                        "edgeoffload: collecting run %s with %d push(es) still being sent",
                        message.run,
                        run.pushing,
                    )
                    break
                run.cond.wait(left)
            return run.state.collect(message.outputs)

    def _on_release(self, owner: str, message: DagRelease, frames: list[Any]) -> Reply:
        with self._lock:
            run = self._pop((owner, message.run))
        if run is not None:
            self._forget(run)
        return {"status": "ok", "released": run is not None}, []

    def _refusal(self, instructions: list[Instruction]) -> Reply | None:
        for instruction in instructions:
            if isinstance(instruction, Refuse):
                return self._refused(instruction.error)
        return None
