"""Typed messages: a header is decoded field by field, or refused naming the field."""

from __future__ import annotations

import pytest

from edgeoffload.runtime.wire.ops import (
    Call,
    DagPlan,
    DagWait,
    HasBundles,
    MessageError,
    Op,
    decode,
)


def test_a_header_round_trips_with_ints_taken_as_floats() -> None:
    call = Call(session="s", call="c1", bundle="b", module="app", qualname="f", beat=1)
    assert call.header() == {
        "op": "call",
        "session": "s",
        "call": "c1",
        "bundle": "b",
        "module": "app",
        "qualname": "f",
        "beat": 1,
    }  # None fields are left out
    decoded = decode(call.header())
    assert decoded == call
    assert isinstance(decoded, Call) and isinstance(decoded.beat, float)
    assert decode({**call.header(), "lease": None}).lease is None  # optional: None allowed
    assert DagWait.from_header({"session": "s", "run": "r", "epoch": 2}).timeout == 1.0


@pytest.mark.parametrize(
    ("cls", "header", "message"),
    [
        (HasBundles, {"session": "s", "hashes": ["a"], "more": 1}, r"unknown field\(s\) more"),
        (HasBundles, {"session": "s"}, "missing field hashes"),
        (HasBundles, {"session": "s", "hashes": "a"}, r"has_bundles\.hashes: must be list"),
        (HasBundles, {"session": "s", "hashes": ["a", 2]}, r"\.hashes\[1\]: must be str"),
        (DagWait, {"session": "s", "run": "r", "epoch": True}, r"\.epoch: must be int"),
        (DagWait, {"session": "s", "run": "r", "epoch": 1.0}, r"\.epoch: must be int"),
        (DagWait, {"session": "s", "run": "r", "epoch": 1, "timeout": 1e999}, "must be finite"),
        (DagWait, {"session": "s", "run": "r", "epoch": 1, "timeout": "1"}, "must be float"),
        (
            DagPlan,
            {"session": "s", "run": "r", "epoch": 1, "node": "n", "peers": {"w": 3}, "tasks": []},
            r"dag_plan\.peers\.w: must be str",
        ),
    ],
)
def test_a_bad_field_is_refused_by_name(cls: type, header: dict, message: str) -> None:
    with pytest.raises(MessageError, match=message):
        cls.from_header({"op": cls.op.value, **header})


def test_an_unknown_operation_is_refused() -> None:
    assert Op.parse("no-such-op") is None
    with pytest.raises(MessageError, match="unknown operation 'no-such-op'"):
        decode({"op": "no-such-op"})
