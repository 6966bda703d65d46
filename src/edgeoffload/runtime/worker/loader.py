"""Importing an owner's bundle under a private name, from verified bytes in memory.

This runs in the executor's child processes (:mod:`.child`), never in the worker process.

Verification: :func:`load_bundle` reads a stored bundle once, checks that its bytes hash to
the digest it was asked for and that its manifest is acceptable here
(:func:`~edgeoffload.runtime.worker.cache.check_manifest`), and keeps the sources of its
modules in memory. Every module is compiled from those verified bytes when it is
imported, however much later that is; nothing is extracted to disk, so editing the stored
file after it was loaded changes nothing that runs, and a file edited before it was loaded
is refused (:class:`~edgeoffload.errors.BundleError`, "was modified") before anything of
it runs. A module's ``__file__`` names its place inside the archive
(``<store>/<hash>.zip/app/board.py``, as :mod:`zipimport` does) and tracebacks read their
source lines from memory too (the loader's ``get_source``).

Isolation: each (owner, bundle) pair is imported under its own private package name,
``_eo_<owner key>_<hash prefix>``: the owner's ``app.board`` becomes
``_eo_1f2e3d4c5b_a1b2c3d4e5f6.app.board`` in ``sys.modules``. Two owners that both ship
a module named ``app`` therefore never see each other's code, and neither sees an
installed ``app``. Inside bundle code, ``import app.board`` and ``from app import board``
are redirected to the private names by a per-namespace ``__import__`` in the modules'
``__builtins__``; relative imports work as usual. Code that imports by string through
``importlib.import_module("app")`` bypasses the redirect (a documented limitation).
Unpickling maps names the same way (:func:`renamer`, for
:func:`edgeoffload.runtime.wire.protocol.loads`).
"""

from __future__ import annotations

import builtins
import hashlib
import importlib
import importlib.abc
import importlib.machinery
import io
import linecache
import sys
import threading
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from edgeoffload.errors import BundleError
from edgeoffload.runtime.wire.bundles import read_manifest
from edgeoffload.runtime.wire.ops import OFFLOADED_MARK
from edgeoffload.runtime.wire.protocol import WORKER_MODULE_PREFIX
from edgeoffload.runtime.worker.cache import check_manifest, owner_key

__all__ = [
    "Namespace",
    "is_loaded",
    "load_bundle",
    "renamer",
    "resolve",
    "unload_owner",
]


class Namespace:
    """One owner's bundle, importable under a private package name.

    Parameters
    ----------
    owner
        The owner the bundle was stored for.
    digest
        The bundle's SHA-256, hex (verified).
    path
        The stored file it was read from (only used to name modules' ``__file__``).
    manifest
        Its manifest (checked).
    sources
        Archive path -> source bytes of every module with a source, read from the
        verified archive.
    """

    def __init__(
        self,
        owner: str,
        digest: str,
        path: Path,
        manifest: Mapping[str, Any],
        sources: Mapping[str, bytes],
    ) -> None:
        self.owner = owner
        self.digest = digest
        self.path = path
        self.prefix = f"{WORKER_MODULE_PREFIX}{owner_key(owner)}_{digest[:12]}"
        self.modules: dict[str, dict[str, Any]] = dict(manifest["modules"])
        self.root: str = str(manifest["root"])
        self.top_names = frozenset(m.partition(".")[0] for m in self.modules)
        self.sources = dict(sources)
        self.builtins: dict[str, Any] = dict(builtins.__dict__)
        self.builtins["__import__"] = self._import

    def worker_name(self, module: str) -> str:
        """The private name of one of the owner's module names (others pass through)."""
        if module.partition(".")[0] in self.top_names:
            return f"{self.prefix}.{module}"
        return module

    def filename(self, arc: str) -> str:
        """What a module's ``__file__`` and tracebacks call archive member ``arc``."""
        return f"{self.path}/{arc}"

    def import_module(self, client_name: str) -> ModuleType:
        """Import the owner's module ``client_name`` (under its private name)."""
        return importlib.import_module(self.worker_name(client_name))

    def resolve(self, module: str, qualname: str) -> Any:
        """The object ``qualname`` of the owner's ``module`` (a function, a class…).

        Raises
        ------
        ImportError, AttributeError
            The module or the object is not there.
        """
        return _walk(self.import_module(module), qualname)

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
        """Forget every module of this namespace (``sys.modules``, cached source lines)."""
        for name in [n for n in sys.modules if n == self.prefix or n.startswith(self.prefix + ".")]:
            sys.modules.pop(name, None)
        for arc in self.sources:
            linecache.cache.pop(self.filename(arc), None)


def _walk(obj: Any, qualname: str) -> Any:
    for part in qualname.split("."):
        if isinstance(obj, type) and part in obj.__dict__:
            obj = obj.__dict__[part]  # keeps a staticmethod a staticmethod, to unwrap
        else:
            obj = getattr(obj, part)
    return obj


class _BundleLoader(importlib.abc.Loader):
    """Executes one module of a namespace from its verified source in memory."""

    def __init__(self, namespace: Namespace, arc: str | None) -> None:
        self.namespace = namespace
        self.arc = arc

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        module.__dict__["__builtins__"] = self.namespace.builtins
        if self.arc is None:
            return  # the private top package or a namespace package: empty
        source = self.namespace.sources[self.arc]
        code = compile(source, self.namespace.filename(self.arc), "exec", dont_inherit=True)
        exec(code, module.__dict__)

    def get_source(self, fullname: str) -> str | None:
        """The module's source (for tracebacks and :mod:`inspect`), from memory."""
        if self.arc is None:
            return None
        return self.namespace.sources[self.arc].decode("utf-8", errors="replace")


class _BundleFinder(importlib.abc.MetaPathFinder):
    """Finds the ``_eo_*`` modules of the namespaces loaded in this process."""

    def __init__(self) -> None:
        self.namespaces: dict[str, Namespace] = {}

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
            spec = importlib.machinery.ModuleSpec(
                fullname, _BundleLoader(namespace, None), is_package=True
            )
            spec.submodule_search_locations = [str(namespace.path)]
            return spec
        entry = namespace.modules.get(rest)
        if entry is None:
            return None
        arc = entry.get("path")
        arc = str(arc) if arc else None
        is_package = bool(entry.get("package"))
        spec = importlib.machinery.ModuleSpec(
            fullname,
            _BundleLoader(namespace, arc),
            origin=namespace.filename(arc) if arc else None,
            is_package=is_package,
        )
        spec.has_location = arc is not None
        if is_package:
            spec.submodule_search_locations = [namespace.filename(rest.replace(".", "/"))]
        return spec


_FINDER = _BundleFinder()
_LOADED: dict[tuple[str, str], Namespace] = {}
_LOCK = threading.RLock()


def is_loaded(owner: str, digest: str) -> bool:
    """Whether ``owner``'s bundle ``digest`` is loaded in this process."""
    return (owner, digest) in _LOADED


def load_bundle(owner: str, digest: str, path: Path) -> Namespace:
    """The namespace of ``owner``'s bundle ``digest`` stored at ``path``, loading it once.

    The file is read once; its bytes must hash to ``digest`` and its manifest must be
    acceptable here. No module is imported yet: each is compiled from the verified bytes
    when it is first imported.

    Raises
    ------
    BundleError
        The file is missing ("not in this worker's cache"), does not hash to ``digest``
        ("was modified"; nothing of it was run), is not a bundle, or cannot run here.
    """
    key = (owner, digest)
    with _LOCK:
        namespace = _LOADED.get(key)
        if namespace is not None:
            return namespace
        try:
            data = path.read_bytes()
        except OSError:
            raise BundleError(
                f"bundle {digest[:12]} is not in this worker's cache for this client"
            ) from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise BundleError(
                f"bundle {digest[:12]} refused: the stored file was modified (it now "
                f"hashes to {actual[:12]}); nothing of it was run"
            )
        manifest = read_manifest(data)
        check_manifest(manifest)
        sources: dict[str, bytes] = {}
        modules = manifest["modules"]
        if not isinstance(modules, Mapping):  # check_manifest refuses it; for the type
            raise BundleError(f"bundle {digest[:12]} is malformed: no module table")
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name, entry in modules.items():
                arc = entry.get("path") if isinstance(entry, Mapping) else None
                if not arc:
                    continue
                try:
                    sources[str(arc)] = archive.read(str(arc))
                except KeyError:
                    raise BundleError(
                        f"bundle {digest[:12]} is malformed: module {name} has no source "
                        f"{arc} in the archive"
                    ) from None
        namespace = Namespace(owner, digest, path, manifest, sources)
        if _FINDER not in sys.meta_path:
            sys.meta_path.insert(0, _FINDER)
        _FINDER.namespaces[namespace.prefix] = namespace
        _LOADED[key] = namespace
        return namespace


def unload_owner(owner: str) -> bool:
    """Forget every namespace of ``owner``: its modules leave ``sys.modules`` and the
    finder; True if anything was loaded."""
    with _LOCK:
        keys = [k for k in _LOADED if k[0] == owner]
        for key in keys:
            namespace = _LOADED.pop(key)
            _FINDER.namespaces.pop(namespace.prefix, None)
            namespace.unload()
        if keys:
            importlib.invalidate_caches()
        return bool(keys)


def resolve(ref: Sequence[str | None], namespaces: Mapping[str, Namespace]) -> Callable[..., Any]:
    """The callable ``ref = (bundle hash or None, module, qualname)`` names.

    From the namespace of that bundle (``namespaces``: hash -> namespace), or imported by
    name (installed code) when the hash is ``None``. An ``@offload`` wrapper (marked with
    :data:`~edgeoffload.runtime.wire.ops.OFFLOADED_MARK`) is unwrapped to the function it
    wraps, so that the function runs here and is never offloaded a second time; a
    ``staticmethod`` to its function.

    Raises
    ------
    BundleError
        The bundle is not among ``namespaces`` (it was not loaded for this job).
    ImportError, AttributeError
        The module or the object is not there.
    TypeError
        The object is not callable.
    """
    if len(ref) != 3 or ref[1] is None or ref[2] is None:
        raise TypeError(f"a function reference is (bundle, module, qualname), got {ref!r}")
    bundle, module, qualname = ref[0], str(ref[1]), str(ref[2])
    if bundle:
        namespace = namespaces.get(bundle)
        if namespace is None:
            raise BundleError(f"bundle {bundle[:12]} of {module}:{qualname} was not loaded")
        target = namespace.resolve(module, qualname)
    else:
        target = _walk(importlib.import_module(module), qualname)
    if getattr(target, OFFLOADED_MARK, False):
        target = target.__wrapped__
    if isinstance(target, staticmethod):
        target = target.__func__
    if not callable(target):
        raise TypeError(f"{module}:{qualname} is not callable")
    return target  # type: ignore[no-any-return]


def renamer(namespaces: Iterable[Namespace]) -> Callable[[str], str]:
    """A ``rename`` for :func:`~edgeoffload.runtime.wire.protocol.loads`: the owner's
    module names to the private names they are loaded under here (others unchanged).

    A module shipped in one of the bundles maps to that bundle's name; otherwise the first
    bundle that ships a module under the same top-level name takes it.
    """
    ordered = list(namespaces)

    def rename(module: str) -> str:
        for namespace in ordered:
            if module in namespace.modules:
                return namespace.worker_name(module)
        for namespace in ordered:
            if module.partition(".")[0] in namespace.top_names:
                return namespace.worker_name(module)
        return module

    return rename
