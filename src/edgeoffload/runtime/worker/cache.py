"""The worker-side code cache: bundles per client on a RAM disk, imported in isolation.

COFA's remotes keep pushed code in a cache on a RAM disk while the connection lasts and
delete it on disconnect. Here a worker keeps each client's bundles under::

    /dev/shm/edgeoffload/<worker>.<pid>/<client>/<hash>.zip     the bundle as received
    /dev/shm/edgeoffload/<worker>.<pid>/<client>/<hash>/        its sources, when loaded

(``tempfile.gettempdir()/edgeoffload`` where ``/dev/shm`` is missing or not writable).
A worker started after a crash removes the folders of dead worker processes
(:meth:`CodeCache.clear_stale`); the scheduler plugin tells workers to drop a client's
folder when the client leaves (:meth:`CodeCache.drop_client`).

Verification: the hash of a bundle is checked when it arrives and again, from the bytes on
disk, right before it is first imported; a mismatch (a tampered file) raises
:class:`~edgeoffload.errors.BundleError` and nothing of it runs. The sources are extracted
afresh from the verified bytes, so edits to an extracted folder are overwritten too.

Isolation (decided here; the issue left it open): each (client, bundle) pair is imported
under its own private package name, ``_eo_<client key>_<hash prefix>``: the client's
``app.board`` becomes ``_eo_1f2e3d4c5b_a1b2c3d4e5f6.app.board`` in ``sys.modules``. Two
clients that both ship a module named ``app`` therefore never see each other's code, and
neither sees a worker-installed ``app``. Inside bundle code, ``import app.board`` and
``from app import board`` are redirected to the private names by a per-namespace
``__import__`` in the modules' ``__builtins__``; relative imports work as usual. Code
that imports by string through ``importlib.import_module("app")`` bypasses the redirect
(documented limitation). Unpickling maps names the same way (see
:mod:`edgeoffload.runtime.wire.protocol`).
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import io
import os
import re
import shutil
import sys
import tempfile
import threading
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from edgeoffload.errors import BundleError
from edgeoffload.runtime.host.procs import pid_alive
from edgeoffload.runtime.wire.bundles import (
    MANIFEST_NAME,
    check_requirements,
    python_version,
    read_manifest,
)
from edgeoffload.runtime.wire.protocol import PROTOCOL_VERSION, WORKER_MODULE_PREFIX

__all__ = ["CodeCache", "Namespace", "cache_base", "client_key"]

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_HASH = re.compile(r"^[0-9a-f]{64}$")


def cache_base() -> Path:
    """Root of every worker's cache on this machine: a RAM disk where there is one."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return shm / "edgeoffload"
    return Path(tempfile.gettempdir()) / "edgeoffload"


def client_key(client_id: str) -> str:
    """Short, path- and identifier-safe key of a client id."""
    return hashlib.sha256(client_id.encode()).hexdigest()[:10]


class Namespace:
    """One client's bundle, importable under a private package name."""

    def __init__(self, prefix: str, directory: Path, manifest: Mapping[str, Any]) -> None:
        self.prefix = prefix
        self.directory = directory
        modules = manifest["modules"]
        self.modules: dict[str, dict[str, Any]] = dict(modules)
        self.root: str = str(manifest["root"])
        self.top_names = frozenset(m.partition(".")[0] for m in self.modules)
        self.builtins: dict[str, Any] = dict(builtins.__dict__)
        self.builtins["__import__"] = self._import

    def worker_name(self, module: str) -> str:
        """The private name of a client module name (others pass through)."""
        if module.partition(".")[0] in self.top_names:
            return f"{self.prefix}.{module}"
        return module

    def import_module(self, client_name: str) -> ModuleType:
        return importlib.import_module(self.worker_name(client_name))

    def resolve(self, module: str, qualname: str) -> Any:
        """The object ``qualname`` of the client's ``module`` (a function, a class…)."""
        obj: Any = self.import_module(module)
        for part in qualname.split("."):
            if isinstance(obj, type) and part in obj.__dict__:
                obj = obj.__dict__[part]
            else:
                obj = getattr(obj, part)
        return obj

    def _import(
        self,
        name: str,
        globals: Mapping[str, Any] | None = None,
        locals: Mapping[str, Any] | None = None,
        fromlist: Sequence[str] | None = (),
        level: int = 0,
    ) -> ModuleType:
        if level == 0 and name.partition(".")[0] in self.top_names:
            full = f"{self.prefix}.{name}"
            module = importlib.import_module(full)
            if fromlist:
                for item in fromlist:
                    if (
                        item != "*"
                        and not hasattr(module, item)
                        and f"{name}.{item}" in self.modules
                    ):
                        importlib.import_module(f"{full}.{item}")
                return module
            return sys.modules[f"{self.prefix}.{name.partition('.')[0]}"]
        return builtins.__import__(name, globals, locals, fromlist or (), level)

    def unload(self) -> None:
        for name in [n for n in sys.modules if n == self.prefix or n.startswith(self.prefix + ".")]:
            sys.modules.pop(name, None)
        importlib.invalidate_caches()


class _BundleLoader(importlib.abc.Loader):
    def __init__(self, namespace: Namespace, path: Path | None, package_dir: Path | None) -> None:
        self.namespace = namespace
        self.path = path
        self.package_dir = package_dir

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        module.__dict__["__builtins__"] = self.namespace.builtins
        if self.path is None:
            return  # the private top package or a namespace package: empty
        source = self.path.read_bytes()
        code = compile(source, str(self.path), "exec", dont_inherit=True)
        exec(code, module.__dict__)


class _BundleFinder(importlib.abc.MetaPathFinder):
    """Finds ``_eo_*`` modules of the namespaces registered in this process."""

    def __init__(self) -> None:
        self.namespaces: dict[str, Namespace] = {}
        self.lock = threading.Lock()

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        prefix, _, rest = fullname.partition(".")
        namespace = self.namespaces.get(prefix)
        if namespace is None:
            return None
        if not rest:
            loader = _BundleLoader(namespace, None, namespace.directory)
            spec = importlib.machinery.ModuleSpec(fullname, loader, is_package=True)
            spec.submodule_search_locations = [str(namespace.directory)]
            return spec
        entry = namespace.modules.get(rest)
        if entry is None:
            return None
        arc = entry.get("path")
        file = namespace.directory / arc if arc else None
        is_package = bool(entry.get("package"))
        package_dir = namespace.directory / rest.replace(".", "/")
        loader = _BundleLoader(namespace, file, package_dir if is_package else None)
        spec = importlib.machinery.ModuleSpec(
            fullname, loader, origin=str(file) if file else None, is_package=is_package
        )
        if file is not None:
            spec.has_location = True
        if is_package:
            spec.submodule_search_locations = [str(package_dir)]
        return spec


_FINDER = _BundleFinder()


def _install_finder() -> None:
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


class CodeCache:
    """A worker's bundles, per client (see the module docstring).

    Parameters
    ----------
    worker_name
        The worker's name; with the process id it names the cache folder.
    base
        Parent folder of every worker's cache (default :func:`cache_base`).
    """

    def __init__(self, worker_name: str, base: Path | None = None) -> None:
        self.base = base if base is not None else cache_base()
        self.directory = self.base / f"{_SAFE.sub('_', worker_name)}.{os.getpid()}"
        self._namespaces: dict[tuple[str, str], Namespace] = {}
        self._lock = threading.RLock()
        self.clear_stale()
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True, exist_ok=True)
        _install_finder()

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

    def client_dir(self, client_id: str) -> Path:
        return self.directory / client_key(client_id)

    def clients(self) -> list[str]:
        """Keys of the clients with a folder here."""
        if not self.directory.is_dir():
            return []
        return sorted(p.name for p in self.directory.iterdir() if p.is_dir())

    def close(self) -> None:
        """Forget every client and remove this worker's folder."""
        with self._lock:
            for namespace in self._namespaces.values():
                self._unregister(namespace)
            self._namespaces.clear()
            shutil.rmtree(self.directory, ignore_errors=True)

    # ---------------------------------------------------------------- bundles
    def has(self, client_id: str, hashes: Sequence[str]) -> list[str]:
        """The subset of ``hashes`` this worker holds for ``client_id``."""
        folder = self.client_dir(client_id)
        return [h for h in hashes if _HASH.match(h) and (folder / f"{h}.zip").is_file()]

    def put(self, client_id: str, digest: str, data: bytes) -> None:
        """Store a bundle after checking its hash, format, Python version and requirements.

        Raises
        ------
        BundleError
            The bytes do not hash to ``digest``, the bundle is malformed, was made by
            another Python version, or needs packages this worker lacks (named).
        """
        if not _HASH.match(digest):
            raise BundleError(f"malformed bundle hash {digest!r}")
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise BundleError(f"bundle {digest[:12]} refused: its bytes hash to {actual[:12]}")
        self._check(read_manifest(data))
        folder = self.client_dir(client_id)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{digest}.zip"
        tmp = folder / f".{digest}.{threading.get_ident()}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, target)

    @staticmethod
    def _check(manifest: Mapping[str, Any]) -> None:
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
        problems = check_requirements(dict(requirements))
        if problems:
            raise BundleError("worker refuses the bundle: " + "; ".join(problems))

    def namespace(self, client_id: str, digest: str) -> Namespace:
        """The loaded namespace of a stored bundle, verifying and extracting it first.

        Raises
        ------
        BundleError
            The bundle is not here, or its file no longer hashes to ``digest``.
        """
        key = (client_id, digest)
        with self._lock:
            namespace = self._namespaces.get(key)
            if namespace is not None:
                return namespace
            folder = self.client_dir(client_id)
            path = folder / f"{digest}.zip"
            try:
                data = path.read_bytes()
            except OSError:
                raise BundleError(
                    f"bundle {digest[:12]} is not in this worker's cache for this client"
                ) from None
            actual = hashlib.sha256(data).hexdigest()
            if actual != digest:
                path.unlink(missing_ok=True)
                raise BundleError(
                    f"bundle {digest[:12]} refused: the cached file was modified "
                    f"(it now hashes to {actual[:12]}); nothing of it was run"
                )
            manifest = read_manifest(data)
            self._check(manifest)
            target = folder / digest
            shutil.rmtree(target, ignore_errors=True)
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for member in archive.infolist():
                    if member.filename == MANIFEST_NAME:
                        continue
                    dest = (target / member.filename).resolve()
                    if not dest.is_relative_to(target.resolve()):
                        raise BundleError(f"bundle {digest[:12]} has an unsafe path")
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(archive.read(member))
            prefix = f"{WORKER_MODULE_PREFIX}{client_key(client_id)}_{digest[:12]}"
            namespace = Namespace(prefix, target, manifest)
            with _FINDER.lock:
                _FINDER.namespaces[prefix] = namespace
            self._namespaces[key] = namespace
            return namespace

    def loaded(self, client_id: str, digest: str) -> bool:
        return (client_id, digest) in self._namespaces

    def drop_client(self, client_id: str) -> bool:
        """Unload and delete everything of ``client_id``; True if there was anything."""
        with self._lock:
            for key in [k for k in self._namespaces if k[0] == client_id]:
                self._unregister(self._namespaces.pop(key))
            folder = self.client_dir(client_id)
            existed = folder.exists()
            shutil.rmtree(folder, ignore_errors=True)
            return existed

    @staticmethod
    def _unregister(namespace: Namespace) -> None:
        with _FINDER.lock:
            _FINDER.namespaces.pop(namespace.prefix, None)
        with contextlib.suppress(Exception):
            namespace.unload()
