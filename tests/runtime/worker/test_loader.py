"""Loading a bundle under a private name, from verified bytes (in this process)."""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeoffload.errors import BundleError
from edgeoffload.runtime.wire.bundles import Bundle
from edgeoffload.runtime.wire.ops import OFFLOADED_MARK
from edgeoffload.runtime.wire.protocol import client_module_name, dumps, loads
from edgeoffload.runtime.worker.cache import CodeStore
from edgeoffload.runtime.worker.loader import (
    is_loaded,
    load_bundle,
    renamer,
    resolve,
    unload_owner,
)
from worker_bundles import CALLS, variant


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CodeStore]:
    s = CodeStore("loader", base=tmp_path)
    yield s
    for owner in ("alice", "bob"):
        unload_owner(owner)
    s.close()


def _loaded_names(prefix: str) -> list[str]:
    return sorted(n for n in sys.modules if n == prefix or n.startswith(prefix + "."))


class TestLoad:
    def test_bundle_code_runs_under_a_private_name(self, store: CodeStore, bundle: Bundle) -> None:
        """A resolved function runs the bundle's code, imported under the owner's prefix."""
        store.put("alice", bundle.hash, bundle.data)
        namespace = load_bundle("alice", bundle.hash, store.path("alice", bundle.hash))
        assert is_loaded("alice", bundle.hash)
        add = resolve((bundle.hash, CALLS, "add"), {bundle.hash: namespace})
        assert add(2, 3) == 5
        assert add.__module__ == f"{namespace.prefix}.{CALLS}"
        assert namespace.prefix.startswith("_eo_")
        assert load_bundle("alice", bundle.hash, Path("/nonexistent")) is namespace

    def test_wrappers_and_staticmethods_are_unwrapped(
        self, store: CodeStore, bundle: Bundle
    ) -> None:
        """An @offload wrapper resolves to the function it marks; a staticmethod to its
        function."""
        store.put("alice", bundle.hash, bundle.data)
        namespace = load_bundle("alice", bundle.hash, store.path("alice", bundle.hash))
        namespaces = {bundle.hash: namespace}
        scaled = resolve((bundle.hash, CALLS, "scaled"), namespaces)
        assert not getattr(scaled, OFFLOADED_MARK, False)
        point = namespace.resolve("eo_workerapp.shapes", "Point")(1, 2)
        assert scaled(point, 3) == namespace.resolve("eo_workerapp.shapes", "Point")(3, 6)
        double = resolve((bundle.hash, CALLS, "Tools.double"), namespaces)
        assert double(21) == 42

    def test_installed_code_is_imported_by_name(self) -> None:
        """Without a bundle, the module is imported as installed here."""
        assert resolve((None, "json", "dumps"), {}) is json.dumps

    def test_a_missing_object_and_a_foreign_bundle_are_errors(
        self, store: CodeStore, bundle: Bundle
    ) -> None:
        """An unknown name raises AttributeError; a bundle not loaded raises BundleError."""
        store.put("alice", bundle.hash, bundle.data)
        namespace = load_bundle("alice", bundle.hash, store.path("alice", bundle.hash))
        with pytest.raises(AttributeError, match="nope"):
            resolve((bundle.hash, CALLS, "nope"), {bundle.hash: namespace})
        with pytest.raises(BundleError, match="was not loaded"):
            resolve(("f" * 64, CALLS, "add"), {bundle.hash: namespace})
        with pytest.raises(TypeError, match="not callable"):
            resolve((None, "os", "sep"), {})


class TestVerification:
    def test_a_tampered_file_is_refused_before_anything_runs(
        self, store: CodeStore, bundle: Bundle
    ) -> None:
        """A stored bundle edited on disk is refused when loaded; none of it is imported."""
        store.put("alice", bundle.hash, bundle.data)
        path = store.path("alice", bundle.hash)
        data = bytearray(path.read_bytes())
        data[-10] ^= 0x01
        path.write_bytes(bytes(data))
        with pytest.raises(BundleError, match="was modified"):
            load_bundle("alice", bundle.hash, path)
        assert not is_loaded("alice", bundle.hash)
        assert not any(n.startswith("_eo_") and bundle.hash[:12] in n for n in sys.modules)

    def test_a_missing_file_is_reported_as_not_in_the_cache(self, bundle: Bundle) -> None:
        """A bundle whose file is gone is refused with the words clients look for."""
        with pytest.raises(BundleError, match="not in this worker's cache"):
            load_bundle("alice", bundle.hash, Path("/nonexistent/x.zip"))

    def test_editing_the_file_after_loading_changes_nothing_that_runs(
        self, store: CodeStore, bundle: Bundle
    ) -> None:
        """A module imported after its stored file was edited runs the verified source
        (issue finding 6: every module is compiled from the verified bytes)."""
        store.put("alice", bundle.hash, bundle.data)
        path = store.path("alice", bundle.hash)
        namespace = load_bundle("alice", bundle.hash, path)
        lazy_value = resolve((bundle.hash, CALLS, "lazy_value"), {bundle.hash: namespace})
        assert f"{namespace.prefix}.eo_workerapp.lazy" not in sys.modules
        _, edited = variant(bundle, "eo_workerapp/lazy.py", b"lazy-original", b"lazy-EDITED")
        path.write_bytes(edited)
        assert lazy_value() == "lazy-original"
        assert f"{namespace.prefix}.eo_workerapp.lazy" in sys.modules

    def test_tracebacks_read_the_source_from_memory(self, store: CodeStore, bundle: Bundle) -> None:
        """Tracebacks name a module's place in the archive and show its lines from
        memory; its ``__file__`` is the extracted copy, which is never run."""
        store.put("alice", bundle.hash, bundle.data)
        path = store.path("alice", bundle.hash)
        namespace = load_bundle("alice", bundle.hash, path)
        fail = resolve((bundle.hash, CALLS, "fail"), {bundle.hash: namespace})
        module = sys.modules[f"{namespace.prefix}.{CALLS}"]
        assert module.__file__ == str(path.with_suffix(".files") / "eo_workerapp" / "calls.py")
        assert os.path.isfile(module.__file__)
        with pytest.raises(Exception, match="boom") as info:
            fail("boom")
        text = "".join(traceback.format_exception(info.value))
        assert f'File "{path}/eo_workerapp/calls.py"' in text
        assert "raise AppError(message)" in text


class TestIsolation:
    def test_two_owners_with_the_same_module_get_their_own(
        self, store: CodeStore, bundle: Bundle
    ) -> None:
        """Two owners shipping different 'eo_workerapp.helpers' each see their own, and
        this process's own copy is untouched."""
        digest_b, data_b = variant(
            bundle, "eo_workerapp/helpers.py", b'IDENT = "original"', b'IDENT = "changed"'
        )
        store.put("alice", bundle.hash, bundle.data)
        store.put("bob", digest_b, data_b)
        ns_a = load_bundle("alice", bundle.hash, store.path("alice", bundle.hash))
        ns_b = load_bundle("bob", digest_b, store.path("bob", digest_b))
        assert ns_a.prefix != ns_b.prefix
        ident_a = resolve((bundle.hash, CALLS, "ident"), {bundle.hash: ns_a})
        ident_b = resolve((digest_b, CALLS, "ident"), {digest_b: ns_b})
        assert ident_a()[1] == "original"
        assert ident_b()[1] == "changed"
        import eo_workerapp.helpers

        assert eo_workerapp.helpers.IDENT == "original"

    def test_pickles_are_renamed_both_ways(self, store: CodeStore, bundle: Bundle) -> None:
        """The owner's module names map to the private ones and back."""
        from eo_workerapp.shapes import Point

        store.put("alice", bundle.hash, bundle.data)
        namespace = load_bundle("alice", bundle.hash, store.path("alice", bundle.hash))
        remote = loads(dumps(Point(1, 2)), rename=renamer([namespace]))
        assert type(remote).__module__ == f"{namespace.prefix}.eo_workerapp.shapes"
        assert type(remote) is not Point
        back = loads(dumps(remote), rename=client_module_name)
        assert type(back) is Point
        assert back == Point(1, 2)

    def test_unload_owner_forgets_its_modules_only(self, store: CodeStore, bundle: Bundle) -> None:
        """Unloading an owner removes its modules and its finder entry; others stay."""
        store.put("alice", bundle.hash, bundle.data)
        store.put("bob", bundle.hash, bundle.data)
        ns_a = load_bundle("alice", bundle.hash, store.path("alice", bundle.hash))
        ns_b = load_bundle("bob", bundle.hash, store.path("bob", bundle.hash))
        ns_a.import_module(CALLS)
        ns_b.import_module(CALLS)
        assert f"{ns_a.prefix}.{CALLS}" in _loaded_names(ns_a.prefix)
        assert unload_owner("alice") is True
        assert _loaded_names(ns_a.prefix) == []
        assert not is_loaded("alice", bundle.hash)
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(f"{ns_a.prefix}.{CALLS}")
        assert f"{ns_b.prefix}.{CALLS}" in _loaded_names(ns_b.prefix)
        assert unload_owner("alice") is False
