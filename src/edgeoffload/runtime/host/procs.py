"""Process helpers shared by the code cache and CPU throttling (Linux /proc where present)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

__all__ = ["LOG_LEVEL_ENV", "PARENT_ENV", "WORKER_PROCESS_ENV", "die_with_parent", "pid_alive"]

logger = logging.getLogger(__name__)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (one we may not signal counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited: its caches and cgroups are stale
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


PARENT_ENV = "EDGEOFFLOAD_PARENT_PID"
"""Environment variable naming the process a child must not outlive."""

WORKER_PROCESS_ENV = "EDGEOFFLOAD_WORKER_PROCESS"
"""Set in a worker's processes: a session opened there is a script run without its
``if __name__ == "__main__":`` guard, and is refused."""

LOG_LEVEL_ENV = "EDGEOFFLOAD_LOG_LEVEL"
"""Environment variable with the log level of a cluster's processes (default ``INFO``)."""

_PR_SET_PDEATHSIG = 1
_WATCH_INTERVAL = 0.5  # seconds between checks of the parent where prctl is missing


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(_WATCH_INTERVAL)
        if os.getppid() != parent:
            os._exit(1)


def die_with_parent(parent: int | None = None) -> bool:
    """Make this process end when process ``parent`` ends; True if the kernel does it.

    ``parent`` defaults to :data:`PARENT_ENV`'s value (nothing is done when it is unset).
    On Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` — tied to the *thread* of the parent
    that started this process, so parents start children from long-lived threads; if the
    parent already changed (it died before that was armed) the process exits at once.
    Where prctl is missing, a daemon thread checks the parent every 0.5 s (logged; a
    warning on Linux, where it is unexpected).
    """
    if parent is None:
        value = os.environ.get(PARENT_ENV, "")
        if not value.isdigit():
            return False
        parent = int(value)
    armed = False
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError) as exc:
            logger.warning("prctl(PR_SET_PDEATHSIG) is unavailable (%s)", exc)
    if os.getppid() != parent:
        os._exit(1)
    if not armed:
        (logger.warning if sys.platform.startswith("linux") else logger.info)(
            "process %d: the kernel will not end it with its parent; a watchdog thread "
            "checks the parent every %.1f s instead",
            os.getpid(),
            _WATCH_INTERVAL,
        )
        threading.Thread(
            target=_watch_parent, args=(parent,), name="edgeoffload-parent-watch", daemon=True
        ).start()
    return armed
