"""A short offloading demonstration that pays: a slow phone, a nearby device, a server.

The same throttled-client setup as the COFA experiment (:mod:`.cofa`), cut to what
``make demo`` can show in well under a minute: the phone plays the first plies of a
depth-6 Reversi game and solves one Linpack system on its own, then again with the
decision engine choosing, per call, between running locally, on the nearby device and
on the server. Every figure is measured.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeoffload.experiments.runner import Event, run_phone

__all__ = ["DemoRow", "offload_demo"]


@dataclass(frozen=True, slots=True)
class DemoRow:
    """One app, alone on the phone and with offloading.

    Attributes
    ----------
    app
        ``reversi`` or ``linpack``.
    work
        What was computed, in words.
    local, offloaded
        Wall seconds on the phone, alone and with offloading decided per call.
    where
        Where the offloaded run's calls ran (``local`` or a worker), with counts.
    reason
        The decision engine's reason for the first offloaded call.
    """

    app: str
    work: str
    local: float
    offloaded: float
    where: Mapping[str, int]
    reason: str

    @property
    def speedup(self) -> float:
        return self.local / self.offloaded


def offload_demo(
    *,
    phone_quota: float = 0.1,
    nearby_quota: float = 0.28,
    plies: int = 4,
    depth: int = 6,
    linpack_n: int = 1500,
    on_event: Callable[[Event], None] | None = None,
    apps_source: str | Path | None = None,
) -> list[DemoRow]:
    """Run the demonstration; one :class:`DemoRow` per app.

    Raises
    ------
    EdgeOffloadError
        No way to throttle a process here, or the client failed.
    """
    from edgeoffload.errors import EdgeOffloadError
    from edgeoffload.runtime.host.throttle import throttle_available

    reason = throttle_available("auto")
    if reason is not None:
        raise EdgeOffloadError(f"cannot throttle the phone, so no offloading demo here: {reason}")
    works = {
        "reversi": f"{plies} plies, depth {depth}",
        "linpack": f"n = {linpack_n}",
    }
    items: list[dict[str, Any]] = []
    for target in ("phone", "auto"):
        items.append(
            {"app": "reversi", "kind": "game", "depth": depth, "plies": plies,
             "target": target, "quota": None}
        )  # fmt: skip
        items.append(
            {"app": "linpack", "kind": "linpack", "n": linpack_n, "seed": 1,
             "target": target, "quota": None}
        )  # fmt: skip
    plan = {
        "method": "auto",
        "phone_preset": "nexus7",
        "workers": [
            {"name": "nearby", "role": "device", "preset": "nexus6p", "quota": nearby_quota},
            {"name": "server", "role": "edge", "preset": "i7-6700", "quota": None},
        ],
        "session_quota": phone_quota,  # the decision engine probes the slow phone
        "calibrate": None,
        "warm_up": False,  # tiny warm-up calls would skew the decision engine's history
        "items": items,
    }
    out = run_phone(plan, on_event=on_event, timeout=300.0, apps_source=apps_source)
    rows = []
    for app in ("reversi", "linpack"):
        alone = next(r for r in out.records if r["app"] == app and r["target"] == "phone")
        auto = next(r for r in out.records if r["app"] == app and r["target"] == "auto")
        rows.append(
            DemoRow(
                app=app,
                work=works[app],
                local=alone["whole"],
                offloaded=auto["whole"],
                where=auto["where"],
                reason=(auto.get("reasons") or [""])[0],
            )
        )
    return rows
