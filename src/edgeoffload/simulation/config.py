"""What the simulator assumes: the network model, transfers, failures and variability.

Plain frozen dataclasses (no simpy): a scenario file compiles to a :class:`SimConfig`, and
:meth:`SimConfig.schedulers_assumptions` is the configuration under which a simulated run
reproduces the schedulers' predicted times exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, get_args

from edgeoffload.errors import ModelError
from edgeoffload.model.checks import check_id, check_number
from edgeoffload.model.task_graph import NodeId
from edgeoffload.schedulers.registry import check_scheduler_name
from edgeoffload.simulation.variability import NoVariability, Variability

__all__ = [
    "FAILURE_POLICIES",
    "LINK_MODELS",
    "TRANSFER_MODES",
    "FailurePolicy",
    "LinkModel",
    "Medium",
    "Network",
    "NodeFailure",
    "SimConfig",
    "TransferMode",
]

LinkModel = Literal["dedicated", "shared"]
LINK_MODELS: tuple[str, ...] = get_args(LinkModel)
TransferMode = Literal["per-node", "per-dependency"]
TRANSFER_MODES: tuple[str, ...] = get_args(TransferMode)
FailurePolicy = Literal["fail", "rerun", "replan"]
FAILURE_POLICIES: tuple[str, ...] = get_args(FailurePolicy)


@dataclass(frozen=True, slots=True)
class Medium:
    """A shared wireless medium (one Wi-Fi channel): its members share airtime.

    Parameters
    ----------
    name
        Name of the medium (``"wifi"``).
    nodes
        Members. A transfer whose sender *or* receiver is a member crosses this medium.

    Notes
    -----
    A transfer of *d* bytes between nodes *p* and *q* needs ``d / bandwidth(p, q)``
    seconds of airtime, the bandwidth being the link's (``Cluster.link``): the rate the
    pair gets when it has the channel to itself. While *n* transfers are on the medium each
    gets 1/n of the airtime (processor sharing, Wi-Fi's airtime fairness), so a transfer
    alone takes exactly the cost model's time and two equal ones started together both
    finish after twice that.
    """

    name: str
    nodes: frozenset[NodeId]

    def __init__(self, name: str, nodes: Iterable[NodeId]) -> None:
        object.__setattr__(self, "name", check_id(name, "medium.name"))
        members = frozenset(check_id(n, f"medium {name!r}.nodes") for n in nodes)
        if not members:
            raise ModelError("a medium needs at least one node", f"medium {name!r}.nodes")
        object.__setattr__(self, "nodes", members)


@dataclass(frozen=True, slots=True)
class Network:
    """How transfers share the network.

    Parameters
    ----------
    model
        ``"dedicated"``: every ordered pair of nodes has a link of its own (the cluster's
        link for the pair). ``"shared"``: transfers touching a member of a :class:`Medium`
        share its airtime; other pairs use dedicated links.
    contention
        Dedicated links only: whether transfers on the same ordered pair share its
        bandwidth (processor sharing). ``False`` (default) is the schedulers' assumption:
        every transfer gets the full bandwidth, however many are under way.
    media
        The shared media (``model="shared"`` needs at least one; a node may belong to one
        medium only).

    Notes
    -----
    Every transfer first pays the link's per-message latency (seconds; not airtime), then
    moves its bytes. Transfers between two tasks on the same node take no time.
    """

    model: LinkModel = "dedicated"
    contention: bool = False
    media: tuple[Medium, ...] = ()

    def __post_init__(self) -> None:
        if self.model not in LINK_MODELS:
            raise ModelError(
                f"must be one of {', '.join(LINK_MODELS)}; got {self.model!r}", "network.model"
            )
        object.__setattr__(self, "media", tuple(self.media))
        if self.model == "shared" and not self.media:
            raise ModelError("a shared network needs at least one medium", "network.media")
        if self.model == "dedicated" and self.media:
            raise ModelError("media are for model 'shared'", "network.media")
        seen: dict[NodeId, str] = {}
        names: set[str] = set()
        for medium in self.media:
            if medium.name in names:
                raise ModelError(f"duplicate medium {medium.name!r}", "network.media")
            names.add(medium.name)
            for node in sorted(medium.nodes):
                if node in seen:
                    raise ModelError(
                        f"node {node!r} is on media {seen[node]!r} and {medium.name!r}",
                        "network.media",
                    )
                seen[node] = medium.name


@dataclass(frozen=True, slots=True)
class NodeFailure:
    """Node ``node`` fails for good at time ``at`` (seconds).

    Its running and queued tasks are lost at that instant; what happens to them is the
    :attr:`SimConfig.failure_policy`. A transfer already under way from the node is
    delivered (its bytes are treated as handed to the network), and the node draws no
    power afterwards.
    """

    node: NodeId
    at: float

    def __post_init__(self) -> None:
        check_id(self.node, "failure.node")
        object.__setattr__(self, "at", check_number(self.at, f"failure {self.node!r}.at"))


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything the simulator assumes beyond the problem and the schedule.

    Parameters
    ----------
    network
        Link model (default: dedicated links without contention).
    transfers
        ``"per-node"`` (default): a task's output is sent once to each node that has a
        consumer of it, carrying the largest of those dependencies' data (a tensor read by
        several layers is one tensor). ``"per-dependency"``: one transfer per dependency,
        the schedulers' assumption. Without contention both give the same times when the
        dependencies of one tensor carry the same data.
    use_cores
        Whether a node runs up to ``Node.cores`` tasks at once (default) or one, as the
        list schedulers assume. Tasks on a node start in the schedule's order either way.
    variability
        Random multipliers of execution and transfer times (default: none).
    failures
        Node failures to inject.
    failure_policy
        ``"fail"`` (default): lost tasks are reported failed and everything that needs
        them never runs. ``"rerun"``: each lost task, and each finished task whose output
        lived only on a failed node and is still needed, runs again on a surviving node,
        taken in the schedule's order: the node that minimises its execution time plus the
        longest transfer of its inputs from where they are (or will be) to that node, an
        estimate that ignores queues (ties by node order). It joins that node's queue by
        its scheduled start; its inputs are re-sent from where they are. Pinned tasks
        cannot move and fail. ``"replan"``: what the runtime's DAG runner does. At a
        failure every surviving node finishes the tasks it is running and starts nothing
        more of the plan; when they are done the rest of the problem is scheduled again
        with a scheduler (:attr:`replan_algorithm`) on the survivors, busy from then on
        (:func:`~edgeoffload.schedulers.remaining_problem`), finished results that survive
        reused where they are, and the new plan runs in the same simulation. A needed task
        pinned to a failed node ends the re-planning: the run goes on as under ``"fail"``.
        Needs :func:`~edgeoffload.simulation.simulate` (a problem to re-plan).
    replan_algorithm
        Name of the registered scheduler that re-plans under ``"replan"`` (default
        ``None``: the schedule's own algorithm when it is registered, else ``"heft"``).
        Only for ``failure_policy="replan"``.
    record_trace
        Keep a :class:`~edgeoffload.simulation.records.TraceEvent` per task start and
        finish, transfer start and end, failure and re-plan (default ``True``; turn it off
        for very large runs).
    validate
        Check the schedule against the problem before simulating (default ``True``).

    Raises
    ------
    ModelError
        An unknown transfer mode or failure policy; a ``replan_algorithm`` that is not a
        registered scheduler, or one given with another policy than ``"replan"``.
    """

    network: Network = field(default_factory=Network)
    transfers: TransferMode = "per-node"
    use_cores: bool = True
    variability: Variability = field(default_factory=NoVariability)
    failures: tuple[NodeFailure, ...] = ()
    failure_policy: FailurePolicy = "fail"
    replan_algorithm: str | None = None
    record_trace: bool = True
    validate: bool = True

    def __post_init__(self) -> None:
        if self.transfers not in TRANSFER_MODES:
            raise ModelError(
                f"must be one of {', '.join(TRANSFER_MODES)}; got {self.transfers!r}",
                "transfers",
            )
        if self.failure_policy not in FAILURE_POLICIES:
            raise ModelError(
                f"must be one of {', '.join(FAILURE_POLICIES)}; got {self.failure_policy!r}",
                "failure_policy",
            )
        object.__setattr__(self, "failures", tuple(self.failures))
        if self.replan_algorithm is not None:
            if self.failure_policy != "replan":
                raise ModelError(
                    f"is for failure_policy 'replan'; the policy is {self.failure_policy!r}",
                    "replan_algorithm",
                )
            check_scheduler_name(self.replan_algorithm, "replan_algorithm")

    @classmethod
    def schedulers_assumptions(cls, **changes: object) -> SimConfig:
        """The list schedulers' model: dedicated links without contention, one core per
        node, one transfer per dependency, no variability, no failures.

        Under it the simulated start and finish of every task equal the schedule's exactly.
        """
        base: dict[str, object] = {
            "network": Network(),
            "transfers": "per-dependency",
            "use_cores": False,
            "variability": NoVariability(),
        }
        base.update(changes)
        return cls(**base)  # type: ignore[arg-type]

    @property
    def is_deterministic(self) -> bool:
        """Whether runs need no random numbers."""
        return self.variability.is_deterministic
