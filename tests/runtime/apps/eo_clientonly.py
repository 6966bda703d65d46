"""A module whose top-level code fails where EO_TEST_CLIENT_ONLY is not set (the workers)."""

from __future__ import annotations

import os

from edgeoffload import offload

if "EO_TEST_CLIENT_ONLY" not in os.environ:
    raise RuntimeError("EO_TEST_CLIENT_ONLY is not set in this process")


@offload
def double(x: int) -> int:
    return 2 * x
