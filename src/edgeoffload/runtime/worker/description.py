"""How a worker describes itself: the simulator's node model, as plain values.

``edgeoffload worker --role camera --preset jetson-tx2`` (or explicit ``--speed`` and
``--power``) gives a worker the figures the simulator's devices have, so the runtime's
decisions, DHS and the energy policy see the same cluster model as the simulator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, cast

from edgeoffload.errors import ModelError
from edgeoffload.model.cluster import ROLES, Node, PowerProfile, Role

__all__ = ["WorkerDescription", "describe_from_preset"]


@dataclass(frozen=True, slots=True)
class WorkerDescription:
    """How a worker describes itself: the simulator's node model, as plain values.

    ``speed`` is FLOP/s and ``power`` watts (``{"idle", "busy", "transmit"}``); both may
    be ``None`` when neither a preset nor explicit figures were given (the decision
    engine then relies on its probes alone).
    """

    role: str = "device"
    preset: str | None = None
    speed: float | None = None
    power: Mapping[str, float] | None = None
    cores: int | None = None
    memory: float | None = None
    speed_by_kind: Mapping[str, float] | None = None

    def to_node(self, node_id: str) -> Node | None:
        """The worker as a model :class:`~edgeoffload.model.cluster.Node` (needs a speed)."""
        if self.speed is None:
            return None
        role = cast(Role, self.role)
        power = PowerProfile(**self.power) if self.power else None
        return Node(
            node_id,
            self.speed,
            dict(self.speed_by_kind or {}),
            role=role,
            cores=self.cores or 1,
            memory=self.memory,
            power=power,
        )

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["power"] = dict(self.power) if self.power else None
        data["speed_by_kind"] = dict(self.speed_by_kind) if self.speed_by_kind else None
        return data


def describe_from_preset(
    role: str = "device",
    preset: str | None = None,
    speed: float | None = None,
    power: Mapping[str, float] | PowerProfile | None = None,
) -> WorkerDescription:
    """A description from a device preset and/or explicit figures (explicit ones win).

    Presets come from :mod:`edgeoffload.workloads.devices` (the simulator's list).

    Raises
    ------
    ModelError
        Unknown role or preset, or a non-positive speed.
    """
    if role not in ROLES:
        raise ModelError(f"must be one of {', '.join(ROLES)}; got {role!r}", "role")
    cores: int | None = None
    memory: float | None = None
    by_kind: dict[str, float] | None = None
    power_dict: dict[str, float] | None = None
    if preset is not None:
        from edgeoffload.workloads.devices import device_preset

        node = device_preset(preset).to_node("probe", role=cast(Role, role))
        if speed is None:  # an explicit speed replaces the preset's rates altogether
            speed = node.speed
            by_kind = dict(node.speed_by_kind) or None
        cores, memory = node.cores, node.memory
        if node.power is not None:
            power_dict = {
                "idle": node.power.idle,
                "busy": node.power.busy,
                "transmit": node.power.transmit,
            }
    if isinstance(power, PowerProfile):
        power_dict = {"idle": power.idle, "busy": power.busy, "transmit": power.transmit}
    elif power is not None:
        power_dict = {k: float(power[k]) for k in ("idle", "busy", "transmit")}
    if speed is not None and not speed > 0:
        raise ModelError(f"must be > 0, got {speed!r}", "speed")
    return WorkerDescription(role, preset, speed, power_dict, cores, memory, by_kind)
