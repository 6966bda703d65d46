"""Running ``ip`` and ``tc``: one place that turns their failures into :class:`NetemError`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence

from edgeoffload.errors import NetemError

__all__ = ["NetemError", "check_support", "ip", "netem_available", "run", "tc"]


def run(argv: Sequence[str], *, check: bool = True, timeout: float = 30.0) -> str:
    """Run ``argv``; return its stdout, or raise :class:`NetemError` with its stderr."""
    try:
        proc = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise NetemError(f"{argv[0]} is not installed (it comes with iproute2)") from None
    except subprocess.TimeoutExpired:
        raise NetemError(f"{' '.join(argv)} did not finish in {timeout:g} s") from None
    if check and proc.returncode != 0:
        message = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise NetemError(f"{' '.join(argv)}: {message[0] if message else 'failed'}")
    return proc.stdout


def ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    """``ip [-n NETNS] ARGS...``."""
    prefix = ["ip", "-n", netns] if netns else ["ip"]
    return run([*prefix, *args], check=check)


def tc(*args: str, netns: str, check: bool = True) -> str:
    """``tc -n NETNS ARGS...`` (always inside one of our namespaces)."""
    return run(["tc", "-n", netns, *args], check=check)


def check_support() -> str | None:
    """``None`` if this machine can build emulated networks, else the reason in one line.

    Needs Linux, root (or ``CAP_NET_ADMIN`` and ``CAP_SYS_ADMIN``; only root is checked),
    iproute2's ``ip`` and ``tc``, and a kernel that lets us create a network namespace.
    """
    if not sys.platform.startswith("linux"):
        return f"network namespaces need Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return f"network namespaces need root (this runs as uid {os.geteuid()})"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"'{tool}' (iproute2) is not installed"
    probe = f"eo-probe{os.getpid()}"
    try:
        run(["ip", "netns", "add", probe], timeout=10)
    except NetemError as exc:
        return f"cannot create a network namespace: {exc}"
    try:
        run(["ip", "-n", probe, "link", "add", "p0", "type", "veth", "peer", "name", "p1"])
    except NetemError as exc:
        return f"cannot create a veth pair: {exc}"
    finally:
        run(["ip", "netns", "del", probe], check=False)
    return None


def netem_available() -> bool:
    """Whether the kernel has the ``netem`` qdisc (tried on ``lo`` of a scratch namespace)."""
    probe = f"eo-nprobe{os.getpid()}"
    try:
        run(["ip", "netns", "add", probe], timeout=10)
    except NetemError:
        return False
    try:
        run(["tc", "-n", probe, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"])
        return True
    except NetemError:
        return False
    finally:
        run(["ip", "netns", "del", probe], check=False)
