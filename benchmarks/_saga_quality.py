"""saga's heuristic schedulers on many problem files; runs inside saga's virtual environment.

``bench_quality.py`` starts this script with ``.venv-saga/bin/python`` once for all its
problems (importing saga takes seconds). Each problem file is the *saga view* of one
benchmark problem, written by ``bench_quality.py``: what saga's model can express
(``format`` 1 with tasks' ``work``, dependencies' ``data``, nodes' ``speed``, links'
``bandwidth``; no latency, no pins, no storage node). ``_saga_runner.saga_graphs``
converts it to saga's graphs, as for the speed benchmark.

Every heuristic scheduler saga ships is run that takes no arguments: not its exact ones
(``BruteForceScheduler``, ``SMTScheduler``) and not ``HybridScheduler`` (a wrapper that
needs a list of schedulers). A run that raises is reported with its error; one still going
after ``--timeout`` seconds is stopped (SIGALRM) and reported as a timeout.

Output (JSON, to ``--out``): per problem file, per scheduler, ``status`` (``ok``,
``error``, ``timeout``), ``seconds``, and for ``ok`` the ``assignments`` (task -> [node,
start, finish]) that ``bench_quality.py`` re-times under edgeoffload's cost model.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import random
import signal
import sys
import time
from typing import Any

import saga
import saga.schedulers
from _saga_runner import SUPER_TASKS, clear_caches, saga_graphs

EXCLUDED = {"BruteForceScheduler", "SMTScheduler", "HybridScheduler"}


class RunTimeoutError(Exception):
    """A saga run took longer than ``--timeout``."""


def _alarm(signum: int, frame: Any) -> None:
    raise RunTimeoutError


def heuristics() -> dict[str, type]:
    """saga's heuristic scheduler classes by a short name (``HeftScheduler`` -> ``heft``)."""
    out = {}
    for name in sorted(dir(saga.schedulers)):
        if name.endswith("Scheduler") and name != "Scheduler" and name not in EXCLUDED:
            out[name[: -len("Scheduler")].lower()] = getattr(saga.schedulers, name)
    return out


def run_one(cls: type, problem: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One scheduler on one problem: its assignments, or why there are none."""
    clear_caches()
    random.seed(0)  # the randomised heuristics (WBA) repeat
    nx_network, nx_graph = saga_graphs(problem)
    network = saga.Network.from_nx(nx_network)
    task_graph = saga.TaskGraph.from_nx(nx_graph)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    started = time.perf_counter()
    try:
        schedule = cls().schedule(network, task_graph)
    except RunTimeoutError:
        return {"status": "timeout", "seconds": timeout}
    except Exception as error:  # saga's own failures are results here, reported as such
        return {"status": "error", "error": f"{type(error).__name__}: {error}"[:300]}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
    seconds = time.perf_counter() - started
    assignments = {
        t.name: [node, t.start, t.end]
        for node, tasks in schedule.items()
        for t in tasks
        if t.name not in SUPER_TASKS
    }
    return {"status": "ok", "seconds": seconds, "assignments": assignments}


def main() -> int:
    parser = argparse.ArgumentParser(description="saga's heuristics on many problem files.")
    parser.add_argument("problems", nargs="+", help="problem files (saga views)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per run")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    signal.signal(signal.SIGALRM, _alarm)
    classes = heuristics()
    results: dict[str, dict[str, Any]] = {}
    for path in args.problems:
        with open(path) as f:
            problem = json.load(f)
        results[path] = {name: run_one(cls, problem, args.timeout) for name, cls in classes.items()}
        print(f"saga: {path}", file=sys.stderr, flush=True)
    out = {"saga": importlib.metadata.version("anrg-saga"), "results": results}
    with open(args.out, "w") as f:
        json.dump(out, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
