"""TLS material for a cluster: certificates that carry their role; identities from them.

A worker runs code that clients send, so nobody unauthenticated may reach one, and it
learns who is on the other end from the connection, not from messages. Certificates
carry role and name in their subject, ``O=edgeoffload, OU=<role>, CN=<name>``:
``edgeoffload certs DIR`` writes ``ca.pem``/``ca-key.pem`` (the CA; keep the key offline),
``<role>.pem``/``<role>-key.pem`` per role (``CN=<role>``), and with ``--client NAME``
``clients/NAME/`` (``ca.pem``, ``client.pem``, ``client-key.pem``; ``CN=NAME``). Keys are
ECDSA P-256, mode 0600; certificates are valid for localhost and the hosts given; making
a set keeps what the folder holds. :class:`TLSMaterial` is one role's material in memory,
checked when built, with mutual-TLS contexts; :func:`peer_identity` reads the peer's role,
name and fingerprint; :func:`ensure_user_certificates` keeps a per-user set (secure with
no flags); :func:`ephemeral_material` makes one in memory for an embedded cluster.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import logging
import os
import re
import ssl
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from edgeoffload.errors import SecurityError

_CRYPTOGRAPHY_MISSING: ImportError | None = None
try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError as exc:  # the runtime extra is missing: _require() says so when needed
    _CRYPTOGRAPHY_MISSING = exc

__all__ = [
    "CERTIFICATE_FILES",
    "CLIENTS_FOLDER",
    "ROLES",
    "PeerIdentity",
    "TLSMaterial",
    "add_client_certificate",
    "check_client_name",
    "check_hosts",
    "complete_certificates",
    "ensure_user_certificates",
    "ephemeral_material",
    "expect_role",
    "identity_from_der",
    "is_loopback",
    "make_certificates",
    "peer_identity",
    "user_cert_folder",
]

logger = logging.getLogger(__name__)

ROLES = ("scheduler", "worker", "client")

_PAIRS = tuple(f"{role}{suffix}" for role in ROLES for suffix in (".pem", "-key.pem"))
CERTIFICATE_FILES: tuple[str, ...] = ("ca.pem", "ca-key.pem", *_PAIRS)
"""The files of a set, as :func:`make_certificates` writes them."""

CLIENTS_FOLDER = "clients"
"""The folder of a set that holds one folder per named client."""

_CLIENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_CLIENT_NAME_RULE = "1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit"
_BACKDATE = dt.timedelta(minutes=5)  # tolerate clocks a little behind the maker's
_EPHEMERAL_DAYS = 3650  # in-memory material lives as long as its process, no longer
_USER_DAYS = 3650  # the per-user set never leaves its 0700 folder
_CA_NAME = "edgeoffload cluster CA"
_ORGANIZATION = "edgeoffload"  # every subject's O; its OU is the role
_JSON_FORMAT = "edgeoffload-tls/1"
_JSON_FIELDS = ("format", "role", "ca", "cert", "key")


def _require() -> None:
    if _CRYPTOGRAPHY_MISSING is not None:
        raise SecurityError(
            f"TLS needs cryptography ({_CRYPTOGRAPHY_MISSING}): pip install 'edgeoffload[runtime]'"
        )


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


@dataclass(frozen=True)
class PeerIdentity:
    """Who a certificate says its holder is: ``role`` (``None`` if the certificate has no
    edgeoffload role, i.e. no ``O=edgeoffload`` with a known ``OU``), ``name`` (the common
    name, a client's name; else the whole subject) and ``fingerprint`` (lower-case hex
    SHA-256 of the certificate's DER bytes: stable for a certificate, unique to it)."""

    role: str | None
    name: str
    fingerprint: str


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    if len(values) != 1:
        return None
    value = values[0].value
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _identity(cert: x509.Certificate) -> PeerIdentity:
    subject = cert.subject
    unit = _attribute(subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
    ours = _attribute(subject, NameOID.ORGANIZATION_NAME) == _ORGANIZATION and unit in ROLES
    return PeerIdentity(
        role=unit if ours else None,
        name=_attribute(subject, NameOID.COMMON_NAME) or subject.rfc4514_string(),
        fingerprint=hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest(),
    )


def identity_from_der(der: bytes) -> PeerIdentity:
    """The identity in a DER certificate (as ``getpeercert(binary_form=True)`` gives it).

    Raises
    ------
    SecurityError
        ``der`` is not a certificate.
    """
    _require()
    try:
        cert = x509.load_der_x509_certificate(bytes(der))
    except ValueError as exc:
        raise SecurityError(f"not a DER certificate: {exc}") from exc
    return _identity(cert)


def peer_identity(sock: ssl.SSLSocket | ssl.SSLObject) -> PeerIdentity | None:
    """The identity in the certificate the other end of ``sock`` presented (``None``: none).

    Raises
    ------
    SecurityError
        ``sock`` is not connected or its handshake is not done.
    """
    try:
        der = sock.getpeercert(binary_form=True)
    except (OSError, ValueError) as exc:
        raise SecurityError(f"no TLS peer to identify (no connection or handshake): {exc}") from exc
    return None if der is None else identity_from_der(der)


def expect_role(role: str) -> Callable[[bytes | None], None]:
    """A channel's ``verify_peer(der)``: the peer's certificate must be a ``role`` one.

    ``der`` is ``None`` on a plain channel (opened without TLS on purpose): nothing to check.

    Raises
    ------
    SecurityError
        ``role`` is unknown; from the check: the certificate has another role, or none.
    """
    if role not in ROLES:
        raise SecurityError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")

    def verify(der: bytes | None) -> None:
        if der is None:
            return
        identity = identity_from_der(der)
        if identity.role != role:
            raise SecurityError(
                f"expected a {role} certificate, the peer presented "
                f"{identity.role or 'a role-less'} certificate {identity.name!r}"
            )

    return verify


class _Labels(NamedTuple):
    """How messages name the pieces of some material, and the command that remakes it."""

    ca: str
    cert: str
    key: str
    remake: str


def _folder_labels(folder: Path, role: str) -> _Labels:
    if folder.parent.name == CLIENTS_FOLDER and role == "client":
        remake = f"'edgeoffload certs {folder.parent.parent} --client {folder.name} --force'"
    else:
        remake = f"'edgeoffload certs {folder} --force'"
    cert, key = folder / f"{role}.pem", folder / f"{role}-key.pem"
    return _Labels(str(folder / "ca.pem"), str(cert), str(key), remake)


def _load_cert(data: bytes, label: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise SecurityError(f"{label} is not a PEM certificate: {exc}") from exc


def _load_key(data: bytes, label: str) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SecurityError(f"{label} is not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SecurityError(f"{label} is not an ECDSA key")
    return key


def _check_dates(cert: x509.Certificate, label: str, remake: str) -> None:
    now = dt.datetime.now(dt.UTC)
    if cert.not_valid_after_utc <= now:
        until = f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
        raise SecurityError(f"{label} expired on {until}: make new ones with {remake}")
    if cert.not_valid_before_utc > now:
        since = f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
        raise SecurityError(f"{label} is not valid before {since} (is this machine's clock right?)")


def _check_ca(ca: x509.Certificate, labels: _Labels) -> None:
    try:
        constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
        ca.verify_directly_issued_by(ca)
    except (x509.ExtensionNotFound, ValueError, TypeError, InvalidSignature) as exc:
        raise SecurityError(f"{labels.ca} is not a self-signed CA certificate") from exc
    if not constraints.ca:
        raise SecurityError(f"{labels.ca} is not a CA certificate")
    _check_dates(ca, labels.ca, labels.remake)


def _check_leaf(cert: x509.Certificate, ca: x509.Certificate, role: str, labels: _Labels) -> None:
    actual = _identity(cert).role
    if actual is None:
        raise SecurityError(
            f"{labels.cert} carries no edgeoffload role (an old certificate): remake the "
            f"folder with {labels.remake}"
        )
    if actual != role:
        raise SecurityError(f"{labels.cert} is a {actual} certificate, not a {role} certificate")
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise SecurityError(
            f"{labels.cert} is not signed by {labels.ca}: remake it with {labels.remake}"
        ) from exc
    _check_dates(cert, labels.cert, labels.remake)


def _check_pair(key: ec.EllipticCurvePrivateKey, cert: x509.Certificate, labels: _Labels) -> None:
    der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(der, spki) != cert.public_key().public_bytes(der, spki):
        raise SecurityError(f"{labels.key} does not belong to {labels.cert}")


def _validate(role: str, ca_pem: str, cert_pem: str, key_pem: str, labels: _Labels) -> PeerIdentity:
    _require()
    if role not in ROLES:
        raise SecurityError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    ca = _load_cert(ca_pem.encode(), labels.ca)
    cert = _load_cert(cert_pem.encode(), labels.cert)
    key = _load_key(key_pem.encode(), labels.key)
    _check_ca(ca, labels)
    _check_leaf(cert, ca, role, labels)
    _check_pair(key, cert, labels)
    return _identity(cert)


def check_client_name(name: str) -> str:
    """``name`` if it may name a client certificate (and its folder).

    Raises
    ------
    SecurityError
        ``name`` is not 1 to 64 ASCII letters, digits, ``-``, ``_`` or ``.`` starting with
        a letter or digit (so it is a safe folder name, never ``..``).
    """
    if not isinstance(name, str) or _CLIENT_NAME.fullmatch(name) is None:
        raise SecurityError(f"bad client name {name!r}: use {_CLIENT_NAME_RULE}")
    return name


def _load_chain(context: ssl.SSLContext, cert_pem: str, key_pem: str) -> None:
    """Load a certificate and key into ``context`` without a persistent file: ``ssl`` loads
    only from a file name, so on Linux the PEM goes to an anonymous in-memory file
    (``os.memfd_create``, opened as ``/proc/self/fd/N``), elsewhere to a file in a
    ``TemporaryDirectory`` (mode 0700) deleted once loaded, as Dask does (logged)."""
    data = (cert_pem.rstrip("\n") + "\n" + key_pem).encode()
    memfd = getattr(os, "memfd_create", None)
    if memfd is not None and os.path.isdir("/proc/self/fd"):
        fd = memfd("edgeoffload-tls", getattr(os, "MFD_CLOEXEC", 0))
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            context.load_cert_chain(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        return
    logger.debug("no memfd_create or /proc: loading the TLS key through a private temporary file")
    with tempfile.TemporaryDirectory(prefix="edgeoffload-tls-") as folder:
        path = os.path.join(folder, "chain.pem")
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(data)
        context.load_cert_chain(path)


@dataclass(frozen=True)
class TLSMaterial:
    """One role's TLS material in memory: ``role``, and the CA's certificate, this role's
    certificate and its key as PEM text (``ca_pem``, ``cert_pem``, ``key_pem``; left out of
    ``repr``); ``identity`` is computed. Checked when built.

    Raises
    ------
    SecurityError
        Unknown role; not PEM; the certificate's role is not ``role`` or it has none; it is
        not signed by the CA; it or the CA is outside its validity; the key is another's.
    """

    role: str
    ca_pem: str = field(repr=False)
    cert_pem: str = field(repr=False)
    key_pem: str = field(repr=False)
    identity: PeerIdentity = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not all(
            isinstance(v, str) for v in (self.role, self.ca_pem, self.cert_pem, self.key_pem)
        ):
            raise SecurityError("TLS material: role, ca_pem, cert_pem and key_pem must be text")
        role, remake = self.role, "'edgeoffload certs DIR --force'"
        labels = _Labels("the CA certificate", f"the {role} certificate", f"the {role} key", remake)
        identity = _validate(role, self.ca_pem, self.cert_pem, self.key_pem, labels)
        object.__setattr__(self, "identity", identity)

    def __repr__(self) -> str:
        return (
            f"TLSMaterial(role={self.role!r}, name={self.name!r}, fingerprint={self.fingerprint!r})"
        )

    @property
    def name(self) -> str:
        """The certificate's common name: the role, or a client's name."""
        return self.identity.name

    @property
    def fingerprint(self) -> str:
        """Lower-case hex SHA-256 of the certificate's DER bytes."""
        return self.identity.fingerprint

    @classmethod
    def from_folder(cls, folder: str | Path, role: str) -> TLSMaterial:
        """Read ``ca.pem``, ``<role>.pem`` and ``<role>-key.pem`` from ``folder``.

        Raises
        ------
        SecurityError
            A file is missing (the message names each and the command that makes it) or
            unreadable, or the material fails the checks of :class:`TLSMaterial`, named by
            file (``certs/worker.pem is a client certificate, not a worker certificate``).
        """
        folder = Path(folder)
        if role not in ROLES:
            raise SecurityError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
        labels = _folder_labels(folder, role)
        paths = [Path(labels.ca), Path(labels.cert), Path(labels.key)]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            make = labels.remake.replace(" --force'", "'")
            raise SecurityError(f"TLS material missing: {', '.join(missing)} (make it with {make})")
        try:
            ca_pem, cert_pem, key_pem = (p.read_text("ascii") for p in paths)
        except (OSError, UnicodeDecodeError) as exc:
            raise SecurityError(f"cannot read TLS material in {folder}: {exc}") from exc
        _validate(role, ca_pem, cert_pem, key_pem, labels)
        return cls(role, ca_pem, cert_pem, key_pem)

    def _context(self, context: ssl.SSLContext) -> ssl.SSLContext:
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.check_hostname = False
        context.verify_mode = ssl.CERT_REQUIRED
        try:
            context.load_verify_locations(cadata=self.ca_pem)
            _load_chain(context, self.cert_pem, self.key_pem)
        except (ssl.SSLError, OSError) as exc:
            raise SecurityError(f"cannot load the {self.role} TLS material: {exc}") from exc
        return context

    def server_context(self) -> ssl.SSLContext:
        """A server context: presents this certificate, requires the peer's (signed by the
        CA, ``CERT_REQUIRED``), no host name check, TLS >= 1.2. Which roles may connect is
        the caller's rule (:func:`peer_identity`). The key is loaded from memory (a Linux
        ``memfd``, else a temporary file deleted at once). ``SecurityError`` if refused."""
        return self._context(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))

    def client_context(self) -> ssl.SSLContext:
        """A client context: presents this certificate, requires the server's (signed by the
        CA), no host name check, TLS >= 1.2; loaded as for :meth:`server_context`."""
        return self._context(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))

    def to_json(self) -> str:
        """The material as JSON text, to hand to a child process over a pipe."""
        values = (_JSON_FORMAT, self.role, self.ca_pem, self.cert_pem, self.key_pem)
        return json.dumps(dict(zip(_JSON_FIELDS, values, strict=True)))

    @classmethod
    def from_json(cls, text: str | bytes) -> TLSMaterial:
        """Material from :meth:`to_json` text, checked like any other.

        Raises
        ------
        SecurityError
            ``text`` is not such JSON, or the material fails the checks.
        """
        try:
            data = json.loads(text)
        except (ValueError, TypeError) as exc:
            raise SecurityError(f"TLS material: not JSON: {exc}") from exc
        if not isinstance(data, dict) or set(data) != set(_JSON_FIELDS):
            raise SecurityError(f"TLS material: expected a JSON object with {_JSON_FIELDS}")
        if data["format"] != _JSON_FORMAT:
            raise SecurityError(f"TLS material: format {data['format']!r}, not {_JSON_FORMAT!r}")
        return cls(data["role"], data["ca"], data["cert"], data["key"])


def check_hosts(hosts: Sequence[str]) -> list[str]:
    out = []
    for host in hosts:
        text = host.strip().strip("[]") if isinstance(host, str) else ""
        if not text or not text.isascii() or any(c.isspace() or c in "/@" for c in text):
            raise SecurityError(f"not a host name or IP address: {str(host)[:60]!r}")
        out.append(text)
    return out


def _check_days(days: int) -> None:
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise SecurityError(f"certificates must be valid for at least 1 day, got {days!r}")


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _sign(
    key: ec.EllipticCurvePrivateKey,
    role: str | None,
    name: str,
    days: int,
    ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None = None,
    hosts: Sequence[str] = (),
) -> x509.Certificate:
    """A certificate for ``key``: a self-signed CA when ``ca`` is ``None``, else a role
    certificate (``OU=role``, ``CN=name``) signed by ``ca`` for ``hosts``."""
    names = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANIZATION)]
    if role is not None:
        names.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role))
    subject = x509.Name([*names, x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signer, issuer = (key, subject) if ca is None else (ca[0], ca[1].subject)
    now = dt.datetime.now(dt.UTC) - _BACKDATE
    is_ca = ca is None
    # digital_signature, content_commitment, key/data_encipherment, key_agreement,
    # key_cert_sign, crl_sign, encipher/decipher_only
    usage = x509.KeyUsage(True, False, False, False, False, is_ca, is_ca, False, False)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=0 if is_ca else None), True)
        .add_extension(usage, critical=True)
    )
    if ca is None:
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        return builder.add_extension(ski, critical=False).sign(signer, hashes.SHA256())
    san: list[x509.GeneralName] = []
    for host in dict.fromkeys(("localhost", "127.0.0.1", "::1", *hosts)):
        try:
            san.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            san.append(x509.DNSName(host))
    eku = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca[0].public_key())
    return (
        builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        .add_extension(aki, critical=False)
        .sign(signer, hashes.SHA256())
    )


def _pem(item: ec.EllipticCurvePrivateKey | x509.Certificate) -> bytes:
    if isinstance(item, ec.EllipticCurvePrivateKey):
        pkcs8, plain = serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        return item.private_bytes(serialization.Encoding.PEM, pkcs8, plain)
    return item.public_bytes(serialization.Encoding.PEM)


def _write(path: Path, data: bytes, private: bool) -> None:
    """Write ``path`` atomically (temporary file, rename); keys 0600, certificates 0644."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600 if private else 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _make_folder(folder: Path) -> None:
    """Create ``folder`` with mode 0700 (parents as needed) if it is missing."""
    if folder.is_dir():
        return
    try:  # (another thread or process may make it at the same moment: not an error)
        folder.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        if not folder.is_dir():
            raise SecurityError(f"{folder} exists and is not a folder") from None
        return
    except OSError as exc:
        raise SecurityError(f"cannot create {folder}: {exc}") from exc
    try:
        os.chmod(folder, 0o700)
    except OSError as exc:
        raise SecurityError(f"cannot create {folder}: {exc}") from exc


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``folder`` itself (no lock file), so that two
    processes completing the same set cannot make two CAs."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        logger.debug("no fcntl: making certificates in %s without a lock", folder)
        yield
        return
    fd = os.open(folder, os.O_RDONLY)  # an OSError: the callers' "cannot write" error
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SecurityError(f"cannot read {path}: {exc}") from exc


def _folder_ca(folder: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """The folder's CA key and certificate, checked (a CA, self-signed, valid, matching)."""
    ca, key = str(folder / "ca.pem"), str(folder / "ca-key.pem")
    labels = _Labels(ca, ca, key, f"'edgeoffload certs {folder} --force'")
    cert = _load_cert(_read(folder / "ca.pem"), labels.ca)
    private = _load_key(_read(folder / "ca-key.pem"), labels.key)
    _check_ca(cert, labels)
    _check_pair(private, cert, labels)
    return private, cert


def _complete_set(folder: Path, hosts: Sequence[str], days: int, overwrite: bool) -> list[str]:
    """Make what ``folder`` lacks; the names of the files written, in writing order."""
    present = [n for n in CERTIFICATE_FILES if (folder / n).exists()]
    todo: list[tuple[str, ec.EllipticCurvePrivateKey | None]] = []
    if overwrite or not present:
        key = _new_key()
        ca = key, _sign(key, None, _CA_NAME, days)
        _write(folder / "ca-key.pem", _pem(ca[0]), True)
        _write(folder / "ca.pem", _pem(ca[1]), False)
        written = ["ca-key.pem", "ca.pem"]
        todo = [(role, None) for role in ROLES]
    else:
        missing = [n for n in ("ca.pem", "ca-key.pem") if n not in present]
        if missing:
            raise SecurityError(
                f"{folder} holds {', '.join(present)} but no {' or '.join(missing)}: restore "
                "it, or pass --force to make a new set (certificates of the old CA stop working)"
            )
        ca = _folder_ca(folder)
        written = []
        for role in ROLES:
            labels = _folder_labels(folder, role)
            cert_path, key_path = Path(labels.cert), Path(labels.key)
            if not key_path.exists():
                todo.append((role, None))  # a certificate without its key is of no use
                continue
            kept = _load_key(_read(key_path), labels.key)
            if not cert_path.exists():
                todo.append((role, kept))  # a new certificate for the key kept
                continue
            cert = _load_cert(_read(cert_path), labels.cert)
            _check_leaf(cert, ca[1], role, labels)
            _check_pair(kept, cert, labels)
    for role, existing in todo:
        key = existing if existing is not None else _new_key()
        if existing is None:
            _write(folder / f"{role}-key.pem", _pem(key), True)
            written.append(f"{role}-key.pem")
        _write(folder / f"{role}.pem", _pem(_sign(key, role, role, days, ca, hosts)), False)
        written.append(f"{role}.pem")
    return written


def make_certificates(
    directory: str | Path,
    hosts: Sequence[str] = (),
    days: int = 365,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Make, or complete, a CA and a certificate per role (``OU=CN=<role>``) in ``directory``.

    A folder holding a CA (``ca.pem``, ``ca-key.pem``) keeps it and every valid role pair;
    only what is missing is made (a missing key: a new pair; a missing certificate: one
    for the key kept). ``directory`` is created (mode 0700, parents as needed) if
    missing; ``hosts``: extra names or IP addresses what is made now is valid for;
    ``days``: validity, days; ``overwrite``: a new CA and role pairs (``clients/`` is left
    alone, and no longer verifies). Returns every file of :data:`CERTIFICATE_FILES`
    (:func:`complete_certificates` tells which of them it wrote).

    Raises
    ------
    SecurityError
        Bad ``hosts`` or ``days``; some files exist but the CA (either file) does not; the
        CA is invalid or expired; an existing role certificate is not signed by the
        folder's CA, has no or another role, is expired, or does not match its key; the
        folder cannot be written.
    """
    complete_certificates(directory, hosts, days, overwrite)
    return {name: Path(directory) / name for name in CERTIFICATE_FILES}


def complete_certificates(
    directory: str | Path,
    hosts: Sequence[str] = (),
    days: int = 365,
    overwrite: bool = False,
) -> list[Path]:
    """:func:`make_certificates`, returning only the files it wrote (in writing order;
    empty when the set was complete). Raises as :func:`make_certificates` does."""
    _require()
    folder = Path(directory)
    clean = check_hosts(hosts)
    _check_days(days)
    _make_folder(folder)
    try:
        with _locked(folder):
            written = _complete_set(folder, clean, days, overwrite)
    except OSError as exc:
        raise SecurityError(f"cannot write certificates to {folder}: {exc}") from exc
    return [folder / name for name in written]


def add_client_certificate(
    directory: str | Path, name: str, days: int = 365, overwrite: bool = False
) -> Path:
    """Sign a certificate for the client ``name`` with the CA in ``directory``.

    Writes ``directory/clients/<name>/`` (mode 0700): ``ca.pem``, ``client.pem``
    (``OU=client``, ``CN=<name>``) and ``client-key.pem`` (0600), a folder to hand to that
    user, who connects with ``security="DIR/clients/<name>"``. ``days``: validity, days;
    ``overwrite``: replace that client's certificate (default: refuse). Returns the folder.

    Raises
    ------
    SecurityError
        ``name`` breaks :func:`check_client_name`'s rule; ``ca.pem`` or ``ca-key.pem`` is
        missing or invalid; the client exists and ``overwrite`` is false; the folder
        cannot be written.
    """
    _require()
    check_client_name(name)
    _check_days(days)
    folder = Path(directory)
    missing = [str(folder / n) for n in ("ca.pem", "ca-key.pem") if not (folder / n).is_file()]
    if missing:
        raise SecurityError(
            f"cannot sign a client certificate without {' and '.join(missing)}: make the set "
            f"with 'edgeoffload certs {folder}' (or run this where the CA key is kept)"
        )
    target = folder / CLIENTS_FOLDER / name
    try:
        with _locked(folder):
            ca = _folder_ca(folder)
            held = [n for n in ("ca.pem", "client.pem", "client-key.pem") if (target / n).exists()]
            if held and not overwrite:
                raise SecurityError(
                    f"{target} already holds {', '.join(held)}: pass --force to replace it"
                )
            _make_folder(folder / CLIENTS_FOLDER)
            _make_folder(target)
            key = _new_key()
            _write(target / "client-key.pem", _pem(key), True)
            _write(target / "client.pem", _pem(_sign(key, "client", name, days, ca)), False)
            _write(target / "ca.pem", _pem(ca[1]), False)
    except OSError as exc:
        raise SecurityError(f"cannot write the client certificate to {target}: {exc}") from exc
    return target


def ephemeral_material(hosts: Sequence[str] = ()) -> dict[str, TLSMaterial]:
    """A fresh CA and one :class:`TLSMaterial` per role, by role, in memory only.

    For an embedded cluster: no key touches a disk, and the CA key is dropped once the
    three certificates are signed, so nothing else can ever join.

    Raises
    ------
    SecurityError
        Bad ``hosts``.
    """
    _require()
    clean = check_hosts(hosts)
    ca_key = _new_key()
    ca = ca_key, _sign(ca_key, None, _CA_NAME, _EPHEMERAL_DAYS)
    out = {}
    for role in ROLES:
        key = _new_key()
        cert = _sign(key, role, role, _EPHEMERAL_DAYS, ca, clean)
        out[role] = TLSMaterial(role, _pem(ca[1]).decode(), _pem(cert).decode(), _pem(key).decode())
    return out


def user_cert_folder() -> Path:
    """The per-user certificate folder: ``$EDGEOFFLOAD_CERTS`` if set, else
    ``$XDG_CONFIG_HOME/edgeoffload/certs`` (if absolute, as the XDG specification requires),
    else ``~/.config/edgeoffload/certs``."""
    explicit = os.environ.get("EDGEOFFLOAD_CERTS", "")
    if explicit:
        return Path(explicit).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME", "")
    if config and Path(config).is_absolute():
        return Path(config) / "edgeoffload" / "certs"
    if config:
        logger.debug("XDG_CONFIG_HOME=%r is not absolute: ignored, as the spec says", config)
    return Path.home() / ".config" / "edgeoffload" / "certs"


def ensure_user_certificates(hosts: Sequence[str] = ()) -> Path:
    """The per-user folder (:func:`user_cert_folder`), holding a full, valid set.

    Made (mode 0700, parents as needed) with a full set valid for ten years on first use,
    completed and reused afterwards (as :func:`make_certificates`). ``hosts`` apply to
    certificates made now (no host name is ever checked).

    Raises
    ------
    SecurityError
        The folder is not a folder, is owned by another user, or is accessible to its
        group or others (the message says ``chmod 700 <folder>``); or as
        :func:`make_certificates`.
    """
    _require()
    folder = user_cert_folder()
    _make_folder(folder)
    try:
        status = folder.stat()
    except OSError as exc:
        raise SecurityError(f"cannot use {folder}: {exc}") from exc
    if status.st_uid != os.getuid():
        raise SecurityError(
            f"{folder} is owned by uid {status.st_uid}, not by you (uid {os.getuid()}): "
            "point EDGEOFFLOAD_CERTS at a folder of your own"
        )
    if status.st_mode & 0o077:
        raise SecurityError(
            f"{folder} is accessible to other users (mode {status.st_mode & 0o777:o}): "
            f"chmod 700 {folder}"
        )
    make_certificates(folder, hosts, days=_USER_DAYS)
    return folder
