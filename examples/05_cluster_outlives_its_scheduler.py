"""A secure cluster that outlives its scheduler: kill it, keep calling, bring it back.

Starts what an operator would — ``edgeoffload certs``, ``edgeoffload scheduler`` and two
``edgeoffload worker`` processes, all with mutual TLS — then, from a session:

1. calls a function on the workers;
2. kills the scheduler (SIGKILL): the workers keep serving the session meanwhile;
3. starts the scheduler again on the same port: the workers rejoin it by themselves,
   and the session follows it again.

Run: ``python examples/05_cluster_outlives_its_scheduler.py`` (about 20 s).
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import edgeoffload

EDGEOFFLOAD = [sys.executable, "-m", "edgeoffload"]


@edgeoffload.offload(policy="always-remote")
def count_primes(limit: int) -> int:
    """Primes below ``limit`` by trial division."""
    count = 0
    for n in range(2, limit):
        d = 2
        while d * d <= n:
            if n % d == 0:
                break
            d += 1
        else:
            count += 1
    return count


def start(*args: str, log: Path) -> subprocess.Popen[str]:
    """Start an ``edgeoffload`` command and wait for its 'listening at' line."""
    handle = log.open("w")
    proc = subprocess.Popen([*EDGEOFFLOAD, *args], stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while "listening at" not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{args[0]} did not start:\n{log.read_text()}")
        time.sleep(0.1)
    return proc  # type: ignore[return-value]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="edgeoffload-example-"))
    certs = folder / "certs"
    subprocess.run([*EDGEOFFLOAD, "certs", str(certs)], check=True, capture_output=True)
    port = free_port()
    address = f"tls://127.0.0.1:{port}"
    scheduler_args = ["scheduler", "--port", str(port), "--tls", str(certs), "--no-dashboard"]
    processes = [start(*scheduler_args, log=folder / "scheduler.log")]
    for name in ("w1", "w2"):
        args = ["worker", "--scheduler", address, "--name", name, "--tls", str(certs)]
        processes.append(start(*args, "--max-backoff", "1", log=folder / f"{name}.log"))
    print("a secure cluster: a scheduler and 2 workers, every port mutual TLS")
    try:
        with edgeoffload.connect(address, security=certs, wait_for_workers=2) as session:
            expected = count_primes.local(20_000)
            print("before:", count_primes(20_000) == expected, "on a worker:", on_worker(session))

            processes[0].kill()
            processes[0].wait()
            results = [count_primes(20_000) == expected for _ in range(5)]
            print("scheduler killed; 5 calls meanwhile, right:", all(results), end=", ")
            print("all on workers:", all(on_worker(session, -i) for i in range(1, 6)))

            time.sleep(3)
            processes[0] = start(*scheduler_args, log=folder / "scheduler-again.log")
            deadline = time.monotonic() + 60
            while listed(session) != ["w1", "w2"]:
                if time.monotonic() > deadline:
                    raise SystemExit("the workers did not rejoin")
                time.sleep(0.2)
            print("scheduler back: both workers rejoined it by themselves")
            while session.pool.scheduler_reachable is not True:
                time.sleep(0.2)
            print("after:", count_primes(20_000) == expected, "on a worker:", on_worker(session))
            rejoins = sum(
                len(re.findall(": joined the scheduler at ", (folder / f"{n}.log").read_text()))
                for n in ("w1", "w2")
            )
            print("registrations in the workers' logs:", rejoins)
    finally:
        for proc in reversed(processes):
            proc.terminate()
        for proc in processes:
            proc.wait(30)


def listed(session: edgeoffload.runtime.Session) -> list[str]:
    """The workers the scheduler lists now (none while it is down)."""
    try:
        return session.pool.listed()
    except edgeoffload.EdgeOffloadError:
        return []


def on_worker(session: edgeoffload.runtime.Session, index: int = -1) -> bool:
    """Whether call ``index`` of the session ran on a worker (not locally)."""
    return session.stats().records[index].where in ("w1", "w2")


if __name__ == "__main__":  # worker processes import this file: keep the guard
    main()
