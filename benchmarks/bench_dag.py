"""Scheduled DAGs on real workers: dispatch overhead against plain Dask, and how close the
measured makespan comes to the prediction after calibration on an emulated network.

Part 1 — overhead (loopback, three unthrottled worker processes ``cam1``, ``cam2``,
``edge``). DAGs of no-op tasks (each returns 1 KB), placed by HEFT on a homogeneous model
(or pinned round-robin, so that every dependency crosses workers), run two ways:

- ``edgeoffload run_dag``: schedule, plans, the workers' own order, results pushed worker
  to worker (wall time from the call to the results, scheduling included);
- ``plain Dask``: ``client.submit(noop, *inputs, workers=[the same worker],
  allow_other_workers=False, pure=False)`` per task in topological order, then
  ``client.gather`` of the exit tasks: the same tasks with the same worker restrictions.

Per-task overhead = wall time / tasks (the tasks do nothing). Goal (issue 5): within 10 %
of plain Dask. Medians of ``--repeat`` runs.

Part 2 — prediction error after calibration on the emulated network (needs root and
iproute2; skipped with the reason otherwise). ``edgeoffload.netem`` builds an edge host
(TLS scheduler and the edge worker), three camera hosts on 802.11ac-like links (77.6
Mbit/s, 3 ms each way) and a client host; each worker runs ``edgeoffload worker`` on its
host, throttled to CPU quotas in the ratio of its preset's speed (the DHS paper's Pi 4B,
two Jetson TX2, an edge server). From the client host the workers are calibrated
(``calibrate_cluster``: speeds per kind, links per pair across the emulated network), then
two conditions of AlexNet/GoogLeNet/ResNet-50 requests (block level, synthetic kernels)
run with Local, Edge and DHS. Error = |measured − predicted| / measured of the makespan.
Goal: under 15 %.

Timings on this shared 2-core machine are noisy; rerun before quoting a figure. Writes
``results/bench_dag.json``. Run: ``make bench-dag`` or
``.venv/bin/python benchmarks/bench_dag.py [--quick] [--no-netem]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NODES = ("cam1", "cam2", "edge")
OUTPUT = 1_000  # bytes each no-op task returns
MBIT = 1e6 / 8  # bytes/s per Mbit/s
BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def cpu_group() -> str:
    """This process's cgroup v1 ``cpu`` group (where its CPU quota is set, if any)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "cpu" in controllers.split(","):
            return path
    return ""


def noop(*inputs: object, size: int = OUTPUT) -> bytes:
    """A task that does nothing but return ``size`` bytes."""
    return bytes(size)


# --------------------------------------------------------------------------- part 1


def overhead_problems(n_tasks: int) -> dict[str, Any]:
    from edgeoffload.model import Cluster, Dependency, Link, Node, Problem, Task, TaskGraph
    from edgeoffload.runtime.dag import DagProblem, TaskCall
    from edgeoffload.workloads.generators import random_layered_dag

    cluster = Cluster([Node(n, 1e9) for n in NODES], default_link=Link(1e9, 1e-4))
    layered = random_layered_dag(n_tasks, seed=1, work=(1e5, 1e6), data=(OUTPUT, OUTPUT))
    chain_tasks = [Task(f"t{i}", 1e5, pinned=NODES[i % 3]) for i in range(n_tasks)]
    chain_deps = [Dependency(f"t{i}", f"t{i + 1}", OUTPUT) for i in range(n_tasks - 1)]
    graphs = {
        "layered (HEFT)": layered,
        "chain across 3 workers": TaskGraph(chain_tasks, chain_deps),
    }
    call = TaskCall(noop)
    return {
        name: DagProblem.bind(Problem(graph, cluster), lambda t: call)
        for name, graph in graphs.items()
    }


def run_plain_dask(client: Any, app: Any, schedule: Any, addresses: dict[str, str]) -> float:
    graph = app.problem.graph
    node = {a.task: a.node for a in schedule}
    start = time.perf_counter()
    futures: dict[str, Any] = {}
    for i in graph.topological_order:
        task = graph.tasks[i].id
        inputs = [futures[p] for p in graph.predecessors(task)]
        futures[task] = client.submit(
            noop,
            *inputs,
            workers=[addresses[node[task]]],
            allow_other_workers=False,
            pure=False,
        )
    client.gather([futures[t] for t in graph.exit_tasks()])
    wall = time.perf_counter() - start
    del futures
    return wall


def part_overhead(n_tasks: int, repeat: int) -> dict[str, Any]:
    import distributed

    import edgeoffload
    from edgeoffload.runtime import LocalCluster, WorkerSpec, run_dag
    from edgeoffload.schedulers import get_scheduler

    out: dict[str, Any] = {"tasks": n_tasks, "repeat": repeat, "cases": {}}
    with (
        LocalCluster([WorkerSpec(n) for n in NODES]) as cluster,
        edgeoffload.connect(cluster.address) as session,
        distributed.Client(cluster.address, set_as_default=False) as client,
    ):
        info = client.scheduler_info(n_workers=-1)["workers"]
        addresses = {w["name"]: a for a, w in info.items()}
        for name, app in overhead_problems(n_tasks).items():
            schedule = get_scheduler("heft").schedule(app.problem)
            ours, dask, phases = [], [], []
            run_dag(session, app, algorithm="heft")  # warm: code, connections
            run_plain_dask(client, app, schedule, addresses)
            for _ in range(repeat):  # interleaved, so load changes hit both alike
                run = run_dag(session, app, algorithm="heft")
                ours.append(run.wall_seconds)
                phases.append(
                    {
                        "scheduling": run.scheduling_seconds,
                        "dispatch": run.dispatch_seconds,
                        "makespan": run.makespan,
                    }
                )
                dask.append(run_plain_dask(client, app, schedule, addresses))
            ours_task = statistics.median(ours) / n_tasks
            dask_task = statistics.median(dask) / n_tasks
            crossing = sum(
                1
                for d in app.problem.graph.dependencies
                if schedule.assignment(d.source).node != schedule.assignment(d.target).node
            )
            out["cases"][name] = {
                "edgeoffload_ms_per_task": 1e3 * ours_task,
                "dask_ms_per_task": 1e3 * dask_task,
                "ratio": ours_task / dask_task,
                "crossing_dependencies": crossing,
                "edgeoffload_walls": ours,
                "dask_walls": dask,
                "edgeoffload_phases_median": {
                    k: statistics.median(p[k] for p in phases) for k in phases[0]
                },
            }
            print(
                f"{name:<24} edgeoffload {1e3 * ours_task:7.3f} ms/task   plain Dask "
                f"{1e3 * dask_task:7.3f} ms/task   ratio {ours_task / dask_task:5.2f}   "
                f"({crossing} of {len(app.problem.graph.dependencies)} dependencies "
                "cross workers)",
                flush=True,
            )
    return out


# --------------------------------------------------------------------------- part 2

NETEM_SCENARIO: dict[str, Any] = {
    "format": 1,
    "name": "netem-cameras",
    "description": "three cameras and an edge server on emulated 802.11ac",
    "granularity": "block",
    "devices": [
        {"id": "edge", "preset": "edge-server", "role": "edge"},
        {"id": "cam1", "preset": "rpi4b", "role": "camera"},
        {"id": "cam2", "preset": "jetson-tx2", "role": "camera"},
        {"id": "cam3", "preset": "jetson-tx2", "role": "camera"},
    ],
    # as emulated: every camera has its own access link (one medium each: its transfers
    # share it), the edge's is unlimited; the simulator models that sharing, the
    # schedulers' cost model does not
    "network": {
        "default_link": {"preset": "wifi-ac"},
        "model": "shared",
        "media": [{"name": f"link-cam{i}", "nodes": [f"cam{i}"]} for i in (1, 2, 3)],
    },
    "conditions": {
        "B-L": {
            "requests": [
                {"model": "alexnet", "camera": "cam1"},
                {"model": "googlenet", "camera": "cam2"},
                {"model": "resnet50", "camera": "cam3"},
            ]
        },
        "U-L": {
            "requests": [
                {"model": "alexnet", "camera": "cam1"},
                {"model": "googlenet", "camera": "cam1"},
                {"model": "resnet50", "camera": "cam1"},
            ]
        },
    },
}


def netem_client(argv: list[str]) -> int:
    """Inside the client host: calibrate across the emulated network, then run."""
    from edgeoffload.experiments.dag_run import run_scenario
    from edgeoffload.runtime import connect
    from edgeoffload.runtime.client.calibration import calibrate_cluster
    from edgeoffload.workloads.scenarios import scenario_from_dict

    options = json.loads(argv[0])
    scenario = scenario_from_dict(NETEM_SCENARIO)
    with connect(
        options["address"], security=options["certs"], wait_for_workers=4, timeout=120
    ) as session:
        groups = {n: session.call_on(n, cpu_group) for n in scenario.cluster.node_ids}
        start = time.perf_counter()
        calibration = calibrate_cluster(
            session,
            nodes=list(scenario.cluster.node_ids),
            base=scenario.cluster,
            kinds=["conv", "fc"],
            seconds=options["seconds"],
            repeats=3,
        )
        calibrated_in = time.perf_counter() - start
        result = run_scenario(
            scenario,
            session=session,
            cluster=calibration.cluster,
            scale=options["scale"],
            repeat=options["repeat"],
        )
        groups_after = {n: session.call_on(n, cpu_group) for n in scenario.cluster.node_ids}
    if options.get("out"):
        from edgeoffload.experiments.dag_run import save_gantts

        folder = Path(options["out"])
        folder.mkdir(parents=True, exist_ok=True)
        result.save(folder / "netem-run.json")
        save_gantts(result, folder)
    cases = []
    for case in result.cases:
        cases.append(
            {
                "condition": case.condition,
                "algorithm": case.algorithm,
                "predicted": case.predicted_makespan,
                "simulated": case.simulated_makespan,
                "measured": case.measured_makespan,
                "measured_runs": [r.makespan for r in case.runs],
                "error": case.error,
                "simulated_error": case.simulated_error,
                "errors": [r.error for r in case.runs],
                "latency": case.latencies(),
            }
        )
    print(
        json.dumps(
            {
                "calibration": calibration.to_dict(),
                "calibration_seconds": calibrated_in,
                "cpu_groups": groups,
                "cpu_groups_after": groups_after,
                "cases": cases,
            }
        ),
        flush=True,
    )
    return 0


def _wait_for(log: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{log.name}: no {text!r} after {timeout} s:\n{log.read_text()[-2000:]}")


def part_netem(scale: float, repeat: int, budget: float, seconds: float) -> dict[str, Any]:
    import tempfile

    from edgeoffload.experiments.dag_run import condition_problem, preset_quotas
    from edgeoffload.netem import (
        EmulatedNetwork,
        LinkSpec,
        camera_cluster_topology,
        check_support,
        cleanup_stale,
    )
    from edgeoffload.runtime.host.throttle import apply_cpu_quota, throttle_available
    from edgeoffload.runtime.wire.security import make_certificates
    from edgeoffload.workloads.scenarios import scenario_from_dict

    reason = check_support()
    if reason is not None:
        print(f"netem part skipped: {reason}")
        return {"skipped": reason}
    scenario = scenario_from_dict(NETEM_SCENARIO)
    problems = [condition_problem(scenario, c, scale=scale) for c in scenario.condition_names]
    quotas = preset_quotas(scenario.cluster, problems, budget=budget)
    wifi = LinkSpec(bandwidth=77.6 * MBIT, delay=0.003)
    topology = camera_cluster_topology(
        f"bd{os.getpid()}"[:12], camera_link=wifi, client_link=wifi, seed=3
    )
    cleanup_stale()
    python = [sys.executable, "-m", "edgeoffload"]
    handles = []
    with tempfile.TemporaryDirectory() as tmp, EmulatedNetwork(topology) as net:
        folder = Path(tmp)
        certs = folder / "certs"
        make_certificates(certs, [h.address for h in topology.hosts])
        edge = net.address("edge")
        address = f"tls://{edge}:8786"
        log = folder / "scheduler.log"
        with log.open("wb") as out:
            net.popen(
                "edge",
                [
                    *python,
                    "scheduler",
                    "--host",
                    edge,
                    "--port",
                    "8786",
                    "--tls",
                    str(certs),
                    "--no-dashboard",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _wait_for(log, "listening at", 60)
        # one BLAS thread, as Dask's nanny would set (--no-nanny workers get no such
        # environment): spinning BLAS threads eat a CPU quota
        single = {**os.environ, **dict.fromkeys(BLAS_THREADS, "1")}
        workers = {}
        for device in NETEM_SCENARIO["devices"]:
            name = device["id"]
            wlog = folder / f"worker-{name}.log"
            with wlog.open("wb") as out:
                workers[name] = net.popen(
                    name,
                    [
                        *python,
                        "worker",
                        "--name",
                        name,
                        "--scheduler",
                        address,
                        "--host",
                        net.address(name),
                        "--tls",
                        str(certs),
                        "--role",
                        device["role"],
                        "--preset",
                        device["preset"],
                        "--no-nanny",
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=single,
                )
        for name in workers:
            _wait_for(folder / f"worker-{name}.log", "listening at", 90)
        throttled = throttle_available("auto") is None
        if throttled:
            for name, proc in workers.items():
                handles.append(apply_cpu_quota(proc.pid, quotas[name], name=f"bench-{name}"))
        try:
            options = {
                "address": address,
                "certs": str(certs),
                "scale": scale,
                "repeat": repeat,
                "seconds": seconds,
                "out": str(ROOT / "results" / "bench_dag"),
            }
            done = net.run(
                "client",
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--netem-client",
                    json.dumps(options),
                ],
                timeout=1800,
                check=False,
            )
        finally:
            for handle in handles:
                handle.release()
        if done.returncode != 0:
            raise RuntimeError(f"the client failed:\n{done.stderr[-4000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
    result["quotas"] = quotas if throttled else {}
    if throttled:  # a worker outside its group would make the figures meaningless: say so
        for when in ("cpu_groups", "cpu_groups_after"):
            lost = [n for n, g in result[when].items() if "edgeoffload/" not in g]
            if lost:
                result.setdefault("warnings", []).append(f"{when}: not throttled: {lost}")
                print(f"WARNING: workers {lost} were not in their CPU quota group ({when})")
    result["scale"] = scale
    print(f"CPU quotas (cores): {', '.join(f'{n} {q:.3g}' for n, q in quotas.items())}")
    for link in result["calibration"]["_calibration"]["links"]:
        a, b = link["between"]
        print(
            f"calibrated link {a}-{b}: rtt {1e3 * link['rtt']:.2f} ms, "
            f"{8 * link['bandwidth'] / 1e6:.1f} Mbit/s"
        )
    print(
        f"{'condition':<9} {'algorithm':<9} {'predicted':>9} {'simulated':>9} "
        f"{'measured':>9} {'error':>7} {'sim err':>7}"
    )
    for case in result["cases"]:
        print(
            f"{case['condition']:<9} {case['algorithm']:<9} {case['predicted']:9.3f} "
            f"{case['simulated']:9.3f} {case['measured']:9.3f} {100 * case['error']:6.1f}% "
            f"{100 * case['simulated_error']:6.1f}%"
        )
    for key, label in (("error", "schedulers' prediction"), ("simulated_error", "simulator")):
        errors = [c[key] for c in result["cases"]]
        result[f"mean_{key}"] = statistics.fmean(errors)
        result[f"max_{key}"] = max(errors)
        print(
            f"{label} error: mean {100 * statistics.fmean(errors):.1f} %, "
            f"max {100 * max(errors):.1f} % (goal: under 15 %)"
        )
    return result


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--netem-client":
        return netem_client(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer tasks and repeats")
    parser.add_argument("--tasks", type=int, help="tasks per DAG (default 300; quick 100)")
    parser.add_argument("--repeat", type=int, help="runs per case (default 7; quick 3)")
    parser.add_argument("--no-overhead", action="store_true", help="skip part 1")
    parser.add_argument("--no-netem", action="store_true", help="skip part 2")
    parser.add_argument("--scale", type=float, default=1.0, help="work factor of part 2")
    parser.add_argument("--cores", type=float, default=1.2, help="part 2 workers' cores")
    parser.add_argument("--out", default=str(ROOT / "results" / "bench_dag.json"))
    args = parser.parse_args(argv)
    tasks = args.tasks or (100 if args.quick else 300)
    repeat = args.repeat or (3 if args.quick else 7)
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "load": os.getloadavg()}}
    if not args.no_overhead:
        print(f"part 1: per-task overhead, {tasks} no-op tasks, median of {repeat}")
        results["overhead"] = part_overhead(tasks, repeat)
    if not args.no_netem:
        print("part 2: prediction error after calibration on the emulated network")
        results["netem"] = part_netem(
            args.scale, 1 if args.quick else 3, args.cores, 0.1 if args.quick else 0.2
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":  # worker processes import this file: keep the guard
    raise SystemExit(main())
