"""Small validators shared by the model's constructors; every failure is a ModelError."""

from __future__ import annotations

import math
from typing import Any

from edgeoffload.errors import ModelError

__all__ = ["check_id", "check_number"]


def check_number(
    value: Any,
    where: str,
    *,
    positive: bool = False,
    allow_none: bool = False,
) -> float:
    """Return ``value`` as a float after checking it is a finite number ≥ 0 (> 0 if positive).

    Booleans are refused although Python counts them as integers: ``"work": true`` in a
    problem file is a mistake, not one FLOP.
    """
    if value is None and allow_none:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ModelError(f"must be a number, got {value!r}", where)
    number = float(value)
    if not math.isfinite(number):
        raise ModelError(f"must be finite, got {value!r}", where)
    if positive and number <= 0:
        raise ModelError(f"must be > 0, got {value!r}", where)
    if number < 0:
        raise ModelError(f"must be >= 0, got {value!r}", where)
    return number


def check_id(value: Any, where: str) -> str:
    """Return ``value`` after checking it is a non-empty string."""
    if not isinstance(value, str) or not value:
        raise ModelError(f"must be a non-empty string, got {value!r}", where)
    return value
