"""Calibration: measure the real workers into a cluster file the schedulers and the
simulator read, so that predictions use measured numbers.

:func:`calibrate_cluster` profiles every worker of a session:

- **speed per task kind**: each kind stands for a kernel (by default the synthetic
  kernels of :mod:`edgeoffload.apps.synthetic`: ``gemm`` for ``conv``, ``gemv`` for
  ``fc``, ``stream`` for ``pool``/``add``/…); the kernel runs on the worker for a known
  number of FLOP and its median rate over a few runs is the node's speed for those
  kinds. Workers are measured one at a time, so they do not compete for the machine.
- **links**: for each pair of workers, each measures the other over the direct call
  channel, exactly the path a DAG result takes: the median round trip of empty messages
  (latency = half of it) and the best transfer of a payload grown until it takes 50 ms
  more than the fastest round trip (bandwidth = bytes / (that time − the fastest round
  trip)); the model's links being
  symmetric, the two directions are averaged (round trip, and time per byte). Client-to-worker links
  are measured the same way from this process (they are not part of the model — the
  client is not a node — and are kept in the file as a comment).

The result is a :class:`Calibration`; :meth:`Calibration.to_dict` is the *cluster file*:
the problem file's ``nodes`` and ``links`` (``docs/problem-file.md``), so
``problem_from_dict({**cluster_file, "tasks": ..., "dependencies": ...})`` reads it, and
:func:`load_cluster_file` gives its :class:`~edgeoffload.model.Cluster`. What was
measured (rates per kernel, round trips, client links) is kept under ``_calibration``.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from edgeoffload.errors import ModelError
from edgeoffload.model import Cluster, Link, Node, Role, problem_from_dict, problem_to_dict
from edgeoffload.model.reading import located, parse_json, read_text
from edgeoffload.model.task_graph import NodeId
from edgeoffload.runtime.client.pool import WorkerPool
from edgeoffload.runtime.client.session import Session
from edgeoffload.runtime.worker.kernels import kernel_for, kernel_speed

__all__ = [
    "Calibration",
    "LinkMeasurement",
    "calibrate_cluster",
    "cluster_file_dict",
    "load_cluster_file",
]

DEFAULT_KINDS: tuple[str, ...] = ("conv", "fc", "pool", "add", "concat", "flatten")
"""Task kinds calibrated unless told otherwise (the shipped DNN graphs' kinds)."""


@dataclass(frozen=True, slots=True)
class LinkMeasurement:
    """A measured path: round trip ``rtt`` (s, median), ``bandwidth`` (bytes/s) from a
    ``size``-byte payload."""

    rtt: float
    bandwidth: float
    size: int = 0

    @property
    def latency(self) -> float:
        """One-way latency, seconds: half the round trip."""
        return self.rtt / 2

    def to_link(self) -> Link:
        """The cost model's link: ``latency + data / bandwidth``."""
        return Link(self.bandwidth, self.latency)

    def as_dict(self) -> dict[str, float]:
        return {"rtt": self.rtt, "bandwidth": self.bandwidth, "size": float(self.size)}


@dataclass(frozen=True, slots=True)
class Calibration:
    """What :func:`calibrate_cluster` measured.

    Attributes
    ----------
    cluster
        The workers as model nodes with measured speeds (``speed`` = the default
        kernel's rate, ``speed_by_kind`` per kind) and measured links between every pair.
    kernel_speeds
        FLOP/s of each kernel on each node.
    kind_kernels
        The kernel each calibrated kind stands for.
    links
        Each measured pair (in node order) and its figures.
    client_links
        This process to each worker.
    seconds
        How long calibrating took.
    """

    cluster: Cluster
    kernel_speeds: Mapping[NodeId, Mapping[str, float]]
    kind_kernels: Mapping[str, str]
    links: Mapping[tuple[NodeId, NodeId], LinkMeasurement]
    client_links: Mapping[NodeId, LinkMeasurement] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The cluster file (the problem file's ``nodes`` and ``links``, plus comments)."""
        return cluster_file_dict(
            self.cluster,
            about=(
                "measured by edgeoffload calibrate-cluster on "
                f"{_dt.datetime.now(_dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}: "
                "speeds in FLOP/s per task kind, link bandwidth in bytes/s, latency in s"
            ),
            calibration={
                "kernel_speeds": {n: dict(v) for n, v in self.kernel_speeds.items()},
                "kind_kernels": dict(self.kind_kernels),
                "links": [{"between": [a, b], **m.as_dict()} for (a, b), m in self.links.items()],
                "client_links": {n: m.as_dict() for n, m in self.client_links.items()},
                "seconds": self.seconds,
            },
        )

    def save(self, path: str | Path) -> Path:
        """Write the cluster file (JSON) to ``path``."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")
        return path


def cluster_file_dict(
    cluster: Cluster, *, about: str = "", calibration: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``cluster`` in the problem file's form: ``format``, ``nodes``, ``links``,
    ``default_link`` (no tasks), with optional ``_about`` and ``_calibration`` comments."""
    from edgeoffload.model import Problem, Task, TaskGraph

    full = problem_to_dict(Problem(TaskGraph([Task("_", 0.0)]), cluster))
    out: dict[str, Any] = {"format": full["format"]}
    if about:
        out["_about"] = about
    for key in ("nodes", "links", "default_link"):
        if key in full:
            out[key] = full[key]
    if calibration is not None:
        out["_calibration"] = dict(calibration)
    return out


def load_cluster_file(path: str | Path) -> Cluster:
    """The cluster of a cluster file (or of a whole problem file).

    Raises
    ------
    ProblemFileError
        The file is missing, not a regular file, too large or not strict JSON
        (:mod:`edgeoffload.model.reading`).
    ModelError
        Its nodes or links are invalid (named by place).
    """
    path = Path(path)
    data = parse_json(read_text(path, what="cluster file"), str(path))
    if not isinstance(data, dict):
        raise ModelError("a cluster file must be a JSON object", str(path))
    if "tasks" not in data:
        data = {**data, "tasks": [{"id": "_", "work": 0}], "dependencies": []}
    return located(path, data, lambda d: problem_from_dict(d).cluster)


def _symmetric(ways: Sequence[LinkMeasurement]) -> LinkMeasurement:
    """One figure for both directions (the model's links are symmetric): the mean round
    trip and the mean time per byte (a sender held to a small CPU quota, or an asymmetric
    path, makes the two directions differ)."""
    rtt = sum(w.rtt for w in ways) / len(ways)
    per_byte = sum(1.0 / w.bandwidth for w in ways) / len(ways)
    return LinkMeasurement(rtt, 1.0 / per_byte, max(w.size for w in ways))


def calibrate_cluster(
    session: Session | WorkerPool,
    *,
    nodes: Sequence[NodeId] | None = None,
    base: Cluster | None = None,
    kinds: Iterable[str] = DEFAULT_KINDS,
    probe: Callable[..., Any] | None = None,
    kernel_of: Callable[[str | None], str] | None = None,
    seconds: float = 0.2,
    repeats: int = 3,
    links: bool = True,
    client_links: bool = True,
    link_options: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Calibration:
    """Measure the session's workers: speed per task kind, links between every pair.

    Parameters
    ----------
    session
        An open session (or its :class:`~edgeoffload.runtime.client.pool.WorkerPool`).
    nodes
        The workers to measure, by name (default: every usable worker, sorted).
    base
        A model of the same nodes (a scenario's cluster): roles, cores, memory and power
        are taken from it; measured speeds and links replace its own. Without it, the
        workers' self-descriptions give roles, memory and power.
    kinds
        Task kinds to calibrate (default: the DNN graphs' kinds).
    probe
        ``probe(kernel, seconds=, repeats=)`` run on each worker, returning a mapping
        with ``speed`` (FLOP/s); a module-level function of installed code or an
        ``@offload`` function. Default:
        :func:`edgeoffload.runtime.worker.kernels.kernel_speed`.
    kernel_of
        The kernel a kind stands for (default:
        :func:`edgeoffload.runtime.worker.kernels.kernel_for`);
        ``kernel_of(None)`` is the kernel of the node's default ``speed``.
    seconds, repeats
        Length of one kernel run (about), and runs per kernel (the median is kept).
    links, client_links
        Measure worker-to-worker and client-to-worker links (default both).
    link_options
        Passed to the link measurement (``pings``, ``repeats``, ``size``, ``max_size``,
        ``min_seconds``).
    progress
        Called with a line of text as each measurement is done.

    Returns
    -------
    Calibration
    """
    start = time.perf_counter()
    pool = session.pool if isinstance(session, Session) else session
    probe = probe or kernel_speed
    kernel_of = kernel_of or kernel_for
    say = progress or (lambda line: None)
    names = list(nodes) if nodes is not None else sorted(w.name for w in pool.usable())
    if not names:
        raise ModelError("no worker to calibrate", "nodes")
    if base is not None:
        missing = [n for n in names if n not in base]
        if missing:
            raise ModelError(f"node(s) {', '.join(missing)} are not in the base cluster", "base")
    kinds = list(dict.fromkeys(kinds))
    kind_kernels = {kind: kernel_of(kind) for kind in kinds}
    default_kernel = kernel_of(None)
    kernels = list(dict.fromkeys([default_kernel, *kind_kernels.values()]))

    speeds: dict[NodeId, dict[str, float]] = {}
    for name in names:
        speeds[name] = {}
        for kernel in kernels:
            result, _ = pool.call_on(
                name, probe, (kernel,), {"seconds": seconds, "repeats": repeats}
            )
            rate = float(result["speed"])
            if not (math.isfinite(rate) and rate > 0):
                raise ModelError(f"measured speed {rate!r} of kernel {kernel!r}", name)
            speeds[name][kernel] = rate
            say(f"{name}: {kernel} {rate / 1e9:.3g} GFLOP/s")

    measured: dict[tuple[NodeId, NodeId], LinkMeasurement] = {}
    options = dict(link_options or {})
    if links:
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                ways = []
                for sender, receiver in ((a, b), (b, a)):
                    reply = pool.measure_link(sender, receiver, **options)
                    ways.append(
                        LinkMeasurement(
                            float(reply["rtt"]), float(reply["bandwidth"]), int(reply["size"])
                        )
                    )
                m = _symmetric(ways)
                measured[(a, b)] = m
                say(f"{a} <-> {b}: rtt {m.rtt * 1e3:.3g} ms, {m.bandwidth * 8 / 1e6:.4g} Mbit/s")
    clients: dict[NodeId, LinkMeasurement] = {}
    if client_links:
        for name in names:
            figures = pool.measure_client_link(name, **options)
            m = LinkMeasurement(figures["rtt"], figures["bandwidth"], int(figures["size"]))
            clients[name] = m
            say(f"client <-> {name}: rtt {m.rtt * 1e3:.3g} ms, {m.bandwidth * 8 / 1e6:.4g} Mbit/s")

    described = pool.model_nodes()
    model_nodes = []
    for name in names:
        template: Node | None = base.node(name) if base is not None else described.get(name)
        worker = pool.require(name)
        role = cast(Role, template.role if template is not None else worker.description.role)
        model_nodes.append(
            Node(
                name,
                speeds[name][default_kernel],
                {kind: speeds[name][k] for kind, k in kind_kernels.items()},
                role=role,
                cores=template.cores if template is not None and base is not None else 1,
                memory=template.memory if template is not None else None,
                power=template.power if template is not None else None,
            )
        )
    cluster = Cluster(
        model_nodes, {pair: m.to_link() for pair, m in measured.items()}, default_link=None
    )
    return Calibration(
        cluster,
        speeds,
        kind_kernels,
        measured,
        clients,
        time.perf_counter() - start,
    )
