"""``CofaConfig.steps``: the ``step`` events ``run_cofa`` reports, a progress bar's total."""

from __future__ import annotations

import pytest

from edgeoffload.experiments.cofa import TARGETS, CofaConfig


@pytest.mark.parametrize(
    ("config", "steps"),
    [
        (CofaConfig(), (12 + 1) * 3 * 3),  # 12 plies + 1 solve, 3 targets, 3 runs
        (CofaConfig.quick(), (4 + 1) * 3),
        (CofaConfig(apps=("linpack",), runs=5), 1 * 3 * 5),
        (CofaConfig(apps=("reversi",), plies=7, runs=2), 7 * 3 * 2),
    ],
)
def test_steps_counts_one_per_ply_and_per_solve(config: CofaConfig, steps: int) -> None:
    assert len(TARGETS) == 3
    assert config.steps == steps
