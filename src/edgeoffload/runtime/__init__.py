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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_EXPORTS: dict[str, str] = {
    "AlwaysLocalPolicy": "edgeoffload.runtime.client.decision",
    "AlwaysRemotePolicy": "edgeoffload.runtime.client.decision",
    "BoundOffloadedFunction": "edgeoffload.runtime.client.decorators",
    "Calibration": "edgeoffload.runtime.client.calibration",
    "CallRecord": "edgeoffload.runtime.client.stats",
    "DEFAULT_DEADLINE": "edgeoffload.runtime.client.session",
    "Dag": "edgeoffload.runtime.dag",
    "DagProblem": "edgeoffload.runtime.dag",
    "DagRequest": "edgeoffload.runtime.dag",
    "DagRun": "edgeoffload.runtime.dag",
    "DecisionEngine": "edgeoffload.runtime.client.decision",
    "EnergyPolicy": "edgeoffload.runtime.client.decision",
    "Estimate": "edgeoffload.runtime.client.decision",
    "LatencyPolicy": "edgeoffload.runtime.client.decision",
    "LocalCluster": "edgeoffload.runtime.client.local_cluster",
    "OffloadedFunction": "edgeoffload.runtime.client.decorators",
    "POLICIES": "edgeoffload.runtime.client.decision",
    "Policy": "edgeoffload.runtime.client.decision",
    "PoolWorker": "edgeoffload.runtime.client.pool",
    "Probe": "edgeoffload.runtime.client.decision",
    "Session": "edgeoffload.runtime.client.session",
    "SessionStats": "edgeoffload.runtime.client.stats",
    "TaskCall": "edgeoffload.runtime.dag",
    "WorkerPool": "edgeoffload.runtime.client.pool",
    "WorkerSpec": "edgeoffload.runtime.client.local_cluster",
    "calibrate_cluster": "edgeoffload.runtime.client.calibration",
    "connect": "edgeoffload.runtime.client.session",
    "current_session": "edgeoffload.runtime.client.session",
    "get_policy": "edgeoffload.runtime.client.decision",
    "load_cluster_file": "edgeoffload.runtime.client.calibration",
    "offload": "edgeoffload.runtime.client.decorators",
    "register_policy": "edgeoffload.runtime.client.decision",
    "run_dag": "edgeoffload.runtime.dag",
    "run_local": "edgeoffload.runtime.dag",
}
"""Each public name and the module that defines it: imported on first use, so that
``import edgeoffload.runtime`` (and every process of a cluster) starts fast."""


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edgeoffload.runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
