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

The runtime is built in one-way layers, each a package: :mod:`.host` (processes, CPU
quotas) and :mod:`.wire` (messages, channel, bundles, TLS, the Dask adapter) at the
bottom, then :mod:`.worker` (what runs in a worker), :mod:`.client` (sessions and the
worker pool) and :mod:`.dag` (scheduled DAGs); a module imports only from its own layer
and those below it (checked by ``tests/test_architecture.py``).
"""

from __future__ import annotations

from edgeoffload.runtime.client.calibration import (
    Calibration,
    calibrate_cluster,
    load_cluster_file,
)
from edgeoffload.runtime.client.decision import (
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
from edgeoffload.runtime.client.decorators import (
    BoundOffloadedFunction,
    OffloadedFunction,
    offload,
)
from edgeoffload.runtime.client.local_cluster import LocalCluster, WorkerSpec
from edgeoffload.runtime.client.pool import PoolWorker, WorkerPool
from edgeoffload.runtime.client.session import (
    DEFAULT_DEADLINE,
    Session,
    connect,
    current_session,
)
from edgeoffload.runtime.client.stats import CallRecord, SessionStats
from edgeoffload.runtime.dag import (
    Dag,
    DagProblem,
    DagRequest,
    DagRun,
    TaskCall,
    run_dag,
    run_local,
)

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
    "PoolWorker",
    "Probe",
    "Session",
    "SessionStats",
    "TaskCall",
    "WorkerPool",
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
