"""Workloads shipped as data: example problems, DNN DAGs, device presets, scenarios."""

from __future__ import annotations

from edgeoffload.workloads.problems import builtin_problem, builtin_problem_names, resolve_problem

__all__ = ["builtin_problem", "builtin_problem_names", "resolve_problem"]
