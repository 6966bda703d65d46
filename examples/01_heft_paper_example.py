"""Schedule the HEFT paper's 10-task example with every list scheduler.

The DAG and its computation costs are Fig. 2 of Topcuoglu, Hariri and Wu, "Performance-
effective and low-complexity task scheduling for heterogeneous computing", IEEE TPDS 2002:
three unrelated processors, so execution times are given per task and processor. The paper
reports makespans of 80 for HEFT and 86 for CPOP.

Run: python examples/01_heft_paper_example.py
"""

from __future__ import annotations

from edgeoffload import (
    Cluster,
    Dependency,
    Link,
    Node,
    Problem,
    Task,
    TaskGraph,
    schedule,
    validate_schedule,
)

# computation cost of each task on P1, P2, P3 (time units)
COSTS = {
    "T1": (14, 16, 9),
    "T2": (13, 19, 18),
    "T3": (11, 13, 19),
    "T4": (13, 8, 17),
    "T5": (12, 13, 10),
    "T6": (13, 16, 9),
    "T7": (7, 15, 11),
    "T8": (5, 11, 14),
    "T9": (18, 12, 20),
    "T10": (21, 7, 16),
}
# communication cost of each edge (= data over the unit-bandwidth links)
EDGES = [
    ("T1", "T2", 18),
    ("T1", "T3", 12),
    ("T1", "T4", 9),
    ("T1", "T5", 11),
    ("T1", "T6", 14),
    ("T2", "T8", 19),
    ("T2", "T9", 16),
    ("T3", "T7", 23),
    ("T4", "T8", 27),
    ("T4", "T9", 23),
    ("T5", "T9", 13),
    ("T6", "T8", 15),
    ("T7", "T10", 17),
    ("T8", "T10", 11),
    ("T9", "T10", 13),
]

graph = TaskGraph([Task(t) for t in COSTS], [Dependency(a, b, data) for a, b, data in EDGES])
nodes = [Node(p, speed=1.0) for p in ("P1", "P2", "P3")]
cluster = Cluster(nodes, default_link=Link(bandwidth=1.0))
exec_times = {t: dict(zip(("P1", "P2", "P3"), row, strict=True)) for t, row in COSTS.items()}
problem = Problem(graph, cluster, exec_times=exec_times)

for algorithm in ("heft", "cpop", "peft", "dhs", "portfolio"):
    result = schedule(problem, algorithm)
    validate_schedule(problem, result)
    note = ""
    if "dhs" in result.details:
        note = f"  (DHS: {result.details['dhs']['condition']} -> {result.details['dhs']['chosen']})"
    if "polished_from" in result.details.get("portfolio", {}):
        report = result.details["portfolio"]
        note = f"  ({report['chosen']}'s {report['polished_from']:g}, moved task by task)"
    print(f"{algorithm:>9}: makespan {result.makespan:g}{note}")

print()
print("HEFT schedule (task, processor, start, finish):")
for a in schedule(problem, "heft"):
    print(f"  {a.task:>3}  {a.node}  {a.start:4g}  {a.finish:4g}")
