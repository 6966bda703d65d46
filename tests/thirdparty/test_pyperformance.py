"""pyperformance's pure-Python benchmarks offloaded unchanged, compared with local runs.

pyperformance comes from the package index (the ``dev`` extra). Each program's
``run_benchmark.py`` is imported by path as ``bm_NAME`` without changing its source
(``tp_pyperformance.load``). A test offloads either one of the program's own functions
that returns its computed data (``offload(bm_fannkuch.fannkuch)``), or a wrapper of
``tp_wrappers`` that runs the unchanged code and returns its computed state, where the
program's functions return only timings or write a file; each docstring says which.

Every result must equal the local run's bit for bit (``tp_pyperformance.fingerprint``:
floats by their bits, files by their bytes) and the call must have run on the worker
(``policy="always-remote"``, checked in the session's records). Sizes are small: the
whole folder runs in well under a minute.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest

import edgeoffload

pytestmark = pytest.mark.dask

pytest.importorskip("pyperformance", reason="pyperformance is in the dev extra")
programs = importlib.import_module("tp_pyperformance")
BM = programs.load_benchmarks()
wrappers = importlib.import_module("tp_wrappers")  # imports the bm_* modules by name
fingerprint = programs.fingerprint


def _same(remote: Any, local: Any) -> None:
    assert fingerprint(remote) == fingerprint(local), (remote, local)


def test_modules_are_shipped_as_source(session: Any, remote_call: Any) -> None:
    """The bm_* modules belong to no distribution: the wrappers' bundle carries them as
    application source; pyperf, which they import, is a requirement."""
    f = edgeoffload.offload(wrappers.nqueens_solutions)
    remote_call(f, 4)
    bundle = session.bundles()["tp_wrappers"]
    assert {"tp_wrappers", "bm_nbody", "bm_chaos", "bm_go"} <= set(bundle.modules)
    assert "pyperf" in bundle.requirements
    assert "pyperformance" not in bundle.requirements


def test_nbody(remote_call: Any) -> None:
    """nbody — wrapper ``tp_wrappers.nbody_state``: ``bench_nbody`` returns a timing and
    updates the module's ``BODIES`` in place; the wrapper runs ``offset_momentum``,
    ``report_energy`` and ``advance`` on a copy and returns energies and every body."""
    f = edgeoffload.offload(wrappers.nbody_state)
    local = wrappers.nbody_state(2000)
    _same(remote_call(f, 2000), local)
    _same(remote_call(f, 2000), local)  # the worker's module state is not changed either


def test_chaos_draws_from_the_seeded_global_random(remote_call: Any) -> None:
    """chaos — wrapper ``tp_wrappers.chaos_image``: runs the program's ``main`` (with a
    one-shot stand-in for ``pyperf.Runner``) and returns the PPM file it writes and the
    global ``random``'s state after. ``main`` seeds the global ``random`` and draws from
    it on every iteration: the key check that nothing else in the worker's process (its
    threads) draws from it."""
    f = edgeoffload.offload(wrappers.chaos_image)
    local = wrappers.chaos_image(64, 64, 3000)
    assert local[0].startswith(b"P6\n64 64\n255\n")
    for _ in range(3):
        _same(remote_call(f, 64, 64, 3000), local)


def test_raytrace(remote_call: Any) -> None:
    """raytrace — wrapper ``tp_wrappers.raytrace_image``: ``bench_raytrace(1, w, h,
    filename)`` returns a timing and writes the PPM picture; the wrapper returns its bytes."""
    f = edgeoffload.offload(wrappers.raytrace_image)
    local = wrappers.raytrace_image(32, 32)
    _same(remote_call(f, 32, 32), local)


def test_richards(remote_call: Any) -> None:
    """richards — wrapper ``tp_wrappers.richards_counts``: ``Richards().run(n)`` returns
    only its self-check; the wrapper adds the global task work area's counts."""
    f = edgeoffload.offload(wrappers.richards_counts)
    local = wrappers.richards_counts(2)
    assert local == (True, 9297, 23246)
    assert remote_call(f, 2) == local


def test_nqueens(remote_call: Any) -> None:
    """nqueens — wrapper ``tp_wrappers.nqueens_solutions``: ``n_queens`` is a generator
    (which cannot be offloaded) and ``bench_n_queens`` drops its solutions; the wrapper
    returns ``list(n_queens(n))``."""
    f = edgeoffload.offload(wrappers.nqueens_solutions)
    local = wrappers.nqueens_solutions(7)
    assert len(local) == 40
    assert remote_call(f, 7) == local


def test_fannkuch(remote_call: Any) -> None:
    """fannkuch — direct: ``offload(bm_fannkuch.fannkuch)``, which returns the maximum
    number of flips."""
    f = edgeoffload.offload(BM["fannkuch"].fannkuch)
    assert remote_call(f, 8) == BM["fannkuch"].fannkuch(8) == 22


def test_go_draws_from_the_seeded_global_random(remote_call: Any) -> None:
    """go — direct: ``offload(bm_go.versus_cpu)``, which seeds the global ``random``,
    plays ``GAMES`` random games on a tree search and returns the chosen move; and the
    wrapper ``tp_wrappers.go_game`` (fewer games), which also returns the moves played
    and the global ``random``'s state after. The key check, with chaos, that the worker's
    threads do not draw from the caller's ``random``."""
    direct = edgeoffload.offload(BM["go"].versus_cpu)
    local_move = BM["go"].versus_cpu()
    assert remote_call(direct) == local_move
    f = edgeoffload.offload(wrappers.go_game)
    local = wrappers.go_game(40)
    for _ in range(2):
        _same(remote_call(f, 40), local)


def test_float(remote_call: Any) -> None:
    """float — direct: ``offload(bm_float.benchmark)``, which returns the maximised
    ``Point`` (an instance of the shipped module's class; compared by its exact floats)."""
    f = edgeoffload.offload(BM["float"].benchmark)
    local = BM["float"].benchmark(20_000)
    remote = remote_call(f, 20_000)
    assert type(remote) is BM["float"].Point
    assert (remote.x, remote.y, remote.z) == (local.x, local.y, local.z)
    _same(remote, local)


def test_spectral_norm(remote_call: Any) -> None:
    """spectral_norm — direct: ``offload(bm_spectral_norm.eval_AtA_times_u)``, the inner
    function that returns AᵀA·u (``bench_spectral_norm`` returns a timing); then ten power
    iterations of it, each offloaded."""
    sn = BM["spectral_norm"]
    f = edgeoffload.offload(sn.eval_AtA_times_u)
    u = [1] * 120
    _same(remote_call(f, u), sn.eval_AtA_times_u(u))
    local_u = remote_u = u
    for _ in range(10):
        local_u, remote_u = sn.eval_AtA_times_u(local_u), remote_call(f, remote_u)
    _same(remote_u, local_u)


def test_sympy_integrate(remote_call: Any) -> None:
    """pyperformance's sympy benchmark — direct: ``offload(bm_sympy.bench_integrate)``,
    which returns ∫ cot(x)**10 dx."""
    f = edgeoffload.offload(BM["sympy"].bench_integrate)
    local = BM["sympy"].bench_integrate()
    remote = remote_call(f)
    assert remote == local
    _same(remote, local)
