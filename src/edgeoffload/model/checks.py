"""Small validators shared by the model's constructors; every failure is a ModelError."""

from __future__ import annotations

import math
from typing import Any

from edgeoffload.errors import ModelError

__all__ = ["check_id", "check_number", "is_plain_number", "shown"]


def is_plain_number(value: Any) -> bool:
    """Whether ``value`` is a float that :func:`check_number` would return unchanged (the
    common case, checked first: a problem file holds millions of numbers)."""
    return type(value) is float and 0.0 <= value < math.inf


def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)`` fit for a one-line message: a huge integer by its digit count, a
    long text cut (``repr`` of an int of more than 4,300 digits raises in Python 3.11)."""
    if isinstance(value, float) and type(value) is not float:
        return str(value)  # reading.OutOfRange: what the literal was
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 100:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


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
    if is_plain_number(value) and (value > 0.0 or not positive):
        return float(value)
    if value is None and allow_none:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ModelError(f"must be a number, got {shown(value)}", where)
    try:
        number = float(value)
    except OverflowError:
        raise ModelError(f"is out of range: {shown(value)}", where) from None
    if not math.isfinite(number):
        raise ModelError(f"must be finite, got {shown(value)}", where)
    if positive and number <= 0:
        raise ModelError(f"must be > 0, got {shown(value)}", where)
    if number < 0:
        raise ModelError(f"must be >= 0, got {shown(value)}", where)
    return number


def check_id(value: Any, where: str) -> str:
    """Return ``value`` after checking it is a non-empty string."""
    if not isinstance(value, str) or not value:
        raise ModelError(f"must be a non-empty string, got {shown(value)}", where)
    return value
