"""edgeoffload: let weak edge devices get heavy work done by the machines around them.

Model a DAG of tasks and a heterogeneous cluster, schedule it (HEFT, CPOP, PEFT, DHS, a
portfolio, the Local and Edge baselines), simulate it, or run it for real on Dask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgeoffload._version import __version__
from edgeoffload.errors import EdgeOffloadError, ModelError, OffloadError
from edgeoffload.model import (
    AppRequest,
    Assignment,
    Cluster,
    Dependency,
    Link,
    Node,
    PowerProfile,
    Problem,
    Request,
    Schedule,
    Task,
    TaskGraph,
    load_problem,
    merge_requests,
    validate_schedule,
)
from edgeoffload.schedulers import Scheduler, get_scheduler, register_scheduler, schedule

# The runtime (offload, connect, WorkerSpec) is imported on first use, so that
# ``import edgeoffload`` works without Dask and stays fast.
_RUNTIME_EXPORTS = ("WorkerSpec", "connect", "offload")
if TYPE_CHECKING:
    from edgeoffload.runtime import WorkerSpec, connect, offload


def __getattr__(name: str) -> object:
    if name in _RUNTIME_EXPORTS:
        from edgeoffload import runtime

        return getattr(runtime, name)
    raise AttributeError(f"module 'edgeoffload' has no attribute {name!r}")


__all__ = [
    "AppRequest",
    "Assignment",
    "Cluster",
    "Dependency",
    "EdgeOffloadError",
    "Link",
    "ModelError",
    "Node",
    "OffloadError",
    "PowerProfile",
    "Problem",
    "Request",
    "Schedule",
    "Scheduler",
    "Task",
    "TaskGraph",
    "WorkerSpec",
    "__version__",
    "connect",
    "get_scheduler",
    "load_problem",
    "merge_requests",
    "offload",
    "register_scheduler",
    "schedule",
    "validate_schedule",
]
