"""Turn a folder made by ``edgeoffload certs`` into the cluster's TLS Secrets (YAML).

    edgeoffload certs certs/
    python deploy/kubernetes/make_secrets.py certs/ > secrets.yaml
    kubectl apply -f secrets.yaml          # then delete secrets.yaml: it holds private keys

Writes one Secret per role, each with the CA certificate and that role's pair only:

    edgeoffload-scheduler-tls   ca.pem scheduler.pem scheduler-key.pem
    edgeoffload-worker-tls      ca.pem worker.pem    worker-key.pem
    edgeoffload-client-tls      ca.pem client.pem    client-key.pem

The CA's private key (``ca-key.pem``) never goes into the cluster. The same Secrets with
kubectl alone::

    kubectl -n edgeoffload create secret generic edgeoffload-worker-tls \\
        --from-file=certs/ca.pem --from-file=certs/worker.pem --from-file=certs/worker-key.pem

Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import sys
from collections.abc import Sequence
from pathlib import Path

ROLES = ("scheduler", "worker", "client")
NAMESPACE = "edgeoffload"


def secret_files(role: str) -> tuple[str, str, str]:
    """The files of ``role``'s Secret."""
    return ("ca.pem", f"{role}.pem", f"{role}-key.pem")


def render(folder: Path, namespace: str = NAMESPACE, roles: Sequence[str] = ROLES) -> str:
    """The Secrets as one multi-document YAML text.

    Raises
    ------
    SystemExit
        If a file is missing (the message names it).
    """
    docs = []
    for role in roles:
        lines = [
            "apiVersion: v1",
            "kind: Secret",
            "type: Opaque",
            "metadata:",
            f"  name: edgeoffload-{role}-tls",
            f"  namespace: {namespace}",
            "  labels:",
            "    app.kubernetes.io/part-of: edgeoffload",
            f"    edgeoffload.io/tls-role: {role}",
            "data:",
        ]
        for name in secret_files(role):
            path = folder / name
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise SystemExit(
                    f"make_secrets: cannot read {path}: {exc.strerror} "
                    "(make the folder with 'edgeoffload certs DIR')"
                ) from None
            lines.append(f"  {name}: {base64.b64encode(data).decode('ascii')}")
        docs.append("\n".join(lines) + "\n")
    header = "# TLS Secrets made by deploy/kubernetes/make_secrets.py; holds private keys.\n"
    return header + "---\n".join(docs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="folder made by 'edgeoffload certs'")
    parser.add_argument("-n", "--namespace", default=NAMESPACE)
    parser.add_argument("-o", "--output", type=Path, help="write here (mode 0600), not stdout")
    args = parser.parse_args(argv)
    text = render(args.folder, args.namespace)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.touch(mode=0o600, exist_ok=True)
        args.output.chmod(0o600)
        args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
