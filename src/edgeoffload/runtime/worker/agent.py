"""What runs inside a worker: COFA's *TaskExecutor*, with no Dask in sight.

:class:`WorkerAgent` answers the session's requests: who are you (``hello``), which
bundles do you hold (``has_bundles``), store this bundle (``put_bundle``), time the probe
benchmark (``probe``), run this call (``call``), forget this client (``drop_client``).
The worker plugin (:mod:`edgeoffload.runtime.worker.plugins`) exposes the control plane on
the worker's Dask comm; the agent's direct call channel
(:mod:`edgeoffload.runtime.wire.channel`) serves the rest through one explicit handler
table keyed by :class:`~edgeoffload.runtime.wire.ops.Op` (:attr:`WorkerAgent.handlers`).

A call runs in the thread that received it (the channel) or in the agent's thread pool
(the Dask comm handler), never on the worker's event loop, so heartbeats go on while
user code runs. At most ``nthreads`` calls run at once; the others wait for a slot, and
the wait is reported back so the client's decision engine sees the queue.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from edgeoffload.errors import BundleError
from edgeoffload.runtime.wire.bundles import python_version
from edgeoffload.runtime.wire.channel import ChannelServer
from edgeoffload.runtime.wire.errors import error_reply
from edgeoffload.runtime.wire.ops import DAG_OPS, Op
from edgeoffload.runtime.wire.protocol import PROTOCOL_VERSION, Frames, dumps, loads
from edgeoffload.runtime.worker.cache import CodeCache
from edgeoffload.runtime.worker.dag_service import DagService
from edgeoffload.runtime.worker.description import WorkerDescription
from edgeoffload.runtime.worker.kernels import probe_benchmark

__all__ = ["WorkerAgent"]

Handler = Callable[[dict[str, Any], list[bytearray]], tuple[dict[str, Any], Frames]]


@dataclass
class _Load:
    running: int = 0
    waiting: int = 0
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class WorkerAgent:
    """The edgeoffload side of one worker process.

    Parameters
    ----------
    name
        The worker's name (as the scheduler knows it).
    description
        What the worker says about itself.
    nthreads
        Calls that may run at once.
    host
        Interface for the direct call channel (the worker's own).
    ssl_context
        Server TLS context of the cluster, or ``None`` on an insecure cluster.
    peer_ssl_context
        Client TLS context with the worker's certificate, for pushing DAG results to
        other workers' channels (``None`` on an insecure cluster).
    """

    def __init__(
        self,
        name: str,
        description: WorkerDescription,
        nthreads: int = 1,
        host: str = "127.0.0.1",
        ssl_context: Any = None,
        peer_ssl_context: Any = None,
    ) -> None:
        self.name = name
        self.description = description
        self.nthreads = max(1, int(nthreads))
        self.cache = CodeCache(name)
        self._slots = threading.Semaphore(self.nthreads)
        self._load = _Load()
        self.executor = ThreadPoolExecutor(
            max_workers=self.nthreads + 4, thread_name_prefix="edgeoffload-call"
        )
        self.dags = DagService(self, peer_ssl_context)
        self.handlers: dict[Op, Handler] = {
            Op.CALL: self.call,
            Op.PING: self._ping,
            Op.PROBE: self._probe,
        }
        for op in DAG_OPS:
            self.handlers[op] = self.dags.handler(op)
        self.channel = ChannelServer(host, ssl_context, self.handle_channel)
        self.channel_address = self.channel.start()

    def close(self) -> None:
        self.channel.close()
        self.dags.close()
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.cache.close()

    # ---------------------------------------------------------------- control plane
    def hello(self, client: str, python: str, protocol: int) -> dict[str, Any]:
        """Greet a client: refuse it on a Python or protocol mismatch, else describe us."""
        if python != python_version():
            return {
                "ok": False,
                "reason": (
                    f"worker {self.name} runs Python {python_version()} but the client runs "
                    f"Python {python}: offloaded code and pickles need the same major.minor"
                ),
            }
        if protocol != PROTOCOL_VERSION:
            return {
                "ok": False,
                "reason": (
                    f"worker {self.name} speaks edgeoffload protocol {PROTOCOL_VERSION}, the "
                    f"client {protocol}: install the same edgeoffload version on both"
                ),
            }
        return {
            "ok": True,
            "name": self.name,
            "pid": os.getpid(),
            "python": python_version(),
            "nthreads": self.nthreads,
            "channel": self.channel_address,
            "cache_dir": str(self.cache.client_dir(client)),
            "description": self.description.as_dict(),
        }

    def has_bundles(self, client: str, hashes: list[str]) -> list[str]:
        return self.cache.has(client, hashes)

    def put_bundle(self, client: str, digest: str, data: bytes) -> dict[str, Any]:
        try:
            self.cache.put(client, digest, bytes(data))
        except BundleError as exc:
            return {"ok": False, "reason": f"worker {self.name}: {exc}"}
        return {"ok": True}

    def drop_client(self, client: str) -> bool:
        self.dags.drop_client(client)
        return self.cache.drop_client(client)

    def load(self) -> dict[str, int]:
        with self._load.lock:
            return {
                "running": self._load.running,
                "waiting": self._load.waiting,
                "calls": self._load.calls,
            }

    def probe(self, work: int) -> dict[str, Any]:
        """Time the fixed probe benchmark here (in a call slot, like a real call)."""
        with self.slot():
            seconds = probe_benchmark(work)
        return {"seconds": seconds, **self.load()}

    # ---------------------------------------------------------------- calls
    def handle_channel(
        self, header: dict[str, Any], frames: list[bytearray]
    ) -> tuple[dict[str, Any], Frames]:
        """Serve one channel message through :attr:`handlers` (never raises)."""
        op = Op.parse(header.get("op"))
        handler = self.handlers.get(op) if op is not None else None
        if handler is None:
            return {"status": "refused", "error": f"unknown operation {header.get('op')!r}"}, []
        return handler(header, frames)

    def _ping(
        self, header: dict[str, Any], frames: list[bytearray]
    ) -> tuple[dict[str, Any], Frames]:
        return {"status": "ok", **self.load()}, []

    def _probe(
        self, header: dict[str, Any], frames: list[bytearray]
    ) -> tuple[dict[str, Any], Frames]:
        return {"status": "ok", **self.probe(int(header.get("work", 0)))}, []

    class _SlotContext:
        def __init__(self, agent: WorkerAgent) -> None:
            self.agent = agent
            self.waited = 0.0

        def __enter__(self) -> WorkerAgent._SlotContext:
            load = self.agent._load
            with load.lock:
                load.waiting += 1
            start = time.perf_counter()
            self.agent._slots.acquire()
            self.waited = time.perf_counter() - start
            with load.lock:
                load.waiting -= 1
                load.running += 1
            return self

        def __exit__(self, *exc: object) -> None:
            with self.agent._load.lock:
                self.agent._load.running -= 1
                self.agent._load.calls += 1
            self.agent._slots.release()

    def slot(self) -> WorkerAgent._SlotContext:
        """A call slot: ``with agent.slot():`` waits for one of the ``nthreads`` slots."""
        return WorkerAgent._SlotContext(self)

    def call(
        self, header: dict[str, Any], frames: list[bytearray]
    ) -> tuple[dict[str, Any], Frames]:
        """Run one offloaded call; never raises (failures are reported in the reply)."""
        client = str(header.get("client", ""))
        digest = str(header.get("bundle", ""))
        cold = not self.cache.loaded(client, digest)
        try:
            namespace = self.cache.namespace(client, digest)
            target = namespace.resolve(str(header["module"]), str(header["qualname"]))
            function = getattr(target, "__wrapped__", target)
            args, kwargs = loads(frames, rename=namespace.worker_name)
        except BundleError as exc:
            return {"status": "refused", "error": f"worker {self.name}: {exc}"}, []
        except Exception as exc:  # the call cannot even start here: let the client move it
            return {
                "status": "refused",
                "error": f"worker {self.name} cannot prepare the call: {type(exc).__name__}: {exc}",
            }, []
        with self.slot() as slot:
            start = time.perf_counter()
            try:
                result = function(*args, **kwargs)
            except BaseException as exc:
                compute = time.perf_counter() - start
                return self._error_reply(exc, compute, slot.waited, cold)
            compute = time.perf_counter() - start
        try:
            out = dumps(result)
        except Exception as exc:
            return self._error_reply(exc, compute, slot.waited, cold)
        return {"status": "ok", "compute": compute, "waited": slot.waited, "cold": cold}, out

    def _error_reply(
        self, exc: BaseException, compute: float, waited: float, cold: bool
    ) -> tuple[dict[str, Any], Frames]:
        header, out = error_reply(exc, "the offloaded function", self.name)
        return {**header, "compute": compute, "waited": waited, "cold": cold}, out
