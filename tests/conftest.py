"""Shared fixtures (problem builders live in cases.py, importable from every test)."""

from __future__ import annotations

import numpy as np
import pytest

from cases import PAPER_EXAMPLE
from edgeoffload.model import Problem, load_problem


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def paper_problem() -> Problem:
    return load_problem(PAPER_EXAMPLE)
