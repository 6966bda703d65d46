"""Which session is open: offloaded functions called with no session run locally.

Sessions register here when they open and leave when they close; ``@offload`` wrappers
ask :func:`current_session` where to send a call. Kept apart from the session module so
that the decorator does not import the session machinery.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgeoffload.runtime.client.session import Session

__all__ = ["current_session", "register", "unregister"]

_SESSIONS: list[Session] = []
_LOCK = threading.Lock()


def current_session() -> Session | None:
    """The most recently opened session that is still open, if any."""
    with _LOCK:
        return _SESSIONS[-1] if _SESSIONS else None


def register(session: Session) -> None:
    """Make ``session`` the current one."""
    with _LOCK:
        _SESSIONS.append(session)


def unregister(session: Session) -> None:
    """Forget ``session`` (closed); the one opened before it is current again."""
    with _LOCK:
        if session in _SESSIONS:
            _SESSIONS.remove(session)
