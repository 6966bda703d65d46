"""The package's architecture, checked from its source: imports point one way.

Every ``import`` of every module is read with :mod:`ast`, function-level imports included
and ``if TYPE_CHECKING:`` blocks excluded (they never run). The rules (docs/runtime.md,
"Layers"):

- no import cycle anywhere in the package;
- an underscore name, or anything of an underscore module, is imported only from inside
  the package that owns it;
- the runtime's layers import downwards only: host < wire < worker < client < dag;
- only the Dask adapter imports ``distributed``, only the simulation engine imports
  ``simpy``, only ``plots`` imports ``matplotlib``, nothing imports ``cli``;
- no source file is longer than 800 lines;
- every exception class is defined in ``errors.py`` and is an ``EdgeOffloadError``.

``make lint`` runs this file too.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "edgeoffload"
RUNTIME_LAYERS = ("host", "wire", "worker", "client", "dag")
MAX_LINES = 800


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # the module imported (a package's __init__ counts as the package)
    name: str  # the dotted name as written, with the imported item
    line: int


@functools.cache
def _modules() -> dict[str, Path]:
    """Every module of the package (by dotted name), read once on first use."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(tree: ast.AST) -> Iterator[ast.stmt]:
    """Every statement that may run: nested ones included, TYPE_CHECKING blocks not."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for other in node.orelse:
                yield other
                yield from _statements(other)
            continue
        if isinstance(node, ast.stmt):
            yield node
        yield from _statements(node)


def _imports(module: str) -> list[Import]:
    modules = _modules()
    path = modules[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in _statements(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names = [(source, alias.name) for alias in node.names]
        else:
            continue
        for source, item in names:
            full = f"{source}.{item}" if item else source
            target = full if full in modules else source
            while target and target not in modules and "." in target:
                target = target.rpartition(".")[0]
            out.append(Import(module, target, full, node.lineno))
    return out


@functools.cache
def _all_imports() -> dict[str, list[Import]]:
    """Every module's imports (parsed once, on first use: not when the file is collected)."""
    return {module: _imports(module) for module in _modules()}


def _edges() -> dict[str, set[str]]:
    modules = _modules()
    return {
        m: {i.target for i in imports if i.target in modules and i.target != m}
        for m, imports in _all_imports().items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _owner(dotted: str) -> tuple[str, str] | None:
    """(the private part, the package owning it) of a dotted name, if it has one."""
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            owner = ".".join(parts[:i])
            # a private name owned by a module belongs to that module's package
            modules = _modules()
            if owner in modules and modules[owner].name != "__init__.py":
                owner = owner.rpartition(".")[0]
            return part, owner
    return None


def _runtime_layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) >= 3 and parts[:2] == ["edgeoffload", "runtime"] and parts[2] in RUNTIME_LAYERS:
        return RUNTIME_LAYERS.index(parts[2])
    return None


def test_there_is_no_import_cycle() -> None:
    """Function-level imports count: a cycle hidden inside a function is still one."""
    assert _cycles(_edges()) == []


def test_private_names_are_imported_only_inside_their_package() -> None:
    offences = []
    for imports in _all_imports().values():
        for i in imports:
            if not i.name.startswith("edgeoffload"):
                continue
            private = _owner(i.name)
            if private is None:
                continue
            part, owner = private
            if not (i.importer == owner or i.importer.startswith(owner + ".")):
                offences.append(f"{i.importer}:{i.line} imports {i.name} ({part} is {owner}'s)")
    assert offences == []


def test_runtime_layers_import_downwards_only() -> None:
    offences = []
    for module, imports in _all_imports().items():
        mine = _runtime_layer(module)
        if mine is None:
            continue
        for i in imports:
            theirs = _runtime_layer(i.target)
            if i.target == "edgeoffload.runtime":
                offences.append(f"{module}:{i.line} imports the runtime's public API")
            elif theirs is not None and theirs > mine:
                offences.append(
                    f"{module}:{i.line} ({RUNTIME_LAYERS[mine]}) imports {i.target} "
                    f"({RUNTIME_LAYERS[theirs]})"
                )
    assert offences == []


@pytest.mark.parametrize(
    ("library", "allowed"),
    [
        pytest.param(
            "distributed",
            ("edgeoffload.runtime.wire.dask_api",),
            id="distributed",
        ),
        pytest.param("dask", ("edgeoffload.runtime.wire.dask_api",), id="dask"),
        pytest.param("simpy", ("edgeoffload.simulation.engine",), id="simpy"),
        pytest.param("matplotlib", ("edgeoffload.plots",), id="matplotlib"),
        pytest.param("edgeoffload.cli", ("edgeoffload.cli", "edgeoffload.__main__"), id="cli"),
    ],
)
def test_only_its_adapter_imports_a_library(library: str, allowed: tuple[str, ...]) -> None:
    offences = [
        f"{i.importer}:{i.line} imports {i.name}"
        for imports in _all_imports().values()
        for i in imports
        if (i.name == library or i.name.startswith(library + "."))
        and not any(i.importer == a or i.importer.startswith(a + ".") for a in allowed)
    ]
    assert offences == []


def test_no_source_file_is_longer_than_800_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in sorted(PACKAGE.rglob("*.py"))
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def _exception_classes() -> Iterator[tuple[str, str]]:
    """(module, class) of every class whose bases name an exception or error."""
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(b) for b in node.bases]
                if any(b.endswith(("Error", "Exception", "Warning")) for b in bases):
                    yield str(path.relative_to(PACKAGE)), node.name


def test_every_exception_is_in_the_one_tree() -> None:
    """errors.py defines every exception class, each an EdgeOffloadError."""
    import edgeoffload.errors as errors

    found = list(_exception_classes())
    assert [module for module, _ in found if module != "errors.py"] == []
    names = {name for _, name in found}
    assert names == set(errors.__all__)
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.EdgeOffloadError), name


class TestTheChecker:
    """The rules above would pass vacuously if the reader saw no imports."""

    def test_function_level_imports_are_read(self) -> None:
        names = {i.name for i in _all_imports()["edgeoffload.cli.cmd_runtime"]}
        assert "edgeoffload.runtime.worker.service.run_worker" in names

    def test_type_checking_imports_are_not(self) -> None:
        names = {i.name for i in _all_imports()["edgeoffload.runtime.client.current"]}
        assert "edgeoffload.runtime.client.session.Session" not in names

    def test_a_cycle_is_found(self) -> None:
        assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]

    def test_a_private_name_belongs_to_its_modules_package(self) -> None:
        assert _owner("edgeoffload.model.checks.check_id") is None
        assert _owner("edgeoffload.netem.network._wait_line") == ("_wait_line", "edgeoffload.netem")
        assert _owner("edgeoffload._version.__version__") == ("_version", "edgeoffload")
