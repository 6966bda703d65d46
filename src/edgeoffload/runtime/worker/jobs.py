"""What a worker asks its executor processes to do, and what comes back.

User code never runs in a worker's own process: every offloaded call, pinned call, DAG
task and probe is a :class:`Job` that the executor (:mod:`.executor`) hands to one of its
child processes. The worker process only routes bytes: a job's arguments and inputs are
the pickled frames as they arrived, and its result comes back pickled, ready to send on.
A job can be cancelled at any time; a running one is stopped by ending the child that
runs it, which frees its CPU at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = ["Job", "JobHandle", "JobKind", "JobResult", "JobState", "JobStatus", "Runner"]

JobKind = Literal["call", "task", "probe"]
JobStatus = Literal["ok", "error", "refused", "lost", "cancelled"]
JobState = Literal["queued", "running", "done"]


@dataclass(frozen=True, slots=True)
class Job:
    """One unit of user work for an executor process.

    Attributes
    ----------
    kind
        ``"call"``: ``fn(*args, **kwargs)``; ``"task"``: a DAG task,
        ``fn(*inputs, *args, **kwargs)``; ``"probe"``: time ``work`` iterations of the
        probe benchmark.
    owner
        The owner key (the caller's certificate and session): code is loaded and cached
        per owner, and :meth:`Runner.drop_owner` forgets it.
    fn
        ``(bundle hash or None, module, qualname)``: from the owner's bundle of that hash,
        or imported by name (installed code) when the hash is ``None``. ``None`` for a
        probe. An ``@offload`` wrapper found there is unwrapped.
    bundles
        Hashes of the owner's bundles whose modules may appear in the pickles (their
        names are mapped to the private names the bundle is loaded under).
    frames
        The pickled ``(args, kwargs)`` (one :func:`~edgeoffload.runtime.wire.protocol.dumps`).
    inputs
        A task's inputs: each predecessor's pickled result, in order.
    work
        A probe's iterations.
    label
        What to call the job in messages (a function key, a task id).
    """

    kind: JobKind
    owner: str
    fn: tuple[str | None, str, str] | None = None
    bundles: tuple[str, ...] = ()
    frames: Sequence[Any] = ()
    inputs: Sequence[Sequence[Any]] = ()
    work: int = 0
    label: str = ""


@dataclass(frozen=True, slots=True)
class JobResult:
    """How a job ended.

    Attributes
    ----------
    status
        ``"ok"``; ``"error"`` (the user code raised); ``"refused"`` (it could not start:
        the bundle is missing or tampered, the function cannot be found, the arguments
        cannot be unpickled); ``"lost"`` (the process running it died); ``"cancelled"``.
    header
        ``ok``: ``compute`` (seconds the function ran), ``cold`` (its bundle was imported
        for it); a probe adds ``seconds``. ``error``: the fields of
        :func:`~edgeoffload.runtime.wire.errors.error_reply` and ``compute``.
        ``refused``/``lost``/``cancelled``: ``error``, one line.
        A ``call`` that ended ``ok`` or ``error`` may add, each only when not empty:
        ``stdout`` and ``stderr`` (str: what the call printed, bounded, with a last line
        saying what was cut) and ``mutated`` (list of str: the arguments it changed in
        place, named ``"self"``, ``"argument 1 (items)"``, ``"argument 3"`` or
        ``"keyword 'out'"``). The worker sends them to the client unchanged, where
        :func:`edgeoffload.runtime.client.remote_output.emit` shows them.
    frames
        ``ok``: the pickled return value; ``error``: the pickled exception when it pickles.
    waited
        Seconds the job waited for a free process.
    """

    status: JobStatus
    header: dict[str, Any] = field(default_factory=dict)
    frames: list[Any] = field(default_factory=list)
    waited: float = 0.0


class JobHandle(Protocol):
    """A submitted job."""

    @property
    def state(self) -> JobState:
        """``"queued"``, ``"running"`` or ``"done"``."""

    def wait(self, timeout: float | None = None) -> JobResult | None:
        """The result, or ``None`` if the job is not done within ``timeout`` seconds."""

    def cancel(self) -> bool:
        """Stop the job: dequeue it, or end the process running it (a fresh process takes
        its place). Its result becomes ``cancelled``. False if it was already done."""

    def add_done_callback(self, callback: Callable[[JobResult], None]) -> None:
        """Call ``callback(result)`` once the job is done (at once if it is)."""


class Runner(Protocol):
    """Runs jobs (the executor; tests may give a fake)."""

    def submit(self, job: Job) -> JobHandle:
        """Queue ``job``; it runs as soon as a process is free."""

    def drop_owner(self, owner: str) -> None:
        """Forget everything loaded for ``owner`` (its session ended)."""
