"""What an offloaded call printed and changed on its worker, shown to its caller.

An offloaded function runs in a worker's child process (:mod:`edgeoffload.runtime.worker.child`).
Its reply tells two things the caller would have seen had it run locally:

- ``stdout`` / ``stderr`` (str): what it wrote to :data:`sys.stdout` and :data:`sys.stderr`
  (bounded on the worker, with a last line saying what was cut). :func:`emit` writes them
  to this process's *current* ``sys.stdout`` and ``sys.stderr``, so they reach the
  terminal, a notebook cell, or pytest's ``capsys``, as a local ``print()`` would.
- ``mutated`` (list of str): the arguments it changed in place, named ``"self"``,
  ``"argument 1 (items)"``, ``"argument 3"`` or ``"keyword 'out'"``. Arguments are
  copies on the worker, so such a change never reaches the caller's objects; :func:`emit`
  says so once (:func:`mutation_message`).

Both fields are absent from a reply that has nothing to say.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["emit", "mutation_message"]

logger = logging.getLogger(__name__)

_ARGUMENT = re.compile(r"argument (\d+)(?: \((.+)\))?")
_KEYWORD = re.compile(r"keyword '(.+)'")


def mutation_message(what: str, worker: str) -> str:
    """The warning (without the function's name, which the warner adds) for a call that
    changed argument ``what`` (a name from a reply's ``mutated`` field) in place on
    ``worker``.

    Examples
    --------
    >>> mutation_message("argument 1 (items)", "worker-0").partition(";")[0]
    "changed its argument 'items' in place on worker-0"
    """
    if what == "self":
        subject = "its instance (self)"
    elif (argument := _ARGUMENT.fullmatch(what)) is not None:
        name = argument.group(2)
        subject = f"its argument '{name}'" if name else f"its argument {argument.group(1)}"
    elif (keyword := _KEYWORD.fullmatch(what)) is not None:
        subject = f"its keyword argument '{keyword.group(1)}'"
    else:
        subject = f"its {what}"
    return (
        f"changed {subject} in place on {worker}; arguments are copies, so the "
        "change stays there: return what you change"
    )


def emit(
    reply: Mapping[str, Any],
    function: str,
    worker: str,
    warn_once: Callable[[str, str], None],
) -> None:
    """Show what a call's ``reply`` (``ok`` or ``error``) says it printed and changed.

    Writes its ``stdout`` and ``stderr`` text to the current :data:`sys.stdout` and
    :data:`sys.stderr` (nothing when the reply has none, or the stream is missing or
    closed), then calls ``warn_once(function, message)`` for every argument named in
    its ``mutated`` field (:func:`mutation_message`). Never raises (but for what
    ``warn_once`` raises).

    Parameters
    ----------
    reply
        The call's reply header, as received from the worker.
    function
        The function's key (``module:qualname``).
    worker
        The worker that ran it.
    warn_once
        Reports a warning about ``function`` at most once per ``(function, message)``
        (the session's ``CallRunner._say_once``, which logs ``"edgeoffload: function:
        message"``); the message names the worker, so the same change found on two
        workers is reported once for each.
    """
    for field, stream in (("stdout", sys.stdout), ("stderr", sys.stderr)):
        text = reply.get(field)
        if isinstance(text, str) and text and stream is not None:
            with contextlib.suppress(OSError, ValueError):  # a closed or broken stream
                stream.write(text)
                stream.flush()
    mutated = reply.get("mutated")
    if isinstance(mutated, list):
        for what in mutated:
            warn_once(function, mutation_message(str(what), worker))
