"""The Dask plugins that turn Dask workers into COFA remotes.

:class:`EdgeOffloadWorkerPlugin` starts a :class:`~edgeoffload.runtime.worker.agent.WorkerAgent`
in the worker and registers its handlers on the worker's comm:

=============================  ===========================================================
``edgeoffload_hello``          version checks; the worker's description and channel address
``edgeoffload_has_bundles``    which of these bundle hashes do you hold for me?
``edgeoffload_put_bundle``     store this bundle (hash, format, requirements checked)
``edgeoffload_call``           run one call (the ``transport="comm"`` path)
``edgeoffload_probe``          time the probe benchmark
``edgeoffload_drop_client``    delete a client's bundles (sent by the scheduler plugin)
=============================  ===========================================================

:class:`EdgeOffloadSchedulerPlugin` sees clients leave (disconnect, or the scheduler
dropping a client whose connection died) and tells every worker to drop that client's
bundles.

To implement your own worker-side extension, follow Dask's recipe: subclass
:class:`distributed.diagnostics.plugin.WorkerPlugin`, override ``setup``/``teardown``,
and pass an instance to ``edgeoffload worker`` by wrapping the command in your own
script; keep Dask calls in :mod:`edgeoffload.runtime.wire.dask_api`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from distributed.diagnostics.plugin import SchedulerPlugin, WorkerPlugin

from edgeoffload.runtime.wire import dask_api
from edgeoffload.runtime.worker.agent import WorkerAgent
from edgeoffload.runtime.worker.description import WorkerDescription

if TYPE_CHECKING:
    from distributed import Scheduler, Worker

__all__ = ["HANDLERS", "EdgeOffloadSchedulerPlugin", "EdgeOffloadWorkerPlugin"]

HANDLERS = (
    "edgeoffload_hello",
    "edgeoffload_has_bundles",
    "edgeoffload_put_bundle",
    "edgeoffload_call",
    "edgeoffload_probe",
    "edgeoffload_drop_client",
)


class EdgeOffloadWorkerPlugin(WorkerPlugin):
    """Starts the edgeoffload agent in a worker and exposes it on the worker's comm.

    Parameters
    ----------
    description
        How the worker describes itself (role, preset, speed, power); plain values so
        the plugin pickles to the worker process.
    fallback
        Registered by a session on a cluster it did not start: it sets up only on
        workers that do not run the plugin already (so a worker started with
        ``edgeoffload worker --preset ...`` keeps its own description).
    """

    idempotent = True

    def __init__(
        self, description: Mapping[str, Any] | None = None, fallback: bool = False
    ) -> None:
        self.description = dict(description or {})
        self.fallback = fallback
        self.name = "edgeoffload-fallback" if fallback else "edgeoffload"
        self.agent: WorkerAgent | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "fallback": self.fallback,
            "name": self.name,
            "agent": None,
        }

    def setup(self, worker: Worker) -> None:
        if self.fallback and any(
            isinstance(p, EdgeOffloadWorkerPlugin) and p is not self and p.agent is not None
            for p in dask_api.worker_plugins(worker)
        ):
            return
        description = WorkerDescription(**self.description)
        agent = WorkerAgent(
            dask_api.worker_name(worker),
            description,
            nthreads=dask_api.worker_nthreads(worker),
            host=dask_api.worker_host(worker),
            ssl_context=dask_api.worker_ssl_context(worker),
            peer_ssl_context=dask_api.worker_peer_ssl_context(worker),
        )
        self.agent = agent

        async def hello(comm: Any, client: str, python: str, protocol: int) -> dict[str, Any]:
            return agent.hello(client, python, protocol)

        async def has_bundles(comm: Any, client: str, hashes: list[str]) -> list[str]:
            return agent.has_bundles(client, hashes)

        async def put_bundle(comm: Any, client: str, digest: str, data: bytes) -> dict[str, Any]:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                agent.executor, agent.put_bundle, client, digest, data
            )

        async def call(comm: Any, header: dict[str, Any], frames: list[bytes]) -> dict[str, Any]:
            loop = asyncio.get_running_loop()
            reply, out = await loop.run_in_executor(
                agent.executor, agent.handle_channel, header, [bytearray(f) for f in frames]
            )
            return {"header": reply, "frames": [bytes(f) for f in out]}

        async def probe(comm: Any, work: int) -> dict[str, Any]:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(agent.executor, agent.probe, work)

        async def drop_client(comm: Any, client: str) -> bool:
            return agent.drop_client(client)

        dask_api.add_worker_handlers(
            worker,
            {
                "edgeoffload_hello": hello,
                "edgeoffload_has_bundles": has_bundles,
                "edgeoffload_put_bundle": put_bundle,
                "edgeoffload_call": call,
                "edgeoffload_probe": probe,
                "edgeoffload_drop_client": drop_client,
            },
        )

    def teardown(self, worker: Worker) -> None:
        dask_api.remove_worker_handlers(worker, HANDLERS)
        if self.agent is not None:
            self.agent.close()
            self.agent = None


class EdgeOffloadSchedulerPlugin(SchedulerPlugin):
    """Tells every worker to drop a client's bundles when the client leaves.

    A client leaves when it disconnects or its connection dies (``remove_client``), or
    when it has not heartbeated for ``stale_after`` seconds (checked every
    ``check_every`` seconds; Dask clients heartbeat every few seconds). A client that
    comes back after that finds its bundles gone and sends them again.
    """

    name = "edgeoffload-scheduler"
    idempotent = True

    def __init__(
        self,
        stale_after: float = 60.0,
        check_every: float = 10.0,
        name: str = "edgeoffload-scheduler",
    ) -> None:
        self.name = name
        self.stale_after = stale_after
        self.check_every = check_every
        self._dropped: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "stale_after": self.stale_after,
            "check_every": self.check_every,
            "_dropped": set(),
            "_task": None,
        }

    async def start(self, scheduler: Scheduler) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch(scheduler))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _watch(self, scheduler: Scheduler) -> None:
        while True:
            await asyncio.sleep(self.check_every)
            silent = set(dask_api.silent_clients(scheduler, self.stale_after))
            self._dropped &= silent  # a client heard from again may be dropped later
            for client in silent - self._dropped:
                self._dropped.add(client)
                dask_api.scheduler_broadcast(scheduler, "edgeoffload_drop_client", client=client)

    def remove_client(self, scheduler: Scheduler, client: str) -> None:
        self._dropped.discard(client)
        dask_api.scheduler_broadcast(scheduler, "edgeoffload_drop_client", client=client)
