"""An offloaded function that says how many threads the native thread pools may use
where it runs (numpy's OpenBLAS here)."""

from __future__ import annotations

import os

import edgeoffload


@edgeoffload.offload
def pool_threads(*inputs: object) -> dict[str, int]:
    """``internal_api -> num_threads`` of every BLAS/OpenMP pool loaded in this process
    (``*inputs``: a DAG task's inputs, ignored)."""
    import numpy  # noqa: F401  (loads numpy's BLAS)
    from threadpoolctl import threadpool_info

    return {str(i["internal_api"]): int(i["num_threads"]) for i in threadpool_info()}


def environment(name: str) -> str | None:
    """The value of environment variable ``name`` in this process."""
    return os.environ.get(name)
