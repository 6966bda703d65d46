"""When two times are the same: the one tolerance every scheduler's choices use.

Times the schedulers compare (finish times, ranks, priorities, path sums, makespans) are
sums of floating-point terms, so two that are mathematically equal can differ in their
last bits: 5e-12 s between two finish times reached by different sums, 2⁻⁶⁰ between two
optimistic-cost ranks. Compared exactly, such a difference would decide a tie that the
documented order should decide (node order, topological position, the portfolio's member
order). Every choice between times goes through this module instead:

- two values *tie* when they differ by at most :func:`tolerance` of the better one:
  ``max(RELATIVE · |best|, ABSOLUTE)``;
- a choice takes the best value, then, among everything tying it, the first in the
  documented order (:func:`first_best`);
- an order by decreasing value first merges ties (:func:`snap`), so that the documented
  order sorts them.

The tolerance only decides between candidates; every time in a schedule is still the
cost model's arithmetic, term for term, so the validator and the simulator recompute it
exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["ABSOLUTE", "RELATIVE", "first_best", "shorter", "snap", "ties", "tolerance"]

RELATIVE = 1e-9
"""Values within this fraction of the better one tie (1 ns in 1 s)."""

ABSOLUTE = 1e-12
"""Values within this many seconds tie, however small they are."""


def tolerance(best: float) -> float:
    """How far, seconds, a value may be from ``best`` and still tie it.

    Examples
    --------
    >>> tolerance(80.0), tolerance(0.0)
    (8e-08, 1e-12)
    """
    return max(RELATIVE * abs(best), ABSOLUTE)


def ties(value: float, best: float) -> bool:
    """Whether ``value`` is the same time as ``best``, to :func:`tolerance` of ``best``.

    Examples
    --------
    >>> ties(80.0 + 5e-12, 80.0), ties(80.0 + 1e-6, 80.0)
    (True, False)
    """
    return abs(value - best) <= tolerance(best)


def shorter(value: float, best: float) -> bool:
    """Whether ``value`` is less than ``best`` by more than a tie: the test for keeping a
    new candidate over the one held, so that a tie keeps the one held (the first in the
    documented order).

    Examples
    --------
    >>> shorter(79.0, 80.0), shorter(80.0 - 5e-12, 80.0)
    (True, False)
    """
    return value < best and not ties(value, best)


def first_best(values: Sequence[float] | np.ndarray, *, largest: bool = False) -> int:
    """The first position whose value ties the smallest (``largest``: the largest).

    ``inf`` entries are never chosen while a finite one exists (they mark what may not be
    chosen).

    Examples
    --------
    >>> first_best([3.0, 2.0 + 1e-13, 2.0]), first_best([1.0, 5.0, 5.0 - 1e-12], largest=True)
    (1, 1)
    """
    array = np.asarray(values, dtype=float)
    best = float(array.max() if largest else array.min())
    return int(np.flatnonzero(np.abs(array - best) <= tolerance(best))[0])


def snap(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """``values`` with ties merged, for an order by decreasing value.

    From the largest value down, each value that ties the largest one not yet merged takes
    its value; the next that does not starts a new group. The result is monotone in the
    input (a larger value never gets a smaller result), so an order that was by decreasing
    value stays so, with tied values now exactly equal and left to the next key.

    Examples
    --------
    >>> snap([1.0, 2.0, 2.0 - 2.0**-50, 0.5]).tolist()
    [1.0, 2.0, 2.0, 0.5]
    """
    array = np.asarray(values, dtype=float)
    order = np.argsort(-array, kind="stable")
    ordered = array[order]
    merged = ordered.copy()
    if ordered.size > 1 and ordered[-1] >= 0:
        # A value can tie its group's leader only if it ties its neighbour above (the
        # leader is at least that neighbour, and the tolerance grows more slowly than
        # the distance), so only those positions need the sequential walk.
        upper = ordered[:-1]
        close = upper - ordered[1:] <= np.maximum(RELATIVE * upper, ABSOLUTE)
        walk = (np.flatnonzero(close) + 1).tolist()
    else:
        walk = list(range(1, ordered.size))
    for k in walk:
        leader = float(merged[k - 1])
        if ties(float(ordered[k]), leader):
            merged[k] = leader
    out = np.empty_like(array)
    out[order] = merged
    return out
