"""Wire format between a session and a worker: pickled payloads and framed messages.

A message is a small JSON header plus a list of binary frames. Payloads (a call's
arguments, its result or its exception) are pickled with protocol 5; large ``bytes``
objects and buffer-protocol objects (numpy arrays) travel as separate frames, out of
band, so they are neither copied into the pickle nor re-packed on the way.

On a socket (the direct call channel, :mod:`edgeoffload.runtime.wire.channel`) a message is::

    "!II"  header length, number of frames
    "!Q"   size of each frame
    header (UTF-8 JSON), then the frames

What plain pickle cannot carry by reference — a lambda, a closure, a function defined
inside another function, in an argument or as a result — is pickled **by value** with
:mod:`cloudpickle` (:func:`dumps` falls back to it when plain pickling fails, so the common
case keeps the speed of the C pickler).

Names of application modules differ on the two sides: a worker loads a client's bundle
under a private prefix (``_eo_<client>_<hash>.app`` for the client's ``app``, see
:mod:`edgeoffload.runtime.worker.cache`), so unpickling renames module references: the worker
maps the client's names to its prefixed ones, the client strips the prefix from results.

Security: pickle runs code while loading. Only peers that passed the cluster's mutual TLS
(or, on an insecure loopback cluster, processes of this machine) ever reach these
functions; see ``docs/runtime.md``.
"""

from __future__ import annotations

import importlib
import io
import json
import pickle
import socket
import ssl
import struct
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import cloudpickle

__all__ = [
    "BY_VALUE_MODULE",
    "BY_VALUE_QUALNAME",
    "PROTOCOL_VERSION",
    "WORKER_MODULE_PREFIX",
    "Frames",
    "Reader",
    "call_by_value",
    "client_module_name",
    "dumps",
    "loads",
    "recv_message",
    "send_message",
]

PROTOCOL_VERSION = 1
"""Version of this wire format and of the worker handlers' arguments."""

BY_VALUE_MODULE = __name__
BY_VALUE_QUALNAME = "call_by_value"
"""Where a worker finds :func:`call_by_value`: a by-value function's call names it."""

WORKER_MODULE_PREFIX = "_eo_"
"""Start of the private package names under which a worker imports a client's bundles."""

Frames = list[bytes | bytearray | memoryview]

_PREFIX = struct.Struct("!II")
_SIZE = struct.Struct("!Q")
_OUT_OF_BAND = 64 * 1024  # bytes objects at least this large travel as their own frame
_MAX_HEADER = 16 * 1024 * 1024
_WAITALL = getattr(socket, "MSG_WAITALL", 0)


class _LargeBytes:
    """A large ``bytes`` object pickled out of band (pickle never does that for bytes)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __reduce_ex__(self, protocol: Any) -> Any:
        return bytes, (pickle.PickleBuffer(self.data),)


def _wrap_large_bytes(obj: Any, depth: int, budget: list[int] | None = None) -> Any:
    """Wrap large bytes found near the top of ``obj`` (args, kwargs values, a result).

    At most ``depth`` levels of plain tuples, lists and dicts and about 2,000 items in
    all are looked at, so a large nested result costs nothing extra.
    """
    if budget is None:
        budget = [2000]
    kind = type(obj)
    if kind is bytes:
        return _LargeBytes(obj) if len(obj) >= _OUT_OF_BAND else obj
    if depth <= 0 or kind not in (tuple, list, dict) or len(obj) > budget[0]:
        return obj
    budget[0] -= len(obj)
    if kind is tuple or kind is list:
        items = [_wrap_large_bytes(x, depth - 1, budget) for x in obj]
        if all(a is b for a, b in zip(items, obj, strict=True)):
            return obj
        return tuple(items) if kind is tuple else items
    values = {k: _wrap_large_bytes(v, depth - 1, budget) for k, v in obj.items()}
    return obj if all(values[k] is v for k, v in obj.items()) else values


def _note_module(modules: set[str], obj: Any) -> None:
    if isinstance(obj, type):
        modules.add(obj.__module__)
        return
    if isinstance(obj, ModuleType):  # a module a by-value function refers to
        modules.add(obj.__name__)
        return
    modules.add(type(obj).__module__)
    module = getattr(obj, "__module__", None)
    if isinstance(module, str) and callable(obj):
        modules.add(module)


class _RecordingPickler(pickle.Pickler):
    """A pickler that notes the module of every class and function it meets."""

    def __init__(self, *args: Any, modules: set[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._modules = modules

    def reducer_override(self, obj: Any) -> Any:
        # called for every object but the plain built-in containers and scalars
        _note_module(self._modules, obj)
        return NotImplemented


class _RecordingCloudPickler(cloudpickle.Pickler):  # type: ignore[misc]
    """:class:`cloudpickle.Pickler` noting modules as :class:`_RecordingPickler` does."""

    def __init__(self, *args: Any, modules: set[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._modules = modules

    def reducer_override(self, obj: Any) -> Any:
        _note_module(self._modules, obj)
        return super().reducer_override(obj)


def _pickle(by_value: bool, obj: Any, modules: set[str] | None) -> tuple[io.BytesIO, list[Any]]:
    """Pickle ``obj`` by reference (plain pickle) or by value (cloudpickle), protocol 5."""
    buffers: list[pickle.PickleBuffer] = []
    stream = io.BytesIO()
    options: dict[str, Any] = {"protocol": 5, "buffer_callback": buffers.append}
    if modules is None:
        pickler = cloudpickle.Pickler if by_value else pickle.Pickler
        pickler(stream, **options).dump(obj)
    else:
        recording = _RecordingCloudPickler if by_value else _RecordingPickler
        recording(stream, modules=modules, **options).dump(obj)
    return stream, buffers


def dumps(obj: object, modules: set[str] | None = None) -> Frames:
    """Pickle ``obj`` into frames: the pickle stream, then its out-of-band buffers.

    Buffer-protocol objects (numpy arrays) go out of band wherever they are; large
    ``bytes`` objects do within three levels of containers (a call's ``(args, kwargs)``).
    What plain pickle refuses (a lambda, a closure, a local class) is pickled by value
    with :mod:`cloudpickle`. ``modules``, when given, receives the module of every class
    and function pickled (to find the application code the payload needs).

    Raises
    ------
    pickle.PicklingError, TypeError, AttributeError
        Not even :mod:`cloudpickle` can pickle ``obj`` (a lock, an open socket…).
    """
    wrapped = _wrap_large_bytes(obj, 3)
    try:
        stream, buffers = _pickle(False, wrapped, modules)
    except (pickle.PicklingError, TypeError, AttributeError):
        stream, buffers = _pickle(True, wrapped, modules)
    frames: Frames = [stream.getbuffer()]
    frames.extend(b.raw() for b in buffers)
    return frames


class _Unpickler(pickle.Unpickler):
    def __init__(
        self, file: io.BytesIO, buffers: Sequence[Any], rename: Callable[[str], str] | None
    ) -> None:
        super().__init__(file, buffers=buffers)
        self._rename = rename

    def find_class(self, module: str, name: str) -> Any:
        if self._rename is not None:
            if module == "cloudpickle.cloudpickle" and name == "subimport":
                return self._subimport  # a module referenced by a by-value function
            module = self._rename(module)
        return super().find_class(module, name)

    def _subimport(self, name: str) -> Any:
        assert self._rename is not None
        return importlib.import_module(self._rename(name))


def loads(frames: Sequence[Any], rename: Callable[[str], str] | None = None) -> Any:
    """Inverse of :func:`dumps`; ``rename`` maps module names found in the stream."""
    if not frames:
        raise ValueError("empty payload")
    return _Unpickler(io.BytesIO(frames[0]), frames[1:], rename).load()


def call_by_value(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Run a function that travelled by value as the first argument of a call (a lambda
    or a nested function, pickled with :mod:`cloudpickle`)."""
    return function(*args, **kwargs)


def client_module_name(module: str) -> str:
    """A worker-side module name as the client knows it (``_eo_x.app`` -> ``app``)."""
    if module.startswith(WORKER_MODULE_PREFIX):
        _, sep, rest = module.partition(".")
        if sep:
            return rest
    return module


def _nbytes(frame: bytes | bytearray | memoryview) -> int:
    return frame.nbytes if isinstance(frame, memoryview) else len(frame)


def send_message(sock: socket.socket, header: dict[str, Any], frames: Sequence[Any] = ()) -> int:
    """Write one message; return the bytes sent."""
    head = json.dumps(header, separators=(",", ":")).encode()
    sizes = [_nbytes(f) for f in frames]
    prefix = _PREFIX.pack(len(head), len(sizes)) + b"".join(_SIZE.pack(n) for n in sizes)
    small = prefix + head
    total = len(small) + sum(sizes)
    if isinstance(sock, ssl.SSLSocket):
        pending = [small, *frames]
        # coalesce small frames: one TLS record each is costly
        out: list[Any] = []
        for part in pending:
            if out and isinstance(out[-1], bytearray) and _nbytes(part) < _OUT_OF_BAND:
                out[-1] += part
            elif _nbytes(part) < _OUT_OF_BAND:
                out.append(bytearray(part))
            else:
                out.append(part)
        for part in out:
            sock.sendall(part)
        return total
    views = [memoryview(small)] + [memoryview(f).cast("B") for f in frames if _nbytes(f)]
    while views:
        sent = sock.sendmsg(views[:512])
        while sent and views:
            first = views[0]
            if sent >= first.nbytes:
                sent -= first.nbytes
                views.pop(0)
            else:
                views[0] = first[sent:]
                sent = 0
    return total


def _recv_into(sock: socket.socket, view: memoryview) -> None:
    got, size = 0, view.nbytes
    # MSG_WAITALL: one system call (and one release of the GIL) per frame, not one per
    # chunk; re-taking the GIL dozens of times per megabyte is slow in a busy process
    flags = 0 if isinstance(sock, ssl.SSLSocket) else _WAITALL
    while got < size:
        n = sock.recv_into(view[got:], size - got, flags)
        if n == 0:
            raise ConnectionResetError("connection closed by the peer")
        got += n


class Reader:
    """Buffered reads from one socket: a small message costs one system call, not four.

    Frames larger than the buffer are read straight into their own memory (with
    ``MSG_WAITALL``), so big payloads are not copied twice.
    """

    def __init__(self, sock: socket.socket, size: int = 64 * 1024) -> None:
        self.sock = sock
        self._buffer = bytearray(size)
        self._view = memoryview(self._buffer)
        self._start = 0
        self._end = 0

    @property
    def buffered(self) -> int:
        """Bytes received and not yet read (no poller sees them)."""
        return self._end - self._start

    def read_into(self, target: memoryview) -> None:
        size, got = target.nbytes, 0
        while got < size:
            if self._start == self._end:
                if size - got >= len(self._buffer):
                    _recv_into(self.sock, target[got:])
                    return
                n = self.sock.recv_into(self._view)
                if n == 0:
                    raise ConnectionResetError("connection closed by the peer")
                self._start, self._end = 0, n
            take = min(self._end - self._start, size - got)
            target[got : got + take] = self._view[self._start : self._start + take]
            self._start += take
            got += take


def recv_message(
    sock: socket.socket, reader: Reader | None = None
) -> tuple[dict[str, Any], list[bytearray], int]:
    """Read one message: (header, frames, bytes received).

    Pass the connection's :class:`Reader` to read through its buffer (then always use it
    for that socket: it may hold the start of the next message).
    """
    read = reader.read_into if reader is not None else lambda v: _recv_into(sock, v)
    prefix = bytearray(_PREFIX.size)
    read(memoryview(prefix))
    head_len, count = _PREFIX.unpack(prefix)
    if head_len > _MAX_HEADER or count > 1_000_000:
        raise ConnectionError("malformed message (not an edgeoffload peer?)")
    sizes_raw = bytearray(_SIZE.size * count)
    if count:
        read(memoryview(sizes_raw))
    sizes = [_SIZE.unpack_from(sizes_raw, i * _SIZE.size)[0] for i in range(count)]
    head = bytearray(head_len)
    read(memoryview(head))
    frames = []
    for n in sizes:
        frame = bytearray(n)
        if n:
            read(memoryview(frame))
        frames.append(frame)
    try:
        header = json.loads(head)
    except ValueError as exc:
        raise ConnectionError(f"malformed message header: {exc}") from None
    if not isinstance(header, dict):
        raise ConnectionError("malformed message header")
    return header, frames, _PREFIX.size + len(sizes_raw) + head_len + sum(sizes)
