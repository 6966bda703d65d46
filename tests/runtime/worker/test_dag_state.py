"""The worker's DAG run state machine, driven by events alone (no threads, no sockets)."""

from __future__ import annotations

from collections.abc import Sequence

from edgeoffload.runtime.worker.dag_state import (
    CancelTask,
    DagRunState,
    DuplicateResult,
    Go,
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
    TaskCancelled,
    TaskFailed,
    TaskFinished,
    TaskLost,
    Tick,
    WakeAt,
)
from edgeoffload.runtime.worker.jobs import Job

FN = (None, "operator", "add")
PEERS = {"n1": "tcp://10.0.0.1:1", "n2": "tcp://10.0.0.2:1", "n3": "tcp://10.0.0.3:1"}
ERROR = {
    "status": "error",
    "type": "builtins.ZeroDivisionError",
    "message": "division by zero",
    "traceback": "Traceback ...",
    "worker": "w1",
}


def task(
    task_id: str,
    inputs: Sequence[str] = (),
    release: float = 0.0,
    send: Sequence[tuple[str, float]] = (),
) -> PlannedTask:
    return PlannedTask(
        task_id, FN, tuple(inputs), (f"args of {task_id}".encode(),), release, tuple(send)
    )


def plan(
    epoch: int,
    *tasks: PlannedTask,
    t0: float | None = None,
    forward: Sequence[tuple[str, tuple[tuple[str, float], ...]]] = (),
    peers: dict[str, str] | None = None,
) -> Plan:
    return Plan(
        epoch, "n1", tuple(tasks), PEERS if peers is None else peers, ("h1",), tuple(forward), t0
    )


def job(planned: PlannedTask, inputs: Sequence[Sequence[object]] = ()) -> Job:
    return Job(
        kind="task",
        owner="alice",
        fn=FN,
        bundles=("h1",),
        frames=planned.payload,
        inputs=list(inputs),
        label=planned.id,
    )


def test_chain_runs_in_plan_order_after_go() -> None:
    """A first plan waits for go; then each task starts when the previous one finished,
    with its predecessor's frames as input, and the records say so in order."""
    a, b = task("a"), task("b", inputs=["a"])
    state = DagRunState("alice")
    assert state.handle(PlanReceived(plan(1, a, b), now=10.0)) == [Notify()]
    assert state.wait_reply(1) is None
    assert state.handle(Go(1, t0=10.0, now=10.0)) == [StartTask(1, "a", job(a))]
    assert state.status_reply(1)[0]["current"] == "a"
    out = state.handle(TaskFinished(1, "a", [b"ra"], 10.0, 10.5))
    assert out == [StartTask(1, "b", job(b, [[b"ra"]]))]
    assert state.handle(TaskFinished(1, "b", [b"rb"], 10.5, 11.0)) == [Notify()]
    reply, frames = state.wait_reply(1) or ({}, [])
    assert reply["status"] == "done"
    assert reply["current"] is None
    assert reply["push_failed"] == {}
    assert reply["records"] == [
        {"task": "a", "node": "n1", "epoch": 1, "start": 10.0, "finish": 10.5, "seq": 1},
        {"task": "b", "node": "n1", "epoch": 1, "start": 10.5, "finish": 11.0, "seq": 2},
    ]
    assert frames == []
    assert [r["task"] for r in state.status_reply(1, records_from=1)[0]["records"]] == ["b"]
    assert state.held() == ["a", "b"]


def test_fork_pushes_to_every_consumer_node_earliest_needed_first() -> None:
    """A finished result is pushed to each node needing it, the earliest-needed first; a
    node without an address and a failed push show in push_failed, transfers are kept."""
    a = task("a", send=[("n2", 5.0), ("n3", 1.0), ("n9", 2.0)])
    state = DagRunState("alice")
    assert state.handle(PlanReceived(plan(1, a, task("b"), t0=0.0), now=0.0)) == [
        Notify(),
        StartTask(1, "a", job(a)),
    ]
    out = state.handle(TaskFinished(1, "a", [b"ra"], 0.0, 1.0))
    assert out == [
        Push("a", "n3", PEERS["n3"], 1.0),
        Push("a", "n2", PEERS["n2"], 5.0),
        Notify(),
        StartTask(1, "b", job(task("b"))),
    ]
    assert state.handle(PushFinished("a", "n3", 1.0, 1.25, 300)) == []
    assert state.handle(PushFinished("a", "n2", 1.0, 1.5, 0, "ConnectionError: down")) == [Notify()]
    reply, _ = state.wait_reply(1) or ({}, [])
    assert reply["status"] == "running"
    assert reply["push_failed"] == {"n2": "pushing 'a' to n2: ConnectionError: down"}
    assert reply["transfers"] == [
        {"task": "a", "source": "n1", "target": "n3", "start": 1.0, "end": 1.25, "bytes": 300,
         "ok": True},
        {"task": "a", "source": "n1", "target": "n2", "start": 1.0, "end": 1.5, "bytes": 0,
         "ok": False},
    ]  # fmt: skip
    # n9 has no address: reported, but not a node of the epoch's peers, so not in the reply
    assert "n9" not in reply["push_failed"]
    assert state.result("a") == [b"ra"]


def test_release_time_gates_the_start() -> None:
    """A task does not start before t0 + release: the machine asks to be woken then, once,
    and starts it on the tick that reaches it."""
    a = task("a", release=2.0)
    state = DagRunState("alice")
    state.handle(PlanReceived(plan(1, a), now=100.0))
    assert state.handle(Go(1, t0=100.0, now=100.5)) == [WakeAt(102.0)]
    assert state.handle(ResultArrived("other", [b"x"], now=100.7)) == []  # asked already
    assert state.handle(Tick(101.9)) == [WakeAt(102.0)]  # early tick: ask again
    assert state.handle(Tick(102.0)) == [StartTask(1, "a", job(a))]


def test_a_result_that_arrives_before_its_plan_is_kept() -> None:
    """A pushed result is held even before the plan that needs it, which then starts at
    once; collect reports its arrival and returns its frames as held."""
    state = DagRunState("alice")
    frames = [bytearray(b"pickle"), bytearray(b"buffer!")]
    assert state.handle(ResultArrived("x", frames, now=5.0)) == []
    assert state.held() == ["x"]
    b = task("b", inputs=["x"])
    out = state.handle(PlanReceived(plan(1, b, t0=5.0), now=5.5))
    assert out == [Notify(), StartTask(1, "b", job(b, [frames]))]
    reply, out_frames = state.collect(["x", "missing"])
    assert reply["received"] == {"x": [5.0, 13]}
    assert reply["outputs"] == [["x", 0, 2]]
    assert out_frames[0] is frames[0]
    assert out_frames[1] is frames[1]


def test_a_failing_task_ends_the_epoch_with_its_error() -> None:
    """A failed task ends its epoch: nothing after it starts, and the wait reply carries
    its error, the task's id and the pickled exception."""
    a, b = task("a"), task("b")
    state = DagRunState("alice")
    state.handle(PlanReceived(plan(1, a, b, t0=0.0), now=0.0))
    assert state.handle(TaskFailed(1, "a", ERROR, [b"exc"], 0.0, 0.5)) == [Notify()]
    reply, frames = state.wait_reply(1) or ({}, [])
    assert reply["status"] == "error"
    assert reply["task"] == "a"
    assert reply["type"] == "builtins.ZeroDivisionError"
    assert reply["message"] == "division by zero"
    assert reply["records"][0]["error"] is True
    assert frames == [b"exc"]
    assert state.handle(TaskFinished(1, "b", [b"rb"], 0.5, 1.0)) == []  # never started
    assert state.held() == []


def test_a_lost_task_is_started_once_more_then_fails() -> None:
    """A task whose process died starts again once; a second loss ends the epoch."""
    a = task("a")
    state = DagRunState("alice")
    state.handle(PlanReceived(plan(1, a, t0=0.0), now=0.0))
    assert state.handle(TaskLost(1, "a", ERROR, [], 0.0, 0.1)) == [StartTask(1, "a", job(a))]
    assert state.status(1) == "running"
    assert state.handle(TaskLost(1, "a", ERROR, [], 0.1, 0.2)) == [Notify()]
    assert state.status(1) == "error"


def test_stop_lets_the_running_task_finish_and_starts_nothing_more() -> None:
    """A stop during a task: it finishes, its result is held and pushed, the epoch stops
    without starting the next task."""
    a, b = task("a", send=[("n2", 1.0)]), task("b")
    state = DagRunState("alice")
    state.handle(PlanReceived(plan(1, a, b, t0=0.0), now=0.0))
    assert state.handle(StopRequested(1)) == []
    assert state.status(1) == "running"
    assert state.wait_reply(1) is None
    out = state.handle(TaskFinished(1, "a", [b"ra"], 0.0, 1.0))
    assert out == [Push("a", "n2", PEERS["n2"], 1.0), Notify()]
    assert state.status(1) == "stopped"
    assert state.held() == ["a"]


def test_an_overdue_stop_cancels_the_running_task() -> None:
    """When the stop's wait runs out the running job is cancelled, the epoch stops at once
    and the cancellation's late report changes nothing."""
    state = DagRunState("alice")
    state.handle(PlanReceived(plan(1, task("a"), task("b"), t0=0.0), now=0.0))
    state.handle(StopRequested(1))
    assert state.handle(StopOverdue(1)) == [CancelTask(1, "a"), Notify()]
    assert state.status(1) == "stopped"
    assert state.handle(TaskCancelled(1, "a", ERROR, [], 0.0, 3.0)) == []
    assert state.status_reply(1)[0]["records"] == []


def test_a_cancel_nobody_asked_for_is_an_error() -> None:
    """A job cancelled without a stop ends the epoch with the error the shell gave."""
    state = DagRunState("alice")
    state.handle(PlanReceived(plan(1, task("a"), t0=0.0), now=0.0))
    assert state.handle(TaskCancelled(1, "a", ERROR, [], 0.0, 1.0)) == [Notify()]
    assert state.status_reply(1)[0]["status"] == "error"


def test_a_replan_is_a_new_epoch_keeping_held_results() -> None:
    """After a stop a new plan is accepted: held results stay (and feed its tasks), push
    failures are cleared, forward entries push held results on, an unheld one fails."""
    state = DagRunState("alice")
    state.handle(PlanReceived(plan(1, task("a", send=[("n2", 1.0)]), task("x"), t0=0.0), 0.0))
    state.handle(StopRequested(1))
    state.handle(TaskFinished(1, "a", [b"ra"], 0.0, 1.0))
    state.handle(PushFinished("a", "n2", 1.0, 1.1, 0, "ConnectionError: down"))
    assert state.status_reply(1)[0]["push_failed"] != {}
    b = task("b", inputs=["a"])
    forward = [("a", (("n3", 0.5),)), ("zz", (("n3", 0.0),))]
    out = state.handle(PlanReceived(plan(2, b, t0=0.0, forward=forward), now=2.0))
    assert out == [
        Notify(),
        Push("a", "n3", PEERS["n3"], 0.5),
        StartTask(2, "b", job(b, [[b"ra"]])),
    ]
    assert state.status(1) == "unknown"
    assert state.wait_reply(1) == ({"status": "unknown"}, [])
    reply, _ = state.status_reply(2)
    assert reply["push_failed"] == {"n3": "result of 'zz' is not held here"}
    assert [r["epoch"] for r in reply["records"]] == [1]  # the run's records are kept


def test_duplicate_results_are_ignored() -> None:
    """Only the first result of a task is accepted; a second is reported and dropped."""
    state = DagRunState("alice")
    assert state.handle(ResultArrived("x", [b"first"], now=1.0)) == []
    assert state.handle(ResultArrived("x", [b"second!"], now=2.0)) == [DuplicateResult("x")]
    assert state.result("x") == [b"first"]
    assert state.collect([])[0]["received"] == {"x": [1.0, 5]}


def test_a_plan_while_an_epoch_runs_is_refused() -> None:
    """A new plan while the epoch runs is refused, leaving that epoch as it was; a go for
    an epoch that is not here is refused too."""
    state = DagRunState("alice")
    state.handle(PlanReceived(plan(1, task("a"), t0=0.0), now=0.0))
    assert state.handle(PlanReceived(plan(2, task("b"), t0=0.0), now=0.5)) == [
        Refuse("epoch 1 still runs")
    ]
    assert state.status(1) == "running"
    assert state.status_reply(1)[0]["current"] == "a"
    assert state.handle(Go(2, t0=1.0, now=1.0)) == [Refuse("no such plan here")]


def test_release_cancels_the_running_task_and_forgets_everything() -> None:
    """A release cancels the running job, drops the held results and ignores later
    events."""
    state = DagRunState("alice")
    state.handle(ResultArrived("x", [b"rx"], now=0.0))
    state.handle(PlanReceived(plan(1, task("a"), t0=0.0), now=0.0))
    assert state.handle(Released()) == [CancelTask(1, "a"), Notify()]
    assert state.released
    assert state.held() == []
    assert state.status(1) == "unknown"
    assert state.handle(ResultArrived("y", [b"ry"], now=1.0)) == []
    assert state.held() == []
