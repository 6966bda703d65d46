"""TLS material for a cluster, and the rule that nothing executes code for strangers.

A worker runs whatever code a client sends it, so nobody unauthenticated may reach one.
``edgeoffload certs DIR`` makes a private certificate authority and a certificate for
each role, all signed by it::

    ca.pem  ca-key.pem                      the cluster's CA (keep ca-key.pem offline)
    scheduler.pem  scheduler-key.pem
    worker.pem     worker-key.pem
    client.pem     client-key.pem

Every certificate is valid for ``localhost``, ``127.0.0.1`` and ``::1`` plus the hosts
given, for both server and client authentication; keys are ECDSA P-256 and private key
files are readable by their owner only. Dask's TLS then requires a certificate signed by
this CA on *both* ends of every connection (mutual TLS), and so does the direct call
channel, which uses the same contexts.

:func:`check_listen` is the rule the ``scheduler`` and ``worker`` commands apply: a
server listening beyond loopback refuses to start without TLS unless the user passes
``--insecure``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from pathlib import Path

from edgeoffload.errors import SecurityError

__all__ = ["ROLES", "check_listen", "is_loopback", "make_certificates"]

ROLES = ("scheduler", "worker", "client")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address; ``""`` means every interface) is loopback."""
    host = host.strip().strip("[]")
    if host in ("localhost", "localhost.localdomain"):
        return True
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listen(host: str, tls: bool, insecure: bool, what: str) -> None:
    """Refuse to listen beyond loopback without mutual TLS, unless ``insecure``.

    Raises
    ------
    SecurityError
        ``host`` is not a loopback address, no TLS material was given, and ``insecure``
        is false. The message says how to fix it.
    """
    if tls or insecure or is_loopback(host):
        return
    shown = host or "every interface"
    raise SecurityError(
        f"refusing to start the {what} on {shown} without TLS: anyone who can reach it could "
        "run code on your workers. Make certificates with 'edgeoffload certs DIR' and pass "
        "--tls DIR, or pass --insecure if this network is trusted"
    )


def _san(hosts: Sequence[str]) -> list[object]:
    from cryptography import x509

    names: list[object] = []
    seen: set[str] = set()
    for host in ("localhost", "127.0.0.1", "::1", *hosts):
        if host in seen:
            continue
        seen.add(host)
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _write(path: Path, data: bytes, private: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    if private:
        os.chmod(path, 0o600)


def make_certificates(
    directory: str | Path,
    hosts: Sequence[str] = (),
    days: int = 365,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Make a CA and a certificate per role in ``directory``; return the files by name.

    Parameters
    ----------
    directory
        Created if missing.
    hosts
        Extra host names or IP addresses the certificates are valid for.
    days
        Validity, days.
    overwrite
        Replace existing files (default: refuse).

    Raises
    ------
    SecurityError
        Files exist and ``overwrite`` is false, or the folder cannot be written.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = Path(directory)
    names = ["ca.pem", "ca-key.pem"] + [f"{r}{s}" for r in ROLES for s in (".pem", "-key.pem")]
    existing = [n for n in names if (folder / n).exists()]
    if existing and not overwrite:
        raise SecurityError(
            f"{folder} already holds {', '.join(existing)}; pass --force to replace them"
        )
    if days < 1:
        raise SecurityError(f"--days must be at least 1, got {days}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SecurityError(f"cannot create {folder}: {exc}") from exc

    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    until = now + dt.timedelta(days=days)

    def pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edgeoffload cluster CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    out: dict[str, Path] = {}
    try:
        _write(folder / "ca.pem", ca_cert.public_bytes(serialization.Encoding.PEM), False)
        _write(folder / "ca-key.pem", pem_key(ca_key), True)
        out["ca.pem"], out["ca-key.pem"] = folder / "ca.pem", folder / "ca-key.pem"
        sans = x509.SubjectAlternativeName(_san(hosts))  # type: ignore[arg-type]
        for role in ROLES:
            key = ec.generate_private_key(ec.SECP256R1())
            cert = (
                x509.CertificateBuilder()
                .subject_name(
                    x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"edgeoffload {role}")])
                )
                .issuer_name(ca_name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now)
                .not_valid_after(until)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(sans, critical=False)
                .add_extension(
                    x509.ExtendedKeyUsage(
                        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                    ),
                    critical=False,
                )
                .add_extension(
                    x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                    critical=False,
                )
                .sign(ca_key, hashes.SHA256())
            )
            _write(folder / f"{role}.pem", cert.public_bytes(serialization.Encoding.PEM), False)
            _write(folder / f"{role}-key.pem", pem_key(key), True)
            out[f"{role}.pem"] = folder / f"{role}.pem"
            out[f"{role}-key.pem"] = folder / f"{role}-key.pem"
    except OSError as exc:
        raise SecurityError(f"cannot write certificates to {folder}: {exc}") from exc
    return out
