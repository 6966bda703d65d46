"""Helpers the commands share: parameter parsing, problem loading, output."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from edgeoffload.errors import EdgeOffloadError, ModelError

__all__ = ["console", "ensure_parent", "err_console", "parse_params", "require_extra"]

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False)


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
            params[key] = json.loads(text)
        except json.JSONDecodeError:
            params[key] = text
    return params


def ensure_parent(path: str | Path) -> Path:
    """``path`` as a Path, after creating its folder."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EdgeOffloadError(f"cannot create {path.parent}: {exc}") from None
    return path


def require_extra(module: str, extra: str) -> None:
    """Fail with one line naming the extra to install if ``module`` cannot be imported."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise EdgeOffloadError(
            f"this needs {module}, which is not installed: pip install 'edgeoffload[{extra}]'"
        )
