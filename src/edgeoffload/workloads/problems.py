"""Example problems shipped with the package, usable by name wherever a file is asked for.

- ``topcuoglu2002``: the 10-task, 3-processor example of the HEFT/CPOP paper (Fig. 2);
  published makespans HEFT 80, CPOP 86.
- ``camera_cluster``: four requests of a small CNN at three cameras and an edge server,
  with Wi-Fi-like links (see the file's ``_about``).
"""

from __future__ import annotations

from importlib import resources

from edgeoffload.errors import ProblemFileError
from edgeoffload.model import Problem, load_problem
from edgeoffload.model.reading import exists

__all__ = ["builtin_problem", "builtin_problem_names", "resolve_problem"]

_PACKAGE = "edgeoffload.workloads.data.problems"


def builtin_problem_names() -> list[str]:
    """Names of the shipped example problems."""
    folder = resources.files(_PACKAGE)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def builtin_problem(name: str) -> Problem:
    """Load the shipped example problem ``name``."""
    if name not in builtin_problem_names():
        raise ProblemFileError(
            f"no built-in problem {name!r}; built in: {', '.join(builtin_problem_names())}",
            "problem",
        )
    with resources.as_file(resources.files(_PACKAGE) / f"{name}.json") as path:
        return load_problem(path)


def resolve_problem(path_or_name: str) -> Problem:
    """Load a problem file, or a built-in problem when no such file exists and the name is one."""
    if not exists(path_or_name):
        if path_or_name in builtin_problem_names():
            return builtin_problem(path_or_name)
        raise ProblemFileError(
            f"no such file (built-in problems: {', '.join(builtin_problem_names())})",
            path_or_name[:200],
        )
    return load_problem(path_or_name)
