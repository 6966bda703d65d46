"""Make the cluster's TLS material and turn it into Kubernetes Secrets, one per role.

    python deploy/kubernetes/make_secrets.py certs/ -o secrets.yaml      # mode 0600
    python deploy/kubernetes/make_secrets.py certs/ --client alice -o secrets.yaml
    kubectl apply -f secrets.yaml          # then delete secrets.yaml: it holds private keys

The folder is a certificate set of ``edgeoffload certs``: what it lacks is made with the
same functions (:func:`~edgeoffload.runtime.wire.security.make_certificates`; an empty or
missing folder gets a new CA), what it holds is kept, and every pair is checked before it
goes into a Secret: signed by the folder's CA, valid now, its key matching, and carrying
its role (``O=edgeoffload, OU=<role>``), so a client's certificate can never reach a worker
pod. Each file made is named on standard error. Writes one Secret per role, each with the
CA certificate and that role's pair only:

    edgeoffload-scheduler-tls   ca.pem scheduler.pem scheduler-key.pem   (scheduler pod)
    edgeoffload-worker-tls      ca.pem worker.pem    worker-key.pem      (worker pods)
    edgeoffload-client-tls      ca.pem client.pem    client-key.pem      (client pods)

and, for each ``--client NAME``, ``edgeoffload-client-NAME-tls`` with ``ca.pem``,
``client.pem`` and ``client-key.pem`` of ``certs/clients/NAME/`` (made with
:func:`~edgeoffload.runtime.wire.security.add_client_certificate` if missing: a client
certificate whose common name is NAME, for a client program that should be told apart
from the others on the workers). The CA's private key (``ca-key.pem``) never goes into a
Secret; a folder holding every pair needed may lack it (the CA key kept offline).
"""

from __future__ import annotations

import argparse
import base64
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from edgeoffload.errors import EdgeOffloadError, SecurityError
from edgeoffload.runtime.wire.security import (
    CLIENTS_FOLDER,
    ROLES,
    TLSMaterial,
    add_client_certificate,
    complete_certificates,
)

__all__ = [
    "NAMESPACE",
    "Secret",
    "main",
    "prepare",
    "render",
    "secret_files",
]

NAMESPACE = "edgeoffload"

_SECRET_CLIENT = re.compile(r"[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?")
"""A client name that fits in a Secret's name (a DNS label, with room for the rest)."""

Secret = tuple[str, str, str | None, TLSMaterial]
"""(Secret name, role, client name or ``None``, the checked files it holds)."""


def secret_files(role: str) -> tuple[str, str, str]:
    """The files of ``role``'s Secret: the CA certificate and the role's pair."""
    return ("ca.pem", f"{role}.pem", f"{role}-key.pem")


def _say(line: str) -> None:
    print(f"make_secrets: {line}", file=sys.stderr)


def _complete(folder: Path, days: int) -> None:
    """Make what the folder lacks of the role pairs (nothing when every pair is there)."""
    needed = {folder / name for role in ROLES for name in secret_files(role)}
    if all(path.is_file() for path in needed):
        return  # the CA key may be kept offline: nothing to make, nothing to sign with
    try:
        written = complete_certificates(folder, days=days)
    except SecurityError as exc:
        raise SecurityError(
            f"{exc} (make_secrets makes what {folder} lacks, and needs its CA key for that)"
        ) from exc
    if folder / "ca.pem" in written:
        _say(f"made a new CA in {folder}: replace every Secret of the cluster together")
    for path in written:
        _say(f"made {path}")


def _check_clients(clients: Sequence[str]) -> None:
    for name in clients:
        if _SECRET_CLIENT.fullmatch(name) is None:
            raise SecurityError(
                f"bad client name {name!r} for a Secret: use 1 to 40 lower-case letters, "
                "digits or '-', starting and ending with a letter or digit"
            )
    twice = sorted({name for name in clients if list(clients).count(name) > 1})
    if twice:
        raise SecurityError(f"client {', '.join(map(repr, twice))} given twice")


def _client(folder: Path, name: str, days: int) -> Path:
    """The folder of client ``name``, its certificate made if it has none."""
    target = folder / CLIENTS_FOLDER / name
    if all((target / file).is_file() for file in secret_files("client")):
        return target
    add_client_certificate(folder, name, days=days)
    _say(f"made {target} (client certificate for {name!r})")
    return target


def prepare(folder: Path, clients: Sequence[str] = (), days: int = 365) -> list[Secret]:
    """Make what ``folder`` lacks, check every pair, and list the Secrets to write.

    Parameters
    ----------
    folder
        A certificate set (``edgeoffload certs DIR``), created with a new CA if missing or
        empty.
    clients
        Names of clients that get a certificate and a Secret of their own.
    days
        Validity of what is made now, days.

    Raises
    ------
    SecurityError
        Something must be made but the CA key is missing or invalid; a pair is not signed
        by the CA, expired, does not match its key, or carries no or another role (the
        message names the file); a client name cannot be part of a Secret's name, or is
        given twice.
    """
    _check_clients(clients)  # before anything is made
    _complete(folder, days)
    secrets: list[Secret] = []
    for role in ROLES:
        material = TLSMaterial.from_folder(folder, role)  # raises unless role, CA, dates fit
        secrets.append((f"edgeoffload-{role}-tls", role, None, material))
    for name in clients:
        target = _client(folder, name, days)
        material = TLSMaterial.from_folder(target, "client")
        if material.name != name:
            raise SecurityError(
                f"{target / 'client.pem'} is the certificate of client {material.name!r}, "
                f"not of {name!r}"
            )
        secrets.append((f"edgeoffload-client-{name}-tls", "client", name, material))
    return secrets


def render(
    folder: Path,
    namespace: str = NAMESPACE,
    clients: Sequence[str] = (),
    days: int = 365,
) -> str:
    """The Secrets of ``folder`` (see :func:`prepare`) as one multi-document YAML text.

    Raises
    ------
    SecurityError
        As :func:`prepare`.
    """
    docs = []
    for name, role, client, material in prepare(folder, clients, days):
        labels = [
            "    app.kubernetes.io/part-of: edgeoffload",
            f"    edgeoffload.io/tls-role: {role}",
        ]
        if client is not None:
            labels.append(f"    edgeoffload.io/client: {client}")
        lines = [
            "apiVersion: v1",
            "kind: Secret",
            "type: Opaque",
            "metadata:",
            f"  name: {name}",
            f"  namespace: {namespace}",
            "  labels:",
            *labels,
            "data:",
        ]
        texts = (material.ca_pem, material.cert_pem, material.key_pem)
        for file, text in zip(secret_files(role), texts, strict=True):
            lines.append(f"  {file}: {base64.b64encode(text.encode('ascii')).decode('ascii')}")
        docs.append("\n".join(lines) + "\n")
    header = "# TLS Secrets made by deploy/kubernetes/make_secrets.py; holds private keys.\n"
    return header + "---\n".join(docs)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the script; returns the exit status (0 written, 2 refused: one line on stderr)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "folder", type=Path, help="certificate set of 'edgeoffload certs' (made if missing)"
    )
    parser.add_argument("-n", "--namespace", default=NAMESPACE)
    parser.add_argument("-o", "--output", type=Path, help="write here (mode 0600), not stdout")
    parser.add_argument(
        "--client",
        action="append",
        default=[],
        metavar="NAME",
        help="also a certificate and a Secret edgeoffload-client-NAME-tls for client NAME "
        "(repeatable)",
    )
    parser.add_argument(
        "--days", type=int, default=365, help="validity of what is made now, days (default 365)"
    )
    args = parser.parse_args(argv)
    try:
        text = render(args.folder, args.namespace, args.client, args.days)
    except EdgeOffloadError as exc:
        print(f"make_secrets: error: {exc}", file=sys.stderr)
        return 2
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.touch(mode=0o600, exist_ok=True)
        args.output.chmod(0o600)
        args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
