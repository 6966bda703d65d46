"""The edgeoffload worker process: an agent that outlives its scheduler.

A worker process holds a :class:`~edgeoffload.runtime.worker.agent.WorkerAgent` (its
channel, code store and the child processes that run user code) for its whole life, and a
Dask worker beside it only to be a member of the cluster. When the scheduler goes away —
it crashed, it restarts, the Wi-Fi is cut — the Dask worker closes; this process keeps
serving the sessions that still reach it and makes a new Dask worker with exponential
backoff (0.5 s doubling to 30 s, jittered) until the scheduler is back, forever unless
``reconnect_timeout`` says otherwise. It then rejoins with the same channel and the same
code cache. Each change is logged in one line.

``edgeoffload worker`` runs this (under a supervisor that restarts the process if it dies,
:mod:`.supervisor`, unless ``--no-nanny``); the embedded cluster of ``connect()`` starts it
as ``python -m edgeoffload.runtime.worker.service`` with its options as JSON on standard
input (TLS material included, so that no key is written to disk).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import ssl
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeoffload.errors import EdgeOffloadError, ModelError
from edgeoffload.runtime.host.cpu import cpu_capacity
from edgeoffload.runtime.host.procs import WORKER_PROCESS_ENV
from edgeoffload.runtime.wire import dask_api
from edgeoffload.runtime.wire.addresses import scheduler_address, split_address
from edgeoffload.runtime.wire.security import (
    TLSMaterial,
    ensure_user_certificates,
    identity_from_der,
)
from edgeoffload.runtime.worker.agent import DEFAULT_CACHE_TTL, WorkerAgent
from edgeoffload.runtime.worker.description import WorkerDescription
from edgeoffload.runtime.worker.executor import BLAS_THREADS_ENV
from edgeoffload.runtime.worker.supervisor import Supervisor, supervised_process

__all__ = [
    "BLAS_ENV",
    "READY",
    "ServiceOptions",
    "default_blas_threads",
    "main",
    "run_worker",
    "serve",
    "server_material",
    "verify_scheduler",
]

logger = logging.getLogger(__name__)

READY = "edgeoffload worker ready"
"""Start of the line the process prints on standard output once it serves."""

BLAS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""Environment variables that set the threads of OpenMP, OpenBLAS and MKL when they load."""


def default_blas_threads(
    environ: Mapping[str, str] | None = None, *, cores: float | None = None
) -> int:
    """The BLAS/OpenMP threads of an offloaded call when ``--blas-threads`` is not given.

    Parameters
    ----------
    environ
        The worker's environment (default: this process's). The smallest positive
        number among its :data:`BLAS_ENV` wins: someone chose it.
    cores
        The CPU the worker may use, in cores, when it is known from outside (a quota
        applied after the worker starts). Default: what this process may use now, its
        CPU affinity at most its cgroup's CPU quota (a container's CPU limit).

    Returns
    -------
    int
        The number chosen in ``environ``, else the whole ``cores`` (at least 1).
    """
    environ = os.environ if environ is None else environ
    chosen = [int(v) for k in BLAS_ENV if (v := environ.get(k, "").strip()).isdigit()]
    if any(n > 0 for n in chosen):
        return min(n for n in chosen if n > 0)
    if cores is None:
        cores = cpu_capacity().cores
    return max(1, math.floor(cores + 1e-9))


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    """How to run a worker process.

    Parameters
    ----------
    scheduler
        The scheduler's address (``tls://host:port``).
    name
        The worker's name (its node id).
    host
        Interface for the channel and the Dask worker.
    nthreads
        Calls run at once (child processes).
    description
        :meth:`WorkerDescription.as_dict` of the worker.
    material
        :meth:`TLSMaterial.to_json` of the worker's certificate, or ``None`` (insecure).
    channel_port
        Port of the channel (0: any).
    reconnect_timeout
        Seconds without a scheduler before the process gives up and exits with status 3
        (``None``: never).
    max_backoff
        Longest pause between two attempts to reach the scheduler, seconds.
    cache_ttl
        Seconds a session may stay silent before its code is dropped.
    blas_threads
        BLAS/OpenMP threads of each offloaded call (DAG tasks, pinned calls and probes
        get one); ``None``: :func:`default_blas_threads`.
    """

    scheduler: str
    name: str
    host: str = "127.0.0.1"
    nthreads: int = 1
    description: Mapping[str, Any] = field(default_factory=dict)
    material: str | None = None
    channel_port: int = 0
    reconnect_timeout: float | None = None
    max_backoff: float = 30.0
    cache_ttl: float = DEFAULT_CACHE_TTL
    blas_threads: int | None = None

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "description": dict(self.description)})

    @classmethod
    def from_json(cls, text: str) -> ServiceOptions:
        """Read options written by :meth:`to_json` (``ModelError`` on anything else)."""
        try:
            data = json.loads(text)
            return cls(**data)
        except (ValueError, TypeError) as exc:
            raise ModelError(f"not worker options: {exc}", "stdin") from None


def verify_scheduler(address: str, material: TLSMaterial) -> Callable[[], Any]:
    """An awaitable check that the scheduler at ``address`` shows a scheduler certificate.

    Returns a coroutine function giving ``None`` (a scheduler) or the reason to refuse it;
    a scheduler that cannot be reached gives ``None`` (the registration then fails and is
    retried like any other outage).
    """
    _, host, port = split_address(address)

    async def check() -> str | None:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=material.client_context()), 10
            )
        except ssl.SSLError as exc:
            return (
                f"TLS with the scheduler at {address} failed ({exc.reason or exc}): is this "
                "worker's ca.pem the one that signed the scheduler's certificate?"
            )
        except (OSError, TimeoutError):
            return None
        try:
            sslobj = writer.get_extra_info("ssl_object")
            der = sslobj.getpeercert(binary_form=True) if sslobj is not None else None
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        del reader
        if not der:
            return f"the scheduler at {address} presented no certificate"
        identity = identity_from_der(der)
        if identity.role != "scheduler":
            return (
                f"the peer at {address} presented {identity.role or 'a role-less'} "
                f"certificate {identity.name!r}, not a scheduler's: refusing to join it"
            )
        return None

    return check


def serve(
    options: ServiceOptions,
    *,
    on_ready: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Run the worker until ``stop`` is set (or SIGTERM/SIGINT in the main thread).

    Returns the exit status: 0 when stopped, 3 when it gave up on the scheduler.
    """
    scheduler = scheduler_address(options.scheduler, "scheduler")
    os.environ[WORKER_PROCESS_ENV] = options.name  # the child processes inherit it
    blas_threads = options.blas_threads
    if blas_threads is None:
        blas_threads = default_blas_threads()
    if blas_threads < 1:
        raise ModelError(f"must be >= 1, got {blas_threads}", "blas_threads")
    os.environ[BLAS_THREADS_ENV] = str(blas_threads)  # for the agent's executor
    logger.info(
        "edgeoffload worker %s: %d call(s) at once, %d BLAS thread(s) per call (DAG tasks: 1)",
        options.name,
        options.nthreads,
        blas_threads,
    )
    material = TLSMaterial.from_json(options.material) if options.material else None
    if material is not None and material.role != "worker":
        raise ModelError(f"a worker needs a worker certificate, got a {material.role}'s", "tls")
    agent = WorkerAgent(
        options.name,
        WorkerDescription(**dict(options.description)),
        slots=options.nthreads,
        host=options.host,
        material=material,
        channel_port=options.channel_port,
        cache_ttl=options.cache_ttl,
    )
    security = dask_api.make_security(material)
    state = {"last": ""}

    def on_state(what: str, detail: str) -> None:
        if what == "retrying":
            logger.debug("edgeoffload worker %s: retrying %s", options.name, detail)
            return
        if what == state["last"] and what == "lost":
            logger.debug("edgeoffload worker %s: %s", options.name, detail)
            return
        state["last"] = what
        level = logging.INFO if what == "registered" else logging.WARNING
        logger.log(level, "edgeoffload worker %s: %s", options.name, detail)

    async def run() -> bool:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        if stop is not None:
            threading.Thread(
                target=lambda: (stop.wait(), loop.call_soon_threadsafe(done.set)),
                name="edgeoffload-stop",
                daemon=True,
            ).start()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, done.set)
        if on_ready is not None:
            on_ready(agent.channel_address)
        return await dask_api.keep_registered(
            scheduler,
            options.name,
            options.host,
            security,
            agent.advert(),
            done,
            on_state=on_state,
            check_scheduler=verify_scheduler(scheduler, material) if material else None,
            max_backoff=options.max_backoff,
            give_up_after=options.reconnect_timeout,
        )

    try:
        stopped = asyncio.run(run())
    finally:
        agent.close()
    if not stopped:
        logger.error(
            "edgeoffload worker %s: no scheduler for %.0f s: giving up",
            options.name,
            options.reconnect_timeout or 0.0,
        )
        return 3
    return 0


def server_material(
    role: str, folder: str | Path | None, *, insecure: bool = False, hosts: Sequence[str] = ()
) -> TLSMaterial | None:
    """A scheduler's or worker's TLS material: from ``folder`` (made by ``edgeoffload
    certs``), else from the per-user folder (made on first use, valid for ``hosts``);
    ``None`` when ``insecure``."""
    if insecure:
        return None
    source = Path(folder) if folder is not None else ensure_user_certificates(hosts)
    return TLSMaterial.from_folder(source, role)


def run_worker(
    options: ServiceOptions, *, nanny: bool = True, on_ready: Callable[[str], None] | None = None
) -> int:
    """Run a worker in this process, or (``nanny``) in a child process that a
    :class:`~edgeoffload.runtime.worker.supervisor.Supervisor` starts again if it dies.

    Returns the exit status: 0 stopped (Ctrl-C, SIGTERM), 2 bad options, 3 gave up.
    """
    if not nanny:
        return serve(options, on_ready=on_ready)
    supervisor = Supervisor(
        [sys.executable, "-m", "edgeoffload.runtime.worker.service"],
        options.to_json().encode(),
        ready=READY,
        name=f"worker {options.name}",
    )
    stopping = threading.Event()

    def stop(signum: int, frame: object) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        detail = supervisor.start()
        if on_ready is not None:
            on_ready(detail.partition(" ")[2])

        def wait_for_end() -> None:
            supervisor.wait()
            stopping.set()

        threading.Thread(target=wait_for_end, name="edgeoffload-nanny-wait", daemon=True).start()
        while not stopping.wait(0.5):
            pass
    finally:
        supervisor.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return supervisor.status or 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m edgeoffload.runtime.worker.service``: options as JSON on standard input.

    Prints ``edgeoffload worker ready <name> <channel address>`` once it serves.
    """
    del argv
    supervised_process()
    try:
        options = ServiceOptions.from_json(sys.stdin.read())
        return serve(
            options,
            on_ready=lambda channel: print(f"{READY} {options.name} {channel}", flush=True),
        )
    except EdgeOffloadError as exc:
        print(f"edgeoffload worker: error: {exc}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
