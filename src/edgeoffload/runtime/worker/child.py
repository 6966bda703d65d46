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

import enum
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from edgeoffload.errors import BundleError
from edgeoffload.runtime.host.procs import die_with_parent
from edgeoffload.runtime.wire.errors import error_reply
from edgeoffload.runtime.wire.protocol import (
    Frames,
    Reader,
    dumps,
    loads,
    recv_message,
    send_message,
)
from edgeoffload.runtime.worker.jobs import Job
from edgeoffload.runtime.worker.kernels import probe_benchmark
from edgeoffload.runtime.worker.loader import (
    Namespace,
    is_loaded,
    load_bundle,
    renamer,
    resolve,
    unload_owner,
)

__all__ = ["ChildOp", "job_message", "main", "run_job"]

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


def run_job(
    header: Mapping[str, Any], frames: Sequence[Any], worker: str
) -> tuple[dict[str, Any], Frames]:
    """Run one ``job`` message here; return the ``result`` message (never raises).

    Loads the bundles the job names (verified; ``cold`` says whether any was loaded for
    it), resolves its function, unpickles its arguments and a task's inputs with the
    owner's module names mapped to the private ones (no argument frames: no arguments),
    calls it and pickles what it returns. What stops the job from starting is
    ``refused`` with one line; what the
    function raises is an ``error`` (:func:`~edgeoffload.runtime.wire.errors.error_reply`).
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
    start = time.perf_counter()
    try:
        result = function(*inputs, *args, **kwargs)
        compute = time.perf_counter() - start
        out = dumps(result)
    except BaseException as exc:  # the user's error (or an unpicklable result) travels back
        compute = time.perf_counter() - start
        fields, out = error_reply(exc, "the offloaded function", worker)
        return {
            "op": ChildOp.RESULT.value,
            "id": job_id,
            **fields,
            "compute": compute,
            "cold": cold,
        }, out
    return {
        "op": ChildOp.RESULT.value,
        "id": job_id,
        "status": "ok",
        "compute": compute,
        "cold": cold,
    }, out


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
        send_message(sock, {"op": ChildOp.READY.value})
        while True:
            header, frames, _ = recv_message(sock, reader)
            op = header.get("op")
            if op == ChildOp.JOB:
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
