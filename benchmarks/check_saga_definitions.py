"""Where our makespans differ from saga's, reproduce saga's with our code and its definitions.

edgeoffload's HEFT, CPOP and PEFT follow the papers (design.md, "Cost model"); saga's
differ in three places, read in saga's source (``.venv-saga/lib/python3.12/site-packages/
saga``; line numbers of anrg-saga 2.1.0):

1. **Averaged communication cost** (``schedulers/cpop.py`` ``upward_rank`` l. 31-36 and
   ``downward_rank`` l. 64-69, used by HEFT and CPOP): c̄ is ``np.mean`` of
   ``size / edge.speed`` over ``network.edges``, and ``Network.create``
   (``__init__.py`` l. 110-114) gives every node a self-loop of infinite speed while each
   pair of nodes is one undirected edge. So saga averages over the P(P-1)/2 pairs *and*
   P self-loops of cost 0: c̄_saga = c̄ · (P-1)/(P+1) for the paper's c̄ (the mean
   over pairs of distinct processors), 0.6 c̄ on 4 nodes, 0.88 c̄ on 16, 0.97 c̄ on 64.
2. **CPOP's downward rank and critical path** (``cpop.py`` l. 46-75 and 148-177):
   rank_d(n_i) adds n_i's *own* cost, as ``cost / mean(speed)``, instead of each
   predecessor's w̄_j ([1] eq. 5). Then priority = rank_u + rank_d exceeds |CP| by that
   cost on every critical-path task, so ``np.isclose(priority, cp_rank)`` (l. 153, 176)
   selects only the entry task (saga's zero-cost ``__super_source__`` when there are
   several entries), and the critical-path node gets no real task: saga's CPOP is a
   list scheduler by its priority with earliest-finish placement.
3. **PEFT's optimistic cost table** (``schedulers/peft.py`` l. 6-66, said so in its
   docstring): the communication term is the real link's ``size / speed`` between p_k
   and p_w, not the average c̄ of [2] eq. 7. With uniform links the two agree.

This script takes seeded problems, runs saga on them (in ``.venv-saga``, as
``bench_schedulers.py`` does), and schedules them with our own ranks and placement code
twice: with the papers' definitions (what ``edgeoffload`` ships) and with saga's three
definitions above (a few lines each, here). It prints the three makespans; the second
must equal saga's. A second part uses uniform links, where saga's PEFT follows the
paper: there our shipped PEFT must equal saga's as it is.

Usage::

    .venv/bin/python benchmarks/check_saga_definitions.py [--sizes 100 1000] [--nodes 4 16 64]

References
----------
.. [1] H. Topcuoglu, S. Hariri, M.-Y. Wu, IEEE TPDS 13(3):260-274, 2002,
   doi:10.1109/71.993206.
.. [2] H. Arabnejad, J. G. Barbosa, IEEE TPDS 25(3):682-694, 2014,
   doi:10.1109/TPDS.2013.57.
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from bench_schedulers import ROOT, ensure_saga_venv, make_problem, run_saga

from edgeoffload.model import Cluster, Link, Problem, Schedule, validate_schedule
from edgeoffload.model.problem_file import problem_to_dict
from edgeoffload.schedulers import get_scheduler
from edgeoffload.schedulers.cpop import critical_path
from edgeoffload.schedulers.placement import ListSchedule
from edgeoffload.schedulers.ranks import downward_rank, optimistic_cost_table, upward_rank


# -- saga's definitions, on our model ----------------------------------------------------------
def saga_mean_transfer(problem: Problem) -> np.ndarray:
    """c̄ as saga computes it: the mean of data / bandwidth over the P(P-1)/2 pairs of
    nodes and the P self-loops (cost 0)."""
    costs = problem.costs
    n = len(problem.cluster)
    upper = np.triu_indices(n, k=1)
    inverse = 1.0 / costs.bandwidth[upper]  # the self-loops' terms are 0
    result: np.ndarray = costs.data * (inverse.sum() / (len(inverse) + n))
    return result


def by_priority(problem: Problem, priority: np.ndarray, tie: Sequence[Any]) -> Iterator[int]:
    """Tasks from a ready list, highest ``priority`` first, ties by ``tie`` (smallest
    first): our :func:`~edgeoffload.schedulers.placement.ready_list` with saga's ties."""
    graph, target = problem.graph, problem.costs.edge_target
    waiting = [len(graph.in_edges(i)) for i in range(len(graph))]
    queue = [(-priority[i], tie[i], i) for i in range(len(graph)) if not waiting[i]]
    heapq.heapify(queue)
    while queue:
        i = heapq.heappop(queue)[2]
        yield i
        for k in graph.out_edges(i):
            j = int(target[k])
            waiting[j] -= 1
            if not waiting[j]:
                heapq.heappush(queue, (-priority[j], tie[j], j))


def saga_heft(problem: Problem, topological: Sequence[int]) -> Schedule:
    """HEFT with saga's c̄ in the upward rank and its ties (its topological order)."""
    rank = upward_rank(problem, mean_transfer=saga_mean_transfer(problem))
    state = ListSchedule(problem)
    for i in sorted(range(len(rank)), key=lambda i: (-rank[i], topological[i])):
        state.place_earliest_finish(i)
    return state.result("heft-saga")


def saga_cpop_priority(problem: Problem) -> np.ndarray:
    """rank_u + rank_d as saga computes them (its c̄; rank_d with the task's own cost
    over the mean speed instead of the predecessor's mean execution time)."""
    costs, graph = problem.costs, problem.graph
    c = saga_mean_transfer(problem)
    up = upward_rank(problem, mean_transfer=c)
    speeds = np.array([node.speed for node in problem.cluster])
    own = np.array([t.work for t in graph.tasks]) / speeds.mean()
    down = np.zeros(len(graph))
    several_entries = sum(1 for i in range(len(graph)) if not graph.in_edges(i)) > 1
    for i in graph.topological_order:
        edges = graph.in_edges(i)
        if edges:
            down[i] = max(down[costs.edge_source[k]] + c[k] + own[i] for k in edges)
        elif several_entries:  # below saga's super source: rank 0, cost 0, data 0
            down[i] = 0.0 + 0.0 + own[i]
    result: np.ndarray = up + down
    return result


def saga_cpop(problem: Problem) -> tuple[Schedule, int]:
    """CPOP as saga runs it; also how many real tasks it puts on the critical path."""
    graph, costs = problem.graph, problem.costs
    priority = saga_cpop_priority(problem)
    entries = [i for i in range(len(graph)) if not graph.in_edges(i)]
    # several entries: saga's zero-cost super source, whose priority is max rank_u
    up = upward_rank(problem, mean_transfer=saga_mean_transfer(problem))
    cp_rank = priority[entries[0]] if len(entries) == 1 else max(up[i] for i in entries)
    on_path = {i for i in range(len(graph)) if np.isclose(priority[i], cp_rank)}
    cp_node = int(np.argmin(costs.exec[sorted(on_path)].sum(axis=0))) if on_path else 0
    state = ListSchedule(problem)
    names = [t.id for t in graph.tasks]  # saga's heap breaks ties by task name
    for i in by_priority(problem, priority, names):
        if i in on_path:
            (candidate,) = state.candidates(i, np.array([cp_node]))
            state.place(i, candidate)
        else:
            state.place_earliest_finish(i)
    return state.result("cpop-saga"), len(on_path)


def saga_oct(problem: Problem) -> np.ndarray:
    """PEFT's table with the real link cost data / bandwidth[p_k, p_w] (0 when p_k = p_w)
    in place of c̄, added in saga's order: (transfer + execution) + OCT."""
    graph, costs = problem.graph, problem.costs
    table = np.zeros(costs.exec.shape)
    for i in reversed(graph.topological_order):
        edges = graph.out_edges(i)
        if not edges:
            continue
        row = np.full(costs.exec.shape[1], -np.inf)
        for k in edges:
            j = costs.edge_target[k]
            through = (costs.data[k] / costs.bandwidth + costs.exec[j]) + table[j]  # [p_k, p_w]
            row = np.maximum(row, through.min(axis=1))
        table[i] = row
    return table


def saga_peft(problem: Problem, topological: Sequence[int]) -> Schedule:
    """PEFT with saga's table and its ties (its topological order); our placement."""
    table = saga_oct(problem)
    state = ListSchedule(problem)
    for i in by_priority(problem, table.mean(axis=1), topological):
        state.place(i, state.best_candidate(i, bias=table[i]))
    return state.result("peft-saga")


def paper_peft_with_ties(problem: Problem, topological: Sequence[int]) -> Schedule:
    """Our PEFT (the paper's table, :func:`optimistic_cost_table`) with saga's ties."""
    table = optimistic_cost_table(problem)
    state = ListSchedule(problem)
    for i in by_priority(problem, table.mean(axis=1), topological):
        state.place(i, state.best_candidate(i, bias=table[i]))
    return state.result("peft-paper")


# -- the check ---------------------------------------------------------------------------------
def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def check(
    problem: Problem, label: str, saga: dict[str, dict[str, Any]], topological: Sequence[int]
) -> list[bool]:
    """Print one line per algorithm; return whether each reproduction matched saga."""
    ours = {a: get_scheduler(a).schedule(problem) for a in ("heft", "cpop", "peft")}
    cpop, on_path = saga_cpop(problem)
    repro = {
        "heft": saga_heft(problem, topological),
        "cpop": cpop,
        "peft": saga_peft(problem, topological),
    }
    matched = []
    for algorithm, schedule in repro.items():
        validate_schedule(problem, schedule)
        result = saga.get(algorithm, {})
        if result.get("status") != "ok":
            print(f"{label:<24} {algorithm:<5} saga: {result.get('status', 'not run')}")
            continue
        saga_makespan = float(result["makespan"])
        same = _same(schedule.makespan, saga_makespan)
        matched.append(same)
        extra = ""
        if algorithm == "cpop":
            priority = upward_rank(problem) + downward_rank(problem)
            ours_path = len(critical_path(problem, priority))
            extra = f"  (tasks on the critical path: ours {ours_path}, saga's {on_path})"
        print(
            f"{label:<24} {algorithm:<5} ours {ours[algorithm].makespan:12.6f}"
            f"  ours with saga's definitions {schedule.makespan:12.6f}"
            f"  saga {saga_makespan:12.6f}  {'equal' if same else 'DIFFERENT'}"
            f"{extra}"
        )
    return matched


def uniform(problem: Problem, bandwidth: float) -> Problem:
    """The same problem with one bandwidth on every link."""
    cluster = problem.cluster
    return Problem(problem.graph, Cluster(cluster.nodes, {}, Link(bandwidth, 0.0)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--nodes", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--saga-venv", type=Path, default=ROOT / ".venv-saga")
    args = parser.parse_args(argv)
    venv_python, version, algorithms, note = ensure_saga_venv(args.saga_venv, None)
    if note:
        print(f"NOTE: {note}")
    work = ROOT / "results" / "check_saga_definitions"
    work.mkdir(parents=True, exist_ok=True)
    print(f"saga {version}: makespans, seconds")
    matched: list[bool] = []
    uniform_peft: list[bool] = []
    for n_tasks in args.sizes:
        for n_nodes in args.nodes:
            base = make_problem(n_tasks, n_nodes, args.seed)
            for kind, problem in (("random links", base), ("uniform links", uniform(base, 5e6))):
                name = f"{kind.split()[0]}-v{n_tasks}-p{n_nodes}"
                problem_file = work / f"problem-{name}.json"
                problem_file.write_text(json.dumps(problem_to_dict(problem)))
                out_file = work / f"saga-{name}.json"
                saga = run_saga(venv_python, problem_file, out_file, algorithms, 900, 0, 1)
                order = json.loads(out_file.read_text())["topological_order"]
                index = {t.id: k for k, t in enumerate(problem.graph.tasks)}
                topological = [0] * len(order)
                for position, task_id in enumerate(order):
                    topological[index[task_id]] = position
                label = f"{n_tasks}x{n_nodes} {kind}"
                matched += check(problem, label, saga, topological)
                if kind == "uniform links" and saga.get("peft", {}).get("status") == "ok":
                    # saga's PEFT follows the paper here: our shipped table, saga's ties
                    ours = paper_peft_with_ties(problem, topological).makespan
                    same = _same(ours, saga["peft"]["makespan"])
                    uniform_peft.append(same)
                    verdict = "equal" if same else "DIFFERENT"
                    print(
                        f"{label:<24} peft  our table (the paper's), saga's ties {ours:12.6f}"
                        f"  saga {saga['peft']['makespan']:12.6f}  {verdict}"
                    )
    print(
        f"\nsaga reproduced with saga's definitions: {sum(matched)} of {len(matched)};"
        f" shipped PEFT equal to saga's on uniform links: {sum(uniform_peft)} of"
        f" {len(uniform_peft)}"
    )
    return 0 if all(matched) and all(uniform_peft) else 1


if __name__ == "__main__":
    sys.exit(main())
