"""``@offload``: mark a heavy function (COFA's ``@ComputeIntensive``).

A marked function behaves exactly as before when no session is open: it runs locally,
with the same result. Inside ``with edgeoffload.connect() as session:`` each call goes
where the decision engine predicts it finishes soonest (see
:mod:`edgeoffload.runtime.client.decision`); ``f.local(...)`` forces a local run and
``f.submit(...)`` returns a :class:`concurrent.futures.Future`.

It works on plain functions, on methods (the instance travels with the call, so it must
pickle), on static methods placed under ``@staticmethod``, and on lambdas and functions
defined inside other functions. A function defined at module level (or in a module-level
class) is found on the worker by module and qualified name, from the code bundle of its
module (:mod:`edgeoffload.runtime.wire.bundles`), shipped once; a lambda or a nested
function travels **by value** with each call (:mod:`cloudpickle`), with its closure.
Generator and ``async`` functions are refused when decorated: their state cannot leave
the process that runs them.

Exceptions raised remotely are re-raised as the original type when it can be rebuilt
here, with ``__cause__`` set to a :class:`~edgeoffload.errors.RemoteTaskError` whose
``remote_traceback`` (also in its message) is the worker's traceback — the way
:mod:`multiprocessing` reports a worker's error. An exception that cannot be rebuilt
becomes that :class:`~edgeoffload.errors.RemoteTaskError` itself.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import sys
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from edgeoffload.runtime.client.current import current_session
from edgeoffload.runtime.wire.ops import OFFLOADED_MARK
from edgeoffload.runtime.wire.protocol import WORKER_MODULE_PREFIX

if TYPE_CHECKING:
    from edgeoffload.runtime.client.decision import Policy

__all__ = [
    "BoundOffloadedFunction",
    "OffloadedFunction",
    "offload",
    "registered_functions",
    "run_inside",
]

P = ParamSpec("P")
R = TypeVar("R")

_REGISTRY: weakref.WeakSet[OffloadedFunction[Any, Any]] = weakref.WeakSet()

_INSIDE: contextvars.ContextVar[bool] = contextvars.ContextVar("edgeoffload_inside", default=False)
"""True while an offloaded function runs here: the offloaded functions it calls (itself,
when it recurses) run where it runs, without another decision — as they do on a worker."""


def run_inside(function: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """Call ``function`` as the body of an offloaded call (see :data:`_INSIDE`)."""
    token = _INSIDE.set(True)
    try:
        return function(*args, **kwargs)
    finally:
        _INSIDE.reset(token)


def registered_functions() -> list[OffloadedFunction[Any, Any]]:
    """Every offloaded function defined so far in this process (for pre-transfer), but
    those of a module since removed from ``sys.modules`` (unloaded: not part of the
    application any more, and nothing to package; a call of one still says why it
    runs locally)."""
    live = (f for f in _REGISTRY if f.module in sys.modules)
    return sorted(live, key=lambda f: f.key)


def _findable(function: Any) -> bool:
    """A Python function, or a callable found again by module and qualified name (numpy's
    dispatchers, a builtin of an installed extension)."""
    if hasattr(function, "__code__"):
        return True
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        return False
    found: Any = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found is function


class OffloadedFunction(Generic[P, R]):
    """A function marked with :func:`offload`.

    Attributes
    ----------
    key
        ``"module:qualname"``: how sessions, history and stats name the function.
    deadline
        Seconds a remote call may take before it is abandoned and moved (``None``: the
        session's default).
    policy
        A decision policy for this function only (``None``: the session's).
    cost
        ``cost(*args, **kwargs)``: a positive number proportional to a call's work, used
        by the decision engine as the call's size instead of its argument bytes.
    strict
        ``True``: a call that cannot run remotely raises instead of running locally;
        ``None``: the session's setting.
    ship
        Installed packages whose source this function's bundle carries (by top-level
        name), on top of the application's own modules.
    by_value
        The function travels with each call (a lambda or a nested function), not by name.
    """

    def __init__(
        self,
        function: Callable[P, R],
        *,
        deadline: float | None = None,
        policy: str | Policy | None = None,
        cost: Callable[..., float] | None = None,
        strict: bool | None = None,
        ship: Sequence[str] = (),
    ) -> None:
        if isinstance(function, (staticmethod, classmethod)):
            raise TypeError(
                "put @offload under @staticmethod, not above it (classmethods cannot be offloaded)"
            )
        if deadline is not None and not deadline > 0:
            raise ValueError(f"deadline must be > 0 seconds, got {deadline!r}")
        if cost is not None and not callable(cost):
            raise TypeError(
                f"cost must be a callable taking the function's arguments, got {cost!r}"
            )
        if isinstance(ship, str) or not all(isinstance(n, str) and n for n in ship):
            raise TypeError(f"ship must be a list of package names, got {ship!r}")
        if not callable(function) or not _findable(function):
            raise TypeError(
                f"@offload marks a function, got {function!r}: a Python function, or a "
                "callable a worker can import by its module and name"
            )
        name = getattr(function, "__qualname__", repr(function))
        if inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function):
            raise TypeError(
                f"{name} is a generator function, which cannot be offloaded: a generator's "
                "state lives in the process that runs it. Return a list instead, or offload "
                "the work of one item"
            )
        if inspect.iscoroutinefunction(function):
            raise TypeError(
                f"{name} is an async function, which cannot be offloaded: mark a plain "
                "function and await it with loop.run_in_executor(None, f, ...) or f.submit"
            )
        functools.update_wrapper(self, function)
        self.__wrapped__: Callable[P, R] = function
        self.module: str = function.__module__ or "__main__"
        self.qualname: str = function.__qualname__
        self.by_value = "<locals>" in self.qualname or "<lambda>" in self.qualname
        self.key = f"{self.module}:{self.qualname}"
        self.deadline = deadline
        self.policy = policy
        self.cost = cost
        self.strict = strict
        self.ship = tuple(sorted({n.partition(".")[0] for n in ship}))
        setattr(self, OFFLOADED_MARK, True)  # a worker runs __wrapped__, never offloads again
        if not self.module.startswith(WORKER_MODULE_PREFIX):  # not a worker's bundle copy
            _REGISTRY.add(self)

    def __repr__(self) -> str:
        return f"<offloaded function {getattr(self, 'key', '?')}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        session = current_session()
        if session is None or _INSIDE.get():  # no session, or inside an offloaded call
            return self.__wrapped__(*args, **kwargs)
        result: R = session.call(self, args, kwargs)
        return result

    def local(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run here, whatever the decision engine would say (recorded in the stats)."""
        session = current_session()
        if session is None or _INSIDE.get():
            return self.__wrapped__(*args, **kwargs)
        result: R = session.call(self, args, kwargs, force_local=True)
        return result

    def submit(self, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        """Start a call and return its future (with no session, or inside an offloaded
        call: runs now, here)."""
        session = current_session()
        if session is None or _INSIDE.get():
            future: Future[R] = Future()
            try:
                future.set_result(self.__wrapped__(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)
            return future
        submitted: Future[R] = session.submit(self, args, kwargs)
        return submitted

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> OffloadedFunction[P, R]: ...

    @overload
    def __get__(self, instance: object, owner: type[Any]) -> BoundOffloadedFunction[R]: ...

    def __get__(
        self, instance: object | None, owner: type[Any] | None = None
    ) -> OffloadedFunction[P, R] | BoundOffloadedFunction[R]:
        if instance is None:
            return self
        return BoundOffloadedFunction(self, instance)


class BoundOffloadedFunction(Generic[R]):
    """An offloaded method bound to an instance: ``board.score`` for ``Board.score``."""

    __slots__ = ("__func__", "__self__")

    def __init__(self, function: OffloadedFunction[Any, R], instance: object) -> None:
        self.__func__ = function
        self.__self__ = instance

    def __repr__(self) -> str:
        return f"<bound offloaded method {self.__func__.key} of {self.__self__!r}>"

    def __call__(self, *args: Any, **kwargs: Any) -> R:
        return self.__func__(self.__self__, *args, **kwargs)

    def local(self, *args: Any, **kwargs: Any) -> R:
        return self.__func__.local(self.__self__, *args, **kwargs)

    def submit(self, *args: Any, **kwargs: Any) -> Future[R]:
        return self.__func__.submit(self.__self__, *args, **kwargs)


@overload
def offload(function: Callable[P, R], /) -> OffloadedFunction[P, R]: ...


@overload
def offload(
    *,
    deadline: float | None = None,
    policy: str | Policy | None = None,
    cost: Callable[..., float] | None = None,
    strict: bool | None = None,
    ship: Sequence[str] = (),
) -> Callable[[Callable[P, R]], OffloadedFunction[P, R]]: ...


def offload(
    function: Callable[P, R] | None = None,
    /,
    *,
    deadline: float | None = None,
    policy: str | Policy | None = None,
    cost: Callable[..., float] | None = None,
    strict: bool | None = None,
    ship: Sequence[str] = (),
) -> OffloadedFunction[P, R] | Callable[[Callable[P, R]], OffloadedFunction[P, R]]:
    """Mark ``function`` as worth offloading.

    Parameters
    ----------
    function
        The function (when used as ``@offload`` without arguments).
    deadline
        Seconds a remote call may take before it is abandoned and moved elsewhere;
        default: the session's (``connect(deadline=...)``, 120 s unless set).
    policy
        A policy name (``"latency"``, ``"energy"``, ``"always-local"``,
        ``"always-remote"``) or instance, for this function only.
    cost
        ``cost(*args, **kwargs) -> float``: how much work a call is, in any unit (``n**3``
        for an n×n matrix product); the decision engine learns seconds per unit per node.
        Default: the call's pickled argument bytes.
    strict
        ``True``: raise :class:`~edgeoffload.errors.OffloadError` when a call cannot run
        remotely instead of running it locally (``None``: the session's ``strict``).
    ship
        Installed packages (top-level import names) to ship as source with this function,
        for workers that do not have them; the application's own modules are always
        shipped.

    Examples
    --------
    >>> import edgeoffload
    >>> @edgeoffload.offload
    ... def square(x):
    ...     return x * x
    >>> square(7)  # no session: runs locally
    49
    """
    options: dict[str, Any] = {
        "deadline": deadline,
        "policy": policy,
        "cost": cost,
        "strict": strict,
        "ship": ship,
    }
    if function is not None:
        return OffloadedFunction(function, **options)

    def decorate(f: Callable[P, R]) -> OffloadedFunction[P, R]:
        return OffloadedFunction(f, **options)

    return decorate
