"""Every call into Dask distributed, in one adapter (Dask is pinned: see pyproject.toml).

Nothing else in edgeoffload calls a Dask API (``plugins.py`` only subclasses Dask's plugin
base classes). Foreign exceptions are converted here, by :func:`map_exceptions`, into the
:mod:`edgeoffload.errors` tree with ``raise ... from exc``.

Semi-internal Dask API relied on (``tests/runtime/test_dask_adapter.py`` fails loudly if
any of it moves):

- ``Worker.handlers``: the dict mapping an operation name to a handler; a handler whose
  first parameter is named ``comm`` is called as ``handler(comm, **message)``.
- ``Client.rpc(address).<op>(**kwargs)`` (a ``ConnectionPool`` with the client's TLS
  arguments) and ``Client.sync(coroutine_function, ...)``.
- ``Scheduler.rpc(address)``, ``Scheduler.workers`` and ``Scheduler.clients`` (with
  ``ClientState.last_seen``, refreshed by client heartbeats).
- ``Security.get_connection_args(role)["ssl_context"]`` and
  ``Security.get_listen_args(role)["ssl_context"]``.
- ``SpecCluster`` with ``{"cls": nanny_class, "options": {...}}`` worker specs, and ``Nanny``
  passing unknown keyword arguments (``plugins``) through to its ``Worker``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from edgeoffload.errors import (
    OffloadError,
    OffloadTimeoutError,
    SecurityError,
    WorkerUnavailableError,
)

# Dask is typed only in part; its objects are handled as Any here, named for the reader.
Client = Any  # distributed.Client
Scheduler = Any  # distributed.Scheduler
Security = Any  # distributed.Security
SpecCluster = Any  # distributed.SpecCluster
Worker = Any  # distributed.Worker


def _distributed() -> Any:
    import distributed

    return distributed


__all__ = [
    "DASK_VERSION",
    "add_worker_handlers",
    "client_id",
    "client_ssl_context",
    "close_client",
    "close_cluster",
    "control_call",
    "list_workers",
    "load_security",
    "map_exceptions",
    "open_client",
    "remove_worker_handlers",
    "run_scheduler",
    "run_worker",
    "scheduler_broadcast",
    "silent_clients",
    "start_local_cluster",
    "worker_host",
    "worker_name",
    "worker_nthreads",
    "worker_peer_ssl_context",
    "worker_plugins",
    "worker_ssl_context",
]

DASK_VERSION = "2026.8.0"
"""The version of dask and distributed this adapter is written and tested against."""

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def map_exceptions(what: str = "Dask") -> Iterator[None]:
    """Convert Dask and network exceptions into :class:`~edgeoffload.errors.OffloadError`."""
    from distributed.comm.core import CommClosedError

    try:
        yield
    except OffloadError:
        raise
    except ssl.SSLError as exc:
        raise SecurityError(f"{what}: TLS failed: {exc}") from exc
    except TimeoutError as exc:
        text = str(exc)
        if "handshake" in text.lower():
            raise SecurityError(
                f"{what}: the TLS handshake failed (is the certificate signed by the "
                f"cluster's CA?): {text}"
            ) from exc
        raise OffloadTimeoutError(f"{what}: timed out{': ' + text if text else ''}") from exc
    except (CommClosedError, OSError, ConnectionError) as exc:
        text = str(exc)
        if any(word in text for word in ("SSL", "TLS", "certificate", "handshake")):
            raise SecurityError(f"{what}: refused: {text}") from exc
        raise WorkerUnavailableError(f"{what}: {type(exc).__name__}: {text}") from exc


# --------------------------------------------------------------------------- security


def load_security(tls: str | Path | Security | None, role: str) -> Security | None:
    """Dask ``Security`` from a folder made by ``edgeoffload certs`` (or pass one through).

    The folder holds ``ca.pem`` and ``<role>.pem`` / ``<role>-key.pem`` for role
    ``scheduler``, ``worker`` or ``client``; encryption is required.
    """
    security_class = _distributed().Security
    if tls is None or isinstance(tls, security_class):
        return tls
    folder = Path(tls)
    ca, cert, key = folder / "ca.pem", folder / f"{role}.pem", folder / f"{role}-key.pem"
    for path in (ca, cert, key):
        if not path.is_file():
            raise SecurityError(f"TLS material missing: {path} (make it with 'edgeoffload certs')")
    options = {"tls_ca_file": str(ca), "require_encryption": True}
    for dask_role in ("scheduler", "worker", "client"):
        options[f"tls_{dask_role}_cert"] = str(cert)
        options[f"tls_{dask_role}_key"] = str(key)
    return security_class(**options)


def _tls_context(security: Security | None, role: str, listen: bool) -> ssl.SSLContext | None:
    if security is None:
        return None
    args = security.get_listen_args(role) if listen else security.get_connection_args(role)
    context = args.get("ssl_context")
    return context if isinstance(context, ssl.SSLContext) else None


def client_ssl_context(client: Client) -> ssl.SSLContext | None:
    """The client's TLS context for connecting to workers (``None`` without TLS)."""
    return _tls_context(client.security, "client", listen=False)


def worker_ssl_context(worker: Worker) -> ssl.SSLContext | None:
    """A server TLS context with the worker's certificate, requiring client certificates."""
    if not str(worker.address).startswith("tls://"):
        return None
    return _tls_context(worker.security, "worker", listen=True)


def worker_peer_ssl_context(worker: Worker) -> ssl.SSLContext | None:
    """A client TLS context with the worker's certificate, for connecting to other workers
    (the scheduled-DAG data plane pushes results worker to worker)."""
    if not str(worker.address).startswith("tls://"):
        return None
    return _tls_context(worker.security, "worker", listen=False)


# --------------------------------------------------------------------------- workers


def add_worker_handlers(worker: Worker, handlers: Mapping[str, Callable[..., Any]]) -> None:
    """Register comm handlers on a worker (semi-internal: ``Worker.handlers``)."""
    for op in handlers:
        if op in worker.handlers and not op.startswith("edgeoffload_"):
            raise OffloadError(f"refusing to replace Dask's own worker handler {op!r}")
    worker.handlers.update(handlers)


def worker_plugins(worker: Worker) -> list[Any]:
    """The plugins running on a worker (``Worker.plugins``)."""
    return list(worker.plugins.values())


def remove_worker_handlers(worker: Worker, names: Sequence[str]) -> None:
    for op in names:
        worker.handlers.pop(op, None)


def worker_host(worker: Worker) -> str:
    comm: Any = _distributed().comm
    return str(comm.get_address_host(worker.address))


def worker_name(worker: Worker) -> str:
    return str(worker.name)


def worker_nthreads(worker: Worker) -> int:
    return int(worker.state.nthreads)


# --------------------------------------------------------------------------- scheduler


def scheduler_broadcast(scheduler: Scheduler, op: str, **kwargs: Any) -> None:
    """Send ``op`` to every worker from the scheduler, in the background, ignoring failures."""

    async def send(address: str) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(getattr(scheduler.rpc(address), op)(**kwargs), 10)

    async def send_all() -> None:
        await asyncio.gather(*(send(a) for a in list(scheduler.workers)))

    with contextlib.suppress(RuntimeError):
        asyncio.get_running_loop().create_task(send_all())


def silent_clients(scheduler: Scheduler, older_than: float) -> list[str]:
    """Clients whose last heartbeat is older than ``older_than`` seconds
    (``Scheduler.clients[id].last_seen``; Dask's internal pseudo-client excluded)."""
    import time

    now = time.time()
    return [
        client
        for client, state in list(scheduler.clients.items())
        if client != "fire-and-forget" and now - float(state.last_seen) > older_than
    ]


# --------------------------------------------------------------------------- clusters


def _worker_environ() -> dict[str, Any]:
    """Dask's pre-spawn environment for worker processes, without its malloc trimming.

    Dask sets ``MALLOC_TRIM_THRESHOLD_=65536`` so that long-lived workers return memory to
    the OS. Setting it at all turns off glibc's adaptive mmap threshold, so every buffer
    of a large message is a fresh ``mmap`` and page-faults in again: measured here, it
    adds about 0.8 ms to each 1 MB call. Offloading workers keep glibc's default.
    """
    import dask

    current = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {})
    current.pop("MALLOC_TRIM_THRESHOLD_", None)
    return current


def start_local_cluster(
    workers: Sequence[Mapping[str, Any]],
    scheduler_plugins: Sequence[Any] = (),
    timeout: float = 60.0,
) -> SpecCluster:
    """An embedded cluster on loopback: an in-process scheduler, one nanny per worker.

    Parameters
    ----------
    workers
        One mapping per worker: ``name``, ``nthreads``, ``plugins`` (worker plugins) and
        optionally ``env`` (environment of the worker process).
    """
    import dask

    distributed = _distributed()
    nanny_class, scheduler_class = distributed.Nanny, distributed.Scheduler

    specs = {}
    for spec in workers:
        specs[str(spec["name"])] = {
            "cls": nanny_class,
            "options": {
                "nthreads": int(spec.get("nthreads", 1)),
                "host": "127.0.0.1",
                "dashboard": False,
                "memory_limit": 0,
                "silence_logs": logging.ERROR,
                "plugins": tuple(spec.get("plugins", ())),
                "env": dict(spec.get("env", {})),
            },
        }
    scheduler = {
        "cls": scheduler_class,
        "options": {
            "host": "127.0.0.1",
            "dashboard_address": "127.0.0.1:0",
            "dashboard": False,
            "plugins": list(scheduler_plugins),
        },
    }
    with (
        dask.config.set(
            {
                "distributed.scheduler.worker-ttl": "30s",
                "distributed.nanny.pre-spawn-environ": _worker_environ(),
            }
        ),
        map_exceptions("starting the local cluster"),
    ):
        return distributed.SpecCluster(
            workers=specs,
            scheduler=scheduler,
            silence_logs=logging.ERROR,
            name="edgeoffload-local",
        )


def close_cluster(cluster: SpecCluster) -> None:
    with contextlib.suppress(Exception):
        cluster.close(timeout=20)


def open_client(
    address: str | SpecCluster, security: Security | None = None, timeout: float = 30.0
) -> Client:
    """A Dask client of ``address`` (or of an embedded cluster)."""
    with map_exceptions(f"connecting to {address if isinstance(address, str) else 'cluster'}"):
        return _distributed().Client(
            address,
            security=security,
            timeout=timeout,
            set_as_default=False,
        )


def close_client(client: Client) -> None:
    with contextlib.suppress(Exception):
        client.close(timeout=10)


def client_id(client: Client) -> str:
    return str(client.id)


def list_workers(client: Client) -> dict[str, dict[str, Any]]:
    """address -> {"name", "nthreads"} of the workers the scheduler knows right now."""
    with map_exceptions("listing workers"):
        info = client.scheduler_info(n_workers=-1)
    return {
        address: {"name": str(w.get("name", address)), "nthreads": int(w.get("nthreads", 1))}
        for address, w in info.get("workers", {}).items()
    }


def refresh_workers(client: Client, timeout: float = 10.0) -> dict[str, dict[str, Any]]:
    """Like :func:`list_workers`, asking the scheduler now rather than the client's cache."""

    async def identity() -> dict[str, Any]:
        result: dict[str, Any] = await client.scheduler.identity(n_workers=-1)
        return result

    with map_exceptions("listing workers"):
        info = client.sync(identity, callback_timeout=timeout)
    return {
        address: {"name": str(w.get("name", address)), "nthreads": int(w.get("nthreads", 1))}
        for address, w in info.get("workers", {}).items()
    }


def control_call(
    dask_client: Client, address: str, op: str, timeout: float, /, **kwargs: Any
) -> Any:
    """Call handler ``op`` on the worker at ``address`` through the client's comm pool."""

    async def call() -> Any:
        handler: Callable[..., Awaitable[Any]] = getattr(dask_client.rpc(address), op)
        return await asyncio.wait_for(handler(**kwargs), timeout)

    with map_exceptions(f"worker {address} ({op})"):
        return dask_client.sync(call)


# --------------------------------------------------------------------------- CLI servers


async def _serve_scheduler(
    host: str,
    port: int,
    security: Security | None,
    dashboard_address: str | None,
    plugins: Sequence[Any],
    on_start: Callable[[str], None],
) -> None:
    scheduler = _distributed().Scheduler(
        host=host,
        port=port,
        security=security,
        protocol="tls" if security is not None else "tcp",
        dashboard=dashboard_address is not None,
        dashboard_address=dashboard_address,
        plugins=list(plugins),
    )
    await scheduler
    on_start(scheduler.address)
    try:
        await scheduler.finished()
    finally:
        await scheduler.close()


def run_scheduler(
    host: str,
    port: int,
    security: Security | None,
    dashboard_address: str | None,
    plugins: Sequence[Any],
    on_start: Callable[[str], None],
) -> None:
    """Run a scheduler until interrupted."""
    with map_exceptions("scheduler"):
        asyncio.run(_serve_scheduler(host, port, security, dashboard_address, plugins, on_start))


async def _serve_worker(
    scheduler_address: str,
    name: str,
    host: str,
    security: Security | None,
    nthreads: int,
    plugins: Sequence[Any],
    nanny: bool,
    on_start: Callable[[str], None],
) -> None:
    distributed = _distributed()
    options: dict[str, Any] = {
        "name": name,
        "host": host,
        "security": security,
        "nthreads": nthreads,
        "plugins": tuple(plugins),
        "dashboard": False,
        "memory_limit": 0,
        "protocol": "tls" if security is not None else "tcp",
    }
    server_class = distributed.Nanny if nanny else distributed.Worker
    server: Any = server_class(scheduler_address, **options)
    await server
    on_start(str(server.worker_address if nanny else server.address))
    try:
        await server.finished()
    finally:
        await server.close()


def run_worker(
    scheduler_address: str,
    name: str,
    host: str,
    security: Security | None,
    nthreads: int,
    plugins: Sequence[Any],
    nanny: bool,
    on_start: Callable[[str], None],
) -> None:
    """Run a worker (under a nanny that restarts it, by default) until interrupted."""
    import dask

    with (
        dask.config.set({"distributed.nanny.pre-spawn-environ": _worker_environ()}),
        map_exceptions(f"worker {name}"),
    ):
        asyncio.run(
            _serve_worker(
                scheduler_address, name, host, security, nthreads, plugins, nanny, on_start
            )
        )


# --------------------------------------------------------------------------- sessions


def ensure_plugins(client: Client, worker_plugin: Any, scheduler_plugin: Any) -> None:
    """Register our plugins on a cluster that was not started by edgeoffload.

    Both are idempotent: workers and a scheduler that have them already keep theirs.
    """
    with map_exceptions("registering the edgeoffload plugins"):
        client.register_plugin(scheduler_plugin)
        client.register_plugin(worker_plugin)


def wait_for_workers(client: Client, n_workers: int, timeout: float) -> None:
    with map_exceptions(f"waiting for {n_workers} worker(s)"):
        client.wait_for_workers(n_workers, timeout=timeout)


def local_worker_pids(cluster: SpecCluster) -> dict[str, int | None]:
    """name -> process id of each worker of an embedded cluster (``Nanny.pid``)."""
    out: dict[str, int | None] = {}
    for name, nanny in list(cluster.workers.items()):
        pid = getattr(nanny, "pid", None)
        out[str(name)] = int(pid) if pid else None
    return out


def cluster_address(cluster: SpecCluster) -> str:
    return str(cluster.scheduler_address)
