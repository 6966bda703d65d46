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
  never shipped — unless it is an *editable* install (the application's own package,
  ``pip install -e .``: its ``direct_url.json`` says so) or the user named it in
  ``ship``: then it is shipped like application code;
- a package named in ``ship`` is shipped whole, every module of it, imported or not
  (plugins loaded with ``importlib.import_module`` included);
- a module with a ``.py`` source file that belongs to no distribution is **shipped**
  (with its parent packages' ``__init__.py``), and its own imports are analysed in turn;
- anything else (an extension module outside any distribution, a module that cannot be
  found) is listed in :attr:`Bundle.unresolved` and left to the worker's environment.

A root module that is itself part of an installed distribution (``offload(networkx.…)``)
ships nothing: the worker imports it by name, and the distribution is a requirement.

Data files travel with the code: every file of a shipped package's folder (not its
sub-packages', which come with them when shipped) and the files beside a shipped
top-level module, except Python sources and bytecode, extension modules, hidden files and
``__pycache__``. A file over :data:`MAX_DATA_FILE` bytes, or past :data:`MAX_DATA_BYTES`
in all, is left out and named in :attr:`Bundle.notes`. A worker extracts them beside the
modules' ``__file__``, so ``Path(__file__).parent / "weights.json"`` and
:mod:`importlib.resources` find them.

Requirements per function: :func:`function_requirements` keeps only the distributions a
function can reach — the modules its code names (globals, closures, imports inside it),
followed through the functions and classes of its own module it uses and the whole import
graph of the other modules. A worker that lacks a distribution still takes the bundle
and runs the functions that do not need it.

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
import contextlib
import functools
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import sys
import threading
import time
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

from edgeoffload._version import __version__
from edgeoffload.errors import BundleError
from edgeoffload.runtime.wire.protocol import PROTOCOL_VERSION, WORKER_MODULE_PREFIX

__all__ = [
    "BUNDLE_FORMAT",
    "MANIFEST_NAME",
    "Bundle",
    "build_bundle",
    "check_requirements",
    "clear_bundle_cache",
    "function_requirements",
    "installed_distributions",
    "python_version",
    "read_manifest",
    "requirement_problems",
    "unshipped_modules",
]

BUNDLE_FORMAT = 2
"""Version of the bundle layout; a worker refuses bundles of another format."""

MAX_DATA_FILE = 16 * 1024 * 1024
"""Largest data file a bundle carries, bytes."""

MAX_DATA_BYTES = 64 * 1024 * 1024
"""Most data a bundle carries in all, bytes."""

_NOT_DATA = frozenset({".py", ".pyc", ".pyo", ".so", ".pyd", ".dll", ".dylib"})

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
    data_files
        Archive paths of the data files carried.
    notes
        What was left out (data files too large), one line each.
    graph
        Each shipped module -> the modules it imports that exist.
    requirement_modules
        Top-level import name -> the distribution providing it, for each requirement.
    """

    hash: str
    data: bytes
    root: str
    modules: tuple[str, ...]
    requirements: Mapping[str, str] = field(default_factory=dict)
    unresolved: tuple[str, ...] = ()
    build_seconds: float = 0.0
    data_files: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    graph: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    requirement_modules: Mapping[str, str] = field(default_factory=dict)

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


def _is_stdlib(top: str) -> bool:
    return top in sys.stdlib_module_names or top in sys.builtin_module_names


def unshipped_modules(modules: Iterable[str], bundle: Bundle) -> tuple[str, ...]:
    """The application modules among ``modules`` (those a call's pickle names) that
    ``bundle`` does not carry: loaded from a ``.py`` file, neither the standard library nor
    an installed distribution (an editable one excepted, as in :func:`build_bundle`)."""
    dists = installed_distributions()
    found = []
    for module in modules:
        top = module.partition(".")[0]
        if (
            module in bundle.modules
            or _is_stdlib(top)
            or top == "edgeoffload"
            or (top in dists and not _is_editable(top))
            or module.startswith(WORKER_MODULE_PREFIX)
        ):
            continue
        source = getattr(sys.modules.get(module), "__file__", None)
        if isinstance(source, str) and source.endswith(".py"):
            found.append(module)
    return tuple(sorted(found))


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


@dataclass
class _Analysis:
    shipped: dict[str, tuple[Path | None, bool]] = field(default_factory=dict)
    requirements: dict[str, str] = field(default_factory=dict)
    requirement_modules: dict[str, str] = field(default_factory=dict)
    unresolved: set[str] = field(default_factory=set)
    graph: dict[str, set[str]] = field(default_factory=dict)


@functools.lru_cache(maxsize=1024)
def _is_editable(top: str) -> bool:
    """Whether the installed package ``top`` is an editable install (``pip install -e``):
    its distribution's ``direct_url.json`` says so (PEP 610). Read once per process."""
    for dist in installed_distributions().get(top, ()):
        try:
            text = importlib.metadata.distribution(dist).read_text("direct_url.json")
            info = json.loads(text) if text else {}
        except (importlib.metadata.PackageNotFoundError, ValueError, OSError):
            continue
        if isinstance(info, dict) and (info.get("dir_info") or {}).get("editable"):
            return True
    return False


def _require(result: _Analysis, name: str, top: str, dists: Mapping[str, list[str]]) -> None:
    if top == "edgeoffload":  # an editable install has no top-level metadata
        result.requirements["edgeoffload"] = _own_version()
        result.requirement_modules[top] = "edgeoffload"
        return
    for dist in dists[top]:
        try:
            result.requirements[dist] = importlib.metadata.version(dist)
            result.requirement_modules.setdefault(top, dist)
        except importlib.metadata.PackageNotFoundError:
            result.unresolved.add(name)


def _analyse(roots: Iterable[str], ship: Iterable[str] = ()) -> _Analysis:
    result = _Analysis()
    dists = installed_distributions()
    shipped_tops = set(ship)
    queue: list[tuple[str, bool, str | None]] = []  # (name, must exist, imported by)
    for root in roots:
        found_root = _module_source(root)
        if found_root is None or (found_root[0] is None and not found_root[1]):
            raise BundleError(
                f"cannot package module {root!r}: it has no source file (functions defined "
                "interactively cannot be offloaded; move them into a module)"
            )
        queue.append((root, True, None))
    for top in sorted(shipped_tops):  # every module of a named package, imported or not
        queue.extend((name, False, None) for name in _package_modules(top))
    seen: set[str] = set()
    while queue:
        name, required, importer = queue.pop()
        if importer is not None:
            result.graph.setdefault(importer, set()).add(name)
        if name in seen:
            continue
        seen.add(name)
        top = name.partition(".")[0]
        if name != "__main__" and _is_stdlib(top):
            continue
        if (
            name != "__main__"
            and top not in shipped_tops
            and (top in dists or top == "edgeoffload")
            and (top == "edgeoffload" or not _is_editable(top))
        ):
            _require(result, name, top, dists)
            continue
        found = _module_source(name)
        if found is None:
            if required:
                result.unresolved.add(name)
            continue
        path, is_package = found
        if path is not None and path.suffix != ".py":  # an extension module of no distribution
            if name != "__main__":
                result.unresolved.add(name)
            continue
        result.shipped[name] = (path, is_package)
        result.graph.setdefault(name, set())
        for parent in _parents(name):
            queue.append((parent, True, None))
        if path is None:
            continue
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise BundleError(f"cannot read {path} for packaging: {exc}") from exc
        imports = _imported_names(source, str(path), _package_of(name, is_package))
        queue.extend((imported, must, name) for imported, must in sorted(imports.items()))
    # unresolved modules that turned out to be attributes of shipped modules are fine
    result.unresolved = {u for u in result.unresolved if u.rpartition(".")[0] not in result.shipped}
    return result


def _package_modules(top: str) -> list[str]:
    """Every module of package ``top`` with a ``.py`` file (sub-packages included)."""
    found = _module_source(top)
    if found is None or found[0] is None or not found[1]:
        return [top]
    base = found[0].parent
    names = []
    for file in sorted(base.rglob("*.py")):
        parts = [top, *file.relative_to(base).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        if all(part.isidentifier() for part in parts) and "__pycache__" not in parts:
            names.append(".".join(parts))
    return names


def _function_names(code: CodeType, into: set[str]) -> None:
    into.update(code.co_names)
    into.update(code.co_freevars)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            _function_names(const, into)


def _referenced_modules(function: Any, home: str) -> set[str]:
    """Modules a function's code can reach, following what it uses of its own module."""
    modules: set[str] = set()
    stack: list[Any] = [function]
    done: set[int] = set()
    while stack:
        obj = stack.pop()
        if id(obj) in done:
            continue
        done.add(id(obj))
        code = getattr(obj, "__code__", None)
        if code is None:
            if isinstance(obj, type):  # a class of the home module: its methods
                stack.extend(v for v in vars(obj).values() if callable(v) or hasattr(v, "__func__"))
            continue
        names: set[str] = set()
        _function_names(code, names)
        scope: Mapping[str, Any] = getattr(obj, "__globals__", None) or {}
        cells: dict[str, Any] = {}
        closure = getattr(obj, "__closure__", None) or ()
        for cell_name, cell in zip(code.co_freevars, closure, strict=False):
            with contextlib.suppress(ValueError):
                cells[cell_name] = cell.cell_contents
        for name in names:
            if name in cells:
                value = cells[name]
            elif name in scope:
                value = scope[name]
            else:
                modules.add(name)  # perhaps `import name` inside the function
                continue
            if isinstance(value, ModuleType):
                modules.add(value.__name__)
                continue
            module = getattr(value, "__module__", None)
            if not isinstance(module, str):
                module = type(value).__module__
            if module == home and (callable(value) or isinstance(value, type)):
                stack.append(getattr(value, "__wrapped__", value))
            modules.add(module)
    return modules


def function_requirements(function: Any, bundle: Bundle) -> dict[str, str]:
    """The distributions (name -> the client's version) ``function`` may need.

    Those reached from the modules its code names, following the functions and classes of
    its own module it uses and the whole import graph of every other shipped module; a
    subset of ``bundle.requirements``. Access by string (``getattr``, ``eval``,
    ``importlib.import_module``) is not seen: such a call reports a
    :class:`ModuleNotFoundError` from a worker that lacks the package.
    """
    home = str(getattr(function, "__module__", "") or bundle.root)
    referenced = _referenced_modules(function, home)
    needed: dict[str, str] = {}
    seen: set[str] = set()
    queue = [m for m in referenced if m != home]
    if home not in bundle.graph:  # installed code, imported by name on the worker
        queue.append(home)
    while queue:
        module = queue.pop()
        if module in seen:
            continue
        seen.add(module)
        top = module.partition(".")[0]
        dist = bundle.requirement_modules.get(top)
        if dist is not None:
            needed[dist] = bundle.requirements[dist]
            continue
        queue.extend(bundle.graph.get(module, ()))
        queue.extend(p for p in _parents(module) if p in bundle.graph)
    return needed


def _data_files(analysis: _Analysis) -> tuple[dict[str, Path], list[str]]:
    """Archive path -> file, of the data files the shipped modules carry, and notes."""
    found: dict[str, Path] = {}
    folders: list[tuple[Path, str, bool]] = []  # (folder, archive prefix, recursive)
    for name, (path, is_package) in sorted(analysis.shipped.items()):
        if path is None:
            continue
        if is_package:
            folders.append((path.parent, name.replace(".", "/") + "/", True))
        elif "." not in name:  # a top-level module (or a script): the files beside it
            folders.append((path.parent, "", False))
    notes: list[str] = []
    total = 0
    for folder, prefix, recursive in folders:
        for file in _folder_files(folder, recursive):
            arc = prefix + file.relative_to(folder).as_posix()
            if arc in found:
                continue
            try:
                size = file.stat().st_size
            except OSError:
                continue
            if size > MAX_DATA_FILE or total + size > MAX_DATA_BYTES:
                notes.append(
                    f"data file {file} ({size / 2**20:.1f} MiB) left out of the bundle: a "
                    f"bundle carries files up to {MAX_DATA_FILE // 2**20} MiB, "
                    f"{MAX_DATA_BYTES // 2**20} MiB in all"
                )
                continue
            found[arc] = file
            total += size
    return found, notes


def _folder_files(folder: Path, recursive: bool) -> list[Path]:
    files: list[Path] = []
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return files
    for entry in entries:
        if entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        if entry.is_symlink() and not entry.exists():
            continue
        if entry.is_dir():
            if recursive and not (entry / "__init__.py").exists():
                files.extend(_folder_files(entry, True))
            continue
        if entry.is_file() and entry.suffix not in _NOT_DATA:
            files.append(entry)
    return files


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


def _pack(
    root: str, analysis: _Analysis, data_files: Mapping[str, Path]
) -> tuple[bytes, tuple[str, ...]]:
    modules: dict[str, dict[str, object]] = {}
    files: dict[str, bytes] = {}
    taken = {_archive_path(n, p, f is not None) for n, (f, p) in analysis.shipped.items()}
    for name, (path, is_package) in sorted(analysis.shipped.items()):
        arc = _archive_path(name, is_package, path is not None)
        if name == "__main__" and path is not None and path.name not in taken:
            arc = path.name  # the script's own file name: its __file__ ends as it does here
        modules[name] = {"path": arc, "package": is_package}
        if arc is not None and path is not None:
            files[arc] = path.read_bytes()
    data: list[str] = []
    for arc, file in sorted(data_files.items()):
        if arc in files or arc == MANIFEST_NAME:
            continue
        try:
            files[arc] = file.read_bytes()
        except OSError as exc:
            raise BundleError(f"cannot read data file {file} for packaging: {exc}") from exc
        data.append(arc)
    manifest = {
        "format": BUNDLE_FORMAT,
        "protocol": PROTOCOL_VERSION,
        "root": root,
        "modules": modules,
        "data": data,
        "requirements": dict(sorted(analysis.requirements.items())),
        "requirement_modules": dict(sorted(analysis.requirement_modules.items())),
        "unresolved": sorted(analysis.unresolved),
        "python": python_version(),
    }
    files[MANIFEST_NAME] = json.dumps(manifest, sort_keys=True, indent=1).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for arc in sorted(files):
            archive.writestr(_zip_entry(arc), files[arc])
    return buffer.getvalue(), tuple(sorted(modules))


_BUILT: dict[tuple[str, tuple[str, ...], tuple[str, ...]], Bundle] = {}
_BUILD_LOCK = threading.Lock()


def build_bundle(
    module: str | ModuleType, *, ship: Iterable[str] = (), extra: Iterable[str] = ()
) -> Bundle:
    """The bundle of ``module`` and the application modules it imports (cached per process).

    Parameters
    ----------
    module
        The module holding the offloaded function(s), or its name.
    ship
        Top-level names of installed packages to ship as source anyway.
    extra
        More application modules to carry (those of a call's argument classes).

    Raises
    ------
    BundleError
        The module has no source file (defined interactively) or cannot be parsed.
    """
    name = module if isinstance(module, str) else module.__name__
    key = (name, tuple(sorted(set(ship))), tuple(sorted(set(extra) - {name})))
    with _BUILD_LOCK:
        cached = _BUILT.get(key)
        if cached is not None:
            return cached
        start = time.perf_counter()
        analysis = _analyse([name, *key[2]], key[1])
        data_files, notes = _data_files(analysis)
        data, modules = _pack(name, analysis, data_files)
        bundle = Bundle(
            hash=hashlib.sha256(data).hexdigest(),
            data=data,
            root=name,
            modules=modules,
            requirements=dict(sorted(analysis.requirements.items())),
            unresolved=tuple(sorted(analysis.unresolved)),
            build_seconds=time.perf_counter() - start,
            data_files=tuple(sorted(a for a in data_files if a not in modules)),
            notes=tuple(notes),
            graph={m: tuple(sorted(i)) for m, i in sorted(analysis.graph.items())},
            requirement_modules=dict(sorted(analysis.requirement_modules.items())),
        )
        _BUILT[key] = bundle
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


def requirement_problems(requirements: Mapping[str, str]) -> dict[str, str]:
    """Distribution -> why this interpreter cannot satisfy it, for ``requirements``.

    A distribution must be installed, with the same major version as the client's (the
    same major and minor for ``0.x``). Empty when everything is satisfied.
    """
    problems: dict[str, str] = {}
    for dist, wanted in sorted(requirements.items()):
        try:
            have = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            problems[dist] = f"needs {dist} {wanted}, which is not installed on this worker"
            continue
        w, h = _release(wanted), _release(have)
        width = 2 if (w[:1] == (0,)) else 1
        if w[:width] != h[:width]:
            problems[dist] = f"needs {dist} {wanted} (the client's), but this worker has {have}"
    return problems


def check_requirements(requirements: Mapping[str, str]) -> list[str]:
    """Problems that stop this interpreter from running code with ``requirements``: one
    line per distribution (:func:`requirement_problems`), empty when all are satisfied."""
    return list(requirement_problems(requirements).values())
