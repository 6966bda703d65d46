"""The main of an executor child process: user code runs here, one job at a time.

Started by :class:`~edgeoffload.runtime.worker.executor.ExecutorPool` as the equivalent
of::

    python -m edgeoffload.runtime.worker.child FD [PARENT_PID]

(the pool runs :func:`main` through ``python -c``: the package's ``__init__`` modules
already import this module, so ``-m`` would run a second copy of it). ``FD`` is this
process's end of a ``socket.socketpair(AF_UNIX)`` with the worker; ``PARENT_PID`` the
worker's process id (default: the parent at start). Messages are the
wire format of :mod:`edgeoffload.runtime.wire.protocol` (a JSON header, binary frames):

=========  ============  ==========================================================
``op``     direction     what
=========  ============  ==========================================================
``init``   worker→child  first message: the worker's name and ``sys.path``
``ready``  child→worker  the answer to ``init``
``job``    worker→child  one :class:`~edgeoffload.runtime.worker.jobs.Job`
                         (:func:`job_message`)
``result`` child→worker  how it ended: ``id``, ``status`` and the result's fields
                         (:class:`~edgeoffload.runtime.worker.jobs.JobResult`)
``drop``   worker→child  forget everything loaded for ``owner``
=========  ============  ==========================================================

Jobs run in the main thread; the process starts no other thread (on Linux), so nothing
but the job touches the global :mod:`random` or numpy's global generator, and a seeded
program returns what it returns locally. The process

- dies with the worker: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` on Linux (the worker spawns
  every child from one long-lived thread, since the signal follows the thread that
  spawned the child); it exits at once if the worker died before that was armed (its
  parent changed), and elsewhere a watchdog thread checks the parent twice a second; an
  idle child also ends when the worker's end of the socket closes;
- ignores SIGINT and SIGTERM: a Ctrl-C at the worker's terminal, or a SIGTERM to its
  process group, reaches every process of the group, and the worker decides when a child
  ends (it kills it, to stop a job or when it closes).
"""

from __future__ import annotations

import contextlib
import enum
import importlib
import inspect
import io
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from edgeoffload.errors import BundleError
from edgeoffload.runtime.host.procs import die_with_parent
from edgeoffload.runtime.wire.errors import error_reply, strip_worker_names
from edgeoffload.runtime.wire.protocol import (
    Frames,
    Reader,
    call_by_value,
    dumps,
    loads,
    recv_message,
    send_message,
)
from edgeoffload.runtime.worker.jobs import Job
from edgeoffload.runtime.worker.kernels import probe_benchmark
from edgeoffload.runtime.worker.loader import (
    Namespace,
    activate,
    deactivate,
    is_loaded,
    load_bundle,
    renamer,
    resolve,
    unload_owner,
)

__all__ = [
    "MUTATION_CHECK_LIMIT",
    "OUTPUT_LIMIT",
    "ChildOp",
    "JobThreads",
    "job_message",
    "main",
    "run_job",
]

logger = logging.getLogger(__name__)


class ChildOp(enum.StrEnum):
    """The ``op`` of a message between the worker and a child."""

    INIT = "init"
    READY = "ready"
    JOB = "job"
    RESULT = "result"
    DROP = "drop"


def job_message(
    job: Job, job_id: int, paths: Mapping[str, str]
) -> tuple[dict[str, Any], list[Any]]:
    """The ``job`` message for ``job``: its header and frames (the job's own frame
    objects, not copies).

    Parameters
    ----------
    job
        The job.
    job_id
        Its number in this pool; the result carries it back.
    paths
        Bundle hash -> stored file of every bundle the job may need, the function's first.
    """
    frames: list[Any] = list(job.frames)
    split = [len(frames)]
    for item in job.inputs:
        frames.extend(item)
        split.append(len(item))
    header = {
        "op": ChildOp.JOB.value,
        "id": job_id,
        "kind": job.kind,
        "owner": job.owner,
        "fn": list(job.fn) if job.fn is not None else None,
        "bundles": dict(paths),
        "work": job.work,
        "label": job.label,
        "split": split,
    }
    return header, frames


def _refused(job_id: Any, error: str) -> tuple[dict[str, Any], Frames]:
    return {"op": ChildOp.RESULT.value, "id": job_id, "status": "refused", "error": error}, []


OUTPUT_LIMIT = 1 << 20
"""Bytes of each of a call's ``stdout`` and ``stderr`` sent back (UTF-8); the rest is cut."""

MUTATION_CHECK_LIMIT = 64 << 20
"""A call whose pickled arguments are larger than this many bytes is not checked for
arguments changed in place (the check keeps a copy of them while the call runs)."""


class _Sink(io.BufferedIOBase):
    """The bytes written to one captured stream: the first ``limit`` kept, the rest
    counted; once :meth:`detach_to` was called, what comes later goes to another stream.
    Its :meth:`fileno` is the replaced stream's (a subprocess given ``sys.stdout``
    writes where it wrote before: to the worker's output)."""

    def __init__(self, name: str, limit: int, replaced: Any) -> None:
        super().__init__()
        self.name = f"<{name} of the call>"
        self.limit = limit
        self.replaced = replaced
        self.data = bytearray()
        self.cut = 0
        self.forward: Any = None

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        if self.replaced is None:
            raise io.UnsupportedOperation("fileno")
        return int(self.replaced.fileno())

    def write(self, data: Any) -> int:  # bytes-like
        if self.forward is not None:  # a stream user code kept beyond its call
            with contextlib.suppress(OSError, ValueError):  # closed, broken
                self.forward.write(data)
        view = memoryview(data).cast("B") if not isinstance(data, (bytes, bytearray)) else data
        size = len(view)
        if self.forward is None:
            room = self.limit - len(self.data)
            if size <= room:
                self.data += view
            else:
                self.data += view[: max(room, 0)]
                self.cut += size - max(room, 0)
        return size

    def detach_to(self, forward: Any) -> None:
        self.forward = forward


def _captured_text(sink: _Sink, stream: str) -> str:
    """What ``sink`` kept, as text, with a last line saying what was cut."""
    data = sink.data
    cut = sink.cut
    if cut:  # do not end in the middle of a character
        end = len(data)
        start = end
        while start > 0 and end - start < 3 and data[start - 1] & 0xC0 == 0x80:
            start -= 1
        if start > 0 and data[start - 1] >= 0xC0:
            lead = data[start - 1]
            needed = 4 if lead >= 0xF0 else 3 if lead >= 0xE0 else 2
            if end - (start - 1) < needed:
                cut += end - (start - 1)
                data = data[: start - 1]
    text = strip_worker_names(bytes(data).decode("utf-8", errors="replace"))
    if cut:
        text += "" if text.endswith("\n") else "\n"
        text += (
            f"[edgeoffload: {cut} more bytes written to {stream} by this call were cut; "
            f"the first {len(data)} are shown]\n"
        )
    return text


class _Output:
    """A call's ``sys.stdout`` and ``sys.stderr``, captured while it runs (bounded by
    :data:`OUTPUT_LIMIT` each). Python-level writes only: what C code or a subprocess
    writes to file descriptors 1 and 2 goes to the worker's own output, as before. A
    stream user code keeps beyond its call (a logging handler) writes there too."""

    def __init__(self) -> None:
        self.saved: tuple[TextIO, TextIO] = (sys.stdout, sys.stderr)
        self.sinks = (
            _Sink("stdout", OUTPUT_LIMIT, sys.stdout),
            _Sink("stderr", OUTPUT_LIMIT, sys.stderr),
        )
        self.streams = tuple(
            io.TextIOWrapper(
                sink, encoding="utf-8", errors="backslashreplace", newline="\n", write_through=True
            )
            for sink in self.sinks
        )
        sys.stdout, sys.stderr = self.streams

    def finish(self) -> dict[str, str]:
        """Put the streams back; the ``stdout``/``stderr`` fields of what was written
        (none when nothing was)."""
        for stream in self.streams:
            with contextlib.suppress(OSError, ValueError):  # closed, broken
                stream.flush()
        sys.stdout, sys.stderr = self.saved
        fields = {}
        for name, sink, saved in zip(("stdout", "stderr"), self.sinks, self.saved, strict=True):
            sink.detach_to(getattr(saved, "buffer", None))
            if sink.data or sink.cut:
                fields[name] = _captured_text(sink, name)
        return fields


_IMMUTABLE = frozenset({int, float, complex, bool, str, bytes, type(None), range, slice})


def _immutable(value: Any, depth: int = 2) -> bool:
    """Whether ``value`` certainly cannot be changed in place (no need to check it)."""
    kind = type(value)
    if kind in _IMMUTABLE:
        return True
    if (kind is tuple or kind is frozenset) and depth > 0 and len(value) <= 64:
        return all(_immutable(item, depth - 1) for item in value)
    return False


def _same(before: Sequence[bytes], after: Sequence[Any]) -> bool:
    return len(before) == len(after) and all(
        len(b) == memoryview(a).nbytes and b.startswith(a)
        for b, a in zip(before, after, strict=True)
    )


class _Arguments:
    """A call's arguments as they arrived, to tell afterwards which it changed in place.

    Each argument (``self`` and every positional and keyword argument) is pickled with
    :func:`~edgeoffload.runtime.wire.protocol.dumps` once unpickled here, and again
    after the call: an argument whose pickle differs was changed in place. Both pickles
    are made in this process from the same object, so what pickles differently without
    any change between two processes (a set's order, a ``-0.0``, a ``nan``, a numpy
    array's buffer) compares equal. Arguments that cannot change (numbers, strings,
    bytes, tuples of those) are not pickled; a call whose arguments arrived larger than
    :data:`MUTATION_CHECK_LIMIT` bytes is not checked.
    """

    def __init__(self, args: Sequence[Any], kwargs: Mapping[str, Any], size: int) -> None:
        self.before: list[tuple[int | str, Any, list[bytes]]] = []
        if size > MUTATION_CHECK_LIMIT:
            return
        named: list[tuple[int | str, Any]] = [*enumerate(args), *kwargs.items()]
        for key, value in named:
            if _immutable(value):
                continue
            try:  # a copy: out-of-band buffers are the argument's own memory
                frames = [bytes(f) for f in dumps(value)]
            except Exception:  # it arrived pickled, so this is rare: do not check it
                continue
            self.before.append((key, value, frames))

    def fields(self, function: Callable[..., Any], result: Any) -> dict[str, list[str]]:
        """``{"mutated": names}`` of the arguments the call changed in place, or ``{}``
        (an argument that is the call's result, ``return x`` after changing ``x``, is
        not reported). Never raises."""
        keys: list[int | str] = []
        for key, value, frames in self.before:
            if value is result:
                continue
            try:
                same = _same(frames, dumps(value))
            except Exception:  # it no longer pickles: it was changed
                same = False
            if not same:
                keys.append(key)
        if not keys:
            return {}
        try:
            return {"mutated": _argument_names(function, keys)}
        except Exception:  # a signature that cannot even be read: positions only
            return {
                "mutated": [
                    f"argument {k + 1}" if isinstance(k, int) else f"keyword '{k}'" for k in keys
                ]
            }


def _argument_names(function: Callable[..., Any], keys: Sequence[int | str]) -> list[str]:
    """How to name arguments (positions or keywords) of a call of ``function`` to its
    user: ``"self"``, ``"argument 1 (items)"``, ``"argument 3"``, ``"keyword 'out'"``.
    Positions count from 1, after ``self``."""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):  # no signature: positions only
        parameters = []
    positional = [
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    method = bool(positional) and positional[0] == "self"
    names = []
    for key in keys:
        if isinstance(key, str):
            names.append(f"keyword '{key}'")
        elif key == 0 and method:
            names.append("self")
        else:
            number = key if method else key + 1
            name = f" ({positional[key]})" if key < len(positional) else ""
            names.append(f"argument {number}{name}")
    return names


def _without_run_job(exc: BaseException) -> BaseException:
    """``exc`` without the frames of :func:`_run_job` (and of
    :func:`~edgeoffload.runtime.wire.protocol.call_by_value`) at the top of its
    traceback: it starts where the user's code does."""
    tb = exc.__traceback__
    if tb is None or tb.tb_frame.f_code is not _run_job.__code__:
        return exc
    while tb.tb_next is not None and tb.tb_frame.f_code in (
        _run_job.__code__,
        call_by_value.__code__,
    ):
        tb = tb.tb_next
    return exc.with_traceback(tb)


def _dump_result(result: Any) -> Frames:
    """The pickled result; a result that cannot travel is the caller's error, named."""
    try:
        return dumps(result)
    except Exception as exc:
        raise TypeError(
            f"the function returned a {type(result).__module__}.{type(result).__qualname__}, "
            f"which cannot be sent back to the client: {exc}"
        ) from None


def run_job(
    header: Mapping[str, Any], frames: Sequence[Any], worker: str
) -> tuple[dict[str, Any], Frames]:
    """Run one ``job`` message here; return the ``result`` message (never raises).

    See :func:`_run_job`; afterwards the owner's module names no longer resolve by string.
    """
    try:
        return _run_job(header, frames, worker)
    finally:
        deactivate()


def _run_job(
    header: Mapping[str, Any], frames: Sequence[Any], worker: str
) -> tuple[dict[str, Any], Frames]:
    """Run one ``job`` message here; return the ``result`` message (never raises).

    Loads the bundles the job names (verified; ``cold`` says whether any was loaded for
    it), resolves its function, unpickles its arguments and a task's inputs with the
    owner's module names mapped to the private ones (no argument frames: no arguments),
    calls it and pickles what it returns. What stops the job from starting is
    ``refused`` with one line; what the
    function raises is an ``error`` (:func:`~edgeoffload.runtime.wire.errors.error_reply`).

    A ``call`` job's result (``ok`` or ``error``) also carries, each only when not
    empty: ``stdout`` and ``stderr``, what the call wrote to :data:`sys.stdout` and
    :data:`sys.stderr` (Python-level writes; at most :data:`OUTPUT_LIMIT` bytes each, then
    a line saying how much was cut), and ``mutated``, the names of the arguments it
    changed in place (``"self"``, ``"argument 1 (items)"``, ``"keyword 'out'"``; see
    :class:`_Arguments`). A task's or a probe's output goes to the worker's own output.
    """
    job_id = header.get("id")
    if header.get("kind") == "probe":
        seconds = probe_benchmark(int(header.get("work", 0)))
        return {
            "op": ChildOp.RESULT.value,
            "id": job_id,
            "status": "ok",
            "compute": seconds,
            "seconds": seconds,
            "cold": False,
        }, []
    owner = str(header.get("owner", ""))
    what = str(header.get("label") or "the job")
    try:
        cold = False
        namespaces: dict[str, Namespace] = {}
        for digest, path in dict(header.get("bundles") or {}).items():
            cold = cold or not is_loaded(owner, digest)
            namespaces[digest] = load_bundle(owner, digest, Path(path))
        activate(namespaces.values())  # imports by string find the owner's modules
        fn = header.get("fn")
        if not fn:
            raise TypeError(f"a {header.get('kind')} job must name a function")
        function = resolve(fn, namespaces)
        rename = renamer(namespaces.values())
        split = [int(n) for n in header.get("split") or [len(frames)]]
        args, kwargs = loads(frames[: split[0]], rename) if split[0] else ((), {})
        inputs = []
        at = split[0]
        for count in split[1:]:
            inputs.append(loads(frames[at : at + count], rename))
            at += count
    except BundleError as exc:
        return _refused(job_id, f"worker {worker}: {exc}")
    except Exception as exc:  # the job cannot even start here: let the client move it
        return _refused(
            job_id, f"worker {worker} cannot prepare {what}: {type(exc).__name__}: {exc}"
        )
    call = header.get("kind") == "call"
    user_function, user_args = function, args
    if function is call_by_value and args:  # the function travelled as the first argument
        user_function, user_args = args[0], args[1:]
    arguments = (
        _Arguments(user_args, kwargs, sum(memoryview(f).nbytes for f in frames[: split[0]]))
        if call
        else None
    )
    output = _Output() if call else None
    printed: dict[str, str] = {}
    try:
        start = time.perf_counter()
        result: Any = None
        try:
            result = function(*inputs, *args, **kwargs)
            compute = time.perf_counter() - start
            out = _dump_result(result)
            fields: dict[str, Any] = {"status": "ok"}
        except BaseException as exc:  # the user's error (or an unpicklable result) travels back
            compute = time.perf_counter() - start
            fields, out = error_reply(_without_run_job(exc), "the offloaded function", worker)
        if arguments is not None:
            fields.update(arguments.fields(user_function, result))
    finally:
        if output is not None:
            printed = output.finish()
    fields.update(printed)
    return {
        "op": ChildOp.RESULT.value,
        "id": job_id,
        **fields,
        "compute": compute,
        "cold": cold,
    }, out


class JobThreads:
    """How many threads the native thread pools (BLAS, OpenMP) of this process may use,
    set before each job from its kind.

    An offloaded call (``"call"``) may use ``calls`` threads; a DAG task or a probe
    (``"task"``, ``"probe"``) one, as the scheduling cost model and the calibration
    assume. Environment variables such as ``OPENBLAS_NUM_THREADS`` act only when a
    library loads, so the limits are set with :mod:`threadpoolctl` (a few microseconds
    a job); the loaded libraries are looked up again after a job that imported modules.
    A library that a job loads for the first time runs that job at its own default.

    Parameters
    ----------
    calls
        Threads of an offloaded call (≥ 1).
    """

    def __init__(self, calls: int) -> None:
        self.calls = max(1, int(calls))
        self._controller: Any = None
        self._modules = -1  # len(sys.modules) when the libraries were last looked up
        self._look_up()

    def _look_up(self) -> None:
        try:  # (untyped: imported by name)
            threadpoolctl = importlib.import_module("threadpoolctl")
        except ImportError:  # only without the runtime extra: the libraries' defaults
            self._controller = None
        else:
            self._controller = threadpoolctl.ThreadpoolController()
        self._modules = len(sys.modules)

    def limit(self, kind: str) -> int:
        """Set the limit for a job of ``kind``; the limit set."""
        threads = self.calls if kind == "call" else 1
        if self._modules != len(sys.modules):
            self._look_up()
        if self._controller is not None:
            self._controller.limit(limits=threads)
        return threads


def main(argv: Sequence[str]) -> int:
    """Serve the worker on the socket ``argv[0]`` until it closes; the exit status."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if not argv or not argv[0].isdigit():
        print("usage: python -m edgeoffload.runtime.worker.child FD [PARENT_PID]", file=sys.stderr)
        return 2
    parent = int(argv[1]) if len(argv) > 1 else os.getppid()
    die_with_parent(parent)
    sock = socket.socket(fileno=int(argv[0]))
    reader = Reader(sock)
    try:
        header, _, _ = recv_message(sock, reader)
        if header.get("op") != ChildOp.INIT:
            print(f"executor child: expected init, got {header.get('op')!r}", file=sys.stderr)
            return 2
        worker = str(header.get("worker", "worker"))
        path = header.get("path")
        if isinstance(path, list):
            sys.path[:] = [str(p) for p in path]
        threads = JobThreads(int(header.get("blas_threads") or 1))
        send_message(sock, {"op": ChildOp.READY.value})
        while True:
            header, frames, _ = recv_message(sock, reader)
            op = header.get("op")
            if op == ChildOp.JOB:
                threads.limit(str(header.get("kind")))
                reply, out = run_job(header, frames, worker)
                del frames
                send_message(sock, reply, out)
                del reply, out
            elif op == ChildOp.DROP:
                unload_owner(str(header.get("owner", "")))
            else:
                print(f"executor child: unknown message {op!r}", file=sys.stderr)
                return 2
    except (ConnectionError, OSError):
        return 0  # the worker closed its end: it is gone or done with us
    finally:
        sock.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
