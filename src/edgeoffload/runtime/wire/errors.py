"""Errors across the wire: an exception raised on a worker, reported and rebuilt here.

A worker never lets an exception escape a message handler. It answers with
:func:`error_reply`: a header with the exception's type, message and formatted traceback
(enough to report it even when it cannot be unpickled on the other side) and, when it
pickles, the exception itself. The client turns that reply back into an exception with
:func:`rebuild_exception`: the original type where it can be rebuilt, its ``__cause__`` a
:class:`~edgeoffload.errors.RemoteTaskError` carrying the worker's traceback — the way
:mod:`multiprocessing` reports a worker's error.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Mapping
from typing import Any

from edgeoffload.errors import RemoteTaskError
from edgeoffload.runtime.wire.protocol import Frames, client_module_name, dumps, loads

__all__ = ["error_reply", "rebuild_exception"]


def error_reply(exc: BaseException, what: str, worker: str) -> tuple[dict[str, Any], Frames]:
    """The ``status: error`` reply for ``exc`` raised by ``what`` on ``worker``.

    An interpreter exit or interrupt inside user code becomes a RuntimeError: it must not
    stop the worker. The type is named as the client knows it (its module without the
    worker's private prefix, :func:`~edgeoffload.runtime.wire.protocol.client_module_name`).
    """
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        exc = RuntimeError(f"{what} raised {type(exc).__name__}")
    tb = "".join(traceback.format_exception(exc))
    try:
        out = dumps(exc)
    except Exception:  # an unpicklable exception still reports type, message and traceback
        out = []
    header = {
        "status": "error",
        "type": f"{client_module_name(type(exc).__module__)}.{type(exc).__qualname__}",
        "message": str(exc),
        "traceback": tb,
        "worker": worker,
    }
    return header, out


def rebuild_exception(reply: Mapping[str, Any], frames: list[Any], key: str) -> BaseException:
    """The exception an ``error`` reply stands for, raised by ``key`` (a function or task).

    The original exception when it unpickles here, with ``__cause__`` a
    :class:`RemoteTaskError` holding the remote traceback (also set as the exception's
    ``remote_traceback`` where it takes attributes); else that :class:`RemoteTaskError`.
    """
    remote_tb = str(reply.get("traceback", ""))
    worker = reply.get("worker", "?")
    cause = RemoteTaskError(
        f"{key} raised {reply.get('type')} on worker {worker}; remote traceback:\n{remote_tb}",
        remote_traceback=remote_tb,
    )
    exc: BaseException | None = None
    if frames:
        try:
            rebuilt = loads(frames, rename=client_module_name)
        except Exception:
            rebuilt = None
        if isinstance(rebuilt, BaseException):
            exc = rebuilt
    if exc is None:
        return RemoteTaskError(
            f"{key} raised {reply.get('type')}: {reply.get('message')} on worker {worker} "
            f"(the exception could not be rebuilt here); remote traceback:\n{remote_tb}",
            remote_traceback=remote_tb,
        )
    with contextlib.suppress(AttributeError, TypeError):
        exc.remote_traceback = remote_tb  # type: ignore[attr-defined]
    exc.__cause__ = cause
    return exc
