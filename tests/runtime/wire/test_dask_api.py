"""The semi-internal Dask API the runtime relies on. If Dask moves it, this fails loudly.

Everything checked here is used by ``edgeoffload/runtime/wire/dask_api.py``; see its
docstring. The pin is ``dask==distributed==2026.8.0`` in pyproject.toml.
"""

from __future__ import annotations

import asyncio
import inspect
import ssl

import pytest

pytestmark = pytest.mark.dask

distributed = pytest.importorskip("distributed")


def test_pinned_version() -> None:
    """The adapter was written against this exact version; a new one needs a review."""
    import dask

    from edgeoffload.runtime.wire.dask_api import DASK_VERSION

    assert distributed.__version__ == DASK_VERSION, (
        f"distributed {distributed.__version__} is not the pinned {DASK_VERSION}: review "
        "runtime/wire/dask_api.py against its changelog, then update the pin and DASK_VERSION"
    )
    assert dask.__version__ == DASK_VERSION


def test_register_worker_is_a_comm_handler_of_the_scheduler() -> None:
    """register-worker is dispatched as handler(comm, **message), so a wrapper sees the peer."""
    from distributed.core import Server, _expects_comm
    from distributed.scheduler import Scheduler

    source = inspect.getsource(Server._handle_comm)
    assert "self.handlers[op]" in source
    assert "handler(comm, **msg)" in source
    assert list(inspect.signature(Scheduler.add_worker).parameters)[:2] == ["self", "comm"]

    async def guarded(comm: object, **message: object) -> None:  # the adapter's wrapper
        return None

    assert _expects_comm(guarded)
    assert '"register-worker": self.add_worker' in inspect.getsource(Scheduler.__init__)


def test_a_refused_registration_reads_as_an_error_on_the_worker() -> None:
    """The worker reads 'time' before 'status' in its registration reply: our refusal has both."""
    from distributed import Worker

    source = inspect.getsource(Worker._register_with_scheduler)
    assert 'response["time"]' in source
    assert 'response["status"] != "OK"' in source


def test_startup_information_reaches_the_schedulers_identity() -> None:
    """Worker(startup_information=...) lands in WorkerState.extra, which identity() spreads."""
    from distributed import Worker
    from distributed.scheduler import WorkerState

    assert "startup_information" in inspect.signature(Worker.__init__).parameters
    assert "**self.extra" in inspect.getsource(WorkerState.identity)


def test_http_servers_can_be_stopped() -> None:
    """Scheduler and worker start their HTTP server in start_http_server as http_server."""
    from distributed.node import ServerNode

    assert "self.http_server = HTTPServer" in inspect.getsource(ServerNode.start_http_server)


def test_security_accepts_pem_text_and_requires_client_certificates() -> None:
    """Security(tls_*=PEM text) gives mutual-TLS contexts without files of ours."""
    from edgeoffload.runtime.wire.dask_api import make_security
    from edgeoffload.runtime.wire.security import ephemeral_material

    material = ephemeral_material()["client"]
    security = make_security(material)
    for args in (security.get_connection_args("client"), security.get_listen_args("worker")):
        context = args["ssl_context"]
        assert isinstance(context, ssl.SSLContext)
        assert context.verify_mode == ssl.CERT_REQUIRED
    assert security.require_encryption


def test_a_live_scheduler_lists_an_advertised_worker() -> None:
    """A scheduler run by the adapter lists a Dask worker registered by keep_registered,
    with its advert; a worker that presents a client certificate is refused."""
    from edgeoffload.runtime.wire import dask_api
    from edgeoffload.runtime.wire.security import ephemeral_material, identity_from_der

    material = ephemeral_material()
    securities = {role: dask_api.make_security(m) for role, m in material.items()}

    def admit(der: bytes | None) -> str | None:
        role = identity_from_der(der).role if der else None
        return None if role == "worker" else f"a {role} certificate"

    async def scenario() -> tuple[dict[str, dask_api.WorkerEntry], dict[str, object]]:
        stop = asyncio.Event()
        addresses: list[str] = []
        scheduler = asyncio.ensure_future(
            dask_api._serve_scheduler(
                "127.0.0.1", 0, securities["scheduler"], None, admit, addresses.append, stop
            )
        )
        while not addresses:
            await asyncio.sleep(0.05)
        states: dict[str, object] = {}
        worker_stop = asyncio.Event()
        worker = asyncio.ensure_future(
            dask_api.keep_registered(
                addresses[0],
                "w1",
                "127.0.0.1",
                securities["worker"],
                {"channel": "tls://127.0.0.1:1", "name": "w1"},
                worker_stop,
                on_state=lambda state, detail: states.setdefault(state, detail),
            )
        )
        rogue_stop = asyncio.Event()
        rogue = asyncio.ensure_future(
            dask_api.keep_registered(
                addresses[0],
                "rogue",
                "127.0.0.1",
                securities["client"],
                {"channel": "tls://127.0.0.1:2", "name": "rogue"},
                rogue_stop,
                on_state=lambda state, detail: states.setdefault(f"rogue-{state}", detail),
                connect_timeout=3.0,
            )
        )
        for _ in range(200):
            if "registered" in states and "rogue-lost" in states:
                break
            await asyncio.sleep(0.05)
        listed = await asyncio.to_thread(
            dask_api.scheduler_workers, addresses[0], securities["client"], 5.0
        )
        worker_stop.set()
        rogue_stop.set()
        await asyncio.gather(worker, rogue)
        stop.set()
        await scheduler
        return listed, states

    listed, states = asyncio.run(scenario())
    assert [entry["name"] for entry in listed.values()] == ["w1"]
    (entry,) = listed.values()
    assert entry[dask_api.ADVERT_KEY] == {"channel": "tls://127.0.0.1:1", "name": "w1"}
    assert "rogue-registered" not in states
    assert "rogue-lost" in states
