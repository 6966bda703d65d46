"""What a call's result says besides its value: output, arguments changed, errors.

Calls run in a real executor child (:mod:`edgeoffload.runtime.worker.child`) on the
``eo_semantics`` application, shipped as a bundle; the results are read as the client
reads them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from edgeoffload.errors import RemoteTaskError
from edgeoffload.runtime.wire.bundles import Bundle, build_bundle
from edgeoffload.runtime.wire.errors import (
    rebuild_exception,
    restore_exception,
    strip_worker_names,
)
from edgeoffload.runtime.wire.protocol import client_module_name, dumps, loads
from edgeoffload.runtime.worker.cache import CodeStore
from edgeoffload.runtime.worker.child import OUTPUT_LIMIT
from edgeoffload.runtime.worker.executor import ExecutorPool
from edgeoffload.runtime.worker.jobs import Job, JobResult

calls = pytest.importorskip("eo_semantics.calls")
MODULE = "eo_semantics.calls"


@pytest.fixture(scope="module")
def semantics_bundle() -> Bundle:
    return build_bundle(MODULE)


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory, semantics_bundle: Bundle) -> Iterator[Any]:
    store = CodeStore("semantics", base=tmp_path_factory.mktemp("store"))
    store.put("alice", semantics_bundle.hash, semantics_bundle.data)
    try:
        with ExecutorPool(1, store, name="test-worker") as p:
            assert p.wait_ready(30.0)
            yield p
    finally:
        store.close()


def run(pool: ExecutorPool, bundle: Bundle, fn: str, *args: Any, **kwargs: Any) -> JobResult:
    job = Job(
        "call", "alice", (bundle.hash, MODULE, fn), (bundle.hash,), dumps((args, kwargs)), label=fn
    )
    result = pool.submit(job).wait(30.0)
    assert result is not None, f"{fn} did not finish"
    return result


def value(result: JobResult) -> Any:
    assert result.status == "ok", result.header
    return loads(result.frames, rename=client_module_name)


class TestOutput:
    def test_print_comes_back_in_the_result(
        self, pool: ExecutorPool, semantics_bundle: Bundle
    ) -> None:
        """What the call prints is in ``stdout`` and ``stderr``, in order, nothing else."""
        result = run(pool, semantics_bundle, "shout", 3)
        assert value(result) == 3
        assert result.header["stdout"] == (
            "line 0 from the worker\nline 1 from the worker\nline 2 from the worker\n"
        )
        assert result.header["stderr"] == "a line on stderr\n"

    def test_a_quiet_call_has_no_output_fields(
        self, pool: ExecutorPool, semantics_bundle: Bundle
    ) -> None:
        """No print, no change: the result carries none of the new fields."""
        result = run(pool, semantics_bundle, "silent", 41)
        assert value(result) == 42
        assert {"stdout", "stderr", "mutated"}.isdisjoint(result.header)

    def test_output_is_bounded_with_a_note(
        self, pool: ExecutorPool, semantics_bundle: Bundle
    ) -> None:
        """Beyond the limit the first part is kept, whole characters only, and one line
        says how many bytes were cut."""
        times = 500_000  # "€" is 3 bytes in UTF-8: 1.5 MB, the limit falls inside one
        result = run(pool, semantics_bundle, "flood", "€", times)
        assert value(result) == times
        text = result.header["stdout"]
        kept, note = text.rstrip("\n").rsplit("\n", 1)
        assert kept == "€" * (OUTPUT_LIMIT // 3)
        cut = 3 * times - len(kept.encode())
        assert note == (
            f"[edgeoffload: {cut} more bytes written to stdout by this call were cut; "
            f"the first {len(kept.encode())} are shown]"
        )
        assert "stderr" not in result.header

    def test_the_next_call_prints_to_a_fresh_capture(
        self, pool: ExecutorPool, semantics_bundle: Bundle
    ) -> None:
        """Output belongs to the call that wrote it."""
        run(pool, semantics_bundle, "shout", 1)
        result = run(pool, semantics_bundle, "shout", 2)
        assert result.header["stdout"] == "line 0 from the worker\nline 1 from the worker\n"

    def test_warnings_name_the_clients_path(
        self, pool: ExecutorPool, semantics_bundle: Bundle
    ) -> None:
        """A warning printed to stderr names the module's file without the worker's
        archive, and its text no private module name."""
        result = run(pool, semantics_bundle, "warn_about", "x")
        stderr = result.header["stderr"]
        assert "eo_semantics/calls.py:" in stderr
        assert "UserWarning: careful with eo_semantics.calls" in stderr
        assert "_eo_" not in stderr
        assert ".zip" not in stderr


class TestMutations:
    def test_a_list_argument_changed_in_place(
        self, pool: ExecutorPool, semantics_bundle: Bundle
    ) -> None:
        result = run(pool, semantics_bundle, "append_item", [1, 2], 3)
        assert value(result) is None
        assert result.header["mutated"] == ["argument 1 (items)"]

    def test_self_changed_in_place(self, pool: ExecutorPool, semantics_bundle: Bundle) -> None:
        result = run(pool, semantics_bundle, "Counter.bump", calls.Counter())
        assert result.header["mutated"] == ["self"]

    def test_reading_self_changes_nothing(
        self, pool: ExecutorPool, semantics_bundle: Bundle
    ) -> None:
        result = run(pool, semantics_bundle, "Counter.peek", calls.Counter(), [1, 2])
        assert value(result) == 2
        assert "mutated" not in result.header

    def test_a_keyword_argument_changed_in_place(
        self, pool: ExecutorPool, semantics_bundle: Bundle
    ) -> None:
        result = run(pool, semantics_bundle, "fill", 7, out=[0, 0, 0])
        assert result.header["mutated"] == ["keyword 'out'"]

    def test_a_numpy_array_changed_in_place(
        self, pool: ExecutorPool, semantics_bundle: Bundle
    ) -> None:
        """An array whose buffer travels out of band (and is changed in it) is caught."""
        array = np.arange(100_000, dtype=np.float64)
        result = run(pool, semantics_bundle, "scale_in_place", array, 2.0)
        assert result.header["mutated"] == ["argument 1 (array)"]
        np.testing.assert_array_equal(array, np.arange(100_000, dtype=np.float64))

    def test_a_function_sent_by_value_names_its_own_arguments(
        self, pool: ExecutorPool, semantics_bundle: Bundle
    ) -> None:
        """A nested function travels as the first argument of ``call_by_value``: the
        report names the nested function's arguments, not the trampoline's."""

        def local_append(items: list[int], extra: dict[str, int]) -> int:
            items.append(1)
            return len(extra)

        job = Job(
            "call",
            "alice",
            (None, "edgeoffload.runtime.wire.protocol", "call_by_value"),
            (),
            dumps(((local_append, [0], {"a": 1}), {})),
            label="local_append",
        )
        result = pool.submit(job).wait(30.0)
        assert result is not None
        assert value(result) == 1
        assert result.header["mutated"] == ["argument 1 (items)"]

    def test_what_the_call_returns_is_not_reported(
        self, pool: ExecutorPool, semantics_bundle: Bundle
    ) -> None:
        """``return x`` after changing ``x`` hands the change back: no report."""
        result = run(pool, semantics_bundle, "append_and_return", [1], 2)
        assert value(result) == [1, 2]
        assert "mutated" not in result.header
        counter = run(pool, semantics_bundle, "Counter.bumped", calls.Counter())
        assert value(counter).count == 1
        assert "mutated" not in counter.header

    def test_unchanged_arguments_are_not_reported(
        self, pool: ExecutorPool, semantics_bundle: Bundle
    ) -> None:
        """Sets, dicts of sets, -0.0, nan, numpy arrays (with nan and -0.0) and an object
        whose ``__getstate__`` leaves out a cache the call fills: none is reported."""
        names = {f"name-{i}" for i in range(200)}
        array = np.array([np.nan, -0.0, 1.5, np.inf] * 1000)
        result = run(
            pool,
            semantics_bundle,
            "read_everything",
            names,
            frozenset(names),
            {"a": {3, 1, 2}, "b": set(range(50))},
            -0.0,
            math.nan,
            array,
            calls.Cached([0.1, 0.2, 0.3]),
            [names, {"k": [-0.0, math.nan]}, (1, [2])],
        )
        assert value(result) == pytest.approx(
            200 + 200 + 53 - 1.0 + 0.0 + np.nansum(array) + math.fsum([0.1, 0.2, 0.3]) + 3
        )
        assert "mutated" not in result.header

    def test_a_failing_call_reports_output_and_changes(
        self, pool: ExecutorPool, semantics_bundle: Bundle
    ) -> None:
        """An error result still carries what the call printed and changed."""
        result = run(pool, semantics_bundle, "print_change_and_fail", [1, 2, 3])
        assert result.status == "error"
        assert result.header["stdout"] == "about to fail\n"
        assert result.header["mutated"] == ["argument 1 (items)"]
        assert result.header["message"] == "0 items left"


class TestErrors:
    def test_a_two_argument_exception_is_rebuilt(
        self, pool: ExecutorPool, semantics_bundle: Bundle
    ) -> None:
        """``Bad(code, detail)`` comes back as ``Bad`` with its attributes and message."""
        result = run(pool, semantics_bundle, "fail_bad", 401, "no entry")
        assert result.status == "error"
        assert result.header["type"] == "eo_semantics.calls.Bad"
        assert result.header["message"] == "401: no entry"
        exc = rebuild_exception(result.header, result.frames, "fail_bad")
        assert type(exc) is calls.Bad
        assert (exc.code, exc.detail, str(exc), exc.args) == (
            401,
            "no entry",
            "401: no entry",
            ("401: no entry",),
        )
        assert isinstance(exc.__cause__, RemoteTaskError)

    def test_a_rewording_constructor_keeps_the_message(
        self, pool: ExecutorPool, semantics_bundle: Bundle
    ) -> None:
        """``RewordedError(3)`` says "bad count 3"; calling it again with that would say
        "bad count bad count 3". The rebuilt one says what the original said."""
        result = run(pool, semantics_bundle, "fail_reworded", 3)
        exc = rebuild_exception(result.header, result.frames, "fail_reworded")
        assert type(exc) is calls.RewordedError
        assert (str(exc), exc.count) == ("bad count 3", 3)

    def test_built_in_errors_keep_their_fields(
        self, pool: ExecutorPool, semantics_bundle: Bundle, tmp_path: Any
    ) -> None:
        """An OSError pickles its own way: errno and filename survive."""
        missing = str(tmp_path / "missing.txt")
        result = run(pool, semantics_bundle, "fail_missing_file", missing)
        exc = rebuild_exception(result.header, result.frames, "fail_missing_file")
        assert type(exc) is FileNotFoundError
        assert (exc.errno, exc.filename) == (2, missing)

    def test_an_os_error_subclass_with_its_own_constructor(
        self, pool: ExecutorPool, semantics_bundle: Bundle
    ) -> None:
        """``MissingConfigError(path)`` calls ``OSError(errno, strerror, path)``: it comes
        back with its type, errno, filename, attribute and message."""
        result = run(pool, semantics_bundle, "fail_missing_config", "/etc/app.toml")
        exc = rebuild_exception(result.header, result.frames, "fail_missing_config")
        assert type(exc) is calls.MissingConfigError
        assert (exc.errno, exc.strerror, exc.filename, exc.path) == (
            2,
            "no configuration",
            "/etc/app.toml",
            "/etc/app.toml",
        )
        assert str(exc) == "[Errno 2] no configuration: '/etc/app.toml'"
        assert str(exc) == result.header["message"]

    def test_a_class_the_client_cannot_import(
        self, pool: ExecutorPool, semantics_bundle: Bundle
    ) -> None:
        """An exception of a module only the worker has becomes a RemoteTaskError that
        names its type as the client would, its message and the remote traceback, with
        no private module name anywhere."""
        result = run(pool, semantics_bundle, "fail_hidden", calls.Counter())
        assert result.status == "error"
        assert result.header["type"] == "eo_semantics.calls_generated.Hidden"
        exc = rebuild_exception(result.header, result.frames, "fail_hidden")
        assert type(exc) is RemoteTaskError
        text = str(exc)
        assert text.startswith(
            "fail_hidden raised eo_semantics.calls_generated.Hidden: hidden failure in "
            "eo_semantics.calls with <eo_semantics.calls.Counter object at 0x"
        )
        assert "No module named 'eo_semantics.calls_generated'" in text
        assert 'raise module.Hidden(f"hidden failure in {__name__}' in exc.remote_traceback
        for shown in (text, exc.remote_traceback, *result.header.values()):
            assert "_eo_" not in str(shown)

    def test_tracebacks_name_no_private_module_or_archive(
        self, pool: ExecutorPool, semantics_bundle: Bundle
    ) -> None:
        """The remote traceback names the client's own file, not the worker's archive,
        and starts at the user's function (not the child's machinery)."""
        result = run(pool, semantics_bundle, "fail_bad", 500, "down")
        tb = result.header["traceback"]
        assert 'File "eo_semantics/calls.py", line' in tb
        assert "run_job" not in tb
        exc = rebuild_exception(result.header, result.frames, "fail_bad")
        remote = exc.remote_traceback  # type: ignore[attr-defined]
        assert f'File "{calls.__file__}", line' in remote
        for text in (tb, remote, str(exc.__cause__)):
            assert "_eo_" not in text
            assert ".zip/" not in text


class TestWireHelpers:
    def test_strip_worker_names(self) -> None:
        digest = "0123456789abcdef" * 4
        store = f"/dev/shm/edgeoffload/w.1/1f2e3d4c5b/{digest}.zip"
        assert strip_worker_names(f'  File "{store}/app/board.py", line 3, in f') == (
            '  File "app/board.py", line 3, in f'
        )
        assert strip_worker_names(f'File "/tmp/a b/{digest}.zip/app/x.py"') == 'File "app/x.py"'
        assert strip_worker_names(f"it's in {store}/app/x.py:12: UserWarning") == (
            "it's in app/x.py:12: UserWarning"
        )
        assert strip_worker_names("<_eo_1f2e3d4c5b_a1b2c3d4e5f6.app.board.Board object>") == (
            "<app.board.Board object>"
        )
        assert strip_worker_names("my_eo_thing.attr and plain.zip/x") == (
            "my_eo_thing.attr and plain.zip/x"
        )

    def test_restore_exception_prefers_the_constructor(self) -> None:
        """Built-in fields set by ``__init__`` (StopIteration.value) survive; a class
        whose constructor does not take back its args is made without it."""
        assert restore_exception(StopIteration, (5,)).value == 5
        group = restore_exception(ExceptionGroup, ("two", [ValueError(1), KeyError(2)]))
        assert type(group) is ExceptionGroup
        assert [type(e) for e in group.exceptions] == [ValueError, KeyError]
        bad = restore_exception(calls.Bad, ("1: x",))
        assert type(bad) is calls.Bad
        assert bad.args == ("1: x",)
        with pytest.raises(TypeError, match="not an exception class"):
            restore_exception(int, ())  # type: ignore[arg-type]
