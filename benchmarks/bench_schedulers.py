"""Scheduling time of HEFT, CPOP and PEFT, side by side with saga (``anrg-saga``).

Seeded random layered DAGs of 100, 1,000 and 5,000 tasks on random clusters of 4, 16
and 64 nodes. Each problem is scheduled by edgeoffload in this process and by saga in a
subprocess of saga's own virtual environment (``.venv-saga``, made on first use), on the
very same problem: it is written to a problem file that ``_saga_runner.py`` converts to
saga's networkx network and task graph. The cost setting is one both tools express
identically: related machines (execution time = work / speed), links with a bandwidth
and no latency, transfers on one node free.

Usage::

    .venv/bin/python benchmarks/bench_schedulers.py            # everything (long: saga's
                                                               # PEFT on 5,000 tasks takes minutes)
    .venv/bin/python benchmarks/bench_schedulers.py --quick    # skip the 5,000-task problems
    make bench-schedulers

Times are CPU seconds of the scheduling call alone (``time.process_time``; wall seconds
are in the CSV too), the fastest of up to ``--max-runs`` runs made within ``--budget``
seconds; problem generation, conversion and validation are not timed. Our time includes
building the cost model, as saga's includes building its lookup tables. Results go to
``results/bench_schedulers.csv``; see ``benchmarks/README.md`` for how to read them.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeoffload.model import Problem, Schedule, validate_schedule
from edgeoffload.model.problem_file import problem_to_dict
from edgeoffload.schedulers import get_scheduler
from edgeoffload.workloads.generators import random_cluster, random_layered_dag

ROOT = Path(__file__).resolve().parent.parent
RUNNER = Path(__file__).resolve().parent / "_saga_runner.py"
SIZES = (100, 1000, 5000)
NODES = (4, 16, 64)
ALGORITHMS = ("heft", "cpop", "peft")
SAGA_FULL = ("3.12", "2.1.0")  # Python and saga versions that have HEFT, CPOP and PEFT
SAGA_FALLBACK = ("3.11", "2.0.2")  # no PEFT
SAGA_FALLBACK_ALGORITHMS = ("heft", "cpop")


# -- the problems ------------------------------------------------------------------------------
def make_problem(n_tasks: int, n_nodes: int, seed: int = 0) -> Problem:
    """The benchmark problem of one cell: the same DAG for a given size whatever the
    cluster, the same cluster for a given node count whatever the DAG; no latency."""
    graph = random_layered_dag(n_tasks, np.random.default_rng([seed, n_tasks]))
    cluster = random_cluster(n_nodes, np.random.default_rng([seed, n_nodes, 1]), latency=(0.0, 0.0))
    return Problem(graph, cluster)


# -- timing ------------------------------------------------------------------------------------
@dataclass
class Timing:
    """The fastest of several runs, CPU and wall seconds."""

    cpu: float = float("inf")
    wall: float = float("inf")
    runs: int = 0


def time_ours(
    algorithm: str, n_tasks: int, n_nodes: int, seed: int, budget: float, max_runs: int
) -> tuple[Timing, Schedule]:
    """Time our ``algorithm`` on a fresh copy of the problem each run (the cost model is
    built inside the timed call, as on first use)."""
    scheduler = get_scheduler(algorithm)
    template = make_problem(n_tasks, n_nodes, seed)
    timing, schedule, spent = Timing(), None, 0.0
    while timing.runs < max_runs and (timing.runs == 0 or spent < budget):
        problem = Problem(template.graph, template.cluster)
        gc.collect()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        schedule = scheduler.schedule(problem)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        timing.cpu, timing.wall = min(timing.cpu, cpu), min(timing.wall, wall)
        timing.runs += 1
        spent += wall
    assert schedule is not None
    validate_schedule(template, schedule)
    return timing, schedule


# -- saga's environment ------------------------------------------------------------------------
def _python_version(executable: str) -> str | None:
    try:
        out = subprocess.run(
            [executable, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def find_python(version: str) -> str | None:
    """An interpreter of ``version`` (e.g. ``"3.12"``): on PATH, else under pyenv."""
    candidates = [shutil.which(f"python{version}")]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += [str(p) for p in sorted(pyenv.glob(f"{version}*/bin/python{version}"))]
    if version == f"{sys.version_info[0]}.{sys.version_info[1]}":
        candidates.append(sys.executable)
    for candidate in candidates:
        if candidate and _python_version(candidate) == version:
            return candidate
    return None


def _saga_version(python: Path) -> str | None:
    try:
        out = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('anrg-saga'))"],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def ensure_saga_venv(venv: Path, python: str | None) -> tuple[Path, str, tuple[str, ...], str]:
    """saga's interpreter, version and algorithms, making the venv if need be.

    saga 2.1.0 (which has PEFT) needs Python 3.12; without one, saga 2.0.2 on 3.11,
    which has HEFT and CPOP only. Returns (python, saga version, algorithms, note).
    """
    if python is None:
        python = find_python(SAGA_FULL[0])
    wanted, algorithms, note = SAGA_FULL[1], ALGORITHMS, ""
    if python is None:
        python = find_python(SAGA_FALLBACK[0])
        wanted, algorithms = SAGA_FALLBACK[1], SAGA_FALLBACK_ALGORITHMS
        note = (
            f"no Python {SAGA_FULL[0]} found: comparing with saga {wanted} on Python"
            f" {SAGA_FALLBACK[0]}, which has no PEFT (HEFT and CPOP only)"
        )
        if python is None:
            raise SystemExit(f"neither Python {SAGA_FULL[0]} nor {SAGA_FALLBACK[0]} found")
    version = _python_version(python)
    venv_python = venv / "bin" / "python"
    if venv_python.exists() and (
        _python_version(str(venv_python)) != version or _saga_version(venv_python) != wanted
    ):
        print(f"{venv} does not hold saga {wanted} on Python {version}: remaking it")
        shutil.rmtree(venv)
    if not venv_python.exists():
        print(f"making {venv} (Python {version}, anrg-saga=={wanted}) ...", flush=True)
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv_python), "-m", "pip", "install", "--quiet", f"anrg-saga=={wanted}"],
            check=True,
        )
    return venv_python, wanted, algorithms, note


def run_saga(
    venv_python: Path,
    problem_file: Path,
    out_file: Path,
    algorithms: Sequence[str],
    timeout: float,
    budget: float,
    max_runs: int,
) -> dict[str, Any]:
    """saga's results on one problem file (see ``_saga_runner.py``), per algorithm."""
    command = [
        str(venv_python),
        str(RUNNER),
        str(problem_file),
        "--algorithms",
        ",".join(algorithms),
        "--timeout",
        str(timeout),
        "--budget",
        str(budget),
        "--max-runs",
        str(max_runs),
        "--out",
        str(out_file),
    ]
    # saga iterates over sets of names: fix the hash seed so that runs repeat exactly
    env = dict(os.environ, PYTHONHASHSEED="0")
    limit = timeout * len(algorithms) * max_runs + 600  # the runner stops each run itself
    subprocess.run(command, check=True, env=env, timeout=limit)
    results: dict[str, Any] = json.loads(out_file.read_text())["results"]
    return results


# -- the table ---------------------------------------------------------------------------------
@dataclass
class Cell:
    """One (tasks, nodes, algorithm) row of the results."""

    tasks: int
    nodes: int
    algorithm: str
    ours: Timing
    ours_makespan: float
    saga_status: str = "not run"
    saga: Timing = field(default_factory=Timing)
    saga_makespan: float = float("nan")
    load: float = 0.0

    @property
    def speedup(self) -> float:
        return self.saga.cpu / self.ours.cpu if self.saga_status == "ok" else float("nan")

    @property
    def same_makespan(self) -> bool:
        a, b = self.ours_makespan, self.saga_makespan
        return abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def _seconds(t: float) -> str:
    return f"{t:9.4f}" if t < 10 else f"{t:9.2f}"


def render(cells: Sequence[Cell]) -> str:
    """The results as a fixed-width table."""
    head = (
        f"{'tasks':>6} {'nodes':>5} {'algo':<5} {'ours (s)':>9} {'saga (s)':>9}"
        f" {'speedup':>8} {'makespan ours':>14} {'makespan saga':>14} same"
    )
    lines = [head, "-" * len(head)]
    for c in cells:
        if c.saga_status == "ok":
            saga, ratio = _seconds(c.saga.cpu), f"{c.speedup:7.1f}x"
            saga_makespan, same = f"{c.saga_makespan:14.6f}", "yes" if c.same_makespan else "no"
        else:
            saga, ratio, saga_makespan, same = f"{c.saga_status:>9}", f"{'-':>8}", f"{'-':>14}", ""
        lines.append(
            f"{c.tasks:>6} {c.nodes:>5} {c.algorithm:<5} {_seconds(c.ours.cpu)} {saga}"
            f" {ratio} {c.ours_makespan:14.6f} {saga_makespan} {same}"
        )
    return "\n".join(lines)


def write_csv(path: Path, cells: Sequence[Cell], saga_version: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(
            [
                "tasks",
                "nodes",
                "algorithm",
                "ours_cpu_s",
                "ours_wall_s",
                "ours_runs",
                "saga_status",
                "saga_cpu_s",
                "saga_wall_s",
                "saga_runs",
                "speedup",
                "ours_makespan",
                "saga_makespan",
                "same_makespan",
                "saga_version",
                "load_1min",
            ]
        )
        for c in cells:
            ok = c.saga_status == "ok"
            out.writerow(
                [
                    c.tasks,
                    c.nodes,
                    c.algorithm,
                    f"{c.ours.cpu:.6f}",
                    f"{c.ours.wall:.6f}",
                    c.ours.runs,
                    c.saga_status,
                    f"{c.saga.cpu:.6f}" if ok else "",
                    f"{c.saga.wall:.6f}" if ok else "",
                    c.saga.runs if ok else "",
                    f"{c.speedup:.2f}" if ok else "",
                    repr(c.ours_makespan),
                    repr(c.saga_makespan) if ok else "",
                    c.same_makespan if ok else "",
                    saga_version,
                    f"{c.load:.2f}",
                ]
            )


# -- main --------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="skip the 5,000-task problems")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="task counts")
    parser.add_argument("--nodes", type=int, nargs="+", default=list(NODES), help="node counts")
    parser.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS), choices=ALGORITHMS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--saga-timeout", type=float, default=900.0, help="seconds per saga run (default 900)"
    )
    parser.add_argument("--budget", type=float, default=2.0, help="repeat runs while under (s)")
    parser.add_argument("--max-runs", type=int, default=5, help="at most this many runs")
    parser.add_argument("--no-saga", action="store_true", help="time edgeoffload only")
    parser.add_argument("--saga-python", help="Python for saga's venv (default: find 3.12)")
    parser.add_argument("--saga-venv", type=Path, default=ROOT / ".venv-saga")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench_schedulers.csv")
    args = parser.parse_args(argv)
    sizes = args.sizes or [s for s in SIZES if not (args.quick and s > 1000)]

    saga_algorithms: tuple[str, ...] = ()
    saga_version, note = "", ""
    if not args.no_saga:
        venv_python, saga_version, saga_algorithms, note = ensure_saga_venv(
            args.saga_venv, args.saga_python
        )
        if note:
            print(f"NOTE: {note}")
    work = args.out.parent / "bench_schedulers"
    work.mkdir(parents=True, exist_ok=True)

    print(
        f"edgeoffload vs saga {saga_version or '(not run)'} | Python {platform.python_version()}"
        f" | {os.cpu_count()} CPUs | load average at start {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    cells: list[Cell] = []
    skipped: list[str] = []
    for n_tasks in sizes:
        for n_nodes in args.nodes:
            problem = make_problem(n_tasks, n_nodes, args.seed)
            problem_file = work / f"problem-v{n_tasks}-p{n_nodes}.json"
            problem_file.write_text(json.dumps(problem_to_dict(problem)))
            row: list[Cell] = []
            for algorithm in args.algorithms:
                timing, schedule = time_ours(
                    algorithm, n_tasks, n_nodes, args.seed, args.budget, args.max_runs
                )
                row.append(Cell(n_tasks, n_nodes, algorithm, timing, schedule.makespan))
            wanted = [a for a in args.algorithms if a in saga_algorithms]
            if wanted:
                saga = run_saga(
                    venv_python,
                    problem_file,
                    work / f"saga-v{n_tasks}-p{n_nodes}.json",
                    wanted,
                    args.saga_timeout,
                    args.budget,
                    args.max_runs,
                )
                for cell in row:
                    result = saga.get(cell.algorithm, {"status": "n/a"})  # saga 2.0.2: no PEFT
                    cell.saga_status = result["status"]
                    if cell.saga_status == "ok":
                        cell.saga = Timing(result["cpu_seconds"], result["seconds"], result["runs"])
                        cell.saga_makespan = result["makespan"]
                    else:
                        why = {"n/a": f"not in saga {saga_version}"}.get(cell.saga_status)
                        skipped.append(
                            f"saga {cell.algorithm} on {n_tasks} tasks x {n_nodes} nodes:"
                            f" {why or cell.saga_status}"
                        )
            load = os.getloadavg()[0]
            for cell in row:
                cell.load = load
                cells.append(cell)
            print(render(row).split("\n", 2)[2], flush=True)

    print()
    print(render(cells))
    if args.quick:
        skipped.append("5,000-task problems (--quick)")
    if note:
        skipped.append(note)
    for line in skipped:
        print(f"skipped: {line}")
    print(f"load average at end {os.getloadavg()[0]:.2f}; results in {args.out}")
    write_csv(args.out, cells, saga_version)
    return 0


if __name__ == "__main__":
    sys.exit(main())
