"""The COFA example applications, as *application* code for the experiments to offload.

The Reversi and Linpack apps live in ``examples/cofa/`` (where a user finds them, each
runnable on its own). The experiments must offload them exactly as a user's app would be
offloaded: as application modules that the bundler ships to the workers. A module
imported from inside the installed ``edgeoffload`` distribution would instead be treated
as an installed requirement and *not* shipped, so the apps are never imported as part of
this package. :func:`app_dir` copies their sources into a fresh temporary folder, and
the process that runs the experiment's client puts that folder on ``sys.path`` and
imports ``reversi`` and ``linpack`` as top-level modules.

Where the sources come from, first found wins:

1. ``EDGEOFFLOAD_COFA_APPS`` (a folder), or the ``source`` argument: a user's own copy;
2. ``edgeoffload/experiments/cofa_apps/`` inside an installed wheel (``pyproject.toml``
   force-includes ``examples/cofa`` there);
3. ``examples/cofa/`` of the source checkout this package runs from (an editable
   install, as in development).

One copy of the source, found by users in ``examples/``, shipped in wheels, and never
imported from the package.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edgeoffload.errors import EdgeOffloadError

__all__ = ["APP_MODULES", "PROBE_MODULE", "app_dir", "app_source_dir", "copy_apps"]

APP_MODULES = ("reversi", "linpack")
"""The example applications, by module name."""

PROBE_MODULE = "cofa_probe"
"""A tiny offloadable module the experiment writes beside the apps to calibrate speeds."""

_PROBE_SOURCE = '''\
"""Calibration probe of the COFA experiment: the throttle module's fixed CPU benchmark."""

from __future__ import annotations

import time

import edgeoffload
from edgeoffload.runtime.host.throttle import cpu_probe


@edgeoffload.offload
def probe(n: int = 1_000_000) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``cpu_probe(n)`` where this runs."""
    c0 = time.thread_time()
    wall = cpu_probe(n)
    return wall, time.thread_time() - c0
'''


def _candidates() -> list[Path]:
    here = Path(__file__).resolve().parent
    found = []
    env = os.environ.get("EDGEOFFLOAD_COFA_APPS")
    if env:
        found.append(Path(env))
    found.append(here / "cofa_apps")  # an installed wheel
    found.append(here.parents[2] / "examples" / "cofa")  # src/edgeoffload/experiments -> root
    return found


def app_source_dir(source: str | Path | None = None) -> Path:
    """The folder holding ``reversi.py`` and ``linpack.py`` (see the module docstring).

    Raises
    ------
    EdgeOffloadError
        No candidate folder holds both apps; the message lists where it looked.
    """
    candidates = [Path(source)] if source is not None else _candidates()
    for folder in candidates:
        if all((folder / f"{m}.py").is_file() for m in APP_MODULES):
            return folder
    looked = ", ".join(str(c) for c in candidates)
    raise EdgeOffloadError(
        f"cannot find the COFA example apps (reversi.py, linpack.py); looked in {looked}."
        " Set EDGEOFFLOAD_COFA_APPS to a folder holding them."
    )


def copy_apps(dest: str | Path, source: str | Path | None = None) -> Path:
    """Copy the apps (and the calibration probe) into ``dest``; return ``dest``."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    origin = app_source_dir(source)
    for module in APP_MODULES:
        shutil.copyfile(origin / f"{module}.py", dest / f"{module}.py")
    (dest / f"{PROBE_MODULE}.py").write_text(_PROBE_SOURCE)
    return dest


@contextmanager
def app_dir(source: str | Path | None = None) -> Iterator[Path]:
    """A temporary folder holding the apps, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="edgeoffload-cofa-apps-") as tmp:
        yield copy_apps(tmp, source)
