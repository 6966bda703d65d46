"""Importing an owner's bundle under a private name, from verified bytes in memory.

This runs in the executor's child processes (:mod:`.child`), never in the worker process.

Verification: :func:`load_bundle` reads a stored bundle once, checks that its bytes hash to
the digest it was asked for and that its manifest is acceptable here
(:func:`~edgeoffload.runtime.worker.cache.check_manifest`), and keeps the sources of its
modules in memory. Every module is compiled from those verified bytes when it is
imported, however much later that is, so editing the stored file after it was loaded
changes nothing that runs, and a file edited before it was loaded is refused
(:class:`~edgeoffload.errors.BundleError`, "was modified") before anything of it runs.
Tracebacks name a module's place inside the archive (``<store>/<hash>.zip/app/board.py``,
as :mod:`zipimport` does) and read their source lines from memory (``get_source``).

Files: the verified archive is also extracted once, beside the stored bundle
(``<store>/<hash>.files/``), so that a module's ``__file__`` and a package's ``__path__``
are real paths and the data files that came with the code are found where the code
looks for them (``Path(__file__).parent / "weights.json"``, :mod:`importlib.resources`).
The extracted sources are never executed.

Missing packages: a requirement this worker lacks (:func:`~.cache.check_manifest`) does
not stop the bundle's other functions. An ``import`` of it at the top level of a bundle
module gives a placeholder that raises :class:`ModuleNotFoundError` when used, so the
module still loads; inside a function the import raises at once. The client sends a
worker only the functions whose own requirements it meets.

Isolation: each (owner, bundle) pair is imported under its own private package name,
``_eo_<owner key>_<hash prefix>``: the owner's ``app.board`` becomes
``_eo_1f2e3d4c5b_a1b2c3d4e5f6.app.board`` in ``sys.modules``. Two owners that both ship
a module named ``app`` therefore never see each other's code, and neither sees an
installed ``app``. Inside bundle code, ``import app.board`` and ``from app import board``
are redirected to the private names by a per-namespace ``__import__`` in the modules'
``__builtins__``; relative imports work as usual. While a job runs (:func:`activate`,
from the moment its bundles are loaded: their modules' top-level code included), an
import by string — ``importlib.import_module("app")``, ``importlib.resources.files("app")``
— finds the job's own modules too; the aliases are gone when the job ends. Unpickling
maps names the same way (:func:`renamer`, for
:func:`edgeoffload.runtime.wire.protocol.loads`).
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import importlib
import importlib.abc
import importlib.machinery
import io
import linecache
import os
import shutil
import sys
import threading
import types
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
    "activate",
    "active",
    "deactivate",
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
    files
        The folder the archive was extracted to (``__file__`` and data files).
    missing
        Distribution -> why this worker cannot satisfy it, for the manifest's requirements.
    """

    def __init__(
        self,
        owner: str,
        digest: str,
        path: Path,
        manifest: Mapping[str, Any],
        sources: Mapping[str, bytes],
        files: Path | None = None,
        missing: Mapping[str, str] | None = None,
    ) -> None:
        self.owner = owner
        self.digest = digest
        self.path = path
        self.files = files
        requirement_modules = manifest.get("requirement_modules") or {}
        self.missing_tops: dict[str, str] = {
            str(top): str((missing or {})[dist])
            for top, dist in dict(requirement_modules).items()
            if dist in (missing or {})
        }
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
        """What tracebacks call archive member ``arc``."""
        return f"{self.path}/{arc}"

    def real_path(self, arc: str) -> str:
        """Where archive member ``arc`` was extracted (its module's ``__file__``)."""
        if self.files is None:
            return self.filename(arc)
        return str(self.files / arc)

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
        top = name.partition(".")[0]
        if level == 0 and top in self.missing_tops:
            return self._missing(name, top, fromlist)
        if level == 0 and top in self.top_names:
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

    def _missing(self, name: str, top: str, fromlist: Sequence[str] | None) -> ModuleType:
        why = self.missing_tops[top]
        caller = sys._getframe(2)  # the importing code (below this and __import__)
        if caller.f_code.co_name != "<module>":
            raise ModuleNotFoundError(f"cannot import {name}: the worker {why}", name=name)
        placeholder = _MissingModule(name, why)
        return placeholder

    def unload(self) -> None:
        """Forget every module of this namespace (``sys.modules``, cached source lines)."""
        for name in [n for n in sys.modules if n == self.prefix or n.startswith(self.prefix + ".")]:
            sys.modules.pop(name, None)
        for arc in self.sources:
            linecache.cache.pop(self.filename(arc), None)


class _MissingName:
    """What ``from pkg import name`` gives for a package the worker lacks: any use raises."""

    def __init__(self, name: str, why: str) -> None:
        self._name = name
        self._why = why

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise ModuleNotFoundError(
            f"{self._name} is not available: the worker {self._why}", name=self._name
        )

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return _MissingName(f"{self._name}.{attr}", self._why)

    __call__ = _fail
    __getitem__ = _fail
    __iter__ = _fail
    __len__ = _fail
    __bool__ = _fail

    def __repr__(self) -> str:
        return f"<missing {self._name}: the worker {self._why}>"


class _MissingModule(types.ModuleType):
    """A placeholder for a package the worker lacks, imported at a module's top level."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(name)
        self.__dict__["_why"] = why

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return _MissingName(f"{self.__name__}.{attr}", self.__dict__["_why"])


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

    def get_resource_reader(self, fullname: str) -> _ResourceReader | None:
        """The package's files for :mod:`importlib.resources` (extracted data files)."""
        files = self.namespace.files
        _, _, rest = fullname.partition(".")
        if files is None or not rest or self.arc is None or not self.arc.endswith("__init__.py"):
            return None
        return _ResourceReader(files / rest.replace(".", "/"))


class _ResourceReader:
    """``importlib.resources``' view of an extracted package folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def files(self) -> Path:
        return self.folder


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
            origin=namespace.real_path(arc) if arc else None,
            is_package=is_package,
        )
        spec.has_location = arc is not None
        if is_package:
            spec.submodule_search_locations = [namespace.real_path(rest.replace(".", "/"))]
        return spec


class _AliasLoader(importlib.abc.Loader):
    """Gives an already imported private module under the name the owner knows it by."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.real_spec = module.__spec__

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return self.module

    def exec_module(self, module: ModuleType) -> None:
        return None

    def get_resource_reader(self, fullname: str) -> Any:
        loader = getattr(self.real_spec, "loader", None)
        reader = getattr(loader, "get_resource_reader", None)
        return reader(self.module.__name__) if reader is not None else None


class _AliasFinder(importlib.abc.MetaPathFinder):
    """While a job runs, finds its owner's module names (imports by string)."""

    def __init__(self) -> None:
        self.namespaces: list[Namespace] = []
        self.aliases: list[tuple[str, ModuleType, Any]] = []

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        top = fullname.partition(".")[0]
        for namespace in self.namespaces:
            if top in namespace.top_names and fullname in namespace.modules:
                module = namespace.import_module(fullname)
                loader = _AliasLoader(module)
                self.aliases.append((fullname, module, module.__spec__))
                return importlib.machinery.ModuleSpec(
                    fullname,
                    loader,
                    origin=getattr(module, "__file__", None),
                    is_package=hasattr(module, "__path__"),
                )
        return None


_ALIASES = _AliasFinder()


def activate(namespaces: Iterable[Namespace]) -> None:
    """Let imports by string find these namespaces' modules by their owner's names until
    :func:`deactivate` (one job at a time: the child runs jobs in its main thread)."""
    _ALIASES.namespaces = list(namespaces)
    if _ALIASES not in sys.meta_path:
        sys.meta_path.append(_ALIASES)


def deactivate() -> None:
    """Undo :func:`activate`: the aliases leave ``sys.modules`` (idempotent)."""
    _ALIASES.namespaces = []
    for name, module, spec in reversed(_ALIASES.aliases):
        if sys.modules.get(name) is module:
            del sys.modules[name]
        module.__spec__ = spec
    _ALIASES.aliases.clear()


@contextlib.contextmanager
def active(namespaces: Iterable[Namespace]) -> Iterator[None]:
    """:func:`activate` for the duration of a ``with`` block."""
    activate(namespaces)
    try:
        yield
    finally:
        deactivate()


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
        missing = check_manifest(manifest)
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
        files = _extract(data, path)
        namespace = Namespace(owner, digest, path, manifest, sources, files, missing)
        if _FINDER not in sys.meta_path:
            sys.meta_path.insert(0, _FINDER)
        _FINDER.namespaces[namespace.prefix] = namespace
        _LOADED[key] = namespace
        return namespace


def _extract(data: bytes, path: Path) -> Path | None:
    """The folder beside ``path`` holding the verified archive's files (made once; None
    where it cannot be written: modules then name their place in the archive)."""
    target = path.with_suffix(".files")
    if target.is_dir():
        return target
    staging = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.files")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                name = info.filename
                if name.startswith("/") or ".." in name.split("/"):
                    continue  # never write outside the folder
                out = staging / name
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(archive.read(info))
        os.replace(staging, target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not target.is_dir():  # another process extracted it first, or no room
            return None
    return target


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
