"""The COFA paper's experiments, reproduced with real offloading on this machine.

COFA (Kim et al., J. KIIT 15(11), 2017) offloads two apps from a Nexus 7 tablet (the
"local device") to a Nexus 6P phone (the "remote device") or an i7-6700 server, over
Wi-Fi 802.11ac: Reversi with both players AI (minimax to depth 6) and Linpack. Here the
three machines are processes on one computer, made as slow as the paper's devices
relative to each other by CPU quotas (:mod:`edgeoffload.runtime.host.throttle`):

* the **phone** (the client, Nexus 7) is a subprocess whose CPU is held to
  ``phone_quota`` of one core while it measures; it starts the session, plays the games
  and calls the apps' offloaded functions;
* the **nearby** device (Nexus 6P) is a Dask worker held to ``nearby_quota`` of a core;
* the **server** (i7-6700) is an unthrottled Dask worker.

The paper's Linpack figures, 106.1 / 298.5 / 2 719.6 MFLOPS, put the phone at 1/25.6 of
the server and the nearby device at 1/9.1. The defaults keep the paper's phone-to-nearby
ratio (2.8) but cap the phone-to-server ratio at 10 (quotas 0.10 and 0.28 of a core):
at 1/25.6 a three-run experiment takes a quarter of an hour, and at a few hundredths of
a core the phone's own share of the session machinery (Dask's event loop, heartbeats)
starts to dominate its budget, and the kernel's 1 ms minimum quota makes its slowness
bursty. ``CofaConfig.paper_ratios()`` runs the paper's ratios anyway.

What is measured (every figure on this machine, nothing modelled but the energy):

* **whole run**: wall time on the phone for a whole game (a fixed number of plies) or a
  Linpack call, including the phone's own work (game logic, the offloading framework)
  and every transfer;
* **computation**: the time the offloaded function took where it ran (measured by the
  app itself, inside the function): the searches, or generating, solving and checking
  the Linpack system (its MFLOPS count the solve alone, as Linpack does);
* **overhead**: whole run minus computation;
* **energy**: the phone's energy from its preset's power figures (busy while its own
  CPU works, transmitting during the rest of the offloading overhead, idle while the
  remote computes) — see :func:`phone_energy`;
* **calibration**: the throttle module's probe timed in each role, so the real speed
  ratios (not only the quotas asked for) are reported.

The experiment's client runs in a subprocess (:mod:`edgeoffload.experiments._phone`,
started by :func:`edgeoffload.experiments.runner.run_phone`) so that only it is
throttled, not the caller's process (a test runner, the progress display); it reports
progress and results as JSON lines.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from statistics import fmean, stdev
from typing import Any

from edgeoffload.errors import EdgeOffloadError, ModelError
from edgeoffload.experiments.apps import APP_MODULES

__all__ = [
    "PAPER",
    "TARGETS",
    "CalibrationRow",
    "CofaConfig",
    "CofaResult",
    "RunRecord",
    "TargetSummary",
    "phone_energy",
    "render_markdown",
    "run_cofa",
]

TARGETS = ("phone", "nearby", "server")
"""Where an app runs: locally on the phone, or offloaded to the nearby device or server."""

PAPER: dict[str, Any] = {
    "reversi": {
        "whole_speedup": {"nearby": 1.8, "server": 4.7},
        "compute_speedup": {"nearby": 2.2, "server": 13.3},
        "energy_change": {"nearby": -0.65, "server": -0.79},
    },
    "linpack": {
        "mflops": {"phone": 106.1, "nearby": 298.5, "server": 2719.6},
        # what the paper's own MFLOPS figures give; the paper's text states 2.9x and 29.2x
        "compute_speedup": {"nearby": 298.5 / 106.1, "server": 2719.6 / 106.1},
        "stated_speedup": {"nearby": 2.9, "server": 29.2},
        "energy_change": {"nearby": -0.59, "server": -0.66},  # at n = 3000
    },
}
"""The paper's figures (COFA, Table/Figs. of the evaluation section)."""

PAPER_RATIOS = {"phone": 106.1 / 2719.6, "nearby": 298.5 / 2719.6}
"""The paper's devices' Linpack speed relative to its server (1/25.6 and 1/9.1)."""


@dataclass(frozen=True, slots=True)
class CofaConfig:
    """Parameters of :func:`run_cofa`.

    Attributes
    ----------
    phone_quota
        CPU of the phone (the client), in cores. Default 0.10: 1/10 of the server.
    nearby_quota
        CPU of the nearby device worker, in cores. Default 0.28: 2.8x the phone, the
        paper's Nexus 6P to Nexus 7 Linpack ratio.
    apps
        Which apps to run: ``reversi`` and/or ``linpack``.
    depth
        Reversi search depth, plies (the paper: 6).
    plies
        Reversi moves per game, from the start (a whole game is about 60 and takes too
        long on a throttled client).
    linpack_n
        Order of the Linpack system (the paper's energy figure: 3000).
    runs
        Repetitions of every (app, target) measurement (the paper: 5); results are means.
    method
        Throttling method: ``auto`` (cgroup v1 where possible), ``cgroup`` or ``duty``.
    phone_preset, nearby_preset, server_preset
        Device presets the workers describe themselves with, and whose power figures
        the energy estimate uses (the phone's).
    timeout
        Seconds before the whole experiment is abandoned.
    """

    phone_quota: float = 0.10
    nearby_quota: float = 0.28
    apps: tuple[str, ...] = APP_MODULES
    depth: int = 6
    plies: int = 12
    linpack_n: int = 3000
    runs: int = 3
    method: str = "auto"
    phone_preset: str = "nexus7"
    nearby_preset: str = "nexus6p"
    server_preset: str = "i7-6700"
    timeout: float = 3600.0

    def __post_init__(self) -> None:
        for name in ("phone_quota", "nearby_quota"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 < value <= 1 and math.isfinite(value)):
                raise ModelError(f"must be a fraction of one core in (0, 1], not {value!r}", name)
        for name, low in (("depth", 1), ("plies", 1), ("linpack_n", 10), ("runs", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < low:
                raise ModelError(f"must be an integer >= {low}, not {value!r}", name)
        unknown = [a for a in self.apps if a not in APP_MODULES]
        if unknown or not self.apps:
            raise ModelError(
                f"must name apps among {', '.join(APP_MODULES)}, not {list(self.apps)!r}", "apps"
            )
        if self.method not in ("auto", "cgroup", "duty"):
            raise ModelError(f"must be auto, cgroup or duty, not {self.method!r}", "method")
        if not self.timeout > 0:
            raise ModelError(f"must be positive seconds, not {self.timeout!r}", "timeout")

    @classmethod
    def quick(cls, **changes: Any) -> CofaConfig:
        """A short run (well under a minute of measuring): 4 plies, n = 1500, one run."""
        return replace(cls(plies=4, linpack_n=1500, runs=1), **changes)

    @classmethod
    def paper_ratios(cls, **changes: Any) -> CofaConfig:
        """The paper's device ratios: phone 1/25.6 and nearby 1/9.1 of the server."""
        return replace(
            cls(
                phone_quota=round(PAPER_RATIOS["phone"], 4),
                nearby_quota=round(PAPER_RATIOS["nearby"], 4),
            ),
            **changes,
        )

    def quota(self, target: str) -> float | None:
        """CPU quota of ``target`` in cores; ``None`` for the unthrottled server."""
        return {"phone": self.phone_quota, "nearby": self.nearby_quota}.get(target)

    @property
    def steps(self) -> int:
        """How many ``step`` events :func:`run_cofa` reports, a progress bar's total: one
        per Reversi ply and one per Linpack solve, on every target, in every run (a game
        that ends before ``plies`` moves reports fewer)."""
        return sum(i["plies"] if i["kind"] == "game" else 1 for i in build_plan(self)["items"])

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["apps"] = list(self.apps)
        return d


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One measurement: one app, run once on (or offloaded from the phone to) one target.

    Attributes
    ----------
    app, target, run
        What ran, where (``phone`` = locally), and which repetition (from 1).
    whole
        Wall seconds on the phone, everything included.
    compute
        Seconds the offloaded function took where it ran (searches; Linpack: generate,
        solve and check).
    compute_cpu
        CPU seconds of that computation (below ``compute`` when its CPU was shared or
        throttled).
    calls
        Heavy calls made (Reversi: one per ply; Linpack: one).
    where
        How many calls ran where (worker name, or ``local``).
    phone_cpu
        CPU seconds the phone process used during the run (all its threads).
    sent, received
        Bytes the phone sent and received for the run's calls (0 when local or unknown).
    mflops
        Linpack only: speed of the solve where it ran.
    """

    app: str
    target: str
    run: int
    whole: float
    compute: float
    calls: int
    where: Mapping[str, int]
    phone_cpu: float
    sent: int = 0
    received: int = 0
    mflops: float | None = None
    compute_cpu: float = 0.0

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunRecord:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True, slots=True)
class CalibrationRow:
    """The throttle probe timed in one role.

    Attributes
    ----------
    role
        ``phone``, ``nearby`` or ``server``.
    quota
        CPU asked for, in cores (``None``: unthrottled).
    wall, cpu
        Probe wall and CPU seconds there (fastest of the repeats).
    method
        Throttling method in effect (``cgroup``, ``duty`` or ``none``).
    """

    role: str
    quota: float | None
    wall: float
    cpu: float
    method: str

    @property
    def share(self) -> float:
        """CPU seconds per wall second the probe got: ≈ the quota when it bites."""
        return self.cpu / self.wall if self.wall > 0 else float("nan")


@dataclass(frozen=True, slots=True)
class TargetSummary:
    """Means over the runs of one (app, target), with speedups against the phone.

    Attributes
    ----------
    whole, compute, overhead
        Mean seconds: whole run, computation, and whole minus computation.
    whole_sd
        Standard deviation of the whole-run time over the runs (0 for one run).
    whole_speedup, compute_speedup
        Phone's mean / this target's mean (1.0 for the phone itself).
    energy
        Estimated phone energy per run, joules; ``None`` without power figures.
    energy_change
        ``energy / phone's energy - 1`` (−0.65 = 65 % less).
    mflops
        Linpack: mean MFLOPS of the solve where it ran.
    where
        Calls per place, summed over the runs.
    compute_share
        CPU seconds per wall second of the computation: the share of a core it got
        (≈ the quota when throttled; below 1 unthrottled means other processes competed).
    """

    app: str
    target: str
    runs: int
    whole: float
    whole_sd: float
    compute: float
    overhead: float
    whole_speedup: float
    compute_speedup: float
    energy: float | None
    energy_change: float | None
    mflops: float | None
    where: Mapping[str, int]
    compute_share: float | None = None


def phone_energy(
    record: RunRecord, power: Mapping[str, float], phone_share: float
) -> dict[str, float]:
    """The phone's energy for one run, joules, from its power figures (watts).

    The phone is **busy** while its own CPU works: its process's CPU seconds divided by
    its CPU share (a process held to 0.1 of a core needs 10 wall seconds per CPU second),
    at most the whole run. While an offloaded call computes remotely the phone is
    **idle**. The rest of the whole run — the offloading overhead that is not the
    phone's own CPU work: transfers, the remote's framework, waiting on the link — is
    charged at **transmit** power (the radio is on). Locally, computation is the phone's
    own CPU work, so nearly the whole run is busy.

    Returns
    -------
    dict
        ``busy``, ``transmit``, ``idle`` seconds and ``energy`` joules.
    """
    busy = min(record.whole, record.phone_cpu / phone_share) if phone_share > 0 else record.whole
    idle = 0.0 if record.target == "phone" else min(record.compute, record.whole - busy)
    transmit = max(0.0, record.whole - busy - idle)
    energy = power["busy"] * busy + power["transmit"] * transmit + power["idle"] * idle
    return {"busy": busy, "transmit": transmit, "idle": idle, "energy": energy}


@dataclass(frozen=True, slots=True)
class CofaResult:
    """Everything :func:`run_cofa` measured.

    Attributes
    ----------
    config
        The parameters.
    records
        Every measurement, in the order made.
    calibration
        The probe in each role.
    environment
        Facts about the run: throttle method, cores, load average, versions, seconds.
    phone_power
        The phone preset's power figures (``idle``, ``busy``, ``transmit``, watts), if known.
    """

    config: CofaConfig
    records: tuple[RunRecord, ...]
    calibration: tuple[CalibrationRow, ...]
    environment: Mapping[str, Any] = field(default_factory=dict)
    phone_power: Mapping[str, float] | None = None

    def calibration_of(self, role: str) -> CalibrationRow | None:
        return next((c for c in self.calibration if c.role == role), None)

    def speed_ratios(self) -> dict[str, float]:
        """Measured probe speed of each role relative to the server (server = 1)."""
        server = self.calibration_of("server")
        if server is None:
            return {}
        return {c.role: server.wall / c.wall for c in self.calibration if c.wall > 0}

    def phone_share(self) -> float:
        """The phone's calibrated CPU share (its quota if not calibrated)."""
        row = self.calibration_of("phone")
        if row is not None and math.isfinite(row.share) and row.share > 0:
            return min(row.share, 1.0)
        return self.config.phone_quota

    def summaries(self) -> list[TargetSummary]:
        """One :class:`TargetSummary` per (app, target) measured, apps then targets."""
        out = []
        for app in self.config.apps:
            by_target = {
                t: [r for r in self.records if r.app == app and r.target == t] for t in TARGETS
            }
            phone = by_target["phone"]
            base_whole = fmean(r.whole for r in phone) if phone else float("nan")
            base_compute = fmean(r.compute for r in phone) if phone else float("nan")
            base_energy = self._energy(phone)
            for target in TARGETS:
                rs = by_target[target]
                if not rs:
                    continue
                whole = fmean(r.whole for r in rs)
                compute = fmean(r.compute for r in rs)
                energy = self._energy(rs)
                change = energy / base_energy - 1.0 if energy is not None and base_energy else None
                where: dict[str, int] = {}
                for r in rs:
                    for k, v in r.where.items():
                        where[k] = where.get(k, 0) + v
                mf = [r.mflops for r in rs if r.mflops is not None]
                out.append(
                    TargetSummary(
                        app=app,
                        target=target,
                        runs=len(rs),
                        whole=whole,
                        whole_sd=stdev(r.whole for r in rs) if len(rs) > 1 else 0.0,
                        compute=compute,
                        overhead=whole - compute,
                        whole_speedup=base_whole / whole,
                        compute_speedup=base_compute / compute if compute > 0 else float("nan"),
                        energy=energy,
                        energy_change=change,
                        mflops=fmean(mf) if mf else None,
                        where=where,
                        compute_share=(
                            sum(r.compute_cpu for r in rs) / sum(r.compute for r in rs)
                            if all(r.compute_cpu > 0 for r in rs) and compute > 0
                            else None
                        ),
                    )
                )
        return out

    def _energy(self, records: Sequence[RunRecord]) -> float | None:
        if self.phone_power is None or not records:
            return None
        share = self.phone_share()
        return fmean(phone_energy(r, self.phone_power, share)["energy"] for r in records)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "records": [asdict(r) for r in self.records],
            "calibration": [asdict(c) for c in self.calibration],
            "environment": dict(self.environment),
            "phone_power": dict(self.phone_power) if self.phone_power else None,
            "summaries": [asdict(s) for s in self.summaries()],
            "paper": PAPER,
        }


# --------------------------------------------------------------------------- running

Event = Mapping[str, Any]


def build_plan(config: CofaConfig) -> dict[str, Any]:
    """The client's plan (see :mod:`edgeoffload.experiments._phone`) for ``config``.

    Runs are interleaved (run 1 of every app and target, then run 2, ...) so that a
    machine whose speed drifts affects every target alike.
    """
    items = []
    for run in range(1, config.runs + 1):
        for app in config.apps:
            for target in TARGETS:
                item: dict[str, Any] = {
                    "app": app,
                    "target": target,
                    "run": run,
                    "quota": config.phone_quota,
                }
                if app == "reversi":
                    item.update(kind="game", depth=config.depth, plies=config.plies)
                else:
                    item.update(kind="linpack", n=config.linpack_n, seed=run)
                items.append(item)
    return {
        "method": config.method,
        "phone_preset": config.phone_preset,
        "workers": [
            {
                "name": "nearby",
                "role": "device",
                "preset": config.nearby_preset,
                "quota": config.nearby_quota,
            },
            {"name": "server", "role": "edge", "preset": config.server_preset, "quota": None},
        ],
        "calibrate": [config.phone_quota],
        "items": items,
    }


def run_cofa(
    config: CofaConfig,
    *,
    on_event: Callable[[Event], None] | None = None,
    apps_source: str | Path | None = None,
) -> CofaResult:
    """Run the experiment: a throttled phone subprocess offloading to two workers.

    Parameters
    ----------
    config
        What to run.
    on_event
        Called in this process for every event the phone reports (``status``,
        ``calibration``, ``start``, ``step``, ``record``): drive a progress display.
    apps_source
        Folder holding ``reversi.py`` and ``linpack.py`` (default: see
        :func:`edgeoffload.experiments.apps.app_source_dir`).

    Raises
    ------
    EdgeOffloadError
        Throttling is impossible here, the phone failed (the message carries its
        error), or the experiment passed ``config.timeout``.
    """
    from edgeoffload.experiments.runner import run_phone
    from edgeoffload.runtime.host.throttle import throttle_available

    reason = throttle_available(config.method)  # type: ignore[arg-type]
    if reason is not None:
        raise EdgeOffloadError(f"cannot throttle the phone, so no COFA experiment here: {reason}")
    out = run_phone(
        build_plan(config), on_event=on_event, timeout=config.timeout, apps_source=apps_source
    )
    environment = dict(out.environment)
    environment["seconds"] = out.seconds
    environment["session"] = out.session
    return CofaResult(
        config,
        tuple(RunRecord.from_dict(r) for r in out.records),
        tuple(CalibrationRow(**c) for c in out.calibration),
        environment,
        out.phone_power,
    )


# --------------------------------------------------------------------------- report


def _fmt(x: float | None, spec: str = ".3g", unit: str = "") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{format(x, spec)}{unit}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:+.0f} %"


def paper_value(app: str, key: str, target: str) -> float | None:
    """The paper's figure ``PAPER[app][key][target]``, or ``None``."""
    value = PAPER.get(app, {}).get(key, {}).get(target)
    return None if value is None else float(value)


def nominal_speedup(config: CofaConfig, target: str) -> float:
    """The computation speedup the quotas ask for: the target's cores / the phone's."""
    quota = config.quota(target)
    return (quota if quota is not None else 1.0) / config.phone_quota


def calibrated_speedup(result: CofaResult, target: str) -> float | None:
    """The computation speedup the probe predicts: phone's probe time / target's."""
    phone, other = result.calibration_of("phone"), result.calibration_of(target)
    if phone is None or other is None or other.wall <= 0:
        return None
    return phone.wall / other.wall


def _beside(ours: str, paper: str | None) -> str:
    return ours if paper is None else f"{ours} ({paper})"


def table_rows(result: CofaResult) -> list[dict[str, str]]:
    """The main tables' cells, one row per (app, target) (used by the CLI and the report).

    Cells beside the paper read ``ours (paper's)``.
    """
    rows = []
    for s in result.summaries():
        remote = s.target != "phone"
        p_whole = paper_value(s.app, "whole_speedup", s.target)
        p_comp = paper_value(s.app, "compute_speedup", s.target)
        p_energy = paper_value(s.app, "energy_change", s.target)
        p_mflops = paper_value(s.app, "mflops", s.target)
        paper_comp = None if p_comp is None else f"{p_comp:.1f}×"
        where = ", ".join(f"{k} {v}" for k, v in sorted(s.where.items()))
        probe = calibrated_speedup(result, s.target)
        rows.append(
            {
                "app": s.app,
                "target": s.target,
                "whole (s)": _fmt(s.whole, ".2f") + (f" ±{s.whole_sd:.2f}" if s.runs > 1 else ""),
                "compute (s)": _fmt(s.compute, ".2f"),
                "overhead (s)": _fmt(s.overhead, ".2f"),
                "CPU share": _fmt(s.compute_share, ".2f"),
                "calls ran": where,
                "whole × (paper)": _beside(
                    _fmt(s.whole_speedup, ".2f", "×"),
                    None if p_whole is None or not remote else f"{p_whole:.1f}×",
                ),
                "compute × (paper)": _beside(
                    _fmt(s.compute_speedup, ".2f", "×"), paper_comp if remote else None
                ),
                "asked / probe": f"{nominal_speedup(result.config, s.target):.2g}×"
                f" / {_fmt(probe, '.2g', '×')}",
                "energy (paper)": _beside(_pct(s.energy_change), _pct(p_energy))
                if remote
                else _fmt(s.energy, ".3g", " J"),
                "MFLOPS (paper)": _beside(
                    _fmt(s.mflops, ".0f"), None if p_mflops is None else f"{p_mflops:.1f}"
                ),
            }
        )
    return rows


def calibration_rows(result: CofaResult) -> list[dict[str, str]]:
    """The calibration table as text cells."""
    ratios = result.speed_ratios()
    rows = []
    for c in result.calibration:
        paper = {"phone": PAPER_RATIOS["phone"], "nearby": PAPER_RATIOS["nearby"], "server": 1.0}
        rows.append(
            {
                "role": c.role,
                "quota (cores)": "none" if c.quota is None else f"{c.quota:.3g}",
                "method": c.method,
                "probe (s)": f"{c.wall:.3f}",
                "CPU share": f"{c.share:.2f}",
                "speed vs server": _fmt(ratios.get(c.role), ".3f"),
                "asked": f"{(c.quota if c.quota is not None else 1.0):.3f}",
                "paper": f"{paper[c.role]:.3f}",
            }
        )
    return rows


def _md_table(rows: Iterable[Mapping[str, str]], columns: Sequence[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(r[c] for c in columns) + " |" for r in rows]
    return "\n".join(lines)


TIME_COLUMNS = (
    "app",
    "target",
    "whole (s)",
    "compute (s)",
    "overhead (s)",
    "CPU share",
    "calls ran",
)
"""Columns of the measured-times table."""
PAPER_COLUMNS = (
    "app",
    "target",
    "whole × (paper)",
    "compute × (paper)",
    "asked / probe",
    "energy (paper)",
    "MFLOPS (paper)",
)
"""Columns of the table beside the paper's figures."""
CALIBRATION_COLUMNS = (
    "role",
    "quota (cores)",
    "method",
    "probe (s)",
    "CPU share",
    "speed vs server",
    "asked",
    "paper",
)


def render_markdown(result: CofaResult, figures: Sequence[str] = ()) -> str:
    """A self-contained markdown report of ``result`` (figures linked by file name)."""
    c = result.config
    env = result.environment
    lines = [
        "# COFA experiments, reproduced",
        "",
        "Kim et al., *COFA: Code Offloading Framework for Android*, J. KIIT 15(11), 2017."
        " The phone (client) and the nearby device are throttled processes on this machine;"
        " the server is an unthrottled worker. Every figure below is measured here except"
        " the energy, which is estimated from the phone preset's power figures.",
        "",
        "## Setup",
        "",
        f"- phone: {c.phone_quota:g} of a core (preset {c.phone_preset});"
        f" nearby: {c.nearby_quota:g} of a core (preset {c.nearby_preset});"
        f" server: unthrottled (preset {c.server_preset})",
        f"- Reversi: both players AI, alpha-beta minimax to depth {c.depth},"
        f" the first {c.plies} plies of a game; Linpack: n = {c.linpack_n}",
        f"- {c.runs} run(s) of each; throttling: {env.get('throttle_method', c.method)};"
        f" {env.get('cpus', '?')} CPU(s), load average before: {env.get('loadavg', '?')}",
        f"- took {env.get('seconds', float('nan')):.0f} s",
        "",
        "## Measured times",
        "",
        _md_table(table_rows(result), TIME_COLUMNS),
        "",
        "## Results beside the paper's",
        "",
        _md_table(table_rows(result), PAPER_COLUMNS),
        "",
        "*whole*: wall time on the phone per game or Linpack call; *compute*: time computing"
        " where the work ran; *overhead*: the difference; ×: speedup over the phone, the"
        " paper's in brackets; *asked*: the computation speedup the CPU quotas ask for;"
        " *probe*: the one the calibration probe measured (the"
        " phone's framework threads share its quota, and a throttled process loses cache"
        " state at every throttling period, so it is slower than its quota); *CPU share*:"
        " CPU seconds per wall second of the computation (the server below 1.0 means other"
        " processes on this shared machine took part of its core). Energy: the"
        " phone's estimated energy per run (locally, in joules; offloaded, the change against"
        " local). The paper states Linpack speedups of 2.9× and 29.2×, but its own MFLOPS"
        " figures give 2.8× and 25.6×; the table shows the latter.",
        "",
        "## Calibration: the throttle probe in each role",
        "",
        _md_table(calibration_rows(result), CALIBRATION_COLUMNS),
        "",
        "*speed vs server*: server probe time / this role's probe time (measured);"
        " *asked*: the quota; *paper*: the paper's devices' Linpack speed relative to its"
        " server. *CPU share*: CPU seconds per wall second the probe got.",
        "",
    ]
    if result.phone_power:
        p = result.phone_power
        lines += [
            "## Energy model",
            "",
            f"Phone ({c.phone_preset}): busy {p['busy']:g} W, transmit {p['transmit']:g} W,"
            f" idle {p['idle']:g} W. Busy while the phone's own CPU works (its CPU seconds"
            " divided by its CPU share), idle while the remote computes, transmitting for"
            " the rest of the run.",
            "",
        ]
    if figures:
        lines += ["## Figures", ""] + [f"![{f}]({f})" for f in figures] + [""]
    lines += [
        "## Why ours differ from the paper's",
        "",
        "- Our speed ratios are CPU quotas on one machine, the same for both apps; the"
        " paper's are real devices whose ratio depends on the app (the i7 is 13.3× the"
        " Nexus 7 on Reversi but 25.6× on Linpack). The default phone is 1/10 of the server,"
        " not 1/25.6 (see docs/cofa.md), so server speedups are capped near 10×.",
        "- Transfers are on loopback, not Wi-Fi 802.11ac: the offloading overhead here is"
        " the framework's and the throttled phone's own work, not the radio's.",
        "- The machine is shared (2 cores); see the calibration's CPU share and the"
        " standard deviations. Energy is a model, not a battery measurement.",
        "",
    ]
    return "\n".join(lines)
