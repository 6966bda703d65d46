"""The scheduler registry: names to classes, with plugins from other packages.

Built-in schedulers are registered by ``edgeoffload.schedulers``. A user adds one with
:func:`register_scheduler`; another package publishes one under the entry-point group
``edgeoffload.schedulers`` (``name = "package.module:Class"``), which
:func:`available_schedulers` loads.
"""

from __future__ import annotations

import inspect
from importlib.metadata import entry_points
from typing import Any, TypeVar

from edgeoffload.errors import ModelError
from edgeoffload.schedulers.base import Scheduler

__all__ = [
    "ENTRY_POINT_GROUP",
    "SCHEDULERS",
    "available_schedulers",
    "check_scheduler_name",
    "get_scheduler",
    "plugin_errors",
    "register_scheduler",
]

ENTRY_POINT_GROUP = "edgeoffload.schedulers"

SCHEDULERS: dict[str, type[Scheduler]] = {}
"""Registered schedulers by name (built-ins and those added with register_scheduler)."""

_plugin_errors: dict[str, str] = {}

S = TypeVar("S", bound=type[Scheduler])


def register_scheduler(cls: S) -> S:
    """Add a :class:`Scheduler` subclass to the registry under ``cls.name``.

    Usable as a class decorator. Registering the same class twice is harmless; another
    class under a taken name is an error.
    """
    if not (inspect.isclass(cls) and issubclass(cls, Scheduler)):
        raise TypeError(f"{cls!r} is not a Scheduler subclass")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name or name != name.lower() or " " in name:
        raise ValueError(f"{cls.__name__}.name must be a lower-case word, got {name!r}")
    known = SCHEDULERS.get(name)
    if known is not None and known is not cls:
        raise ValueError(f"a scheduler named {name!r} is already registered ({known.__name__})")
    SCHEDULERS[name] = cls
    return cls


def _load_plugins() -> None:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in SCHEDULERS or ep.name in _plugin_errors:
            continue
        try:
            cls = ep.load()
            if getattr(cls, "name", None) != ep.name:
                raise ValueError(
                    f"its class is named {getattr(cls, 'name', None)!r}, not {ep.name!r}"
                )
            register_scheduler(cls)
        except Exception as exc:  # a broken plugin must not take the CLI down; it is reported
            _plugin_errors[ep.name] = f"{ep.value}: {type(exc).__name__}: {exc}"


def available_schedulers() -> dict[str, type[Scheduler]]:
    """Every usable scheduler by name: the registry plus entry-point plugins."""
    _load_plugins()
    return dict(SCHEDULERS)


def plugin_errors() -> dict[str, str]:
    """Entry points that failed to load, with the reason."""
    _load_plugins()
    return dict(_plugin_errors)


def check_scheduler_name(name: str, field: str) -> None:
    """Raise a :class:`ModelError` about ``field`` if ``name`` is not a usable scheduler.

    The message lists the known schedulers (:func:`available_schedulers`).
    """
    known = available_schedulers()
    if name not in known:
        raise ModelError(f"unknown scheduler {name!r}; known: {', '.join(sorted(known))}", field)


def get_scheduler(name: str, **params: Any) -> Scheduler:
    """An instance of the scheduler called ``name``, built with ``params``.

    Raises
    ------
    ModelError
        For an unknown name or parameters the scheduler does not take.
    """
    schedulers = available_schedulers()
    cls = schedulers.get(name)
    if cls is None:
        broken = plugin_errors().get(name)
        if broken:
            raise ModelError(f"scheduler {name!r} failed to load: {broken}", "algorithm")
        raise ModelError(
            f"unknown scheduler {name!r}; known: {', '.join(sorted(schedulers))}", "algorithm"
        )
    try:
        inspect.signature(cls).bind(**params)
    except TypeError as exc:
        raise ModelError(
            f"scheduler {name!r} does not take these parameters: {exc}", "param"
        ) from None
    return cls(**params)
