"""The worker-side code cache: verification, isolation between clients, deletion."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from edgeoffload.errors import BundleError
from edgeoffload.runtime.wire.bundles import Bundle, build_bundle
from edgeoffload.runtime.wire.protocol import client_module_name, dumps, loads
from edgeoffload.runtime.worker.cache import CodeCache, client_key

pytest.importorskip("eo_testapp.board")


@pytest.fixture
def cache(tmp_path: Path):
    c = CodeCache("unit", base=tmp_path)
    yield c
    c.close()


def _variant(bundle: Bundle, old: bytes, new: bytes) -> tuple[str, bytes]:
    """The same bundle with one source edited (a second client's different 'eo_testapp')."""
    import hashlib

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "eo_testapp/helpers.py":
                data = data.replace(old, new)
            dst.writestr(info, data)
    data = out.getvalue()
    return hashlib.sha256(data).hexdigest(), data


class TestPutAndLoad:
    def test_put_then_call_by_name(self, cache: CodeCache) -> None:
        bundle = build_bundle("eo_testapp.board")
        cache.put("client-a", bundle.hash, bundle.data)
        assert cache.has("client-a", [bundle.hash, "0" * 64]) == [bundle.hash]
        ns = cache.namespace("client-a", bundle.hash)
        score = ns.resolve("eo_testapp.board", "score").__wrapped__
        board = ns.resolve("eo_testapp.board", "Board")([1, 2, 3])
        assert score(board, 2) == 22
        assert type(board).__module__ == f"{ns.prefix}.eo_testapp.board"

    def test_wrong_hash_is_refused_on_put(self, cache: CodeCache) -> None:
        bundle = build_bundle("eo_testapp.board")
        with pytest.raises(BundleError, match="hash"):
            cache.put("c", "a" * 64, bundle.data)
        assert cache.has("c", ["a" * 64]) == []

    def test_tampered_file_is_refused_before_import(self, cache: CodeCache) -> None:
        """A cached bundle edited on disk is refused when first loaded, and removed."""
        bundle = build_bundle("eo_testapp.board")
        cache.put("c", bundle.hash, bundle.data)
        path = cache.client_dir("c") / f"{bundle.hash}.zip"
        data = bytearray(path.read_bytes())
        data[-10] ^= 0x01
        path.write_bytes(bytes(data))
        with pytest.raises(BundleError, match="modified"):
            cache.namespace("c", bundle.hash)
        assert not path.exists()

    def test_missing_requirement_is_refused(self, cache: CodeCache) -> None:
        """A bundle needing a package this worker lacks is refused, naming the package."""
        bundle = build_bundle("eo_testapp.board")
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(bundle.data)) as src, zipfile.ZipFile(out, "w") as dst:
            for info in src.infolist():
                data = src.read(info)
                if info.filename.endswith(".json"):
                    data = data.replace(b'"numpy"', b'"no-such-dist-xyz"')
                dst.writestr(info, data)
        import hashlib

        data = out.getvalue()
        with pytest.raises(BundleError, match="no-such-dist-xyz"):
            cache.put("c", hashlib.sha256(data).hexdigest(), data)


class TestIsolation:
    def test_two_clients_same_module_name_do_not_collide(self, cache: CodeCache) -> None:
        """Two clients shipping different 'eo_testapp.helpers' each see their own."""
        bundle = build_bundle("eo_testapp.board")
        digest_b, data_b = _variant(bundle, b"WEIGHTS = (3, 1, 2)", b"WEIGHTS = (10, 10, 10)")
        cache.put("client-a", bundle.hash, bundle.data)
        cache.put("client-b", digest_b, data_b)
        ns_a = cache.namespace("client-a", bundle.hash)
        ns_b = cache.namespace("client-b", digest_b)
        assert ns_a.prefix != ns_b.prefix
        board_a = ns_a.resolve("eo_testapp.board", "Board")([1, 1, 1])
        board_b = ns_b.resolve("eo_testapp.board", "Board")([1, 1, 1])
        assert board_a.total() == 6
        assert board_b.total() == 30
        # neither namespace touched this process's own eo_testapp
        import eo_testapp.helpers

        assert eo_testapp.helpers.WEIGHTS == (3, 1, 2)

    def test_pickles_are_renamed_both_ways(self, cache: CodeCache) -> None:
        """Client names map to the worker's private names and back."""
        import eo_testapp.board as app

        bundle = build_bundle("eo_testapp.board")
        cache.put("c", bundle.hash, bundle.data)
        ns = cache.namespace("c", bundle.hash)
        remote = loads(dumps(app.Board([1, 2])), rename=ns.worker_name)
        assert type(remote).__module__.startswith(ns.prefix)
        back = loads(dumps(remote), rename=client_module_name)
        assert type(back) is app.Board
        assert back == app.Board([1, 2])


class TestDeletion:
    def test_drop_client_deletes_its_files_only(self, cache: CodeCache) -> None:
        bundle = build_bundle("eo_testapp.board")
        cache.put("a", bundle.hash, bundle.data)
        cache.put("b", bundle.hash, bundle.data)
        cache.namespace("a", bundle.hash)
        assert cache.drop_client("a") is True
        assert not cache.client_dir("a").exists()
        assert cache.client_dir("b").is_dir()
        assert cache.clients() == [client_key("b")]
        assert not any(name.startswith(f"_eo_{client_key('a')}") for name in sys.modules)

    def test_stale_caches_of_dead_workers_are_cleared(self, tmp_path: Path) -> None:
        """A folder left by a killed worker process is removed when a worker starts."""
        dead = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        )
        stale = tmp_path / f"old-worker.{int(dead.stdout)}"
        (stale / "client").mkdir(parents=True)
        alive = tmp_path / f"other.{os.getpid()}"
        alive.mkdir()
        cache = CodeCache("new", base=tmp_path)
        try:
            assert not stale.exists()
            assert alive.exists()
        finally:
            cache.close()
