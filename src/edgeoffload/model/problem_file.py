"""The problem file: a stable JSON contract for problems (``docs/problem-file.md``).

:func:`problem_from_dict` checks every field and names the place of the first thing wrong
(``tasks[3].work: must be >= 0, got -1``); :func:`problem_to_dict` writes the same form
back, so ``problem_from_dict(problem_to_dict(p))`` describes the same problem.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgeoffload.errors import ModelError
from edgeoffload.model.checks import check_id, check_number
from edgeoffload.model.cluster import ROLES, Cluster, Link, Node, PowerProfile
from edgeoffload.model.problem import Problem, Request
from edgeoffload.model.reading import located, parse_json, read_text
from edgeoffload.model.task_graph import Dependency, NodeId, Task, TaskGraph, check_cores

__all__ = [
    "FORMAT_VERSION",
    "load_problem",
    "problem_from_dict",
    "problem_text",
    "problem_to_dict",
]

FORMAT_VERSION = 1

_TOP_KEYS = {
    "format",
    "tasks",
    "dependencies",
    "nodes",
    "links",
    "default_link",
    "requests",
    "exec_times",
}
_TASK_KEYS = {"id", "work", "kind", "pinned", "request", "cores", "memory"}
_DEP_KEYS = {"from", "to", "data"}
_NODE_KEYS = {"id", "speed", "speed_by_kind", "role", "cores", "memory", "power", "available_from"}
_LINK_KEYS = {"between", "bandwidth", "latency"}
_DEFAULT_LINK_KEYS = {"bandwidth", "latency"}
_REQUEST_KEYS = {"id", "arrival"}
_POWER_KEYS = {"idle", "busy", "transmit"}


def _object(
    value: Any, where: str, allowed: set[str], required: tuple[str, ...] = ()
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ModelError(f"must be an object, got {type(value).__name__}", where)
    for key in value:
        if not isinstance(key, str) or (key not in allowed and not key.startswith("_")):
            raise ModelError(f"unknown key {key!r}", where)
    for key in required:
        if key not in value:
            raise ModelError(f"missing required key {key!r}", where)
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ModelError(f"must be a list, got {type(value).__name__}", where)
    return value


def _optional_id(item: Mapping[str, Any], key: str, where: str) -> str | None:
    value = item.get(key)
    return None if value is None else check_id(value, f"{where}.{key}")


def problem_from_dict(data: Any) -> Problem:
    """Build a :class:`Problem` from the problem file's JSON form.

    Raises
    ------
    ModelError
        Naming the first thing wrong and where.
    """
    top = _object(data, "problem", _TOP_KEYS, ("tasks", "dependencies", "nodes"))
    version = top.get("format", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise ModelError(
            f"unsupported version {version!r} (this reader knows {FORMAT_VERSION})", "format"
        )

    tasks = []
    for i, raw in enumerate(_list(top["tasks"], "tasks")):
        where = f"tasks[{i}]"
        item = _object(raw, where, _TASK_KEYS, ("id",))
        task_id = check_id(item["id"], f"{where}.id")
        work = item.get("work")
        cores = item.get("cores")
        memory = item.get("memory")
        tasks.append(
            Task(
                task_id,
                None if work is None else check_number(work, f"{where}.work"),
                kind=_optional_id(item, "kind", where),
                pinned=_optional_id(item, "pinned", where),
                request=_optional_id(item, "request", where),
                cores=None if cores is None else check_cores(cores, f"{where}.cores"),
                memory=None if memory is None else check_number(memory, f"{where}.memory"),
            )
        )
    dependencies = []
    for k, raw in enumerate(_list(top["dependencies"], "dependencies")):
        where = f"dependencies[{k}]"
        item = _object(raw, where, _DEP_KEYS, ("from", "to"))
        dependencies.append(
            Dependency(
                check_id(item["from"], f"{where}.from"),
                check_id(item["to"], f"{where}.to"),
                check_number(item.get("data", 0.0), f"{where}.data"),
            )
        )
    graph = TaskGraph(tasks, dependencies)

    nodes = []
    node_ids: set[str] = set()
    for i, raw in enumerate(_list(top["nodes"], "nodes")):
        where = f"nodes[{i}]"
        item = _object(raw, where, _NODE_KEYS, ("id", "speed"))
        node_id = check_id(item["id"], f"{where}.id")
        if node_id in node_ids:
            raise ModelError(f"duplicate node id {node_id!r}", where)
        node_ids.add(node_id)
        by_kind_raw = item.get("speed_by_kind", {})
        if not isinstance(by_kind_raw, dict):
            raise ModelError("must be an object of kind: FLOP/s", f"{where}.speed_by_kind")
        by_kind = {
            kind: check_number(rate, f"{where}.speed_by_kind.{kind}", positive=True)
            for kind, rate in by_kind_raw.items()
        }
        role = item.get("role", "device")
        if role not in ROLES:
            raise ModelError(f"must be one of {', '.join(ROLES)}; got {role!r}", f"{where}.role")
        cores = item.get("cores", 1)
        if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
            raise ModelError(f"must be a whole number >= 1, got {cores!r}", f"{where}.cores")
        memory = item.get("memory")
        power = None
        if item.get("power") is not None:
            p = _object(item["power"], f"{where}.power", _POWER_KEYS, ("idle", "busy"))
            idle = check_number(p["idle"], f"{where}.power.idle")
            busy = check_number(p["busy"], f"{where}.power.busy")
            transmit = check_number(p.get("transmit", idle), f"{where}.power.transmit")
            power = PowerProfile(idle, busy, transmit)
        nodes.append(
            Node(
                node_id,
                check_number(item["speed"], f"{where}.speed", positive=True),
                speed_by_kind=by_kind,
                role=role,
                cores=cores,
                memory=None if memory is None else check_number(memory, f"{where}.memory"),
                power=power,
                available_from=check_number(
                    item.get("available_from", 0.0), f"{where}.available_from"
                ),
            )
        )

    if not nodes:
        raise ModelError("a cluster needs at least one node", "nodes")
    links: dict[tuple[NodeId, NodeId], Link] = {}
    for k, raw in enumerate(_list(top.get("links", []), "links")):
        where = f"links[{k}]"
        item = _object(raw, where, _LINK_KEYS, ("between", "bandwidth"))
        between = item["between"]
        if not (isinstance(between, list) and len(between) == 2):
            raise ModelError("must be a list of two node ids", f"{where}.between")
        a = check_id(between[0], f"{where}.between[0]")
        b = check_id(between[1], f"{where}.between[1]")
        for end in (a, b):
            if end not in node_ids:
                raise ModelError(f"unknown node {end!r}", f"{where}.between")
        if a == b:
            raise ModelError(f"node {a!r} is linked to itself", f"{where}.between")
        if (a, b) in links or (b, a) in links:
            raise ModelError(f"the pair {a!r}-{b!r} is linked twice", where)
        links[(a, b)] = _link(item, where)
    default_link = None
    if top.get("default_link") is not None:
        where = "default_link"
        item = _object(top["default_link"], where, _DEFAULT_LINK_KEYS, ("bandwidth",))
        default_link = _link(item, where)
    cluster = Cluster(nodes, links, default_link)

    requests = []
    for k, raw in enumerate(_list(top.get("requests", []), "requests")):
        where = f"requests[{k}]"
        item = _object(raw, where, _REQUEST_KEYS, ("id",))
        requests.append(
            Request(
                check_id(item["id"], f"{where}.id"),
                check_number(item.get("arrival", 0.0), f"{where}.arrival"),
            )
        )

    exec_raw = top.get("exec_times", {})
    if not isinstance(exec_raw, dict):
        raise ModelError("must be an object of task: {node: seconds}", "exec_times")
    exec_times: dict[str, dict[str, float]] = {}
    for task_id, row in exec_raw.items():
        if not isinstance(row, dict):
            raise ModelError("must be an object of node: seconds", f"exec_times.{task_id}")
        exec_times[task_id] = {
            node_id: check_number(seconds, f"exec_times.{task_id}.{node_id}")
            for node_id, seconds in row.items()
        }
    return Problem(graph, cluster, requests, exec_times)


def _link(item: Mapping[str, Any], where: str) -> Link:
    return Link(
        check_number(item["bandwidth"], f"{where}.bandwidth", positive=True),
        check_number(item.get("latency", 0.0), f"{where}.latency"),
    )


def problem_to_dict(problem: Problem) -> dict[str, Any]:
    """The problem file's JSON form of ``problem`` (only non-default optional fields)."""
    tasks = []
    for t in problem.graph.tasks:
        item: dict[str, Any] = {"id": t.id}
        if t.work is not None:
            item["work"] = t.work
        for key in ("kind", "pinned", "request", "cores", "memory"):
            if getattr(t, key) is not None:
                item[key] = getattr(t, key)
        tasks.append(item)
    nodes = []
    for n in problem.cluster.nodes:
        node: dict[str, Any] = {"id": n.id, "speed": n.speed}
        if n.speed_by_kind:
            node["speed_by_kind"] = dict(n.speed_by_kind)
        if n.role != "device":
            node["role"] = n.role
        if n.cores != 1:
            node["cores"] = n.cores
        if n.memory is not None:
            node["memory"] = n.memory
        if n.power is not None:
            node["power"] = {
                "idle": n.power.idle,
                "busy": n.power.busy,
                "transmit": n.power.transmit,
            }
        if n.available_from:
            node["available_from"] = n.available_from
        nodes.append(node)
    out: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "tasks": tasks,
        "dependencies": [
            {"from": d.source, "to": d.target, "data": d.data} for d in problem.graph.dependencies
        ],
        "nodes": nodes,
    }
    links = problem.cluster.links
    if links:
        out["links"] = [
            {"between": [a, b], "bandwidth": link.bandwidth, "latency": link.latency}
            for (a, b), link in links.items()
        ]
    if problem.cluster.default_link is not None:
        dl = problem.cluster.default_link
        out["default_link"] = {"bandwidth": dl.bandwidth, "latency": dl.latency}
    if problem.requests:
        out["requests"] = [{"id": r.id, "arrival": r.arrival} for r in problem.requests]
    if problem.exec_times:
        out["exec_times"] = {t: dict(row) for t, row in problem.exec_times.items()}
    return out


def load_problem(path: str | Path) -> Problem:
    """Read a problem file.

    Raises
    ------
    ProblemFileError
        If the file is missing, not a regular file, too large, unreadable or not strict
        JSON (:mod:`edgeoffload.model.reading`).
    ModelError
        If its content is not a valid problem (the message names the place).
    """
    path = Path(path)
    return located(
        path, parse_json(read_text(path, what="problem file"), str(path)), problem_from_dict
    )


def problem_text(problem: Problem) -> str:
    """``problem`` as the text of a problem file (JSON, one level of indent, a final
    newline): what ``edgeoffload export`` writes and :func:`load_problem` reads back."""
    return json.dumps(problem_to_dict(problem), indent=1) + "\n"
