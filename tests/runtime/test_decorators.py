"""@offload with no session: same results, same exceptions; misuse is refused early."""

from __future__ import annotations

from pathlib import Path

import pytest

import edgeoffload
from edgeoffload.runtime.client.decorators import OffloadedFunction, offload

app = pytest.importorskip("eo_testapp.board")


def test_runs_locally_without_a_session() -> None:
    board = app.Board([1, 2, 3])
    assert app.score(board, 2) == app.score.local(board, 2) == 22
    assert app.score.submit(board, 2).result() == 22


def test_keeps_name_docstring_and_wraps() -> None:
    assert isinstance(app.score, OffloadedFunction)
    assert app.score.__name__ == "score"
    assert app.where.__doc__ == "The process id that ran the call."
    assert app.score.key == "eo_testapp.board:score"


def test_methods_bind_like_methods() -> None:
    scorer = app.Scorer(2)
    board = app.Board([1, 1, 1])
    assert scorer.weighted(board) == scorer.weighted.local(board) == 12
    assert app.Scorer.weighted(scorer, board) == 12
    assert scorer.weighted.submit(board).result() == 12


def test_submit_without_session_carries_exceptions() -> None:
    future = app.fail.submit("x")
    with pytest.raises(app.AppError):
        future.result()


@offload(deadline=3.0, policy="energy")
def _with_options(x: int) -> int:
    return x


def test_options() -> None:
    assert (_with_options.deadline, _with_options.policy) == (3.0, "energy")
    assert _with_options(4) == 4


def test_nested_functions_and_lambdas_travel_by_value() -> None:
    @edgeoffload.offload
    def inner(x: int) -> int:
        return x + 1

    square = offload(lambda x: x * x)
    assert (inner.by_value, square.by_value, _with_options.by_value) == (True, True, False)
    assert (inner(1), square(3)) == (2, 9)  # no session: local, as before


def test_bad_deadline_and_staticmethod_order() -> None:
    with pytest.raises(ValueError, match="deadline"):
        offload(deadline=0)(len)
    with pytest.raises(TypeError, match="under @staticmethod"):
        offload(staticmethod(len))  # type: ignore[arg-type]


def test_an_unloaded_module_is_not_pre_transferred(tmp_path: Path) -> None:
    """Functions of a module removed from sys.modules leave the pre-transfer list (a test
    that staged and unloaded the COFA apps made every later session warn about them)."""
    import importlib
    import sys

    from edgeoffload.runtime.client.decorators import registered_functions

    (tmp_path / "eo_unloaded_app.py").write_text(
        "from edgeoffload import offload\n\n@offload\ndef work(x):\n    return x + 1\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module("eo_unloaded_app")
        assert "eo_unloaded_app:work" in [f.key for f in registered_functions()]
        del sys.modules["eo_unloaded_app"]
        assert "eo_unloaded_app:work" not in [f.key for f in registered_functions()]
        assert module.work(1) == 2  # still callable: it runs locally without a session
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("eo_unloaded_app", None)
