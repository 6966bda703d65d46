"""Simulate DNN requests on a smart-camera cluster: predicted vs simulated, energy, a failure.

Three ResNet-50 / GoogLeNet requests arrive at a Raspberry Pi camera of the DHS paper's
cluster (1 Raspberry Pi 4B, 3 Jetson TX2, an edge server on 802.11ac Wi-Fi). Each scheduler's
plan is simulated three ways:

1. under the schedulers' own assumptions (dedicated links, no contention, no variation):
   the simulated makespan equals the predicted one exactly;
2. with the cameras sharing one Wi-Fi channel and 10 % run-to-run variation (seeded);
3. with the edge server failing half way, lost work re-run on the fastest surviving node.

Run: python examples/02_simulate_edge_cluster.py
"""

from __future__ import annotations

from edgeoffload import merge_requests, schedule
from edgeoffload.simulation import (
    LognormalVariability,
    Medium,
    Network,
    NodeFailure,
    SimConfig,
    simulate,
)
from edgeoffload.workloads.dnn import load_dnn
from edgeoffload.workloads.scenarios import load_scenario

cluster = load_scenario("dhs-paper").cluster  # devices and links, with their sources
requests = [
    load_dnn("resnet50").request("r1", "cam1"),
    load_dnn("googlenet").request("r2", "cam1"),
    load_dnn("resnet50").request("r3", "cam1", arrival=0.05),  # seconds
]
problem = merge_requests(requests, cluster)

exact = SimConfig.schedulers_assumptions()
wifi = SimConfig(
    network=Network("shared", media=(Medium("wifi", ["cam1", "cam2", "cam3", "cam4"]),)),
    variability=LognormalVariability(exec_cv=0.1, transfer_cv=0.1),
)

print(f"{len(problem.graph)} tasks, {len(problem.requests)} requests at cam1 (Raspberry Pi)")
print(f"{'algorithm':>9}  {'predicted':>9}  {'exact':>9}  {'shared wifi':>11}  {'energy':>8}")
for algorithm in ("local", "edge", "heft", "cpop", "peft", "dhs"):
    plan = schedule(problem, algorithm)
    same = simulate(problem, plan, exact)
    assert same.makespan == plan.makespan  # bit for bit, not approximately
    real = simulate(problem, plan, wifi, rng=2024)
    print(
        f"{algorithm:>9}  {plan.makespan * 1e3:7.1f}ms  {same.makespan * 1e3:7.1f}ms"
        f"  {real.makespan * 1e3:9.1f}ms  {real.energy:7.2f}J"
    )

plan = schedule(problem, "heft")
for policy in ("fail", "rerun"):
    config = SimConfig(failures=(NodeFailure("edge", at=0.06),), failure_policy=policy)
    run = simulate(problem, plan, config)
    done = sum(1 for r in run.requests if r.completed)
    lost = sum(1 for t in run.tasks if t.status == "failed")
    moved = sum(
        1 for t in run.tasks if t.runs > 1 or (t.status == "done" and t.node != t.predicted_node)
    )
    print(
        f"edge fails at 60 ms, policy {policy!r}: {done}/3 requests complete,"
        f" {lost} tasks lost, {moved} re-run elsewhere, makespan {run.makespan * 1e3:.1f}ms"
    )
