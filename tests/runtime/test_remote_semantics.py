"""Offloaded code on a real loopback cluster behaves as the caller expects of local code:
its prints reach the caller's stdout, a change it makes to an argument in place (lost, since
arguments are copies) is reported, and its exceptions arrive as what they were, with no
worker-private name in any message or traceback."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

import numpy as np
import pytest

import edgeoffload
from edgeoffload.errors import RemoteTaskError
from edgeoffload.runtime import LocalCluster, Session
from edgeoffload.runtime.worker.child import OUTPUT_LIMIT

pytestmark = pytest.mark.dask

calls = pytest.importorskip("eo_semantics.calls")

CALLS_LOGGER = "edgeoffload.runtime.client.calls"


@pytest.fixture
def session(shared_cluster: LocalCluster) -> Iterator[Session]:
    with edgeoffload.connect(shared_cluster, policy="always-remote") as s:
        yield s


def _remote_only(session: Session) -> None:
    records = session.stats().records
    assert records
    assert all(r.where != "local" for r in records), [(r.where, r.reason) for r in records]


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == CALLS_LOGGER]


class TestPrint:
    def test_print_reaches_the_callers_stdout(
        self, session: Session, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """What the worker printed is written here, to stdout and stderr, as it was."""
        assert calls.shout(2) == 2
        captured = capsys.readouterr()
        assert captured.out == "line 0 from the worker\nline 1 from the worker\n"
        assert captured.err == "a line on stderr\n"
        _remote_only(session)

    def test_output_of_a_failing_call_comes_first(
        self, session: Session, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with pytest.raises(ValueError, match="0 items left"):
            calls.print_change_and_fail([1, 2])
        assert capsys.readouterr().out == "about to fail\n"

    def test_a_flood_is_cut(self, session: Session, capsys: pytest.CaptureFixture[str]) -> None:
        """Two megabytes of output arrive as the first megabyte and one line."""
        assert calls.flood("ab", OUTPUT_LIMIT) == OUTPUT_LIMIT
        out = capsys.readouterr().out
        assert out == "ab" * (OUTPUT_LIMIT // 2) + (
            f"\n[edgeoffload: {OUTPUT_LIMIT} more bytes written to stdout by this call were "
            f"cut; the first {OUTPUT_LIMIT} are shown]\n"
        )

    def test_quiet_calls_write_nothing(
        self, session: Session, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert [calls.silent(i) for i in range(3)] == [1, 2, 3]
        assert capsys.readouterr() == ("", "")


class TestMutations:
    def test_changed_list_argument_is_reported_once(
        self, session: Session, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The caller's list is unchanged (arguments are copies) and a warning says so,
        naming the argument, once however often it happens on a worker."""
        items = [1, 2]
        with caplog.at_level(logging.WARNING, logger=CALLS_LOGGER):
            for _ in range(3):
                calls.append_item(items, 3)
        assert items == [1, 2]
        workers = {r.where for r in session.stats().records}
        said = _warnings(caplog)
        assert sorted(said) == sorted(
            f"edgeoffload: eo_semantics.calls:append_item: changed its argument 'items' in "
            f"place on {worker}; arguments are copies, so the change stays there: return "
            "what you change"
            for worker in workers
        )

    def test_changed_self_is_reported(
        self, session: Session, caplog: pytest.LogCaptureFixture
    ) -> None:
        counter = calls.Counter()
        with caplog.at_level(logging.WARNING, logger=CALLS_LOGGER):
            counter.bump()
        assert counter.count == 0
        (said,) = _warnings(caplog)
        assert said.startswith(
            "edgeoffload: eo_semantics.calls:Counter.bump: changed its instance (self) in "
            "place on worker-"
        )

    def test_changed_keyword_and_array_are_reported(
        self, session: Session, caplog: pytest.LogCaptureFixture
    ) -> None:
        array = np.ones(1000)
        with caplog.at_level(logging.WARNING, logger=CALLS_LOGGER):
            calls.fill(5, out=[0, 0])
            calls.scale_in_place(array, 3.0)
        said = _warnings(caplog)
        assert len(said) == 2
        assert "fill: changed its keyword argument 'out' in place on worker-" in said[0]
        assert "scale_in_place: changed its argument 'array' in place on worker-" in said[1]
        np.testing.assert_array_equal(array, np.ones(1000))

    def test_unchanged_arguments_are_not_reported(
        self, session: Session, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Sets (whose order differs between processes), -0.0, nan, numpy arrays and an
        object with ``__getstate__``: read, not changed, not reported."""
        names = {f"n{i}" for i in range(300)}
        array = np.array([np.nan, -0.0, 2.0])
        with caplog.at_level(logging.WARNING, logger=CALLS_LOGGER):
            total = calls.read_everything(
                names,
                frozenset(names),
                {"t": {5, 6}},
                -0.0,
                math.nan,
                array,
                calls.Cached([1.0, 2.0]),
                [names],
            )
            assert calls.Counter().peek([1]) == 1
            assert calls.append_and_return([1], 2) == [1, 2]
        assert total == pytest.approx(300 + 300 + 2 - 1.0 + 0.0 + 2.0 + 3.0 + 1)
        assert _warnings(caplog) == []
        _remote_only(session)


class TestExceptions:
    def test_two_argument_exception_arrives_as_itself(self, session: Session) -> None:
        with pytest.raises(calls.Bad) as info:
            calls.fail_bad(404, "no such board")
        exc = info.value
        assert type(exc) is calls.Bad
        assert (exc.code, exc.detail, str(exc)) == (404, "no such board", "404: no such board")
        cause = exc.__cause__
        assert isinstance(cause, RemoteTaskError)
        assert f'File "{calls.__file__}", line' in cause.remote_traceback
        assert "raise Bad(code, detail)" in cause.remote_traceback
        for text in (str(exc), str(cause), cause.remote_traceback):
            assert "_eo_" not in text
            assert ".zip/" not in text
        assert session.stats().records[-1].outcome == "error"

    def test_unimportable_exception_class_becomes_remote_task_error(self, session: Session) -> None:
        with pytest.raises(RemoteTaskError) as info:
            calls.fail_hidden(calls.Counter())
        text = str(info.value)
        assert text.startswith(
            "eo_semantics.calls:fail_hidden raised eo_semantics.calls_generated.Hidden: "
            "hidden failure in eo_semantics.calls with <eo_semantics.calls.Counter object at"
        )
        assert "remote traceback:" in text
        assert "raise module.Hidden(" in info.value.remote_traceback
        for shown in (text, info.value.remote_traceback):
            assert "_eo_" not in shown
            assert ".zip/" not in shown
