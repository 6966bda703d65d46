"""Where a call runs, and what happens when that fails: decisions, retries, fallback.

:class:`CallRunner` is the part of a session that runs one call of an offloaded function:
the :class:`~edgeoffload.runtime.client.decision.DecisionEngine` picks a place, the call
is sent to that worker over its channel (followed with liveness beats) or run here, and
every outcome lands in a :class:`~edgeoffload.runtime.client.stats.CallRecord`.

A worker that dies, freezes, is cut off, loses the process running the call, or refuses
the code never loses the call: it is retried on the next best worker (at most
``max_retries`` times) and then run locally, and the record says so. The deadline is one
budget for the whole call: when it runs out, the attempt in flight is stopped on its worker
and the call raises :class:`~edgeoffload.errors.OffloadTimeoutError`.

Never silent: a call that runs locally although the session has workers — its code
cannot be packaged, its arguments cannot be pickled, no worker has the packages it needs,
every attempt failed — logs a warning once per (function, reason), keeps the reason in
its record, and with ``strict`` raises :class:`~edgeoffload.errors.OffloadError` instead
of running locally. A choice of the policy (local predicted faster) is not a fallback.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from edgeoffload.errors import (
    BundleError,
    OffloadError,
    OffloadTimeoutError,
    RemoteTaskError,
    SecurityError,
    WorkerUnavailableError,
)
from edgeoffload.runtime.client.decision import LOCAL, Decision, DecisionEngine, Policy, get_policy
from edgeoffload.runtime.client.decorators import OffloadedFunction, run_inside
from edgeoffload.runtime.client.pool import WorkerPool
from edgeoffload.runtime.client.remote_output import emit
from edgeoffload.runtime.client.stats import Attempt, CallRecord
from edgeoffload.runtime.wire.bundles import Bundle, function_requirements, unshipped_modules
from edgeoffload.runtime.wire.errors import rebuild_exception
from edgeoffload.runtime.wire.ops import Call
from edgeoffload.runtime.wire.protocol import (
    BY_VALUE_MODULE,
    BY_VALUE_QUALNAME,
    client_module_name,
    dumps,
    loads,
)

__all__ = ["CallRunner"]

logger = logging.getLogger(__name__)


_RETRY: Any = object()  # sentinel: the attempt failed, decide again


class _Payload:
    """A call's pickled arguments (made once), and the modules the pickle names.

    A function that travels by value goes first, before the user's arguments, for
    :func:`~edgeoffload.runtime.wire.protocol.call_by_value` on the worker.
    """

    def __init__(
        self, function: OffloadedFunction[Any, Any], args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> None:
        self.args = (function.__wrapped__, *args) if function.by_value else tuple(args)
        self.kwargs = dict(kwargs)
        self.frames: list[Any] | None = None
        self.nbytes: int | None = None
        self.modules: set[str] = set()
        self.code_bytes = 0
        self.resent: set[str] = set()

    def get(self) -> list[Any]:
        if self.frames is None:
            self.frames = dumps((self.args, self.kwargs), self.modules)
            self.nbytes = sum(memoryview(f).nbytes for f in self.frames)
        return self.frames


class CallRunner:
    """Runs calls for a session (see the module docstring).

    Parameters
    ----------
    pool
        The session's workers.
    engine
        The session's decision engine.
    policy
        The session's policy (a function may name its own).
    deadline
        The session's deadline, seconds (a function may set its own).
    max_retries
        Remote attempts after the first before running locally.
    strict
        Raise instead of running locally when a call cannot run remotely (a function's
        own ``strict`` wins).
    """

    def __init__(
        self,
        pool: WorkerPool,
        engine: DecisionEngine,
        policy: Policy,
        deadline: float,
        max_retries: int,
        strict: bool = False,
    ) -> None:
        self.pool = pool
        self.engine = engine
        self.policy = policy
        self.deadline = deadline
        self.max_retries = max_retries
        self.strict = strict
        self._lock = threading.Lock()
        self._records: list[CallRecord] = []
        self._said: dict[tuple[str, str], None] = {}
        self._needs: dict[tuple[str, str], dict[str, str]] = {}
        self.unguarded: str | None = None
        """Set when the session was opened by a script's unguarded top-level code: calls
        of that script's functions raise this line (workers would rerun the script)."""

    def _say_once(self, function: str, error: str) -> None:
        """Warn (once per function and reason) about a call: never silently."""
        key = (function, error)
        with self._lock:
            if key in self._said:
                return
            self._said[key] = None
        logger.warning("edgeoffload: %s: %s", function, error)

    def warnings(self) -> tuple[str, ...]:
        """Every warning given so far, ``"function: reason"``, in order."""
        with self._lock:
            return tuple(f"{f}: {reason}" for f, reason in self._said)

    def _fall_back(
        self,
        function: OffloadedFunction[Any, Any],
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        why: str,
        start: float,
    ) -> Any:
        """Run locally because the call cannot run remotely: warn, or raise if strict."""
        if self._strict(function):
            self._record(
                start,
                function=function.key,
                where=LOCAL,
                reason=f"strict: {why}",
                predicted=math.nan,
                compute=0.0,
                outcome="refused",
            )
            raise OffloadError(f"{function.key} cannot run remotely (strict): {why}")
        self._say_once(function.key, f"runs locally: {why}")
        return self._run_local(
            function, args, kwargs, f"ran locally: {why}", start, outcome="fallback"
        )

    def _strict(self, function: OffloadedFunction[Any, Any]) -> bool:
        return self.strict if function.strict is None else function.strict

    def requirements(self, function: OffloadedFunction[Any, Any], bundle: Bundle) -> dict[str, str]:
        """The distributions ``function`` may need (computed once per bundle)."""
        key = (function.key, bundle.hash)
        with self._lock:
            needs = self._needs.get(key)
        if needs is None:
            needs = function_requirements(function.__wrapped__, bundle)
            with self._lock:
                self._needs[key] = needs
        return needs

    def records(self) -> tuple[CallRecord, ...]:
        """Every call so far, in the order they ended."""
        with self._lock:
            return tuple(self._records)

    def call(
        self,
        function: OffloadedFunction[Any, Any],
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        force_local: bool = False,
    ) -> Any:
        """Run one call where the decision engine says (or locally with ``force_local``).

        The deadline (the function's, else the session's) is one budget for the whole call:
        remote attempts, retries and the decision to fall back all spend it; when it runs
        out the attempt in flight is stopped on its worker and the call raises
        :class:`~edgeoffload.errors.OffloadTimeoutError`. A local run that has started
        cannot be interrupted and finishes.
        """
        start = time.perf_counter()
        if force_local:
            return self._run_local(function, args, kwargs, "forced local (.local)", start)
        if self.unguarded is not None and function.module == "__main__":
            raise OffloadError(self.unguarded)
        policy = get_policy(function.policy) if function.policy is not None else self.policy
        bundle = self.pool.bundle_for_module(function.module, ship=function.ship)
        if bundle is None:
            why = self.pool.bundle_error(function.module, ship=function.ship) or "no bundle"
            return self._fall_back(function, args, kwargs, why, start)
        payload_box = _Payload(function, args, kwargs)
        workers = self.pool.workers()
        if not workers and policy.name != "always-local":
            return self._fall_back(function, args, kwargs, "the session has no workers", start)
        if workers and policy.name != "always-local":
            try:
                payload_box.get()
            except Exception as exc:  # only a local run can take these arguments
                why = f"its arguments cannot be pickled: {type(exc).__name__}: {exc}"
                return self._fall_back(function, args, kwargs, why, start)
            extra = unshipped_modules(payload_box.modules, bundle)
            if extra:  # argument classes from modules the function's module never imports
                bigger = self.pool.bundle_for_module(
                    function.module, ship=function.ship, extra=extra
                )
                if bigger is not None:
                    bundle = bigger
        needs = self.requirements(function, bundle)
        unable: dict[str, str] = {}
        for w in workers:
            if not w.usable:
                unable[w.name] = w.note or "not usable"
            elif bundle.hash in w.refused:
                unable[w.name] = w.refused[bundle.hash]
            elif (function.key, bundle.hash) in w.cannot_run:
                unable[w.name] = w.cannot_run[(function.key, bundle.hash)]
            else:
                lacks = [w.missing[d] for d in needs if d in w.missing]
                if lacks:
                    unable[w.name] = "; ".join(lacks)
                    self._say_once(
                        function.key, f"cannot run on worker {w.name}, which {'; '.join(lacks)}"
                    )
        if workers and len(unable) == len(workers) and policy.name != "always-local":
            why = (
                "no worker can run it ("
                + "; ".join(f"{name}: {reason}" for name, reason in sorted(unable.items()))
                + ")"
            )
            return self._fall_back(function, args, kwargs, why, start)
        size = self._size(function, args, kwargs, payload_box)
        budget = function.deadline or self.deadline
        ends = time.monotonic() + budget
        attempts: list[Attempt] = []
        excluded = set(unable)
        while True:
            if len(attempts) > self.max_retries:
                excluded.update(self.engine.nodes())
            if attempts and time.monotonic() >= ends:
                self._record(
                    start,
                    function=function.key,
                    where=LOCAL,
                    reason=f"the deadline of {budget:.3g} s passed",
                    predicted=math.nan,
                    compute=0.0,
                    attempts=tuple(attempts),
                    outcome="timeout",
                )
                raise OffloadTimeoutError(
                    f"{function.key} did not finish within its deadline of {budget:.3g} s "
                    f"after {len(attempts)} attempt(s); last: {attempts[-1].error}"
                )
            decision = self.engine.decide(
                function.key, policy, payload_box.nbytes, excluded, reserve=True, size=size
            )
            try:
                outcome_value = self._attempt(
                    function,
                    args,
                    kwargs,
                    bundle,
                    decision,
                    attempts,
                    excluded,
                    start,
                    (budget, ends),
                    payload_box,
                    size,
                )
            finally:
                self.engine.finished(decision.node)
            if outcome_value is not _RETRY:
                return outcome_value

    def _size(
        self,
        function: OffloadedFunction[Any, Any],
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        payload: _Payload,
    ) -> float | None:
        """The call's size for the cost model: the cost hint, else the argument bytes."""
        if function.cost is None:
            return None if payload.nbytes is None else float(payload.nbytes)
        try:
            size = float(function.cost(*args, **kwargs))
        except Exception as exc:
            self._say_once(function.key, f"its cost hint failed ({type(exc).__name__}: {exc})")
            return None if payload.nbytes is None else float(payload.nbytes)
        if not (size >= 0 and math.isfinite(size)):
            self._say_once(function.key, f"its cost hint gave {size!r}, not a size >= 0")
            return None if payload.nbytes is None else float(payload.nbytes)
        return size

    def _attempt(
        self,
        function: OffloadedFunction[Any, Any],
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        bundle: Bundle,
        decision: Decision,
        attempts: list[Attempt],
        excluded: set[str],
        start: float,
        budget: tuple[float, float],
        payload_box: _Payload,
        size: float | None,
    ) -> Any:
        """One try at the decided place: the result, or ``_RETRY`` to decide again."""
        if decision.node == LOCAL:
            reason = decision.reason
            outcome = "ok"
            if attempts:
                outcome = "fallback"
                reason = (
                    f"ran locally after {len(attempts)} failed remote attempt(s); "
                    f"last: {attempts[-1].error}"
                )
                if self._strict(function):
                    raise OffloadError(
                        f"{function.key} cannot run remotely (strict): {len(attempts)} "
                        f"remote attempt(s) failed; last: {attempts[-1].error}"
                    )
                self._say_once(function.key, f"ran locally: {attempts[-1].error}")
            return self._run_local(
                function,
                args,
                kwargs,
                reason,
                start,
                decision.predicted,
                attempts,
                outcome,
                reserved=True,
                size=size,
            )
        worker = self.pool.get(decision.node)
        if worker is None or not worker.usable:
            excluded.add(decision.node)
            return _RETRY
        try:
            payload = payload_box.get()
        except Exception as exc:  # unpicklable arguments: only a local run can take them
            excluded.update(self.engine.nodes())
            attempts.append(
                Attempt(worker.name, f"arguments cannot be pickled: {type(exc).__name__}: {exc}")
            )
            return _RETRY
        seconds, ends = budget
        try:
            payload_box.code_bytes += self.pool.push(worker, bundle)
            message = Call(
                session=self.pool.session,
                call=uuid.uuid4().hex,
                bundle=bundle.hash,
                module=BY_VALUE_MODULE if function.by_value else function.module,
                qualname=BY_VALUE_QUALNAME if function.by_value else function.qualname,
                lease=self.pool.liveness,
            )
            reply, frames, sent, received = self.pool.call(
                worker, message.header(), payload, deadline=ends
            )
            emit(reply, function.key, worker.name, self._say_once)
        except BundleError as exc:
            excluded.add(worker.name)
            attempts.append(Attempt(worker.name, str(exc)))
            return _RETRY
        except OffloadTimeoutError:
            attempts.append(Attempt(worker.name, f"the deadline of {seconds:.3g} s passed"))
            return _RETRY
        except (WorkerUnavailableError, SecurityError) as exc:
            self.pool.mark_lost(worker, str(exc))
            excluded.add(worker.name)
            attempts.append(Attempt(worker.name, str(exc)))
            return _RETRY
        status = reply.get("status")
        if status in ("lost", "cancelled"):  # the process running it died, or was stopped
            excluded.add(worker.name)
            attempts.append(Attempt(worker.name, f"worker {worker.name}: {reply.get('error')}"))
            return _RETRY
        if status == "refused":
            error = str(reply.get("error", "refused"))
            if "not in this worker's cache" in error or "was modified" in error:
                worker.pushed.discard(bundle.hash)
            if "not in this worker's cache" in error and worker.name not in payload_box.resent:
                # the worker dropped our code (it thought we had left): send it again
                payload_box.resent.add(worker.name)
                attempts.append(Attempt(worker.name, error))
                return _RETRY
            if "was modified" in error:
                worker.refused[bundle.hash] = error
            if " cannot prepare " in error:  # its import failed there: it will fail again
                worker.cannot_run[(function.key, bundle.hash)] = error
            excluded.add(worker.name)
            attempts.append(Attempt(worker.name, error))
            return _RETRY
        self.engine.breakers[worker.name].success()
        compute = float(reply.get("compute", 0.0))
        self.engine.record(
            function.key, worker.name, compute, payload_box.nbytes, received, size=size
        )
        record: dict[str, Any] = {
            "function": function.key,
            "where": worker.name,
            "reason": decision.reason,
            "predicted": decision.predicted,
            "compute": compute,
            "bytes_sent": sent,
            "bytes_received": received,
            "code_bytes": payload_box.code_bytes,
            "cold": bool(reply.get("cold")),
            "attempts": tuple(attempts),
        }
        if status == "ok":
            try:
                result = loads(frames, rename=client_module_name)
            except Exception as exc:
                self._record(start, outcome="error", **record)
                raise RemoteTaskError(
                    f"the result of {function.key} from {worker.name} cannot be "
                    f"unpickled here: {type(exc).__name__}: {exc}"
                ) from exc
            self._record(start, outcome="ok", **record)
            return result
        self._record(start, outcome="error", **record)
        raise rebuild_exception(reply, frames, function.key)

    def _run_local(
        self,
        function: OffloadedFunction[Any, Any],
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        reason: str,
        start: float,
        predicted: float = math.nan,
        attempts: Sequence[Attempt] = (),
        outcome: str = "ok",
        reserved: bool = False,
        size: float | None = None,
    ) -> Any:
        if not reserved:
            self.engine.started(LOCAL)
        began = time.perf_counter()
        ended = "error"
        try:
            result = run_inside(function.__wrapped__, *args, **kwargs)
            ended = outcome
        finally:
            compute = time.perf_counter() - began
            if not reserved:
                self.engine.finished(LOCAL)
            if ended != "error":
                self.engine.record(function.key, LOCAL, compute, size=size)
            self._record(
                start,
                function=function.key,
                where=LOCAL,
                reason=reason,
                predicted=predicted,
                compute=compute,
                attempts=tuple(attempts),
                outcome=ended,
            )
        return result

    def _record(self, start: float, **fields: Any) -> None:
        record = CallRecord(elapsed=time.perf_counter() - start, **fields)
        with self._lock:
            self._records.append(record)
