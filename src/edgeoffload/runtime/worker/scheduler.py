"""The scheduler process: the cluster's membership, admitting only worker certificates.

A Dask scheduler keeps the list of workers (they register and heartbeat over mutual TLS);
sessions read it to find the workers' channels. Dask's TLS admits any certificate of the
cluster's CA, so this process also checks the *role* in the certificate of every peer that
registers as a worker: a client certificate cannot join as a worker. Its HTTP server
(dashboard, metrics) listens on loopback unless asked, and not at all without a dashboard.

``edgeoffload scheduler`` runs :func:`serve`; the embedded cluster of ``connect()`` starts
``python -m edgeoffload.runtime.worker.scheduler`` with its options as JSON on standard input.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from edgeoffload.errors import EdgeOffloadError, ModelError
from edgeoffload.runtime.wire import dask_api
from edgeoffload.runtime.wire.security import TLSMaterial, identity_from_der
from edgeoffload.runtime.worker.supervisor import supervised_process

__all__ = ["READY", "SchedulerOptions", "admit_worker", "main", "serve"]

READY = "edgeoffload scheduler ready"
"""Start of the line the process prints on standard output once it listens."""


@dataclass(frozen=True, slots=True)
class SchedulerOptions:
    """How to run a scheduler.

    Parameters
    ----------
    host, port
        Where it listens (port 0: any free one).
    material
        :meth:`TLSMaterial.to_json` of a scheduler certificate, or ``None`` (insecure).
    dashboard_address
        Where the dashboard and metrics listen (``None``: no HTTP server at all).
    """

    host: str = "127.0.0.1"
    port: int = 8786
    material: str | None = None
    dashboard_address: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> SchedulerOptions:
        try:
            return cls(**json.loads(text))
        except (ValueError, TypeError) as exc:
            raise ModelError(f"not scheduler options: {exc}", "stdin") from None


def admit_worker(der: bytes | None) -> str | None:
    """Why a peer registering as a worker is refused (``None``: admitted)."""
    if der is None:
        return "no certificate"
    identity = identity_from_der(der)
    if identity.role != "worker":
        return (
            f"{identity.role or 'a role-less'} certificate {identity.name!r} cannot join as a "
            "worker (make worker certificates with 'edgeoffload certs')"
        )
    return None


def serve(options: SchedulerOptions, on_ready: Callable[[str], None]) -> None:
    """Run the scheduler until interrupted; ``on_ready(address)`` once it listens."""
    material = TLSMaterial.from_json(options.material) if options.material else None
    if material is not None and material.role != "scheduler":
        raise ModelError(
            f"a scheduler needs a scheduler certificate, got a {material.role}'s", "tls"
        )
    security = dask_api.make_security(material)
    dask_api.run_scheduler(
        options.host,
        options.port,
        security,
        options.dashboard_address,
        on_ready,
        admit_worker=admit_worker if material is not None else None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m edgeoffload.runtime.worker.scheduler``: options as JSON on stdin;
    prints ``edgeoffload scheduler ready <address>`` once it listens."""
    del argv
    supervised_process()
    try:
        options = SchedulerOptions.from_json(sys.stdin.read())
        serve(options, lambda address: print(f"{READY} {address}", flush=True))
    except KeyboardInterrupt:
        return 0
    except EdgeOffloadError as exc:
        print(f"edgeoffload scheduler: error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
