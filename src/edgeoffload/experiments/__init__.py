"""Reproductions of the papers' experiments with real processes on this machine.

:mod:`~edgeoffload.experiments.cofa` runs COFA's Reversi and Linpack offloading
experiments with a throttled client; :mod:`~edgeoffload.experiments.runner` runs any
measurement plan in a throttled client subprocess; :mod:`~edgeoffload.experiments.apps`
finds the example applications and stages them as application code.
"""

from __future__ import annotations

from edgeoffload.experiments.cofa import PAPER, CofaConfig, CofaResult, run_cofa

__all__ = ["PAPER", "CofaConfig", "CofaResult", "run_cofa"]
