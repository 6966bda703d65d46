"""Portfolio keeps the best member's schedule."""

from __future__ import annotations

import pytest

from cases import multi_request_problem
from edgeoffload.errors import ModelError
from edgeoffload.model import Problem, validate_schedule
from edgeoffload.schedulers import HEFTScheduler, PortfolioScheduler, get_scheduler
from edgeoffload.schedulers.polish import polish


def test_keeps_the_shortest(paper_problem: Problem) -> None:
    result = PortfolioScheduler(polish=0).schedule(paper_problem)
    assert result.makespan == 80.0
    assert result.details["portfolio"] == {
        "chosen": "heft",
        "makespans": {
            "heft": 80.0,
            "cpop": 86.0,
            "peft": 85.0,
            "single": 127.0,
            "heft:average=harmonic": 80.0,
            "heft:average=best": 80.0,
        },
    }


def test_members_with_parameters() -> None:
    problem = multi_request_problem()
    result = PortfolioScheduler(members="peft, heft:average=best", polish=0).schedule(problem)
    spans = result.details["portfolio"]["makespans"]
    assert set(spans) == {"peft", "heft:average=best"}
    best = HEFTScheduler(average="best").schedule(problem)
    assert spans["heft:average=best"] == best.makespan
    assert best.details == {"heft": {"average": "best"}}
    for bad, message in [
        ("heft:average", "NAME:KEY=VALUE"),
        ("heft:average=bogus", "must be one of mean, harmonic, best"),
        ("heft:speed=2", "does not take"),
        ("portfolio:polish=0", "may not contain itself"),
    ]:
        with pytest.raises(ModelError, match=message):
            PortfolioScheduler(members=f"heft, {bad}")


def test_the_local_search_shortens_the_papers_example(paper_problem: Problem) -> None:
    # HEFT's 80 is not the best: moving single tasks reaches 79 (the optimum is 73)
    result = PortfolioScheduler().schedule(paper_problem)
    validate_schedule(paper_problem, result)
    assert result.makespan == 79.0
    assert result.details["portfolio"]["chosen"] == "heft"
    assert result.details["portfolio"]["polished_from"] == 80.0


def test_polish_never_lengthens_and_respects_its_budget() -> None:
    problem = multi_request_problem()
    heft = get_scheduler("heft").schedule(problem)
    better = polish(problem, heft, 100_000)
    assert better is None or better.makespan < heft.makespan
    assert polish(problem, heft, len(problem.graph) - 1) is None  # not one try fits
    assert polish(problem, heft, 0) is None


@pytest.mark.parametrize("polish_value", [-1, 1.5, True, "10"])
def test_bad_polish(polish_value: object) -> None:
    with pytest.raises(ModelError, match="whole number"):
        PortfolioScheduler(polish=polish_value)  # type: ignore[arg-type]


def test_members_as_text_and_ties_go_to_the_first() -> None:
    problem = multi_request_problem()
    result = PortfolioScheduler(members="edge, local", polish=0).schedule(problem)
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
