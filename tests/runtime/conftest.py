"""Runtime fixtures: the test application on sys.path and shared loopback clusters.

``apps/eo_testapp`` is an application package the tests offload from; it is not an
installed distribution, so bundles ship it. Clusters are real Dask processes on
127.0.0.1 and are always torn down.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

APPS = Path(__file__).resolve().parent / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))


@pytest.fixture(scope="session")
def shared_cluster() -> Iterator[object]:
    """Two plain workers, shared by the tests that do not kill or throttle them."""
    pytest.importorskip("distributed")
    from edgeoffload.runtime import LocalCluster

    with LocalCluster(n_workers=2) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def apps_folder() -> Path:
    """The folder of the test applications (PYTHONPATH of the commands tests start)."""
    return APPS
