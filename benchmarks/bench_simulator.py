"""Simulator throughput: simulated tasks per wall-clock second, batch and stream runs.

For 10, 100 and 1,000 nodes and 1,000 to 1,000,000 tasks it times:

- ``batch``: :func:`edgeoffload.simulation.simulate` of a given schedule under the
  schedulers' assumptions (dedicated links, no contention; the run must reproduce the
  schedule exactly, which is checked);
- ``batch-shared``: the same schedule with the nodes in Wi-Fi cells of 10 sharing airtime
  and a tensor sent once per destination node;
- ``stream``: :func:`edgeoffload.simulation.simulate_stream`, one periodic frame stream per
  node (on as many nodes as there are frames, if fewer) at half the node's capacity, every
  frame planned on arrival by a cheap planner that splits its middle layer with the next
  node; the run must follow the plans exactly, which is checked.

The workload is requests of an 11-task DAG (a zero-work input pinned to its node, then a
fork of three branches joined again) with random work and tensor sizes. Schedules come
from HEFT where it is affordable (≤ 10,000 tasks and ≤ 2·10⁶ task × node cells) and
otherwise from a cheap round-robin list placement (request *r* on node *r mod P*, its middle
layer split with node *r+1*), timed separately: the simulator's rate excludes building
the problem and scheduling. Validation of the schedule is off (``SimConfig(validate=False)``),
the trace is off, and the rate counts the whole :func:`simulate` call (setup, events,
statistics).

Anchor: PureEdgeSim reports 1.13 M tasks over 10,000 devices in 58 s, about 19,500 tasks/s;
each row gives our rate as a ratio to that. The cost's growth with the number of tasks is
fitted per mode and node count (log time against log tasks, sizes ≥ 10,000): an exponent
near 1 means linear.

Usage: ``python benchmarks/bench_simulator.py [--quick] [--max-tasks N] [--out FILE]``
(``make bench-simulator``). Writes ``results/bench_simulator.csv`` and
``results/bench_simulator_fit.csv``. Timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import csv
import gc
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgeoffload.model import (
    AppRequest,
    Assignment,
    Cluster,
    Dependency,
    Link,
    Node,
    Problem,
    Schedule,
    Task,
    TaskGraph,
    merge_requests,
)
from edgeoffload.schedulers import get_scheduler
from edgeoffload.simulation import Medium, Network, SimConfig, simulate
from edgeoffload.simulation.streams import FrameStream, Placement, RequestTemplate, simulate_stream

PUREEDGESIM_RATE = 1.13e6 / 58.0  # tasks per second: 1.13 M tasks, 10,000 devices, 58 s
TASKS_PER_REQUEST = 11  # the input task and the 10 tasks of TEMPLATE
CELL = 10  # nodes per Wi-Fi cell in batch-shared

# (source, target) of the request DAG: 0 -> 1,2,3 -> 4,5,6 -> 7 (4,5), 8 (6) -> 9
EDGES = [(0, 1), (0, 2), (0, 3), (1, 4), (2, 5), (3, 6), (4, 7), (5, 7), (6, 8), (7, 9), (8, 9)]
MIDDLE = {1, 2, 3, 4, 5, 6}  # split between the request's node and its neighbour


def template(rng: np.random.Generator) -> TaskGraph:
    work = rng.uniform(1e8, 1e9, 10)
    data = rng.uniform(1e4, 1e6, len(EDGES))
    return TaskGraph(
        [Task(f"t{k}", float(work[k])) for k in range(10)],
        [Dependency(f"t{a}", f"t{b}", float(d)) for (a, b), d in zip(EDGES, data, strict=True)],
    )


def cluster(n_nodes: int, rng: np.random.Generator) -> Cluster:
    speeds = np.exp(rng.uniform(np.log(1e10), np.log(1e11), n_nodes))
    nodes = [Node(f"n{k}", float(s), role="camera") for k, s in enumerate(speeds)]
    return Cluster(nodes, default_link=Link(1.25e7, 0.002))


def build_graph(n_tasks: int, seed: int) -> tuple[list[AppRequest], int]:
    """Requests of the template DAG (one shared graph), placed on node 0 for now."""
    rng = np.random.default_rng(seed)
    app = template(rng)
    count = max(1, n_tasks // TASKS_PER_REQUEST)
    return [AppRequest(f"r{r}", app, "n0", 0.0, 6e5) for r in range(count)], count


def with_cameras(requests: Sequence[AppRequest], n_nodes: int) -> list[AppRequest]:
    return [
        AppRequest(r.id, r.graph, f"n{k % n_nodes}", 0.0, r.input_data)
        for k, r in enumerate(requests)
    ]


def round_robin(problem: Problem) -> Schedule:
    """Request r on node r mod P, its middle layer split with node r+1, tasks back to back.

    Times come from the cost model's expressions (work / speed, latency + data / bandwidth),
    so the schedule is valid and the simulator must reproduce it exactly.
    """
    graph, cluster = problem.graph, problem.cluster
    n_nodes = len(cluster)
    speed = [n.speed for n in cluster.nodes]
    latency, bandwidth = cluster.link_matrices()
    lat, bw = latency.tolist(), bandwidth.tolist()
    free = [0.0] * n_nodes
    tasks = graph.tasks
    node = [0] * len(tasks)
    start = [0.0] * len(tasks)
    finish = [0.0] * len(tasks)
    index = graph.index
    preds: list[list[tuple[int, float]]] = [[] for _ in tasks]
    for dep in graph.dependencies:
        preds[index(dep.target)].append((index(dep.source), dep.data))
    for r in range(len(problem.requests)):
        base = r * TASKS_PER_REQUEST
        home, other = r % n_nodes, (r + 1) % n_nodes
        for k in range(TASKS_PER_REQUEST):  # input, t0 .. t9: a topological order
            i = base + k
            p = other if (k - 1) in MIDDLE and k % 2 == 0 else home
            ready = 0.0
            for j, data in preds[i]:
                q = node[j]
                arrive = finish[j] + (lat[q][p] + data / bw[q][p]) if q != p else finish[j]
                if arrive > ready:
                    ready = arrive
            s = max(free[p], ready)
            f = s + (tasks[i].work or 0.0) / speed[p]
            node[i], start[i], finish[i], free[p] = p, s, f, f
    ids = cluster.node_ids
    return Schedule(
        "round-robin",
        (Assignment(t.id, ids[node[i]], start[i], finish[i]) for i, t in enumerate(tasks)),
    )


class SplitPlanner:
    """Stream planner: a frame on its camera, its middle layer split with the next node."""

    name = "split"

    def plan(
        self, template: RequestTemplate, arrival: float, available_from: Sequence[float]
    ) -> Placement:
        home = template.camera
        n_nodes = template.exec.shape[1]
        other = (home + 1) % n_nodes
        free = {home: max(arrival, available_from[home]), other: available_from[other]}
        n = len(template.in_degree)
        node, start, finish = [0] * n, [0.0] * n, [0.0] * n
        preds = template_preds(template)
        link = template_link(template)
        for i in template.order:
            p = other if (i - 1) in MIDDLE and i % 2 == 0 else home
            ready = arrival
            for j, data in preds[i]:
                q = node[j]
                arrive = finish[j] + (link[0] + data / link[1]) if q != p else finish[j]
                ready = max(ready, arrive)
            s = max(free[p], ready)
            f = s + float(template.exec[i, p])
            node[i], start[i], finish[i], free[p] = p, s, f, f
        return Placement(node, start, finish, self.name)


_PREDS: dict[int, list[list[tuple[int, float]]]] = {}


def template_preds(template: RequestTemplate) -> list[list[tuple[int, float]]]:
    key = id(template)
    if key not in _PREDS:
        preds: list[list[tuple[int, float]]] = [[] for _ in template.in_degree]
        for i in range(len(template.in_degree)):
            for k in range(template.succ_ptr[i], template.succ_ptr[i + 1]):
                preds[template.succ_target[k]].append((i, template.succ_data[k]))
        _PREDS[key] = preds
    return _PREDS[key]


def template_link(template: RequestTemplate) -> tuple[float, float]:
    link = template.cluster.default_link
    assert link is not None
    return link.latency, link.bandwidth


def run_batch(
    n_nodes: int, requests: Sequence[AppRequest], seed: int, shared: bool
) -> dict[str, Any]:
    rng = np.random.default_rng([seed, n_nodes])
    tick = time.perf_counter()
    problem = merge_requests(with_cameras(requests, n_nodes), cluster(n_nodes, rng))
    build = time.perf_counter() - tick
    n_tasks = len(problem.graph)
    use_heft = n_tasks <= 10_000 and n_tasks * n_nodes <= 2_000_000
    tick = time.perf_counter()
    schedule = get_scheduler("heft").schedule(problem) if use_heft else round_robin(problem)
    scheduling = time.perf_counter() - tick
    if shared:
        ids = problem.cluster.node_ids
        media = tuple(Medium(f"cell{k}", ids[k : k + CELL]) for k in range(0, len(ids), CELL))
        config = SimConfig(
            network=Network("shared", media=media), record_trace=False, validate=False
        )
    else:
        config = SimConfig.schedulers_assumptions(record_trace=False, validate=False)
    gc.collect()
    tick = time.perf_counter()
    result = simulate(problem, schedule, config)
    elapsed = time.perf_counter() - tick
    exact = result.makespan == schedule.makespan if not shared else None
    if exact is False:
        raise SystemExit(f"batch run did not reproduce the schedule ({n_tasks} tasks)")
    return {
        "mode": "batch-shared" if shared else "batch",
        "nodes": n_nodes,
        "tasks": n_tasks,
        "scheduler": "heft" if use_heft else "round-robin",
        "build_s": build,
        "schedule_s": scheduling,
        "simulate_s": elapsed,
        "events": result.events,
        "transfers": result.transfers,
        "makespan_s": result.makespan,
        "exact": exact,
    }


def run_stream(n_nodes: int, n_tasks: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng([seed, n_nodes, 1])
    c = cluster(n_nodes, rng)
    app = template(rng)
    work = sum(t.work or 0.0 for t in app.tasks)
    cameras = min(n_nodes, max(1, n_tasks // TASKS_PER_REQUEST))
    frames = max(1, n_tasks // (TASKS_PER_REQUEST * cameras))
    streams = []
    for node in c.nodes[:cameras]:
        rate = 0.5 * node.speed / work  # half the node's own capacity
        streams.append(
            FrameStream(node.id, app, rate, "periodic", 0.0, frames / rate, 6e5, name=node.id)
        )
    config = SimConfig.schedulers_assumptions(record_trace=False, validate=False)
    _PREDS.clear()
    gc.collect()
    tick = time.perf_counter()
    result = simulate_stream(c, streams, SplitPlanner(), config, rng=seed)
    elapsed = time.perf_counter() - tick
    exact = all(r.finish == r.predicted_finish for r in result.sim.requests)
    if not exact:
        raise SystemExit(f"stream run did not follow its plans ({n_tasks} tasks)")
    return {
        "mode": "stream",
        "nodes": n_nodes,
        "tasks": len(result.sim.tasks),
        "scheduler": "split (on arrival)",
        "build_s": 0.0,
        "schedule_s": result.scheduling_seconds,
        "simulate_s": elapsed - result.scheduling_seconds,
        "events": result.sim.events,
        "transfers": result.sim.transfers,
        "makespan_s": result.sim.makespan,
        "exact": exact,
    }


def fit(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    keys = sorted({(r["mode"], r["nodes"]) for r in rows})
    for mode, nodes in keys:
        points = [
            (r["tasks"], r["simulate_s"])
            for r in rows
            if r["mode"] == mode and r["nodes"] == nodes and r["size"] >= 10_000
        ]
        if len(points) < 2:
            continue
        x = np.log([p[0] for p in points])
        y = np.log([p[1] for p in points])
        slope, _ = np.polyfit(x, y, 1)
        out.append({"mode": mode, "nodes": nodes, "points": len(points), "exponent": float(slope)})
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="up to 100,000 tasks")
    parser.add_argument("--max-tasks", type=float, default=1e6)
    parser.add_argument("--nodes", default="10,100,1000")
    parser.add_argument("--modes", default="batch,batch-shared,stream")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="results/bench_simulator.csv")
    args = parser.parse_args(argv)
    top = 1e5 if args.quick else args.max_tasks
    sizes = [n for n in (1_000, 10_000, 100_000, 1_000_000) if n <= top]
    node_counts = [int(x) for x in args.nodes.split(",")]
    modes = args.modes.split(",")
    rows: list[dict[str, Any]] = []
    print(
        f"{'mode':>13} {'nodes':>5} {'tasks':>9} {'scheduler':>18} {'sched s':>8} "
        f"{'sim s':>7} {'tasks/s':>9} {'x19.5k':>6}"
    )
    for n_tasks in sizes:
        requests, _ = build_graph(n_tasks, args.seed)
        for n_nodes in node_counts:
            for mode in modes:
                if mode == "stream":
                    row = run_stream(n_nodes, n_tasks, args.seed)
                else:
                    row = run_batch(n_nodes, requests, args.seed, shared=mode == "batch-shared")
                row = {"size": n_tasks, **row}
                row["tasks_per_s"] = row["tasks"] / row["simulate_s"]
                row["ratio_to_pureedgesim"] = row["tasks_per_s"] / PUREEDGESIM_RATE
                rows.append(row)
                print(
                    f"{row['mode']:>13} {n_nodes:>5} {row['tasks']:>9} {row['scheduler']:>18} "
                    f"{row['schedule_s']:>8.2f} {row['simulate_s']:>7.2f} "
                    f"{row['tasks_per_s']:>9.0f} {row['ratio_to_pureedgesim']:>6.2f}",
                    flush=True,
                )
        del requests
        gc.collect()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    fits = fit(rows)
    fit_path = out.with_name(out.stem + "_fit.csv")
    if fits:
        with fit_path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(fits[0]))
            writer.writeheader()
            writer.writerows(fits)
        print("\ngrowth of simulate time with tasks (log-log slope, sizes >= 10,000):")
        for f in fits:
            print(f"  {f['mode']:>13} {f['nodes']:>5} nodes: exponent {f['exponent']:.3f}")
    slowest = min(rows, key=lambda r: r["tasks_per_s"] if r["size"] >= 10_000 else math.inf)
    print(
        f"\nslowest rate at >= 10,000 tasks: {slowest['tasks_per_s']:.0f} tasks/s "
        f"({slowest['mode']}, {slowest['nodes']} nodes, {slowest['tasks']} tasks), "
        f"{slowest['ratio_to_pureedgesim']:.2f}x PureEdgeSim's 19,500"
    )
    print(f"written to {out} and {fit_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
