"""edgeoffload: let weak edge devices get heavy work done by the machines around them.

Model a DAG of tasks and a heterogeneous cluster, schedule it (HEFT, CPOP, PEFT, DHS, a
portfolio, the Local and Edge baselines), simulate it, or run it for real on Dask.
"""

from __future__ import annotations

from edgeoffload.errors import EdgeOffloadError, ModelError
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

__version__ = "0.1.0"

__all__ = [
    "AppRequest",
    "Assignment",
    "Cluster",
    "Dependency",
    "EdgeOffloadError",
    "Link",
    "ModelError",
    "Node",
    "PowerProfile",
    "Problem",
    "Request",
    "Schedule",
    "Scheduler",
    "Task",
    "TaskGraph",
    "__version__",
    "get_scheduler",
    "load_problem",
    "merge_requests",
    "register_scheduler",
    "schedule",
    "validate_schedule",
]
