"""``edgeoffload run`` and ``calibrate-cluster`` refuse numbers that are not finite or out
of range in one usage line, before any work (the ``number`` argparse type of cmd_run)."""

from __future__ import annotations

import argparse

import pytest

from edgeoffload.cli import main
from edgeoffload.cli._common import number
from edgeoffload.cli.cmd_run import MAX_SCALE


class TestNumber:
    @pytest.mark.parametrize(
        ("text", "value"), [("1", 1.0), ("0.05", 0.05), (" 2e1 ", 20.0), ("100", 100.0)]
    )
    def test_finite_numbers_within_bounds(self, text: str, value: float) -> None:
        assert number(0, 100)(text) == value

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("nan", "finite"),
            ("inf", "finite"),
            ("-inf", "finite"),
            ("1e400", "finite"),
            ("0", "must be > 0 and <= 100, got 0"),
            ("-1", "must be > 0"),
            ("100.5", "<= 100, got 100.5"),
            ("x", "expected a number, got 'x'"),
            ("", "expected a number"),
        ],
    )
    def test_refused(self, text: str, message: str) -> None:
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            number(0, 100)(text)

    def test_low_bound_included_without_strict_low(self) -> None:
        parse = number(0, 1, strict_low=False)
        assert parse("0") == 0.0
        with pytest.raises(argparse.ArgumentTypeError, match=">= 0"):
            parse("-0.5")

    def test_argparse_names_it_in_one_line(self) -> None:
        parser = argparse.ArgumentParser()
        parser.add_argument("--scale", type=number(0, 10))
        assert parser.parse_args(["--scale", "2.5"]).scale == 2.5
        assert number(0, 1).__name__ == "number"


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["run", "dhs-paper", "--scale", "inf"], "--scale"),
        (["run", "dhs-paper", "--scale", "nan"], "--scale"),
        (["run", "dhs-paper", "--scale", "0"], "--scale"),
        (["run", "dhs-paper", "--scale", str(MAX_SCALE * 2)], "--scale"),
        (["run", "dhs-paper", "--seconds", "nan"], "--seconds"),
        (["run", "dhs-paper", "--seconds", "0"], "--seconds"),
        (["run", "dhs-paper", "--seconds", "61"], "--seconds"),
        (["run", "dhs-paper", "--cores", "inf"], "--cores"),
        (["run", "dhs-paper", "--cores", "-2"], "--cores"),
        (["run", "dhs-paper", "--repeats", "0"], "--repeats"),
        (["run", "dhs-paper", "--repeat", "1e9"], "--repeat"),
        (["calibrate-cluster", "dhs-paper", "--check-scale", "nan"], "--check-scale"),
        (["calibrate-cluster", "dhs-paper", "--check-scale", "1e400"], "--check-scale"),
        (["calibrate-cluster", "dhs-paper", "--seconds", "inf"], "--seconds"),
        (["calibrate-cluster", "dhs-paper", "--cores", "nan"], "--cores"),
    ],
)
def test_bad_numbers_are_one_usage_line(
    args: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert f"argument {flag}:" in lines[0] and "internal error" not in lines[0]
