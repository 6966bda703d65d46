"""The ``edgeoffload`` command line: a thin layer over the library.

Each command lives in a ``cli/cmd_*.py`` module with a ``register(subparsers)`` function;
:data:`COMMAND_MODULES` lists them. Commands import heavy libraries (Dask, matplotlib,
simpy) only when they run, so ``edgeoffload schedule`` works without them.

Errors are mapped to exit codes in one place, :func:`_handle_errors`: a user's bad input
(:class:`~edgeoffload.errors.ModelError`) is one line and exit code 2, any other
:class:`~edgeoffload.errors.EdgeOffloadError` one line and exit code 1.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import NoReturn

from edgeoffload import __version__
from edgeoffload.cli._common import EXIT_INTERRUPTED
from edgeoffload.errors import EdgeOffloadError, ModelError

__all__ = ["COMMAND_MODULES", "entrypoint", "main", "main_parser"]

COMMAND_MODULES: tuple[str, ...] = (
    "edgeoffload.cli.cmd_schedule",
    "edgeoffload.cli.cmd_demo",
    "edgeoffload.cli.cmd_workloads",
    "edgeoffload.cli.cmd_runtime",
    "edgeoffload.cli.cmd_experiment",
    "edgeoffload.cli.cmd_simulate",
    "edgeoffload.cli.cmd_netem",
    "edgeoffload.cli.cmd_run",
    "edgeoffload.cli.cmd_serve",
    "edgeoffload.cli.cmd_import",
)

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class _OneLineParser(argparse.ArgumentParser):
    """Usage errors in one line, like every other error of the command line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"edgeoffload: error: {message} (see '{self.prog} --help')\n")


def main_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="edgeoffload",
        description=(
            "Schedule, simulate and run DAG workloads and offloaded code on edge clusters."
        ),
        epilog="Run 'edgeoffload COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"edgeoffload {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback of unexpected errors"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


@contextmanager
def _handle_errors(debug: bool) -> Iterator[list[int]]:
    """Map exceptions to one line on stderr and an exit code (stored in the yielded list)."""
    code = [EXIT_OK]
    try:
        yield code
    except ModelError as exc:
        print(f"edgeoffload: error: {exc}", file=sys.stderr)
        code[0] = EXIT_USAGE
    except EdgeOffloadError as exc:
        print(f"edgeoffload: error: {exc}", file=sys.stderr)
        code[0] = EXIT_FAILURE
    except KeyboardInterrupt:
        print("edgeoffload: interrupted", file=sys.stderr)
        code[0] = EXIT_INTERRUPTED
    except BrokenPipeError:
        code[0] = EXIT_FAILURE
    except Exception as exc:  # a bug: say so in one line, with the traceback on request
        if debug:
            traceback.print_exc()
        print(
            f"edgeoffload: internal error: {type(exc).__name__}: {exc}"
            " (rerun with --debug for the traceback, and please report it)",
            file=sys.stderr,
        )
        code[0] = EXIT_FAILURE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = main_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else 2
    debug = bool(args.debug or os.environ.get("EDGEOFFLOAD_DEBUG"))
    handler: Callable[[argparse.Namespace], int] = args.handler
    with _handle_errors(debug) as code:
        code[0] = handler(args)
    return code[0]


def entrypoint() -> None:
    """Console-script entry point: the only reader of ``sys.argv``."""
    sys.exit(main(sys.argv[1:]))
