"""A module that imports a package its workers may lack; only ``fancy`` uses it."""

from __future__ import annotations

import eofakepkg

from edgeoffload import offload


@offload
def plain(x: int) -> int:
    """Needs nothing but Python."""
    return x + 1


@offload
def fancy(x: int) -> int:
    """Needs eofakepkg."""
    return int(eofakepkg.VALUE) + x


@offload(ship=["eofakepkg"])
def shipped(x: int) -> int:
    """Needs eofakepkg, shipped as source with this function's bundle."""
    return int(eofakepkg.VALUE) + x
