"""Unchanged third-party programs offloaded from a client held to a quarter of a core.

The programs are those of ``tests/thirdparty`` at sizes where one call takes at least
0.5 s on an unthrottled core: pyperformance's pure-Python benchmarks (installed from the
package index, each ``run_benchmark.py`` loaded by path without changing it; a function
of it offloaded directly, or a wrapper of ``tests/thirdparty/apps/tp_wrappers.py`` that
runs it and returns what it computed), and seeded numpy, networkx and sympy programs
(``tp_science.py``). For each program, in one run:

* ``unthrottled``: the call run here with nothing held back (the compute time a free
  remote core gives; measured before the sessions, after one untimed run that gives the
  reference result, and in a full run again after them);
* ``local``: the call run here, the process held to 1/4 of a core
  (``connect(client_cpu_quota=0.25)``, the throttle of ``bench_offload_speedup``);
* ``edgeoffload``: the same call offloaded (``policy="always-remote"``) from that
  throttled client to one unthrottled worker;
* ``ray``: the same function as a ``@ray.remote`` task, Ray 2.60 in ``.venv-ray`` (the
  environment of ``bench_runtime.py``, given the same numpy, networkx, sympy and pyperf
  versions), one Ray worker (``num_cpus=1``), its driver held to 1/4 of a core the same
  way (a cgroup the benchmark puts the driver process in once ``ray.init`` is done).

One BLAS thread everywhere (here through threadpoolctl, the worker's ``blas_threads=1``,
``OMP_NUM_THREADS=1`` for Ray). Reported per program: the medians of local, edgeoffload
and Ray; speedup = local / edgeoffload; ideal = local / unthrottled (what a free remote
core gives) and % of ideal = speedup / ideal; whether every result was identical to the
first unthrottled local one bit for bit (``tp_pyperformance.fingerprint``), for
edgeoffload and for Ray; the first call of each against a warm one (first-call cost =
first − warm median). And the per-call overhead of a no-op: an offloaded ``noop()``
against a ``@ray.remote`` no-op task, with the client (driver) throttled and not.

Goals: identical results on every program; ≥ 90 % of the ideal speedup on calls of
≥ 0.5 s; per-call overhead ≤ 0.2× a Ray task's. Writes ``results/bench_apps.json`` and,
with matplotlib, ``results/bench_apps.png``. ``--quick``: one repeat, fannkuch at n = 9.

Run: ``make bench-apps`` (``ARGS=--quick``) or ``.venv/bin/python benchmarks/bench_apps.py``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import edgeoffload
from edgeoffload.runtime import LocalCluster, WorkerSpec
from edgeoffload.runtime.host.throttle import apply_cpu_quota, cpu_probe, throttle_available

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "tests" / "thirdparty" / "apps"
sys.path.insert(0, str(APPS))

QUOTA = 0.25  # of one core, the client and Ray's driver
GOAL_IDEAL = 0.90
LONG_CALL = 0.5  # seconds of unthrottled compute
GOAL_OVERHEAD = 0.2  # edgeoffload no-op / Ray no-op task
RAY_DEPENDENCIES = ("numpy", "networkx", "sympy", "mpmath", "pyperf")

console = Console(highlight=False, width=None if sys.stdout.isatty() else 180)


@dataclass(frozen=True)
class Program:
    name: str
    target: str  # "module:function", resolved after the bm_* modules are loaded
    args: tuple[Any, ...]
    how: str
    quick_args: tuple[Any, ...] | None = None


PROGRAMS: tuple[Program, ...] = (
    Program("nbody", "tp_wrappers:nbody_state", (200_000,), "wrapper (advance on a copy)"),
    Program("chaos", "tp_wrappers:chaos_image", (256, 256, 50_000), "wrapper (main → PPM)"),
    Program("raytrace", "tp_wrappers:raytrace_image", (160, 160), "wrapper (PPM bytes)"),
    Program("richards", "tp_wrappers:richards_counts", (20,), "wrapper (run + counts)"),
    Program("nqueens", "tp_wrappers:nqueens_solutions", (9,), "wrapper (list(n_queens))"),
    Program("fannkuch", "bm_fannkuch:fannkuch", (10,), "direct", (9,)),
    Program("go", "tp_wrappers:go_game", (1200,), "wrapper (versus_cpu, GAMES)"),
    Program("float", "bm_float:benchmark", (700_000,), "direct"),
    Program("spectral_norm", "bm_spectral_norm:eval_AtA_times_u", ([1] * 1500,), "direct"),
    Program("numpy monte carlo", "tp_science:monte_carlo_pi", (1, 60_000_000), "app"),
    Program("numpy linalg.solve", "tp_science:solve_linear_system", (1, 3000), "app"),
    Program("networkx dijkstra", "tp_science:shortest_path_lengths", (1, 500, 0.02), "app"),
    Program("sympy series", "tp_science:symbolic_series", (11,), "app"),
    Program("sympy integral", "tp_science:symbolic_integral", (3,), "app"),
)


@edgeoffload.offload
def noop() -> None:
    """The offloaded no-op of the per-call overhead."""
    return None


def resolve(target: str) -> Callable[..., Any]:
    module, _, name = target.partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return function


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def _load_average() -> float:
    return os.getloadavg()[0]


# --------------------------------------------------------------------------- local, unthrottled


def run_unthrottled(
    programs: Sequence[Program], args: dict[str, tuple[Any, ...]], repeats: int, first: bool
) -> dict[str, dict[str, Any]]:
    """``repeats`` timed runs of each program here, unthrottled; with ``first``, one more
    run before them whose result is kept (the reference) but not its time (a process's
    first run of a program pays for imports, caches and fresh memory)."""
    out: dict[str, dict[str, Any]] = {}
    fingerprint = importlib.import_module("tp_pyperformance").fingerprint
    for p in programs:
        function = resolve(p.target)
        times, prints = [], []
        for i in range(repeats + first):
            elapsed, result = _timed(lambda f=function, a=args[p.name]: f(*a))
            if i or not first:
                times.append(elapsed)
            prints.append(fingerprint(result))
            del result
        out[p.name] = {"times": times, "fingerprints": prints}
        console.print(f"  unthrottled {p.name:20} {_median(times):7.3f} s")
    return out


# --------------------------------------------------------------------------- edgeoffload


def _record(session: edgeoffload.Session, key: str, before: int) -> Any:
    records = [r for r in session.stats().records[before:] if r.function == key]
    if not records:
        raise RuntimeError(f"no record of {key}")
    return records[-1]


def _noop_calls(call: Callable[[], Any], n: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def run_edgeoffload(
    programs: Sequence[Program],
    args: dict[str, tuple[Any, ...]],
    repeats: int,
    noop_n: int,
) -> dict[str, Any]:
    fingerprint = importlib.import_module("tp_pyperformance").fingerprint
    functions = {p.name: resolve(p.target) for p in programs}
    offloaded = {name: edgeoffload.offload(f) for name, f in functions.items()}
    out: dict[str, Any] = {"programs": {}}
    probe_free = min(cpu_probe() for _ in range(3))
    with LocalCluster([WorkerSpec("server", blas_threads=1)]) as cluster:
        with edgeoffload.connect(
            cluster, policy="always-remote", client_cpu_quota=QUOTA
        ) as session:
            probe_held = min(cpu_probe() for _ in range(3))
            out["client_slowdown"] = probe_held / probe_free
            console.print(
                f"  client held to {QUOTA:g} core: a CPU probe runs"
                f" {out['client_slowdown']:.2f}× slower (asked {1 / QUOTA:g}×)"
            )
            for p in programs:
                a, f, fo = args[p.name], functions[p.name], offloaded[p.name]
                before = len(session.stats().records)
                first, result = _timed(lambda fo=fo, a=a: fo(*a))
                first_record = _record(session, fo.key, before)
                row: dict[str, Any] = {
                    "first": first,
                    "first_cold": first_record.cold,
                    "where": [first_record.where],
                    "remote_fingerprints": [fingerprint(result)],
                    "local": [],
                    "local_fingerprints": [],
                    "remote": [],
                    "server_compute": [],
                }
                del result
                for _ in range(repeats):
                    elapsed, result = _timed(lambda f=f, a=a: f(*a))
                    row["local"].append(elapsed)
                    row["local_fingerprints"].append(fingerprint(result))
                    del result
                    before = len(session.stats().records)
                    elapsed, result = _timed(lambda fo=fo, a=a: fo(*a))
                    record = _record(session, fo.key, before)
                    row["remote"].append(elapsed)
                    row["server_compute"].append(record.compute)
                    row["where"].append(record.where)
                    row["remote_fingerprints"].append(fingerprint(result))
                    del result
                out["programs"][p.name] = row
                console.print(
                    f"  {p.name:20} local@1/{1 / QUOTA:g} {_median(row['local']):7.3f} s,"
                    f" offloaded {_median(row['remote']):7.3f} s"
                    f" (first {first:.3f} s{', cold' if first_record.cold else ''})"
                )
            out["noop_throttled"] = _noop_calls(noop, noop_n, 20)
            wheres = {r.where for r in session.stats().records}
            if "local" in wheres:
                raise RuntimeError(f"a call ran locally under always-remote: {wheres}")
        with edgeoffload.connect(cluster, policy="always-remote") as session:
            out["noop_unthrottled"] = _noop_calls(noop, noop_n, 20)
            assert {r.where for r in session.stats().records} == {"server"}
    return out


# --------------------------------------------------------------------------- Ray

_RAY_DRIVER = textwrap.dedent(
    """
    import importlib, json, sys, time
    import ray
    import tp_pyperformance

    spec = json.load(open(sys.argv[1]))
    tp_pyperformance.install_finder()

    def resolve(target):
        module, _, name = target.partition(":")
        return getattr(importlib.import_module(module), name)

    def wait_for_go(word):
        print(word, flush=True)
        if sys.stdin.readline().strip() != "GO":
            sys.exit(3)

    def noop_calls(n, warmup):
        for _ in range(warmup):
            ray.get(noop.remote())
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            ray.get(noop.remote())
            samples.append(time.perf_counter() - start)
        return samples

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False,
             configure_logging=False,
             runtime_env={"worker_process_setup_hook": tp_pyperformance.install_finder})

    @ray.remote
    def noop():
        return None

    wait_for_go("READY")  # the benchmark throttles this process now
    out = {"programs": {}}
    for p in spec["programs"]:
        task = ray.remote(resolve(p["target"]))
        args = p["args"]
        start = time.perf_counter()
        result = ray.get(task.remote(*args))
        first = time.perf_counter() - start
        prints = [tp_pyperformance.fingerprint(result)]
        del result
        times = []
        for _ in range(spec["repeats"]):
            start = time.perf_counter()
            result = ray.get(task.remote(*args))
            times.append(time.perf_counter() - start)
            prints.append(tp_pyperformance.fingerprint(result))
            del result
        out["programs"][p["name"]] = {"first": first, "times": times, "fingerprints": prints}
        print(f"PROGRESS {p['name']} {min(times):.3f} {first:.3f}", flush=True)
    out["noop_throttled"] = noop_calls(spec["noop_n"], 20)
    wait_for_go("UNTHROTTLE")
    out["noop_unthrottled"] = noop_calls(spec["noop_n"], 20)
    out["version"] = ray.__version__
    ray.shutdown()
    print("RESULT " + json.dumps(out), flush=True)
    """
)


def ray_environment() -> Path:
    """``.venv-ray`` (bench_runtime's, made there on first use) with the programs'
    libraries at this environment's versions, so that both run the same code."""
    from bench_runtime import pip_install, ray_python

    python = ray_python()
    wanted = {name: importlib.metadata.version(name) for name in RAY_DEPENDENCIES}
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m, json, sys\n"
            "out = {}\n"
            "for n in sys.argv[1:]:\n"
            "    try: out[n] = m.version(n)\n"
            "    except m.PackageNotFoundError: out[n] = None\n"
            "print(json.dumps(out))",
            *wanted,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    have = json.loads(probe.stdout)
    missing = [f"{n}=={v}" for n, v in wanted.items() if have.get(n) != v]
    if missing:
        console.print(f"  installing into .venv-ray: {' '.join(missing)}")
        pip_install(python, missing)
    return python


def run_ray(
    programs: Sequence[Program], args: dict[str, tuple[Any, ...]], repeats: int, noop_n: int
) -> dict[str, Any]:
    python = ray_environment()
    tp = importlib.import_module("tp_pyperformance")
    spec = {
        "programs": [{"name": p.name, "target": p.target, "args": args[p.name]} for p in programs],
        "repeats": repeats,
        "noop_n": noop_n,
    }
    env = {
        **os.environ,
        "PYTHONPATH": str(APPS),
        "TP_BENCHMARKS_DIR": str(tp.benchmarks_dir()),
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    with tempfile.TemporaryDirectory() as tmp:
        spec_file = Path(tmp) / "spec.json"
        spec_file.write_text(json.dumps(spec))
        stderr_file = Path(tmp) / "stderr.txt"
        with stderr_file.open("w") as stderr:
            proc = subprocess.Popen(
                [str(python), "-c", _RAY_DRIVER, str(spec_file)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=env,
                cwd=tmp,
            )
        assert proc.stdin is not None
        assert proc.stdout is not None
        throttle = None
        result: dict[str, Any] | None = None
        try:
            for line in proc.stdout:
                line = line.strip()
                if line == "READY":
                    throttle = apply_cpu_quota(proc.pid, QUOTA, name="ray-driver")
                    console.print(f"  Ray driver (pid {proc.pid}) held to {QUOTA:g} core")
                    proc.stdin.write("GO\n")
                    proc.stdin.flush()
                elif line == "UNTHROTTLE":
                    if throttle is not None:
                        throttle.release()
                    proc.stdin.write("GO\n")
                    proc.stdin.flush()
                elif line.startswith("PROGRESS "):
                    _, rest = line.split(" ", 1)
                    name, best, first = rest.rsplit(" ", 2)
                    console.print(f"  ray {name:20} {float(best):7.3f} s (first {first} s)")
                elif line.startswith("RESULT "):
                    result = json.loads(line[len("RESULT ") :])
            proc.wait(timeout=120)
        finally:
            if throttle is not None:
                throttle.release()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if result is None:
            tail = stderr_file.read_text()[-3000:]
            raise RuntimeError(f"the Ray driver failed (exit {proc.returncode}):\n{tail}")
        return result


# --------------------------------------------------------------------------- report


def summarise(
    programs: Sequence[Program],
    unthrottled: dict[str, dict[str, Any]],
    ours: dict[str, Any],
    ray: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    rows = []
    for p in programs:
        free = unthrottled[p.name]
        reference = free["fingerprints"][0]
        eo = ours["programs"][p.name]
        local = _median(eo["local"])
        local1 = _median(free["times"])
        remote = _median(eo["remote"])
        speedup = local / remote
        ideal = local / local1
        row: dict[str, Any] = {
            "program": p.name,
            "how": p.how,
            "target": p.target,
            "unthrottled_s": local1,
            "local_s": local,
            "edgeoffload_s": remote,
            "server_compute_s": _median(eo["server_compute"]),
            "speedup": speedup,
            "ideal": ideal,
            "pct_of_ideal": speedup / ideal,
            "long_call": local1 >= LONG_CALL,
            "local_identical": all(f == reference for f in free["fingerprints"])
            and all(f == reference for f in eo["local_fingerprints"]),
            "edgeoffload_identical": all(f == reference for f in eo["remote_fingerprints"]),
            "edgeoffload_first_s": eo["first"],
            "edgeoffload_first_cold": eo["first_cold"],
            "edgeoffload_first_cost_s": eo["first"] - remote,
            "where": sorted(set(eo["where"])),
        }
        if ray is not None:
            r = ray["programs"][p.name]
            ray_s = _median(r["times"])
            row.update(
                {
                    "ray_s": ray_s,
                    "ray_speedup": local / ray_s,
                    "ray_pct_of_ideal": local / ray_s / ideal,
                    "ray_identical": all(f == reference for f in r["fingerprints"]),
                    "ray_first_s": r["first"],
                    "ray_first_cost_s": r["first"] - ray_s,
                }
            )
        rows.append(row)
    return rows


def _yes(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "[red]NO[/]")


def print_report(rows: Sequence[dict[str, Any]], noop: dict[str, Any], has_ray: bool) -> None:
    speed = Table(
        "program",
        "offloaded as",
        "unthrottled (s)",
        "local@1/4 (s)",
        "edgeoffload (s)",
        "speedup",
        "ideal",
        "% ideal",
        *(("Ray (s)", "Ray speedup", "Ray % ideal") if has_ray else ()),
        title="Unchanged programs, client held to 1/4 core, one unthrottled worker (medians)",
        title_justify="left",
    )
    for r in rows:
        pct = f"{100 * r['pct_of_ideal']:.0f} %"
        if r["long_call"]:
            pct = f"[{'green' if r['pct_of_ideal'] >= GOAL_IDEAL else 'red'}]{pct}[/]"
        speed.add_row(
            r["program"],
            r["how"],
            f"{r['unthrottled_s']:.3f}",
            f"{r['local_s']:.3f}",
            f"{r['edgeoffload_s']:.3f}",
            f"{r['speedup']:.2f}×",
            f"{r['ideal']:.2f}×",
            pct,
            *(
                (
                    f"{r['ray_s']:.3f}",
                    f"{r['ray_speedup']:.2f}×",
                    f"{100 * r['ray_pct_of_ideal']:.0f} %",
                )
                if has_ray
                else ()
            ),
        )
    console.print(speed)
    same = Table(
        "program",
        "identical: edgeoffload",
        *(("identical: Ray",) if has_ray else ()),
        "eo first (s)",
        "eo first cost (s)",
        *(("Ray first (s)", "Ray first cost (s)") if has_ray else ()),
        title="Results against the first unthrottled local run; first call against a warm one",
        title_justify="left",
    )
    for r in rows:
        same.add_row(
            r["program"],
            _yes(r["edgeoffload_identical"]),
            *((_yes(r["ray_identical"]),) if has_ray else ()),
            f"{r['edgeoffload_first_s']:.3f}" + (" (cold)" if r["edgeoffload_first_cold"] else ""),
            f"{r['edgeoffload_first_cost_s']:+.3f}",
            *((f"{r['ray_first_s']:.3f}", f"{r['ray_first_cost_s']:+.3f}") if has_ray else ()),
        )
    console.print(same)
    for condition in ("throttled", "unthrottled"):
        eo = noop[f"edgeoffload_{condition}_ms"]
        line = f"no-op call, client {condition}: edgeoffload {eo:.3f} ms"
        if has_ray:
            ray = noop[f"ray_{condition}_ms"]
            line += f", Ray task {ray:.3f} ms, ratio {eo / ray:.3f}"
        console.print(line)


def plot(rows: Sequence[dict[str, Any]], path: Path, has_ray: bool) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = [r["program"] for r in rows]
    x = list(range(len(rows)))
    width = 0.27 if has_ray else 0.4
    fig, ax = plt.subplots(figsize=(11, 4.8))
    ax.bar([i - width for i in x], [r["ideal"] for r in rows], width, label="ideal", color="0.8")
    ax.bar(x, [r["speedup"] for r in rows], width, label="edgeoffload", color="tab:blue")
    if has_ray:
        ax.bar(
            [i + width for i in x],
            [r["ray_speedup"] for r in rows],
            width,
            label="Ray",
            color="tab:orange",
        )
    ax.set_xticks(x, names, rotation=35, ha="right")
    ax.set_ylabel("speedup over the throttled client")
    ax.set_title(f"Offloading unchanged programs from a client held to {QUOTA:g} core")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat, fannkuch n = 9")
    parser.add_argument("--repeats", type=int, default=3, help="warm calls per program (3)")
    parser.add_argument("--no-ray", action="store_true", help="skip Ray")
    parser.add_argument("--programs", default="", help="comma-separated subset (default: all)")
    parser.add_argument("--out", default=str(ROOT / "results"), help="output folder")
    options = parser.parse_args(argv)
    reason = throttle_available("auto")
    if reason is not None:
        console.print(f"bench_apps: cannot throttle a process here: {reason}")
        return 1
    try:
        tp = importlib.import_module("tp_pyperformance")
        tp.load_benchmarks()
    except ImportError as exc:
        console.print(f"bench_apps: {exc} (pyperformance is in the dev extra: make setup)")
        return 1
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)  # one BLAS thread here, as on the worker and in Ray
    wanted = {n.strip() for n in options.programs.split(",") if n.strip()}
    programs = [p for p in PROGRAMS if not wanted or p.name in wanted]
    repeats = 1 if options.quick else options.repeats
    noop_n = 100 if options.quick else 300
    args = {
        p.name: (p.quick_args if options.quick and p.quick_args is not None else p.args)
        for p in programs
    }
    started = time.perf_counter()
    load = {"start": _load_average()}
    if not options.no_ray:
        ray_environment()
    console.print("unthrottled local runs")
    unthrottled = run_unthrottled(programs, args, repeats, first=True)
    console.print(f"edgeoffload, client held to {QUOTA:g} core")
    ours = run_edgeoffload(programs, args, repeats, noop_n)
    load["after_edgeoffload"] = _load_average()
    ray = None
    if not options.no_ray:
        console.print(f"Ray, driver held to {QUOTA:g} core")
        ray = run_ray(programs, args, repeats, noop_n)
        load["after_ray"] = _load_average()
    if not options.quick:
        console.print("unthrottled local runs, again")
        again = run_unthrottled(programs, args, repeats, first=False)
        for name, got in again.items():
            unthrottled[name]["times"] += got["times"]
            unthrottled[name]["fingerprints"] += got["fingerprints"]
    load["end"] = _load_average()

    rows = summarise(programs, unthrottled, ours, ray)
    noop = {
        "edgeoffload_throttled_ms": 1e3 * _median(ours["noop_throttled"]),
        "edgeoffload_unthrottled_ms": 1e3 * _median(ours["noop_unthrottled"]),
        "calls": noop_n,
    }
    if ray is not None:
        noop["ray_throttled_ms"] = 1e3 * _median(ray["noop_throttled"])
        noop["ray_unthrottled_ms"] = 1e3 * _median(ray["noop_unthrottled"])
    print_report(rows, noop, ray is not None)

    long = [r for r in rows if r["long_call"]]
    goals: dict[str, bool | None] = {
        "identical results on every program (edgeoffload vs local)": all(
            r["edgeoffload_identical"] and r["local_identical"] for r in rows
        ),
        f"≥ {GOAL_IDEAL:.0%} of the ideal speedup on calls of ≥ {LONG_CALL:g} s": (
            all(r["pct_of_ideal"] >= GOAL_IDEAL for r in long) if long else None
        ),
    }
    if ray is not None:
        goals["identical results on every program (Ray vs local)"] = all(
            r["ray_identical"] for r in rows
        )
        for condition in ("unthrottled", "throttled"):
            ratio = noop[f"edgeoffload_{condition}_ms"] / noop[f"ray_{condition}_ms"]
            goals[f"no-op overhead ≤ {GOAL_OVERHEAD:g}× a Ray task's (client {condition})"] = (
                ratio <= GOAL_OVERHEAD
            )
    for goal, met in goals.items():
        verdict = "no call qualifies" if met is None else ("met" if met else "NOT met")
        console.print(f"goal: {goal}: {verdict}")
    if long:
        worst = min(long, key=lambda r: r["pct_of_ideal"])
        console.print(
            f"lowest % of ideal on calls ≥ {LONG_CALL:g} s: {worst['pct_of_ideal']:.0%}"
            f" ({worst['program']})"
        )
    console.print(
        f"load average: {', '.join(f'{k} {v:.2f}' for k, v in load.items())};"
        f" {time.perf_counter() - started:.0f} s in all"
    )

    folder = Path(options.out)
    folder.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "apps",
        "quick": options.quick,
        "repeats": repeats,
        "client_quota": QUOTA,
        "client_slowdown": ours["client_slowdown"],
        "ray_version": ray.get("version") if ray else None,
        "versions": {
            n: importlib.metadata.version(n) for n in (*RAY_DEPENDENCIES, "pyperformance")
        },
        "load_average": load,
        "seconds": time.perf_counter() - started,
        "goals": goals,
        "noop": noop,
        "rows": rows,
        "raw": {"unthrottled": unthrottled, "edgeoffload": ours, "ray": ray},
    }
    (folder / "bench_apps.json").write_text(json.dumps(payload, indent=1) + "\n")
    written = [folder / "bench_apps.json"]
    if plot(rows, folder / "bench_apps.png", ray is not None):
        written.append(folder / "bench_apps.png")
    console.print("written: " + ", ".join(str(w) for w in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
