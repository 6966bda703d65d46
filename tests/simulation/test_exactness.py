"""Under the schedulers' own assumptions the simulator replays every schedule exactly.

Dedicated links without contention, one core per node, one transfer per dependency and no
variability: each task's simulated start and finish must equal the schedule's with ``==``
(not approximately), for every registered scheduler on every problem.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest

from cases import problem_cases, scheduler_for_tests
from edgeoffload.model import AppRequest, Cluster, Problem, merge_requests
from edgeoffload.schedulers import available_schedulers
from edgeoffload.simulation import SimConfig, simulate
from edgeoffload.workloads import builtin_problem
from edgeoffload.workloads.generators import random_cluster, random_layered_dag
from edgeoffload.workloads.scenarios import load_scenario

EXACT = SimConfig.schedulers_assumptions()


def staggered_requests(seed: int) -> Problem:
    """Five random requests at three cameras, random arrivals and busy nodes."""
    rng = np.random.default_rng(seed)
    base = random_cluster(4, seed)
    nodes = [
        dataclasses.replace(
            n,
            available_from=float(rng.uniform(0.0, 0.5)),
            role="camera" if k < 3 else "edge",
            cores=2,  # ignored under the schedulers' assumptions
        )
        for k, n in enumerate(base.nodes)
    ]
    cluster = Cluster(nodes, base.links, base.default_link)
    requests = [
        AppRequest(
            f"r{k}",
            random_layered_dag(12, seed * 10 + k),
            nodes[k % 3].id,
            arrival=float(rng.uniform(0.0, 1.0)),
            input_data=2e5,
        )
        for k in range(5)
    ]
    return merge_requests(requests, cluster)


def _cases() -> dict[str, Callable[[], Problem]]:
    cases = dict(problem_cases())
    cases["topcuoglu2002"] = lambda: builtin_problem("topcuoglu2002")
    cases["camera_cluster"] = lambda: builtin_problem("camera_cluster")
    for seed in (4, 5):
        cases[f"random-80-{seed}"] = lambda seed=seed: Problem(
            random_layered_dag(80, seed, width=6), random_cluster(6, seed)
        )
    for seed in (1, 2):
        cases[f"staggered-{seed}"] = lambda seed=seed: staggered_requests(seed)
    cases["dhs-paper-B-H"] = lambda: load_scenario("dhs-paper").problem("B-H")
    return cases


CASES = _cases()
SCHEDULERS = sorted(available_schedulers())


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_simulation_equals_prediction(case: str) -> None:
    """Every scheduler's simulated times are its predicted times, bit for bit."""
    problem = CASES[case]()
    for name in SCHEDULERS:
        scheduler = scheduler_for_tests(name)
        if scheduler.applies_to(problem) is not None:
            continue
        schedule = scheduler.schedule(problem)
        result = simulate(problem, schedule, EXACT)
        assert result.makespan == schedule.makespan, name
        assert result.predicted_makespan == schedule.makespan
        for task in problem.graph.tasks:
            record = result.tasks.get(task.id)
            planned = schedule.assignment(task.id)
            assert (record.node, record.start, record.finish) == (
                planned.node,
                planned.start,
                planned.finish,
            ), (name, task.id)
        assert [r.finish for r in result.requests] == [r.predicted_finish for r in result.requests]


def test_every_registered_scheduler_is_covered() -> None:
    """The matrix runs all registered schedulers, the paper's and the baselines."""
    assert {"heft", "cpop", "peft", "dhs", "portfolio", "local", "edge"} <= set(SCHEDULERS)
