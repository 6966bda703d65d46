"""``python -m edgeoffload``."""

from edgeoffload.cli import entrypoint

entrypoint()
