"""Digest of every built-in scheduler's schedules on a fixed set of seeded problems.

A regression check for optimisations of the schedulers' hot paths: the same input must
give the same schedule, byte for byte, before and after. The problems cover what the
fast paths must get right: random layered DAGs on 1 to 64 nodes, links with latency,
heterogeneous and uniform bandwidths, instant transfers (no default link), pinned
tasks, requests arriving over time, nodes busy until ``available_from``, execution-time
tables, task kinds with per-kind speeds, zero work and zero data, and the shipped
example problems.

Usage::

    .venv/bin/python benchmarks/schedule_digests.py --save results/digests-before.json
    # ... change the code ...
    .venv/bin/python benchmarks/schedule_digests.py --compare results/digests-before.json

Each entry is the SHA-256 of ``Schedule.to_json()`` for one (problem, algorithm); with
``--compare`` the script exits with 1 and names the entries that changed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgeoffload.model import Cluster, Link, Node, Problem, Request, Task, TaskGraph
from edgeoffload.schedulers import SCHEDULERS, get_scheduler
from edgeoffload.workloads.generators import random_cluster, random_layered_dag
from edgeoffload.workloads.problems import builtin_problem, builtin_problem_names


def _variant(graph: TaskGraph, cluster: Cluster, kind: str, seed: int) -> Problem:
    """``graph`` on ``cluster`` with one of the features the schedulers must honour."""
    rng = np.random.default_rng(seed)
    node_ids = cluster.node_ids
    if kind == "plain":
        return Problem(graph, cluster)
    if kind == "pinned":  # about one task in ten pinned to a random node
        tasks = [
            Task(t.id, t.work, pinned=str(rng.choice(node_ids)) if rng.random() < 0.1 else None)
            for t in graph.tasks
        ]
        return Problem(TaskGraph(tasks, graph.dependencies), cluster)
    if kind == "requests":  # three requests arriving over time, nodes busy at first
        arrivals = [Request(f"r{k}", float(k) * 0.5) for k in range(3)]
        tasks = [Task(t.id, t.work, request=f"r{int(rng.integers(3))}") for t in graph.tasks]
        nodes = [Node(n.id, n.speed, available_from=float(rng.uniform(0.0, 1.0))) for n in cluster]
        busy = Cluster(nodes, cluster.links, cluster.default_link)
        return Problem(TaskGraph(tasks, graph.dependencies), busy, arrivals)
    if kind == "kinds":  # conv tasks run faster on some nodes; some times given by table
        tasks = [
            Task(t.id, t.work, kind="conv" if rng.random() < 0.5 else None) for t in graph.tasks
        ]
        nodes = [
            Node(n.id, n.speed, speed_by_kind={"conv": n.speed * float(rng.uniform(1.0, 8.0))})
            for n in cluster
        ]
        table = {
            t.id: {n: float(rng.uniform(0.0, 0.2)) for n in node_ids} for t in graph.tasks[::7]
        }
        return Problem(
            TaskGraph(tasks, graph.dependencies),
            Cluster(nodes, cluster.links, cluster.default_link),
            exec_times=table,
        )
    if kind == "instant":  # no default link: unlisted pairs transfer instantly
        return Problem(graph, Cluster(cluster.nodes, cluster.links, None))
    if kind == "uniform":  # one bandwidth for every pair, no latency
        return Problem(graph, Cluster(cluster.nodes, {}, Link(5e6, 0.0)))
    if kind == "zeros":  # zero work and zero data here and there
        tasks = [Task(t.id, 0.0 if rng.random() < 0.2 else t.work) for t in graph.tasks]
        deps = [
            type(d)(d.source, d.target, 0.0 if rng.random() < 0.3 else d.data)
            for d in graph.dependencies
        ]
        return Problem(TaskGraph(tasks, deps), cluster)
    if kind == "signed-zeros":  # -0.0 where a number may be zero: its sign must not move
        tasks = [
            Task(t.id, -0.0 if rng.random() < 0.3 else t.work, request=f"r{k % 2}")
            for k, t in enumerate(graph.tasks)
        ]
        deps = [
            type(d)(d.source, d.target, -0.0 if rng.random() < 0.5 else d.data)
            for d in graph.dependencies
        ]
        nodes = [
            Node(n.id, n.speed, available_from=-0.0 if k % 2 else 0.0)
            for k, n in enumerate(cluster)
        ]
        return Problem(
            TaskGraph(tasks, deps),
            Cluster(nodes, {}, Link(1e6, -0.0)),
            [Request("r0", -0.0), Request("r1", 0.0)],
        )
    raise ValueError(kind)


VARIANTS = ("plain", "pinned", "requests", "kinds", "instant", "uniform", "zeros", "signed-zeros")


def problems() -> Iterator[tuple[str, Problem]]:
    """The fixed set of (name, problem) pairs the digests are taken over."""
    for name in builtin_problem_names():
        yield f"builtin/{name}", builtin_problem(name)
    seed = 0
    for n_tasks in (1, 2, 10, 60, 300):
        for n_nodes in (1, 2, 3, 8, 24):
            for kind in VARIANTS:
                seed += 1
                graph = random_layered_dag(n_tasks, seed)
                cluster = random_cluster(n_nodes, seed)
                yield f"{kind}/v{n_tasks}/p{n_nodes}/s{seed}", _variant(graph, cluster, kind, seed)
    for n_tasks, n_nodes in ((1000, 4), (1000, 16), (1000, 64), (3000, 4), (2000, 32)):
        graph = random_layered_dag(n_tasks, n_tasks + n_nodes)
        cluster = random_cluster(n_nodes, n_nodes, latency=(0.0, 0.0))
        yield f"large/v{n_tasks}/p{n_nodes}", Problem(graph, cluster)


def digests() -> dict[str, str]:
    """SHA-256 of each applicable scheduler's schedule JSON on each problem."""
    out: dict[str, str] = {}
    for name, problem in problems():
        for algorithm in sorted(SCHEDULERS):
            scheduler = get_scheduler(algorithm)
            if scheduler.applies_to(problem) is not None:
                continue
            text = scheduler.schedule(problem).to_json()
            out[f"{name}/{algorithm}"] = hashlib.sha256(text.encode()).hexdigest()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", type=Path, help="write the digests to this JSON file")
    group.add_argument("--compare", type=Path, help="compare with digests saved earlier")
    args = parser.parse_args(argv)
    current = digests()
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
        print(f"{len(current)} schedule digests written to {args.save}")
        return 0
    saved = json.loads(args.compare.read_text())
    changed = sorted(k for k in saved.keys() | current.keys() if saved.get(k) != current.get(k))
    for key in changed:
        print(f"changed: {key}")
    print(f"{len(current)} schedules, {len(changed)} changed")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
