"""Code packaging: what is shipped, what is a requirement, determinism, version rules."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest

from edgeoffload.errors import BundleError
from edgeoffload.runtime.wire.bundles import (
    MANIFEST_NAME,
    build_bundle,
    check_requirements,
    clear_bundle_cache,
    read_manifest,
)

pytest.importorskip("eo_testapp.board")


class TestBuild:
    def test_ships_app_modules_and_records_requirements(self) -> None:
        """Absolute, relative and function-level imports of the app are shipped; numpy
        and edgeoffload are requirements with versions; the stdlib is neither."""
        import numpy

        bundle = build_bundle("eo_testapp.board")
        assert bundle.modules == (
            "eo_testapp",
            "eo_testapp.board",
            "eo_testapp.geometry",
            "eo_testapp.helpers",
        )
        assert bundle.requirements["numpy"] == numpy.__version__
        assert "edgeoffload" in bundle.requirements
        assert not any(m.startswith(("numpy", "edgeoffload", "os", "time")) for m in bundle.modules)
        assert bundle.unresolved == ()

    def test_hash_is_sha256_of_the_bytes(self) -> None:
        bundle = build_bundle("eo_testapp.board")
        assert bundle.hash == hashlib.sha256(bundle.data).hexdigest()
        assert bundle.size == len(bundle.data)

    def test_deterministic_across_builds(self) -> None:
        """Packaging the same sources twice gives byte-identical bundles."""
        first = build_bundle("eo_testapp.board")
        clear_bundle_cache()
        second = build_bundle("eo_testapp.board")
        assert first is not second
        assert first.data == second.data

    def test_cached_per_process_and_cost_measured(self) -> None:
        """The second request returns the cached bundle; packaging time is recorded."""
        clear_bundle_cache()
        bundle = build_bundle("eo_testapp.board")
        assert build_bundle("eo_testapp.board") is bundle
        assert 0 < bundle.build_seconds < 5

    def test_zip_is_sorted_with_fixed_timestamps(self) -> None:
        bundle = build_bundle("eo_testapp.board")
        with zipfile.ZipFile(io.BytesIO(bundle.data)) as archive:
            infos = archive.infolist()
            names = [i.filename for i in infos]
            manifest = json.loads(archive.read(MANIFEST_NAME))
        assert names == sorted(names)
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert "eo_testapp/board.py" in names and "eo_testapp/__init__.py" in names
        assert manifest["root"] == "eo_testapp.board"
        assert read_manifest(bundle.data) == manifest

    def test_module_without_source_is_refused(self) -> None:
        """A module that cannot be found cannot be packaged."""
        with pytest.raises(BundleError, match="no source file"):
            build_bundle("no_such_module_anywhere")

    def test_installed_module_is_a_requirement_not_shipped(self) -> None:
        """Installed code ships nothing: the worker imports it by name."""
        import networkx

        bundle = build_bundle("networkx.algorithms.shortest_paths.generic")
        assert bundle.modules == ()
        assert bundle.requirements == {"networkx": networkx.__version__}
        assert build_bundle("statistics").modules == ()  # the standard library: nothing

    def test_not_a_bundle(self) -> None:
        with pytest.raises(BundleError, match="not a code bundle"):
            read_manifest(b"definitely not a zip")


class TestRequirements:
    def test_satisfied(self) -> None:
        import numpy

        assert check_requirements({"numpy": numpy.__version__}) == []

    def test_missing_package_is_named(self) -> None:
        problems = check_requirements({"surely-not-installed-pkg": "1.0"})
        assert problems == [
            "needs surely-not-installed-pkg 1.0, which is not installed on this worker"
        ]

    def test_other_major_version_is_refused(self) -> None:
        """Same major version is accepted; another major is refused, naming both."""
        import numpy

        major = int(numpy.__version__.split(".")[0])
        assert check_requirements({"numpy": f"{major}.0.0"}) == []
        (problem,) = check_requirements({"numpy": f"{major + 1}.0.0"})
        assert "numpy" in problem and numpy.__version__ in problem

    def test_zero_major_compares_minor(self) -> None:
        """For 0.x versions the minor version must match too."""
        import importlib.metadata

        version = importlib.metadata.version("edgeoffload")
        if not version.startswith("0."):
            pytest.skip("edgeoffload is past 0.x")
        minor = int(version.split(".")[1])
        assert check_requirements({"edgeoffload": f"0.{minor}.99"}) == []
        assert check_requirements({"edgeoffload": f"0.{minor + 1}.0"})
