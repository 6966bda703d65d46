"""The worker side of scheduled DAGs: run this node's timeline in order, push results on.

A session running a DAG (:mod:`edgeoffload.runtime.dag`) sends every worker its *plan*:
the tasks the schedule put on that node, in the schedule's order, each with the ids of its
inputs, its release time and the nodes its result must be sent to. The worker runs them
one after another, exactly in that order (the list schedulers treat a node as one
processor): a task starts when the previous one has finished, every input has arrived and
its request has arrived. When a task finishes its result stays here (a consumer on this
node gets it at no cost) and is pushed, pickled once, straight to every other node that
needs it (the cost model's transfer: sent at the producer's finish, worker to worker,
never through the client).

Operations (messages on the direct call channel, ``op`` in the header):

================  =================================================================
``dag_plan``      this node's part of a run (one *epoch*; a re-plan is a new epoch)
``dag_go``        start the epoch at time ``t0`` (a first plan waits for it)
``dag_put``       a peer's result for a run (pushed by the producer)
``dag_wait``      block until the epoch finishes, fails, stops or ``timeout`` passes
``dag_stop``      stop starting tasks of an epoch; wait for the running one; say what
                  results this node holds (the session re-plans after a failure)
``dag_collect``   the run's records (executions, transfers) and requested results
``dag_release``   forget the run
``dag_clock``     this worker's clock (``time.time()``), for the session's offsets
``dag_link``      measure round trip and bandwidth to a peer (calibration)
``dag_call``      run one function here, now (calibration kernels, pinned calls)
================  =================================================================

A run's results and records live in memory until ``dag_release`` (the session always
sends it) or until the client is dropped (it left or stopped heartbeating).
"""

from __future__ import annotations

import contextlib
import heapq
import importlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edgeoffload.errors import BundleError
from edgeoffload.runtime.wire.channel import ChannelClient
from edgeoffload.runtime.wire.errors import error_reply
from edgeoffload.runtime.wire.ops import DAG_OPS, OFFLOADED_MARK, Op
from edgeoffload.runtime.wire.protocol import Frames, dumps, loads
from edgeoffload.runtime.worker.kernels import measure_link

if TYPE_CHECKING:
    from edgeoffload.runtime.worker.agent import WorkerAgent
    from edgeoffload.runtime.worker.cache import Namespace

__all__ = ["DagService", "FunctionRef", "resolve_function"]

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], list[bytearray]], tuple[dict[str, Any], Frames]]

FunctionRef = tuple[str | None, str, str]
"""How a plan names a function: (bundle hash or ``None`` for installed code, module, qualname)."""

_PUSH_ATTEMPTS = 3  # a push to a peer is tried this many times before it is reported failed
_PUSH_TIMEOUT = 120.0  # seconds for one push (a large tensor on a slow link)


def resolve_function(
    ref: Sequence[Any], namespace_of: Callable[[str], Namespace]
) -> Callable[..., Any]:
    """The callable a plan names: from a client's bundle, or imported by name.

    Offloaded functions (``@offload``) are unwrapped to the function they mark, so that a
    task runs the user's code here and is never offloaded a second time.
    """
    bundle, module, qualname = ref[0], str(ref[1]), str(ref[2])
    if bundle:
        target: Any = namespace_of(str(bundle)).resolve(module, qualname)
    else:
        target = importlib.import_module(module)
        for part in qualname.split("."):
            if isinstance(target, type) and part in target.__dict__:
                target = target.__dict__[part]
            else:
                target = getattr(target, part)
    if getattr(target, OFFLOADED_MARK, False):
        target = target.__wrapped__
    if isinstance(target, staticmethod):
        target = target.__func__
    if not callable(target):
        raise TypeError(f"{module}:{qualname} is not callable")
    return target  # type: ignore[no-any-return]


def _renamer(namespaces: Sequence[Namespace]) -> Callable[[str], str]:
    """Map a client's module name to this worker's private name for it (see cache.py)."""

    def rename(module: str) -> str:
        for namespace in namespaces:
            if module in namespace.modules:
                return namespace.worker_name(module)
        for namespace in namespaces:
            if module.partition(".")[0] in namespace.top_names:
                return namespace.worker_name(module)
        return module

    return rename


def _targets(items: Sequence[Any]) -> tuple[tuple[str, float], ...]:
    """``[[node, when needed], ...]`` (or bare node names) as pairs."""
    out = []
    for item in items:
        if isinstance(item, str):
            out.append((item, 0.0))
        else:
            out.append((str(item[0]), float(item[1])))
    return tuple(out)


class _Sender:
    """One thread sending results to one destination, the earliest-needed first."""

    def __init__(self, send: Callable[[str], None], label: str) -> None:
        self._send = send
        self._heap: list[tuple[float, int, str]] = []
        self._count = 0
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(
            target=self._loop, name=f"edgeoffload-dag-push-{label}", daemon=True
        )
        self._thread.start()

    def put(self, needed: float, task_id: str) -> None:
        with self._cond:
            self._count += 1
            heapq.heappush(self._heap, (needed, self._count, task_id))
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._heap and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                _, _, task_id = heapq.heappop(self._heap)
            try:
                self._send(task_id)
            except Exception:  # _send reports its own failures; never let the thread die
                logger.exception("edgeoffload: pushing %s failed", task_id)


@dataclass
class _Task:
    id: str
    function: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    inputs: tuple[str, ...]
    release: float
    send: tuple[tuple[str, float], ...]  # node, when it needs the result (s after t0)


@dataclass
class _Epoch:
    number: int
    t0: float | None  # None until the session says go
    tasks: list[_Task]
    forward: list[tuple[str, tuple[tuple[str, float], ...]]]
    peers: dict[str, str]
    state: str = "running"  # running | done | error | stopped
    stop: bool = False
    current: str | None = None
    thread: threading.Thread | None = None
    error: tuple[dict[str, Any], Frames] | None = None


@dataclass
class _Run:
    client: str
    run: str
    node: str = ""
    cond: threading.Condition = field(default_factory=threading.Condition)
    results: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, list[bytearray]] = field(default_factory=dict)
    received: dict[str, tuple[float, int]] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    transfers: list[dict[str, Any]] = field(default_factory=list)
    push_failed: dict[str, str] = field(default_factory=dict)
    pickled: dict[str, Frames] = field(default_factory=dict)
    rename: Callable[[str], str] | None = None
    epoch: _Epoch | None = None
    pushes: dict[str, _Sender] = field(default_factory=dict)  # one per destination
    sequence: int = 0

    def holds(self, task: str) -> bool:
        return task in self.results or task in self.raw

    def held(self) -> list[str]:
        return sorted(set(self.results) | set(self.raw))


class DagService:
    """Scheduled-DAG execution inside one worker (created by its :class:`WorkerAgent`).

    Parameters
    ----------
    agent
        The worker's agent: its name, code cache and call slots.
    peer_ssl_context
        Client-side TLS context for pushing to other workers' channels (the worker's
        certificate), or ``None`` on an insecure cluster.
    """

    def __init__(self, agent: WorkerAgent, peer_ssl_context: Any = None) -> None:
        self.agent = agent
        self.peer_ssl_context = peer_ssl_context
        self._runs: dict[tuple[str, str], _Run] = {}
        self._peers: dict[str, ChannelClient] = {}
        self._lock = threading.Lock()
        self._closed = False

    # ---------------------------------------------------------------- plumbing
    def handler(self, op: Op) -> Handler:
        """The handler of DAG operation ``op`` (never raises: failures go in the reply)."""
        if op not in DAG_OPS:
            raise ValueError(f"{op} is not a DAG operation")
        method: Handler = getattr(self, f"_op_{op.value[4:]}")

        def handle(
            header: dict[str, Any], frames: list[bytearray]
        ) -> tuple[dict[str, Any], Frames]:
            try:
                return method(header, frames)
            except BundleError as exc:
                return {"status": "refused", "error": f"worker {self.agent.name}: {exc}"}, []
            except Exception as exc:  # a malformed message or a bug: say so to the caller
                logger.exception("edgeoffload %s failed", op)
                return {
                    "status": "refused",
                    "error": f"worker {self.agent.name}: {op}: {type(exc).__name__}: {exc}",
                }, []

        return handle

    def peer(self, address: str) -> ChannelClient:
        with self._lock:
            channel = self._peers.get(address)
            if channel is None:
                channel = ChannelClient(address, self.peer_ssl_context)
                self._peers[address] = channel
            return channel

    def _run(self, header: Mapping[str, Any], create: bool = True) -> _Run | None:
        key = (str(header["client"]), str(header["run"]))
        with self._lock:
            run = self._runs.get(key)
            if run is None and create and not self._closed:
                run = _Run(key[0], key[1])
                self._runs[key] = run
            return run

    def drop_client(self, client: str) -> None:
        """Forget every run of ``client`` (it left)."""
        with self._lock:
            keys = [k for k in self._runs if k[0] == client]
            runs = [self._runs.pop(k) for k in keys]
        for run in runs:
            self._forget(run)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            runs = list(self._runs.values())
            self._runs.clear()
            peers = list(self._peers.values())
            self._peers.clear()
        for run in runs:
            self._forget(run)
        for channel in peers:
            channel.close()

    def _forget(self, run: _Run) -> None:
        with run.cond:
            if run.epoch is not None:
                run.epoch.stop = True
            run.results.clear()
            run.raw.clear()
            run.pickled.clear()
            run.cond.notify_all()
            pushes = list(run.pushes.values())
            run.pushes.clear()
        for sender in pushes:
            sender.close()

    # ---------------------------------------------------------------- plans
    def _op_plan(
        self, header: Mapping[str, Any], frames: list[bytearray]
    ) -> tuple[dict[str, Any], Frames]:
        run = self._run(header)
        assert run is not None
        client = run.client
        namespaces = [self.agent.cache.namespace(client, str(h)) for h in header.get("bundles", [])]
        rename = _renamer(namespaces)

        def namespace_of(digest: str) -> Namespace:
            return self.agent.cache.namespace(client, digest)

        tasks = []
        for item in header["tasks"]:
            first, count = item["payload"]
            args, kwargs = loads(frames[first : first + count], rename=rename)
            tasks.append(
                _Task(
                    str(item["id"]),
                    resolve_function(item["fn"], namespace_of),
                    tuple(args),
                    dict(kwargs),
                    tuple(str(i) for i in item["inputs"]),
                    float(item.get("release", 0.0)),
                    _targets(item.get("send", ())),
                )
            )
        epoch = _Epoch(
            int(header["epoch"]),
            None if header.get("t0") is None else float(header["t0"]),
            tasks,
            [(str(t), _targets(nodes)) for t, nodes in header.get("forward", [])],
            {str(k): str(v) for k, v in dict(header.get("peers", {})).items()},
        )
        with run.cond:
            previous = run.epoch
            if previous is not None and previous.state == "running":
                return {
                    "status": "refused",
                    "error": f"worker {self.agent.name}: epoch {previous.number} still runs",
                }, []
            run.node = str(header.get("node", self.agent.name))
            run.rename = rename
            run.push_failed.clear()  # failures of earlier epochs are the session's past
            # inputs that arrived before the plan (and its code) are unpickled now
            for task_id in list(run.raw):
                run.results[task_id] = loads(run.raw.pop(task_id), rename=rename)
            run.epoch = epoch
        for task_id, targets in epoch.forward:
            for node, needed in targets:
                self._push(run, epoch, task_id, node, needed)
        epoch.thread = threading.Thread(
            target=self._execute,
            args=(run, epoch),
            name=f"edgeoffload-dag-{run.run[:8]}-{epoch.number}",
            daemon=True,
        )
        epoch.thread.start()
        return {"status": "ok", "tasks": len(tasks)}, []

    def _op_go(
        self, header: Mapping[str, Any], frames: list[bytearray]
    ) -> tuple[dict[str, Any], Frames]:
        run = self._run(header, create=False)
        with contextlib.ExitStack() as stack:
            if run is not None:
                stack.enter_context(run.cond)
            epoch = run.epoch if run is not None else None
            if run is None or epoch is None or epoch.number != int(header["epoch"]):
                return {"status": "refused", "error": "no such plan here"}, []
            epoch.t0 = float(header["t0"])
            run.cond.notify_all()
        return {"status": "ok"}, []

    def _execute(self, run: _Run, epoch: _Epoch) -> None:
        with run.cond:  # a first plan waits for the session's go: every node starts at t0
            while epoch.t0 is None and not epoch.stop:
                run.cond.wait()
        for task in epoch.tasks:
            with run.cond:
                while True:
                    if epoch.stop:
                        epoch.state = "stopped"
                        run.cond.notify_all()
                        return
                    missing = [i for i in task.inputs if not run.holds(i)]
                    wait = (epoch.t0 or 0.0) + task.release - time.time()
                    if not missing and wait <= 0:
                        break
                    run.cond.wait(None if missing else wait)
                epoch.current = task.id
                rename = run.rename
                pending = {i: run.raw.pop(i) for i in task.inputs if i in run.raw}
            for task_id, raw in pending.items():  # unpickle outside the lock
                value = loads(raw, rename=rename)
                with run.cond:
                    run.results[task_id] = value
            with run.cond:
                inputs = [run.results[i] for i in task.inputs]
            with self.agent.slot():
                start = time.time()
                try:
                    result = task.function(*inputs, *task.args, **task.kwargs)
                except BaseException as exc:
                    finish = time.time()
                    self._fail(run, epoch, task, exc, start, finish)
                    return
                finish = time.time()
            with run.cond:
                run.results[task.id] = result
                run.sequence += 1
                run.records.append(
                    {
                        "task": task.id,
                        "node": run.node,
                        "epoch": epoch.number,
                        "start": start,
                        "finish": finish,
                        "seq": run.sequence,
                    }
                )
                epoch.current = None
                run.cond.notify_all()
            for node, needed in task.send:
                self._push(run, epoch, task.id, node, needed)
        with run.cond:
            epoch.state = "done"
            run.cond.notify_all()

    def _fail(
        self, run: _Run, epoch: _Epoch, task: _Task, exc: BaseException, start: float, end: float
    ) -> None:
        header, out = error_reply(exc, f"task {task.id}", self.agent.name)
        reply = {**header, "task": task.id}
        with run.cond:
            run.records.append(
                {
                    "task": task.id,
                    "node": run.node,
                    "epoch": epoch.number,
                    "start": start,
                    "finish": end,
                    "seq": run.sequence + 1,
                    "error": True,
                }
            )
            epoch.error = (reply, out)
            epoch.state = "error"
            epoch.current = None
            run.cond.notify_all()

    # ---------------------------------------------------------------- transfers
    def _push(self, run: _Run, epoch: _Epoch, task_id: str, node: str, needed: float = 0.0) -> None:
        address = epoch.peers.get(node)
        if address is None:
            with run.cond:
                run.push_failed[node] = f"no channel address for node {node!r}"
                run.cond.notify_all()
            return
        # one sender per destination, taking the result needed there first first: a slow
        # link (or a sender short of CPU) then delivers what the next task waits for,
        # instead of spreading itself over every result at once
        with run.cond:
            sender = run.pushes.get(node)
            if sender is None:
                sender = _Sender(lambda t: self._send(run, t, node, address), f"{node}")
                run.pushes[node] = sender
        sender.put(needed, task_id)

    def _send(self, run: _Run, task_id: str, node: str, address: str) -> None:
        start = time.time()
        with run.cond:
            frames = run.pickled.get(task_id)
            value = run.results.get(task_id, None) if frames is None else None
            has_value = task_id in run.results
        if frames is None:
            if not has_value:
                with run.cond:
                    run.push_failed[node] = f"result of {task_id!r} is not held here"
                    run.cond.notify_all()
                return
            frames = dumps(value)
            with run.cond:
                run.pickled[task_id] = frames
        header = {"op": Op.DAG_PUT, "client": run.client, "run": run.run, "task": task_id}
        error = ""
        nbytes = 0
        for attempt in range(_PUSH_ATTEMPTS):
            try:
                reply, _, nbytes, _ = self.peer(address).request(header, frames, _PUSH_TIMEOUT)
                if reply.get("status") == "ok":
                    error = ""
                    break
                error = str(reply.get("error", reply))
            except (OSError, ConnectionError, TimeoutError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            if attempt + 1 < _PUSH_ATTEMPTS:
                time.sleep(0.05 * (attempt + 1))
        end = time.time()
        with run.cond:
            run.transfers.append(
                {
                    "task": task_id,
                    "source": run.node,
                    "target": node,
                    "start": start,
                    "end": end,
                    "bytes": nbytes,
                    "ok": not error,
                }
            )
            if error:
                run.push_failed[node] = f"pushing {task_id!r} to {node}: {error}"
            run.cond.notify_all()

    def _op_put(
        self, header: Mapping[str, Any], frames: list[bytearray]
    ) -> tuple[dict[str, Any], Frames]:
        run = self._run(header)
        if run is None:
            return {"status": "refused", "error": "this worker is closing"}, []
        task_id = str(header["task"])
        nbytes = sum(len(f) for f in frames)
        with run.cond:
            rename = run.rename
            if run.holds(task_id):
                return {"status": "ok", "duplicate": True}, []
        if rename is not None:  # the plan is here: unpickle now, as part of the transfer
            value = loads(frames, rename=rename)
            with run.cond:
                run.results[task_id] = value
                run.received[task_id] = (time.time(), nbytes)
                run.cond.notify_all()
        else:
            with run.cond:
                run.raw[task_id] = frames
                run.received[task_id] = (time.time(), nbytes)
                run.cond.notify_all()
        return {"status": "ok"}, []

    # ---------------------------------------------------------------- the session's view
    def _op_wait(
        self, header: Mapping[str, Any], frames: list[bytearray]
    ) -> tuple[dict[str, Any], Frames]:
        run = self._run(header, create=False)
        if run is None:
            return {"status": "unknown"}, []
        number = int(header["epoch"])
        deadline = time.monotonic() + float(header.get("timeout", 1.0))
        records_from = int(header.get("records_from", 0))
        transfers_from = int(header.get("transfers_from", 0))
        with run.cond:
            while True:
                epoch = run.epoch
                if epoch is None or epoch.number != number:
                    return {"status": "unknown"}, []
                failed = {n: e for n, e in run.push_failed.items() if n in epoch.peers}
                if epoch.state != "running" or failed:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                run.cond.wait(left)
            reply: dict[str, Any] = {
                "status": epoch.state,
                "current": epoch.current,
                "push_failed": failed,
                "records": run.records[records_from:],
                "transfers": run.transfers[transfers_from:],
            }
            if epoch.error is not None:
                error, out = epoch.error
                return {**reply, **error, "status": "error"}, out
        return reply, []

    def _op_stop(
        self, header: Mapping[str, Any], frames: list[bytearray]
    ) -> tuple[dict[str, Any], Frames]:
        run = self._run(header, create=False)
        if run is None:
            return {"status": "ok", "held": []}, []
        number = int(header["epoch"])
        timeout = float(header.get("timeout", 600.0))
        with run.cond:
            epoch = run.epoch
            thread = epoch.thread if epoch is not None and epoch.number == number else None
            if epoch is not None and epoch.number == number:
                epoch.stop = True
                run.cond.notify_all()
        if thread is not None:  # the running task, if any, finishes first
            thread.join(timeout)
        with run.cond:
            return {"status": "ok", "held": run.held()}, []

    def _op_collect(
        self, header: Mapping[str, Any], frames: list[bytearray]
    ) -> tuple[dict[str, Any], Frames]:
        run = self._run(header, create=False)
        if run is None:
            return {"status": "unknown"}, []
        wanted = [str(t) for t in header.get("outputs", [])]
        out: Frames = []
        index = []
        with run.cond:
            records = list(run.records)
            transfers = list(run.transfers)
            received = {k: list(v) for k, v in run.received.items()}
            values = {t: run.results[t] for t in wanted if t in run.results}
            raw = {t: run.raw[t] for t in wanted if t in run.raw}
        for task_id in wanted:
            if task_id in values:
                frames_out = run.pickled.get(task_id) or dumps(values[task_id])
            elif task_id in raw:
                frames_out = list(raw[task_id])
            else:
                continue
            index.append([task_id, len(out), len(frames_out)])
            out.extend(frames_out)
        reply = {
            "status": "ok",
            "records": records,
            "transfers": transfers,
            "received": received,
            "outputs": index,
        }
        return reply, out

    def _op_release(
        self, header: Mapping[str, Any], frames: list[bytearray]
    ) -> tuple[dict[str, Any], Frames]:
        key = (str(header["client"]), str(header["run"]))
        with self._lock:
            run = self._runs.pop(key, None)
        if run is not None:
            self._forget(run)
        return {"status": "ok", "released": run is not None}, []

    # ---------------------------------------------------------------- measurements
    def _op_clock(
        self, header: Mapping[str, Any], frames: list[bytearray]
    ) -> tuple[dict[str, Any], Frames]:
        return {"status": "ok", "time": time.time()}, []

    def _op_link(
        self, header: Mapping[str, Any], frames: list[bytearray]
    ) -> tuple[dict[str, Any], Frames]:
        """Round trip and bandwidth from here to the peer at ``address`` (see
        :func:`measure_link`)."""
        channel = self.peer(str(header["address"]))
        timeout = float(header.get("timeout", 30.0))

        def send(payload: list[bytes]) -> None:
            channel.request({"op": Op.PING}, payload, timeout)

        options = {
            k: header[k]
            for k in ("pings", "repeats", "size", "max_size", "min_seconds")
            if k in header
        }
        return {"status": "ok", **measure_link(send, **options)}, []

    def _op_call(
        self, header: Mapping[str, Any], frames: list[bytearray]
    ) -> tuple[dict[str, Any], Frames]:
        """Run one function here now, in a call slot; reply with its result and time."""
        client = str(header["client"])
        bundles = [str(h) for h in header.get("bundles", [])]
        namespaces = [self.agent.cache.namespace(client, h) for h in bundles]

        def namespace_of(digest: str) -> Namespace:
            return self.agent.cache.namespace(client, digest)

        function = resolve_function(header["fn"], namespace_of)
        args, kwargs = loads(frames, rename=_renamer(namespaces))
        with self.agent.slot():
            start = time.perf_counter()
            try:
                result = function(*args, **kwargs)
            except BaseException as exc:
                return error_reply(exc, "the function", self.agent.name)
            compute = time.perf_counter() - start
        return {"status": "ok", "compute": compute, "worker": self.agent.name}, dumps(result)
