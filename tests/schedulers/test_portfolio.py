"""Portfolio keeps the best member's schedule."""

from __future__ import annotations

import pytest

from cases import multi_request_problem
from edgeoffload.errors import ModelError
from edgeoffload.model import Problem
from edgeoffload.schedulers import PortfolioScheduler, get_scheduler


def test_keeps_the_shortest(paper_problem: Problem) -> None:
    result = PortfolioScheduler().schedule(paper_problem)
    assert result.makespan == 80.0
    assert result.details["portfolio"] == {
        "chosen": "heft",
        "makespans": {"heft": 80.0, "cpop": 86.0, "peft": 85.0},
    }


def test_members_as_text_and_ties_go_to_the_first() -> None:
    problem = multi_request_problem()
    result = PortfolioScheduler(members="edge, local").schedule(problem)
    spans = result.details["portfolio"]["makespans"]
    assert set(spans) == {"edge", "local"}
    assert result.makespan == min(spans.values())
    same = PortfolioScheduler(members=["heft", "heft"]).schedule(problem)
    assert same.details["portfolio"]["chosen"] == "heft"


def test_inapplicable_members_are_skipped(paper_problem: Problem) -> None:
    result = PortfolioScheduler(members=["edge", "cpop"]).schedule(paper_problem)
    assert result.details["portfolio"]["makespans"] == {"edge": None, "cpop": 86.0}
    with pytest.raises(ModelError, match="no member"):
        PortfolioScheduler(members=["edge"]).schedule(paper_problem)


@pytest.mark.parametrize("members", ["", ["portfolio"]])
def test_bad_members(members: object) -> None:
    with pytest.raises(ModelError):
        PortfolioScheduler(members=members)  # type: ignore[arg-type]


def test_unknown_member_is_reported_when_used(paper_problem: Problem) -> None:
    with pytest.raises(ModelError, match="unknown scheduler 'nope'"):
        get_scheduler("portfolio", members="heft,nope").schedule(paper_problem)
