"""Every operation of the direct channel, named once.

Both halves of the runtime name operations through :class:`Op`; nothing writes an
operation as a string literal. The worker dispatches a message through an explicit
handler table keyed by :class:`Op` (:mod:`edgeoffload.runtime.worker.agent`), and a
message whose ``op`` is not a member is refused with one line.
"""

from __future__ import annotations

import enum

__all__ = ["DAG_OPS", "OFFLOADED_MARK", "Op"]


class Op(enum.StrEnum):
    """An operation a message asks a worker for (the ``op`` field of its header)."""

    PING = "ping"
    """An empty round trip (liveness, round trip and bandwidth probes)."""
    PROBE = "probe"
    """Time the fixed probe benchmark in a call slot."""
    CALL = "call"
    """Run one offloaded call."""
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

OFFLOADED_MARK = "__edgeoffload_offloaded__"
"""Attribute set (true) on ``@offload`` wrappers: a worker finding one runs the function
it wraps (``__wrapped__``), so a task is never offloaded a second time."""
