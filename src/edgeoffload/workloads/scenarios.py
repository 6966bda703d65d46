"""Scenario files (YAML): a cluster, its network, requests or streams, and how to run them.

A scenario is what ``edgeoffload simulate`` runs. The file is parsed with pydantic (at
this boundary only) and converted to model objects: a :class:`Scenario` holds a
:class:`~edgeoffload.model.Cluster`, request specs that compile to a
:class:`~edgeoffload.model.Problem` (:meth:`Scenario.problem`, which ``edgeoffload
export`` writes as a problem file), stream specs, and the simulator's settings as plain
values. Every mistake is reported as one line naming its place, e.g.
``requests[2].camera: unknown node 'cam9'``.

The file format is documented field by field in docs/simulator.md; the shipped
``dhs-paper`` scenario (``data/scenarios/dhs-paper.yaml``) is a commented example.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edgeoffload.errors import ModelError, ProblemFileError
from edgeoffload.model import AppRequest, Cluster, Link, Node, PowerProfile, Problem, merge_requests
from edgeoffload.model.checks import shown
from edgeoffload.model.reading import exists, parse_yaml, read_text
from edgeoffload.model.task_graph import NodeId
from edgeoffload.schedulers import Scheduler, get_scheduler
from edgeoffload.schedulers.dhs import PAPER_DELTA1, PAPER_DELTA2
from edgeoffload.workloads.devices import device_preset, link_preset
from edgeoffload.workloads.dnn import DNNModel, dnn_names, load_dnn

__all__ = [
    "DEFAULT_ALGORITHMS",
    "SCENARIO_FORMAT",
    "NetworkSettings",
    "RequestSpec",
    "Scenario",
    "StreamSpec",
    "builtin_scenario_names",
    "load_scenario",
    "scenario_from_dict",
]

SCENARIO_FORMAT = 1
DEFAULT_ALGORITHMS: tuple[str, ...] = ("local", "edge", "heft", "cpop", "peft", "dhs", "portfolio")
_PACKAGE = "edgeoffload.workloads.data.scenarios"


# -- the file, as pydantic sees it (private: nothing below leaves this module) ------------
class _Strict(BaseModel):
    # strict: a string is not a number and a bool is not a number; finite numbers only
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


MAX_CORES = 4096
MAX_COUNT = 10_000
MAX_REPETITIONS = 1_000
MAX_CV = 10.0
MAX_FRAMES = 200_000
"""Most stream frames a scenario may ask for in all (``limits.max_frames`` raises it)."""


class _Power(_Strict):
    idle: float = Field(ge=0)
    busy: float = Field(ge=0)
    transmit: float = Field(ge=0)


class _Device(_Strict):
    id: str = Field(min_length=1)
    preset: str | None = None
    role: Literal["camera", "edge", "device"] | None = None
    speed: float | None = Field(default=None, gt=0)
    speed_by_kind: dict[str, float] | None = None
    cores: int | None = Field(default=None, ge=1, le=MAX_CORES)
    memory: float | None = Field(default=None, ge=0)
    power: _Power | None = None


class _LinkFigures(_Strict):
    preset: str | None = None
    bandwidth: float | None = Field(default=None, gt=0)
    latency: float | None = Field(default=None, ge=0)


class _Link(_LinkFigures):
    between: tuple[str, str] = Field(strict=False)  # a YAML list of two names


class _Medium(_Strict):
    name: str = Field(min_length=1)
    nodes: list[str] = Field(min_length=1)


class _Network(_Strict):
    model: Literal["dedicated", "shared"] = "dedicated"
    contention: bool = False
    transfers: Literal["per-node", "per-dependency"] = "per-node"
    default_link: _LinkFigures | None = None
    links: list[_Link] = []
    media: list[_Medium] = []


class _Variability(_Strict):
    exec_cv: float = Field(default=0.0, ge=0, le=MAX_CV)
    transfer_cv: float = Field(default=0.0, ge=0, le=MAX_CV)


class _Failure(_Strict):
    node: str
    at: float = Field(ge=0)


class _Request(_Strict):
    model: str
    camera: str
    arrival: float = Field(default=0.0, ge=0)
    count: int = Field(default=1, ge=1, le=MAX_COUNT)
    granularity: Literal["layer", "block"] | None = None
    id: str | None = Field(default=None, min_length=1)
    deadline: float | None = Field(default=None, gt=0)


class _Condition(_Strict):
    description: str = ""
    requests: list[_Request] = Field(min_length=1)


class _Stream(_Strict):
    model: str
    camera: str
    rate: float = Field(gt=0)
    process: Literal["periodic", "poisson"] = "periodic"
    start: float = Field(default=0.0, ge=0)
    duration: float = Field(gt=0)
    deadline: float | None = Field(default=None, gt=0)
    granularity: Literal["layer", "block"] | None = None
    name: str | None = Field(default=None, min_length=1)


class _StreamOptions(_Strict):
    max_in_flight: int | None = Field(default=None, ge=1)
    drop_late: bool = False


class _DHS(_Strict):
    delta1: float = Field(default=PAPER_DELTA1, ge=0)
    delta2: float = Field(default=PAPER_DELTA2, ge=0)


class _Limits(_Strict):
    max_frames: int = Field(default=MAX_FRAMES, ge=1)


class _File(_Strict):
    format: Literal[1] = 1
    # it names the output files: a file name, not a path
    name: str = Field(min_length=1, max_length=100, pattern=r"^[\w][\w .+-]*$")
    description: str = ""
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    repetitions: int = Field(default=1, ge=1, le=MAX_REPETITIONS)
    algorithms: list[str] = Field(default=list(DEFAULT_ALGORITHMS), min_length=1)
    dhs: _DHS = _DHS()
    granularity: Literal["layer", "block"] = "layer"
    devices: list[_Device] = Field(min_length=1)
    network: _Network = _Network()
    variability: _Variability = _Variability()
    failures: list[_Failure] = []
    failure_policy: Literal["fail", "rerun", "replan"] = "fail"
    requests: list[_Request] = []
    conditions: dict[str, _Condition] = {}
    streams: list[_Stream] = []
    stream_options: _StreamOptions = _StreamOptions()
    limits: _Limits = _Limits()

    @model_validator(mode="after")
    def _bounded(self) -> _File:
        frames = sum(s.rate * s.duration for s in self.streams)
        if frames > self.limits.max_frames:
            raise ValueError(
                f"the streams ask for {frames:.3g} frames in all, more than "
                f"limits.max_frames = {self.limits.max_frames} (raise it to run them)"
            )
        return self


# -- the model side -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RequestSpec:
    """One DNN inference request of a scenario.

    Attributes
    ----------
    id
        Request id (``r1``, ``r2``, ... unless the file names it).
    model, granularity
        The DNN (``alexnet``, ``googlenet``, ``resnet50``) and ``layer`` or ``block``.
    camera
        Node it arrives at.
    arrival
        Arrival time, seconds.
    deadline
        Latency bound, seconds, if any.
    """

    id: str
    model: str
    granularity: str
    camera: NodeId
    arrival: float = 0.0
    deadline: float | None = None

    def dnn(self) -> DNNModel:
        return load_dnn(self.model, self.granularity)

    def app_request(self) -> AppRequest:
        """The request as the model's :class:`~edgeoffload.model.AppRequest`."""
        return self.dnn().request(self.id, self.camera, self.arrival)


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """A stream of camera frames: ``rate`` frames/s of ``model`` at ``camera``.

    Frames arrive in ``[start, start + duration)`` seconds, periodically or as a Poisson
    process; ``deadline`` is each frame's latency bound, seconds.
    """

    name: str
    model: str
    granularity: str
    camera: NodeId
    rate: float
    process: str = "periodic"
    start: float = 0.0
    duration: float = 1.0
    deadline: float | None = None

    def dnn(self) -> DNNModel:
        return load_dnn(self.model, self.granularity)


@dataclass(frozen=True, slots=True)
class NetworkSettings:
    """The scenario's link model, as plain values (the simulator builds its config from it).

    ``model`` is ``dedicated`` or ``shared``; ``media`` maps each shared medium's name to
    its member nodes; ``transfers`` is ``per-node`` or ``per-dependency``.
    """

    model: str = "dedicated"
    contention: bool = False
    transfers: str = "per-node"
    media: tuple[tuple[str, tuple[NodeId, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class Scenario:
    """A validated scenario.

    Attributes
    ----------
    name, description
        What it is.
    cluster
        The nodes and links.
    network
        How transfers share the network in the simulator.
    conditions
        Named request sets (the DHS paper's ``U-H`` ...); a file with plain ``requests``
        has one condition named ``default``.
    streams
        Frame streams, if any.
    algorithms
        Schedulers to compare.
    delta1, delta2
        DHS thresholds (seconds; requests per camera).
    seed, repetitions
        Seed of the simulator's random numbers; simulated runs per case.
    exec_cv, transfer_cv
        Coefficients of variation of execution and transfer times (0: none).
    failures
        ``(node, time)`` node failures to inject.
    failure_policy
        ``fail``, ``rerun`` or ``replan`` (see ``SimConfig.failure_policy``; ``replan``
        is for requests, not streams).
    max_in_flight, drop_late
        How stream frames are admitted (every algorithm of :attr:`algorithms` plans
        them in turn).
    """

    name: str
    description: str
    cluster: Cluster
    network: NetworkSettings
    conditions: Mapping[str, tuple[RequestSpec, ...]]
    streams: tuple[StreamSpec, ...] = ()
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    delta1: float = PAPER_DELTA1
    delta2: float = PAPER_DELTA2
    seed: int = 0
    repetitions: int = 1
    exec_cv: float = 0.0
    transfer_cv: float = 0.0
    failures: tuple[tuple[NodeId, float], ...] = ()
    failure_policy: str = "fail"
    max_in_flight: int | None = None
    drop_late: bool = False
    condition_descriptions: Mapping[str, str] = field(default_factory=dict)

    @property
    def condition_names(self) -> tuple[str, ...]:
        return tuple(self.conditions)

    def requests(self, condition: str | None = None) -> tuple[RequestSpec, ...]:
        """The requests of ``condition`` (default: the first)."""
        if not self.conditions:
            raise ModelError("this scenario has no requests, only streams", "requests")
        if condition is None:
            condition = self.condition_names[0]
        if condition not in self.conditions:
            raise ModelError(
                f"unknown condition {condition!r}; this scenario has "
                f"{', '.join(self.condition_names)}",
                "condition",
            )
        return self.conditions[condition]

    def problem(self, condition: str | None = None) -> Problem:
        """The scheduling problem the requests of ``condition`` compile to."""
        return merge_requests([r.app_request() for r in self.requests(condition)], self.cluster)

    def scheduler_params(self, algorithm: str) -> dict[str, Any]:
        """The parameters the scenario gives scheduler ``algorithm``: DHS gets its
        thresholds δ1 and δ2, the others nothing. The one place that decides it, for the
        simulator and for runs on a real cluster alike."""
        if algorithm == "dhs":
            return {"delta1": self.delta1, "delta2": self.delta2}
        return {}

    def scheduler(self, algorithm: str) -> Scheduler:
        """Scheduler ``algorithm`` with the scenario's parameters (:meth:`scheduler_params`).

        Raises
        ------
        ModelError
            ``algorithm`` is not a registered scheduler.
        """
        return get_scheduler(algorithm, **self.scheduler_params(algorithm))


# -- conversion -------------------------------------------------------------------------------
def _place(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _pydantic_message(error: Mapping[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "missing required key"
    if kind == "string_pattern_mismatch":
        return (
            "must be a name fit for a file: letters, digits, spaces and . _ + -, got "
            f"{shown(error.get('input'))}"
        )
    message = str(error.get("msg", "invalid"))
    for prefix, replacement in (
        ("Input should be", "must be"),
        ("Value error, ", ""),
        ("List should have", "must have"),
        ("String should have", "must have"),
    ):
        if message.startswith(prefix):
            message = replacement + message[len(prefix) :]
    if "input" in error and kind not in ("missing",):
        value = error["input"]
        if not isinstance(value, dict | list):
            message += f", got {shown(value)}"
    return message


def _parse(data: Any) -> _File:
    if not isinstance(data, dict):
        raise ModelError(f"must be a mapping, got {type(data).__name__}", "scenario")
    try:
        return _File.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _place(first["loc"]) or "scenario"
        raise ModelError(_pydantic_message(first), where) from None


def _node(spec: _Device, where: str) -> Node:
    if spec.preset is None and spec.speed is None:
        raise ModelError("needs a preset or a speed", where)
    try:
        if spec.preset is not None:
            try:
                base = device_preset(spec.preset).to_node(spec.id)
            except ModelError as exc:
                raise ModelError(exc.reason, f"{where}.preset") from None
        else:
            base = Node(spec.id, spec.speed or 1.0)
        power = (
            PowerProfile(spec.power.idle, spec.power.busy, spec.power.transmit)
            if spec.power is not None
            else base.power
        )
        return Node(
            spec.id,
            spec.speed if spec.speed is not None else base.speed,
            spec.speed_by_kind if spec.speed_by_kind is not None else dict(base.speed_by_kind),
            role=spec.role if spec.role is not None else base.role,
            cores=spec.cores if spec.cores is not None else base.cores,
            memory=spec.memory if spec.memory is not None else base.memory,
            power=power,
        )
    except ModelError as exc:
        if exc.where.startswith(where):
            raise
        raise ModelError(exc.reason, where) from None


def _link(spec: _LinkFigures, where: str) -> Link:
    bandwidth, latency = spec.bandwidth, spec.latency
    if spec.preset is not None:
        try:
            base = link_preset(spec.preset).to_link()
        except ModelError as exc:
            raise ModelError(exc.reason, f"{where}.preset") from None
        bandwidth = base.bandwidth if bandwidth is None else bandwidth
        latency = base.latency if latency is None else latency
    if bandwidth is None:
        raise ModelError("needs a preset or a bandwidth", where)
    return Link(bandwidth, latency or 0.0)


def _check_model(name: str, where: str) -> None:
    if name not in dnn_names():
        raise ModelError(f"unknown model {name!r}; known: {', '.join(dnn_names())}", where)


def _check_node(node: str, cluster: Cluster, where: str) -> None:
    if node not in cluster:
        raise ModelError(f"unknown node {node!r}", where)


def _requests(
    items: Sequence[_Request], where: str, cluster: Cluster, granularity: str
) -> tuple[RequestSpec, ...]:
    out: list[RequestSpec] = []
    seen: set[str] = set()
    for k, item in enumerate(items):
        here = f"{where}[{k}]"
        _check_model(item.model, f"{here}.model")
        _check_node(item.camera, cluster, f"{here}.camera")
        for j in range(item.count):
            if item.id is None:
                request_id = f"r{len(out) + 1}"
            else:
                request_id = item.id if item.count == 1 else f"{item.id}-{j + 1}"
            if "/" in request_id:
                raise ModelError(f"may not contain '/', got {request_id!r}", f"{here}.id")
            if request_id in seen:
                raise ModelError(f"duplicate request id {request_id!r}", f"{here}.id")
            seen.add(request_id)
            out.append(
                RequestSpec(
                    request_id,
                    item.model,
                    item.granularity or granularity,
                    item.camera,
                    item.arrival,
                    item.deadline,
                )
            )
    return tuple(out)


def scenario_from_dict(data: Any) -> Scenario:
    """Build a :class:`Scenario` from a scenario file's parsed YAML (or JSON).

    Raises
    ------
    ModelError
        Naming the first thing wrong and where (``devices[1].preset: unknown device
        preset 'x'; known: ...``).
    """
    spec = _parse(data)
    nodes = []
    for k, device in enumerate(spec.devices):
        nodes.append(_node(device, f"devices[{k}]"))
    seen: set[str] = set()
    for k, node in enumerate(nodes):
        if node.id in seen:
            raise ModelError(f"duplicate device id {node.id!r}", f"devices[{k}].id")
        seen.add(node.id)
    ids = {n.id for n in nodes}
    links: dict[tuple[str, str], Link] = {}
    pairs: set[frozenset[str]] = set()
    for k, item in enumerate(spec.network.links):
        where = f"network.links[{k}]"
        a, b = item.between
        for end in (a, b):
            if end not in ids:
                raise ModelError(f"unknown node {end!r}", f"{where}.between")
        if a == b:
            raise ModelError(f"node {a!r} is linked to itself", f"{where}.between")
        if frozenset((a, b)) in pairs:
            raise ModelError(f"the pair {a!r}-{b!r} is listed twice", f"{where}.between")
        pairs.add(frozenset((a, b)))
        links[(a, b)] = _link(item, where)
    default = (
        _link(spec.network.default_link, "network.default_link")
        if spec.network.default_link is not None
        else None
    )
    cluster = Cluster(nodes, links, default)

    media: list[tuple[str, tuple[str, ...]]] = []
    owner: dict[str, str] = {}
    if spec.network.model == "shared" and not spec.network.media:
        raise ModelError("a shared network needs at least one medium", "network.media")
    if spec.network.model == "dedicated" and spec.network.media:
        raise ModelError("media need 'model: shared'", "network.media")
    if spec.network.contention and spec.network.model != "dedicated":
        raise ModelError("applies to 'model: dedicated' only", "network.contention")
    for k, medium in enumerate(spec.network.media):
        where = f"network.media[{k}]"
        if any(medium.name == m for m, _ in media):
            raise ModelError(f"duplicate medium {medium.name!r}", f"{where}.name")
        for j, node_id in enumerate(medium.nodes):
            _check_node(node_id, cluster, f"{where}.nodes[{j}]")
            if node_id in owner:
                raise ModelError(
                    f"node {node_id!r} is already on medium {owner[node_id]!r}",
                    f"{where}.nodes[{j}]",
                )
            owner[node_id] = medium.name
        media.append((medium.name, tuple(medium.nodes)))
    network = NetworkSettings(
        spec.network.model, spec.network.contention, spec.network.transfers, tuple(media)
    )

    for k, failure in enumerate(spec.failures):
        _check_node(failure.node, cluster, f"failures[{k}].node")

    if spec.requests and spec.conditions:
        raise ModelError("give either requests or conditions, not both", "conditions")
    conditions: dict[str, tuple[RequestSpec, ...]] = {}
    descriptions: dict[str, str] = {}
    if spec.requests:
        conditions["default"] = _requests(spec.requests, "requests", cluster, spec.granularity)
    for name, condition in spec.conditions.items():
        if not name or "/" in name:
            raise ModelError(f"bad condition name {name!r}", "conditions")
        conditions[name] = _requests(
            condition.requests, f"conditions.{name}.requests", cluster, spec.granularity
        )
        descriptions[name] = condition.description
    streams: list[StreamSpec] = []
    labels: set[str] = set()
    for k, stream in enumerate(spec.streams):
        where = f"streams[{k}]"
        _check_model(stream.model, f"{where}.model")
        _check_node(stream.camera, cluster, f"{where}.camera")
        name = stream.name or f"{stream.camera}-{stream.model}-{k}"
        if "/" in name or "#" in name:
            raise ModelError(f"may not contain '/' or '#', got {name!r}", f"{where}.name")
        if name in labels:
            raise ModelError(f"duplicate stream name {name!r}", f"{where}.name")
        labels.add(name)
        streams.append(
            StreamSpec(
                name,
                stream.model,
                stream.granularity or spec.granularity,
                stream.camera,
                stream.rate,
                stream.process,
                stream.start,
                stream.duration,
                stream.deadline,
            )
        )
    if not conditions and not streams:
        raise ModelError("a scenario needs requests, conditions or streams", "scenario")
    if spec.failure_policy == "replan" and spec.failures and streams:
        raise ModelError(
            "streams plan each frame on arrival and cannot be re-planned; use 'fail' or "
            "'rerun' with streams",
            "failure_policy",
        )

    # Scheduler names are checked against the registry by the simulation layer, which
    # imports the schedulers; workloads depend on the model only.
    if len(set(spec.algorithms)) != len(spec.algorithms):
        raise ModelError("an algorithm is listed twice", "algorithms")
    if "edge" in spec.algorithms and not cluster.nodes_with_role("edge"):
        raise ModelError("the Edge baseline needs a device with role 'edge'", "algorithms")

    return Scenario(
        name=spec.name,
        description=spec.description.strip(),
        cluster=cluster,
        network=network,
        conditions=conditions,
        streams=tuple(streams),
        algorithms=tuple(spec.algorithms),
        delta1=spec.dhs.delta1,
        delta2=spec.dhs.delta2,
        seed=spec.seed,
        repetitions=spec.repetitions,
        exec_cv=spec.variability.exec_cv,
        transfer_cv=spec.variability.transfer_cv,
        failures=tuple((f.node, f.at) for f in spec.failures),
        failure_policy=spec.failure_policy,
        max_in_flight=spec.stream_options.max_in_flight,
        drop_late=spec.stream_options.drop_late,
        condition_descriptions=descriptions,
    )


def builtin_scenario_names() -> list[str]:
    """Names of the shipped scenarios."""
    folder = resources.files(_PACKAGE)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a scenario file, or a shipped scenario by name (``dhs-paper``).

    Raises
    ------
    ModelError
        For a missing file (the message lists the shipped scenarios), invalid YAML, or
        anything wrong in the scenario, named by place.
    """
    if not exists(name_or_path) and str(name_or_path) in builtin_scenario_names():
        text = (resources.files(_PACKAGE) / f"{name_or_path}.yaml").read_text("utf-8")
        source = str(name_or_path)
    elif exists(name_or_path):
        text = read_text(name_or_path, what="scenario")
        source = str(name_or_path)
    else:
        raise ProblemFileError(
            f"no such file (built-in scenarios: {', '.join(builtin_scenario_names())})",
            str(name_or_path)[:200],
        )
    return scenario_from_dict(parse_yaml(text, source))
