"""Module-level wrappers that run pyperformance programs unchanged and return their state.

Several pyperformance programs return only a timing, or nothing: their result is global
state or a file. Each wrapper here calls the unchanged program code (the ``bm_*`` modules,
imported by name) and returns what it computed, so that an offloaded run can be compared
with a local one. A wrapper reads or writes no module state of its own; where a program
keeps global state, the wrapper works on fresh copies or sets it explicitly, so that
repeated calls in one process return the same result.

Import :mod:`tp_pyperformance` and call ``load_benchmarks()`` first: the ``bm_*`` modules
are loaded by path, not found on ``sys.path``. On a worker, ``edgeoffload`` ships them with
this module (application modules with a ``.py`` source), and ``import bm_nbody`` finds the
shipped copy.
"""

from __future__ import annotations

import copy
import os
import random
import tempfile
import types
from typing import Any

import bm_chaos
import bm_go
import bm_nbody
import bm_nqueens
import bm_raytrace
import bm_richards

__all__ = [
    "chaos_image",
    "go_game",
    "nbody_state",
    "nqueens_solutions",
    "raytrace_image",
    "richards_counts",
]


def nbody_state(iterations: int, reference: str = "sun") -> tuple[Any, ...]:
    """bm_nbody: energy before and after ``advance(0.01, iterations)`` and every body's
    position and velocity, on a deep copy of the program's ``BODIES`` (whose lists its
    functions update in place when called with their defaults)."""
    bodies = copy.deepcopy(bm_nbody.BODIES)
    system = list(bodies.values())
    pairs = bm_nbody.combinations(system)
    bm_nbody.offset_momentum(bodies[reference], system)
    before = bm_nbody.report_energy(system, pairs)
    bm_nbody.advance(0.01, iterations, system, pairs)
    after = bm_nbody.report_energy(system, pairs)
    return before, after, [(r, v, m) for r, v, m in system]


class _OneShotRunner:
    """Stands in for ``pyperf.Runner`` in a program's ``main``: runs the function once."""

    def __init__(self) -> None:
        self.metadata: dict[str, Any] = {}
        self.result: Any = None

    def bench_func(self, name: str, func: Any, *args: Any) -> None:
        self.result = func(*args)


def _read_and_remove(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(path)


def chaos_image(
    width: int, height: int, iterations: int, thickness: float = 0.25, rng_seed: int = 1234
) -> tuple[bytes, str]:
    """bm_chaos: the PPM image ``main`` draws (its ``--filename``) and ``repr`` of the
    global ``random``'s state afterwards. ``main`` seeds the global ``random`` and draws
    from it on every iteration: anything else drawing from it in the same process (a
    worker's own threads) would change the image."""
    fd, path = tempfile.mkstemp(suffix=".ppm")
    os.close(fd)
    args = types.SimpleNamespace(
        thickness=thickness,
        width=width,
        height=height,
        iterations=iterations,
        filename=path,
        rng_seed=rng_seed,
    )
    bm_chaos.main(_OneShotRunner(), args)
    return _read_and_remove(path), repr(random.getstate())


def raytrace_image(width: int, height: int) -> bytes:
    """bm_raytrace: the PPM image ``bench_raytrace(1, width, height, filename)`` writes."""
    fd, path = tempfile.mkstemp(suffix=".ppm")
    os.close(fd)
    bm_raytrace.bench_raytrace(1, width, height, path)
    return _read_and_remove(path)


def richards_counts(iterations: int) -> tuple[bool, int, int]:
    """bm_richards: ``Richards().run(iterations)`` (its self-check) and the task work
    area's hold and packet counts it checks."""
    ok = bm_richards.Richards().run(iterations)
    area = bm_richards.taskWorkArea
    return ok, area.holdCount, area.qpktCount


def nqueens_solutions(queen_count: int) -> list[tuple[int, ...]]:
    """bm_nqueens: every solution ``n_queens`` yields (what ``bench_n_queens`` drops)."""
    return list(bm_nqueens.n_queens(queen_count))


def go_game(games: int = bm_go.GAMES) -> tuple[int, int, str]:
    """bm_go: ``versus_cpu()`` with the module's ``GAMES`` set to ``games`` for the call
    (the program's own knob; restored after), the moves it played, and ``repr`` of the
    global ``random``'s state afterwards (``versus_cpu`` seeds it and draws from it)."""
    saved = bm_go.GAMES
    moves = bm_go.MOVES
    bm_go.GAMES = games
    try:
        move = bm_go.versus_cpu()
    finally:
        bm_go.GAMES = saved
    return move, bm_go.MOVES - moves, repr(random.getstate())
