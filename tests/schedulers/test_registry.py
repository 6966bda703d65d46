"""The registry: one class adds a scheduler; entry-point plugins appear in the CLI."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from edgeoffload.cli import main
from edgeoffload.errors import ModelError
from edgeoffload.model import Problem, Schedule
from edgeoffload.schedulers import Scheduler, get_scheduler, register_scheduler, registry
from edgeoffload.schedulers.placement import ListSchedule


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    saved, errors = dict(registry.SCHEDULERS), dict(registry._plugin_errors)
    yield
    registry.SCHEDULERS.clear()
    registry.SCHEDULERS.update(saved)
    registry._plugin_errors.clear()
    registry._plugin_errors.update(errors)


def test_a_user_adds_a_scheduler_with_one_class(paper_problem: Problem) -> None:
    @register_scheduler
    class FirstNode(Scheduler):
        """Everything on the first node, in topological order."""

        name: ClassVar[str] = "first-node"

        def schedule(self, problem: Problem) -> Schedule:
            state = ListSchedule(problem)
            for i in problem.graph.topological_order:
                (candidate,) = state.candidates(i, nodes=__import__("numpy").array([0]))
                state.place(i, candidate)
            return state.result(self.name)

    result = get_scheduler("first-node").schedule(paper_problem)
    assert {a.node for a in result} == {"P1"}
    assert result.makespan == 127.0


def test_a_taken_name_is_refused() -> None:
    class Other(Scheduler):
        name: ClassVar[str] = "heft"

        def schedule(self, problem: Problem) -> Schedule:
            raise NotImplementedError

    with pytest.raises(ValueError, match="already registered"):
        register_scheduler(Other)


def test_unknown_scheduler_lists_the_known_ones() -> None:
    with pytest.raises(ModelError, match=r"unknown scheduler 'nope'; known: .*heft"):
        get_scheduler("nope")


def test_unknown_parameter() -> None:
    with pytest.raises(ModelError, match="does not take these parameters"):
        get_scheduler("heft", delta1=3)


def _install_plugin(
    tmp_path: Path, body: str, monkeypatch: pytest.MonkeyPatch, module: str = "rr_plugin"
) -> None:
    """A distribution on sys.path publishing ``rr`` in the edgeoffload.schedulers group."""
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(body))
    info = tmp_path / "rr_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rr-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[edgeoffload.schedulers]\nrr = {module}:RoundRobinScheduler\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))


def test_entry_point_plugin_appears_in_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _install_plugin(
        tmp_path,
        """
        import numpy as np
        from edgeoffload.schedulers import Scheduler
        from edgeoffload.schedulers.placement import ListSchedule

        class RoundRobinScheduler(Scheduler):
            name = "rr"
            summary = "Round robin over the nodes, in topological order"

            def schedule(self, problem):
                state = ListSchedule(problem)
                for k, i in enumerate(problem.graph.topological_order):
                    p = k % len(problem.cluster)
                    (c,) = state.candidates(i, np.array([p]))
                    state.place(i, c)
                return state.result(self.name)
        """,
        monkeypatch,
    )
    assert main(["schedulers"]) == 0
    assert "Round robin over the nodes" in capsys.readouterr().out
    assert main(["schedule", "topcuoglu2002", "--algorithm", "rr", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["algorithm"] == "rr"
    nodes = {a["task"]: a["node"] for a in out["assignments"]}
    assert (nodes["T1"], nodes["T2"], nodes["T3"], nodes["T4"]) == ("P1", "P2", "P3", "P1")


def test_a_broken_plugin_is_reported_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _install_plugin(
        tmp_path, "raise ImportError('missing dependency foo')\n", monkeypatch, "broken_plugin"
    )
    assert main(["schedulers"]) == 0
    out = capsys.readouterr().out
    assert "plugin 'rr' failed to load" in out and "missing dependency foo" in out
    assert main(["schedule", "topcuoglu2002", "-a", "rr"]) == 2
    assert "failed to load" in capsys.readouterr().err
