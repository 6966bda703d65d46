"""Offloaded code behaves like local code: seeded randomness, lambdas, prints, copies.

Each step runs a function on a worker of an embedded cluster and shows that it gives
what a local run gives: the same seeded random numbers, lambdas and closures passed in
and returned, ``print()`` output on this terminal, an exception of its own type, and a
warning when a function changes an argument in place (arguments are copies). Finally,
``strict=True`` turns a silent local fallback into an error. docs/runtime.md ("Before you
offload") lists every rule.

Run: ``python examples/06_code_behaves_like_local.py``
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from typing import Any

import edgeoffload


@edgeoffload.offload
def monte_carlo_pi(seed: int, samples: int) -> float:
    """A seeded estimate of pi: bit for bit the same wherever it runs."""
    rng = random.Random(seed)
    random.seed(seed)  # the global generator too: nothing on the worker draws from it
    inside = sum(1 for _ in range(samples) if rng.random() ** 2 + random.random() ** 2 <= 1)
    return 4 * inside / samples


@edgeoffload.offload
def apply(function: Callable[[Any], Any], values: list[Any]) -> list[Any]:
    print(f"applying to {len(values)} values")  # shown here, not in the worker's log
    return [function(v) for v in values]


@edgeoffload.offload
def append_total(items: list[int]) -> int:
    items.append(sum(items))  # changes the worker's copy only: the client is warned
    return items[-1]


class BadInputError(Exception):
    def __init__(self, field: str, value: object) -> None:
        super().__init__(f"{field} must be positive, got {value!r}")
        self.field = field


@edgeoffload.offload
def check(value: int) -> int:
    if value <= 0:
        raise BadInputError("value", value)
    return value


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    local = monte_carlo_pi(7, 20_000)
    with edgeoffload.connect(n_workers=2, policy="always-remote") as session:
        remote = monte_carlo_pi(7, 20_000)
        print("seeded result equal to the local one:", remote == local)
        offset = 100
        print("lambda and closure:", apply(lambda v: v + offset, [1, 2, 3]))
        items = [1, 2, 3]
        print("returned:", append_total(items), "client's list unchanged:", items)
        try:
            check(-1)
        except BadInputError as exc:
            print(f"raised {type(exc).__name__} with field {exc.field!r}: {exc}")
        remote_calls = [r for r in session.stats().records if r.where != "local"]
        print("calls that ran remotely:", len(remote_calls), "of", session.stats().calls)
    with edgeoffload.connect(n_workers=1, policy="always-remote", strict=True):
        try:
            apply(lambda v: v, [threading.Lock()])  # a lock cannot travel
        except edgeoffload.OffloadError as exc:
            print("strict: OffloadError, arguments cannot be pickled:", "pickled" in str(exc))


if __name__ == "__main__":  # worker processes import this file: keep the guard
    main()
