"""The semi-internal Dask API the runtime relies on. If Dask moves it, this fails loudly.

Everything checked here is used by ``edgeoffload/runtime/wire/dask_api.py``; see its docstring.
The pin is ``dask==distributed==2026.8.0`` in pyproject.toml.
"""

from __future__ import annotations

import inspect

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


def test_server_dispatch_contract() -> None:
    """A handler whose first parameter is 'comm' receives the comm and the message keys."""
    from distributed.core import Server, _expects_comm

    source = inspect.getsource(Server._handle_comm)
    assert "self.handlers[op]" in source
    assert "handler(comm, **msg)" in source

    async def handler(comm: object, client: str) -> str:
        return client

    assert _expects_comm(handler)


def test_worker_plugin_and_nanny_contract() -> None:
    """Worker(plugins=...), Worker.handlers, Worker.plugins, Nanny.pid, plugin idempotence."""
    from distributed import Nanny, Worker
    from distributed.diagnostics.plugin import SchedulerPlugin, WorkerPlugin

    assert "plugins" in inspect.signature(Worker.__init__).parameters
    assert "worker_kwargs" in inspect.signature(Nanny.__init__).parameters
    assert isinstance(inspect.getattr_static(Nanny, "pid"), property)
    assert hasattr(WorkerPlugin, "setup") and hasattr(WorkerPlugin, "teardown")
    assert "remove_client" in vars(SchedulerPlugin)
    assert {"start", "close"} <= set(vars(SchedulerPlugin))
    from distributed.scheduler import ClientState, Scheduler

    assert "last_seen" in ClientState.__slots__  # silent clients' code is dropped by it
    assert "client_heartbeat" in vars(Scheduler)
    assert "idempotent" in inspect.getsource(distributed.Client.register_plugin)


def test_security_contract(tmp_path) -> None:
    """Security.get_connection_args / get_listen_args give mutual-TLS ssl contexts."""
    import ssl

    from edgeoffload.runtime.wire.dask_api import load_security
    from edgeoffload.runtime.wire.security import make_certificates

    make_certificates(tmp_path)
    security = load_security(tmp_path, "client")
    for args in (security.get_connection_args("client"), security.get_listen_args("worker")):
        context = args["ssl_context"]
        assert isinstance(context, ssl.SSLContext)
        assert context.verify_mode == ssl.CERT_REQUIRED
    assert security.require_encryption


def test_live_handlers_rpc_and_scheduler_rpc() -> None:
    """On a real worker: our handlers sit in Worker.handlers, Client.rpc reaches them, and
    a scheduler plugin's broadcast reaches every worker through Scheduler.rpc."""
    from edgeoffload.runtime import LocalCluster
    from edgeoffload.runtime.wire import dask_api as _dask
    from edgeoffload.runtime.wire.bundles import python_version
    from edgeoffload.runtime.wire.protocol import PROTOCOL_VERSION
    from edgeoffload.runtime.worker.plugins import HANDLERS

    with LocalCluster(n_workers=1) as cluster:
        client = _dask.open_client(cluster.address)
        try:
            (address,) = _dask.refresh_workers(client)
            ops = client.run(lambda dask_worker: sorted(dask_worker.handlers), workers=[address])
            assert set(HANDLERS) <= set(ops[address])
            reply = _dask.control_call(
                client,
                address,
                "edgeoffload_hello",
                10,
                client="c",
                python=python_version(),
                protocol=PROTOCOL_VERSION,
            )
            assert reply["ok"] and reply["channel"].startswith("tcp://127.0.0.1:")
            refused = _dask.control_call(
                client,
                address,
                "edgeoffload_hello",
                10,
                client="c",
                python="2.7",
                protocol=PROTOCOL_VERSION,
            )
            assert not refused["ok"]
            assert "Python 2.7" in refused["reason"] and python_version() in refused["reason"]
            assert cluster.worker_pids()["worker-0"] == reply["pid"]
        finally:
            _dask.close_client(client)
