"""One DAG run on one worker, as a pure state machine: events in, instructions out.

A session running a DAG (:mod:`edgeoffload.runtime.dag`) sends every worker its *plan*
(:class:`~edgeoffload.runtime.wire.ops.DagPlan`): the tasks the schedule put on this node,
in the schedule's order, each with its inputs, its release time and the nodes its result
must be pushed to. :class:`DagRunState` holds what this worker knows of one run of one
owner: the results it holds (each as the pickled frames a job returned or a peer pushed;
this process never unpickles user data), the records of executions and transfers, the
pushes that failed, and the current *epoch* (a re-plan is a new epoch).

Like Dask's ``distributed.worker_state_machine``, the state changes only through
:meth:`DagRunState.handle`, which takes one :class:`Event` (something that happened: a
plan arrived, a job finished, a push ended, a release time passed) and returns the
:class:`Instruction` s the I/O shell (:mod:`.dag_service`) must carry out (start a job,
cancel one, push a result, wake me at a time, wake the waiters). There are no threads,
sockets or clock reads here: time comes in the events, so every rule is testable with
events alone.

The rules:

- A node runs its tasks one after another in the plan's order (the list schedulers treat
  a node as one processor): a task starts when the previous one of its epoch has ended,
  every input is held here and ``t0 + release`` has passed. A first plan has no ``t0``
  and waits for :class:`Go`.
- A finished result is held here and pushed to every node that needs it, with the time
  it is needed there (the shell sends each destination's pushes earliest-needed first).
  Only one result per task is ever accepted: a second one is a :class:`DuplicateResult`.
- A failed task ends its epoch with its error; a task whose process died is started once
  more, then counts as failed.
- A plan while an epoch runs is refused; after it is done, failed or stopped a new plan
  starts a new epoch that keeps the held results and clears the push failures (they are
  the session's past). Its ``forward`` entries push held results on at once.
- Results that arrive before their plan are kept.
- A stop starts no more tasks; the running one may finish (its result is held and
  pushed) until the shell says the stop is overdue, which cancels it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from edgeoffload.runtime.worker.jobs import Job

__all__ = [
    "CancelTask",
    "DagRunState",
    "DuplicateResult",
    "EpochStatus",
    "Event",
    "Go",
    "Instruction",
    "Notify",
    "Plan",
    "PlanReceived",
    "PlannedTask",
    "Push",
    "PushFinished",
    "Refuse",
    "Released",
    "ResultArrived",
    "StartTask",
    "StopOverdue",
    "StopRequested",
    "Targets",
    "TaskCancelled",
    "TaskFailed",
    "TaskFinished",
    "TaskLost",
    "Tick",
    "WakeAt",
]

EpochStatus = Literal["running", "done", "error", "stopped"]
"""Where an epoch is: ``running`` (waiting for its start, an input, a release time, or
running a task), ``done``, ``error`` (a task failed) or ``stopped``."""

Targets = tuple[tuple[str, float], ...]
"""``((node, seconds after t0 when that node needs the result), ...)``."""


# --------------------------------------------------------------------------- plans


@dataclass(frozen=True, slots=True)
class PlannedTask:
    """One task of a plan.

    Attributes
    ----------
    id
        The task's id.
    fn
        ``(bundle hash or None, module, qualname)``: the function, resolved by the job's
        process.
    inputs
        Ids of the tasks whose results are its first positional arguments, in order.
    payload
        The frames of its pickled ``(args, kwargs)``.
    release
        Seconds after ``t0`` before which it must not start (its request's arrival).
    send
        The nodes its result is pushed to, each with when it is needed there (seconds
        after ``t0``).
    """

    id: str
    fn: tuple[str | None, str, str]
    inputs: tuple[str, ...] = ()
    payload: tuple[Any, ...] = ()
    release: float = 0.0
    send: Targets = ()


@dataclass(frozen=True, slots=True)
class Plan:
    """This node's part of one epoch of a run: a checked
    :class:`~edgeoffload.runtime.wire.ops.DagPlan` (the shell reads it with
    :func:`~edgeoffload.runtime.worker.dag_service.plan_from_message`).

    Attributes
    ----------
    epoch
        The epoch's number.
    node
        This worker's node id in the schedule (it names the records).
    tasks
        The tasks to run here, in run order.
    peers
        Node id -> channel address of every node results may be pushed to.
    bundles
        Hashes of the owner's bundles the tasks' code and pickles need.
    forward
        Results held here to push on at once: ``((task, targets), ...)``.
    t0
        The epoch's start on this worker's clock (seconds since the epoch of
        ``time.time``), or ``None`` to wait for :class:`Go`.
    """

    epoch: int
    node: str
    tasks: tuple[PlannedTask, ...] = ()
    peers: Mapping[str, str] = field(default_factory=dict)
    bundles: tuple[str, ...] = ()
    forward: tuple[tuple[str, Targets], ...] = ()
    t0: float | None = None


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened to a run (the input of :meth:`DagRunState.handle`)."""


@dataclass(frozen=True, slots=True)
class PlanReceived(Event):
    """A plan arrived at ``now`` (seconds, worker clock)."""

    plan: Plan
    now: float


@dataclass(frozen=True, slots=True)
class Go(Event):
    """The session starts epoch ``epoch`` at ``t0``; it arrived at ``now`` (seconds)."""

    epoch: int
    t0: float
    now: float


@dataclass(frozen=True, slots=True)
class ResultArrived(Event):
    """A peer pushed the result of ``task`` (its pickled frames) at ``now`` (seconds)."""

    task: str
    frames: Sequence[Any]
    now: float


@dataclass(frozen=True, slots=True)
class TaskFinished(Event):
    """The job of ``task`` (epoch ``epoch``) returned ``frames`` (its pickled result);
    it ran from ``start`` to ``finish`` (seconds, worker clock)."""

    epoch: int
    task: str
    frames: Sequence[Any]
    start: float
    finish: float


@dataclass(frozen=True, slots=True)
class TaskFailed(Event):
    """The job of ``task`` ended with ``error`` (the fields of
    :func:`~edgeoffload.runtime.wire.errors.error_reply`) and ``frames`` (the pickled
    exception, or none): its code raised or could not be loaded."""

    epoch: int
    task: str
    error: Mapping[str, Any]
    frames: Sequence[Any]
    start: float
    finish: float


@dataclass(frozen=True, slots=True)
class TaskLost(Event):
    """The process running ``task`` died; ``error``/``frames`` are what the epoch ends
    with if the task is not started again."""

    epoch: int
    task: str
    error: Mapping[str, Any]
    frames: Sequence[Any]
    start: float
    finish: float


@dataclass(frozen=True, slots=True)
class TaskCancelled(Event):
    """The job of ``task`` was cancelled; when no stop asked for it, the epoch ends with
    ``error``/``frames``."""

    epoch: int
    task: str
    error: Mapping[str, Any]
    frames: Sequence[Any]
    start: float
    finish: float


@dataclass(frozen=True, slots=True)
class PushFinished(Event):
    """A push of ``task``'s result to ``node`` ended (``error`` empty: delivered);
    ``nbytes`` bytes were sent between ``start`` and ``end`` (seconds)."""

    task: str
    node: str
    start: float
    end: float
    nbytes: int
    error: str = ""


@dataclass(frozen=True, slots=True)
class StopRequested(Event):
    """The session stops epoch ``epoch``: start no more of its tasks."""

    epoch: int


@dataclass(frozen=True, slots=True)
class StopOverdue(Event):
    """The stop's wait for the running task of ``epoch`` ran out: cancel it."""

    epoch: int


@dataclass(frozen=True, slots=True)
class Tick(Event):
    """Time ``now`` (seconds) has come (after a :class:`WakeAt`)."""

    now: float


@dataclass(frozen=True, slots=True)
class Released(Event):
    """The run is over: forget it (later events are ignored)."""


# --------------------------------------------------------------------------- instructions


@dataclass(frozen=True, slots=True)
class Instruction:
    """Something the I/O shell must do (the output of :meth:`DagRunState.handle`)."""


@dataclass(frozen=True, slots=True)
class StartTask(Instruction):
    """Submit ``job`` (task ``task`` of epoch ``epoch``) to the runner; report how it
    ends with :class:`TaskFinished`, :class:`TaskFailed`, :class:`TaskLost` or
    :class:`TaskCancelled`."""

    epoch: int
    task: str
    job: Job


@dataclass(frozen=True, slots=True)
class CancelTask(Instruction):
    """Cancel the job of ``task`` of epoch ``epoch`` (its process ends)."""

    epoch: int
    task: str


@dataclass(frozen=True, slots=True)
class Push(Instruction):
    """Send the held result of ``task`` to ``node`` at ``address``, needed there at
    ``needed`` (seconds after t0); report with :class:`PushFinished`."""

    task: str
    node: str
    address: str
    needed: float


@dataclass(frozen=True, slots=True)
class WakeAt(Instruction):
    """Send :class:`Tick` at ``time`` (seconds, worker clock): a release time."""

    time: float


@dataclass(frozen=True, slots=True)
class Notify(Instruction):
    """Wake whoever waits on the run: an epoch ended or a push failed."""


@dataclass(frozen=True, slots=True)
class Refuse(Instruction):
    """The event was not accepted; ``error`` says why (the reply's ``error``)."""

    error: str


@dataclass(frozen=True, slots=True)
class DuplicateResult(Instruction):
    """A result of ``task`` is already held: the one that arrived was dropped."""

    task: str


# --------------------------------------------------------------------------- the state


@dataclass
class _Epoch:
    plan: Plan
    t0: float | None
    tasks: dict[str, PlannedTask]
    status: EpochStatus = "running"
    next: int = 0  # index of the next task to start
    current: str | None = None
    stop: bool = False
    lost: set[str] = field(default_factory=set)  # tasks already started again once
    error: tuple[dict[str, Any], list[Any]] | None = None


class DagRunState:
    """What this worker knows of one run of ``owner``; see the module docstring.

    :meth:`handle` is the only mutator; the other methods are queries the shell builds
    its replies from. Not thread-safe: the shell calls it under the run's lock.

    Parameters
    ----------
    owner
        The owner key (whose code the jobs load).
    """

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.node = ""  # this worker's node id, from the plan
        self._held: dict[str, Sequence[Any]] = {}
        self._received: dict[str, tuple[float, int]] = {}
        self._records: list[dict[str, Any]] = []
        self._transfers: list[dict[str, Any]] = []
        self._push_failed: dict[str, str] = {}
        self._epoch: _Epoch | None = None
        self._sequence = 0
        self._wake: float | None = None
        self._released = False

    # ---------------------------------------------------------------- the mutator
    def handle(self, event: Event) -> list[Instruction]:
        """Apply ``event``; return what the shell must do, in order.

        Raises
        ------
        TypeError
            ``event`` is not one of this module's events.
        """
        if self._released:
            return []
        match event:
            case PlanReceived():
                return self._plan(event)
            case Go():
                return self._go(event)
            case ResultArrived():
                return self._arrived(event)
            case TaskFinished():
                return self._finished(event)
            case TaskFailed():
                return self._failed(event)
            case TaskLost():
                return self._lost(event)
            case TaskCancelled():
                return self._cancelled(event)
            case PushFinished():
                return self._pushed(event)
            case StopRequested():
                return self._stop(event)
            case StopOverdue():
                return self._overdue(event)
            case Tick():
                self._wake = None
                return self._advance(event.now)
            case Released():
                return self._release()
        raise TypeError(f"not a DAG run event: {event!r}")

    def _plan(self, event: PlanReceived) -> list[Instruction]:
        previous = self._epoch
        if previous is not None and previous.status == "running":
            return [Refuse(f"epoch {previous.plan.epoch} still runs")]
        plan = event.plan
        self.node = plan.node
        self._push_failed.clear()  # failures of earlier epochs are the session's past
        self._wake = None
        epoch = _Epoch(plan, plan.t0, {t.id: t for t in plan.tasks})
        self._epoch = epoch
        out: list[Instruction] = [Notify()]  # waiters on the previous epoch: it is gone
        for task_id, targets in plan.forward:
            if task_id in self._held:
                out += self._pushes(epoch, task_id, targets)
            else:
                for node, _ in targets:
                    self._push_failed[node] = f"result of {task_id!r} is not held here"
        return out + self._advance(event.now)

    def _go(self, event: Go) -> list[Instruction]:
        epoch = self._epoch
        if epoch is None or epoch.plan.epoch != event.epoch:
            return [Refuse("no such plan here")]
        epoch.t0 = event.t0
        return self._advance(event.now)

    def _arrived(self, event: ResultArrived) -> list[Instruction]:
        if event.task in self._held:
            return [DuplicateResult(event.task)]
        self._held[event.task] = event.frames
        nbytes = sum(memoryview(f).nbytes for f in event.frames)
        self._received[event.task] = (event.now, nbytes)
        return self._advance(event.now)

    def _finished(self, event: TaskFinished) -> list[Instruction]:
        epoch = self._running(event.epoch, event.task)
        if epoch is None:
            return []
        self._held.setdefault(event.task, event.frames)  # one result per task, the first
        self._record(epoch, event.task, event.start, event.finish, failed=False)
        epoch.current = None
        out = self._pushes(epoch, event.task, epoch.tasks[event.task].send)
        if epoch.stop:
            epoch.status = "stopped"
            return [*out, Notify()]
        return out + self._advance(event.finish)

    def _failed(self, event: TaskFailed | TaskLost | TaskCancelled) -> list[Instruction]:
        epoch = self._running(event.epoch, event.task)
        if epoch is None:
            return []
        self._record(epoch, event.task, event.start, event.finish, failed=True)
        epoch.error = ({**event.error, "status": "error", "task": event.task}, list(event.frames))
        epoch.status = "error"
        epoch.current = None
        return [Notify()]

    def _lost(self, event: TaskLost) -> list[Instruction]:
        epoch = self._running(event.epoch, event.task)
        if epoch is None:
            return []
        if epoch.stop:  # nobody wants it any more
            epoch.current = None
            epoch.status = "stopped"
            return [Notify()]
        if event.task in epoch.lost:
            return self._failed(event)
        epoch.lost.add(event.task)  # once more, on a fresh process
        return [StartTask(epoch.plan.epoch, event.task, self._job(epoch.tasks[event.task]))]

    def _cancelled(self, event: TaskCancelled) -> list[Instruction]:
        epoch = self._running(event.epoch, event.task)
        if epoch is None:
            return []
        if not epoch.stop:  # cancelled by someone else: the epoch cannot go on
            return self._failed(event)
        epoch.current = None
        epoch.status = "stopped"
        return [Notify()]

    def _pushed(self, event: PushFinished) -> list[Instruction]:
        self._transfers.append(
            {
                "task": event.task,
                "source": self.node,
                "target": event.node,
                "start": event.start,
                "end": event.end,
                "bytes": event.nbytes,
                "ok": not event.error,
            }
        )
        if not event.error:
            return []
        self._push_failed[event.node] = f"pushing {event.task!r} to {event.node}: {event.error}"
        return [Notify()]

    def _stop(self, event: StopRequested) -> list[Instruction]:
        epoch = self._epoch
        if epoch is None or epoch.plan.epoch != event.epoch or epoch.status != "running":
            return []
        epoch.stop = True
        if epoch.current is not None:
            return []  # it may finish; StopOverdue cancels it
        epoch.status = "stopped"
        return [Notify()]

    def _overdue(self, event: StopOverdue) -> list[Instruction]:
        epoch = self._epoch
        if (
            epoch is None
            or epoch.plan.epoch != event.epoch
            or epoch.status != "running"
            or epoch.current is None
        ):
            return []
        task, epoch.current = epoch.current, None
        epoch.stop = True
        epoch.status = "stopped"
        return [CancelTask(epoch.plan.epoch, task), Notify()]

    def _release(self) -> list[Instruction]:
        out: list[Instruction] = []
        epoch = self._epoch
        if epoch is not None and epoch.current is not None:
            out.append(CancelTask(epoch.plan.epoch, epoch.current))
        self._released = True
        self._epoch = None
        self._held.clear()
        self._push_failed.clear()
        return [*out, Notify()]

    # ---------------------------------------------------------------- helpers
    def _running(self, number: int, task: str) -> _Epoch | None:
        """The epoch if ``task`` is what it runs now (else the event is stale)."""
        epoch = self._epoch
        if epoch is None or epoch.plan.epoch != number or epoch.current != task:
            return None
        return epoch

    def _advance(self, now: float) -> list[Instruction]:
        """Start the next task if it may start at ``now``, or say when it may."""
        epoch = self._epoch
        if epoch is None or epoch.status != "running" or epoch.current is not None:
            return []
        if epoch.stop:
            epoch.status = "stopped"
            return [Notify()]
        if epoch.t0 is None:
            return []
        tasks = epoch.plan.tasks
        if epoch.next >= len(tasks):
            epoch.status = "done"
            return [Notify()]
        task = tasks[epoch.next]
        if any(i not in self._held for i in task.inputs):
            return []  # ResultArrived brings it
        ready = epoch.t0 + task.release
        if now < ready:
            if self._wake == ready:
                return []
            self._wake = ready
            return [WakeAt(ready)]
        epoch.next += 1
        epoch.current = task.id
        return [StartTask(epoch.plan.epoch, task.id, self._job(task))]

    def _job(self, task: PlannedTask) -> Job:
        epoch = self._epoch
        assert epoch is not None
        return Job(
            kind="task",
            owner=self.owner,
            fn=task.fn,
            bundles=epoch.plan.bundles,
            frames=task.payload,
            inputs=[self._held[i] for i in task.inputs],
            label=task.id,
        )

    def _pushes(self, epoch: _Epoch, task: str, targets: Targets) -> list[Instruction]:
        out: list[Instruction] = []
        failed = False
        for node, needed in sorted(targets, key=lambda t: t[1]):
            address = epoch.plan.peers.get(node)
            if address is None:
                self._push_failed[node] = f"no channel address for node {node!r}"
                failed = True
            else:
                out.append(Push(task, node, address, needed))
        return [*out, Notify()] if failed else out

    def _record(self, epoch: _Epoch, task: str, start: float, finish: float, failed: bool) -> None:
        self._sequence += 1
        record: dict[str, Any] = {
            "task": task,
            "node": self.node,
            "epoch": epoch.plan.epoch,
            "start": start,
            "finish": finish,
            "seq": self._sequence,
        }
        if failed:
            record["error"] = True
        self._records.append(record)

    # ---------------------------------------------------------------- queries
    @property
    def released(self) -> bool:
        """Whether the run was released (it ignores every event since)."""
        return self._released

    def status(self, epoch: int) -> EpochStatus | Literal["unknown"]:
        """Where epoch ``epoch`` is; ``"unknown"`` when it is not the current one."""
        current = self._epoch
        if current is None or current.plan.epoch != epoch:
            return "unknown"
        return current.status

    def held(self) -> list[str]:
        """The ids of the results held here, sorted."""
        return sorted(self._held)

    def result(self, task: str) -> Sequence[Any] | None:
        """The pickled frames of ``task``'s result, or ``None`` when not held."""
        return self._held.get(task)

    def status_reply(
        self, epoch: int, records_from: int = 0, transfers_from: int = 0
    ) -> tuple[dict[str, Any], list[Any]]:
        """The ``dag_wait`` reply now: ``status`` (running/done/error/stopped/unknown),
        ``current``, ``push_failed`` (to nodes of the epoch), and the ``records`` and
        ``transfers`` from the given counts on; after a failure the error's fields and
        ``task``, with the pickled exception as frames."""
        current = self._epoch
        if current is None or current.plan.epoch != epoch:
            return {"status": "unknown"}, []
        reply: dict[str, Any] = {
            "status": current.status,
            "current": current.current,
            "push_failed": self._failed_pushes(current),
            "records": [dict(r) for r in self._records[max(0, records_from) :]],
            "transfers": [dict(t) for t in self._transfers[max(0, transfers_from) :]],
        }
        if current.error is not None:
            error, frames = current.error
            return {**reply, **error, "status": "error"}, list(frames)
        return reply, []

    def wait_reply(
        self, epoch: int, records_from: int = 0, transfers_from: int = 0
    ) -> tuple[dict[str, Any], list[Any]] | None:
        """:meth:`status_reply` once a long poll should answer (the epoch is not running,
        or a push to one of its nodes failed), else ``None``."""
        current = self._epoch
        if (
            current is not None
            and current.plan.epoch == epoch
            and current.status == "running"
            and not self._failed_pushes(current)
        ):
            return None
        return self.status_reply(epoch, records_from, transfers_from)

    def _failed_pushes(self, epoch: _Epoch) -> dict[str, str]:
        return {n: e for n, e in self._push_failed.items() if n in epoch.plan.peers}

    def collect(self, outputs: Sequence[str]) -> tuple[dict[str, Any], list[Any]]:
        """The ``dag_collect`` reply: every record and transfer, ``received`` (task ->
        [arrival time, bytes]) and ``outputs`` (``[[task, first frame, count], ...]`` for
        the wanted results held here), with those results' frames as held."""
        frames: list[Any] = []
        index = []
        for task in outputs:
            held = self._held.get(task)
            if held is None:
                continue
            index.append([task, len(frames), len(held)])
            frames.extend(held)
        reply = {
            "status": "ok",
            "records": [dict(r) for r in self._records],
            "transfers": [dict(t) for t in self._transfers],
            "received": {k: [t, n] for k, (t, n) in self._received.items()},
            "outputs": index,
        }
        return reply, frames
