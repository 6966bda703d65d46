"""Worker-side fixtures: the test application's bundle, built once."""

from __future__ import annotations

import pytest

from edgeoffload.runtime.wire.bundles import Bundle, build_bundle
from worker_bundles import CALLS


@pytest.fixture(scope="session")
def bundle() -> Bundle:
    """The bundle of the test application's offloaded functions (``worker_bundles.CALLS``)."""
    return build_bundle(CALLS)
