"""``edgeoffload certs | scheduler | worker``: run a real offloading cluster.

::

    edgeoffload certs certs/ --host 10.0.0.5
    edgeoffload scheduler --host 10.0.0.5 --tls certs/
    edgeoffload worker --name cam1 --scheduler tls://10.0.0.5:8786 --tls certs/ \\
        --host 10.0.0.7 --role camera --preset jetson-tx2

Every port speaks mutual TLS: with ``--tls DIR`` the certificates of DIR, without it the
per-user folder (made on first use), so that one user's processes on one machine form a
secure cluster with no flags at all. ``--insecure`` means plain TCP, said on purpose.
Servers listen on loopback unless told otherwise. Each prints one line with its address
once it is up, then runs until interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edgeoffload.cli._common import console, output_folder, require_extra, whole
from edgeoffload.errors import ModelError
from edgeoffload.model.checks import shown

__all__ = ["register"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "certs",
        help="make a cluster's CA and certificates, or add client certificates",
        description=(
            "Make a CA and a certificate per role (scheduler, worker, client) in DIR, valid for "
            "localhost, 127.0.0.1, ::1 and every --host; each certificate names its role, so a "
            "client's cannot join as a worker. Files already in DIR are kept and only missing "
            "ones made. With --client NAME, add a certificate for that client in "
            "DIR/clients/NAME, a folder to hand to its user, who passes it as "
            "connect(..., security='DIR/clients/NAME'); DIR's CA signs it (the set is made "
            "first if DIR is empty)."
        ),
    )
    p.add_argument("directory", metavar="DIR")
    p.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="HOST",
        help="another host name or IP address the certificates made now are valid for (repeatable)",
    )
    p.add_argument(
        "--days",
        type=whole(1, 36500),
        default=365,
        help="validity of what is made now, days (default 365)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="without --client: make a new CA and set (every certificate of the old CA stops "
        "working); with --client: replace those clients' certificates",
    )
    p.add_argument(
        "--client",
        action="append",
        default=[],
        metavar="NAME",
        help="add a certificate for client NAME in DIR/clients/NAME (repeatable; letters, "
        "digits, '-', '_', '.')",
    )
    p.set_defaults(handler=run_certs)

    p = subparsers.add_parser(
        "scheduler",
        help="run the scheduler workers register with",
        description=(
            "Run the cluster's scheduler: workers register with it (only peers with a worker "
            "certificate may) and sessions find the workers through it. Without --tls it "
            "uses the per-user certificate folder (made on first use)."
        ),
    )
    _common_server_args(p)
    p.add_argument(
        "--port", type=whole(0, 65535), default=8786, help="port (default 8786; 0: any free)"
    )
    p.add_argument(
        "--dashboard-address",
        default="127.0.0.1:8787",
        metavar="HOST:PORT",
        help="where the dashboard listens (default 127.0.0.1:8787: loopback only)",
    )
    p.add_argument(
        "--no-dashboard", action="store_true", help="no dashboard and no HTTP port at all"
    )
    p.set_defaults(handler=run_scheduler_command)

    p = subparsers.add_parser(
        "worker",
        help="run a worker that runs offloaded calls",
        description=(
            "Run a worker: its direct channel, its code cache and the processes that run "
            "offloaded calls. It outlives its scheduler: when the scheduler goes away (a "
            "crash, a restart, a cut network) the worker keeps serving the sessions that "
            "reach it and rejoins the scheduler once it is back, retrying with backoff "
            "(forever unless --reconnect-timeout). A nanny starts it again if it dies "
            "(--no-nanny: none). It describes itself with --role and --preset (the "
            "simulator's device presets) or --speed/--power."
        ),
    )
    p.add_argument(
        "--scheduler",
        required=True,
        metavar="ADDRESS",
        help="the scheduler: tls://HOST:PORT (HOST:PORT alone means tls://), or "
        "tcp://HOST:PORT with --insecure",
    )
    p.add_argument("--name", required=True, help="worker name (its node id)")
    _common_server_args(p)
    p.add_argument(
        "--role",
        default="device",
        choices=("camera", "edge", "device"),
        help="the node's role in the model (default device; DHS treats cameras apart)",
    )
    p.add_argument(
        "--preset", help="a device preset: speed, cores, memory, power (see 'edgeoffload presets')"
    )
    p.add_argument("--speed", type=float, help="FLOP/s (overrides the preset's)")
    p.add_argument(
        "--power",
        metavar="IDLE,BUSY,TRANSMIT",
        help="power draw in watts (overrides the preset's)",
    )
    p.add_argument(
        "--nthreads",
        type=whole(1, 1024),
        default=1,
        help="calls run at once, each in a process of its own (default 1); not the threads "
        "of one call: see --blas-threads",
    )
    p.add_argument(
        "--blas-threads",
        type=whole(1, 1024),
        metavar="N",
        help="threads numpy's BLAS (OpenBLAS, MKL) and OpenMP may use in one offloaded call "
        "(default: OMP_NUM_THREADS, OPENBLAS_NUM_THREADS or MKL_NUM_THREADS if set, else "
        "the cores this worker may use); DAG tasks, pinned calls and probes always use 1, "
        "as the scheduling cost model assumes. With --nthreads K, K calls may use K*N "
        "threads at once",
    )
    p.add_argument(
        "--channel-port",
        type=whole(0, 65535),
        default=0,
        help="port of the direct channel (default: any)",
    )
    p.add_argument(
        "--reconnect-timeout",
        type=float,
        metavar="SECONDS",
        help="give up (exit status 3) after this long without a scheduler (default: never)",
    )
    p.add_argument(
        "--max-backoff",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="longest pause between two attempts to reach the scheduler (default 30)",
    )
    p.add_argument(
        "--cache-ttl",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="a session silent this long loses its code here (default 60)",
    )
    p.add_argument("--no-nanny", action="store_true", help="run without a nanny")
    p.set_defaults(handler=run_worker_command)


def _common_server_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument(
        "--tls",
        metavar="DIR",
        help="certificates made by 'edgeoffload certs' (default: the per-user folder)",
    )
    p.add_argument(
        "--insecure",
        action="store_true",
        help="plain TCP, no certificates: anyone who reaches a worker can run code there",
    )


def run_certs(args: argparse.Namespace) -> int:
    """Make or complete the set in DIR, or add ``--client`` certificates; print each file."""
    require_extra("cryptography", "runtime")
    from edgeoffload.errors import SecurityError
    from edgeoffload.runtime.wire.security import (
        add_client_certificate,
        check_client_name,
        check_hosts,
    )

    try:
        check_hosts(args.host)
    except SecurityError as exc:
        raise ModelError(exc.message, "--host") from None
    if not args.directory.strip():
        raise ModelError("give a folder", "DIR")
    folder = Path(args.directory)
    try:
        if folder.exists() and not folder.is_dir():
            raise ModelError(f"{shown(str(folder))} exists and is not a folder", "DIR")
    except OSError as exc:
        raise ModelError(f"cannot use {shown(str(folder))}: {exc.strerror}", "DIR") from None
    output_folder(folder.parent, "DIR")  # the set's own folder is made private (0700) later
    for name in args.client:
        try:
            check_client_name(name)
        except SecurityError as exc:
            raise ModelError(exc.message, "--client") from None
        if args.client.count(name) > 1:
            raise ModelError(f"{name!r} is given twice", "--client")
    if not args.client:
        _certificate_set(folder, args.host, args.days, args.force)
        return 0
    if not folder.exists() or (folder.is_dir() and not any(folder.iterdir())):
        _certificate_set(folder, args.host, args.days, overwrite=False)
    elif args.host:
        console.print("note: --host applies to a new set; client certificates need no host")
    for name in args.client:
        target = add_client_certificate(folder, name, args.days, overwrite=args.force)
        console.print(f"wrote {target} (ca.pem, client.pem, client-key.pem)", markup=False)
        console.print(
            f"  hand it to {name}, who connects with "
            f'edgeoffload.connect("tls://SCHEDULER:8786", security="{target}")',
            markup=False,
        )
    return 0


def _certificate_set(folder: Path, hosts: list[str], days: int, overwrite: bool) -> None:
    """Make or complete the set in ``folder``; print each file as written or kept."""
    from edgeoffload.runtime.wire.security import (
        CERTIFICATE_FILES,
        CLIENTS_FOLDER,
        complete_certificates,
    )

    written = complete_certificates(folder, hosts, days, overwrite=overwrite)
    for path in (folder / name for name in CERTIFICATE_FILES):
        console.print(f"{'wrote' if path in written else 'kept '} {path}", markup=False)
    if len(written) < len(CERTIFICATE_FILES) and hosts:
        console.print("note: kept certificates keep their hosts (--force makes a new set)")
    clients = folder / CLIENTS_FOLDER
    ca = (folder / "ca.pem").read_bytes()
    for client in sorted(clients.iterdir()) if overwrite and clients.is_dir() else ():
        try:
            current = (client / "ca.pem").read_bytes() == ca
        except OSError:  # missing or unreadable: not of this CA either
            current = False
        if not current:
            console.print(
                f"note: {client} is of the old CA and no longer works: remake it with "
                f"'edgeoffload certs {folder} --client {client.name} --force'",
                markup=False,
            )
    console.print("keep ca-key.pem offline; give each machine ca.pem and its role's pair")


def _material(args: argparse.Namespace, role: str) -> Any:
    """The server's TLS material from --tls / --insecure (None when insecure)."""
    from edgeoffload.runtime.wire.security import is_loopback
    from edgeoffload.runtime.worker.service import server_material

    if args.insecure and args.tls:
        raise ModelError("give --tls DIR or --insecure, not both", "arguments")
    if args.insecure and not is_loopback(args.host):
        print(
            f"edgeoffload: warning: plain TCP on {args.host or 'every interface'}: anyone who "
            "can reach this port can run code on the cluster's workers",
            file=sys.stderr,
        )
    return server_material(role, args.tls, insecure=args.insecure, hosts=[args.host])


def run_scheduler_command(args: argparse.Namespace) -> int:
    require_extra("distributed", "runtime")
    _log_state_changes()
    from edgeoffload.runtime.worker.scheduler import SchedulerOptions, serve

    material = _material(args, "scheduler")
    options = SchedulerOptions(
        host=args.host,
        port=args.port,
        material=material.to_json() if material is not None else None,
        dashboard_address=None if args.no_dashboard else args.dashboard_address,
    )
    serve(options, lambda a: print(f"edgeoffload scheduler listening at {a}", flush=True))
    print("edgeoffload scheduler stopped", file=sys.stderr)
    return 0


def _log_state_changes() -> None:
    """One line per change of the cluster's processes on standard error; Dask quieter."""
    import logging

    from edgeoffload.runtime.wire import dask_api

    dask_api.quiet_dask_logs()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")


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
    _log_state_changes()
    from edgeoffload.runtime.worker.description import describe_from_preset
    from edgeoffload.runtime.worker.service import ServiceOptions, run_worker

    for flag in ("reconnect_timeout", "max_backoff", "cache_ttl"):
        value = getattr(args, flag)
        if value is not None and not value > 0:
            raise ModelError(f"must be > 0 seconds, got {value}", f"--{flag.replace('_', '-')}")
    description = describe_from_preset(args.role, args.preset, args.speed, _parse_power(args.power))
    from edgeoffload.runtime.wire.addresses import scheduler_address

    scheduler = scheduler_address(args.scheduler, "--scheduler")
    if scheduler.startswith("tcp://") and not args.insecure:
        raise ModelError(
            f"{args.scheduler} is a plain-TCP scheduler: pass --insecure to join it", "--scheduler"
        )
    if scheduler.startswith("tls://") and args.insecure:
        raise ModelError(f"{args.scheduler} speaks TLS: drop --insecure", "--scheduler")
    material = _material(args, "worker")
    options = ServiceOptions(
        scheduler=scheduler,
        name=args.name,
        host=args.host,
        nthreads=args.nthreads,
        description=description.as_dict(),
        material=material.to_json() if material is not None else None,
        channel_port=args.channel_port,
        reconnect_timeout=args.reconnect_timeout,
        max_backoff=args.max_backoff,
        cache_ttl=args.cache_ttl,
        blas_threads=args.blas_threads,
    )
    return run_worker(
        options,
        nanny=not args.no_nanny,
        on_ready=lambda channel: print(
            f"edgeoffload worker {args.name} listening at {channel}", flush=True
        ),
    )
