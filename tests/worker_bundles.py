"""Helpers of the worker-side tests: the shipped test application and edited bundles."""

from __future__ import annotations

import hashlib
import io
import sys
import zipfile
from pathlib import Path

from edgeoffload.runtime.wire.bundles import Bundle

APPS = Path(__file__).resolve().parent / "runtime" / "worker" / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))

CALLS = "eo_workerapp.calls"
"""The test application's module of offloaded functions (shipped as a bundle)."""


def variant(bundle: Bundle, arc: str, old: bytes, new: bytes) -> tuple[str, bytes]:
    """The bundle with one source edited (another owner's version of the same app)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == arc:
                assert old in data
                data = data.replace(old, new)
            dst.writestr(info, data)
    data = out.getvalue()
    return hashlib.sha256(data).hexdigest(), data
