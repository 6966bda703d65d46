"""Discrete-event simulation (simpy) of schedules on a modelled edge cluster.

:func:`simulate` executes a given :class:`~edgeoffload.model.Schedule` with cores per
node, dedicated or shared (wireless) links, per-message latency, tensors sent once per
destination node, seeded variability, node failures and energy per node;
:func:`simulate_stream` schedules camera frames as they arrive and runs them. Results
are typed records (:mod:`edgeoffload.simulation.records`). This is the only package that
imports simpy.
"""

from __future__ import annotations

from edgeoffload.simulation.batch import simulate
from edgeoffload.simulation.config import (
    FAILURE_POLICIES,
    LINK_MODELS,
    TRANSFER_MODES,
    Medium,
    Network,
    NodeFailure,
    SimConfig,
)
from edgeoffload.simulation.records import (
    NodeStats,
    ReplanRecord,
    RequestResult,
    SimResult,
    TaskRecord,
    TaskTable,
    TraceEvent,
)
from edgeoffload.simulation.streams import (
    FrameStream,
    LocalPlanner,
    Placement,
    Planner,
    RequestTemplate,
    SchedulerPlanner,
    StreamResult,
    simulate_stream,
)
from edgeoffload.simulation.variability import LognormalVariability, NoVariability, Variability

__all__ = [
    "FAILURE_POLICIES",
    "LINK_MODELS",
    "TRANSFER_MODES",
    "FrameStream",
    "LocalPlanner",
    "LognormalVariability",
    "Medium",
    "Network",
    "NoVariability",
    "NodeFailure",
    "NodeStats",
    "Placement",
    "Planner",
    "ReplanRecord",
    "RequestResult",
    "RequestTemplate",
    "SchedulerPlanner",
    "SimConfig",
    "SimResult",
    "StreamResult",
    "TaskRecord",
    "TaskTable",
    "TraceEvent",
    "Variability",
    "simulate",
    "simulate_stream",
]
