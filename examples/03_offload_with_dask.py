"""Offload a heavy function to an embedded Dask cluster: COFA's flow in a few lines.

Mark the function, open a session (here: a local cluster of two worker processes on
loopback), and call it as before. The first call runs where the probe benchmark says is
fastest; later calls use the function's measured history. The summary shows where each
call ran and why, the code that was sent once, and the bytes of every call.

Run: ``python examples/03_offload_with_dask.py``
"""

from __future__ import annotations

import edgeoffload


@edgeoffload.offload
def count_primes(limit: int) -> int:
    """Primes below ``limit`` by trial division: deliberately CPU-bound pure Python."""
    count = 0
    for n in range(2, limit):
        d = 2
        while d * d <= n:
            if n % d == 0:
                break
            d += 1
        else:
            count += 1
    return count


def main() -> None:
    print("no session, runs here:", count_primes(20_000))
    with edgeoffload.connect(n_workers=2) as session:
        print("in a session:", count_primes(20_000))
        print("spread over the cluster:", session.map(count_primes, [5_000, 10_000, 15_000]))
        print("forced local:", count_primes.local(1_000))
        session.print_summary()


if __name__ == "__main__":  # worker processes import this file: keep the guard
    main()
