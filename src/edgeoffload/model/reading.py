"""Reading what a user gives: regular files only, bounded in size, strictly parsed.

Every file the project reads from a user — problem files, scenarios, cluster files,
netem topologies — goes through :func:`read_text` and then :func:`parse_json` or
:func:`parse_yaml`, so that every format refuses the same mistakes the same way, in one
line naming the file (:class:`~edgeoffload.errors.ProblemFileError`, exit code 2 on the
command line):

- **Only regular files.** A FIFO would block the reader forever and ``/dev/zero`` would
  fill its memory: both are refused before anything is read, as are sockets and devices.
- **Bounded size.** At most :func:`max_input_bytes` bytes are read (256 MiB unless the
  environment variable ``EDGEOFFLOAD_MAX_INPUT_MB`` says otherwise); a larger file is
  refused, naming the variable that raises the limit.
- **No duplicate keys.** JSON and YAML both let the last of two equal keys win silently;
  here the second one is an error naming the key.
- **Numbers parse safely.** ``NaN``, ``Infinity`` and ``1e400`` parse as the floats they
  are and an integer of more than 30 digits as an :class:`OutOfRange` infinity, so that
  the validation of the field they are in refuses them, naming the field (``must be
  finite, got an integer of 400 digits``); nothing overflows or converts for minutes.
  YAML's ``1e9`` (a string to YAML 1.1) is read as the number it looks like.
- **Bounded nesting.** Documents nested deeper than the parsers allow are refused in one
  line: about 1,000 levels for JSON (the decoder's recursion limit) and for YAML with
  libyaml (``CSafeLoader``, used when PyYAML has it: 15× faster on a 50 MB scalar),
  :data:`MAX_NESTING` with PyYAML's pure-Python parser.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from edgeoffload.errors import ModelError, ProblemFileError

__all__ = [
    "MAX_DIGITS",
    "MAX_INPUT_ENV",
    "MAX_NESTING",
    "OutOfRange",
    "exists",
    "located",
    "max_input_bytes",
    "parse_json",
    "parse_yaml",
    "read_text",
]

MAX_INPUT_ENV = "EDGEOFFLOAD_MAX_INPUT_MB"
"""Environment variable: the largest input file read, in MiB (default 256)."""

MAX_DIGITS = 30
"""Most digits of an integer in an input file (a float holds about 16)."""

MAX_NESTING = 200
"""Deepest nesting of lists and mappings in an input document."""

_DEFAULT_MAX_MB = 256


class OutOfRange(float):
    """An integer literal too long to be a number of any input (more than
    :data:`MAX_DIGITS` digits): an infinity that says what it stands for."""

    digits: int

    def __new__(cls, digits: int) -> OutOfRange:
        value = super().__new__(cls, "inf")
        value.digits = digits
        return value

    def __repr__(self) -> str:
        return f"an integer of {self.digits} digits"

    __str__ = __repr__


def max_input_bytes() -> int:
    """The largest input file read, bytes (``EDGEOFFLOAD_MAX_INPUT_MB``, default 256 MiB).

    Raises
    ------
    ProblemFileError
        The variable is set to something else than a positive whole number.
    """
    raw = os.environ.get(MAX_INPUT_ENV, "").strip()
    if not raw:
        return _DEFAULT_MAX_MB * 2**20
    if not raw.isdigit() or int(raw) < 1:
        raise ProblemFileError(
            f"must be a whole number of MiB >= 1, got {raw[:40]!r}", MAX_INPUT_ENV
        )
    return int(raw) * 2**20


def _kind(mode: int) -> str | None:
    """What a file that is not a regular file is, for the refusal; None for a regular one."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def read_text(path: str | Path, *, what: str = "file", max_bytes: int | None = None) -> str:
    """The UTF-8 text of the regular file ``path``, at most ``max_bytes`` long.

    Parameters
    ----------
    path
        The file.
    what
        What the file is meant to be (``"problem file"``), for messages.
    max_bytes
        The size limit (default :func:`max_input_bytes`).

    Raises
    ------
    ProblemFileError
        The file is missing, not a regular file, too large, unreadable or not UTF-8
        (one line naming the file).
    """
    source = str(path)
    limit = max_input_bytes() if max_bytes is None else max_bytes
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not wait for one
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ProblemFileError("no such file", _short(source)) from None
    except IsADirectoryError:
        raise ProblemFileError(f"is a directory, not a {what}", _short(source)) from None
    except OSError as exc:
        raise ProblemFileError(f"cannot read: {exc.strerror or exc}", _short(source)) from None
    kind = _kind(os.fstat(fd).st_mode)
    if kind is not None:
        os.close(fd)
        raise ProblemFileError(f"is {kind}, not a {what}", _short(source))
    with os.fdopen(fd, "rb") as stream:
        try:
            data = stream.read(limit + 1)
        except OSError as exc:
            raise ProblemFileError(f"cannot read: {exc.strerror or exc}", _short(source)) from None
    if len(data) > limit:
        raise ProblemFileError(
            f"is larger than {limit / 2**20:.0f} MiB; set {MAX_INPUT_ENV} to read it anyway",
            _short(source),
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProblemFileError(f"not UTF-8 text (byte {exc.start})", _short(source)) from None


def exists(path: str | Path) -> bool:
    """Whether something is at ``path`` (False, not an error, for a name too long or a
    path through a file)."""
    try:
        os.stat(path)
    except (OSError, ValueError):
        return False
    return True


def _short(source: str) -> str:
    """A path fit for a one-line message (a 5,000-character name is shortened)."""
    return source if len(source) <= 200 else f"{source[:120]}…{source[-60:]}"


# --------------------------------------------------------------------------- JSON


def _pairs(source: str) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise ProblemFileError(f"duplicate key {key[:60]!r}", source)
            out[key] = value
        return out

    return build


def _json_int(text: str) -> int | float:
    digits = len(text.lstrip("-"))
    return int(text) if digits <= MAX_DIGITS else OutOfRange(digits)


def parse_json(text: str, source: str) -> Any:
    """The JSON document ``text`` (of ``source``, for messages), strictly parsed.

    Raises
    ------
    ProblemFileError
        Not JSON, a duplicate key, or nested too deeply (one line naming ``source`` and,
        for syntax errors, line and column).
    """
    try:
        return json.loads(
            text,
            object_pairs_hook=_pairs(source),
            parse_int=_json_int,
        )
    except json.JSONDecodeError as exc:
        raise ProblemFileError(
            f"line {exc.lineno}, column {exc.colno}: {exc.msg}", source
        ) from None
    except RecursionError:
        raise ProblemFileError("nested too deeply", source) from None


# --------------------------------------------------------------------------- YAML

_YAML12_FLOAT = re.compile(
    r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$|^[-+]?\.(?:inf|Inf|INF)$"
    r"|^\.(?:nan|NaN|NAN)$"
)


def _yaml_loader(source: str) -> type:
    import yaml

    class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
        """SafeLoader refusing duplicate keys, deep nesting and out-of-range numbers, and
        reading YAML 1.2 floats (``1e9``) as numbers."""

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            if not isinstance(node, yaml.MappingNode):
                return super().construct_mapping(node, deep=deep)
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:
                    continue  # an unhashable key: SafeLoader reports it
                if duplicate:
                    line = key_node.start_mark.line + 1
                    raise ProblemFileError(f"line {line}: duplicate key {str(key)[:60]!r}", source)
            return super().construct_mapping(node, deep=deep)

        def compose_node(self, parent: Any, index: Any) -> Any:
            self._depth = getattr(self, "_depth", 0) + 1
            try:
                if self._depth > MAX_NESTING:
                    raise ProblemFileError(f"nested deeper than {MAX_NESTING} levels", source)
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def construct_yaml_int(self, node: Any) -> Any:
            digits = len(str(node.value).replace("_", "").lstrip("+-"))
            if digits > MAX_DIGITS:
                return OutOfRange(digits)
            return super().construct_yaml_int(node)

    Loader.add_constructor("tag:yaml.org,2002:int", Loader.construct_yaml_int)
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", _YAML12_FLOAT, list("-+0123456789."))
    return Loader


def parse_yaml(text: str, source: str) -> Any:
    """The YAML document ``text`` (of ``source``, for messages), strictly parsed.

    Raises
    ------
    ProblemFileError
        Not YAML, a duplicate key, or nested too deeply (one line naming ``source`` and,
        where known, the line).
    """
    import yaml

    try:
        return yaml.load(text, Loader=_yaml_loader(source))  # a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ProblemFileError(f"{line}not valid YAML ({problem})", source) from None
    except RecursionError:
        raise ProblemFileError("nested too deeply", source) from None


T = TypeVar("T")


def located(path: str | Path, data: Any, convert: Callable[[Any], T]) -> T:
    """``convert(data)``, its :class:`ModelError` naming the file first
    (``p.json: tasks[3].work: ...``): how every reader reports what a file's content
    gets wrong."""
    try:
        return convert(data)
    except ModelError as exc:
        raise ModelError(exc.reason, f"{path}: {exc.where}" if exc.where else str(path)) from None
