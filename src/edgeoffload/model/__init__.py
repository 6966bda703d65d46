"""The shared vocabulary: task graphs, clusters, problems, the cost model and schedules.

Pure data and arithmetic (numpy only): no scheduling policy, no I/O beyond reading and
writing the problem file's JSON form.
"""

from __future__ import annotations

from edgeoffload.model.cluster import ROLES, Cluster, Link, Node, PowerProfile, Role
from edgeoffload.model.costs import CostModel
from edgeoffload.model.order import execution_order
from edgeoffload.model.problem import IMPLICIT_REQUEST, Problem, Request
from edgeoffload.model.problem_file import (
    FORMAT_VERSION,
    load_problem,
    problem_from_dict,
    problem_text,
    problem_to_dict,
)
from edgeoffload.model.report import (
    RequestOutcome,
    mean_latency,
    request_outcomes,
    schedule_report,
)
from edgeoffload.model.requests import SOURCE_TASK, AppRequest, merge_requests
from edgeoffload.model.schedule import Assignment, Schedule
from edgeoffload.model.task_graph import Dependency, NodeId, RequestId, Task, TaskGraph, TaskId
from edgeoffload.model.validate import schedule_violations, validate_schedule

__all__ = [
    "FORMAT_VERSION",
    "IMPLICIT_REQUEST",
    "ROLES",
    "SOURCE_TASK",
    "AppRequest",
    "Assignment",
    "Cluster",
    "CostModel",
    "Dependency",
    "Link",
    "Node",
    "NodeId",
    "PowerProfile",
    "Problem",
    "Request",
    "RequestId",
    "RequestOutcome",
    "Role",
    "Schedule",
    "Task",
    "TaskGraph",
    "TaskId",
    "execution_order",
    "load_problem",
    "mean_latency",
    "merge_requests",
    "problem_from_dict",
    "problem_text",
    "problem_to_dict",
    "request_outcomes",
    "schedule_report",
    "schedule_violations",
    "validate_schedule",
]
