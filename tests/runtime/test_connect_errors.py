"""``connect(address)`` to an address that cannot work fails fast and says what to do —
nothing listens there (start ``edgeoffload scheduler``), or the scheme is wrong (the right
one is named) — while an explicit ``timeout`` still waits for a scheduler that is
starting. Against real ``edgeoffload scheduler`` processes on loopback.

The time bound (``FAST``) is a property of the default, not a performance figure: without
the fast path these connects wait 60 s.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import commands
import edgeoffload
from edgeoffload.errors import OffloadError, SecurityError, WorkerUnavailableError
from edgeoffload.runtime.wire.security import make_certificates

pytestmark = pytest.mark.dask

FAST = 6.0
"""Seconds within which a connect with no ``timeout`` must have failed."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _failure(connect: Callable[[], Any]) -> tuple[OffloadError, float]:
    """The error ``connect()`` raises and the seconds it took to raise it."""
    start = time.monotonic()
    try:
        session = connect()
    except OffloadError as exc:
        return exc, time.monotonic() - start
    session.close()
    raise AssertionError("connect() succeeded")


@pytest.fixture(scope="module")
def schedulers(
    tmp_path_factory: pytest.TempPathFactory, apps_folder: Path
) -> Iterator[tuple[str, str, Path]]:
    """A TLS and a plain-TCP scheduler: (TLS address, plain address, certificates)."""
    pytest.importorskip("distributed")
    root = tmp_path_factory.mktemp("connect")
    certs = root / "certs"
    make_certificates(certs)
    tls = commands.start(
        ["scheduler", "--port", "0", "--tls", str(certs), "--no-dashboard"],
        root / "tls.log",
        apps_folder,
    )
    try:
        plain = commands.start(
            ["scheduler", "--port", "0", "--insecure", "--no-dashboard"],
            root / "plain.log",
            apps_folder,
        )
    except BaseException:
        commands.stop(tls.proc)
        raise
    try:
        yield tls.address, plain.address, certs
    finally:
        commands.stop(plain.proc, tls.proc)


class TestNothingListens:
    @pytest.mark.parametrize("scheme", ["tls", "tcp"])
    def test_fails_fast_saying_what_to_run(
        self, schedulers: tuple[str, str, Path], scheme: str
    ) -> None:
        """No server on the port: WorkerUnavailableError within seconds, saying nothing
        listens there and the command that starts a scheduler there."""
        _, _, certs = schedulers
        port = _free_port()
        options: dict[str, Any] = {"security": certs} if scheme == "tls" else {"insecure": True}
        error, seconds = _failure(
            lambda: edgeoffload.connect(f"{scheme}://127.0.0.1:{port}", **options)
        )
        assert isinstance(error, WorkerUnavailableError), repr(error)
        assert seconds < FAST, seconds
        message = str(error)
        assert f"nothing listens at 127.0.0.1:{port}" in message
        command = f"edgeoffload scheduler --host 127.0.0.1 --port {port}"
        assert command + (" --insecure" if scheme == "tcp" else "'") in message
        assert "\n" not in message

    def test_an_explicit_timeout_waits_that_long(self) -> None:
        """``timeout=`` given: the connect keeps trying for that long, then says why."""
        pytest.importorskip("distributed")
        port = _free_port()
        error, seconds = _failure(
            lambda: edgeoffload.connect(f"tcp://127.0.0.1:{port}", insecure=True, timeout=3)
        )
        assert isinstance(error, WorkerUnavailableError), repr(error)
        assert 3.0 <= seconds < 3.0 + FAST, seconds
        assert "within 3 s" in str(error)
        assert f"nothing listens at 127.0.0.1:{port}" in str(error)

    def test_an_explicit_timeout_waits_for_a_scheduler_that_is_starting(
        self, tmp_path: Path, apps_folder: Path
    ) -> None:
        """The scheduler starts 2 s after the connect: with ``timeout=`` the session joins
        it."""
        pytest.importorskip("distributed")
        port = _free_port()

        def start_later() -> commands.Command:
            time.sleep(2.0)
            return commands.start(
                ["scheduler", "--port", str(port), "--insecure", "--no-dashboard"],
                tmp_path / "late.log",
                apps_folder,
            )

        with ThreadPoolExecutor(max_workers=1) as pool:
            late = pool.submit(start_later)
            try:
                start = time.monotonic()
                with edgeoffload.connect(
                    f"tcp://127.0.0.1:{port}", insecure=True, timeout=60
                ) as session:
                    assert not session.closed
                    assert session.address == f"tcp://127.0.0.1:{port}"
                assert time.monotonic() - start >= 2.0
            finally:
                commands.stop(late.result().proc)


class TestWrongScheme:
    def test_tcp_to_a_tls_scheduler_names_tls(self, schedulers: tuple[str, str, Path]) -> None:
        """``tcp://`` (insecure, said on purpose) to a TLS scheduler: at once, one line
        naming ``tls://`` at the same host and port."""
        tls, _, _ = schedulers
        where = tls.removeprefix("tls://")
        error, seconds = _failure(
            lambda: edgeoffload.connect(f"tcp://{where}", insecure=True, timeout=None)
        )
        assert isinstance(error, SecurityError), repr(error)
        assert seconds < FAST, seconds
        assert f"connect to tls://{where}" in str(error)
        assert "\n" not in str(error)

    def test_tcp_without_insecure_to_a_tls_scheduler_names_tls(
        self, schedulers: tuple[str, str, Path]
    ) -> None:
        """``tcp://`` without ``insecure=True`` to a TLS scheduler: the hint names
        ``tls://``, not ``insecure=True``."""
        tls, _, _ = schedulers
        where = tls.removeprefix("tls://")
        error, seconds = _failure(lambda: edgeoffload.connect(f"tcp://{where}"))
        assert isinstance(error, SecurityError), repr(error)
        assert seconds < FAST, seconds
        assert f"connect to tls://{where}" in str(error)

    def test_tls_to_a_plain_scheduler_names_tcp(self, schedulers: tuple[str, str, Path]) -> None:
        """``tls://`` to a plain-TCP scheduler: at once, one line naming ``tcp://`` and
        ``insecure=True``."""
        _, plain, certs = schedulers
        where = plain.removeprefix("tcp://")
        error, seconds = _failure(lambda: edgeoffload.connect(f"tls://{where}", security=certs))
        assert isinstance(error, SecurityError), repr(error)
        assert seconds < FAST, seconds
        assert f"connect to tcp://{where} with insecure=True" in str(error)
        assert "\n" not in str(error)

    def test_even_with_an_explicit_timeout(self, schedulers: tuple[str, str, Path]) -> None:
        """A wrong scheme is no scheduler that is starting: a ``timeout`` does not delay
        the answer."""
        _, plain, certs = schedulers
        where = plain.removeprefix("tcp://")
        error, seconds = _failure(
            lambda: edgeoffload.connect(f"tls://{where}", security=certs, timeout=60)
        )
        assert isinstance(error, SecurityError), repr(error)
        assert seconds < FAST, seconds
