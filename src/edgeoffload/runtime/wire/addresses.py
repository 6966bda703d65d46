"""Addresses of a cluster's servers: read them strictly, and say why one cannot be reached.

A scheduler's address is ``tls://HOST:PORT`` (the default: every port speaks mutual TLS)
or ``tcp://HOST:PORT`` (``--insecure``); ``HOST:PORT`` alone means ``tls://``. Anything
else is refused up front with one line saying the form expected, rather than failing
later, deep in a connection attempt, or over and over in a worker's reconnection loop.

:func:`diagnose` tells the usual reasons a scheduler cannot be reached apart, quickly,
with one TCP connection and at most one TLS handshake: nothing listens there; it speaks
TLS while plain TCP was asked for; it answers in plain TCP while TLS was asked for. Each
:class:`Diagnosis` is one line that says what to do (the command to run, the scheme to
use).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from dataclasses import dataclass
from typing import Literal

from edgeoffload.errors import ModelError

__all__ = ["Diagnosis", "DiagnosisKind", "diagnose", "scheduler_address", "split_address"]

SCHEMES = ("tls", "tcp")

DiagnosisKind = Literal["nothing-listens", "unreachable", "wrong-scheme"]


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """Why a scheduler's address cannot be used, as one probe tells.

    Attributes
    ----------
    kind
        ``"nothing-listens"``: the host refused the connection (no server on that port,
        yet or any more); ``"unreachable"``: no route to the host, or an unknown host
        name; ``"wrong-scheme"``: a TLS server asked for with ``tcp://``, or a plain one
        with ``tls://``.
    message
        One line saying what was found and what to do.
    """

    kind: DiagnosisKind
    message: str

    def __str__(self) -> str:
        return self.message


def split_address(address: str) -> tuple[str, str, int]:
    """``"tls://127.0.0.1:4000"`` -> ``("tls", "127.0.0.1", 4000)`` (IPv6 without brackets;
    no scheme means ``tcp``); raises ValueError if the port is not a number."""
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    host, _, port = rest.rpartition(":")
    return scheme, host.strip("[]"), int(port)


def scheduler_address(text: str, where: str = "address") -> str:
    """``text`` as a full scheduler address, ``tls://`` unless it names ``tcp://``.

    Raises
    ------
    ModelError
        Another scheme, no host, or no port from 1 to 65535 (the message shows the form
        expected and names ``where``).
    """
    text = text.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "tls", text
    expected = "expected tls://HOST:PORT (or tcp://HOST:PORT with --insecure)"
    if scheme not in SCHEMES:
        raise ModelError(f"unknown scheme {scheme!r} in {text!r}: {expected}", where)
    host, colon, port = rest.rpartition(":")
    if not colon or not host.strip("[]"):
        raise ModelError(f"{text!r} has no host and port: {expected}", where)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ModelError(f"{text!r}: the port must be a number from 1 to 65535", where)
    return f"{scheme}://{host}:{int(port)}"


def diagnose(address: str, timeout: float = 2.0) -> Diagnosis | None:
    """Why the server at ``address`` cannot be a scheduler for us, if that is easy to
    tell; ``None`` when it accepts connections the way its scheme says, or when the probe
    itself timed out (it may be starting, or far away).

    The probe is one TCP connection and, if it is accepted, one TLS handshake with no
    certificate (a TLS server that refuses it with an alert still speaks TLS; one that
    answers with bytes that are not TLS, or closes the connection, does not).
    """
    scheme, host, port = split_address(address)
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except ConnectionRefusedError:
        insecure = " --insecure" if scheme == "tcp" else ""
        return Diagnosis(
            "nothing-listens",
            f"nothing listens at {host}:{port}: start the scheduler there "
            f"('edgeoffload scheduler --host {host} --port {port}{insecure}'), or check the "
            "address",
        )
    except OSError as exc:
        if isinstance(exc, TimeoutError):
            return None
        return Diagnosis("unreachable", f"cannot reach {host}:{port}: {exc.strerror or exc}")
    with contextlib.closing(raw):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        raw.settimeout(timeout)
        try:
            with context.wrap_socket(raw, server_hostname=host):
                speaks_tls = True
        except ssl.SSLError as exc:  # an alert is a TLS server refusing us: it speaks TLS
            speaks_tls = "ALERT" in str(exc.reason or "").upper()
        except TimeoutError:  # no answer either way: slow, or waiting for more
            return None
        except OSError:  # it closed the connection on a TLS hello
            speaks_tls = False
    if scheme == "tcp" and speaks_tls:
        return Diagnosis(
            "wrong-scheme",
            f"{host}:{port} speaks TLS, not plain TCP: connect to tls://{host}:{port} with the "
            "cluster's certificates (and without insecure=True)",
        )
    if scheme == "tls" and not speaks_tls:
        return Diagnosis(
            "wrong-scheme",
            f"{host}:{port} answers in plain TCP, not TLS: if it is an insecure scheduler "
            f"('edgeoffload scheduler --insecure'), connect to tcp://{host}:{port} with "
            "insecure=True",
        )
    return None
