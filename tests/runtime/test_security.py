"""Security end to end: secure by default, identities from certificates, every port closed
to strangers — with the scheduler and worker commands run as real processes.

The certificate machinery itself is tested in ``tests/runtime/wire/test_security.py``.
"""

from __future__ import annotations

import re
import socket
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

import commands
import edgeoffload
from edgeoffload.cli import main
from edgeoffload.errors import OffloadError, SecurityError
from edgeoffload.runtime import LocalCluster
from edgeoffload.runtime.wire.channel import ChannelClient
from edgeoffload.runtime.wire.ops import Bye, Call, HasBundles
from edgeoffload.runtime.wire.protocol import dumps
from edgeoffload.runtime.wire.security import TLSMaterial, make_certificates

app = pytest.importorskip("eo_testapp.board")


class TestCommands:
    def test_certs_twice_keeps_the_files(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`certs DIR` keeps what is there and fills in what is missing."""
        folder = tmp_path / "c"
        assert main(["certs", str(folder)]) == 0
        ca = (folder / "ca.pem").read_bytes()
        (folder / "worker.pem").unlink()
        assert main(["certs", str(folder)]) == 0
        out = capsys.readouterr().out
        assert (folder / "ca.pem").read_bytes() == ca
        assert re.search(r"kept\s+\S*ca\.pem", out)
        assert re.search(r"wrote\s+\S*worker\.pem", out)
        assert TLSMaterial.from_folder(folder, "worker").identity.role == "worker"
        assert (folder / "client-key.pem").stat().st_mode & 0o077 == 0

    def test_a_tcp_scheduler_needs_insecure(self, capsys: pytest.CaptureFixture[str]) -> None:
        argv = ["worker", "--name", "w", "--scheduler", "tcp://127.0.0.1:1", "--tls", "nowhere"]
        assert main(argv) == 2
        assert main(["worker", "--name", "w", "--scheduler", "tcp://127.0.0.1:1"]) == 2
        assert "pass --insecure" in capsys.readouterr().err

    def test_bad_worker_description_is_a_usage_error(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        argv = ["worker", "--name", "w", "--scheduler", "tls://127.0.0.1:1"]
        assert main([*argv, "--power", "1,2"]) == 2
        assert main([*argv, "--preset", "no-such-device"]) == 2
        assert main([*argv, "--reconnect-timeout", "0"]) == 2
        assert "no-such-device" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tls_cluster(
    tmp_path_factory: pytest.TempPathFactory, apps_folder: Path
) -> Iterator[tuple[str, Path]]:
    """`edgeoffload scheduler` and `edgeoffload worker` as subprocesses with the certificates
    of `edgeoffload certs`, and two named clients, alice and bob."""
    pytest.importorskip("distributed")
    root = tmp_path_factory.mktemp("tls")
    certs = root / "certs"
    assert main(["certs", str(certs), "--client", "alice", "--client", "bob"]) == 0
    scheduler = commands.start(
        ["scheduler", "--port", "0", "--tls", str(certs), "--no-dashboard"],
        root / "scheduler.log",
        apps_folder,
    )
    worker = None
    try:
        address = scheduler.address
        assert address.startswith("tls://127.0.0.1:")
        worker = commands.start(
            [
                "worker",
                "--scheduler",
                address,
                "--name",
                "cam1",
                "--tls",
                str(certs),
                "--role",
                "camera",
                "--preset",
                "jetson-tx2",
            ],
            root / "worker.log",
            apps_folder,
        )
        yield address, certs
    finally:
        if worker is not None:
            commands.stop(worker.proc)
        commands.stop(scheduler.proc)


@pytest.mark.dask
class TestTLSCluster:
    def test_certified_client_offloads(self, tls_cluster: tuple[str, Path]) -> None:
        """A client with the cluster's certificates calls through the TLS channel."""
        address, certs = tls_cluster
        with edgeoffload.connect(
            address, security=certs, policy="always-remote", wait_for_workers=1
        ) as session:
            board = app.Board([5, 6])
            assert app.score(board, 2) == app.score.local(board, 2)
            (info,) = session.stats().workers
            assert (info.name, info.role, info.preset) == ("cam1", "camera", "jetson-tx2")
            from edgeoffload.workloads.devices import device_preset

            expected = device_preset("jetson-tx2").to_node("cam1", role="camera")
            assert session.model_nodes()["cam1"] == expected
            assert session.stats().records[0].where == "cam1"

    def test_strangers_are_refused(
        self, tls_cluster: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Another CA's certificates, none at all, or plain TCP do not get in."""
        address, _ = tls_cluster
        make_certificates(tmp_path / "rogue")
        with pytest.raises(SecurityError):
            edgeoffload.connect(address, security=tmp_path / "rogue", timeout=5)
        monkeypatch.setenv("EDGEOFFLOAD_CERTS", str(tmp_path / "user"))
        with pytest.raises(OffloadError):  # the per-user folder holds another CA
            edgeoffload.connect(address, timeout=5)
        with pytest.raises(SecurityError, match="insecure=True"):
            edgeoffload.connect(address.replace("tls://", "tcp://"), timeout=5)
        with pytest.raises(OffloadError):  # plain TCP to a TLS scheduler, said on purpose
            edgeoffload.connect(address.replace("tls://", "tcp://"), timeout=5, insecure=True)

    def test_the_channel_demands_a_client_certificate(self, tls_cluster: tuple[str, Path]) -> None:
        """A TLS peer with no certificate cannot talk to a worker's channel."""
        address, certs = tls_cluster
        with edgeoffload.connect(address, security=certs, wait_for_workers=1) as session:
            channel = session.pool.workers()[0].channel_address
        host, port = channel.removeprefix("tls://").rsplit(":", 1)
        context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        context.check_hostname = False
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            _talk(host, int(port), context)

    def test_a_client_cannot_reach_another_clients_code(
        self, tls_cluster: tuple[str, Path]
    ) -> None:
        """Bob, knowing Alice's session id and bundle hash, cannot list, call or drop her
        code: identity comes from the certificate, not from the message."""
        address, certs = tls_cluster
        alice, bob = certs / "clients" / "alice", certs / "clients" / "bob"
        with edgeoffload.connect(
            address, security=alice, policy="always-remote", wait_for_workers=1
        ) as session:
            board = app.Board([1, 2])
            assert app.score(board, 1) == app.score.local(board, 1)
            digest = session.bundles()["eo_testapp.board"].hash
            worker = session.pool.usable()[0]
            stolen = session.client_id
            thief = ChannelClient(
                worker.channel_address, TLSMaterial.from_folder(bob, "client").client_context()
            )
            try:
                ask = HasBundles(session=stolen, hashes=[digest]).header()
                assert thief.request(ask, (), 10)[0]["have"] == []
                call = Call(
                    session=stolen,
                    call=uuid.uuid4().hex,
                    bundle=digest,
                    module="eo_testapp.board",
                    qualname="score",
                )
                reply, _, _, _ = thief.request(call.header(), dumps(((board, 1), {})), 10)
                assert reply["status"] == "refused"
                assert "not in this worker's cache" in reply["error"]
                assert thief.request(Bye(session=stolen).header(), (), 10)[0]["status"] == "ok"
            finally:
                thief.close()
            expected = app.score.local(board, 2)
            assert app.score(board, 2) == expected
            record = session.stats().records[-1]
            assert (record.where, record.attempts, record.cold) == ("cam1", (), False)
            assert record.code_bytes == 0  # her code was still there

    def test_a_client_certificate_cannot_join_as_a_worker(
        self, tls_cluster: tuple[str, Path], tmp_path: Path
    ) -> None:
        """The worker command refuses a client's certificate, and so does the scheduler when
        a Dask worker presents one."""
        address, certs = tls_cluster
        fake = tmp_path / "fake"
        fake.mkdir()
        for name in ("ca.pem",):
            (fake / name).write_bytes((certs / name).read_bytes())
        (fake / "worker.pem").write_bytes((certs / "client.pem").read_bytes())
        (fake / "worker-key.pem").write_bytes((certs / "client-key.pem").read_bytes())
        argv = ["worker", "--scheduler", address, "--name", "mole", "--tls", str(fake)]
        assert main(argv) != 0
        from edgeoffload.runtime.wire import dask_api

        security = dask_api.make_security(TLSMaterial.from_folder(certs, "client"))
        entries = dask_api.scheduler_workers(address, security)
        assert sorted(e["name"] for e in entries.values()) == ["cam1"]


def _talk(host: str, port: int, context: ssl.SSLContext) -> None:
    """Talk TLS to ``host:port`` without a client certificate; raise however it fails."""
    with (
        socket.create_connection((host, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(bytes(64))
        tls.settimeout(6)
        if tls.recv(1) == b"":
            raise ConnectionError(f"port {port} closed the connection")


def _listening_ports(pids: list[int]) -> list[tuple[int, str, int]]:
    """(pid, host, port) of every TCP socket the processes (and their children) listen on."""
    found = []
    processes = [psutil.Process(p) for p in pids]
    for process in list(processes):
        processes.extend(process.children(recursive=True))
    for process in processes:
        for connection in process.net_connections(kind="tcp"):
            if connection.status == psutil.CONN_LISTEN:
                found.append((process.pid, connection.laddr.ip, connection.laddr.port))
    return found


@pytest.mark.dask
def test_every_port_of_the_embedded_cluster_refuses_strangers() -> None:
    """Plain TCP and TLS without a certificate get nothing from any port of connect()'s
    cluster; every port listens on loopback only."""
    with LocalCluster(n_workers=1) as cluster:
        with edgeoffload.connect(cluster, policy="always-remote") as session:  # the owner can
            board = app.Board([7])
            expected = app.score.local(board, 1)
            assert app.score(board, 1) == expected
            assert session.stats().records[-1].where == "worker-0"
        pids = [cluster.scheduler_pid, *cluster.worker_pids().values()]
        ports = _listening_ports([p for p in pids if p is not None])
        assert len(ports) >= 3  # the scheduler, the Dask worker, the worker's channel
        assert {host for _, host, _ in ports} == {"127.0.0.1"}
        stranger = ssl.create_default_context()
        stranger.check_hostname = False
        stranger.verify_mode = ssl.CERT_NONE
        for _, host, port in ports:
            with socket.create_connection((host, port), timeout=5) as raw:
                raw.sendall(b"GET / HTTP/1.0\r\n\r\n" + bytes(64))
                raw.settimeout(6)
                try:
                    answer = raw.recv(1024)
                except (ConnectionError, TimeoutError):
                    answer = b""
                assert b"HTTP" not in answer and not answer.startswith(b"{"), (port, answer)
            with pytest.raises((ssl.SSLError, ConnectionError, OSError)):  # no certificate
                _talk(host, port, stranger)
