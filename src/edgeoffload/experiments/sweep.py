"""Parameter sweeps and DHS threshold calibration, in parallel processes.

A sweep varies a scenario's cluster and load along four axes — link bandwidth (a factor
on every link), the number of cameras, the request mix (the DHS paper's four conditions,
scaled to the camera count) and the DHS thresholds δ1/δ2 — and records, for every point
and algorithm, predicted and simulated latency, energy and DHS's choice.

Calibration draws varied problems (camera counts, bandwidths, request counts and how
unevenly requests land on cameras), finds the fastest of HEFT, CPOP and PEFT on each in
simulation, and scores every (δ1, δ2) of a grid by how often DHS's rule (PEFT when heavy,
CPOP when light and unbalanced, HEFT when light and balanced) picks that fastest one.

Both run points in worker processes (:class:`concurrent.futures.ProcessPoolExecutor`);
each worker loads the scenario itself, so only names and numbers cross processes.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeoffload.errors import ModelError
from edgeoffload.experiments.simulated import (
    LIST_SCHEDULERS,
    check_algorithms,
    sim_config,
)
from edgeoffload.model import Cluster, Link, Node, mean_latency
from edgeoffload.model.checks import check_number, shown
from edgeoffload.schedulers import chosen_scheduler, classify_load
from edgeoffload.schedulers.dhs import PAPER_DELTA1, PAPER_DELTA2, dhs_choice
from edgeoffload.simulation.batch import simulate
from edgeoffload.workloads.dnn import load_dnn
from edgeoffload.workloads.scenarios import NetworkSettings, RequestSpec, Scenario, load_scenario

__all__ = [
    "MIXES",
    "CalibrationResult",
    "SweepPoint",
    "SweepResult",
    "calibrate",
    "derive_scenario",
    "mix_requests",
    "run_sweep",
    "sweep_points",
]

MIXES: tuple[str, ...] = ("U-H", "U-L", "B-H", "B-L")
"""Request mixes: the paper's conditions, scaled to the camera count (1.5 requests per
camera when heavy, 0.75 when light; all on the first camera when unbalanced, spread to
even out the cameras' local times when balanced)."""

_MODELS = ("alexnet", "googlenet", "resnet50")


def default_workers() -> int:
    """Worker processes by default: the machine's cores."""
    return max(1, os.cpu_count() or 1)


@functools.lru_cache(maxsize=8)
def _scenario(source: str) -> Scenario:
    return load_scenario(source)


def derive_scenario(
    scenario: Scenario, *, cameras: int | None = None, bandwidth_scale: float = 1.0
) -> Scenario:
    """``scenario`` with ``cameras`` cameras and every link's bandwidth × ``bandwidth_scale``.

    Camera *k* (``cam1``, ``cam2``, ...) copies the scenario's camera number
    *k mod m* (m cameras): its device, its links to non-camera nodes and its medium; a
    link between two new cameras is the link between their originals (the default link
    when both copy the same camera). Other nodes are kept. Conditions are dropped (use
    :func:`mix_requests`).
    """
    if not bandwidth_scale > 0 or not math.isfinite(bandwidth_scale):
        raise ModelError(f"must be > 0, got {bandwidth_scale!r}", "bandwidth_scale")
    cluster = scenario.cluster
    originals = [n for n in cluster.nodes if n.role == "camera"]
    others = [n for n in cluster.nodes if n.role != "camera"]
    if cameras is None:
        cameras = len(originals)
    if cameras < 1:
        raise ModelError(f"must be >= 1, got {cameras}", "cameras")
    if not originals:
        raise ModelError("the scenario has no node with role 'camera'", "devices")
    template = {f"cam{k + 1}": originals[k % len(originals)] for k in range(cameras)}
    if set(template) & {n.id for n in others}:
        raise ModelError("camera ids cam1, cam2, ... clash with other devices", "devices")
    nodes = [dataclasses.replace(original, id=name) for name, original in template.items()]
    nodes += others

    def scaled(link: Link | None) -> Link | None:
        if link is None:
            return None
        return Link(link.bandwidth * bandwidth_scale, link.latency)

    links: dict[tuple[str, str], Link] = {}
    names = list(template)
    for i, a in enumerate(names):
        for other in others:
            link = scaled(cluster.link(template[a].id, other.id))
            if link is not None and link != scaled(cluster.default_link):
                links[(a, other.id)] = link
        for b in names[i + 1 :]:
            oa, ob = template[a].id, template[b].id
            link = scaled(cluster.link(oa, ob) if oa != ob else cluster.default_link)
            if link is not None and link != scaled(cluster.default_link):
                links[(a, b)] = link
    other_ids = [n.id for n in others]
    for i, a in enumerate(other_ids):
        for b in other_ids[i + 1 :]:
            link = scaled(cluster.link(a, b))
            if link is not None and link != scaled(cluster.default_link):
                links[(a, b)] = link
    new_cluster = Cluster(nodes, links, scaled(cluster.default_link))
    media = []
    for medium, members in scenario.network.media:
        kept = [n for n in members if n in {o.id for o in others}]
        kept += [name for name, original in template.items() if original.id in members]
        media.append((medium, tuple(kept)))
    network = NetworkSettings(
        scenario.network.model,
        scenario.network.contention,
        scenario.network.transfers,
        tuple(media),
    )
    return dataclasses.replace(
        scenario,
        cluster=new_cluster,
        network=network,
        conditions={},
        condition_descriptions={},
        failures=(),
    )


def _local_time(model: str, granularity: str, node: Node) -> float:
    return sum(
        (t.work or 0.0) / node.speed_for(t.kind) for t in load_dnn(model, granularity).graph.tasks
    )


def mix_requests(
    scenario: Scenario, mix: str, *, granularity: str = "layer"
) -> tuple[RequestSpec, ...]:
    """Requests of ``mix`` (one of :data:`MIXES`) for the scenario's cameras.

    Heavy: round(1.5·n) requests, light: max(1, round(0.75·n)), for n cameras; models
    cycle AlexNet, GoogLeNet, ResNet-50. Unbalanced: all at the first camera. Balanced:
    the longest-running first, each to the camera whose local time t_i would then be
    smallest (longest-processing-time rule), so the t_i come out as even as they can.
    """
    if mix not in MIXES:
        raise ModelError(f"must be one of {', '.join(MIXES)}; got {mix!r}", "mix")
    cameras = list(scenario.cluster.nodes_with_role("camera"))
    n = len(cameras)
    count = round(1.5 * n) if mix.endswith("H") else max(1, round(0.75 * n))
    models = [_MODELS[k % len(_MODELS)] for k in range(count)]
    if mix.startswith("U"):
        placed = [(m, cameras[0].id) for m in models]
    else:
        load = {c.id: 0.0 for c in cameras}
        placed = []
        for model in sorted(models, key=lambda m: -_local_time(m, granularity, cameras[0])):
            best = min(cameras, key=lambda c: (load[c.id] + _local_time(model, granularity, c), 0))
            load[best.id] += _local_time(model, granularity, best)
            placed.append((model, best.id))
    return tuple(
        RequestSpec(f"r{k + 1}", model, granularity, camera)
        for k, (model, camera) in enumerate(placed)
    )


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """One point of a sweep: link bandwidth factor, cameras, request mix, δ1 (s), δ2."""

    bandwidth_scale: float
    cameras: int
    mix: str
    delta1: float
    delta2: float


def sweep_points(
    *,
    bandwidth_scales: Iterable[float] = (1.0,),
    cameras: Iterable[int] = (4,),
    mixes: Iterable[str] = MIXES,
    delta1: Iterable[float] = (PAPER_DELTA1,),
    delta2: Iterable[float] = (PAPER_DELTA2,),
) -> list[SweepPoint]:
    """The full grid of the given values, in a fixed order.

    Raises
    ------
    ModelError
        An unknown mix, a bandwidth factor or camera count that is not positive, or a
        threshold that is negative or not finite.
    """
    scales, counts, mix_names = list(bandwidth_scales), list(cameras), list(mixes)
    d1s, d2s = list(delta1), list(delta2)
    for name, values in (
        ("bandwidth_scale", scales),
        ("cameras", counts),
        ("mix", mix_names),
        ("delta1", d1s),
        ("delta2", d2s),
    ):
        if not values:
            raise ModelError("needs at least one value", name)
    for mix in mix_names:
        if mix not in MIXES:
            raise ModelError(f"must be one of {', '.join(MIXES)}; got {shown(mix)}", "mix")
    if not all(math.isfinite(b) and b > 0 for b in scales):
        raise ModelError("needs positive values", "bandwidth_scale")
    if not all(c > 0 for c in counts):
        raise ModelError("needs positive values", "cameras")
    for name, values in (("delta1", d1s), ("delta2", d2s)):
        if not all(math.isfinite(d) and d >= 0 for d in values):
            raise ModelError("needs finite values >= 0", name)
    return [
        SweepPoint(float(b), int(c), m, float(d1), float(d2))
        for b in scales
        for c in counts
        for m in mix_names
        for d1 in d1s
        for d2 in d2s
    ]


def _run_point(
    source: str, index: int, point: SweepPoint, algorithms: tuple[str, ...], repetitions: int
) -> list[dict[str, Any]]:
    base = _scenario(source)
    scenario = derive_scenario(base, cameras=point.cameras, bandwidth_scale=point.bandwidth_scale)
    scenario = dataclasses.replace(
        scenario,
        delta1=point.delta1,
        delta2=point.delta2,
        conditions={point.mix: mix_requests(scenario, point.mix)},
    )
    problem = scenario.problem(point.mix)
    load = classify_load(problem, point.delta1, point.delta2)
    config = sim_config(scenario)
    edge = scenario.cluster.nodes_with_role("edge")
    first_camera = scenario.cluster.nodes_with_role("camera")[0]
    edge_link = scenario.cluster.link(first_camera.id, edge[0].id) if edge else None
    rows = []
    for name in algorithms:
        scheduler = scenario.scheduler(name)
        if scheduler.applies_to(problem) is not None:
            continue  # e.g. Edge on a point without an edge server: no row
        schedule = scheduler.checked_schedule(problem, f"algorithms: {name}")
        runs = [
            simulate(problem, schedule, config, rng=np.random.default_rng([base.seed, index, rep]))
            for rep in range(repetitions)
        ]
        latencies = np.array([r.mean_latency for r in runs])
        chosen = chosen_scheduler(schedule) or ""
        rows.append(
            {
                "point": index,
                "bandwidth_scale": point.bandwidth_scale,
                "edge_link_mbps": edge_link.bandwidth * 8 / 1e6 if edge_link else math.nan,
                "cameras": point.cameras,
                "mix": point.mix,
                "delta1": point.delta1,
                "delta2": point.delta2,
                "requests": len(problem.requests),
                "dhs_condition": load.condition,
                "spread": load.spread,
                "algorithm": name,
                "chosen": chosen,
                "predicted_latency": mean_latency(problem, schedule),
                "latency": float(latencies.mean()),
                "latency_std": float(latencies.std(ddof=1)) if repetitions > 1 else 0.0,
                "makespan": float(np.mean([r.makespan for r in runs])),
                "energy": float(np.mean([r.energy for r in runs])),
            }
        )
    return rows


def _quiet_worker() -> None:
    """Worker processes leave Ctrl-C to the parent, which stops them (no tracebacks)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _job(item: tuple[int, Callable[..., Any], tuple[Any, ...]]) -> tuple[int, Any]:
    k, fn, args = item
    return k, fn(*args)


def _parallel(
    jobs: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]],
    workers: int,
    progress: Callable[[int, int], None] | None,
) -> tuple[list[Any], bool]:
    """Run ``jobs`` (in ``workers`` processes); their results in job order, ``None`` for
    those not run, and whether Ctrl-C stopped it.

    ``progress(0, n)`` is called once every input has been checked, just before the work
    starts; then after each job. On Ctrl-C the jobs under way are abandoned at once (their
    processes are terminated) and the results of those done are returned.
    """
    results: list[Any] = [None] * len(jobs)
    if progress is not None:
        progress(0, len(jobs))  # every check has passed: the work starts
    if workers <= 1 or len(jobs) <= 1:
        try:
            for k, (fn, args) in enumerate(jobs):
                results[k] = fn(*args)
                if progress is not None:
                    progress(k + 1, len(jobs))
        except KeyboardInterrupt:
            return results, True
        return results, False
    pool = multiprocessing.Pool(min(workers, len(jobs)), initializer=_quiet_worker)
    try:
        items = [(k, fn, args) for k, (fn, args) in enumerate(jobs)]
        for done, (k, result) in enumerate(pool.imap_unordered(_job, items), start=1):
            results[k] = result
            if progress is not None:
                progress(done, len(jobs))
    except KeyboardInterrupt:
        return results, True
    finally:
        pool.terminate()  # quick: the workers hold nothing worth waiting for
        pool.join()
    return results, False


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What :func:`run_sweep` returns.

    Attributes
    ----------
    rows
        One dict of plain values (CSV-ready) per point × algorithm, in point order, for
        the points that ran.
    points
        The points asked for.
    done
        How many of them ran.
    interrupted
        Whether Ctrl-C stopped the sweep before every point ran.
    """

    rows: list[dict[str, Any]]
    points: tuple[SweepPoint, ...]
    done: int
    interrupted: bool = False


def run_sweep(
    source: str,
    points: Sequence[SweepPoint],
    *,
    algorithms: Sequence[str] | None = None,
    repetitions: int = 3,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Run every sweep point of scenario ``source`` (a file or shipped name).

    Results do not depend on ``workers``. Ctrl-C stops the sweep with the points done.
    """
    scenario = _scenario(source)
    algos = tuple(algorithms) if algorithms is not None else scenario.algorithms
    check_algorithms(algos)
    if repetitions < 1:
        raise ModelError(f"must be >= 1, got {repetitions}", "repetitions")
    for point in points:
        if point.mix not in MIXES:
            raise ModelError(f"must be one of {', '.join(MIXES)}; got {shown(point.mix)}", "mix")
    jobs = [(_run_point, (source, k, point, algos, repetitions)) for k, point in enumerate(points)]
    nested, interrupted = _parallel(jobs, workers or default_workers(), progress)
    ran = [rows for rows in nested if rows is not None]
    return SweepResult([row for rows in ran for row in rows], tuple(points), len(ran), interrupted)


# -- calibration ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CalibrationResult:
    """How often DHS's rule picks the fastest list scheduler, over a δ1 × δ2 grid.

    Attributes
    ----------
    problems
        One row per generated problem: its features (cameras, bandwidth factor, requests,
        spread, A/n), each list scheduler's simulated mean latency and the fastest.
    delta1, delta2
        The grid, seconds and requests per camera.
    accuracy
        ``accuracy[i][j]``: share of problems where DHS with ``delta1[i]``, ``delta2[j]``
        picks the fastest.
    regret
        Mean over problems of (latency of DHS's pick / the fastest − 1), same layout.
    best
        The (δ1, δ2) of highest accuracy (ties: lowest regret, then closest to the
        paper's 0.1, 1).
    paper_accuracy, paper_regret
        The paper's thresholds (0.1 s, 1) on the same problems.
    always
        Accuracy of always picking one scheduler, per scheduler.
    interrupted
        Whether Ctrl-C stopped the calibration: then ``problems`` holds those simulated
        and the scores are over them.
    """

    problems: tuple[dict[str, Any], ...]
    delta1: tuple[float, ...]
    delta2: tuple[float, ...]
    accuracy: tuple[tuple[float, ...], ...]
    regret: tuple[tuple[float, ...], ...]
    best: tuple[float, float]
    best_accuracy: float
    paper_accuracy: float
    paper_regret: float
    always: dict[str, float]
    interrupted: bool = False


def _calibration_problem(
    source: str,
    index: int,
    seed: int,
    repetitions: int,
    cameras: tuple[int, int],
    bandwidth: tuple[float, float],
) -> dict[str, Any]:
    rng = np.random.default_rng([seed, index])
    n = int(rng.integers(cameras[0], cameras[1] + 1))
    scale = float(np.exp(rng.uniform(np.log(bandwidth[0]), np.log(bandwidth[1]))))
    base = _scenario(source)
    scenario = derive_scenario(base, cameras=n, bandwidth_scale=scale)
    camera_ids = [c.id for c in scenario.cluster.nodes_with_role("camera")]
    count = int(rng.integers(1, 2 * n + 1))
    concentration = float(np.exp(rng.uniform(np.log(0.05), np.log(5.0))))
    weights = rng.dirichlet([concentration] * n)
    requests = tuple(
        RequestSpec(
            f"r{k + 1}",
            _MODELS[int(rng.integers(len(_MODELS)))],
            "layer",
            camera_ids[int(rng.choice(n, p=weights))],
        )
        for k in range(count)
    )
    scenario = dataclasses.replace(scenario, conditions={"calibration": requests})
    problem = scenario.problem("calibration")
    load = classify_load(problem)
    config = sim_config(scenario)
    row: dict[str, Any] = {
        "problem": index,
        "cameras": n,
        "bandwidth_scale": scale,
        "requests": count,
        "spread": load.spread,
        "requests_per_camera": load.requests_per_camera,
    }
    for name in LIST_SCHEDULERS:
        schedule = scenario.scheduler(name).schedule(problem)
        runs = [
            simulate(problem, schedule, config, rng=np.random.default_rng([seed, index, rep]))
            for rep in range(repetitions)
        ]
        row[f"{name}_predicted"] = mean_latency(problem, schedule)
        row[name] = float(np.mean([r.mean_latency for r in runs]))
    row["best"] = min(LIST_SCHEDULERS, key=lambda a: row[a])
    return row


def calibrate(
    source: str,
    *,
    problems: int = 60,
    seed: int = 0,
    delta1: Sequence[float] = (0.0, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0),
    delta2: Sequence[float] = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5),
    cameras: tuple[int, int] = (2, 6),
    bandwidth: tuple[float, float] = (0.25, 8.0),
    repetitions: int = 2,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CalibrationResult:
    """Score DHS's thresholds on ``problems`` random problems built from scenario ``source``.

    Problem *k* draws (from seed ``[seed, k]``) a camera count in ``cameras``, a bandwidth
    factor log-uniform in ``bandwidth``, 1 to 2n requests of random models, and how
    unevenly they land on cameras (a Dirichlet share per camera with a random
    concentration, so some problems are balanced and some are not). The fastest list
    scheduler of each is found by simulation (``repetitions`` runs each). A problem has at
    most 2n requests, so δ2 above 2 means "never heavy" (DHS never picks PEFT).
    Ctrl-C stops it and scores the problems simulated so far.

    Raises
    ------
    ModelError
        A bad scenario or count, or Ctrl-C before any problem was simulated.
    """
    if problems < 1:
        raise ModelError(f"must be >= 1, got {problems}", "problems")
    for name, values in (("delta1", delta1), ("delta2", delta2)):
        if not values:
            raise ModelError("needs at least one value", name)
        for value in values:
            check_number(value, name)
    jobs = [
        (_calibration_problem, (source, k, seed, repetitions, cameras, bandwidth))
        for k in range(problems)
    ]
    _scenario(source)  # fail here, once, on a bad scenario
    ran, interrupted = _parallel(jobs, workers or default_workers(), progress)
    rows: list[dict[str, Any]] = [row for row in ran if row is not None]
    if not rows:  # interrupted before a problem was done: nothing to score
        raise KeyboardInterrupt

    def score(d1: float, d2: float) -> tuple[float, float]:
        hits, regret = 0, 0.0
        for row in rows:
            pick = dhs_choice(row["spread"], row["requests_per_camera"], d1, d2)
            hits += pick == row["best"]
            regret += row[pick] / row[row["best"]] - 1.0
        return hits / len(rows), regret / len(rows)

    grid = [[score(d1, d2) for d2 in delta2] for d1 in delta1]
    accuracy = tuple(tuple(a for a, _ in line) for line in grid)
    regret = tuple(tuple(r for _, r in line) for line in grid)
    cells = [
        (
            accuracy[i][j],
            -regret[i][j],
            -abs(math.log((d1 + 1e-3) / (PAPER_DELTA1 + 1e-3)))
            - abs(math.log((d2 + 1e-3) / (PAPER_DELTA2 + 1e-3))),
            d1,
            d2,
        )
        for i, d1 in enumerate(delta1)
        for j, d2 in enumerate(delta2)
    ]
    best = max(cells)
    paper_accuracy, paper_regret = score(PAPER_DELTA1, PAPER_DELTA2)
    always = {
        name: sum(1 for row in rows if row["best"] == name) / len(rows) for name in LIST_SCHEDULERS
    }
    return CalibrationResult(
        problems=tuple(rows),
        delta1=tuple(float(d) for d in delta1),
        delta2=tuple(float(d) for d in delta2),
        accuracy=accuracy,
        regret=regret,
        best=(best[3], best[4]),
        best_accuracy=best[0],
        paper_accuracy=paper_accuracy,
        paper_regret=paper_regret,
        always=always,
        interrupted=interrupted,
    )
