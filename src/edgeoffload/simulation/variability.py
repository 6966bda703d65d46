"""Random variation of execution and transfer times, as multipliers of the cost model's.

A simulated task runs ``exec_time × m`` seconds and a transfer moves its bytes in
``(data / bandwidth) × m`` seconds of airtime, with ``m`` drawn from a
:class:`Variability`. Draws come from the ``numpy.random.Generator`` the simulator is
given, in a fixed order (tasks in the order they are added, transfers in the order they
start), so the same seed gives the same run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgeoffload.model.checks import check_number

__all__ = ["LognormalVariability", "NoVariability", "Variability"]


class Variability:
    """Base class of variability models: no variation.

    To implement another model (say, a heavy-tailed one):

    1. subclass :class:`Variability` as a frozen dataclass holding its parameters;
    2. override :meth:`exec_multipliers` and :meth:`transfer_multipliers` to return ``n``
       positive multipliers drawn from ``rng`` (vectorised: they are asked for in
       batches);
    3. set :attr:`is_deterministic` to ``False`` when it draws random numbers;
    4. pass an instance as ``SimConfig(variability=...)``.
    """

    __slots__ = ()

    @property
    def is_deterministic(self) -> bool:
        """Whether the multipliers are all 1 (the simulator then skips them)."""
        return True

    def exec_multipliers(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` multipliers of execution times."""
        return np.ones(n)

    def transfer_multipliers(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` multipliers of transfer times (the data part; latency is not varied)."""
        return np.ones(n)


@dataclass(frozen=True, slots=True)
class NoVariability(Variability):
    """Every time exactly as the cost model says."""


def _lognormal(rng: np.random.Generator, cv: float, n: int) -> np.ndarray:
    if cv == 0.0:
        return np.ones(n)
    sigma2 = math.log1p(cv * cv)
    return rng.lognormal(-sigma2 / 2.0, math.sqrt(sigma2), n)


@dataclass(frozen=True, slots=True)
class LognormalVariability(Variability):
    """Lognormal multipliers with mean 1 and a given coefficient of variation.

    Parameters
    ----------
    exec_cv
        Coefficient of variation (standard deviation / mean) of execution times; 0
        keeps them exact. A lognormal with σ² = ln(1 + cv²) and μ = −σ²/2 has mean 1.
    transfer_cv
        The same for the data part of transfer times.

    Examples
    --------
    >>> v = LognormalVariability(exec_cv=0.2)
    >>> m = v.exec_multipliers(np.random.default_rng(0), 100_000)
    >>> round(float(m.mean()), 2), round(float(m.std() / m.mean()), 2)
    (1.0, 0.2)
    """

    exec_cv: float = 0.0
    transfer_cv: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "exec_cv", check_number(self.exec_cv, "variability.exec_cv"))
        object.__setattr__(
            self, "transfer_cv", check_number(self.transfer_cv, "variability.transfer_cv")
        )

    @property
    def is_deterministic(self) -> bool:
        return self.exec_cv == 0.0 and self.transfer_cv == 0.0

    def exec_multipliers(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return _lognormal(rng, self.exec_cv, n)

    def transfer_multipliers(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return _lognormal(rng, self.transfer_cv, n)
