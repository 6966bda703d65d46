"""A real workflow in, and how far each schedule is from the best possible.

1. Import a recorded WfCommons trace (Pegasus SRASearch, 22 tasks, from WfInstances) onto
   a camera board, a phone and an edge server; its input and output files live on an
   added storage node.
2. Schedule it with every heuristic and compare each makespan with the lower bound.
3. Cut the workflow to its first 6 tasks and let the ``optimal`` scheduler (OR-Tools
   CP-SAT) prove the best makespan; the portfolio's distance from it is then exact.

Run: python examples/08_real_workflow_best_schedule.py
"""

from __future__ import annotations

from pathlib import Path

from edgeoffload.model import Problem, TaskGraph, validate_schedule
from edgeoffload.schedulers import get_scheduler
from edgeoffload.schedulers.bounds import lower_bound
from edgeoffload.workloads.wfcommons import import_wfcommons

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "wfcommons"

# -- 1. the trace, imported ---------------------------------------------------------------------
problem = import_wfcommons(DATA / "srasearch-chameleon-10a-001.json", DATA / "cluster.json")
storage = [n.id for n in problem.cluster.nodes_with_role("storage")]
print(
    f"{len(problem.graph)} tasks (stage-in and stage-out included) on"
    f" {len(problem.cluster)} nodes; storage: {', '.join(storage)}"
)

# -- 2. every heuristic against the lower bound -------------------------------------------------
bound = lower_bound(problem)
print(f"lower bound: {bound:.1f} s")
for name in ("heft", "cpop", "peft", "single", "edge", "portfolio"):
    result = get_scheduler(name).schedule(problem)
    validate_schedule(problem, result)
    on_storage = {a.task for a in result if a.node in storage}
    assert all(problem.graph.task(t).pinned for t in on_storage)  # only pinned tasks there
    print(f"  {name:<9} {result.makespan:8.1f} s  {result.makespan / bound - 1:6.1%} above")

# -- 3. a small piece, solved exactly ------------------------------------------------------------
first = problem.graph.topological_order[:6]
keep = {problem.graph.tasks[i].id for i in first}
small = Problem(
    TaskGraph(
        [t for t in problem.graph.tasks if t.id in keep],
        [d for d in problem.graph.dependencies if d.source in keep and d.target in keep],
    ),
    problem.cluster,
)
optimal = get_scheduler("optimal", time_limit=30).schedule(small)
report = optimal.details["optimal"]
portfolio = get_scheduler("portfolio").schedule(small)
print(
    f"first 6 tasks: optimum {optimal.makespan:.2f} s (proven: {report['proven']}),"
    f" portfolio {portfolio.makespan:.2f} s,"
    f" {portfolio.makespan / optimal.makespan - 1:.1%} above it"
)
