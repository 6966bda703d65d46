"""Scheduled DAGs on real workers: the schedule the simulator evaluates is what runs.

The application model (:mod:`.model`: :class:`~.model.Dag`, :class:`~.model.DagRequest`,
:class:`~.model.DagProblem`, :class:`~.model.TaskCall`), what a run reports
(:mod:`.records`) and the runner (:mod:`.runner`: :func:`~.runner.run_dag`). The top of
the runtime's layers: it drives a session's
:class:`~edgeoffload.runtime.client.pool.WorkerPool` through its public methods.
"""

from __future__ import annotations

from edgeoffload.runtime.dag.model import Dag, DagProblem, DagRequest, TaskCall, run_local
from edgeoffload.runtime.dag.records import DagRun, RequestTiming, TaskExecution, TransferRecord
from edgeoffload.runtime.dag.runner import run_dag, session_cluster

__all__ = [
    "Dag",
    "DagProblem",
    "DagRequest",
    "DagRun",
    "RequestTiming",
    "TaskCall",
    "TaskExecution",
    "TransferRecord",
    "run_dag",
    "run_local",
    "session_cluster",
]
