"""How good are the schedules? Every scheduler's makespan over a lower bound and over the
proven optimum, beside saga's heuristics re-timed under our cost model.

Problem sets (all built here, seeded; nothing downloaded):

- ``wfcommons``: real workflow traces (11 WfInstances traces: Montage, 1000Genome,
  Seismology, BLAST, BWA, SoyKB, Cycles, SRASearch, Epigenomics, nf-core methylseq and
  bacass; 11 to 104 tasks, 24 to 209 with stage-in and stage-out tasks), imported onto a
  camera board, a phone and an edge server (``tests/data/wfcommons/cluster.json``) with a
  storage node, as
  ``edgeoffload import wfcommons`` does;
- ``dnn``: DNN inference requests on the DHS paper's cluster: the ``dhs-paper`` scenario's
  four load conditions, and each shipped model at layer and block granularity, one request
  per camera (balanced) and three at one camera (unbalanced);
- ``random``: seeded random layered DAGs on random clusters: small ones (6-12 tasks, 2-4
  nodes) with the generator's data sizes and with 100x the data (communication-heavy), where
  the ``optimal`` scheduler proves the optimum, and medium ones (50-200 tasks, 4-16 nodes).

For every problem: the lower bound (``schedulers.bounds.lower_bound``, raised by the
solver's bound where ``optimal`` ran), each of our schedulers' makespans (validated),
``optimal`` on problems of at most ``--optimal-tasks`` tasks (``--time-limit`` seconds
each), and each of saga's heuristics (``_saga_quality.py`` in ``.venv-saga``, made on first
use by ``bench_schedulers.ensure_saga_venv``). saga cannot express link latency, pinned
tasks, storage nodes or per-node execution times, so it schedules a *saga view* of the
problem (latencies dropped, no storage node, pins ignored) and its decisions (each task's
node, each node's order) are then re-timed under our cost model: a pinned task moves to
its pin, every task starts as soon as its inputs are there (latency + data / bandwidth),
its node has finished the task before it in saga's order, its request has arrived and its
node is available. The re-timed schedules pass our validator.

Usage::

    .venv/bin/python benchmarks/bench_quality.py             # everything (~10 min)
    .venv/bin/python benchmarks/bench_quality.py --quick     # fewer random problems
    .venv/bin/python benchmarks/bench_quality.py --no-saga   # ours only
    make bench-quality

Results: ``results/bench_quality.csv`` (one row per problem and scheduler),
``results/bench_quality.json`` (the summary printed) and ``results/bench_quality.png``
(makespan over the lower bound, per set and scheduler). See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeoffload.model import (
    Assignment,
    Problem,
    Schedule,
    merge_requests,
    validate_schedule,
)
from edgeoffload.model.problem_file import problem_to_dict
from edgeoffload.schedulers import get_scheduler
from edgeoffload.schedulers.bounds import lower_bound
from edgeoffload.schedulers.optimal import OptimalScheduler, ortools_available
from edgeoffload.schedulers.ties import ties
from edgeoffload.workloads.dnn import dnn_names, load_dnn
from edgeoffload.workloads.generators import random_cluster, random_layered_dag
from edgeoffload.workloads.scenarios import load_scenario
from edgeoffload.workloads.wfcommons import import_wfcommons

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from bench_schedulers import ensure_saga_venv  # noqa: E402

TRACES = sorted((HERE / "data" / "wfcommons").glob("*.json")) + [
    ROOT / "tests" / "data" / "wfcommons" / name
    for name in (
        "srasearch-chameleon-10a-001.json",
        "epigenomics-chameleon-hep-1seq-100k-001.json",
    )
]
TRACE_CLUSTER = ROOT / "tests" / "data" / "wfcommons" / "cluster.json"
OURS = ("heft", "cpop", "peft", "dhs", "portfolio", "single", "local", "edge")
SAGA_RUNNER = HERE / "_saga_quality.py"
WITHIN = 0.05  # the goal: the portfolio within 5 % of the optimum where proven
GOAL_SHARE = 0.90  # and at least as good as saga's best heuristic on 90 % of the problems


# -- the problems ------------------------------------------------------------------------------
@dataclass
class Case:
    """One benchmark problem."""

    set: str
    name: str
    problem: Problem


def wfcommons_cases() -> Iterator[Case]:
    for path in sorted(TRACES, key=lambda p: p.name):
        yield Case("wfcommons", path.stem, import_wfcommons(path, TRACE_CLUSTER))


def dnn_cases() -> Iterator[Case]:
    scenario = load_scenario("dhs-paper")
    for condition in scenario.condition_names:
        yield Case("dnn", f"dhs-paper-{condition}", scenario.problem(condition))
    cluster = scenario.cluster
    cameras = [n.id for n in cluster.nodes_with_role("camera")]
    for model in dnn_names():
        for granularity in ("layer", "block"):
            dnn = load_dnn(model, granularity)
            balanced = [dnn.request(f"r{k}", camera) for k, camera in enumerate(cameras)]
            unbalanced = [dnn.request(f"r{k}", cameras[0]) for k in range(3)]
            for shape, requests in (("balanced", balanced), ("unbalanced", unbalanced)):
                name = f"{model}-{granularity}-{shape}"
                yield Case("dnn", name, merge_requests(requests, cluster))


def random_cases(quick: bool) -> Iterator[Case]:
    count = 12 if quick else 40
    for kind, data_scale in (("small", 1.0), ("small-comm", 100.0)):
        for seed in range(count):
            rng = np.random.default_rng([seed, 13])
            n_tasks, n_nodes = int(rng.integers(6, 13)), int(rng.integers(2, 5))
            graph = random_layered_dag(n_tasks, rng, data=(1e4 * data_scale, 1e7 * data_scale))
            cluster = random_cluster(n_nodes, rng)
            yield Case(f"random-{kind}", f"{kind}-{seed}", Problem(graph, cluster))
    for seed in range(6 if quick else 20):
        rng = np.random.default_rng([seed, 17])
        n_tasks, n_nodes = int(rng.integers(50, 201)), int(rng.integers(4, 17))
        graph, cluster = random_layered_dag(n_tasks, rng), random_cluster(n_nodes, rng)
        yield Case("random-medium", f"medium-{seed}", Problem(graph, cluster))


# -- saga: its view of a problem, and its decisions re-timed under our cost model ---------------
def saga_view(problem: Problem) -> dict[str, Any]:
    """What saga can express of ``problem``: no latency, no pins, no storage node."""
    data = problem_to_dict(problem)
    storage = {n.id for n in problem.cluster.nodes_with_role("storage")}
    data["nodes"] = [n for n in data["nodes"] if n["id"] not in storage]
    data["links"] = [
        {**link, "latency": 0.0}
        for link in data.get("links", [])
        if not storage.intersection(link["between"])
    ]
    if data.get("default_link") is not None:
        data["default_link"] = {**data["default_link"], "latency": 0.0}
    for task in data["tasks"]:
        task.pop("pinned", None)
    data.pop("exec_times", None)
    return data


def retime(problem: Problem, assignments: dict[str, list[Any]], algorithm: str) -> Schedule:
    """saga's node choices and per-node order, timed under our cost model.

    Pinned tasks go to their pin. Tasks are taken by saga's start time (ties: topological
    position), which respects both the dependencies and each node's order.
    """
    graph, costs = problem.graph, problem.costs
    position = {i: k for k, i in enumerate(graph.topological_order)}
    node_of: list[int] = []
    for task in graph.tasks:
        node_id = task.pinned if task.pinned is not None else assignments[task.id][0]
        node_of.append(costs.node_index(node_id))
    order = sorted(
        range(len(graph)), key=lambda i: (assignments[graph.tasks[i].id][1], position[i])
    )
    free = [node.available_from for node in problem.cluster.nodes]
    arrivals = [r.arrival for r in problem.effective_requests]
    start, finish = [0.0] * len(graph), [0.0] * len(graph)
    source, data = costs.edge_source, costs.data
    for i in order:
        q = node_of[i]
        ready = max(arrivals[problem.task_requests[i]], free[q])
        for k in graph.in_edges(i):
            j = int(source[k])
            p = node_of[j]
            arrive = (
                finish[j]
                if p == q
                else finish[j] + (costs.latency[p, q] + data[k] / costs.bandwidth[p, q])
            )
            ready = max(ready, float(arrive))
        start[i] = ready
        finish[i] = free[q] = ready + float(costs.exec[i, q])
    node_ids = costs.node_ids
    return Schedule(
        algorithm,
        (
            Assignment(t.id, node_ids[node_of[i]], start[i], finish[i])
            for i, t in enumerate(graph.tasks)
        ),
    )


def run_saga(cases: Sequence[Case], timeout: float, folder: Path) -> tuple[str, dict[str, Any]]:
    """saga's version and, per case name, its results (see ``_saga_quality.py``)."""
    python, version, _, note = ensure_saga_venv(ROOT / ".venv-saga", None)
    if note:
        print(note)
    files = []
    for k, case in enumerate(cases):
        path = folder / f"{k:03d}-{case.name}.json"
        path.write_text(json.dumps(saga_view(case.problem)))
        files.append(str(path))
    out = folder / "saga.json"
    env = dict(os.environ, PYTHONHASHSEED="0")
    command = [str(python), str(SAGA_RUNNER), *files, "--timeout", str(timeout), "--out", str(out)]
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    results = json.loads(out.read_text())["results"]
    return version, {case.name: results[f] for case, f in zip(cases, files, strict=True)}


# -- one problem -------------------------------------------------------------------------------
@dataclass
class Row:
    """One scheduler's result on one problem."""

    set: str
    problem: str
    tasks: int
    nodes: int
    algorithm: str
    makespan: float = math.nan
    lower_bound: float = math.nan
    optimum: float = math.nan  # proven optimum, if any
    seconds: float = math.nan
    status: str = "ok"
    note: str = ""

    @property
    def over_bound(self) -> float:
        return self.makespan / self.lower_bound if self.lower_bound > 0 else math.nan

    @property
    def over_optimum(self) -> float:
        return self.makespan / self.optimum if self.optimum > 0 else math.nan


@dataclass
class Outcome:
    """All rows of one problem."""

    case: Case
    rows: list[Row] = field(default_factory=list)


def run_case(case: Case, optimal_tasks: int, time_limit: float) -> tuple[Outcome, float]:
    """Our schedulers (and ``optimal`` on small problems) on one case; and its bound."""
    problem = case.problem
    outcome = Outcome(case)
    bound = lower_bound(problem)
    optimum = math.nan

    def row(algorithm: str, **values: Any) -> Row:
        r = Row(case.set, case.name, len(problem.graph), len(problem.cluster), algorithm, **values)
        outcome.rows.append(r)
        return r

    if len(problem.graph) <= optimal_tasks and ortools_available():
        started = time.perf_counter()
        result = OptimalScheduler(time_limit=time_limit).schedule(problem)
        seconds = time.perf_counter() - started
        validate_schedule(problem, result)
        report = result.details["optimal"]
        bound = lower_bound(problem, result)
        if report["proven"]:
            optimum = result.makespan
        row(
            "optimal",
            makespan=result.makespan,
            seconds=seconds,
            note="proven" if report["proven"] else f"gap {report['gap']:.3g}",
        )
    for name in OURS:
        scheduler = get_scheduler(name)
        why = scheduler.applies_to(problem)
        if why is not None:
            row(name, status="n/a", note=why)
            continue
        started = time.perf_counter()
        result = scheduler.schedule(problem)
        seconds = time.perf_counter() - started
        validate_schedule(problem, result)
        note = str(result.details.get("portfolio", {}).get("chosen", ""))
        row(name, makespan=result.makespan, seconds=seconds, note=note)
    for r in outcome.rows:
        r.lower_bound, r.optimum = bound, optimum
    return outcome, bound


def add_saga(outcome: Outcome, results: dict[str, Any]) -> None:
    """Re-time saga's schedules of one case and add them as ``saga-<name>`` rows."""
    problem = outcome.case.problem
    first = outcome.rows[0]
    for name, result in sorted(results.items()):
        r = Row(
            first.set,
            first.problem,
            first.tasks,
            first.nodes,
            f"saga-{name}",
            lower_bound=first.lower_bound,
            optimum=first.optimum,
        )
        outcome.rows.append(r)
        if result["status"] != "ok":
            r.status, r.note = result["status"], result.get("error", "")
            continue
        r.seconds = result["seconds"]
        try:
            schedule = retime(problem, result["assignments"], r.algorithm)
            validate_schedule(problem, schedule)
        except Exception as error:  # a saga schedule we cannot re-time is reported, not hidden
            r.status, r.note = "invalid", f"{type(error).__name__}: {error}"[:200]
            continue
        r.makespan = schedule.makespan


# -- the summary -------------------------------------------------------------------------------
def summarise(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Per set and scheduler: makespan over the bound and over the optimum; the goals."""
    sets: dict[str, dict[str, Any]] = {}
    for set_name in dict.fromkeys(o.case.set for o in outcomes):
        rows = [r for o in outcomes if o.case.set == set_name for r in o.rows]
        per: dict[str, Any] = {}
        for algorithm in dict.fromkeys(r.algorithm for r in rows):
            mine = [r for r in rows if r.algorithm == algorithm and r.status == "ok"]
            bound = [r.over_bound for r in mine if not math.isnan(r.over_bound)]
            optimum = [r.over_optimum for r in mine if not math.isnan(r.over_optimum)]
            per[algorithm] = {
                "problems": len(mine),
                "failed": sum(
                    r.algorithm == algorithm and r.status not in ("ok", "n/a") for r in rows
                ),
                "over_bound_mean": _mean(bound),
                "over_bound_max": max(bound, default=math.nan),
                "over_optimum_mean": _mean(optimum),
                "over_optimum_max": max(optimum, default=math.nan),
                "proven": len(optimum),
            }
        sets[set_name] = {
            "problems": sum(o.case.set == set_name for o in outcomes),
            "schedulers": per,
        }
    return {"sets": sets, "goals": goals(outcomes)}


def goals(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """The issue's goals, measured: the portfolio within 5 % of every proven optimum, and at
    least as good as saga's best heuristic (to a tie) on ≥ 90 % of the problems."""
    within, proven, beaten, compared, worst = 0, 0, 0, 0, []
    for o in outcomes:
        by = {r.algorithm: r for r in o.rows}
        portfolio = by.get("portfolio")
        if portfolio is None or portfolio.status != "ok":
            continue
        if not math.isnan(portfolio.over_optimum):
            proven += 1
            within += portfolio.over_optimum <= 1 + WITHIN
        saga = [r.makespan for r in o.rows if r.algorithm.startswith("saga-") and r.status == "ok"]
        if saga:
            compared += 1
            best = min(saga)
            if portfolio.makespan <= best or ties(portfolio.makespan, best):
                beaten += 1
            else:
                worst.append((portfolio.makespan / best, o.case.name))
    worst.sort(reverse=True)
    return {
        "portfolio_within_5pct_of_optimum": [within, proven],
        "portfolio_at_least_saga_best": [beaten, compared],
        "portfolio_within_met": (within == proven) if proven else None,
        "portfolio_vs_saga_met": (beaten >= GOAL_SHARE * compared) if compared else None,
        "worst_against_saga": [[round(r, 4), n] for r, n in worst[:5]],
    }


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def print_summary(summary: dict[str, Any]) -> None:
    for set_name, data in summary["sets"].items():
        print(f"\n{set_name} ({data['problems']} problems): makespan / lower bound, / optimum")
        print(
            f"  {'scheduler':<18} {'n':>3} {'/LB mean':>9} {'/LB max':>8} {'/OPT mean':>10}"
            f" {'/OPT max':>9} {'proven':>6}"
        )
        ranked = sorted(data["schedulers"].items(), key=lambda kv: _key(kv[1]["over_bound_mean"]))
        idle = [a for a, s in ranked if not s["problems"] and not s["failed"]]
        for algorithm, s in ranked:
            if algorithm in idle:
                continue
            failed = f"  ({s['failed']} failed)" if s["failed"] else ""
            print(
                f"  {algorithm:<18} {s['problems']:>3} {_cell(s['over_bound_mean'], 9)}"
                f" {_cell(s['over_bound_max'], 8)} {_cell(s['over_optimum_mean'], 10)}"
                f" {_cell(s['over_optimum_max'], 9)} {s['proven']:>6}{failed}"
            )
        if idle:
            print(f"  (not applicable to any problem of this set: {', '.join(idle)})")
    g = summary["goals"]
    within, proven = g["portfolio_within_5pct_of_optimum"]
    beaten, compared = g["portfolio_at_least_saga_best"]
    print(
        f"\nportfolio within 5 % of the proven optimum: {within} of {proven}"
        f" (goal: every one; {'met' if g['portfolio_within_met'] else 'NOT met'})"
    )
    if compared:
        print(
            f"portfolio at least as good as saga's best heuristic: {beaten} of {compared}"
            f" = {beaten / compared:.1%} (goal ≥ 90 %: "
            f"{'met' if g['portfolio_vs_saga_met'] else 'NOT met'})"
        )
        for ratio, name in g["worst_against_saga"]:
            print(f"  {name}: portfolio {ratio:.3f}x saga's best")


def _cell(value: float, width: int) -> str:
    """A ratio for the table; "-" where there is none (no proven optimum, say)."""
    return f"{'-':>{width}}" if math.isnan(value) else f"{value:>{width}.3f}"


def _key(value: float) -> float:
    return math.inf if math.isnan(value) else value


def write_results(outcomes: Sequence[Outcome], summary: dict[str, Any], folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    columns = [
        "set",
        "problem",
        "tasks",
        "nodes",
        "algorithm",
        "status",
        "makespan",
        "lower_bound",
        "optimum",
        "over_bound",
        "over_optimum",
        "seconds",
        "note",
    ]
    with open(folder / "bench_quality.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for o in outcomes:
            for r in o.rows:
                writer.writerow([getattr(r, c) for c in columns])
    (folder / "bench_quality.json").write_text(json.dumps(summary, indent=1) + "\n")
    plot(outcomes, folder / "bench_quality.png")


def plot(outcomes: Sequence[Outcome], path: Path) -> None:
    """Box plots of makespan / lower bound, one panel per set, our schedulers first."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(dict.fromkeys(o.case.set for o in outcomes))
    fig, axes = plt.subplots(len(sets), 1, figsize=(11, 2.8 * len(sets)), squeeze=False)
    for ax, set_name in zip(axes[:, 0], sets, strict=True):
        rows = [r for o in outcomes if o.case.set == set_name for r in o.rows if r.status == "ok"]
        names = list(dict.fromkeys(r.algorithm for r in rows))
        values = [[r.over_bound for r in rows if r.algorithm == n] for n in names]
        ax.boxplot(values, showfliers=True)
        ax.set_xticks(range(1, len(names) + 1), names, rotation=40, ha="right", fontsize=8)
        ax.set_yscale("log")
        ax.axhline(1.0, color="grey", linewidth=0.8)
        ax.set_title(f"{set_name}: makespan / lower bound (1 = provably best)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- main --------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer random problems")
    parser.add_argument("--no-saga", action="store_true", help="skip saga's heuristics")
    parser.add_argument(
        "--optimal-tasks",
        type=int,
        default=16,
        help="run the optimal scheduler on problems of at most this many tasks",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=20.0,
        help="seconds the optimal scheduler may search per problem",
    )
    parser.add_argument(
        "--saga-timeout", type=float, default=5.0, help="seconds per saga scheduler and problem"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    args = parser.parse_args(argv)
    if not ortools_available():
        print("OR-Tools is missing (pip install 'edgeoffload[exact]'): no proven optima")

    cases = [*wfcommons_cases(), *dnn_cases(), *random_cases(args.quick)]
    outcomes = []
    started = time.perf_counter()
    for k, case in enumerate(cases, 1):
        outcome, bound = run_case(case, args.optimal_tasks, args.time_limit)
        outcomes.append(outcome)
        by = {r.algorithm: r for r in outcome.rows}
        print(
            f"[{k}/{len(cases)}] {case.set}/{case.name}: {len(case.problem.graph)} tasks,"
            f" bound {bound:.4g} s, portfolio {by['portfolio'].over_bound:.3f}x"
            + (f", optimum {by['optimal'].note}" if "optimal" in by else ""),
            flush=True,
        )
    if not args.no_saga:
        print(f"saga's heuristics on {len(cases)} problems ...", flush=True)
        with tempfile.TemporaryDirectory() as folder:
            version, results = run_saga(cases, args.saga_timeout, Path(folder))
        print(f"saga {version}")
        for outcome in outcomes:
            add_saga(outcome, results[outcome.case.name])
    summary = summarise(outcomes)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    print_summary(summary)
    write_results(outcomes, summary, args.out)
    print(f"\nwrote {args.out / 'bench_quality.csv'}, .json and .png ({summary['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
