"""Code packaging: the marked function's module and the application modules it imports.

COFA's *PackagingService* extracts the compute-intensive code and the packages it
references into a separate unit a remote can run, once, at install time. Here the unit is
a **bundle**: a zip holding the source of the decorated function's module and of every
*application* module it imports (found by import analysis with :mod:`ast`, transitively),
plus a manifest. Nothing is pickled by value: a worker imports the same source the client
runs.

What is shipped and what is a requirement
-----------------------------------------
For every module a shipped module imports (absolute or relative, at top level or inside a
function):

- the standard library (``sys.stdlib_module_names``, built-in modules) is neither shipped
  nor recorded: the worker's Python version is checked at connect instead;
- a module of an installed distribution (``importlib.metadata.packages_distributions``),
  ``edgeoffload`` included, is **recorded as a requirement** with the client's version,
  never shipped;
- a module with a ``.py`` source file that belongs to no distribution is **shipped**
  (with its parent packages' ``__init__.py``), and its own imports are analysed in turn;
- anything else (an extension module outside any distribution, a module that cannot be
  found) is listed in :attr:`Bundle.unresolved` and left to the worker's environment.

The bundle is deterministic: entries sorted by name, fixed timestamps and permissions,
a manifest with sorted keys. Its identity is the SHA-256 of its bytes
(:attr:`Bundle.hash`), so two processes packaging the same sources agree on the hash, and
a worker can verify what it was given before running it.

Requirement versions (a decision the papers leave open): a worker accepts a requirement
when the distribution is installed with the same *major* version as the client's (the
same major and minor for ``0.x`` versions); otherwise it refuses the bundle with a message
naming the package and both versions. See :func:`check_requirements`.

Packaging runs once per process for each root module (:func:`build_bundle` caches) and its
cost is kept in :attr:`Bundle.build_seconds` (the paper: +80 % install time, < 1.5 s).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import sys
import sysconfig
import threading
import time
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from edgeoffload._version import __version__
from edgeoffload.errors import BundleError
from edgeoffload.runtime.wire.protocol import PROTOCOL_VERSION

__all__ = [
    "BUNDLE_FORMAT",
    "MANIFEST_NAME",
    "Bundle",
    "build_bundle",
    "check_requirements",
    "clear_bundle_cache",
    "installed_distributions",
    "python_version",
    "read_manifest",
]

BUNDLE_FORMAT = 1
"""Version of the bundle layout; a worker refuses bundles of another format."""

MANIFEST_NAME = "edgeoffload-bundle.json"
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip can hold


def python_version() -> str:
    """This interpreter's ``major.minor``, e.g. ``"3.11"``."""
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


@dataclass(frozen=True, slots=True)
class Bundle:
    """A packaged, content-addressed unit of application code.

    Attributes
    ----------
    hash
        SHA-256 of :attr:`data`, hex.
    data
        The zip archive.
    root
        Module holding the decorated function(s), as the client names it (``__main__``
        for a script).
    modules
        Every shipped module, sorted.
    requirements
        Installed distributions the code imports, name -> the client's version.
    unresolved
        Imported modules that are neither shipped nor a known requirement.
    build_seconds
        Wall time spent packaging, seconds.
    """

    hash: str
    data: bytes
    root: str
    modules: tuple[str, ...]
    requirements: Mapping[str, str] = field(default_factory=dict)
    unresolved: tuple[str, ...] = ()
    build_seconds: float = 0.0

    @property
    def size(self) -> int:
        """Size of the archive, bytes."""
        return len(self.data)

    @property
    def top_names(self) -> tuple[str, ...]:
        """Top-level names of the shipped modules (``"app"`` for ``app.board``)."""
        return tuple(sorted({m.partition(".")[0] for m in self.modules}))


# --------------------------------------------------------------------------- analysis

_DISTRIBUTIONS: dict[str, list[str]] | None = None
_DIST_LOCK = threading.Lock()


def installed_distributions() -> Mapping[str, list[str]]:
    """Top-level import name -> the installed distributions providing it (cached)."""
    global _DISTRIBUTIONS
    with _DIST_LOCK:
        if _DISTRIBUTIONS is None:
            _DISTRIBUTIONS = dict(importlib.metadata.packages_distributions())
        return _DISTRIBUTIONS


def _own_version() -> str:
    try:
        return importlib.metadata.version("edgeoffload")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        return __version__


def _installed_dirs() -> tuple[Path, ...]:
    paths = sysconfig.get_paths()
    dirs = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    return tuple(Path(d).resolve() for d in sorted(dirs))


def _is_stdlib(top: str) -> bool:
    return top in sys.stdlib_module_names or top in sys.builtin_module_names


def _module_source(name: str) -> tuple[Path | None, bool] | None:
    """(source file or None for a namespace package, is_package), or None if not found."""
    module = sys.modules.get(name)
    spec = getattr(module, "__spec__", None) if module is not None else None
    if module is not None and name == "__main__":
        path = getattr(module, "__file__", None)
        return (Path(path), False) if path else None
    if spec is None:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError, AttributeError):
            return None
    if spec is None:
        return None
    is_package = spec.submodule_search_locations is not None
    origin = spec.origin
    if origin is None or origin in ("namespace", "built-in", "frozen"):
        return (None, True) if is_package and origin in (None, "namespace") else None
    return Path(origin), is_package


def _package_of(name: str, is_package: bool) -> str:
    if name == "__main__":
        module = sys.modules.get("__main__")
        return (getattr(module, "__package__", None) or "") if module else ""
    return name if is_package else name.rpartition(".")[0]


def _imported_names(source: str, filename: str, package: str) -> dict[str, bool]:
    """Every module name the source may import -> whether it must exist.

    ``import a.b`` and the ``a`` of ``from a import b`` must exist; ``a.b`` of the latter
    may be a name rather than a module.
    """
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        raise BundleError(f"cannot package {filename}: {exc}") from exc
    names: dict[str, bool] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update((alias.name, True) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if not package:
                    continue  # a relative import outside a package fails on the client too
                try:
                    base = importlib.util.resolve_name(
                        "." * node.level + (node.module or ""), package
                    )
                except ImportError:
                    continue
            else:
                base = node.module or ""
            for alias in node.names:
                names.setdefault(f"{base}.{alias.name}" if base else alias.name, False)
            if base:
                names[base] = True
    names.pop("", None)
    return names


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _under(path: Path, dirs: Iterable[Path]) -> bool:
    return any(path.is_relative_to(d) for d in dirs)


@dataclass
class _Analysis:
    shipped: dict[str, tuple[Path | None, bool]] = field(default_factory=dict)
    requirements: dict[str, str] = field(default_factory=dict)
    unresolved: set[str] = field(default_factory=set)


def _analyse(root: str) -> _Analysis:
    result = _Analysis()
    installed = _installed_dirs()
    dists = installed_distributions()
    found_root = _module_source(root)
    if found_root is None or (found_root[0] is None and not found_root[1]):
        raise BundleError(
            f"cannot package module {root!r}: it has no source file (functions defined "
            "interactively cannot be offloaded; move them into a module)"
        )
    queue: list[tuple[str, bool]] = [(root, True)]  # (name, must exist)
    seen: set[str] = set()
    while queue:
        name, required = queue.pop()
        if name in seen:
            continue
        seen.add(name)
        top = name.partition(".")[0]
        if name != "__main__" and _is_stdlib(top):
            continue
        if top == "edgeoffload":  # an editable install has no top-level metadata
            result.requirements["edgeoffload"] = _own_version()
            continue
        if name != "__main__" and top in dists:
            for dist in dists[top]:
                try:
                    result.requirements[dist] = importlib.metadata.version(dist)
                except importlib.metadata.PackageNotFoundError:
                    result.unresolved.add(name)
            continue
        found = _module_source(name)
        if found is None:
            if required:
                result.unresolved.add(name)
            continue
        path, is_package = found
        if path is not None and (path.suffix != ".py" or _under(path.resolve(), installed)):
            # an installed module without distribution metadata, or an extension module
            if name != "__main__" and path.suffix != ".py":
                result.unresolved.add(name)
            continue
        result.shipped[name] = (path, is_package)
        for parent in _parents(name):
            queue.append((parent, True))
        if path is None:
            continue
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise BundleError(f"cannot read {path} for packaging: {exc}") from exc
        imports = _imported_names(source, str(path), _package_of(name, is_package))
        queue.extend(sorted(imports.items()))
    if root not in result.shipped:
        raise BundleError(
            f"cannot package module {root!r}: it has no source file of its own to ship (it "
            "belongs to the standard library or an installed distribution)"
        )
    # unresolved modules that turned out to be attributes of shipped modules are fine
    result.unresolved = {u for u in result.unresolved if u.rpartition(".")[0] not in result.shipped}
    return result


# --------------------------------------------------------------------------- packaging


def _archive_path(name: str, is_package: bool, has_source: bool) -> str | None:
    if not has_source:
        return None
    base = name.replace(".", "/")
    return f"{base}/__init__.py" if is_package else f"{base}.py"


def _zip_entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3
    info.external_attr = 0o644 << 16
    return info


def _pack(root: str, analysis: _Analysis) -> tuple[bytes, tuple[str, ...]]:
    modules: dict[str, dict[str, object]] = {}
    files: dict[str, bytes] = {}
    for name, (path, is_package) in sorted(analysis.shipped.items()):
        arc = _archive_path(name, is_package, path is not None)
        modules[name] = {"path": arc, "package": is_package}
        if arc is not None and path is not None:
            files[arc] = path.read_bytes()
    manifest = {
        "format": BUNDLE_FORMAT,
        "protocol": PROTOCOL_VERSION,
        "root": root,
        "modules": modules,
        "requirements": dict(sorted(analysis.requirements.items())),
        "unresolved": sorted(analysis.unresolved),
        "python": python_version(),
    }
    files[MANIFEST_NAME] = json.dumps(manifest, sort_keys=True, indent=1).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for arc in sorted(files):
            archive.writestr(_zip_entry(arc), files[arc])
    return buffer.getvalue(), tuple(sorted(modules))


_BUILT: dict[str, Bundle] = {}
_BUILD_LOCK = threading.Lock()


def build_bundle(module: str | ModuleType) -> Bundle:
    """The bundle of ``module`` and the application modules it imports (cached per process).

    Parameters
    ----------
    module
        The module holding the offloaded function(s), or its name.

    Raises
    ------
    BundleError
        The module has no source file (defined interactively) or cannot be parsed.
    """
    name = module if isinstance(module, str) else module.__name__
    with _BUILD_LOCK:
        cached = _BUILT.get(name)
        if cached is not None:
            return cached
        start = time.perf_counter()
        analysis = _analyse(name)
        data, modules = _pack(name, analysis)
        bundle = Bundle(
            hash=hashlib.sha256(data).hexdigest(),
            data=data,
            root=name,
            modules=modules,
            requirements=dict(sorted(analysis.requirements.items())),
            unresolved=tuple(sorted(analysis.unresolved)),
            build_seconds=time.perf_counter() - start,
        )
        _BUILT[name] = bundle
        return bundle


def clear_bundle_cache() -> None:
    """Forget every bundle built in this process (the next call packages afresh)."""
    with _BUILD_LOCK:
        _BUILT.clear()


def read_manifest(data: bytes) -> dict[str, object]:
    """The manifest of a bundle archive (BundleError if it is not one)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            manifest = json.loads(archive.read(MANIFEST_NAME))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise BundleError(f"not a code bundle: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"unsupported bundle format {manifest.get('format')!r}")
    return manifest


def _release(version: str) -> tuple[int, ...]:
    numbers = []
    for part in version.split("."):
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        numbers.append(int(digits))
    return tuple(numbers)


def check_requirements(requirements: Mapping[str, str]) -> list[str]:
    """Problems that stop this interpreter from running code with ``requirements``.

    A distribution must be installed, with the same major version as the client's (the
    same major and minor for ``0.x``). Returns one line per problem, naming the package;
    empty when everything is satisfied.
    """
    problems = []
    for dist, wanted in sorted(requirements.items()):
        try:
            have = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"needs {dist} {wanted}, which is not installed on this worker")
            continue
        w, h = _release(wanted), _release(have)
        width = 2 if (w[:1] == (0,)) else 1
        if w[:width] != h[:width]:
            problems.append(f"needs {dist} {wanted} (the client's), but this worker has {have}")
    return problems
