"""The worker's code store: bundles per owner, verified on arrival, deleted with the owner."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeoffload.errors import BundleError
from edgeoffload.runtime.wire.bundles import MANIFEST_NAME, Bundle
from edgeoffload.runtime.worker.cache import CodeStore, owner_key
from worker_bundles import variant


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CodeStore]:
    s = CodeStore("unit", base=tmp_path)
    yield s
    s.close()


class TestPut:
    def test_a_stored_bundle_is_found_by_owner_and_hash(
        self, store: CodeStore, bundle: Bundle
    ) -> None:
        """A put bundle is listed, named and readable for its owner only."""
        store.put("alice:s1", bundle.hash, bundle.data)
        assert store.has("alice:s1", ["0" * 64, bundle.hash]) == [bundle.hash]
        assert store.has("bob:s1", [bundle.hash]) == []
        path = store.path("alice:s1", bundle.hash)
        assert path == store.owner_dir("alice:s1") / f"{bundle.hash}.zip"
        assert path.read_bytes() == bundle.data
        assert store.owner_dir("alice:s1").name == owner_key("alice:s1")
        assert store.owners() == ["alice:s1"]

    def test_bytes_that_do_not_match_their_hash_are_refused(
        self, store: CodeStore, bundle: Bundle
    ) -> None:
        """A bundle whose bytes hash to something else is refused and not stored."""
        with pytest.raises(BundleError, match=f"hash to {bundle.hash[:12]}"):
            store.put("alice", "a" * 64, bundle.data)
        assert store.has("alice", ["a" * 64]) == []
        assert store.owners() == []

    def test_a_malformed_hash_is_refused(self, store: CodeStore, bundle: Bundle) -> None:
        """A hash that is not 64 hex digits never becomes a file name."""
        with pytest.raises(BundleError, match="malformed bundle hash"):
            store.put("alice", "../../etc/passwd", bundle.data)
        with pytest.raises(BundleError, match="malformed bundle hash"):
            store.path("alice", "../" + bundle.hash)
        assert store.has("alice", ["../x"]) == []

    def test_bytes_that_are_not_a_bundle_are_refused(self, store: CodeStore) -> None:
        """Data with the right hash but no bundle inside is refused."""
        data = b"not a zip at all"
        with pytest.raises(BundleError, match="not a code bundle"):
            store.put("alice", hashlib.sha256(data).hexdigest(), data)

    def test_a_missing_requirement_is_stored_and_reported(
        self, store: CodeStore, bundle: Bundle
    ) -> None:
        """A bundle needing a distribution this worker lacks is kept (its other functions
        can run here) and the missing distribution is reported, named."""
        digest, data = variant(bundle, MANIFEST_NAME, b'"edgeoffload"', b'"no-such-dist-xyz"')
        missing = store.put("alice", digest, data)
        assert list(missing) == ["no-such-dist-xyz"]
        assert "which is not installed on this worker" in missing["no-such-dist-xyz"]
        assert store.has("alice", [digest]) == [digest]

    def test_another_python_version_is_refused(self, store: CodeStore, bundle: Bundle) -> None:
        """A bundle made with another Python major.minor is refused, naming both."""
        ours = f'"python": "{sys.version_info[0]}.{sys.version_info[1]}"'.encode()
        digest, data = variant(bundle, MANIFEST_NAME, ours, b'"python": "2.7"')
        with pytest.raises(BundleError, match=r"Python 2\.7"):
            store.put("alice", digest, data)

    def test_storing_imports_nothing(self, store: CodeStore, bundle: Bundle) -> None:
        """The worker process only holds bytes: no bundle module is imported by a put."""
        before = set(sys.modules)
        store.put("alice", bundle.hash, bundle.data)
        new = set(sys.modules) - before
        assert sorted(n for n in new if n.startswith(("_eo_", "eo_workerapp."))) == []

    def test_an_absent_bundle_has_no_path(self, store: CodeStore, bundle: Bundle) -> None:
        """Asking for a bundle that is not stored says so in the words clients look for."""
        with pytest.raises(BundleError, match="not in this worker's cache"):
            store.path("alice", bundle.hash)


class TestDeletion:
    def test_drop_deletes_that_owners_bundles_only(self, store: CodeStore, bundle: Bundle) -> None:
        """Dropping an owner removes its folder and leaves the others'."""
        store.put("a", bundle.hash, bundle.data)
        store.put("b", bundle.hash, bundle.data)
        assert store.drop("a") is True
        assert not store.owner_dir("a").exists()
        assert store.path("b", bundle.hash).is_file()
        assert store.owners() == ["b"]
        assert store.drop("a") is False

    def test_close_removes_the_workers_folder(self, tmp_path: Path, bundle: Bundle) -> None:
        """Closing deletes everything this worker stored; closing twice is harmless."""
        store = CodeStore("closing", base=tmp_path)
        store.put("a", bundle.hash, bundle.data)
        assert store.directory.is_dir()
        store.close()
        store.close()
        assert not store.directory.exists()
        assert store.owners() == []

    def test_stale_folders_of_dead_workers_are_cleared(self, tmp_path: Path) -> None:
        """A folder left by a killed worker process is removed when a store opens."""
        dead = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        )
        stale = tmp_path / f"old-worker.{int(dead.stdout)}"
        (stale / "owner").mkdir(parents=True)
        alive = tmp_path / f"other.{os.getpid()}"
        alive.mkdir()
        store = CodeStore("new", base=tmp_path)
        try:
            assert not stale.exists()
            assert alive.is_dir()
            assert store.directory == tmp_path / f"new.{os.getpid()}"
        finally:
            store.close()
