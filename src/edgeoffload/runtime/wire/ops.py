"""Every operation of the direct channel, defined once, as types.

A message is a JSON header plus binary frames (:mod:`.protocol`). The header's ``op``
names an :class:`Op`; the rest of the header is that operation's fields, defined here by
one frozen dataclass per operation (:data:`MESSAGES`). Both halves of the runtime build
headers with :meth:`Message.header` and read them with :func:`decode`, which checks every
field's type (a bool is not a number, a string is not coerced, unknown fields are
refused), so a worker never acts on a malformed message: it answers ``refused`` naming the
field. The worker dispatches decoded messages through an explicit handler table keyed by
:class:`Op` (:mod:`edgeoffload.runtime.worker.agent`).

Who may send what is decided by the role in the sender's certificate
(:mod:`.security`): :data:`CLIENT_OPS` come from clients, :data:`PEER_OPS` from other
workers.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from edgeoffload.errors import MessageError

__all__ = [
    "CLIENT_OPS",
    "DAG_OPS",
    "MESSAGES",
    "OFFLOADED_MARK",
    "PEER_OPS",
    "Beat",
    "Bye",
    "Call",
    "Cancel",
    "DagCall",
    "DagClock",
    "DagCollect",
    "DagGo",
    "DagLink",
    "DagPlan",
    "DagPut",
    "DagRelease",
    "DagStop",
    "DagWait",
    "HasBundles",
    "Hello",
    "Message",
    "MessageError",
    "Op",
    "Ping",
    "Probe",
    "PutBundle",
    "decode",
]


class Op(enum.StrEnum):
    """An operation a message asks a worker for (the ``op`` field of its header)."""

    HELLO = "hello"
    """Version checks; the worker's description."""
    HAS_BUNDLES = "has_bundles"
    """Which of these bundles do you hold for my session?"""
    PUT_BUNDLE = "put_bundle"
    """Store this bundle (hash, format, Python version and requirements checked)."""
    BYE = "bye"
    """My session ends: drop its code and runs."""
    PING = "ping"
    """An empty round trip (liveness, round trip and bandwidth probes; renews the lease)."""
    PROBE = "probe"
    """Time the fixed probe benchmark in a call slot."""
    CALL = "call"
    """Run one offloaded call."""
    BEAT = "beat"
    """Inside a call: the client is still waiting (renews the call's lease)."""
    CANCEL = "cancel"
    """Inside a call: stop it, nobody wants its result."""
    DAG_PLAN = "dag_plan"
    """This node's part of a DAG run (one epoch; a re-plan is a new epoch)."""
    DAG_GO = "dag_go"
    """Start an epoch at a given time."""
    DAG_PUT = "dag_put"
    """A peer's result for a run (pushed by its producer)."""
    DAG_WAIT = "dag_wait"
    """Block until the epoch finishes, fails, stops or a timeout passes."""
    DAG_STOP = "dag_stop"
    """Stop starting tasks of an epoch; say which results this node holds."""
    DAG_COLLECT = "dag_collect"
    """The run's records and requested results."""
    DAG_RELEASE = "dag_release"
    """Forget a run."""
    DAG_CLOCK = "dag_clock"
    """This worker's clock (``time.time()``)."""
    DAG_LINK = "dag_link"
    """Measure round trip and bandwidth to a peer worker."""
    DAG_CALL = "dag_call"
    """Run one function here, now (pinned calls, calibration kernels)."""

    @classmethod
    def parse(cls, value: object) -> Op | None:
        """The member named ``value``, or ``None`` for anything else."""
        try:
            return cls(value) if isinstance(value, str) else None
        except ValueError:
            return None


DAG_OPS = frozenset(op for op in Op if op.value.startswith("dag_"))
"""The operations of scheduled DAG runs."""

PEER_OPS = frozenset({Op.PING, Op.DAG_PUT})
"""What a worker may send another worker (result pushes, link measurements)."""

CLIENT_OPS = frozenset(Op) - {Op.DAG_PUT}
"""What a client may send a worker."""

OFFLOADED_MARK = "__edgeoffload_offloaded__"
"""Attribute set (true) on ``@offload`` wrappers: a worker finding one runs the function
it wraps (``__wrapped__``), so a task is never offloaded a second time."""


M = TypeVar("M", bound="Message")


@dataclass(frozen=True, slots=True)
class Message:
    """Base of every message: its :class:`Op` and its typed header fields."""

    op: ClassVar[Op]

    def header(self, **extra: Any) -> dict[str, Any]:
        """The JSON header: ``op`` and every field (``None`` fields left out)."""
        out: dict[str, Any] = {"op": self.op.value}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = value
        out.update(extra)
        return out

    @classmethod
    def from_header(cls: type[M], header: Mapping[str, Any]) -> M:
        """Read and check a header of this operation (raises :class:`MessageError`)."""
        schema = _schema(cls)
        unknown = sorted(k for k in header if k != "op" and k not in schema)
        if unknown:
            raise MessageError(f"{cls.op}: unknown field(s) {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, (check, required, where) in schema.items():
            if name in header:
                values[name] = check(header[name], where)
            elif required:
                raise MessageError(f"{cls.op}: missing field {name}")
        return cls(**values)


_Check = Callable[[Any, str], Any]
"""A field's check: ``check(value, where)`` is ``value`` (a float as float) or raises
:class:`MessageError` naming ``where``."""

_SCHEMAS: dict[type[Message], dict[str, tuple[_Check, bool, str]]] = {}


def _schema(cls: type[Message]) -> dict[str, tuple[_Check, bool, str]]:
    """Each field of a message type: its check, whether it is required and its name in
    errors (computed once per type: no type reflection per message)."""
    schema = _SCHEMAS.get(cls)
    if schema is None:
        hints = typing.get_type_hints(cls)
        schema = _SCHEMAS[cls] = {
            f.name: (
                _checker(hints[f.name]),
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
                f"{cls.op}.{f.name}",
            )
            for f in dataclasses.fields(cls)
        }
    return schema


def _checker(kind: Any) -> _Check:
    """The check of a field of type ``kind`` (JSON types only)."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        nullable = type(None) in options
        checks = [_checker(option) for option in options if option is not type(None)]

        def check_union(value: Any, where: str) -> Any:
            if value is None and nullable:
                return None
            errors = []
            for check in checks:
                try:
                    return check(value, where)
                except MessageError as exc:
                    errors.append(str(exc))
            raise MessageError(errors[0] if errors else f"{where}: got {value!r}")

        return check_union
    if kind is Any:
        return lambda value, where: value
    name = getattr(kind, "__name__", str(kind))

    def wrong(value: Any, where: str) -> MessageError:
        return MessageError(f"{where}: must be {name}, got {type(value).__name__} {value!r}")

    if kind is bool or kind is str:

        def check_exact(value: Any, where: str) -> Any:
            if isinstance(value, kind):
                return value
            raise wrong(value, where)

        return check_exact
    if kind is int:

        def check_int(value: Any, where: str) -> Any:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            raise wrong(value, where)

        return check_int
    if kind is float:

        def check_float(value: Any, where: str) -> Any:
            if isinstance(value, int | float) and not isinstance(value, bool):
                number = float(value)
                if math.isfinite(number):
                    return number
                raise MessageError(f"{where}: must be finite, got {value!r}")
            raise wrong(value, where)

        return check_float
    if origin is list or kind is list:
        (item_kind,) = typing.get_args(kind) or (Any,)
        item = _checker(item_kind)

        def check_list(value: Any, where: str) -> Any:
            if isinstance(value, list):
                return [item(v, f"{where}[{i}]") for i, v in enumerate(value)]
            raise wrong(value, where)

        return check_list
    if origin is dict or kind is dict:
        key_kind, item_kind = typing.get_args(kind) or (str, Any)
        key, item = _checker(key_kind), _checker(item_kind)

        def check_dict(value: Any, where: str) -> Any:
            if isinstance(value, dict):
                return {key(k, where): item(v, f"{where}.{k}") for k, v in value.items()}
            raise wrong(value, where)

        return check_dict
    raise TypeError(f"unsupported field type {kind!r}")  # pragma: no cover - a new field type


# --------------------------------------------------------------------------- sessions


@dataclass(frozen=True, slots=True)
class Hello(Message):
    """Greet a worker; it refuses another Python (major.minor) or protocol version."""

    op: ClassVar[Op] = Op.HELLO
    session: str
    python: str
    protocol: int


@dataclass(frozen=True, slots=True)
class HasBundles(Message):
    """Which of ``hashes`` does the worker hold for this session?"""

    op: ClassVar[Op] = Op.HAS_BUNDLES
    session: str
    hashes: list[str]


@dataclass(frozen=True, slots=True)
class PutBundle(Message):
    """Store a bundle; its bytes are the message's only frame."""

    op: ClassVar[Op] = Op.PUT_BUNDLE
    session: str
    digest: str


@dataclass(frozen=True, slots=True)
class Bye(Message):
    """The session ends: the worker drops its code, runs and calls."""

    op: ClassVar[Op] = Op.BYE
    session: str


@dataclass(frozen=True, slots=True)
class Ping(Message):
    """An empty round trip; with ``session``, it renews that session's lease."""

    op: ClassVar[Op] = Op.PING
    session: str | None = None


# --------------------------------------------------------------------------- calls


@dataclass(frozen=True, slots=True)
class Probe(Message):
    """Time ``work`` iterations of the probe benchmark in a call slot."""

    op: ClassVar[Op] = Op.PROBE
    session: str
    work: int
    beat: float | None = None
    lease: float | None = None


@dataclass(frozen=True, slots=True)
class Call(Message):
    """Run ``module:qualname`` of bundle ``bundle`` with the pickled ``(args, kwargs)``
    in the frames.

    With ``beat`` (seconds), the worker sends ``{"status": "beat"}`` that often while the
    call waits or runs, and the client answers each with :class:`Beat`; a worker that
    hears nothing from the client for ``lease`` seconds stops the call.
    """

    op: ClassVar[Op] = Op.CALL
    session: str
    call: str
    bundle: str
    module: str
    qualname: str
    beat: float | None = None
    lease: float | None = None


@dataclass(frozen=True, slots=True)
class Beat(Message):
    """The client still waits for the call on this connection."""

    op: ClassVar[Op] = Op.BEAT


@dataclass(frozen=True, slots=True)
class Cancel(Message):
    """Stop the call on this connection: its result is not wanted any more."""

    op: ClassVar[Op] = Op.CANCEL


# --------------------------------------------------------------------------- DAG runs


@dataclass(frozen=True, slots=True)
class DagCall(Message):
    """Run one function now, here: ``fn`` is ``[bundle hash or null, module, qualname]``,
    the frames the pickled ``(args, kwargs)``; ``bundles`` its code."""

    op: ClassVar[Op] = Op.DAG_CALL
    session: str
    fn: list[str | None]
    bundles: list[str] = field(default_factory=list)
    beat: float | None = None
    lease: float | None = None


@dataclass(frozen=True, slots=True)
class DagPlan(Message):
    """This node's part of run ``run`` for epoch ``epoch``.

    ``tasks``: in run order, each ``{"id", "fn", "inputs", "payload": [first frame,
    count], "release", "send": [[node, needed], ...]}``; ``forward``: results held here
    to push on, ``[[task, [[node, needed], ...]], ...]``; ``peers``: node -> channel
    address; ``t0``: the start (``None``: wait for :class:`DagGo`).
    """

    op: ClassVar[Op] = Op.DAG_PLAN
    session: str
    run: str
    epoch: int
    node: str
    peers: dict[str, str]
    tasks: list[dict[str, Any]]
    bundles: list[str] = field(default_factory=list)
    forward: list[list[Any]] = field(default_factory=list)
    t0: float | None = None


@dataclass(frozen=True, slots=True)
class DagGo(Message):
    """Start epoch ``epoch`` of run ``run`` at ``t0`` (this worker's clock)."""

    op: ClassVar[Op] = Op.DAG_GO
    session: str
    run: str
    epoch: int
    t0: float


@dataclass(frozen=True, slots=True)
class DagPut(Message):
    """The result of ``task`` for run ``run`` of ``owner``, pushed by its producer; the
    frames are the pickled result."""

    op: ClassVar[Op] = Op.DAG_PUT
    owner: str
    run: str
    task: str


@dataclass(frozen=True, slots=True)
class DagWait(Message):
    """Answer when the epoch is done, failed or stopped, a push failed, or after
    ``timeout`` seconds; send the records from the given counts on."""

    op: ClassVar[Op] = Op.DAG_WAIT
    session: str
    run: str
    epoch: int
    timeout: float = 1.0
    records_from: int = 0
    transfers_from: int = 0


@dataclass(frozen=True, slots=True)
class DagStop(Message):
    """Start no more tasks of the epoch; wait up to ``timeout`` for the running one."""

    op: ClassVar[Op] = Op.DAG_STOP
    session: str
    run: str
    epoch: int
    timeout: float = 600.0


@dataclass(frozen=True, slots=True)
class DagCollect(Message):
    """The run's records and the results of ``outputs`` held here."""

    op: ClassVar[Op] = Op.DAG_COLLECT
    session: str
    run: str
    outputs: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DagRelease(Message):
    """Forget run ``run``."""

    op: ClassVar[Op] = Op.DAG_RELEASE
    session: str
    run: str


@dataclass(frozen=True, slots=True)
class DagClock(Message):
    """This worker's ``time.time()``."""

    op: ClassVar[Op] = Op.DAG_CLOCK


@dataclass(frozen=True, slots=True)
class DagLink(Message):
    """Measure round trip and bandwidth from this worker to the peer at ``address``."""

    op: ClassVar[Op] = Op.DAG_LINK
    address: str
    pings: int | None = None
    repeats: int | None = None
    size: int | None = None
    max_size: int | None = None
    min_seconds: float | None = None


MESSAGES: Mapping[Op, type[Message]] = {
    cls.op: cls
    for cls in (
        Hello,
        HasBundles,
        PutBundle,
        Bye,
        Ping,
        Probe,
        Call,
        Beat,
        Cancel,
        DagCall,
        DagPlan,
        DagGo,
        DagPut,
        DagWait,
        DagStop,
        DagCollect,
        DagRelease,
        DagClock,
        DagLink,
    )
}
"""The message type of every operation."""


def decode(header: Mapping[str, Any]) -> Message:
    """The typed message a header stands for.

    Raises
    ------
    MessageError
        Unknown operation, a missing or unknown field, or a field of the wrong type.
    """
    op = Op.parse(header.get("op"))
    if op is None:
        raise MessageError(f"unknown operation {header.get('op')!r}")
    return MESSAGES[op].from_header(header)
