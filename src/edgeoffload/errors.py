"""The exceptions edgeoffload raises.

Every error the package raises on purpose derives from :class:`EdgeOffloadError`::

    * EdgeOffloadError
      x ModelError (also ValueError)      invalid task graph, cluster, problem or scenario
        + ProblemFileError                a problem/scenario file is missing or malformed
      x SchedulingError
        + InfeasibleScheduleError         no node can host a task
        + InvalidScheduleError            validate_schedule() found a violation
      x SimulationError
      x NetemError                        an emulated network could not be built or changed
      x OffloadError                      runtime; wraps distributed.* errors
        + WorkerUnavailableError          no usable worker (dead, refused, unreachable)
          - PeerSilentError               a worker sent nothing for a call's liveness
                                          period (also ConnectionError; wire-internal)
        + RemoteTaskError                 the offloaded function raised; see __cause__
        + OffloadTimeoutError             a call passed its deadline (also TimeoutError)
          - DeadlineError                 a wire call's deadline passed (wire-internal)
        + MessageError (also ValueError)  a message between processes is malformed
        + BundleError                     a code bundle is missing, tampered or unusable
        + SecurityError                   TLS material missing or a peer refused
        + ThrottleError                   a process could not be throttled or released

The wire-internal ones are turned into their parents before they leave the wire layer.
The command line maps a user's bad input (:class:`ModelError`) to one line and exit code 2,
and any other :class:`EdgeOffloadError` to one line and exit code 1.
"""

from __future__ import annotations

__all__ = [
    "BundleError",
    "DeadlineError",
    "EdgeOffloadError",
    "InfeasibleScheduleError",
    "InvalidScheduleError",
    "MessageError",
    "ModelError",
    "NetemError",
    "OffloadError",
    "OffloadTimeoutError",
    "PeerSilentError",
    "ProblemFileError",
    "RemoteTaskError",
    "SchedulingError",
    "SecurityError",
    "SimulationError",
    "ThrottleError",
    "WorkerUnavailableError",
]


def _one_line(text: str) -> str:
    """``text`` with line breaks shown as ``\\n`` (a key from a file may hold one)."""
    if "\n" not in text and "\r" not in text:
        return text
    return text.replace("\r", "\\r").replace("\n", "\\n")


class EdgeOffloadError(Exception):
    """Base class of every error edgeoffload raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ModelError(EdgeOffloadError, ValueError):
    """A task graph, cluster, problem or scenario is invalid.

    Parameters
    ----------
    message
        What is wrong, in one line.
    where
        Where it is wrong, e.g. ``"tasks[3].work"`` or ``"nodes: 'cam9'"``; empty when the
        problem is not tied to one place.
    """

    def __init__(self, message: str, where: str = "") -> None:
        # one line, whatever names and values the input put in it
        message, where = _one_line(message), _one_line(where)
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where
        self.reason = message


class ProblemFileError(ModelError):
    """A problem or scenario file cannot be read or parsed."""


class SchedulingError(EdgeOffloadError):
    """A scheduler could not produce a schedule."""


class InfeasibleScheduleError(SchedulingError):
    """No node can host a task (e.g. its pin names a node the scheduler may not use)."""


class InvalidScheduleError(SchedulingError):
    """A schedule breaks a rule of the model; :attr:`violations` lists every one found."""

    def __init__(self, violations: list[str]) -> None:
        shown = "; ".join(violations[:5])
        more = f" (and {len(violations) - 5} more)" if len(violations) > 5 else ""
        super().__init__(f"invalid schedule: {shown}{more}")
        self.violations = violations


class SimulationError(EdgeOffloadError):
    """The simulator could not run a schedule."""


class OffloadError(EdgeOffloadError):
    """Something went wrong while offloading work to a worker."""


class WorkerUnavailableError(OffloadError):
    """No worker could take the call (dead, refused or unreachable)."""


class RemoteTaskError(OffloadError):
    """The offloaded function raised on the worker.

    The original exception is ``__cause__`` when it could be rebuilt locally;
    :attr:`remote_traceback` holds the worker's formatted traceback either way.
    """

    def __init__(self, message: str, remote_traceback: str = "") -> None:
        super().__init__(message)
        self.remote_traceback = remote_traceback


class OffloadTimeoutError(OffloadError, TimeoutError):
    """A call did not finish before its deadline (also a :class:`TimeoutError`)."""


class PeerSilentError(WorkerUnavailableError, ConnectionError):
    """The worker sent nothing (no beat, no reply) for the call's liveness period."""


class DeadlineError(OffloadTimeoutError):
    """The deadline passed before the reply; the worker was told to cancel (best effort)."""


class MessageError(OffloadError, ValueError):
    """A header that is not a well-formed message; the text names the field."""


class BundleError(OffloadError):
    """A code bundle is missing, tampered with, or needs packages the worker lacks."""


class SecurityError(OffloadError):
    """TLS material is missing or invalid, or a peer was refused."""


class NetemError(EdgeOffloadError):
    """The emulated network could not be built, changed or torn down."""


class ThrottleError(OffloadError):
    """A process could not be throttled, or a throttle could not be undone."""
