"""``edgeoffload certs | scheduler | worker``: run a real offloading cluster.

::

    edgeoffload certs certs/ --host 10.0.0.5
    edgeoffload scheduler --host 10.0.0.5 --tls certs/
    edgeoffload worker --name cam1 --scheduler tls://10.0.0.5:8786 --tls certs/ \\
        --host 10.0.0.7 --role camera --preset jetson-tx2

Servers listen on loopback unless told otherwise, and refuse to listen beyond loopback
without ``--tls`` unless ``--insecure`` is given. Each prints one line with its address
once it is up, then runs until interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from edgeoffload.cli._common import console, require_extra
from edgeoffload.errors import ModelError

__all__ = ["register"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "certs",
        help="make a CA and TLS certificates for a cluster",
        description=(
            "Write ca.pem and a certificate and key for the scheduler, the workers and the "
            "clients to DIR, valid for localhost, 127.0.0.1, ::1 and every --host."
        ),
    )
    p.add_argument("directory", metavar="DIR")
    p.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="HOST",
        help="another host name or IP address the certificates are valid for (repeatable)",
    )
    p.add_argument("--days", type=int, default=365, help="validity in days (default 365)")
    p.add_argument("--force", action="store_true", help="replace existing files")
    p.set_defaults(handler=run_certs)

    p = subparsers.add_parser(
        "scheduler",
        help="run a Dask scheduler with the edgeoffload plugin",
        description="Run a scheduler that tells workers to drop a client's code when it leaves.",
    )
    _common_server_args(p)
    p.add_argument("--port", type=int, default=8786, help="port (default 8786; 0: any free)")
    p.add_argument(
        "--dashboard-address",
        default="127.0.0.1:8787",
        metavar="HOST:PORT",
        help="where the dashboard listens (default 127.0.0.1:8787: loopback only)",
    )
    p.add_argument("--no-dashboard", action="store_true", help="no dashboard at all")
    p.set_defaults(handler=run_scheduler_command)

    p = subparsers.add_parser(
        "worker",
        help="run a worker that runs offloaded calls",
        description=(
            "Run a worker (under a nanny that restarts it if it dies) with the edgeoffload "
            "plugin: code cache, call handler and direct call channel. It describes itself "
            "with --role and --preset (the simulator's device presets) or --speed/--power."
        ),
    )
    p.add_argument("--scheduler", required=True, metavar="ADDRESS", help="scheduler address")
    p.add_argument("--name", required=True, help="worker name (its node id)")
    _common_server_args(p)
    p.add_argument("--role", default="device", choices=("camera", "edge", "device"))
    p.add_argument("--preset", help="device preset (edgeoffload.workloads.devices)")
    p.add_argument("--speed", type=float, help="FLOP/s (overrides the preset's)")
    p.add_argument(
        "--power",
        metavar="IDLE,BUSY,TRANSMIT",
        help="power draw in watts (overrides the preset's)",
    )
    p.add_argument("--nthreads", type=int, default=1, help="calls run at once (default 1)")
    p.add_argument("--no-nanny", action="store_true", help="run without a nanny")
    p.set_defaults(handler=run_worker_command)


def _common_server_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--tls", metavar="DIR", help="TLS material made by 'edgeoffload certs'")
    p.add_argument(
        "--insecure",
        action="store_true",
        help="allow listening beyond loopback without TLS (trusted networks only)",
    )


def run_certs(args: argparse.Namespace) -> int:
    require_extra("cryptography", "runtime")
    from edgeoffload.runtime.wire.security import make_certificates

    files = make_certificates(args.directory, args.host, args.days, overwrite=args.force)
    console.print(f"wrote {len(files)} files to {args.directory}: {', '.join(sorted(files))}")
    console.print("keep ca-key.pem offline; give each machine ca.pem and its role's pair")
    return 0


def _announce(what: str) -> Any:
    def on_start(address: str) -> None:
        print(f"edgeoffload {what} listening at {address}", flush=True)

    return on_start


def _terminate_on_sigterm() -> None:
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def run_scheduler_command(args: argparse.Namespace) -> int:
    require_extra("distributed", "runtime")
    from edgeoffload.runtime.wire import dask_api as _dask
    from edgeoffload.runtime.wire.security import check_listen
    from edgeoffload.runtime.worker.plugins import EdgeOffloadSchedulerPlugin

    check_listen(args.host, bool(args.tls), args.insecure, "scheduler")
    security = _dask.load_security(args.tls, "scheduler")
    dashboard = None if args.no_dashboard else args.dashboard_address
    _terminate_on_sigterm()
    try:
        _dask.run_scheduler(
            args.host,
            args.port,
            security,
            dashboard,
            [EdgeOffloadSchedulerPlugin()],
            _announce("scheduler"),
        )
    except KeyboardInterrupt:
        print("edgeoffload scheduler stopped", file=sys.stderr)
    return 0


def _parse_power(text: str | None) -> dict[str, float] | None:
    if text is None:
        return None
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 3 or any(v < 0 for v in values):
        raise ModelError(f"expected IDLE,BUSY,TRANSMIT watts, got {text!r}", "--power")
    return dict(zip(("idle", "busy", "transmit"), values, strict=True))


def run_worker_command(args: argparse.Namespace) -> int:
    require_extra("distributed", "runtime")
    from edgeoffload.runtime.wire import dask_api as _dask
    from edgeoffload.runtime.wire.security import check_listen
    from edgeoffload.runtime.worker.description import describe_from_preset
    from edgeoffload.runtime.worker.plugins import EdgeOffloadWorkerPlugin

    if args.nthreads < 1:
        raise ModelError(f"must be >= 1, got {args.nthreads}", "--nthreads")
    check_listen(args.host, bool(args.tls), args.insecure, "worker")
    description = describe_from_preset(args.role, args.preset, args.speed, _parse_power(args.power))
    security = _dask.load_security(args.tls, "worker")
    _terminate_on_sigterm()
    try:
        _dask.run_worker(
            args.scheduler,
            args.name,
            args.host,
            security,
            args.nthreads,
            [EdgeOffloadWorkerPlugin(description.as_dict())],
            nanny=not args.no_nanny,
            on_start=_announce(f"worker {args.name}"),
        )
    except KeyboardInterrupt:
        print(f"edgeoffload worker {args.name} stopped", file=sys.stderr)
    return 0
