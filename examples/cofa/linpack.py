"""Linpack: solve a dense n×n system and report MFLOPS — COFA's second experiment.

As in the classic Linpack benchmark (Dongarra), the matrix has random entries in
[-0.5, 0.5) and the right-hand side is the row sums, so the solution is all ones; the
solve is an LU factorisation with partial pivoting and two triangular solves (numpy's
``linalg.solve``, i.e. LAPACK ``dgesv``), credited with the benchmark's operation count

    flops(n) = 2/3 n³ + 2 n²

so MFLOPS = flops(n) / t / 10⁶, t being the solve's wall time alone (generating the
matrix is not timed, as in Linpack). The answer is checked by the normalised residual
‖A x − b‖∞ / (n ‖A‖∞ ‖x‖∞ ε), which is of order 1 for a correct solve.

:func:`linpack` is the heavy function, marked ``@edgeoffload.offload``: it generates the
matrix where it runs from a seed, so an offloaded call sends a few bytes, not the
matrix — like the paper's Linpack app, whose benchmark builds its own matrix. The paper
reports 106.1 MFLOPS on a Nexus 7, 298.5 on a Nexus 6P and 2 719.6 on an i7-6700 server.

numpy uses the BLAS threads it is given; for figures comparable between machines set
``OPENBLAS_NUM_THREADS=1`` (Dask workers do so by default).

Run ``python examples/cofa/linpack.py --help``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace

import numpy as np

import edgeoffload

__all__ = ["LinpackResult", "flops", "linpack", "mflops", "solve_system"]


def flops(n: int) -> float:
    """Linpack's operation count for an n×n solve: 2/3 n³ + 2 n²."""
    return 2.0 / 3.0 * n**3 + 2.0 * n**2


def mflops(n: int, seconds: float) -> float:
    """Millions of floating-point operations per second for an n×n solve in ``seconds``."""
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, not {seconds}")
    return flops(n) / seconds / 1e6


@dataclass(frozen=True, slots=True)
class LinpackResult:
    """One Linpack run.

    Attributes
    ----------
    n
        Order of the system.
    seconds
        Wall time of the solve alone (factorisation and triangular solves).
    residual
        Normalised residual ‖A x − b‖∞ / (n ‖A‖∞ ‖x‖∞ ε); of order 1 when correct.
    max_error
        max |x_i − 1| (the exact solution is all ones).
    cpu_seconds
        CPU time of the solve in the calling thread (with one BLAS thread, all of it).
    total_seconds, total_cpu_seconds
        Wall and CPU time of the whole call of :func:`linpack`: generating the system,
        solving it and checking the answer (the solve alone where no system was made).
    """

    n: int
    seconds: float
    residual: float
    max_error: float
    cpu_seconds: float = 0.0
    total_seconds: float = 0.0
    total_cpu_seconds: float = 0.0

    @property
    def mflops(self) -> float:
        """Speed of the solve, MFLOPS."""
        return mflops(self.n, self.seconds)


def make_system(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(A, b)``: random A in [-0.5, 0.5), b = row sums of A (so x = ones)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, not {n}")
    rng = np.random.default_rng(seed)
    a = rng.random((n, n)) - 0.5
    return a, a.sum(axis=1)


def solve_system(a: np.ndarray, b: np.ndarray) -> LinpackResult:
    """Solve ``a x = b``, timing the solve, and check the answer."""
    n = a.shape[0]
    t0, c0 = time.perf_counter(), time.thread_time()
    x = np.linalg.solve(a, b)
    seconds, cpu = time.perf_counter() - t0, time.thread_time() - c0
    eps = float(np.finfo(np.float64).eps)
    r = float(np.linalg.norm(a @ x - b, np.inf))
    scale = n * float(np.linalg.norm(a, np.inf)) * float(np.linalg.norm(x, np.inf)) * eps
    error = float(np.abs(x - 1.0).max())
    return LinpackResult(n, seconds, r / scale, error, cpu, seconds, cpu)


@edgeoffload.offload
def linpack(n: int = 1000, seed: int = 0) -> LinpackResult:
    """Generate an n×n system from ``seed`` and solve it (the heavy call)."""
    t0, c0 = time.perf_counter(), time.thread_time()
    result = solve_system(*make_system(n, seed))
    return replace(
        result,
        total_seconds=time.perf_counter() - t0,
        total_cpu_seconds=time.thread_time() - c0,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(
            "Linpack: solve a dense n×n system and report MFLOPS, COFA's second experiment. "
            "Runs locally, or offloaded with --offload."
        )
    )
    parser.add_argument("-n", type=int, default=1000, help="order of the system (default: 1000)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions (default: 3)")
    parser.add_argument("--seed", type=int, default=0, help="matrix seed (default: 0)")
    parser.add_argument(
        "--offload",
        action="store_true",
        help="open an edgeoffload session (an embedded local cluster) and offload the runs",
    )
    args = parser.parse_args(argv)

    def run_all() -> None:
        for k in range(args.runs):
            call = linpack if args.offload else linpack.local
            t0 = time.perf_counter()
            r = call(args.n, args.seed + k)
            total = time.perf_counter() - t0
            print(f"n={r.n}  {r.mflops:10.1f} MFLOPS  solve {r.seconds:.3f} s"
                  f"  call {total:.3f} s  residual {r.residual:.3g}")  # fmt: skip

    if args.offload:
        with edgeoffload.connect() as session:
            run_all()
            session.print_summary()
    else:
        run_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
