"""Real offloading on Dask distributed: COFA in Python.

Mark a heavy function with :func:`offload`, open a session with :func:`connect`, and call
the function as before: it runs wherever it is predicted to finish soonest::

    import edgeoffload

    @edgeoffload.offload
    def score(board, depth): ...

    with edgeoffload.connect() as session:      # an embedded cluster on loopback
        score(board, 6)
        session.print_summary()

Importing this package does not import Dask; starting a session does. See
``docs/runtime.md`` for decisions, policies, security and fault handling, and
``docs/dag-execution.md`` for scheduled DAGs (:func:`run_dag`) and calibration.
"""

from __future__ import annotations

from edgeoffload.runtime.calibration import Calibration, calibrate_cluster, load_cluster_file
from edgeoffload.runtime.dag import (
    Dag,
    DagProblem,
    DagRequest,
    DagRun,
    TaskCall,
    run_dag,
    run_local,
)
from edgeoffload.runtime.decision import (
    POLICIES,
    AlwaysLocalPolicy,
    AlwaysRemotePolicy,
    DecisionEngine,
    EnergyPolicy,
    Estimate,
    LatencyPolicy,
    Policy,
    Probe,
    get_policy,
    register_policy,
)
from edgeoffload.runtime.decorators import BoundOffloadedFunction, OffloadedFunction, offload
from edgeoffload.runtime.session import (
    DEFAULT_DEADLINE,
    LocalCluster,
    Session,
    WorkerSpec,
    connect,
    current_session,
)
from edgeoffload.runtime.stats import CallRecord, SessionStats

__all__ = [
    "DEFAULT_DEADLINE",
    "POLICIES",
    "AlwaysLocalPolicy",
    "AlwaysRemotePolicy",
    "BoundOffloadedFunction",
    "Calibration",
    "CallRecord",
    "Dag",
    "DagProblem",
    "DagRequest",
    "DagRun",
    "DecisionEngine",
    "EnergyPolicy",
    "Estimate",
    "LatencyPolicy",
    "LocalCluster",
    "OffloadedFunction",
    "Policy",
    "Probe",
    "Session",
    "SessionStats",
    "TaskCall",
    "WorkerSpec",
    "calibrate_cluster",
    "connect",
    "current_session",
    "get_policy",
    "load_cluster_file",
    "offload",
    "register_policy",
    "run_dag",
    "run_local",
]
