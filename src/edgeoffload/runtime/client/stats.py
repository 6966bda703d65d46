"""What a session did: one record per call, bundle transfers, and a printed summary.

The summary is rich tables (:func:`summary_tables`); :func:`print_summary` prints them at
the terminal's width on a terminal, and at their full width anywhere else (a pipe, a
file, a CI log), where rich would otherwise squeeze and cut them to 80 columns.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "UNCUT_WIDTH",
    "Attempt",
    "CallRecord",
    "SessionStats",
    "Transfer",
    "WorkerInfo",
    "print_summary",
    "summary_console",
    "summary_tables",
]

UNCUT_WIDTH = 10_000
"""Columns of :func:`summary_console` off a terminal: more than any summary table needs
(a table is as wide as its widest cells, never wider: this only lifts rich's limit)."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """A remote attempt that failed and was retried elsewhere (or locally)."""

    worker: str
    error: str


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call of an offloaded function.

    Attributes
    ----------
    function
        ``module:qualname`` of the function.
    where
        ``"local"`` or the name of the worker that returned the result.
    reason
        Why it ran there (the policy's reason, a forced local run, a fallback…).
    predicted
        The decision engine's predicted time there, seconds (NaN if none).
    elapsed
        Wall time of the call as the caller saw it, seconds.
    compute
        Time the function itself ran, seconds.
    bytes_sent, bytes_received
        Payload bytes over the network for this call (0 when local).
    code_bytes
        Bundle bytes that had to be sent before this call could run (0 once cached).
    cold
        The worker imported the bundle for this call (first call of it there).
    attempts
        Remote attempts that failed before the one that answered.
    outcome
        ``"ok"``, ``"error"`` (the function raised), or ``"fallback"`` (ran locally
        after remote attempts failed).
    """

    function: str
    where: str
    reason: str
    predicted: float
    elapsed: float
    compute: float
    bytes_sent: int = 0
    bytes_received: int = 0
    code_bytes: int = 0
    cold: bool = False
    attempts: tuple[Attempt, ...] = ()
    outcome: str = "ok"


@dataclass(frozen=True, slots=True)
class Transfer:
    """A bundle sent to a worker (or found there already: ``bytes == 0``, ``hit``)."""

    worker: str
    bundle: str
    bytes: int
    hit: bool


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A worker as the session sees it."""

    name: str
    address: str
    role: str
    preset: str | None
    benchmark: float | None
    rtt: float | None
    bandwidth: float | None
    slots: int
    usable: bool
    note: str = ""
    pid: int | None = None
    missing: Mapping[str, str] = field(default_factory=dict)
    """Distribution -> why this worker cannot satisfy it: functions that need it do not
    run there."""


@dataclass(frozen=True)
class SessionStats:
    """A snapshot of a session's activity (``session.stats()``)."""

    records: tuple[CallRecord, ...] = ()
    transfers: tuple[Transfer, ...] = ()
    workers: tuple[WorkerInfo, ...] = ()
    local_benchmark: float = 0.0
    packaging_seconds: float = 0.0
    bundles: Mapping[str, int] = field(default_factory=dict)
    """Bundle hash -> size, bytes, of the bundles this session packaged."""
    warnings: tuple[str, ...] = ()
    """Every warning the session gave about calls, ``"function: what"`` (a call that ran
    locally although workers were there, an argument changed in place…), in order."""

    @property
    def calls(self) -> int:
        return len(self.records)

    @property
    def by_node(self) -> dict[str, int]:
        """Where the calls ran: ``{"local": 3, "edge": 7}``."""
        return dict(Counter(r.where for r in self.records))

    @property
    def bytes_sent(self) -> int:
        return sum(r.bytes_sent for r in self.records)

    @property
    def bytes_received(self) -> int:
        return sum(r.bytes_received for r in self.records)

    @property
    def code_bytes_sent(self) -> int:
        """Bundle bytes sent to workers, pre-transfer included."""
        return sum(t.bytes for t in self.transfers)

    @property
    def bundle_transfers(self) -> int:
        return sum(1 for t in self.transfers if not t.hit)

    @property
    def cache_hits(self) -> int:
        """Pre-transfers skipped because the worker held the bundle already."""
        return sum(1 for t in self.transfers if t.hit)

    @property
    def warm_calls(self) -> int:
        """Remote calls that found their bundle already imported on the worker."""
        return sum(1 for r in self.records if r.where != "local" and not r.cold)

    @property
    def retries(self) -> int:
        return sum(len(r.attempts) for r in self.records)

    @property
    def fallbacks(self) -> int:
        return sum(1 for r in self.records if r.outcome == "fallback")

    @property
    def reasons(self) -> list[str]:
        return [r.reason for r in self.records]

    def as_dict(self) -> dict[str, Any]:
        """Plain values (JSON-ready), totals included."""
        return {
            "calls": self.calls,
            "by_node": self.by_node,
            "bytes_sent": self.bytes_sent,
            "bytes_received": self.bytes_received,
            "code_bytes_sent": self.code_bytes_sent,
            "bundle_transfers": self.bundle_transfers,
            "cache_hits": self.cache_hits,
            "warm_calls": self.warm_calls,
            "retries": self.retries,
            "fallbacks": self.fallbacks,
            "packaging_seconds": self.packaging_seconds,
            "local_benchmark": self.local_benchmark,
            "bundles": dict(self.bundles),
            "workers": [asdict(w) for w in self.workers],
            "records": [asdict(r) for r in self.records],
            "transfers": [asdict(t) for t in self.transfers],
        }


def _ms(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value * 1e3:.3g}"


def summary_tables(stats: SessionStats) -> list[Any]:
    """Rich tables: the workers, the calls grouped by function and place, the totals."""
    from rich.table import Table

    workers = Table(
        "worker",
        "role",
        "probe (ms)",
        "speed vs local",
        "rtt (ms)",
        "bandwidth (MB/s)",
        "slots",
        "note",
        title=f"Workers (local probe {_ms(stats.local_benchmark)} ms)",
        title_justify="left",
    )
    for w in stats.workers:
        ratio = (
            f"{stats.local_benchmark / w.benchmark:.2f}x"
            if w.benchmark and stats.local_benchmark
            else "-"
        )
        bandwidth = (
            "-" if not w.bandwidth or w.bandwidth == float("inf") else f"{w.bandwidth / 1e6:.3g}"
        )
        workers.add_row(
            w.name,
            w.role + (f" ({w.preset})" if w.preset else ""),
            _ms(w.benchmark),
            ratio,
            _ms(w.rtt),
            bandwidth,
            str(w.slots),
            "; ".join([w.note or ("" if w.usable else "not usable"), *w.missing.values()]).strip(
                "; "
            ),
        )
    groups: dict[tuple[str, str], list[CallRecord]] = defaultdict(list)
    for r in stats.records:
        groups[(r.function, r.where)].append(r)
    calls = Table(
        "function",
        "ran on",
        "calls",
        "mean time (ms)",
        "mean predicted (ms)",
        "sent (B)",
        "received (B)",
        "retries",
        "last reason",
        title="Calls",
        title_justify="left",
    )
    for (function, where), records in sorted(groups.items()):
        predicted = [r.predicted for r in records if r.predicted == r.predicted]
        calls.add_row(
            function,
            where,
            str(len(records)),
            _ms(sum(r.elapsed for r in records) / len(records)),
            _ms(sum(predicted) / len(predicted)) if predicted else "-",
            str(sum(r.bytes_sent for r in records)),
            str(sum(r.bytes_received for r in records)),
            str(sum(len(r.attempts) for r in records)),
            records[-1].reason,
        )
    totals = Table("total", "value", title="Totals", title_justify="left")
    for label, value in (
        ("calls", stats.calls),
        ("code bytes sent", stats.code_bytes_sent),
        ("bundle transfers", stats.bundle_transfers),
        ("bundle cache hits (already on the worker)", stats.cache_hits),
        ("warm remote calls (bundle already imported)", stats.warm_calls),
        ("retries", stats.retries),
        ("local fallbacks", stats.fallbacks),
        ("packaging time (ms)", _ms(stats.packaging_seconds)),
    ):
        totals.add_row(label, str(value))
    return [workers, calls, totals]


def summary_console() -> Any:
    """The console :func:`print_summary` prints to by default: standard output, at the
    terminal's width on a terminal and :data:`UNCUT_WIDTH` columns anywhere else, so that
    no table is wrapped, squeezed or cut when the output goes to a pipe or a file."""
    from rich.console import Console

    console = Console(highlight=False)
    return console if console.is_terminal else Console(highlight=False, width=UNCUT_WIDTH)


def print_summary(stats: SessionStats, console: Any = None) -> None:
    """Print :func:`summary_tables` of ``stats`` to ``console`` (a rich ``Console``;
    default :func:`summary_console`)."""
    if console is None:
        console = summary_console()
    for table in summary_tables(stats):
        console.print(table)
    if stats.warnings:
        console.print("Warnings")
        for line in stats.warnings:
            console.print(f"  {line}", markup=False)
