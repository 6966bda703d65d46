"""Imported by board.py with an absolute import: must travel in the same bundle."""

from __future__ import annotations

WEIGHTS = (3, 1, 2)


def weight(index: int) -> int:
    return WEIGHTS[index % len(WEIGHTS)]
