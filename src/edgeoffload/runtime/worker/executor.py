"""The executor: a worker's user code runs in child processes, one job per process at once.

:class:`ExecutorPool` implements :class:`~edgeoffload.runtime.worker.jobs.Runner`. It keeps
``slots`` child processes for jobs plus one spare, kept warm (started and initialised) so
that a child that is killed or dies is replaced at once; each child runs
:mod:`edgeoffload.runtime.worker.child` and talks to the worker over its own
``socketpair(AF_UNIX)`` in the wire format of :mod:`edgeoffload.runtime.wire.protocol`.

Why processes: a job that nobody wants any more (cancelled, its lease expired, moved
elsewhere) is stopped by killing its process, which frees its CPU at once (a thread cannot
be killed); and user code shares no interpreter state with the worker's own threads
(Dask's threads draw from the global :mod:`random`, so a seeded program would return
other results remotely than locally).

Scheduling: jobs wait in one FIFO queue; at most ``slots`` run at once, each on an idle
child (preferring one that has already loaded the job owner's code, then the one used
last). :attr:`JobResult.waited <edgeoffload.runtime.worker.jobs.JobResult.waited>` is the
time a job spent in the queue. A job whose function never returns holds only its own
slot. Every child is spawned from one long-lived thread of the pool, because Linux ends a
child whose ``PR_SET_PDEATHSIG`` is armed when the *thread* that spawned it ends.

Results: ``ok``/``error``/``refused`` come from the child; ``cancelled`` when
:meth:`JobHandle.cancel <edgeoffload.runtime.worker.jobs.JobHandle.cancel>` dequeued the
job or killed its child; ``lost`` when the child died on its own mid-job (a crash,
``os._exit``, the OOM killer), with a line naming its exit code or signal. The pool never
raises out of a result callback: it logs.

Reading answers: a thread waiting for a running job (:meth:`JobHandle.wait
<edgeoffload.runtime.worker.jobs.JobHandle.wait>`) reads its child's answer itself, which
saves a thread wake-up on every call; a monitor thread reads everything else (jobs nobody
waits for, children that become ready or die) from one selector.

Big payloads: a job's frames go to the child with ``sendmsg`` straight from the objects
the job holds (no copy in this process), through socket buffers large enough for a
megabyte-sized message in one system call.

Threads: an offloaded call may use ``blas_threads`` threads of BLAS and OpenMP, a DAG
task or a probe one (:class:`~edgeoffload.runtime.worker.child.JobThreads` sets the
limit in the child before each job).
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import math
import os
import select
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from edgeoffload.errors import BundleError, OffloadError
from edgeoffload.runtime.wire.protocol import Reader, recv_message, send_message
from edgeoffload.runtime.worker.cache import CodeStore
from edgeoffload.runtime.worker.child import ChildOp, job_message
from edgeoffload.runtime.worker.jobs import Job, JobHandle, JobResult, JobState, JobStatus

__all__ = ["BLAS_THREADS_ENV", "CHILD_MALLOC_ENV", "ExecutorPool", "usable_cores"]

logger = logging.getLogger(__name__)

_CHILD_MAIN = (  # not "-m ...child": the package __init__s import that module already, and
    # runpy would then run a second copy of it (with a RuntimeWarning in every child)
    "import sys; from edgeoffload.runtime.worker.child import main; sys.exit(main(sys.argv[1:]))"
)
_PACKAGE_ROOT = str(Path(__file__).parents[3])  # the folder holding edgeoffload/
_SOCKET_BUFFER = 4 * 1024 * 1024  # bytes; a 1 MB job passes in one sendmsg
_START_TIMEOUT = 60.0  # seconds for the first children to become ready
_EXIT_TIMEOUT = 5.0  # seconds to wait for a killed child to be reaped
_MAX_BACKOFF = 5.0  # seconds between attempts to start a child that keeps failing
_RESULT_STATUSES = frozenset({"ok", "error", "refused"})
CHILD_MALLOC_ENV: Mapping[str, str] = {
    "MALLOC_MMAP_THRESHOLD_": str(32 * 1024 * 1024),
    "MALLOC_TRIM_THRESHOLD_": str(64 * 1024 * 1024),
}
"""glibc malloc settings of the children (``env`` may override them): payloads up to
32 MiB come from the heap, and up to 64 MiB of freed heap is kept for the next job.
Faulting in fresh pages for every megabyte received costs far more than copying it (about
0.45 ms against 0.03 ms per MiB on the project's machine), and Dask sets
``MALLOC_TRIM_THRESHOLD_=65536`` in its workers, which would hand every payload fresh
pages."""

BLAS_THREADS_ENV = "EDGEOFFLOAD_BLAS_THREADS"
"""Where a worker process puts its ``--blas-threads`` for the pool (children do not get it)."""


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def _failed(status: JobStatus, error: str, waited: float = 0.0) -> JobResult:
    """A ``refused``, ``lost`` or ``cancelled`` result, with its one line."""
    return JobResult(status, {"error": error}, waited=waited)


def _call(callback: Callable[[JobResult], None], result: JobResult) -> None:
    try:
        callback(result)
    except Exception:
        logger.exception("a job's done-callback raised; ignored")


def _how_it_ended(returncode: int | None, expected: bool) -> str:
    if returncode is None:
        return "stopped answering"
    if returncode >= 0:
        return f"exited with code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    if name == "SIGKILL" and not expected:
        return "was killed by SIGKILL (out of memory, or killed from outside)"
    return f"was killed by {name}"


class _Child:
    """One child process, its socket and what it is doing.

    Locks: ``read_lock`` is held by whoever reads the socket (the monitor, or a thread
    waiting for the child's job), ``send_lock`` by whoever writes it; take ``read_lock``
    first when both are needed. The child sends one message per message it gets
    (``ready`` for ``init``, ``result`` for ``job``), so the reader's buffer is empty
    between messages and a readable socket means a message.
    """

    def __init__(self, proc: subprocess.Popen[bytes], sock: socket.socket) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.sock = sock
        self.reader = Reader(sock)
        self.read_lock = threading.Lock()
        self.send_lock = threading.Lock()
        self.exited = threading.Event()
        self.spawned = time.perf_counter()
        self.ready = False
        self.usable = True  # jobs may be given to it
        self.ended = False  # it is dead or being killed; its reaper runs
        self.watched = False  # its socket is in the monitor's selector
        self.job: _Handle | None = None
        self.owners: set[str] = set()
        self.last_used = 0.0
        self.doomed: str | None = None  # why the pool ends it: its job is then cancelled


class _Handle:
    """A submitted job: :class:`~edgeoffload.runtime.worker.jobs.JobHandle`."""

    def __init__(self, pool: ExecutorPool, job: Job, job_id: int) -> None:
        self.job = job
        self.id = job_id
        self.paths: dict[str, str] = {}
        self.submitted = time.perf_counter()
        self.waited = 0.0
        self.child: _Child | None = None
        self._pool = pool
        self._state: JobState = "queued"
        self._result: JobResult | None = None
        self._cond = threading.Condition(threading.Lock())
        self._callbacks: list[Callable[[JobResult], None]] = []

    @property
    def state(self) -> JobState:
        """``"queued"``, ``"running"`` or ``"done"``."""
        return self._state

    @property
    def pid(self) -> int | None:
        """The process running the job, while it runs."""
        child = self.child
        return child.pid if child is not None and self._state == "running" else None

    def wait(self, timeout: float | None = None) -> JobResult | None:
        """The result, or ``None`` if the job is not done within ``timeout`` seconds.

        While the job runs, the waiting thread reads the child's answer itself (one
        thread wake-up less than being told by the monitor).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._result is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            child = self.child
            if (
                self._state == "running"
                and child is not None
                and not child.ended
                and child.read_lock.acquire(blocking=False)
            ):
                try:
                    timed_out = self._pool._read_for(self, child, deadline)
                finally:
                    child.read_lock.release()
                if timed_out:
                    break
                continue  # done, or the child ended or the job went back in the queue
            with self._cond:
                # queued: woken when it starts; otherwise someone else reads its answer
                if self._result is None and (self._state == "queued" or self.child is child):
                    self._cond.wait(left)
        return self._result

    def cancel(self) -> bool:
        """Stop the job: dequeue it, or kill the process running it (a fresh process
        takes its slot). Its result becomes ``cancelled``. False if it was already done."""
        return self._pool._cancel(self)

    def add_done_callback(self, callback: Callable[[JobResult], None]) -> None:
        """Call ``callback(result)`` once the job is done (at once if it is); what it
        raises is logged."""
        with self._cond:
            result = self._result
            if result is None:
                self._callbacks.append(callback)
                return
        _call(callback, result)

    def _started(self, child: _Child, waited: float) -> None:
        with self._cond:
            self.child = child
            self.waited = waited
            self._state = "running"
            self._cond.notify_all()

    def _requeued(self) -> None:
        with self._cond:
            self.child = None
            self._state = "queued"

    def _finish(self, result: JobResult) -> bool:
        with self._cond:
            if self._result is not None:
                return False
            self._result = result
            self._state = "done"
            callbacks, self._callbacks = self._callbacks, []
            self._cond.notify_all()
        for callback in callbacks:
            _call(callback, result)
        return True


class ExecutorPool:
    """Child processes that run a worker's jobs (see the module docstring).

    Parameters
    ----------
    slots
        Jobs that may run at once (≥ 1); ``slots + 1`` children are kept.
    store
        The worker's code store: where a job's bundles are read from.
    name
        The worker's name, for messages.
    env
        Environment variables to set in the children, over this process's environment
        and :data:`CHILD_MALLOC_ENV`.
    blas_threads
        BLAS/OpenMP threads of an offloaded call (DAG tasks and probes get one). Default:
        :data:`BLAS_THREADS_ENV`, else the cores this process may run on.
    """

    def __init__(
        self,
        slots: int,
        store: CodeStore,
        *,
        name: str = "worker",
        env: Mapping[str, str] | None = None,
        blas_threads: int | None = None,
    ) -> None:
        if int(slots) < 1:
            raise ValueError(f"an executor needs at least one slot, got {slots!r}")
        if blas_threads is None:
            told = os.environ.get(BLAS_THREADS_ENV, "")
            blas_threads = int(told) if told.isdigit() else usable_cores()
        if blas_threads < 1:
            raise ValueError(f"blas_threads must be >= 1, got {blas_threads!r}")
        self.blas_threads = blas_threads
        self.slots = int(slots)
        self.store = store
        self.name = name
        self._env = dict(env or {})
        self._cond = threading.Condition()
        self._queue: collections.deque[_Handle] = collections.deque()
        self._children: list[_Child] = []
        self._ids = itertools.count(1)
        self._calls = 0
        self._started = False
        self._closed = False
        self._failures = 0  # children that died before they were ready, in a row
        self._last_failure = ""
        self._threads: list[threading.Thread] = []
        self._selector = selectors.DefaultSelector()
        self._selector_lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._monitor_stop = False

    def __enter__(self) -> ExecutorPool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- life cycle
    def start(self, timeout: float = _START_TIMEOUT) -> None:
        """Start the children and wait until every one is ready (idempotent).

        Raises
        ------
        OffloadError
            The pool is closed, a child died before it was ready, or they were not all
            ready within ``timeout`` seconds (the pool is then closed).
        """
        with self._cond:
            if self._closed:
                raise OffloadError(f"the executor of worker {self.name} is closed")
            if self._started:
                return
            self._started = True
            for target, role in ((self._monitor_loop, "monitor"), (self._spawn_loop, "spawner")):
                thread = threading.Thread(
                    target=target, name=f"edgeoffload-{self.name}-{role}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
        wanted = self.slots + 1
        ready = self.wait_ready(timeout)
        with self._cond:
            problem = self._last_failure if self._failures else ""
            count = sum(1 for c in self._children if c.ready)
        if not ready:
            self.close()
            raise OffloadError(
                f"the executor of worker {self.name} could not start: "
                + (problem or f"{count} of {wanted} child processes were ready after {timeout:g} s")
            )

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until all ``slots + 1`` children are ready (started and initialised);
        False after ``timeout`` seconds, once a child died before it was ready, or when
        the pool is closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._closed or self._failures:
                    return False
                if sum(1 for c in self._children if c.ready and not c.ended) > self.slots:
                    return True
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)

    def close(self) -> None:
        """Cancel every queued and running job and end every child (idempotent)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            queued = list(self._queue)
            self._queue.clear()
            children = list(self._children)
            for child in children:
                child.doomed = child.doomed or f"cancelled: the executor of {self.name} closed"
            self._cond.notify_all()
        line = f"cancelled: the executor of worker {self.name} closed"
        for handle in queued:
            handle._finish(_failed("cancelled", line, time.perf_counter() - handle.submitted))
        for child in children:
            self._end(child, kill=True)
        for child in children:
            if not child.exited.wait(_EXIT_TIMEOUT):
                logger.error("executor child %d did not end after SIGKILL", child.pid)
        self._monitor_stop = True
        if not self._threads:  # never started: the monitor would have closed these
            self._selector.close()
            self._wake_r.close()
            self._wake_w.close()
            return
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(_EXIT_TIMEOUT)

    # ---------------------------------------------------------------- jobs
    def submit(self, job: Job) -> JobHandle:
        """Queue ``job``; it runs as soon as a slot and a child are free.

        A job whose bundles are not in the store is ``refused`` at once; after
        :meth:`close`, every job is.

        Raises
        ------
        OffloadError
            :meth:`start` was not called.
        """
        if not self._started:
            raise OffloadError(f"the executor of worker {self.name} was not started")
        handle = _Handle(self, job, next(self._ids))
        try:
            digests = [job.fn[0]] if job.fn is not None and job.fn[0] else []
            digests += [d for d in job.bundles if d not in digests]
            handle.paths = {d: str(self.store.path(job.owner, d)) for d in digests}
        except BundleError as exc:
            handle._finish(_failed("refused", f"worker {self.name}: {exc}"))
            return handle
        with self._cond:
            closed = self._closed
            if not closed:
                self._queue.append(handle)
                sends = self._dispatch_locked()
        if closed:
            handle._finish(_failed("refused", f"the executor of worker {self.name} is closed"))
            return handle
        self._send_all(sends)
        return handle

    def drop_owner(self, owner: str) -> None:
        """Make every child that loaded ``owner``'s code forget it: an idle child at
        once, a busy one right after its job (the message waits in its socket). The
        stored bundles are the store's (:meth:`CodeStore.drop`)."""
        with self._cond:
            targets = [c for c in self._children if owner in c.owners and not c.ended]
            for child in targets:
                child.owners.discard(owner)
        for child in targets:
            try:
                with child.send_lock:
                    send_message(child.sock, {"op": ChildOp.DROP.value, "owner": owner})
            except OSError as exc:  # it is dying: what it loaded dies with it
                logger.info("could not tell executor child %d to drop an owner: %s", child.pid, exc)

    def load(self) -> dict[str, int]:
        """``running`` and ``waiting`` jobs now, and ``calls``: jobs run so far."""
        with self._cond:
            return {
                "running": sum(1 for c in self._children if c.job is not None),
                "waiting": len(self._queue),
                "calls": self._calls,
            }

    def pids(self) -> list[int]:
        """Process ids of the children alive now (the spare included)."""
        with self._cond:
            return [c.pid for c in self._children if not c.ended]

    # ---------------------------------------------------------------- dispatch
    def _dispatch_locked(self) -> list[tuple[_Child, _Handle]]:
        """Assign queued jobs to idle children (under the lock); the caller sends them."""
        out: list[tuple[_Child, _Handle]] = []
        if self._closed or not self._queue:
            return out
        running = sum(1 for c in self._children if c.job is not None)
        now = time.perf_counter()
        while self._queue and running < self.slots:
            idle = [c for c in self._children if c.ready and c.usable and c.job is None]
            if not idle:
                break
            handle = self._queue.popleft()
            owner = handle.job.owner
            child = max(idle, key=lambda c: (owner in c.owners, c.last_used))
            child.job = handle
            if owner:
                child.owners.add(owner)
            handle._started(child, now - handle.submitted)
            running += 1
            out.append((child, handle))
        return out

    def _send_all(self, sends: list[tuple[_Child, _Handle]]) -> None:
        for child, handle in sends:
            try:
                header, frames = job_message(handle.job, handle.id, handle.paths)
                with child.send_lock:
                    send_message(child.sock, header, frames)
            except OSError as exc:
                self._send_failed(child, handle, exc)
            except Exception as exc:  # the job's frames are not bytes-like: nothing was sent
                with self._cond:
                    if child.job is handle:
                        child.job = None
                    more = self._dispatch_locked()
                line = f"worker {self.name} cannot send the job to its executor: {exc!r}"
                handle._finish(_failed("refused", line, handle.waited))
                self._send_all(more)

    def _send_failed(self, child: _Child, handle: _Handle, exc: OSError) -> None:
        """The child's socket broke before it got the job: the job goes back first in
        line, the child is ended and replaced."""
        if not child.ended:
            logger.warning("executor child %d is unreachable (%s); ending it", child.pid, exc)
        with self._cond:
            child.usable = False
            requeue = child.job is handle and handle._result is None
            if requeue:
                child.job = None
                handle._requeued()
                self._queue.appendleft(handle)
        self._end(child, kill=True)
        if requeue:
            with self._cond:
                sends = self._dispatch_locked()
            self._send_all(sends)

    def _cancel(self, handle: _Handle) -> bool:
        with self._cond:
            if handle._result is not None:
                return False
            child = handle.child if handle._state == "running" else None
            if child is None:
                with contextlib.suppress(ValueError):
                    self._queue.remove(handle)
            else:
                child.doomed = child.doomed or (
                    f"cancelled: its executor process {child.pid} was killed"
                )
        if child is None:
            waited = time.perf_counter() - handle.submitted
            return handle._finish(_failed("cancelled", "cancelled before it started", waited))
        self._end(child, kill=True)
        if not child.exited.wait(_EXIT_TIMEOUT):
            logger.error("executor child %d did not end after SIGKILL", child.pid)
        # (its reaper has usually done so already)
        handle._finish(_failed("cancelled", child.doomed or "cancelled", handle.waited))
        result = handle.wait(0)
        return result is not None and result.status == "cancelled"

    # ---------------------------------------------------------------- reading
    def _read_for(self, handle: _Handle, child: _Child, deadline: float | None) -> bool:
        """Read ``child``'s messages in this thread until ``handle`` is done (the caller
        holds the child's read lock); True if ``deadline`` passed first."""
        if child.ended or child.job is not handle:
            return False
        self._unwatch(child)
        try:
            while handle._result is None and not child.ended:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return True
                poller = select.poll()  # (not select(): a worker's fds may pass 1024)
                poller.register(child.sock, select.POLLIN)
                if not poller.poll(None if left is None else max(1, math.ceil(left * 1000))):
                    return True
                self._read_one(child)
            return False
        finally:
            self._watch(child)

    def _read_one(self, child: _Child) -> None:
        """Read and act on one message of ``child`` (the caller holds its read lock)."""
        try:
            header, frames, _ = recv_message(child.sock, child.reader)
        except ConnectionResetError:  # it ended, or was killed
            self._end(child, kill=False)
            return
        except Exception as exc:
            if child.doomed is None and not child.ended:
                logger.error("executor child %d misbehaved (%s); ending it", child.pid, exc)
            self._end(child, kill=True)
            return
        op = header.get("op")
        try:
            if op == ChildOp.RESULT:
                self._on_result(child, header, frames)
            elif op == ChildOp.READY:
                self._on_ready(child)
            else:
                raise ConnectionError(f"unexpected message {op!r}")
        except ConnectionError as exc:
            logger.error("executor child %d misbehaved (%s); ending it", child.pid, exc)
            self._end(child, kill=True)

    def _on_ready(self, child: _Child) -> None:
        with self._cond:
            child.ready = True
            self._failures = 0
            logger.debug(
                "executor child %d ready in %.3f s", child.pid, time.perf_counter() - child.spawned
            )
            self._cond.notify_all()
            sends = self._dispatch_locked()
        self._send_all(sends)

    def _on_result(self, child: _Child, header: dict[str, Any], frames: list[bytearray]) -> None:
        status = header.pop("status", None)
        job_id = header.pop("id", None)
        header.pop("op", None)
        with self._cond:
            handle = child.job
            if handle is None or handle.id != job_id or status not in _RESULT_STATUSES:
                raise ConnectionError(
                    f"a result {status!r} for job {job_id!r}, but it runs "
                    f"{'nothing' if handle is None else f'job {handle.id}'}"
                )
            child.job = None
            child.last_used = time.perf_counter()
            self._calls += 1
            sends = self._dispatch_locked()
        handle._finish(JobResult(status, header, list(frames), handle.waited))
        self._send_all(sends)

    def _monitor_loop(self) -> None:
        """Read the messages of every child nobody else is reading (idle children, jobs
        with no waiting thread), and notice children that end."""
        try:
            while not self._monitor_stop:
                for key, _ in self._selector.select():
                    child = key.data
                    if child is None:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(64)
                        continue
                    if not child.read_lock.acquire(blocking=False):
                        continue  # a waiting thread reads it (and takes it off the selector)
                    try:
                        if not child.ended:
                            self._read_one(child)
                    except Exception:  # a bug here must not stop every job's answers
                        logger.exception(
                            "executor monitor of %s: reading child %d", self.name, child.pid
                        )
                    finally:
                        child.read_lock.release()
        finally:
            with self._selector_lock:
                self._selector.close()
            self._wake_r.close()
            self._wake_w.close()

    def _watch(self, child: _Child) -> None:
        with self._selector_lock:
            if not child.ended and not child.watched and not self._monitor_stop:
                self._selector.register(child.sock, selectors.EVENT_READ, child)
                child.watched = True

    def _unwatch(self, child: _Child) -> None:
        with self._selector_lock:
            if child.watched and not self._monitor_stop:
                self._selector.unregister(child.sock)
                child.watched = False

    # ---------------------------------------------------------------- children
    def _is_closed(self) -> bool:
        return self._closed  # (a call: the flag changes while the spawner waits)

    def _spawn_loop(self) -> None:
        """Keep ``slots + 1`` children alive (this thread spawns every one of them)."""
        while True:
            with self._cond:
                while not self._closed and len(self._children) > self.slots:
                    self._cond.wait()
                if self._closed:
                    return
                if self._failures:
                    backoff = min(_MAX_BACKOFF, 0.1 * 2 ** (self._failures - 1))
                    deadline = time.monotonic() + backoff
                    while not self._is_closed() and (left := deadline - time.monotonic()) > 0:
                        self._cond.wait(left)
                    if self._is_closed():
                        return
            try:
                child = self._spawn()
            except OSError as exc:
                with self._cond:
                    self._failures += 1
                    self._last_failure = f"cannot start a child process: {exc}"
                    self._cond.notify_all()
                logger.error("executor of %s: %s", self.name, self._last_failure)
                continue
            with self._cond:
                closed = self._is_closed()
                if not closed:
                    self._children.append(child)
            if closed:
                child.doomed = "the executor closed"
                self._end(child, kill=True)
                return
            self._watch(child)

    def _child_env(self) -> dict[str, str]:
        """This process's environment, :data:`CHILD_MALLOC_ENV` and ``env``; the folder
        this ``edgeoffload`` was imported from goes first on ``PYTHONPATH``, so that the
        child runs the same code even when it is not installed."""
        env = {**os.environ, **CHILD_MALLOC_ENV, **self._env}
        env.pop(BLAS_THREADS_ENV, None)
        paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        if _PACKAGE_ROOT not in paths:
            env["PYTHONPATH"] = os.pathsep.join([_PACKAGE_ROOT, *paths])
        return env

    def _spawn(self) -> _Child:
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            for end in (parent_end, child_end):
                end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SOCKET_BUFFER)
                end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SOCKET_BUFFER)
            fd = child_end.fileno()
            proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD_MAIN, str(fd), str(os.getpid())],
                pass_fds=(fd,),
                stdin=subprocess.DEVNULL,
                env=self._child_env(),
            )
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()
        child = _Child(proc, parent_end)
        try:
            init = {"op": ChildOp.INIT.value, "worker": self.name, "path": list(sys.path)}
            send_message(parent_end, {**init, "blas_threads": self.blas_threads})
        except OSError as exc:  # it died at once: the monitor reports how
            logger.info("executor child %d did not take its init message: %s", proc.pid, exc)
        return child

    def _end(self, child: _Child, kill: bool) -> None:
        """``child`` is dead or must die: stop reading it, kill it if asked, and reap it
        in a thread of its own (once)."""
        with self._cond:
            if child.ended:
                return
            child.ended = True
            child.usable = False
        self._unwatch(child)
        if kill:
            with contextlib.suppress(OSError):  # already gone
                child.proc.kill()
        threading.Thread(
            target=self._reap,
            args=(child, kill),
            name=f"edgeoffload-{self.name}-reap-{child.pid}",
            daemon=True,
        ).start()

    def _reap(self, child: _Child, killed: bool) -> None:
        """Wait for an ended child, settle its job, let the spawner replace it."""
        try:
            returncode: int | None = child.proc.wait(_EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:  # it closed its socket but lives on
            with contextlib.suppress(OSError):
                child.proc.kill()
            try:
                returncode = child.proc.wait(_EXIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                logger.error("executor child %d did not end after SIGKILL", child.pid)
                returncode = None
        how = _how_it_ended(returncode, expected=killed or child.doomed is not None)
        with self._cond:
            if child in self._children:
                self._children.remove(child)
            handle, child.job = child.job, None
            if handle is not None:
                self._calls += 1
            if not child.ready and child.doomed is None and not self._closed:
                self._failures += 1
                self._last_failure = (
                    f"child process {child.pid} {how} before it was ready (its error output "
                    "went to the worker's stderr)"
                )
                logger.error("executor of %s: %s", self.name, self._last_failure)
            self._cond.notify_all()
            sends = self._dispatch_locked()
        child.exited.set()
        if handle is None and child.ready and child.doomed is None and not killed:
            logger.warning("executor child %d %s while idle; replacing it", child.pid, how)
        if handle is not None:
            if child.doomed is not None:
                result = _failed("cancelled", child.doomed, handle.waited)
            else:
                line = (
                    f"worker {self.name}: the executor process {child.pid} running "
                    f"{handle.job.label or 'the job'} {how}"
                )
                logger.warning("%s", line)
                result = _failed("lost", line, handle.waited)
            handle._finish(result)
        self._send_all(sends)
        with child.read_lock, child.send_lock:  # nobody reads or writes it any more
            child.sock.close()
