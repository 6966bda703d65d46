"""Security: certificates, mutual TLS (certified clients only), the loopback rule, and
the scheduler/worker commands run as real processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import edgeoffload
from edgeoffload.cli import main
from edgeoffload.errors import OffloadError, SecurityError
from edgeoffload.runtime.wire.security import check_listen, is_loopback, make_certificates

app = pytest.importorskip("eo_testapp.board")
APPS = Path(__file__).resolve().parent / "apps"


class TestCertificates:
    def test_certs_command_writes_ca_and_role_pairs(self, tmp_path: Path) -> None:
        assert main(["certs", str(tmp_path / "c"), "--host", "10.1.2.3", "--host", "cam1"]) == 0
        files = sorted(p.name for p in (tmp_path / "c").iterdir())
        assert files == sorted(
            ["ca.pem", "ca-key.pem"]
            + [f"{r}{s}" for r in ("scheduler", "worker", "client") for s in (".pem", "-key.pem")]
        )
        assert (tmp_path / "c" / "client-key.pem").stat().st_mode & 0o077 == 0

    def test_sans_and_chain(self, tmp_path: Path) -> None:
        from cryptography import x509

        make_certificates(tmp_path, hosts=["10.1.2.3", "cam1"])
        cert = x509.load_pem_x509_certificate((tmp_path / "worker.pem").read_bytes())
        ca = x509.load_pem_x509_certificate((tmp_path / "ca.pem").read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} >= {
            "127.0.0.1",
            "::1",
            "10.1.2.3",
        }
        assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "cam1"}
        cert.verify_directly_issued_by(ca)

    def test_refuses_to_overwrite(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        make_certificates(tmp_path)
        assert main(["certs", str(tmp_path)]) == 1
        assert "--force" in capsys.readouterr().err
        assert main(["certs", str(tmp_path), "--force"]) == 0


class TestLoopbackRule:
    @pytest.mark.parametrize(
        ("host", "loopback"),
        [
            ("127.0.0.1", True),
            ("localhost", True),
            ("::1", True),
            ("127.1.2.3", True),
            ("0.0.0.0", False),
            ("", False),
            ("10.0.0.5", False),
            ("cam1.local", False),
        ],
    )
    def test_is_loopback(self, host: str, loopback: bool) -> None:
        assert is_loopback(host) is loopback

    def test_beyond_loopback_needs_tls_or_insecure(self) -> None:
        with pytest.raises(SecurityError, match="--tls DIR"):
            check_listen("0.0.0.0", tls=False, insecure=False, what="worker")
        check_listen("0.0.0.0", tls=True, insecure=False, what="worker")
        check_listen("0.0.0.0", tls=False, insecure=True, what="worker")
        check_listen("127.0.0.1", tls=False, insecure=False, what="worker")

    @pytest.mark.parametrize(
        "argv",
        [
            pytest.param(["scheduler", "--host", "0.0.0.0"], id="scheduler"),
            pytest.param(
                ["worker", "--name", "w", "--scheduler", "tcp://127.0.0.1:1", "--host", "0.0.0.0"],
                id="worker",
            ),
        ],
    )
    def test_commands_refuse(self, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
        assert main(argv) == 1
        assert "refusing to start" in capsys.readouterr().err

    def test_bad_worker_description_is_a_usage_error(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        argv = ["worker", "--name", "w", "--scheduler", "tcp://127.0.0.1:1"]
        assert main([*argv, "--power", "1,2"]) == 2
        assert main([*argv, "--preset", "no-such-device"]) == 2
        assert "no-such-device" in capsys.readouterr().err


def _start(args: list[str], log: Path) -> tuple[subprocess.Popen[str], str]:
    """Start an edgeoffload command; wait for its 'listening at ADDRESS' line."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(APPS), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgeoffload", *args],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        match = re.search(r"listening at (\S+)", line)
        if match:
            return proc, match.group(1)
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"{args[0]} did not start: {log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`edgeoffload scheduler` and `edgeoffload worker` as subprocesses, with mutual TLS."""
    pytest.importorskip("distributed")
    root = tmp_path_factory.mktemp("tls")
    certs = root / "certs"
    make_certificates(certs)
    scheduler, address = _start(
        ["scheduler", "--port", "0", "--tls", str(certs), "--dashboard-address", "127.0.0.1:0"],
        root / "scheduler.log",
    )
    worker = None
    try:
        assert address.startswith("tls://127.0.0.1:")
        worker, _ = _start(
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
        )
        yield address, certs
    finally:
        if worker is not None:
            _stop(worker)
        _stop(scheduler)


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
            node = session.model_nodes()["cam1"]
            assert node == expected
            assert session.stats().records[0].where == "cam1"

    def test_client_with_another_ca_is_refused(
        self, tls_cluster: tuple[str, Path], tmp_path: Path
    ) -> None:
        """Certificates from another CA do not get past the TLS handshake."""
        address, _ = tls_cluster
        make_certificates(tmp_path / "rogue")
        with pytest.raises(OffloadError):
            edgeoffload.connect(address, security=tmp_path / "rogue", timeout=5)

    def test_client_without_certificate_is_refused(self, tls_cluster: tuple[str, Path]) -> None:
        address, _ = tls_cluster
        with pytest.raises(SecurityError, match="security="):
            edgeoffload.connect(address, timeout=5)
        with pytest.raises(OffloadError):  # plain TCP to a TLS scheduler
            edgeoffload.connect(address.replace("tls://", "tcp://"), timeout=5)

    def test_channel_refuses_uncertified_peer(self, tls_cluster: tuple[str, Path]) -> None:
        """The direct call channel itself demands a client certificate."""
        import socket
        import ssl

        address, certs = tls_cluster
        with edgeoffload.connect(address, security=certs, wait_for_workers=1) as session:
            channel = session.pool.workers()[0].channel
            assert channel is not None and channel.address.startswith("tls://")
            host, port = channel.host, channel.port
        context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        context.check_hostname = False

        def talk() -> bytes:
            with (
                socket.create_connection((host, port), timeout=5) as raw,
                context.wrap_socket(raw, server_hostname=host) as tls,
            ):
                tls.sendall(bytes(16))
                return tls.recv(1)

        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            talk()
