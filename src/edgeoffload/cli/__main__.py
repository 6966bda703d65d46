"""``python -m edgeoffload.cli``."""

from edgeoffload.cli import entrypoint

entrypoint()
