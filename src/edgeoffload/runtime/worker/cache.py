"""The worker's code store: each owner's bundles, verified, on a RAM disk.

COFA's remotes keep pushed code in a cache on a RAM disk while the connection lasts and
delete it on disconnect. Here a worker keeps each *owner*'s bundles (an owner is an opaque
string: the client's certificate fingerprint and its session id) under::

    /dev/shm/edgeoffload/<worker>.<pid>/<owner key>/<hash>.zip

(``tempfile.gettempdir()/edgeoffload`` where ``/dev/shm`` is missing or not writable;
the owner key is :func:`owner_key`, a short hash). A worker started after a crash removes
the folders of dead worker processes (:meth:`CodeStore.clear_stale`); the worker drops an
owner's folder when its session ends (:meth:`CodeStore.drop`).

Nothing is imported in the worker process: the store only holds bytes. A bundle's hash,
format, protocol and Python version are checked when it arrives (:meth:`CodeStore.put`),
and the requirements it lacks here are reported, not refused: the client sends this worker
only the functions that do not need them; the executor's child processes load it
(:mod:`edgeoffload.runtime.worker.loader`), verifying its hash again from the bytes they
read and compiling every module from those verified bytes, so a file edited after it was
stored is refused, and nothing extracted from it is ever run.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from edgeoffload.errors import BundleError
from edgeoffload.runtime.host.procs import pid_alive
from edgeoffload.runtime.wire.bundles import python_version, read_manifest, requirement_problems
from edgeoffload.runtime.wire.protocol import PROTOCOL_VERSION

__all__ = ["CodeStore", "cache_base", "check_manifest", "is_bundle_hash", "owner_key"]

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_HASH = re.compile(r"^[0-9a-f]{64}$")


def cache_base() -> Path:
    """Root of every worker's code store on this machine: a RAM disk where there is one."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return shm / "edgeoffload"
    return Path(tempfile.gettempdir()) / "edgeoffload"


@functools.lru_cache(maxsize=4096)
def owner_key(owner: str) -> str:
    """Short, path- and identifier-safe key of an owner (10 hex digits of its SHA-256)."""
    return hashlib.sha256(owner.encode()).hexdigest()[:10]


def is_bundle_hash(digest: str) -> bool:
    """Whether ``digest`` is a well-formed bundle hash (64 lowercase hex digits)."""
    return bool(_HASH.match(digest))


def check_manifest(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Check that this interpreter can run a bundle with ``manifest``; return what it lacks.

    Returns
    -------
    dict
        Distribution -> why it is not satisfied here (missing, or another major version),
        for each requirement this interpreter cannot meet; functions that need one of them
        cannot run here, the others can.

    Raises
    ------
    BundleError
        The bundle was made for another protocol or Python version (major.minor), or its
        manifest is malformed.
    """
    if manifest.get("protocol") != PROTOCOL_VERSION:
        raise BundleError(
            f"bundle made for protocol {manifest.get('protocol')}, this worker speaks "
            f"{PROTOCOL_VERSION}: use the same edgeoffload version on both sides"
        )
    if manifest.get("python") != python_version():
        raise BundleError(
            f"bundle made with Python {manifest.get('python')}, this worker runs "
            f"Python {python_version()}"
        )
    requirements = manifest.get("requirements") or {}
    if not isinstance(requirements, Mapping):
        raise BundleError("malformed bundle manifest: requirements is not a mapping")
    modules = manifest.get("modules")
    if not isinstance(modules, Mapping) or not isinstance(manifest.get("root"), str):
        raise BundleError("malformed bundle manifest: no modules or no root")
    return requirement_problems({str(k): str(v) for k, v in requirements.items()})


class CodeStore:
    """A worker's bundles, per owner, as verified files (see the module docstring).

    Parameters
    ----------
    worker_name
        The worker's name; with this process's id it names the store's folder.
    base
        Parent folder of every worker's store (default :func:`cache_base`).

    Attributes
    ----------
    directory
        This worker's folder, ``base/<worker>.<pid>``; created empty.
    """

    def __init__(self, worker_name: str, base: Path | None = None) -> None:
        self.base = base if base is not None else cache_base()
        self.directory = self.base / f"{_SAFE.sub('_', worker_name)}.{os.getpid()}"
        self._root = str(self.directory)
        self._owners: dict[str, str] = {}  # owner key -> owner
        self._lock = threading.Lock()
        self._tmp = itertools.count()
        self.clear_stale()
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True, exist_ok=True)

    # ---------------------------------------------------------------- housekeeping
    def clear_stale(self) -> list[Path]:
        """Remove the folders of worker processes that no longer run; return them."""
        removed: list[Path] = []
        if not self.base.is_dir():
            return removed
        for entry in self.base.iterdir():
            _, _, pid = entry.name.rpartition(".")
            if entry.is_dir() and pid.isdigit() and not pid_alive(int(pid)):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
        return removed

    def owner_dir(self, owner: str) -> Path:
        """The folder of ``owner``'s bundles (it may not exist)."""
        return self.directory / owner_key(owner)

    def owners(self) -> list[str]:
        """The owners with bundles here, sorted."""
        with self._lock:
            return sorted(o for k, o in self._owners.items() if (self.directory / k).is_dir())

    def close(self) -> None:
        """Forget every owner and remove this worker's folder (idempotent)."""
        with self._lock:
            self._owners.clear()
            shutil.rmtree(self.directory, ignore_errors=True)

    # ---------------------------------------------------------------- bundles
    def put(self, owner: str, digest: str, data: bytes | bytearray | memoryview) -> dict[str, str]:
        """Store a bundle after checking its hash, format and Python version; return the
        requirements this worker lacks (:func:`check_manifest`).

        Parameters
        ----------
        owner
            Who sent it (certificate fingerprint and session id).
        digest
            The SHA-256 the sender says the bytes have, hex.
        data
            The zip archive.

        Raises
        ------
        BundleError
            The hash is malformed, the bytes do not hash to ``digest``, or the bundle is
            malformed or was made by another protocol or Python version.
        """
        if not is_bundle_hash(digest):
            raise BundleError(f"malformed bundle hash {digest!r}")
        blob = bytes(data)
        actual = hashlib.sha256(blob).hexdigest()
        if actual != digest:
            raise BundleError(f"bundle {digest[:12]} refused: its bytes hash to {actual[:12]}")
        missing = check_manifest(read_manifest(blob))
        key = owner_key(owner)
        with self._lock:
            folder = self.directory / key
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{digest}.{next(self._tmp)}.tmp"
            tmp.write_bytes(blob)
            os.replace(tmp, folder / f"{digest}.zip")
            self._owners[key] = owner
        return missing

    def has(self, owner: str, hashes: Sequence[str]) -> list[str]:
        """The subset of ``hashes`` stored for ``owner``, in the given order."""
        folder = self.owner_dir(owner)
        return [h for h in hashes if is_bundle_hash(h) and (folder / f"{h}.zip").is_file()]

    def path(self, owner: str, digest: str) -> Path:
        """The file of ``owner``'s bundle ``digest``.

        Raises
        ------
        BundleError
            The hash is malformed or the bundle is not stored for this owner.
        """
        if not is_bundle_hash(digest):
            raise BundleError(f"malformed bundle hash {digest!r}")
        path = f"{self._root}{os.sep}{owner_key(owner)}{os.sep}{digest}.zip"  # (per call:
        if not os.path.isfile(path):  # strings, not Path arithmetic)
            raise BundleError(f"bundle {digest[:12]} is not in this worker's cache for this client")
        return Path(path)

    def drop(self, owner: str) -> bool:
        """Delete every bundle of ``owner``; True if there was anything to delete."""
        key = owner_key(owner)
        with self._lock:
            self._owners.pop(key, None)
            folder = self.directory / key
            existed = folder.exists()
            shutil.rmtree(folder, ignore_errors=True)
            return existed
