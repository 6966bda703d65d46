"""Round trip of an offloaded no-op against Dask, Ray and raw TCP, in one run.

Measured on loopback, one worker process, the argument a ``bytes`` object of 1 KB and of
1 MB, the result ``None``:

- ``edgeoffload``: ``noop(x)`` in a session with the always-remote policy: mutual TLS to
  the worker's direct channel, liveness beats, the call run in a child process of the
  worker (that can be stopped when the call is abandoned) — everything a real call does;
- ``edgeoffload (plain TCP)``: the same on a cluster started with ``insecure=True``: no
  TLS, to compare like with like against raw TCP;
- ``dask client.submit``: ``client.submit(noop, x, workers=[w], pure=False).result()`` on
  the same worker, over the same mutual TLS;
- ``ray actor``: ``ray.get(actor.noop.remote(x))``, in ``.venv-ray`` (created here, with
  ``pip install ray``, if missing; ``--no-ray`` skips it);
- ``raw TCP``: a Python client sends a length and the payload, a server in another
  process reads it into a buffer and answers one byte (the floor).

Goals: faster than the Ray actor call at both sizes (issues 4 and 9: isolation, liveness and
TLS must not cost that); within 3x of raw TCP at 1 MB (issue 4; raw TCP has none of them).
Timings on a shared 2-core machine are noisy: medians of many round trips are reported,
with the 10th and 90th percentiles. Writes ``results/bench_runtime.json``.

Run: ``make bench-runtime`` or ``.venv/bin/python benchmarks/bench_runtime.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import edgeoffload
from edgeoffload.runtime import LocalCluster

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"1KB": 1_000, "1MB": 1_000_000}  # argument size, bytes


@edgeoffload.offload
def noop(x: bytes) -> None:
    """The offloaded no-op: receives the argument, returns nothing."""
    return None


def _timed(call: Callable[[], object], repeats: int, warmup: int = 20) -> dict[str, float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return {
        "median_ms": statistics.median(samples) * 1e3,
        "p10_ms": samples[len(samples) // 10] * 1e3,
        "p90_ms": samples[(len(samples) * 9) // 10] * 1e3,
        "n": repeats,
    }


def _repeats(size: int, quick: bool) -> int:
    base = 300 if size < 100_000 else 150
    return base // 5 if quick else base


# --------------------------------------------------------------------------- raw TCP

_TCP_SERVER = textwrap.dedent(
    """
    import socket, struct, sys
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    print(listener.getsockname()[1], flush=True)
    conn, _ = listener.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = bytearray(2_000_000)
    view = memoryview(buffer)
    while True:
        header = conn.recv(8, socket.MSG_WAITALL)
        if len(header) < 8:
            break
        (size,) = struct.unpack("!Q", header)
        got = 0
        while got < size:
            got += conn.recv_into(view[got:size], size - got)
        conn.sendall(b"k")
    """
)


def bench_raw_tcp(quick: bool) -> dict[str, dict[str, float]]:
    server = subprocess.Popen(
        [sys.executable, "-c", _TCP_SERVER], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        out = {}
        for label, size in SIZES.items():
            payload = os.urandom(size)
            header = struct.pack("!Q", size)

            def call(payload: bytes = payload, header: bytes = header) -> None:
                sock.sendall(header)
                sock.sendall(payload)
                sock.recv(1)

            out[label] = _timed(call, _repeats(size, quick))
        sock.close()
        return out
    finally:
        server.wait(10)


# --------------------------------------------------------------------------- edgeoffload


def bench_edgeoffload(cluster: LocalCluster, quick: bool) -> dict[str, dict[str, float]]:
    out = {}
    with edgeoffload.connect(cluster, policy="always-remote") as session:
        for label, size in SIZES.items():
            payload = os.urandom(size)
            out[label] = _timed(lambda payload=payload: noop(payload), _repeats(size, quick))
        remote = {r.where for r in session.stats().records}
        assert "local" not in remote, f"a no-op ran locally: {remote}"
    return out


def bench_dask_submit(cluster: LocalCluster, quick: bool) -> dict[str, dict[str, float]]:
    from distributed import Client

    from edgeoffload.runtime.wire.dask_api import make_security

    security = make_security(cluster.client_material)
    out = {}
    with Client(cluster.address, security=security) as client:
        (worker,) = client.scheduler_info()["workers"]
        for label, size in SIZES.items():
            payload = os.urandom(size)

            def call(payload: bytes = payload) -> None:
                client.submit(noop.__wrapped__, payload, workers=[worker], pure=False).result()

            out[label] = _timed(call, max(20, _repeats(size, quick) // 3), warmup=5)
    return out


# --------------------------------------------------------------------------- Ray

_RAY_SCRIPT = textwrap.dedent(
    """
    import json, os, statistics, sys, time
    import ray
    quick = sys.argv[1] == "1"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)

    @ray.remote
    class Actor:
        def noop(self, x):
            return None

    actor = Actor.remote()
    ray.get(actor.noop.remote(b""))
    out = {}
    for label, size in (("1KB", 1_000), ("1MB", 1_000_000)):
        payload = os.urandom(size)
        repeats = (300 if size < 100_000 else 150) // (5 if quick else 1)
        for _ in range(20):
            ray.get(actor.noop.remote(payload))
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            ray.get(actor.noop.remote(payload))
            samples.append(time.perf_counter() - start)
        samples.sort()
        out[label] = {"median_ms": statistics.median(samples) * 1e3,
                      "p10_ms": samples[len(samples) // 10] * 1e3,
                      "p90_ms": samples[(len(samples) * 9) // 10] * 1e3, "n": repeats}
    ray.shutdown()
    print("RESULT " + json.dumps(out), flush=True)
    """
)


def ray_python() -> Path:
    """The benchmark's own Ray environment, created on first use."""
    venv = ROOT / ".venv-ray"
    python = venv / "bin" / "python"
    if python.exists():
        probe = subprocess.run([str(python), "-c", "import ray"], capture_output=True)
        if probe.returncode == 0:
            return python
    print("creating .venv-ray with Ray (once; a few minutes)...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip_install(python, ["ray", "numpy"])
    return python


def pip_install(python: Path, requirements: list[str]) -> None:
    """Install ``requirements`` into the environment of ``python``, quietly."""
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *requirements,
        ],
        check=True,
    )


def bench_ray(quick: bool) -> dict[str, dict[str, float]]:
    python = ray_python()
    done = subprocess.run(
        [str(python), "-c", _RAY_SCRIPT, "1" if quick else "0"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, dict[str, float]] = json.loads(line[len("RESULT ") :])
            return result
    raise RuntimeError(f"the Ray benchmark failed: {done.stderr[-2000:]}")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer round trips (a smoke run)")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray actor call")
    parser.add_argument("--out", default=str(ROOT / "results" / "bench_runtime.json"))
    args = parser.parse_args(argv)

    from edgeoffload.runtime import WorkerSpec

    results: dict[str, dict[str, dict[str, float]]] = {}
    results["raw TCP"] = bench_raw_tcp(args.quick)
    with LocalCluster([WorkerSpec("bench")]) as cluster:
        results["edgeoffload"] = bench_edgeoffload(cluster, args.quick)
        results["dask client.submit"] = bench_dask_submit(cluster, args.quick)
    with LocalCluster([WorkerSpec("bench")], insecure=True) as cluster:
        results["edgeoffload (plain TCP)"] = bench_edgeoffload(cluster, args.quick)
    if not args.no_ray:
        results["ray actor"] = bench_ray(args.quick)

    from rich.console import Console
    from rich.table import Table

    table = Table(
        "method",
        *(f"{label} median (ms)" for label in SIZES),
        *(f"{label} vs raw TCP" for label in SIZES),
        *(f"{label} vs Ray" for label in SIZES),
        title="Round trip of an offloaded no-op (loopback; median, p10-p90 in the JSON)",
        title_justify="left",
    )
    for method, by_size in results.items():
        medians = [by_size[label]["median_ms"] for label in SIZES]
        raw = [results["raw TCP"][label]["median_ms"] for label in SIZES]
        ray = (
            [results["ray actor"][label]["median_ms"] for label in SIZES]
            if "ray actor" in results
            else None
        )
        table.add_row(
            method,
            *(f"{m:.3f}" for m in medians),
            *(f"{m / r:.2f}x" for m, r in zip(medians, raw, strict=True)),
            *(
                (f"{m / r:.2f}x" for m, r in zip(medians, ray, strict=True))
                if ray
                else ("-",) * len(SIZES)
            ),
        )
    console = Console(highlight=False)
    console.print(table)
    ours = results["edgeoffload"]
    plain = results["edgeoffload (plain TCP)"]
    verdicts = {
        "within 3x of raw TCP at 1 MB (plain TCP, like for like)": plain["1MB"]["median_ms"]
        <= 3 * results["raw TCP"]["1MB"]["median_ms"],
    }
    if "ray actor" in results:
        verdicts["faster than the Ray actor call at 1 KB and 1 MB"] = all(
            ours[label]["median_ms"] < results["ray actor"][label]["median_ms"] for label in SIZES
        )
    for goal, met in verdicts.items():
        console.print(f"goal: {goal}: {'met' if met else 'NOT met'}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"results": results, "goals": verdicts, "sizes": SIZES}, indent=1) + "\n"
    )
    console.print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
