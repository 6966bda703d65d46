"""Helpers the commands share: parameter parsing, problem loading, output."""

from __future__ import annotations

import argparse
import json
import math
import os
import stat
import sys
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console

from edgeoffload.errors import EdgeOffloadError, ModelError
from edgeoffload.model.reading import parse_json

__all__ = [
    "EXIT_INTERRUPTED",
    "address_args",
    "as_flags",
    "calibration_args",
    "console",
    "err_console",
    "number",
    "output_folder",
    "output_path",
    "parse_params",
    "require_extra",
    "whole",
]

EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), whether or not what was done got written."""

PIPED_WIDTH = 160
"""Columns of the tables when the output goes to a file or a pipe (``COLUMNS`` overrides
it): wide enough that no column is cut to "plann…", as rich's default 80 would."""


def _width(stream: TextIO) -> int | None:
    """``None`` (rich measures the terminal) on a terminal or with ``COLUMNS`` set; else
    :data:`PIPED_WIDTH`."""
    if os.environ.get("COLUMNS") or stream.isatty():
        return None
    return PIPED_WIDTH


console = Console(highlight=False, soft_wrap=True, width=_width(sys.stdout))
err_console = Console(stderr=True, highlight=False, width=_width(sys.stderr))


def whole(low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number in ``[low, high]`` (a one-line usage error
    otherwise; ``high`` keeps a command's work bounded)."""

    def parse(text: str) -> int:
        stripped = text.strip()
        digits = stripped.lstrip("+-")
        if not digits.isdigit() or len(digits) > 20:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text[:40]!r}")
        value = int(stripped)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value

    parse.__name__ = "whole number"  # argparse names the type in its messages
    return parse


def number(low: float, high: float, *, strict_low: bool = True) -> Callable[[str], float]:
    """An argparse ``type``: a finite number in ``(low, high]`` (``[low, high]`` without
    ``strict_low``); anything else (``nan``, ``inf``, ``1e400``, out of range, not a
    number) is a one-line usage error. ``high`` keeps a command's work bounded."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text[:40]!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text[:40]!r}")
        too_low = value <= low if strict_low else value < low
        if too_low or value > high:
            bound = ">" if strict_low else ">="
            raise argparse.ArgumentTypeError(
                f"must be {bound} {low:g} and <= {high:g}, got {value:g}"
            )
        return value

    parse.__name__ = "number"  # argparse names the type in its messages
    return parse


def parse_params(items: Sequence[str] | None) -> dict[str, Any]:
    """``["delta1=0.2", "members=heft,peft"]`` -> ``{"delta1": 0.2, "members": "heft,peft"}``.

    A value that reads as JSON (a number, ``true``, a list) is taken as such, else as text.
    """
    params: dict[str, Any] = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key.isidentifier():
            raise ModelError(f"expected KEY=VALUE, got {item!r}", "--param")
        try:
            json.loads(text)
        except json.JSONDecodeError:
            params[key] = text
        else:  # strictly, so that 1e400 or a 400-digit number is refused, not inf
            params[key] = parse_json(text, f"--param {key}")
    return params


def output_path(
    path: str | Path, suffix: str, flag: str, suffixes: Collection[str] | None = None
) -> Path:
    """The file a command will write for ``flag``, checked before any work starts.

    ``suffix`` is added when the name has none (``--gantt x`` writes and reports
    ``x.png``); the folder is made; a path that is not a regular file (``/dev/full``, a
    FIFO, a folder), that cannot be written, or (given ``suffixes``, without dots) whose
    suffix is not one of them is refused in one line naming ``flag``. A file that does not
    exist yet is created and removed to find out (permission bits do not tell root, nor
    about /proc).
    """
    if not str(path).strip():
        raise ModelError("give a file name", flag)
    given = Path(path)
    target = given if given.suffix else given.with_name(given.name + suffix)
    if suffixes is not None and target.suffix[1:].lower() not in suffixes:
        known = ", ".join(sorted(suffixes))
        kind = target.suffix or "suffix-less"
        raise ModelError(f"cannot write a {kind} file; use one of {known}", flag)
    mode = None
    for candidate in dict.fromkeys((given, target)):  # /dev/full is refused, not /dev/full.png
        try:
            mode = candidate.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            mode = None
            continue
        except OSError as exc:
            raise ModelError(f"cannot write {str(candidate)[:200]}: {exc.strerror}", flag) from None
        if not stat.S_ISREG(mode):
            raise ModelError(f"{str(candidate)[:200]} is not a regular file to write", flag)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot make {target.parent}: {exc.strerror}", flag) from None
    if mode is not None:
        if not os.access(target, os.W_OK):
            raise ModelError(f"cannot write {str(target)[:200]}: permission denied", flag)
        return target
    try:
        target.touch(exist_ok=False)
    except OSError as exc:
        raise ModelError(f"cannot write {str(target)[:200]}: {exc.strerror}", flag) from None
    target.unlink()
    return target


@contextmanager
def as_flags(names: Mapping[str, str]) -> Iterator[None]:
    """Re-raise a library :class:`ModelError` about parameter ``name`` (``where`` is the
    name, or starts with it and ``[`` or ``.``) as one naming the command-line flag
    ``names[name]``, so that the user reads ``--algorithms[1]: ...`` for what they typed."""
    try:
        yield
    except ModelError as exc:
        for name, flag in names.items():
            rest = exc.where[len(name) :]
            if exc.where.startswith(name) and (not rest or rest[0] in "[."):
                raise ModelError(exc.reason, flag + rest) from None
        raise


def output_folder(path: str | Path, flag: str) -> Path:
    """The folder a command will write its files to for ``flag``, made now, before any
    work starts; a path that is not a folder, or cannot be made or written, is refused in
    one line naming ``flag``."""
    if not str(path).strip():
        raise ModelError("give a folder", flag)
    folder = Path(path)
    shown = str(folder)[:200]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ModelError(f"{shown} exists and is not a folder", flag) from None
    except OSError as exc:
        raise ModelError(f"cannot make {shown}: {exc.strerror}", flag) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ModelError(f"cannot write in {shown}: permission denied", flag)
    return folder


def address_args(p: argparse.ArgumentParser) -> None:
    """``--cluster ADDRESS``, ``--tls DIR`` and ``--cores N``: a running cluster, or the
    local one's CPU budget."""
    p.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="scheduler of a running cluster whose worker names are the scenario's nodes "
        "(default: start a local cluster throttled in the ratio of the nodes' speeds)",
    )
    p.add_argument("--tls", metavar="DIR", help="client TLS material for a tls:// cluster")
    p.add_argument(
        "--cores",
        type=number(0, 4096),
        metavar="N",
        help="cores the local cluster's workers may use together (default: 80%% of them)",
    )


def calibration_args(p: argparse.ArgumentParser) -> None:
    """``--seconds`` and ``--repeats`` of the calibration kernels."""
    p.add_argument(
        "--seconds",
        type=number(0, 60),
        default=0.2,
        metavar="S",
        help="length of one calibration kernel run, seconds (default 0.2)",
    )
    p.add_argument(
        "--repeats",
        type=whole(1, 100),
        default=3,
        metavar="N",
        help="kernel runs per kind (default 3)",
    )


def require_extra(module: str, extra: str) -> None:
    """Fail with one line naming the extra to install if ``module`` cannot be imported."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise EdgeOffloadError(
            f"this needs {module}, which is not installed: pip install 'edgeoffload[{extra}]'"
        )
