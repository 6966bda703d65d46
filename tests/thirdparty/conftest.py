"""Unchanged third-party programs offloaded on a real loopback cluster.

``apps/`` holds the helpers these tests (and ``benchmarks/bench_apps.py``) share:
``tp_pyperformance`` loads pyperformance's benchmark programs by path, unchanged;
``tp_wrappers`` runs those whose result is a timing, a file or global state and returns
what they computed; ``tp_science`` holds small seeded numpy, networkx and sympy programs.
They are not installed, so ``edgeoffload`` ships them (and the ``bm_*`` modules) as source.

One worker process is shared by every test here; each test opens its call's session
with ``policy="always-remote"`` and checks in the session's records that the call ran on
the worker (:func:`remote_call`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

APPS = Path(__file__).resolve().parent / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))


@pytest.fixture(scope="session")
def thirdparty_cluster() -> Iterator[Any]:
    """One plain worker on loopback for the whole folder."""
    pytest.importorskip("distributed")
    from edgeoffload.runtime import LocalCluster, WorkerSpec

    with LocalCluster([WorkerSpec("tp-worker")]) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def session(thirdparty_cluster: Any) -> Iterator[Any]:
    """An always-remote session on the shared worker (one per test module)."""
    import edgeoffload

    with edgeoffload.connect(thirdparty_cluster, policy="always-remote") as s:
        yield s


@pytest.fixture
def remote_call(session: Any) -> Callable[..., Any]:
    """``remote_call(offloaded, *args)``: the call's result, after checking in the
    session's records that it ran remotely and returned normally."""

    def call(function: Any, *args: Any, **kwargs: Any) -> Any:
        before = len(session.stats().records)
        result = function(*args, **kwargs)
        new = [r for r in session.stats().records[before:] if r.function == function.key]
        assert new, f"no record of {function.key}"
        assert all(r.where != "local" and r.outcome == "ok" for r in new), [
            (r.where, r.outcome, r.reason) for r in new
        ]
        return result

    return call
