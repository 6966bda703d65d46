"""Certificates that carry their role, mutual TLS over real sockets, identities from
certificates, the per-user folder and the ``certs`` command (no Dask)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import socket
import ssl
import tempfile
import threading
from pathlib import Path

import pytest

pytest.importorskip("cryptography")

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edgeoffload.cli import main
from edgeoffload.errors import SecurityError
from edgeoffload.runtime.wire.security import (
    CERTIFICATE_FILES,
    ROLES,
    PeerIdentity,
    TLSMaterial,
    add_client_certificate,
    check_client_name,
    ensure_user_certificates,
    ephemeral_material,
    expect_role,
    identity_from_der,
    make_certificates,
    peer_identity,
    user_cert_folder,
)

Seen = tuple[PeerIdentity | None, bytes] | BaseException


def _exchange(server: ssl.SSLContext, client: ssl.SSLContext) -> tuple[Seen, Seen]:
    """One TLS connection on 127.0.0.1: what each end saw of the other (the peer's identity
    and the bytes received) or the exception it got."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: dict[str, Seen] = {}

    def serve() -> None:
        conn, _ = listener.accept()
        conn.settimeout(10)
        try:
            with server.wrap_socket(conn, server_side=True) as tls:
                data = tls.recv(4)
                tls.sendall(b"pong")
                seen["server"] = (peer_identity(tls), data)
        except (ssl.SSLError, OSError) as exc:
            seen["server"] = exc
        finally:
            conn.close()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with (
            socket.create_connection(listener.getsockname(), timeout=10) as raw,
            client.wrap_socket(raw) as tls,
        ):
            tls.sendall(b"ping")
            seen["client"] = (peer_identity(tls), tls.recv(4))
    except (ssl.SSLError, OSError) as exc:
        seen["client"] = exc
    thread.join(10)
    listener.close()
    assert not thread.is_alive()
    return seen["server"], seen["client"]


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _subject(path: Path, oid: x509.ObjectIdentifier) -> str:
    return str(_cert(path).subject.get_attributes_for_oid(oid)[0].value)


def _sign_with_folder_ca(
    folder: Path,
    subject: x509.Name,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> tuple[str, str]:
    """A certificate (PEM) and key (PEM) signed by ``folder``'s CA, with any subject/dates."""
    ca = _cert(folder / "ca.pem")
    ca_key = serialization.load_pem_private_key((folder / "ca-key.pem").read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


NOW = dt.datetime.now(dt.UTC)


class TestMaking:
    def test_certificates_carry_role_and_name(self, tmp_path: Path) -> None:
        """Each role's certificate says O=edgeoffload, OU=<role>, CN=<role>, ECDSA P-256 signed
        with SHA-256 by the CA, for the hosts given; keys 0600 in a new 0700 folder."""
        folder = tmp_path / "deep" / "certs"
        files = make_certificates(folder, hosts=["10.1.2.3", "cam1"])
        assert list(files) == list(CERTIFICATE_FILES)
        assert sorted(p.name for p in folder.iterdir()) == sorted(CERTIFICATE_FILES)
        assert folder.stat().st_mode & 0o777 == 0o700
        ca = _cert(folder / "ca.pem")
        for role in ROLES:
            path = folder / f"{role}.pem"
            assert _subject(path, NameOID.ORGANIZATION_NAME) == "edgeoffload"
            assert _subject(path, NameOID.ORGANIZATIONAL_UNIT_NAME) == role
            assert _subject(path, NameOID.COMMON_NAME) == role
            cert = _cert(path)
            cert.verify_directly_issued_by(ca)
            assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
            assert cert.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
            assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} == {
                "127.0.0.1",
                "::1",
                "10.1.2.3",
            }
            assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "cam1"}
            assert (folder / f"{role}-key.pem").stat().st_mode & 0o777 == 0o600
            material = TLSMaterial.from_folder(folder, role)
            assert (material.role, material.name) == (role, role)
        assert (folder / "ca-key.pem").stat().st_mode & 0o777 == 0o600

    def test_second_run_keeps_the_ca_and_fills_in_deleted_files(self, tmp_path: Path) -> None:
        """A second run keeps every file byte for byte and remakes only the deleted ones: a
        lost key gets a new pair, a lost certificate a new one for the kept key."""
        make_certificates(tmp_path)
        before = {n: (tmp_path / n).read_bytes() for n in CERTIFICATE_FILES}
        make_certificates(tmp_path)
        assert {n: (tmp_path / n).read_bytes() for n in CERTIFICATE_FILES} == before

        (tmp_path / "client-key.pem").unlink()
        (tmp_path / "scheduler.pem").unlink()
        files = make_certificates(tmp_path)
        after = {n: p.read_bytes() for n, p in files.items()}
        changed = {n for n in CERTIFICATE_FILES if after[n] != before[n]}
        assert changed == {"client.pem", "client-key.pem", "scheduler.pem"}
        ca = _cert(tmp_path / "ca.pem")
        for role in ("client", "scheduler"):
            _cert(tmp_path / f"{role}.pem").verify_directly_issued_by(ca)
            assert TLSMaterial.from_folder(tmp_path, role).role == role

    def test_force_remakes_everything(self, tmp_path: Path) -> None:
        """overwrite=True makes a new CA and new role pairs, all valid together."""
        make_certificates(tmp_path)
        before = {n: (tmp_path / n).read_bytes() for n in CERTIFICATE_FILES}
        make_certificates(tmp_path, overwrite=True)
        assert all((tmp_path / n).read_bytes() != before[n] for n in CERTIFICATE_FILES)
        assert [TLSMaterial.from_folder(tmp_path, r).name for r in ROLES] == list(ROLES)

    def test_refuses_files_without_their_ca(self, tmp_path: Path) -> None:
        """Role files without the CA that signed them are refused, naming what is missing."""
        make_certificates(tmp_path)
        (tmp_path / "ca-key.pem").unlink()
        with pytest.raises(SecurityError, match=r"but no ca-key\.pem: restore it, or pass --force"):
            make_certificates(tmp_path)
        only_worker = tmp_path / "w"
        only_worker.mkdir()
        shutil.copy(tmp_path / "worker.pem", only_worker / "worker.pem")
        with pytest.raises(SecurityError, match=r"holds worker\.pem but no ca\.pem or ca-key\.pem"):
            make_certificates(only_worker)

    def test_refuses_a_role_certificate_of_another_ca(self, tmp_path: Path) -> None:
        """A role pair signed by another CA in the folder is refused, not kept."""
        make_certificates(tmp_path / "a")
        make_certificates(tmp_path / "b")
        for name in ("worker.pem", "worker-key.pem"):
            shutil.copy(tmp_path / "b" / name, tmp_path / "a" / name)
        with pytest.raises(SecurityError, match=r"worker\.pem is not signed by .*ca\.pem"):
            make_certificates(tmp_path / "a")

    def test_concurrent_first_use_makes_one_ca(self, tmp_path: Path) -> None:
        """Several threads completing the same empty folder at once end with one CA that
        signed every role certificate (the folder is locked while a set is made)."""
        folder = tmp_path / "certs"
        errors: list[BaseException] = []

        def make() -> None:
            try:
                make_certificates(folder)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=make) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
        assert sorted(p.name for p in folder.iterdir()) == sorted(CERTIFICATE_FILES)
        assert [TLSMaterial.from_folder(folder, r).role for r in ROLES] == list(ROLES)

    def test_bad_hosts_and_days(self, tmp_path: Path) -> None:
        """Host names with spaces or slashes, and validity under a day, are refused."""
        with pytest.raises(SecurityError, match="not a host name"):
            make_certificates(tmp_path, hosts=["a b"])
        with pytest.raises(SecurityError, match="at least 1 day"):
            make_certificates(tmp_path, days=0)
        assert list(tmp_path.iterdir()) == []


class TestClients:
    def test_client_certificate_added_later(self, tmp_path: Path) -> None:
        """A client added later is signed by the folder's CA, named in its certificate,
        usable as a folder, and its fingerprint differs from another client's."""
        make_certificates(tmp_path)
        alice = add_client_certificate(tmp_path, "alice")
        bob = add_client_certificate(tmp_path, "bob.smith-2")
        assert alice == tmp_path / "clients" / "alice"
        assert sorted(p.name for p in alice.iterdir()) == ["ca.pem", "client-key.pem", "client.pem"]
        assert alice.stat().st_mode & 0o777 == 0o700
        assert (alice / "client-key.pem").stat().st_mode & 0o777 == 0o600
        assert (alice / "ca.pem").read_bytes() == (tmp_path / "ca.pem").read_bytes()
        _cert(alice / "client.pem").verify_directly_issued_by(_cert(tmp_path / "ca.pem"))
        a = TLSMaterial.from_folder(alice, "client")
        b = TLSMaterial.from_folder(bob, "client")
        assert (a.role, a.name, b.name) == ("client", "alice", "bob.smith-2")
        assert a.fingerprint != b.fingerprint
        assert a.fingerprint == TLSMaterial.from_folder(alice, "client").fingerprint

    def test_existing_client_is_replaced_only_when_asked(self, tmp_path: Path) -> None:
        """Adding a client twice is refused; overwrite=True gives it a new certificate."""
        make_certificates(tmp_path)
        first = TLSMaterial.from_folder(add_client_certificate(tmp_path, "alice"), "client")
        with pytest.raises(SecurityError, match=r"already holds .*pass --force"):
            add_client_certificate(tmp_path, "alice")
        again = add_client_certificate(tmp_path, "alice", overwrite=True)
        assert TLSMaterial.from_folder(again, "client").fingerprint != first.fingerprint

    @pytest.mark.parametrize("name", ["", "..", ".hidden", "-x", "a b", "a/b", "é", "a" * 65])
    def test_bad_client_names(self, tmp_path: Path, name: str) -> None:
        """Names outside 1..64 letters, digits, '-_.' (starting alphanumeric) are refused
        with the rule, before anything is written."""
        make_certificates(tmp_path)
        with pytest.raises(SecurityError, match="1 to 64 letters, digits"):
            add_client_certificate(tmp_path, name)
        assert not (tmp_path / "clients").exists()
        assert check_client_name("A" * 64) == "A" * 64

    def test_needs_the_ca_key(self, tmp_path: Path) -> None:
        """Without ca-key.pem no client certificate is made, and the message says how."""
        with pytest.raises(SecurityError, match=r"without .*ca\.pem and .*ca-key\.pem.*certs"):
            add_client_certificate(tmp_path, "alice")


class TestMutualTLS:
    def test_handshake_gives_each_side_the_others_role(self, tmp_path: Path) -> None:
        """A worker server and a named client complete mutual TLS; each side reads the
        other's role, name and fingerprint from the connection."""
        make_certificates(tmp_path)
        worker = TLSMaterial.from_folder(tmp_path, "worker")
        alice = TLSMaterial.from_folder(add_client_certificate(tmp_path, "alice"), "client")
        server, client = _exchange(worker.server_context(), alice.client_context())
        assert server == (PeerIdentity("client", "alice", alice.fingerprint), b"ping")
        assert client == (PeerIdentity("worker", "worker", worker.fingerprint), b"pong")

    def test_peer_without_certificate_is_refused(self, tmp_path: Path) -> None:
        """A client that presents no certificate, even one trusting the CA, is refused."""
        make_certificates(tmp_path)
        worker = TLSMaterial.from_folder(tmp_path, "worker")
        anonymous = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        anonymous.check_hostname = False
        anonymous.load_verify_locations(cadata=worker.ca_pem)
        server, client = _exchange(worker.server_context(), anonymous)
        assert isinstance(server, ssl.SSLError)
        assert "certificate" in str(server).lower()
        assert isinstance(client, OSError) or (isinstance(client, tuple) and client[1] == b"")

    def test_certificate_of_another_ca_is_refused(self, tmp_path: Path) -> None:
        """A client of another CA is refused by the server, and a client refuses a server
        of another CA."""
        make_certificates(tmp_path / "ours")
        make_certificates(tmp_path / "theirs")
        worker = TLSMaterial.from_folder(tmp_path / "ours", "worker")
        ours = TLSMaterial.from_folder(tmp_path / "ours", "client")
        theirs = TLSMaterial.from_folder(tmp_path / "theirs", "client")
        server, client = _exchange(worker.server_context(), theirs.client_context())
        assert isinstance(server, ssl.SSLError)
        assert isinstance(client, OSError) or (isinstance(client, tuple) and client[1] == b"")
        rogue = TLSMaterial.from_folder(tmp_path / "theirs", "worker")
        server, client = _exchange(rogue.server_context(), ours.client_context())
        assert isinstance(client, ssl.SSLCertVerificationError)
        assert isinstance(server, OSError)

    @pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="Linux memfd_create only")
    def test_contexts_load_the_key_without_a_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """On Linux the contexts load the key from an anonymous memory file: they work
        with no usable temporary directory at all."""
        material = ephemeral_material()
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "does-not-exist"))
        server, client = _exchange(
            material["worker"].server_context(), material["client"].client_context()
        )
        assert server == (PeerIdentity("client", "client", material["client"].fingerprint), b"ping")
        assert isinstance(client, tuple) and client[0] is not None and client[0].role == "worker"
        assert list(tmp_path.iterdir()) == []

    def test_ephemeral_material_handshake_writes_nothing(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """In-memory material completes mutual TLS, shares one CA, refuses another set's
        client, and leaves the per-user folder untouched."""
        monkeypatch.setenv("EDGEOFFLOAD_CERTS", str(tmp_path / "user"))
        material = ephemeral_material(hosts=["10.9.9.9"])
        assert sorted(material) == sorted(ROLES)
        assert len({m.ca_pem for m in material.values()}) == 1
        assert [material[r].name for r in ROLES] == list(ROLES)
        server, client = _exchange(
            material["scheduler"].server_context(), material["worker"].client_context()
        )
        assert server == (PeerIdentity("worker", "worker", material["worker"].fingerprint), b"ping")
        assert client == (
            PeerIdentity("scheduler", "scheduler", material["scheduler"].fingerprint),
            b"pong",
        )
        other = ephemeral_material()
        server, _ = _exchange(material["worker"].server_context(), other["client"].client_context())
        assert isinstance(server, ssl.SSLError)
        assert not (tmp_path / "user").exists()


class TestMaterial:
    def test_from_folder_refuses_a_role_mismatch(self, tmp_path: Path) -> None:
        """A client pair where the worker's should be is named for what it is."""
        make_certificates(tmp_path)
        shutil.copy(tmp_path / "client.pem", tmp_path / "worker.pem")
        shutil.copy(tmp_path / "client-key.pem", tmp_path / "worker-key.pem")
        with pytest.raises(SecurityError, match=r"worker\.pem is a client certificate"):
            TLSMaterial.from_folder(tmp_path, "worker")

    def test_from_folder_refuses_an_old_role_less_certificate(self, tmp_path: Path) -> None:
        """A certificate without OU (from an older edgeoffload) is refused, saying to remake
        the folder with --force; making the set refuses to keep it too."""
        make_certificates(tmp_path)
        old = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edgeoffload worker")])
        cert, key = _sign_with_folder_ca(
            tmp_path, old, NOW - dt.timedelta(hours=1), NOW + dt.timedelta(days=1)
        )
        (tmp_path / "worker.pem").write_text(cert)
        (tmp_path / "worker-key.pem").write_text(key)
        message = rf"worker\.pem carries no edgeoffload role.*certs {tmp_path} --force"
        with pytest.raises(SecurityError, match=message):
            TLSMaterial.from_folder(tmp_path, "worker")
        with pytest.raises(SecurityError, match=message):
            make_certificates(tmp_path)
        der = _cert(tmp_path / "worker.pem").public_bytes(serialization.Encoding.DER)
        assert identity_from_der(der) == PeerIdentity(
            None, "edgeoffload worker", hashlib.sha256(der).hexdigest()
        )

    def test_from_folder_refuses_an_expired_certificate(self, tmp_path: Path) -> None:
        """A certificate past its end date is refused, with the date."""
        make_certificates(tmp_path)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "edgeoffload"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "client"),
                x509.NameAttribute(NameOID.COMMON_NAME, "client"),
            ]
        )
        end = NOW - dt.timedelta(days=1)
        cert, key = _sign_with_folder_ca(tmp_path, subject, end - dt.timedelta(days=2), end)
        (tmp_path / "client.pem").write_text(cert)
        (tmp_path / "client-key.pem").write_text(key)
        with pytest.raises(SecurityError, match=rf"client\.pem expired on {end:%Y-%m-%d}"):
            TLSMaterial.from_folder(tmp_path, "client")

    def test_from_folder_names_missing_files(self, tmp_path: Path) -> None:
        """Every missing file is named, with the command that makes them."""
        with pytest.raises(SecurityError) as info:
            TLSMaterial.from_folder(tmp_path, "worker")
        text = str(info.value)
        for name in ("ca.pem", "worker.pem", "worker-key.pem"):
            assert str(tmp_path / name) in text
        assert f"'edgeoffload certs {tmp_path}'" in text

    def test_key_of_another_certificate_is_refused(self, tmp_path: Path) -> None:
        """Material whose key belongs to another certificate is refused."""
        make_certificates(tmp_path)
        shutil.copy(tmp_path / "scheduler-key.pem", tmp_path / "worker-key.pem")
        with pytest.raises(SecurityError, match=r"worker-key\.pem does not belong to"):
            TLSMaterial.from_folder(tmp_path, "worker")

    def test_json_round_trip_and_garbage(self, tmp_path: Path) -> None:
        """to_json/from_json gives equal material with the same identity; garbage, another
        format or a mismatched role is refused; repr never shows the key."""
        make_certificates(tmp_path)
        worker = TLSMaterial.from_folder(tmp_path, "worker")
        back = TLSMaterial.from_json(worker.to_json())
        assert back == worker
        assert (back.role, back.name, back.fingerprint) == ("worker", "worker", worker.fingerprint)
        assert "PRIVATE KEY" not in repr(worker) and worker.fingerprint in repr(worker)
        text = worker.to_json()
        for garbage, match in [
            ("not json", "not JSON"),
            ("[]", "expected a JSON object"),
            ('{"role": "worker"}', "expected a JSON object"),
            (text.replace("edgeoffload-tls/1", "other/9"), "format"),
            (text.replace('"role": "worker"', '"role": "client"'), "is a worker certificate"),
            (text.replace("BEGIN CERTIFICATE", "BEGIN NONSENSE"), "not a PEM certificate"),
        ]:
            with pytest.raises(SecurityError, match=match):
                TLSMaterial.from_json(garbage)

    def test_identity_from_der(self, tmp_path: Path) -> None:
        """The identity of DER bytes: role, name and the SHA-256 of exactly those bytes;
        a certificate without edgeoffload subject has no role; garbage is refused."""
        make_certificates(tmp_path)
        der = _cert(tmp_path / "scheduler.pem").public_bytes(serialization.Encoding.DER)
        assert identity_from_der(der) == PeerIdentity(
            "scheduler", "scheduler", hashlib.sha256(der).hexdigest()
        )
        foreign = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "someone")])
        pem, _ = _sign_with_folder_ca(tmp_path, foreign, NOW, NOW + dt.timedelta(days=1))
        other = x509.load_pem_x509_certificate(pem.encode())
        assert identity_from_der(other.public_bytes(serialization.Encoding.DER)).role is None
        with pytest.raises(SecurityError, match="not a DER certificate"):
            identity_from_der(b"\x30\x03abc")

    def test_expect_role(self, tmp_path: Path) -> None:
        """The channel check passes the expected role and a plain channel, refuses others."""
        make_certificates(tmp_path)
        der = _cert(tmp_path / "client.pem").public_bytes(serialization.Encoding.DER)
        expect_role("client")(der)
        expect_role("worker")(None)
        with pytest.raises(SecurityError, match=r"expected a worker certificate.*client"):
            expect_role("worker")(der)
        with pytest.raises(SecurityError, match="unknown role"):
            expect_role("admin")

    def test_peer_identity_needs_a_handshake(self) -> None:
        """Asking an unconnected TLS socket for its peer is an error, not None."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        with (
            socket.socket() as raw,
            context.wrap_socket(raw, do_handshake_on_connect=False) as tls,
            pytest.raises(SecurityError, match="no TLS peer"),
        ):
            peer_identity(tls)


class TestUserFolder:
    def test_folder_from_environment(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """EDGEOFFLOAD_CERTS, then an absolute XDG_CONFIG_HOME, then ~/.config."""
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        monkeypatch.setenv("EDGEOFFLOAD_CERTS", str(tmp_path / "mine"))
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
        assert user_cert_folder() == tmp_path / "mine"
        monkeypatch.delenv("EDGEOFFLOAD_CERTS")
        assert user_cert_folder() == tmp_path / "xdg" / "edgeoffload" / "certs"
        monkeypatch.setenv("XDG_CONFIG_HOME", "relative/xdg")
        assert user_cert_folder() == tmp_path / "home" / ".config" / "edgeoffload" / "certs"
        monkeypatch.delenv("XDG_CONFIG_HOME")
        assert user_cert_folder() == tmp_path / "home" / ".config" / "edgeoffload" / "certs"

    def test_made_private_on_first_use_and_reused(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The first call makes a 0700 folder with a full set; the next reuses its CA."""
        folder = tmp_path / "a" / "certs"
        monkeypatch.setenv("EDGEOFFLOAD_CERTS", str(folder))
        assert ensure_user_certificates() == folder
        assert folder.stat().st_mode & 0o777 == 0o700
        assert sorted(p.name for p in folder.iterdir()) == sorted(CERTIFICATE_FILES)
        ca = (folder / "ca.pem").read_bytes()
        assert ensure_user_certificates() == folder
        assert (folder / "ca.pem").read_bytes() == ca
        assert TLSMaterial.from_folder(folder, "client").role == "client"

    def test_refuses_a_folder_others_can_open(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A group- or world-accessible folder is refused with the chmod that fixes it."""
        folder = tmp_path / "certs"
        folder.mkdir()
        folder.chmod(0o755)
        monkeypatch.setenv("EDGEOFFLOAD_CERTS", str(folder))
        with pytest.raises(SecurityError, match=rf"mode 755\): chmod 700 {folder}"):
            ensure_user_certificates()
        assert list(folder.iterdir()) == []


class TestCommand:
    def test_makes_then_keeps_then_fills_in(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """'certs DIR' writes the set, keeps it on a second run, and writes only what was
        deleted on a third, one line per file."""
        folder = tmp_path / "c"
        assert main(["certs", str(folder), "--host", "10.1.2.3"]) == 0
        out = capsys.readouterr().out.splitlines()
        assert [line for line in out if line.startswith("wrote")] == [
            f"wrote {folder / n}" for n in CERTIFICATE_FILES
        ]
        assert main(["certs", str(folder)]) == 0
        out = capsys.readouterr().out.splitlines()
        assert [line for line in out if line.startswith("kept")] == [
            f"kept  {folder / n}" for n in CERTIFICATE_FILES
        ]
        (folder / "worker.pem").unlink()
        assert main(["certs", str(folder)]) == 0
        text = capsys.readouterr().out
        assert f"wrote {folder / 'worker.pem'}\n" in text
        assert f"kept  {folder / 'worker-key.pem'}\n" in text
        assert text.count("wrote") == 1

    def test_clients_on_an_empty_folder(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """'--client' on an empty folder makes the set first, then each client's folder,
        and prints the connect() call to use."""
        folder = tmp_path / "c"
        assert main(["certs", str(folder), "--client", "alice", "--client", "bob"]) == 0
        out = capsys.readouterr().out
        assert f"wrote {folder / 'ca.pem'}\n" in out
        for name in ("alice", "bob"):
            assert f"wrote {folder / 'clients' / name} (ca.pem, client.pem, client-key.pem)" in out
            assert f'security="{folder / "clients" / name}")' in out
            material = TLSMaterial.from_folder(folder / "clients" / name, "client")
            assert material.name == name
        assert main(["certs", str(folder), "--client", "carol"]) == 0
        out = capsys.readouterr().out
        assert "ca.pem" not in out.replace("(ca.pem,", "")
        assert TLSMaterial.from_folder(folder / "clients" / "carol", "client").name == "carol"

    def test_force_warns_about_clients_of_the_old_ca(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """'--force' makes a new CA and names each client folder of the old one;
        '--client NAME --force' replaces it."""
        folder = tmp_path / "c"
        assert main(["certs", str(folder), "--client", "alice"]) == 0
        assert main(["certs", str(folder), "--client", "alice"]) == 1
        assert "pass --force" in capsys.readouterr().err
        assert main(["certs", str(folder), "--force"]) == 0
        out = capsys.readouterr().out
        assert f"note: {folder / 'clients' / 'alice'} is of the old CA" in out
        assert main(["certs", str(folder), "--client", "alice", "--force"]) == 0
        assert TLSMaterial.from_folder(folder / "clients" / "alice", "client").name == "alice"

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["--client", "../evil"], "--client: bad client name '../evil': use 1 to 64"),
            (["--client", "a", "--client", "a"], "--client: 'a' is given twice"),
            (["--days", "0"], "argument --days: must be between 1 and 36500, got 0"),
        ],
    )
    def test_bad_arguments_exit_2(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        argv: list[str],
        message: str,
    ) -> None:
        """Bad arguments are one line on stderr and exit code 2, with nothing written."""
        assert main(["certs", str(tmp_path / "c"), *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"edgeoffload: error: {message}")
        assert err.count("\n") == 1
        assert not (tmp_path / "c").exists()

    def test_folder_without_its_ca_exits_1(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Role files whose CA is gone are a one-line security error (exit code 1)."""
        make_certificates(tmp_path)
        (tmp_path / "ca.pem").unlink()
        assert main(["certs", str(tmp_path)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("edgeoffload: error: ") and "but no ca.pem" in err
        assert err.count("\n") == 1
