"""DagService instances in one process: a fake runner runs jobs in threads, fake peers
hand pushes (copied to bytes, header through JSON) to the other services' ``handle``."""

from __future__ import annotations

import collections
import importlib
import json
import math
import operator
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from edgeoffload.errors import BundleError
from edgeoffload.runtime.wire.errors import error_reply, rebuild_exception
from edgeoffload.runtime.wire.ops import (
    DagCollect,
    DagGo,
    DagPlan,
    DagPut,
    DagRelease,
    DagStop,
    DagWait,
    Message,
    decode,
)
from edgeoffload.runtime.wire.protocol import dumps, loads
from edgeoffload.runtime.worker.dag_service import PUSH_ATTEMPTS, DagService
from edgeoffload.runtime.worker.jobs import Job, JobResult, JobState

OWNER = "alice/s1"
ADDRESSES = {"w1": "tcp://127.0.0.1:9001", "w2": "tcp://127.0.0.1:9002"}
_GATE = threading.Event()  # opened at the end of each test: held jobs' threads end


def hold(seconds: float) -> float:
    """A task that runs until the test ends (or ``seconds`` pass)."""
    _GATE.wait(seconds)
    return seconds


# --------------------------------------------------------------------------- fakes


class FakeHandle:
    def __init__(self, job: Job, runner: FakeRunner) -> None:
        self.job = job
        self.runner = runner
        self._state: JobState = "queued"
        self._result: JobResult | None = None
        self._callbacks: list[Callable[[JobResult], None]] = []
        self._lock = threading.Lock()
        self._done = threading.Event()

    @property
    def state(self) -> JobState:
        return self._state

    def running(self) -> None:
        self._state = "running"

    def finish(self, result: JobResult) -> bool:
        with self._lock:
            if self._result is not None:
                return False
            self._result = result
            self._state = "done"
            callbacks = list(self._callbacks)
        self._done.set()
        for callback in callbacks:
            callback(result)
        return True

    def wait(self, timeout: float | None = None) -> JobResult | None:
        self._done.wait(timeout)
        return self._result

    def cancel(self) -> bool:
        cancelled = self.finish(JobResult("cancelled", {"error": "cancelled"}))
        if cancelled:
            self.runner.cancelled.append(self.job.label)
            self.runner.was_cancelled[self.job.label].set()
        return cancelled

    def add_done_callback(self, callback: Callable[[JobResult], None]) -> None:
        with self._lock:
            if self._result is None:
                self._callbacks.append(callback)
                return
            result = self._result
        callback(result)


class FakeRunner:
    """Runs each job in a thread, unpickling in the thread as a child process would."""

    def __init__(self, lose: Sequence[str] = ()) -> None:
        self.submitted: list[str] = []
        self.cancelled: list[str] = []
        self.started: dict[str, threading.Event] = collections.defaultdict(threading.Event)
        self.was_cancelled: dict[str, threading.Event] = collections.defaultdict(threading.Event)
        self._lose = list(lose)  # labels whose first process "dies"

    def submit(self, job: Job) -> FakeHandle:
        self.submitted.append(job.label)
        handle = FakeHandle(job, self)
        threading.Thread(target=self._run, args=(handle,), daemon=True).start()
        return handle

    def drop_owner(self, owner: str) -> None:
        raise AssertionError("the DAG service leaves the runner's owners to the agent")

    def _run(self, handle: FakeHandle) -> None:
        job = handle.job
        handle.running()
        self.started[job.label].set()
        if job.label in self._lose:
            self._lose.remove(job.label)
            handle.finish(JobResult("lost", {"error": "the process exited with -9"}))
            return
        try:
            assert job.fn is not None
            _, module, qualname = job.fn
            function = getattr(importlib.import_module(module), qualname)
            args, kwargs = loads(job.frames)
            inputs = [loads(frames) for frames in job.inputs]
        except Exception as exc:
            handle.finish(JobResult("refused", {"error": f"{type(exc).__name__}: {exc}"}))
            return
        start = time.perf_counter()
        try:
            value = function(*inputs, *args, **kwargs)
        except Exception as exc:
            header, frames = error_reply(exc, f"task {job.label}", "child")
            compute = time.perf_counter() - start
            handle.finish(JobResult("error", {**header, "compute": compute}, list(frames)))
            return
        compute = time.perf_counter() - start
        handle.finish(JobResult("ok", {"compute": compute, "cold": False}, list(dumps(value))))


class FakePeer:
    def __init__(self, net: FakeNet, address: str) -> None:
        self.net = net
        self.address = address

    def request(
        self, header: dict[str, Any], frames: Sequence[Any] = (), timeout: float | None = None
    ) -> tuple[dict[str, Any], list[bytearray], int, int]:
        self.net.attempts[self.address] += 1
        if self.address in self.net.dead:
            raise ConnectionError(f"connection to {self.address} refused")
        message = decode(json.loads(json.dumps(header)))
        assert isinstance(message, DagPut)
        copied = [bytearray(bytes(memoryview(f))) for f in frames]
        service = self.net.services[self.address]
        reply, out = service.handle(message.owner, message, copied)
        sent = sum(len(f) for f in copied)
        return json.loads(json.dumps(reply)), [bytearray(bytes(f)) for f in out], sent, 0


class FakeNet:
    def __init__(self) -> None:
        self.services: dict[str, DagService] = {}
        self.dead: set[str] = set()
        self.attempts: collections.Counter[str] = collections.Counter()

    def peer(self, address: str) -> FakePeer:
        return FakePeer(self, address)


@pytest.fixture
def net() -> Iterator[FakeNet]:
    _GATE.clear()
    network = FakeNet()
    yield network
    _GATE.set()
    for service in network.services.values():
        service.close()


def start(net: FakeNet, name: str, runner: FakeRunner) -> DagService:
    service = DagService(name, runner, net.peer)
    net.services[ADDRESSES[name]] = service
    return service


# --------------------------------------------------------------------------- helpers


def fn(function: Callable[..., Any] | list[str | None]) -> list[str | None]:
    if isinstance(function, list):
        return function
    return [None, function.__module__, function.__qualname__]


def plan(
    node: str,
    tasks: Sequence[Mapping[str, Any]],
    epoch: int = 1,
    t0: float | None = None,
    run: str = "r1",
) -> tuple[DagPlan, list[Any]]:
    """A plan message as the session builds one: each task's payload in the frames."""
    frames: list[Any] = []
    entries = []
    for item in tasks:
        payload = dumps((tuple(item.get("args", ())), {}))
        entries.append(
            {
                "id": item["id"],
                "fn": fn(item["fn"]),
                "inputs": list(item.get("inputs", [])),
                "payload": [len(frames), len(payload)],
                "release": 0.0,
                "send": [list(s) for s in item.get("send", [])],
            }
        )
        frames.extend(bytes(memoryview(f)) for f in payload)
    message = DagPlan(
        session="s1", run=run, epoch=epoch, node=node, peers=ADDRESSES, tasks=entries, t0=t0
    )
    return message, frames


def call(service: DagService, message: Message, frames: Sequence[Any] = ()) -> dict[str, Any]:
    reply, _ = service.handle(OWNER, message, list(frames))
    return reply


def wait_until_ended(service: DagService, epoch: int = 1, run: str = "r1") -> dict[str, Any]:
    """Long-poll as the session does, gathering records, until the epoch ends."""
    records: list[dict[str, Any]] = []
    transfers: list[dict[str, Any]] = []
    for _ in range(60):
        wait = DagWait(
            session="s1",
            run=run,
            epoch=epoch,
            timeout=1.0,
            records_from=len(records),
            transfers_from=len(transfers),
        )
        reply, frames = service.handle(OWNER, wait, [])
        records += reply.get("records", [])
        transfers += reply.get("transfers", [])
        if reply["status"] != "running" or reply.get("push_failed"):
            return {**reply, "records": records, "transfers": transfers, "frames": frames}
    raise AssertionError("the epoch did not end within a minute")


# --------------------------------------------------------------------------- tests


def test_a_dag_across_two_workers_gives_the_local_results(net: FakeNet) -> None:
    """A fork-join DAG split over two services, results pushed worker to worker as
    frames, collects the same values as running it locally, with records and transfers
    of every execution and push."""
    runner = FakeRunner()
    w1, w2 = start(net, "w1", runner), start(net, "w2", runner)
    plan1, frames1 = plan(
        "w1",
        [
            {"id": "a", "fn": np.arange, "args": (0, 6), "send": [("w2", 0.0)]},
            {"id": "c", "fn": np.add, "inputs": ["a"], "args": (10,)},
            {"id": "d", "fn": np.add, "inputs": ["b", "c"]},
        ],
    )
    plan2, frames2 = plan(
        "w2", [{"id": "b", "fn": np.multiply, "inputs": ["a"], "args": (3,), "send": [("w1", 0.0)]}]
    )
    assert call(w1, plan1, frames1) == {"status": "ok", "tasks": 3}
    assert call(w2, plan2, frames2) == {"status": "ok", "tasks": 1}
    assert runner.submitted == []  # a first plan waits for go
    t0 = time.time()
    for service in (w1, w2):
        assert call(service, DagGo(session="s1", run="r1", epoch=1, t0=t0)) == {"status": "ok"}
    ended1, ended2 = wait_until_ended(w1), wait_until_ended(w2)
    assert ended1["status"] == ended2["status"] == "done"
    reply1, frames = w1.handle(OWNER, DagCollect(session="s1", run="r1", outputs=["d"]), [])
    reply2, _ = w2.handle(OWNER, DagCollect(session="s1", run="r1"), [])

    ((task_id, first, count),) = reply1["outputs"]
    a = np.arange(0, 6)
    np.testing.assert_array_equal(
        loads(frames[first : first + count]), np.add(np.multiply(a, 3), np.add(a, 10))
    )
    assert task_id == "d"
    assert [(r["task"], r["node"], r["epoch"], r["seq"]) for r in ended1["records"]] == [
        ("a", "w1", 1, 1),
        ("c", "w1", 1, 2),
        ("d", "w1", 1, 3),
    ]
    assert all(t0 <= r["start"] <= r["finish"] for r in ended1["records"])
    assert reply1["records"] == ended1["records"]
    pushes = [(t["task"], t["source"], t["target"], t["ok"]) for t in reply1["transfers"]]
    assert pushes == [("a", "w1", "w2", True)]
    pushes = [(t["task"], t["source"], t["target"], t["ok"]) for t in reply2["transfers"]]
    assert pushes == [("b", "w2", "w1", True)]
    assert reply2["transfers"][0]["bytes"] > 0
    assert set(reply1["received"]) == {"b"}
    assert set(reply2["received"]) == {"a"}
    assert sorted(runner.submitted) == ["a", "b", "c", "d"]


def test_a_task_error_and_a_refused_job_come_back_as_the_session_rebuilds_them(
    net: FakeNet,
) -> None:
    """A task that raises ends the epoch with its exception; a job the executor refuses
    ends it with a BundleError carrying the executor's line."""
    runner = FakeRunner()
    w1 = start(net, "w1", runner)
    message, frames = plan("w1", [{"id": "bad", "fn": operator.truediv, "args": (1, 0)}], t0=0.0)
    assert call(w1, message, frames)["status"] == "ok"
    ended = wait_until_ended(w1)
    assert (ended["status"], ended["task"], ended["worker"]) == ("error", "bad", "child")
    assert ended["records"][0]["error"] is True
    exc = rebuild_exception(ended, ended["frames"], "task bad")
    assert isinstance(exc, ZeroDivisionError)

    missing = {"id": "gone", "fn": [None, "operator", "no_such_function"]}
    message, frames = plan("w1", [missing], run="r2", t0=0.0)
    assert call(w1, message, frames)["status"] == "ok"
    ended = wait_until_ended(w1, run="r2")
    assert ended["type"] == "edgeoffload.errors.BundleError"
    assert "no_such_function" in ended["message"]
    assert isinstance(rebuild_exception(ended, ended["frames"], "task gone"), BundleError)


def test_a_lost_job_is_run_once_more(net: FakeNet) -> None:
    """A job whose process died is submitted again, and the epoch then completes."""
    runner = FakeRunner(lose=["a"])
    w1 = start(net, "w1", runner)
    message, frames = plan("w1", [{"id": "a", "fn": operator.add, "args": (2, 3)}], t0=0.0)
    call(w1, message, frames)
    assert wait_until_ended(w1)["status"] == "done"
    assert runner.submitted == ["a", "a"]
    reply, out = w1.handle(OWNER, DagCollect(session="s1", run="r1", outputs=["a"]), [])
    assert reply["outputs"] == [["a", 0, len(out)]]
    assert loads(out) == 5


def test_stop_cancels_a_long_running_job(net: FakeNet) -> None:
    """A stop whose wait runs out cancels the running job (its CPU is freed), starts
    nothing after it, and replies with the results held."""
    runner = FakeRunner()
    w1 = start(net, "w1", runner)
    message, frames = plan(
        "w1",
        [
            {"id": "quick", "fn": operator.add, "args": (1, 1)},
            {"id": "slow", "fn": hold, "args": (60.0,)},
            {"id": "after", "fn": operator.add, "args": (1, 2)},
        ],
        t0=0.0,
    )
    call(w1, message, frames)
    assert runner.started["slow"].wait(10)
    reply = call(w1, DagStop(session="s1", run="r1", epoch=1, timeout=0.05))
    assert reply == {"status": "ok", "held": ["quick"]}
    assert runner.was_cancelled["slow"].wait(10)
    assert runner.cancelled == ["slow"]
    ended = wait_until_ended(w1)
    assert ended["status"] == "stopped"
    assert runner.submitted == ["quick", "slow"]
    # the epoch is over: a re-plan is accepted at once, keeping what is held
    replan, frames = plan("w1", [{"id": "after", "fn": operator.add, "args": (1, 2)}], epoch=2)
    assert call(w1, replan, frames) == {"status": "ok", "tasks": 1}


def test_release_cancels_and_forgets(net: FakeNet) -> None:
    """A release cancels the running job and forgets the run: waits and collects say
    unknown, a late push is refused, a second release finds nothing."""
    runner = FakeRunner()
    w1 = start(net, "w1", runner)
    message, frames = plan(
        "w1",
        [
            {"id": "a", "fn": operator.add, "args": (2, 3)},
            {"id": "slow", "fn": hold, "args": (60.0,)},
        ],
        t0=0.0,
    )
    call(w1, message, frames)
    assert runner.started["slow"].wait(10)
    assert call(w1, DagRelease(session="s1", run="r1")) == {"status": "ok", "released": True}
    assert runner.was_cancelled["slow"].wait(10)
    assert runner.cancelled == ["slow"]
    assert call(w1, DagWait(session="s1", run="r1", epoch=1, timeout=0.0)) == {"status": "unknown"}
    assert call(w1, DagCollect(session="s1", run="r1", outputs=["a"])) == {"status": "unknown"}
    late = call(w1, DagPut(owner=OWNER, run="r1", task="x"), dumps(1))
    assert late["status"] == "refused"
    assert "released" in late["error"]
    assert call(w1, DagRelease(session="s1", run="r1")) == {"status": "ok", "released": False}


def test_runs_are_kept_apart_by_owner_and_duplicates_dropped(net: FakeNet) -> None:
    """A pushed result is held for its owner only, a second push of it is a duplicate,
    and dropping the owner forgets its runs."""
    w1 = start(net, "w1", FakeRunner())
    put = DagPut(owner=OWNER, run="r1", task="x")
    assert w1.handle(OWNER, put, dumps(41)) == ({"status": "ok"}, [])
    assert w1.handle(OWNER, put, dumps(42)) == ({"status": "ok", "duplicate": True}, [])
    other, frames = w1.handle("mallory/s9", DagCollect(session="s9", run="r1", outputs=["x"]), [])
    assert other == {"status": "unknown"}
    reply, frames = w1.handle(OWNER, DagCollect(session="s1", run="r1", outputs=["x"]), [])
    assert reply["received"]["x"][1] == sum(len(f) for f in frames)
    assert loads(frames) == 41
    spoofed = w1.handle("mallory/s9", put, dumps(0))[0]
    assert spoofed["status"] == "refused"
    w1.drop_owner(OWNER)
    assert call(w1, DagCollect(session="s1", run="r1", outputs=["x"])) == {"status": "unknown"}


def test_a_malformed_plan_is_refused_naming_the_field(net: FakeNet) -> None:
    """A plan whose payload lies outside its frames is refused, saying which field."""
    w1 = start(net, "w1", FakeRunner())
    message, frames = plan("w1", [{"id": "a", "fn": operator.add, "args": (1, 2)}])
    reply = call(w1, message, frames[:0])
    assert reply["status"] == "refused"
    assert "dag_plan.tasks[0].payload" in reply["error"]
    assert reply["error"].startswith("worker w1: ")


def test_a_send_entry_must_be_a_node_and_when_it_is_needed(net: FakeNet) -> None:
    """A bare node name in ``send`` is refused as malformed: the session always sends
    ``[node, needed]``."""
    w1 = start(net, "w1", FakeRunner())
    message, frames = plan("w1", [{"id": "a", "fn": operator.add, "args": (1, 2)}])
    message.tasks[0]["send"] = ["w2"]
    reply = call(w1, message, frames)
    assert reply["status"] == "refused"
    assert reply["error"].startswith("worker w1: ")
    assert reply["error"].endswith(
        "dag_plan.tasks[0].send: must be a list of [node, needed], got 'w2'"
    )


@pytest.mark.parametrize("field", ["release", "needed"])
def test_a_time_that_is_not_finite_is_refused(net: FakeNet, field: str) -> None:
    """A NaN or infinite release or push time is refused, as the wire refuses any
    non-finite float: it would start a task at once or break the push order."""
    w1 = start(net, "w1", FakeRunner())
    message, frames = plan("w1", [{"id": "a", "fn": operator.add, "args": (1, 2)}])
    if field == "release":
        message.tasks[0]["release"] = math.nan
        expected = "dag_plan.tasks[0].release: must be a number of seconds, got nan"
    else:
        message.tasks[0]["send"] = [["w2", math.inf]]
        expected = "dag_plan.tasks[0].send: must be a list of [node, needed], got ['w2', inf]"
    reply = call(w1, message, frames)
    assert reply["status"] == "refused"
    assert reply["error"].endswith(expected)


def test_a_push_to_a_dead_peer_is_reported_after_three_attempts(net: FakeNet) -> None:
    """A push whose peer refuses connections is tried three times, then shows in the
    wait reply's push_failed with a failed transfer record."""
    runner = FakeRunner()
    w1 = start(net, "w1", runner)
    net.dead.add(ADDRESSES["w2"])
    message, frames = plan(
        "w1",
        [
            {"id": "a", "fn": operator.add, "args": (2, 3), "send": [("w2", 0.0)]},
            {"id": "slow", "fn": hold, "args": (60.0,)},
        ],
        t0=0.0,
    )
    call(w1, message, frames)
    ended = wait_until_ended(w1)  # answers early: the push failed while "slow" runs
    assert ended["status"] == "running"
    assert ended["current"] == "slow"
    assert list(ended["push_failed"]) == ["w2"]
    assert "ConnectionError" in ended["push_failed"]["w2"]
    assert net.attempts[ADDRESSES["w2"]] == PUSH_ATTEMPTS == 3
    assert [(t["task"], t["target"], t["ok"], t["bytes"]) for t in ended["transfers"]] == [
        ("a", "w2", False, 0)
    ]
    stop = call(w1, DagStop(session="s1", run="r1", epoch=1, timeout=0.0))
    assert stop == {"status": "ok", "held": ["a"]}
    assert runner.was_cancelled["slow"].wait(10)
    assert runner.cancelled == ["slow"]
