"""Inputs checked at the door, times exact at Unix-timestamp scale, long runs from Python.

1. Bad problem files are refused with one line naming the field: a bool where a number
   goes, a key given twice, an integer too large for a float, a FIFO instead of a file.
2. Arrivals given as Unix timestamps (1.7e9 s) schedule exactly like arrivals near 0,
   shifted by the same amount.
3. A simulated experiment from Python: the estimate first, then the run with a progress
   callback, then the same CSV and report ``edgeoffload simulate`` writes. Ctrl-C during
   ``run_experiment`` would return the repetitions done with ``interrupted=True``.

Run: python examples/07_inputs_and_long_runs.py
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from edgeoffload import ModelError, schedule
from edgeoffload.experiments.simulated import estimate_work, run_experiment
from edgeoffload.experiments.simulation_files import save_experiment
from edgeoffload.model import load_problem, problem_from_dict, problem_to_dict
from edgeoffload.workloads.scenarios import load_scenario

folder = Path(os.environ.get("EDGEOFFLOAD_EXAMPLE_OUT") or tempfile.mkdtemp())

# -- 1. bad input, one line each --------------------------------------------------------------
good = {
    "format": 1,
    "tasks": [{"id": "a", "work": 2e9}, {"id": "b", "work": 1e9}],
    "dependencies": [{"from": "a", "to": "b", "data": 1e6}],
    "nodes": [{"id": "cam", "speed": 1e9}, {"id": "edge", "speed": 1e10}],
    "default_link": {"bandwidth": 1e7, "latency": 0.002},
}
text = json.dumps(good)
cases = {
    "a bool as work": text.replace('"work": 2000000000.0', '"work": true'),
    "a key twice": text.replace('"format": 1,', '"format": 1, "format": 1,'),
    "a 400-digit number": text.replace("2000000000.0", "9" * 400),
}
for what, body in cases.items():
    path = folder / "bad.json"
    path.write_text(body)
    try:
        load_problem(path)
    except ModelError as exc:
        print(f"{what:20} -> {exc}".replace(str(path), "bad.json"))
fifo = folder / "pipe.json"
os.mkfifo(fifo)
try:
    load_problem(fifo)  # would block forever if it were opened
except ModelError as exc:
    print(f"{'a FIFO':20} -> {exc}".replace(str(fifo), "pipe.json"))

# -- 2. Unix timestamps -----------------------------------------------------------------------


def arriving_at(arrival: float) -> dict[str, object]:
    """The good problem, its two tasks one request arriving at ``arrival`` seconds."""
    tasks = [
        {"id": "a", "work": 2e9, "request": "frame"},
        {"id": "b", "work": 1e9, "request": "frame"},
    ]
    return dict(good, tasks=tasks, requests=[{"id": "frame", "arrival": arrival}])


near_zero = problem_from_dict(arriving_at(0.25))
at_epoch = problem_from_dict(arriving_at(1.7e9 + 0.25))
for algorithm in ("heft", "peft"):
    s0 = schedule(near_zero, algorithm)
    s1 = schedule(at_epoch, algorithm)
    moved = max(abs(s1.assignment(t).finish - s0.assignment(t).finish - 1.7e9) for t in ("a", "b"))
    exact = "exactly" if moved <= 1e-6 else f"off by {moved:g} s"
    print(f"{algorithm}: every finish moved by 1.7e9 s, {exact}; makespan {s0.makespan:.4f} s")
print("round trip keeps the arrival:", problem_to_dict(at_epoch)["requests"][0]["arrival"])

# -- 3. a simulated experiment from Python ----------------------------------------------------
scenario = load_scenario("dhs-paper")
estimate = estimate_work(scenario, repetitions=2, conditions=["B-L"], algorithms=["local", "dhs"])
print(f"estimate: {estimate.runs} runs, {estimate.task_runs:,} task executions")
steps: list[str] = []
result = run_experiment(
    scenario,
    repetitions=2,
    conditions=["B-L"],
    algorithms=["local", "dhs"],
    progress=lambda done, total: steps.append(f"{done}/{total}"),
)
print("progress:", ", ".join(steps), "| interrupted:", result.interrupted)
for case in result.cases:
    print(f"  {case.algorithm:5} {case.runs} runs, mean latency {case.latency * 1e3:.1f} ms")
written = save_experiment(result, scenario, folder / "simulate", plots=False)
print("wrote", ", ".join(p.name for p in written))
