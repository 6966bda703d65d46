"""Every call into Dask distributed, in one adapter (Dask is pinned: see pyproject.toml).

Dask gives the runtime its membership: a scheduler that workers register with and
heartbeat to, over mutual TLS. Nothing else of edgeoffload rides on Dask — calls, code and
DAG results go over the direct channel (:mod:`.channel`) — and nothing else calls a Dask API.
Foreign exceptions are converted here, by :func:`map_exceptions`, into the
:mod:`edgeoffload.errors` tree with ``raise ... from exc``.

What is used, and how it is kept safe:

- :func:`run_scheduler`: a ``distributed.Scheduler`` whose ``register-worker`` handler is
  wrapped so that only a peer with a *worker* certificate can join as a worker (Dask's TLS
  accepts any certificate of the cluster's CA); its HTTP server (dashboard, metrics) listens
  on loopback unless told otherwise and is closed with no dashboard.
- :func:`keep_registered`: a ``distributed.Worker`` in this process that registers the
  edgeoffload worker, advertising its channel in ``startup_information``; when the
  scheduler goes away (a crash, a restart, a network cut) the Dask worker closes, and this
  loop makes a new one with exponential backoff — forever by default — while the
  edgeoffload worker itself (its channel, code cache, calls in flight) carries on.
- :func:`scheduler_workers`: one ``identity`` request to the scheduler: the workers it knows
  and their adverts. Sessions poll it; no Dask ``Client`` is kept open.
- :class:`DaskTasks`: a ``distributed.Client`` submitting plain task graphs, placed by
  Dask's own scheduler: only ``edgeoffload serve``'s Dask baseline uses it.

Semi-internal Dask API relied on (``tests/runtime/wire/test_dask_api.py`` fails loudly if
any of it moves): ``Scheduler.handlers["register-worker"]`` called as
``handler(comm, **message)``; ``comm.extra_info["peercert"]`` and the TLS comm's socket
(``comm.stream.socket``); ``Worker(startup_information=...)`` appearing in the scheduler's
``identity()["workers"][address]``; ``Worker.http_server`` and ``Scheduler.http_server``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import random
import signal
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from edgeoffload.errors import (
    OffloadError,
    OffloadTimeoutError,
    SecurityError,
    WorkerUnavailableError,
)

if TYPE_CHECKING:
    from edgeoffload.runtime.wire.security import TLSMaterial

__all__ = [
    "ADVERT_KEY",
    "DASK_VERSION",
    "WORKER_TTL",
    "DaskTasks",
    "WorkerEntry",
    "close_http",
    "keep_registered",
    "make_security",
    "map_exceptions",
    "material_of",
    "quiet_dask_logs",
    "run_scheduler",
    "scheduler_workers",
]

DASK_VERSION = "2026.8.0"
"""The version of dask and distributed this adapter is written and tested against."""

WORKER_TTL = "30s"
"""How long the scheduler keeps a silent worker on its list."""

ADVERT_KEY = "edgeoffload"
"""Key of an edgeoffload worker's advert in the scheduler's view of the worker."""

logger = logging.getLogger(__name__)

# Dask is typed only in part; its objects are handled as Any here, named for the reader.
Scheduler = Any  # distributed.Scheduler
Security = Any  # distributed.Security
Worker = Any  # distributed.Worker
WorkerEntry = dict[str, Any]
"""What the scheduler says of one worker: ``name``, ``nthreads`` and ``edgeoffload`` (the
worker's advert, or ``None`` for a Dask worker that is not an edgeoffload worker)."""


def _distributed() -> Any:
    import distributed

    return distributed


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
    except ValueError as exc:
        # tornado's TLS upgrade of a connection the peer has already written to in plain
        # TCP ("IOStream is not idle; cannot convert to SSL"): a plain server, not TLS
        if "SSL" not in str(exc):
            raise
        raise SecurityError(f"{what}: TLS failed: {exc}") from exc


# --------------------------------------------------------------------------- security


def make_security(material: TLSMaterial | None) -> Security | None:
    """A ``distributed.Security`` from a certificate set's PEM text (held in memory, not
    files), or None for a plain-TCP cluster (``material`` None).

    Encryption is required; the certificate is used for every Dask role this process may
    take (a worker also connects out to the scheduler as a client of it).
    """
    if material is None:
        return None
    options: dict[str, Any] = {"tls_ca_file": material.ca_pem, "require_encryption": True}
    for dask_role in ("scheduler", "worker", "client"):
        options[f"tls_{dask_role}_cert"] = material.cert_pem
        options[f"tls_{dask_role}_key"] = material.key_pem
    return _distributed().Security(**options)


def material_of(security: Security) -> tuple[str, str, str]:
    """(CA, certificate, key) PEM text of a ``distributed.Security`` (its client pair),
    read from the files it names or taken as given when it holds PEM text.

    Raises
    ------
    SecurityError
        It has no client certificate or a file cannot be read.
    """
    values = []
    for attribute in ("tls_ca_file", "tls_client_cert", "tls_client_key"):
        value = getattr(security, attribute, None)
        if not value:
            raise SecurityError(f"the Security object has no {attribute}")
        if "\n" not in value:
            try:
                with open(value, encoding="ascii") as handle:
                    value = handle.read()
            except OSError as exc:
                raise SecurityError(f"cannot read {attribute} {value}: {exc}") from exc
        values.append(value)
    return values[0], values[1], values[2]


def _peer_certificate(comm: Any) -> bytes | None:
    """The DER certificate of the peer of a TLS comm (``None`` on plain TCP)."""
    stream = getattr(comm, "stream", None)
    sock = getattr(stream, "socket", None)
    if isinstance(sock, ssl.SSLSocket):
        with contextlib.suppress(ValueError, OSError):
            return sock.getpeercert(binary_form=True)
    return None


def close_http(server: Any) -> None:
    """Stop the HTTP server (dashboard, metrics) of a Dask scheduler or worker."""
    http = getattr(server, "http_server", None)
    if http is not None:
        with contextlib.suppress(Exception):
            http.stop()


# --------------------------------------------------------------------------- scheduler


async def _serve_scheduler(
    host: str,
    port: int,
    security: Security | None,
    dashboard_address: str | None,
    admit_worker: Callable[[bytes | None], str | None] | None,
    on_start: Callable[[str], None],
    stop: asyncio.Event | None,
) -> None:
    import dask

    distributed = _distributed()
    # a worker not heard from for 30 s leaves the scheduler's list (Dask's default is five
    # minutes: too long for Wi-Fi devices that come and go)
    config: dict[str, Any] = {"distributed.scheduler.worker-ttl": WORKER_TTL}
    if dashboard_address is None:
        config["distributed.scheduler.http.routes"] = []
    with dask.config.set(config):
        scheduler = distributed.Scheduler(
            host=host,
            port=port,
            security=security,
            protocol="tls" if security is not None else "tcp",
            dashboard=dashboard_address is not None,
            dashboard_address=dashboard_address or "127.0.0.1:0",
        )
        await scheduler
    if dashboard_address is None:
        close_http(scheduler)
    membership = logging.getLogger("distributed.scheduler")
    ours = logging.getLogger().getEffectiveLevel()
    if ours <= logging.INFO < membership.getEffectiveLevel():  # quietened: joins, leaves
        membership.setLevel(logging.INFO)
        membership.addFilter(_MembershipLines())
    if admit_worker is not None:
        register = scheduler.handlers["register-worker"]

        async def guarded(comm: Any, **message: Any) -> Any:
            refusal = admit_worker(_peer_certificate(comm))
            if refusal is not None:
                peer = getattr(comm, "peer_address", "?")
                logger.warning("refused a worker registration from %s: %s", peer, refusal)
                with contextlib.suppress(Exception):
                    await comm.write({"status": "error", "message": refusal, "time": time.time()})
                    await comm.close()
                return None
            return await register(comm, **message)

        scheduler.handlers["register-worker"] = guarded
    if stop is None:
        stop = asyncio.Event()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):  # close cleanly, no traceback
                asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    on_start(str(scheduler.address))
    try:
        await _unless_stopped(scheduler.finished(), stop)
    finally:
        await scheduler.close()


class _MembershipLines(logging.Filter):
    """Of the scheduler's INFO lines, keeps one per worker joining or leaving."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        text = record.getMessage()
        return text.startswith(("Register worker", "Remove worker"))


def _check_port(host: str, port: int) -> None:
    """Refuse, in one line, a port that is taken or an address this machine lacks."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            why = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise WorkerUnavailableError(f"cannot listen on {host}:{port}: {why}") from None


def run_scheduler(
    host: str,
    port: int,
    security: Security | None,
    dashboard_address: str | None,
    on_start: Callable[[str], None],
    admit_worker: Callable[[bytes | None], str | None] | None = None,
) -> None:
    """Run a scheduler until interrupted.

    Parameters
    ----------
    security
        The scheduler's TLS (:func:`make_security`), or ``None`` for plain TCP.
    dashboard_address
        Where the dashboard and metrics listen; ``None``: no HTTP server at all.
    on_start
        Called with the scheduler's address once it listens.
    admit_worker
        Called with the DER certificate of each peer registering as a worker; a string
        refuses it (the reason, logged and sent back), ``None`` admits it.
    """
    _check_port(host, port)
    with map_exceptions("scheduler"):
        asyncio.run(
            _serve_scheduler(host, port, security, dashboard_address, admit_worker, on_start, None)
        )


# --------------------------------------------------------------------------- workers


class _OutageFilter(logging.Filter):
    """Drops Dask's traceback for a heartbeat that fails because the scheduler is gone:
    :func:`keep_registered` says so in one line of its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Failed to communicate with scheduler")


_OUTAGE_FILTER = _OutageFilter()


def quiet_dask_logs(level: str = "warning") -> None:
    """Dask's loggers at ``level`` (unless the user set ``DASK_LOGGING__DISTRIBUTED``), and
    without the traceback Dask logs for every heartbeat a scheduler outage makes fail.

    Call before Dask is imported for the level to apply to Dask's own configuration.
    """
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", level)
    logging.getLogger("distributed.worker").addFilter(_OUTAGE_FILTER)


async def _unless_stopped(awaitable: Awaitable[Any], stop: asyncio.Event) -> Any:
    """The result of ``awaitable``, or ``None`` as soon as ``stop`` is set. However this
    ends (a stop, a timeout cancelling us), the inner task is finished and its outcome
    retrieved: no "exception was never retrieved" later."""
    task = asyncio.ensure_future(awaitable)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
    if task.cancelled():
        return None
    return task.result()


async def keep_registered(
    scheduler_address: str,
    name: str,
    host: str,
    security: Security | None,
    advert: Mapping[str, Any],
    stop: asyncio.Event,
    *,
    on_state: Callable[[str, str], None] | None = None,
    check_scheduler: Callable[[], Awaitable[str | None]] | None = None,
    backoff: float = 0.5,
    max_backoff: float = 30.0,
    give_up_after: float | None = None,
    connect_timeout: float = 10.0,
) -> bool:
    """Keep a Dask worker registered with the scheduler until ``stop`` is set.

    The Dask worker advertises ``advert`` (``startup_information["edgeoffload"]``). When it
    closes — the scheduler died, restarted, or could not be reached for too long — a new one
    is made after ``backoff`` seconds, doubling (with jitter) up to ``max_backoff``;
    ``give_up_after`` seconds without a scheduler end the loop (``None``: never).

    Parameters
    ----------
    on_state
        Called with ``(state, detail)`` on every change: ``"registered"`` (detail: the
        Dask worker's address), ``"lost"`` (why), ``"retrying"`` (in how long),
        ``"refused"`` (the scheduler's certificate was refused by ``check_scheduler``).
    check_scheduler
        Awaited before each registration: a string refuses this scheduler (for example,
        its certificate is not a scheduler's), ``None`` accepts it.

    Returns
    -------
    bool
        True when stopped, False when it gave up.
    """
    distributed = _distributed()
    logging.getLogger("distributed.worker").addFilter(_OUTAGE_FILTER)
    say = on_state or (lambda state, detail: None)
    delay = backoff
    down_since: float | None = None
    joined = False
    while not stop.is_set():
        worker: Any = None
        try:
            refusal = (
                await _unless_stopped(check_scheduler(), stop)
                if check_scheduler is not None
                else None
            )
            if stop.is_set():
                break
            if refusal is not None:
                say("refused", refusal)
                raise ConnectionError(refusal)
            worker = distributed.Worker(
                scheduler_address,
                name=name,
                host=host,
                security=security,
                protocol="tls" if security is not None else "tcp",
                nthreads=1,
                memory_limit=0,
                dashboard=False,
                dashboard_address="127.0.0.1:0",
                startup_information={ADVERT_KEY: lambda w: dict(advert)},
                death_timeout=connect_timeout,
            )
            # Dask gives up on its own after death_timeout; cancelling its start instead
            # would make it log the cancellation of its own clean-up
            await _unless_stopped(worker, stop)  # a Dask server is awaited to start
            if stop.is_set():
                break
            close_http(worker)
            say("registered", f"joined the scheduler at {scheduler_address}")
            joined = True
            down_since, delay = None, backoff
            await _unless_stopped(worker.finished(), stop)
            if stop.is_set():
                break
            say("lost", f"lost the scheduler at {scheduler_address}")
            joined = False
        except (OSError, TimeoutError, ConnectionError, ssl.SSLError) as exc:
            if stop.is_set():
                break
            reason = str(exc) or type(exc).__name__
            what = "lost" if joined else "waiting for"
            say("lost", f"{what} the scheduler at {scheduler_address}: {reason}")
            joined = False
        except Exception as exc:  # a Dask error while registering: retry, never die
            if stop.is_set():
                break
            say("lost", f"joining the scheduler at {scheduler_address} failed: {exc}")
            joined = False
        finally:
            if worker is not None:  # let it close in its own time: cancelling it logs
                closing = asyncio.ensure_future(worker.close(reason="edgeoffload"))
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(closing), 10)
        now = time.monotonic()
        down_since = now if down_since is None else down_since
        if give_up_after is not None and now - down_since >= give_up_after:
            return False
        pause = min(delay, max_backoff) * (0.75 + 0.5 * random.random())
        say("retrying", f"in {pause:.1f} s")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)
        delay = min(delay * 2, max_backoff)
    return True


# --------------------------------------------------------------------------- sessions


async def _identity(address: str, security: Security | None, timeout: float) -> dict[str, Any]:
    distributed = _distributed()
    args = security.get_connection_args("client") if security is not None else {}
    comm = await distributed.comm.connect(address, timeout=timeout, **args)
    try:
        await comm.write({"op": "identity", "n_workers": -1, "reply": True})
        reply = await asyncio.wait_for(comm.read(), timeout)
    finally:
        await comm.close()
    if not isinstance(reply, dict):
        raise ConnectionError(f"unexpected reply from the scheduler: {reply!r}")
    return reply


def scheduler_workers(
    address: str, security: Security | None, timeout: float = 5.0
) -> dict[str, WorkerEntry]:
    """The workers the scheduler at ``address`` knows now: Dask address -> entry.

    Raises
    ------
    WorkerUnavailableError, SecurityError, OffloadTimeoutError
        The scheduler cannot be reached, refused our certificate, or did not answer.
    """
    with map_exceptions(f"scheduler {address}"):
        info = asyncio.run(_identity(address, security, timeout))
    out: dict[str, WorkerEntry] = {}
    for worker_address, entry in dict(info.get("workers", {})).items():
        advert = entry.get(ADVERT_KEY)
        out[str(worker_address)] = {
            "name": str(entry.get("name", worker_address)),
            "nthreads": int(entry.get("nthreads", 1)),
            ADVERT_KEY: dict(advert) if isinstance(advert, dict) else None,
        }
    return out


# --------------------------------------------------------------------------- plain tasks


class DaskTasks:
    """Plain Dask task graphs on the cluster's workers, placed by Dask's own scheduler
    (its dynamic placement and work stealing): the baseline a user would otherwise pick.

    Each task is ``(id, function, inputs, pinned)``: ``inputs`` are the ids of tasks
    whose results become its first positional arguments; ``pinned`` the worker *name* it
    must run on, or ``None`` to let Dask choose.
    """

    def __init__(self, address: str, security: Security | None, timeout: float = 30.0) -> None:
        distributed = _distributed()
        with map_exceptions(f"Dask client of {address}"):
            self.client = distributed.Client(
                address, security=security, timeout=timeout, set_as_default=False
            )
        self._names: dict[str, str] = {}  # Dask address -> worker name

    def _refresh(self) -> None:
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        self._names = {a: str(w.get("name", a)) for a, w in info.items()}

    def _address_of(self, name: str) -> str:
        if name not in self._names.values():
            self._refresh()
        for address, known in self._names.items():
            if known == name:
                return address
        raise WorkerUnavailableError(f"Dask knows no worker named {name!r}")

    def run(
        self,
        tasks: list[tuple[str, Callable[..., Any], list[str], str | None]],
        outputs: list[str],
        timeout: float,
    ) -> dict[str, str]:
        """Submit ``tasks`` (in topological order) and wait up to ``timeout`` seconds for
        ``outputs``; returns the name of the worker each task ran on."""
        import uuid

        run = uuid.uuid4().hex[:12]
        futures: dict[str, Any] = {}
        try:
            with map_exceptions("Dask task graph"):
                for task_id, function, inputs, pinned in tasks:
                    where: dict[str, Any] = {}
                    if pinned is not None:
                        where = {
                            "workers": [self._address_of(pinned)],
                            "allow_other_workers": False,
                        }
                    futures[task_id] = self.client.submit(
                        function,
                        *[futures[i] for i in inputs],
                        key=f"{task_id}-{run}",
                        pure=False,
                        **where,
                    )
                end = time.monotonic() + timeout
                for output in outputs:
                    futures[output].result(timeout=max(0.01, end - time.monotonic()))
                placed = self.client.who_has(list(futures.values()))
            if any(a not in self._names for held in placed.values() for a in held):
                self._refresh()
            return {
                task_id: self._names.get(placed[f.key][0], placed[f.key][0])
                for task_id, f in futures.items()
                if placed.get(f.key)
            }
        finally:
            for future in futures.values():
                future.release()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close(timeout=5)
