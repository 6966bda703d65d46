"""The throttled client ("phone") of the offloading experiments, run as a subprocess.

``python -m edgeoffload.experiments._phone`` reads one JSON object (a *plan*) from
stdin, runs it and writes JSON lines (events) to stdout; :func:`run_phone` in
:mod:`edgeoffload.experiments.runner` is the other end. The application modules
(``reversi``, ``linpack``, ``cofa_probe``) must be importable: the parent puts their
temporary folder on ``PYTHONPATH``, so the bundler ships them as application code.

The plan (``address``: the cluster to join, added by the runner, which starts the
workers described under ``workers``)::

    {"address": "tcp://127.0.0.1:40123",
     "method": "auto",
     "workers": [{"name": "nearby", "quota": 0.28, "preset": "nexus6p", "role": "device"},
                 {"name": "server", "quota": null, "preset": "i7-6700", "role": "edge"}],
     "phone_preset": "nexus7",
     "session_quota": null,         # CPU of the phone for the whole session (cores)
     "calibrate": [0.1],            # phone quotas to calibrate the probe at (null: none)
     "warm_up": true,               # one small call per app and worker first
     "items": [{"app": "reversi", "kind": "game", "depth": 6, "plies": 12,
                "target": "phone", "quota": 0.1, "run": 1}, ...]}

Item kinds: ``game`` (Reversi, ``plies`` moves from the start), ``position`` (one
Reversi search at the position after ``opening`` plies), ``linpack`` (``n``, ``seed``).
``target`` is ``phone`` (a local call), a worker's name (every call of the item is
pinned to it by :class:`PinnedPolicy`), or ``auto`` (the decision engine's latency
policy chooses, per call); ``quota`` is the phone's CPU while the item runs (each item
runs inside ``throttled(quota)``). With ``session_quota`` the phone is throttled for the
whole session instead (``connect(client_cpu_quota=...)``), so that the decision engine's
probe of the phone, taken at connect, sees the slow phone: plans with ``auto`` items
use it.

Events: ``status``, ``environment``, ``calibration``, ``start``, ``step``, ``record``,
``error`` (then exit code 1), ``done``.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from contextlib import ExitStack, nullcontext
from typing import Any, ClassVar

from edgeoffload.runtime.client.decision import Estimate, LatencyPolicy, Policy

__all__ = ["PinnedPolicy", "main"]


def emit(event: str, **fields: Any) -> None:
    """Write one event line to stdout."""
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


class PinnedPolicy(Policy):
    """Send every call to the worker named :attr:`target` (the experiment decides).

    If that worker is not available the call runs locally, and the stats say so. With
    ``target = None`` the default latency policy decides (the ``auto`` target).
    """

    name: ClassVar[str] = "pinned"

    def __init__(self, target: str | None = None) -> None:
        self.target = target
        self._auto = LatencyPolicy()

    def choose(self, function: str, estimates: Sequence[Estimate]) -> tuple[Estimate, str]:
        if self.target is None:
            return self._auto.choose(function, estimates)
        for e in estimates:
            if e.name == self.target and not e.is_local:
                return e, f"experiment: pinned to {self.target}"
        return estimates[0], f"experiment: {self.target} unavailable, ran locally"


def _where(stats_before: int, session: Any) -> tuple[dict[str, int], int, int, list[str]]:
    records = session.stats().records[stats_before:]
    where: dict[str, int] = {}
    reasons: list[str] = []
    for r in records:
        where[r.where] = where.get(r.where, 0) + 1
        if r.reason not in reasons:
            reasons.append(r.reason)
    sent = sum(r.bytes_sent for r in records)
    return where, sent, sum(r.bytes_received for r in records), reasons


def _opening(reversi: Any, plies: int) -> tuple[Any, int]:
    """The position after ``plies`` moves of a depth-2 game (cheap, deterministic)."""
    board, player = reversi.Board.initial(), reversi.BLACK
    for _ in range(plies):
        result = reversi.search(board, player, 2)
        if result.move is not None:
            board = board.play(result.move, player)
        player = 1 - player
    return board, player


def run_item(item: Mapping[str, Any], session: Any, policy: PinnedPolicy) -> dict[str, Any]:
    """Run one measurement item (the caller has throttled this process)."""
    target = item["target"]
    local = target == "phone"
    policy.target = None if local or target == "auto" else target
    before = len(session.stats().records)
    c0 = time.process_time()
    mflops: float | None = None
    if item["app"] == "reversi":
        reversi = importlib.import_module("reversi")
        search = reversi.best_move.local if local else reversi.best_move
        if item["kind"] == "game":

            def on_move(ply: int, result: Any) -> None:
                emit("step", app="reversi", target=target, done=ply)

            game = reversi.play_game(item["depth"], item["plies"], move=search, on_move=on_move)
            whole, compute, calls = game.seconds, game.compute_seconds, len(game.moves)
            compute_cpu = game.compute_cpu_seconds
        else:
            board, player = _opening(reversi, item["opening"])
            t0 = time.perf_counter()
            result = search(board, player, item["depth"])
            whole, compute, calls = time.perf_counter() - t0, result.seconds, 1
            compute_cpu = result.cpu_seconds
            emit("step", app="reversi", target=target, done=1)
    elif item["app"] == "linpack":
        linpack = importlib.import_module("linpack")
        call = linpack.linpack.local if local else linpack.linpack
        t0 = time.perf_counter()
        result = call(item["n"], item.get("seed", 0))
        # the work of the call: generating, solving and checking (MFLOPS: the solve alone)
        whole, compute, calls = time.perf_counter() - t0, result.total_seconds, 1
        compute_cpu = result.total_cpu_seconds
        mflops = result.mflops
        if not result.residual < 100:
            raise RuntimeError(f"Linpack residual {result.residual:.3g}: the solve is wrong")
        emit("step", app="linpack", target=target, done=1)
    else:
        raise ValueError(f"unknown app {item['app']!r}")
    phone_cpu = time.process_time() - c0
    where, sent, received, reasons = _where(before, session)
    return {
        "app": item["app"],
        "target": target,
        "run": item.get("run", 1),
        "whole": whole,
        "compute": compute,
        "compute_cpu": compute_cpu,
        "calls": calls,
        "where": where,
        "phone_cpu": phone_cpu,
        "sent": sent,
        "received": received,
        "mflops": mflops,
        "quota": item.get("quota"),
        "label": item.get("label"),
        "reasons": reasons[:3],
    }


def _throttle(quota: float | None, method: str) -> Any:
    if quota is None or quota >= 1:
        return nullcontext(None)
    from edgeoffload.runtime.host.throttle import throttled

    return throttled(quota, method=method, name="phone")  # type: ignore[arg-type]


def _calibrate(plan: Mapping[str, Any], session: Any, policy: PinnedPolicy) -> None:
    """The throttle probe in every role: the phone at each quota, then each worker."""
    probe = importlib.import_module("cofa_probe").probe
    method = plan.get("method", "auto")
    n = 1_000_000
    for quota in plan.get("calibrate") or []:
        best: tuple[float, float] | None = None
        with _throttle(quota, method) as handle:
            probe.local(20_000)  # spend the new group's first full period
            for _ in range(3):
                wall, cpu = probe.local(n)
                best = (wall, cpu) if best is None or wall < best[0] else best
            used = handle.method if handle is not None else "none"
        assert best is not None
        row = {"role": "phone", "quota": quota, "wall": best[0], "cpu": best[1], "method": used}
        emit("calibration", row=row)
    for worker in plan["workers"]:
        policy.target = worker["name"]
        best = None
        for _ in range(3):
            wall, cpu = probe(n)
            best = (wall, cpu) if best is None or wall < best[0] else best
        assert best is not None
        quota = worker.get("quota")
        row = {
            "role": worker["name"],
            "quota": quota,
            "wall": best[0],
            "cpu": best[1],
            "method": "none" if quota is None else "quota",
        }
        emit("calibration", row=row)


def _warm_up(plan: Mapping[str, Any], session: Any, policy: PinnedPolicy) -> None:
    """One small call of each app on each worker: imports the bundles there.

    The calls enter the decision engine's history, so plans with ``auto`` items turn
    the warm-up off.
    """
    apps = {item["app"] for item in plan["items"]}
    for worker in plan["workers"]:
        policy.target = worker["name"]
        if "reversi" in apps:
            reversi = importlib.import_module("reversi")
            reversi.best_move(reversi.Board.initial(), reversi.BLACK, 1)
        if "linpack" in apps:
            importlib.import_module("linpack").linpack(50, 0)


def _phone_power(preset: str | None) -> dict[str, float] | None:
    if not preset:
        return None
    from edgeoffload.workloads.devices import device_preset

    power = device_preset(preset).power
    if power is None:
        return None
    return {"idle": power.idle, "busy": power.busy, "transmit": power.transmit}


def run(plan: Mapping[str, Any]) -> None:
    """Join the cluster, warm up, calibrate, run every item, disconnect."""
    from edgeoffload.runtime import connect
    from edgeoffload.runtime.host.throttle import throttle_available
    from edgeoffload.runtime.wire.security import TLSMaterial

    method = plan.get("method", "auto")
    for module in ("reversi", "linpack", "cofa_probe"):
        importlib.import_module(module)  # before connect: the bundles are pre-transferred
    policy = PinnedPolicy()
    emit("status", text="connecting to the workers")
    with ExitStack() as stack:
        session = stack.enter_context(
            connect(
                plan["address"],
                security=TLSMaterial.from_json(plan["security"]) if plan.get("security") else None,
                insecure=not plan.get("security"),
                policy=policy,
                wait_for_workers=len(plan["workers"]),
                client_cpu_quota=plan.get("session_quota"),
                timeout=120.0,
            )
        )
        emit(
            "environment",
            facts={
                "throttle_method": "cgroup" if throttle_available("cgroup") is None else "duty",
                "cpus": os.cpu_count(),
                "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "phone_pid": os.getpid(),
            },
            phone_power=_phone_power(plan.get("phone_preset")),
        )
        if plan.get("warm_up", True):
            emit("status", text="warming up the workers")
            _warm_up(plan, session, policy)
        if plan.get("calibrate") is not None:
            emit("status", text="calibrating the throttles")
            _calibrate(plan, session, policy)
        for item in plan["items"]:
            emit("start", app=item["app"], target=item["target"], run=item.get("run", 1),
                 label=item.get("label"))  # fmt: skip
            with _throttle(item.get("quota"), method):
                record = run_item(item, session, policy)
            emit("record", record=record)
        stats = session.stats()
        emit(
            "session",
            calls=stats.calls,
            by_node=stats.by_node,
            retries=stats.retries,
            fallbacks=stats.fallbacks,
            code_bytes=stats.code_bytes_sent,
        )
    emit("done")


def main() -> int:
    try:
        plan = json.loads(sys.stdin.readline())
        run(plan)
    except BaseException as exc:  # report every failure to the parent, then exit 1
        emit("error", message=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
