"""Errors across the wire: an exception raised on a worker, reported and rebuilt here.

A worker never lets an exception escape a message handler. It answers with
:func:`error_reply`: a header with the exception's type, message and formatted traceback
(enough to report it even when it cannot be unpickled on the other side) and, when it
pickles, the exception itself. The client turns that reply back into an exception with
:func:`rebuild_exception`: the original type where it can be rebuilt, its ``__cause__`` a
:class:`~edgeoffload.errors.RemoteTaskError` carrying the worker's traceback — the way
:mod:`multiprocessing` reports a worker's error.

Faithful rebuilding. Pickle rebuilds an exception as ``cls(*exc.args)``, which fails (or
builds another message) when the class's ``__init__`` does not take back what it passed
to ``super().__init__``: ``Bad(code, detail)`` calling ``super().__init__(f"{code}:
{detail}")``. A user's exception classes (that define no reduction of their own) are
therefore pickled through :func:`restore_exception`, which tries that standard path
and keeps its result only when it has the same type and ``args``; otherwise it makes
the instance with ``cls.__new__`` and sets ``args``. Either way the instance's
``__dict__`` is restored afterwards, and so are the fields a built-in base keeps apart
(an :class:`OSError`'s ``errno`` and ``filename``), so ``Bad`` arrives with its
``.code`` and its ``str()``. Built-in exception classes, and user classes with a
reduction of their own (``__reduce__``, a :mod:`copyreg` entry), pickle as they say.

No private names. A worker imports a client's modules under private names
(``_eo_<owner>_<hash>.app.board``) from a stored archive
(``<store>/<hash>.zip/app/board.py``). Every type name, message and traceback sent to the
client loses those prefixes and archive folders (:func:`strip_worker_names`); on the
client, traceback lines ``File "app/board.py"`` name the client's own file when that
module is loaded here.
"""

from __future__ import annotations

import contextlib
import copyreg
import io
import os
import pickle
import re
import sys
import traceback
import types
from collections.abc import Mapping
from typing import Any

from edgeoffload.errors import RemoteTaskError
from edgeoffload.runtime.wire.protocol import (
    WORKER_MODULE_PREFIX,
    Frames,
    client_module_name,
    loads,
)

__all__ = ["error_reply", "rebuild_exception", "restore_exception", "strip_worker_names"]

_PRIVATE_PREFIX = re.compile(rf"(?<![0-9A-Za-z_]){re.escape(WORKER_MODULE_PREFIX)}[0-9A-Za-z_]*\.")
# a stored bundle archive, as a folder of a module's path: <store>/<64 hex>.zip/, or the
# folder it was extracted to: <store>/<64 hex>.files/
_ARCHIVE = re.compile(r"[0-9a-f]{64}\.(?:zip|files)[/\\]")
_PATH_ENDS = frozenset(" \t\r\n\"'<>()[]{},;=")
_TRACEBACK_FILE = re.compile(r'(File ")([^"\n]+\.py)(")')


def strip_worker_names(text: str) -> str:
    """``text`` with a worker's private module prefixes and archive folders removed.

    ``_eo_1f2e3d4c5b_a1b2c3d4e5f6.app.board`` becomes ``app.board`` and
    ``/dev/shm/edgeoffload/w.1/1f2e3d4c5b/<64 hex>.zip/app/board.py`` becomes
    ``app/board.py``: what the client calls them. Text without either is returned as is.
    """
    if WORKER_MODULE_PREFIX in text:
        text = _PRIVATE_PREFIX.sub("", text)
    if ".zip" in text or ".files" in text:
        text = _strip_archives(text)
    return text


def _strip_archives(text: str) -> str:
    """Remove every ``<folder>/<64 hex>.zip/`` (or ``.files/``), in linear time: each
    folder is found by walking back from its archive name to the start of the path (to
    its opening quote when the path is quoted and holds spaces)."""
    out: list[str] = []
    done = 0
    for match in _ARCHIVE.finditer(text):
        begin = match.start()
        while begin > done and text[begin - 1] not in _PATH_ENDS:
            begin -= 1
        if begin > done and text[begin - 1] in " \t":
            line = text.rfind("\n", 0, begin) + 1
            quote = max(text.rfind('"', line, begin), text.rfind("'", line, begin))
            if (
                quote >= done
                and text[quote + 1 : quote + 2] in ("/", "\\")
                and text.count(text[quote], line, quote) % 2 == 0
            ):
                begin = quote + 1
        out.append(text[done:begin])
        done = match.end()
    out.append(text[done:])
    return "".join(out)


def _client_file(match: re.Match[str]) -> str:
    path = match.group(2)
    if os.path.isabs(path) or path.startswith("<"):
        return match.group(0)
    name = path[: -len(".py")].replace("\\", "/").replace("/", ".")
    name = name.removesuffix(".__init__")
    module = sys.modules.get(name)
    local = getattr(module, "__file__", None) if module is not None else None
    if isinstance(local, str) and local.replace("\\", "/").endswith("/" + path):
        return f"{match.group(1)}{local}{match.group(3)}"
    return match.group(0)


def _client_traceback(text: str) -> str:
    """A worker's traceback as the client reads it: no private names, and the files of
    the client's modules (loaded here) named by their path on this machine."""
    return _TRACEBACK_FILE.sub(_client_file, strip_worker_names(text))


def restore_exception(cls: type[BaseException], args: tuple[Any, ...]) -> BaseException:
    """An instance of exception class ``cls`` whose ``args`` are ``args`` (unpickling).

    ``cls(*args)`` when that succeeds and gives an instance of ``cls`` with the same
    ``args`` (what pickle does, so built-in fields set by ``__init__`` are set);
    otherwise ``cls.__new__`` without ``__init__``, with ``args`` set. Unpickling then
    restores the instance's ``__dict__``.

    Raises
    ------
    TypeError
        ``cls`` is not an exception class.
    """
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        raise TypeError(f"not an exception class: {cls!r}")
    try:
        made = cls(*args)
        if type(made) is cls and made.args == args:
            return made
    except Exception:  # the constructor does not take back its args: build it directly
        pass
    try:
        exc = cls.__new__(cls, *args)
    except Exception:
        exc = cls.__new__(cls)
    exc.args = args
    return exc


def _defined_by(cls: type, name: str) -> type:
    return next(k for k in cls.__mro__ if name in vars(k))


def _default_reduction(cls: type[BaseException]) -> bool:
    """Whether ``cls`` is a user's exception class pickled the built-in way (it defines
    no reduction of its own)."""
    return (
        cls.__module__ != "builtins"
        and _defined_by(cls, "__reduce__").__module__ == "builtins"
        and _defined_by(cls, "__reduce_ex__").__module__ == "builtins"
        and cls not in copyreg.dispatch_table
    )


_SIMPLE = (str, bytes, int, float, bool)  # None is the default (and set, a different one)


def _builtin_fields(exc: BaseException) -> dict[str, Any]:
    """The fields a built-in base class keeps outside ``__dict__`` and ``args`` (an
    OSError's ``errno``, ``strerror``, ``filename``…), where their values are plain."""
    fields: dict[str, Any] = {}
    for klass in type(exc).__mro__:
        if klass.__module__ != "builtins" or klass in (BaseException, object):
            continue
        for name, attribute in vars(klass).items():
            if name.startswith("__") or not isinstance(
                attribute, (types.MemberDescriptorType, types.GetSetDescriptorType)
            ):
                continue
            try:
                value = getattr(exc, name)
            except AttributeError:  # not set (OSError.characters_written)
                continue
            if type(value) in _SIMPLE:
                fields[name] = strip_worker_names(value) if isinstance(value, str) else value
    return fields


class _ExceptionPickler(pickle.Pickler):
    """Pickles a user's exceptions through :func:`restore_exception` (nested ones too:
    an exception group's members, an exception in ``args``): ``args`` (their strings
    without private names), then ``__dict__`` and the fields of a built-in base class."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, BaseException) and _default_reduction(type(obj)):
            args = tuple(strip_worker_names(a) if isinstance(a, str) else a for a in obj.args)
            state = {**_builtin_fields(obj), **obj.__dict__}
            return restore_exception, (type(obj), args), state or None
        return NotImplemented


def _dump_exception(exc: BaseException) -> Frames:
    """Pickle ``exc`` into frames (the format of
    :func:`~edgeoffload.runtime.wire.protocol.dumps`, read back by its ``loads``)."""
    buffers: list[pickle.PickleBuffer] = []
    stream = io.BytesIO()
    _ExceptionPickler(stream, protocol=5, buffer_callback=buffers.append).dump(exc)
    frames: Frames = [stream.getbuffer()]
    frames.extend(b.raw() for b in buffers)
    return frames


def _message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # a broken __str__ still leaves the type and the traceback
        return f"<unprintable {type(exc).__name__} object>"


def error_reply(exc: BaseException, what: str, worker: str) -> tuple[dict[str, Any], Frames]:
    """The ``status: error`` reply for ``exc`` raised by ``what`` on ``worker``.

    An interpreter exit or interrupt inside user code becomes a RuntimeError: it must not
    stop the worker. The type is named as the client knows it (its module without the
    worker's private prefix, :func:`~edgeoffload.runtime.wire.protocol.client_module_name`);
    message and traceback go through :func:`strip_worker_names`, and so do the string
    ``args`` of the pickled exception.
    """
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        exc = RuntimeError(f"{what} raised {type(exc).__name__}")
    tb = strip_worker_names("".join(traceback.format_exception(exc)))
    try:
        out = _dump_exception(exc)
    except Exception:  # an unpicklable exception still reports type, message and traceback
        out = []
    kind = type(exc)
    header = {
        "status": "error",
        "type": strip_worker_names(f"{client_module_name(kind.__module__)}.{kind.__qualname__}"),
        "message": strip_worker_names(_message(exc)),
        "traceback": tb,
        "worker": worker,
    }
    return header, out


def rebuild_exception(reply: Mapping[str, Any], frames: list[Any], key: str) -> BaseException:
    """The exception an ``error`` reply stands for, raised by ``key`` (a function or task).

    The original exception when it unpickles here, with ``__cause__`` a
    :class:`RemoteTaskError` holding the remote traceback (also set as the exception's
    ``remote_traceback`` where it takes attributes); else a :class:`RemoteTaskError`
    naming the original type (as the client knows it), its message, why it could not be
    rebuilt, and the remote traceback. No text of either names a worker's private module
    or archive (:func:`strip_worker_names`); traceback lines name the client's own files.
    """
    remote_tb = _client_traceback(str(reply.get("traceback", "")))
    worker = reply.get("worker", "?")
    kind = strip_worker_names(str(reply.get("type", "an exception")))
    message = strip_worker_names(str(reply.get("message", "")))
    exc: BaseException | None = None
    why = "the worker could not pickle it"
    if frames:
        try:
            rebuilt = loads(frames, rename=client_module_name)
        except Exception as error:
            why = strip_worker_names(f"{type(error).__name__}: {error}")
        else:
            if isinstance(rebuilt, BaseException):
                exc = rebuilt
            else:
                why = f"its pickle holds a {type(rebuilt).__name__}, not an exception"
    if exc is None:
        return RemoteTaskError(
            f"{key} raised {kind}: {message} on worker {worker} (the exception could not be "
            f"rebuilt here: {why}); remote traceback:\n{remote_tb}",
            remote_traceback=remote_tb,
        )
    cause = RemoteTaskError(
        f"{key} raised {kind} on worker {worker}; remote traceback:\n{remote_tb}",
        remote_traceback=remote_tb,
    )
    with contextlib.suppress(AttributeError, TypeError):
        exc.remote_traceback = remote_tb  # type: ignore[attr-defined]
    exc.__cause__ = cause
    return exc
