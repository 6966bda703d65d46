"""Offloaded code behaves like local code: the constructs ordinary programs use.

Each test calls an unchanged-looking function of ``apps/eo_localapp`` (or a construct
defined here) on real workers with ``policy="always-remote"`` and checks both the value
and that the call really ran remotely (or, where it cannot, that the user is told why).
"""

from __future__ import annotations

import functools
import json
import logging
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from eo_localapp import compute
from eo_otherapp import Point

import edgeoffload
from edgeoffload import offload
from edgeoffload.errors import OffloadError
from edgeoffload.runtime import LocalCluster, Session


@pytest.fixture(scope="module")
def session(shared_cluster: LocalCluster) -> Iterator[Session]:
    with edgeoffload.connect(shared_cluster, policy="always-remote") as s:
        yield s


def _last(session: Session) -> edgeoffload.runtime.client.stats.CallRecord:
    return session.stats().records[-1]


def _ran_remotely(session: Session) -> None:
    record = _last(session)
    assert record.where != "local", record.reason
    assert record.outcome == "ok"


class TestByValue:
    def test_lambda_argument(self, session: Session) -> None:
        assert compute.apply(lambda v: v * 3, [1, 2, 5]) == [3, 6, 15]
        _ran_remotely(session)

    def test_closure_argument(self, session: Session) -> None:
        offset = 10
        assert compute.apply(lambda v: v + offset, [1, 2]) == [11, 12]
        _ran_remotely(session)

    def test_returned_lambda(self, session: Session) -> None:
        add2 = compute.make_adder(2)
        assert add2(5) == 7
        _ran_remotely(session)

    def test_module_level_offloaded_lambda(self, session: Session) -> None:
        assert compute.square(7) == 49
        _ran_remotely(session)

    def test_function_defined_inside_a_function(self, session: Session) -> None:
        scale = compute.make_scaler(2.5)
        assert scale(4.0) == 10.0
        _ran_remotely(session)
        assert "<locals>" in _last(session).function

    def test_result_that_can_never_travel_is_a_clear_error(self, session: Session) -> None:
        with pytest.raises(Exception, match=r"_thread\.lock") as info:
            compute.make_lock()
        assert "_eo_" not in str(info.value)


class TestShipping:
    def test_data_file_beside_the_module(self, session: Session) -> None:
        expected = json.loads((Path(compute.__file__).with_name("weights.json")).read_text())
        assert compute.read_weights() == expected
        _ran_remotely(session)

    def test_data_file_through_importlib_resources(self, session: Session) -> None:
        assert compute.read_table() == "name,value\nalpha,1\nbeta,2\n"
        _ran_remotely(session)

    def test_resources_read_when_the_module_is_imported(self, session: Session) -> None:
        assert compute.rows_read_at_import() == 3
        _ran_remotely(session)

    def test_argument_class_from_a_module_never_imported(self, session: Session) -> None:
        assert compute.norm2(Point(3.0, 4.0)) == 25.0
        _ran_remotely(session)
        assert "eo_otherapp" in session.bundles()["eo_localapp.compute"].modules

    def test_installed_function_runs_by_name(self, session: Session) -> None:
        import statistics

        fmean = offload(statistics.fmean)
        assert fmean([1.0, 2.0, 4.5]) == statistics.fmean([1.0, 2.0, 4.5])
        _ran_remotely(session)
        assert session.bundles()["statistics"].modules == ()

    def test_package_shipped_whole_has_its_plugins(self, session: Session) -> None:
        assert compute.run_plugin("upper", "abc") == "ABC"
        _ran_remotely(session)


class TestLikeAnotherMachine:
    def test_embedded_workers_do_not_run_in_the_clients_folder(self, session: Session) -> None:
        """Relative paths and modules of the client's folder are not there, as on a
        worker of another machine."""
        import os

        assert compute.working_directory() != os.getcwd()
        _ran_remotely(session)

    def test_recursion_is_one_call(self, session: Session) -> None:
        """The inner calls of a recursive offloaded function run where the outer one
        runs: one decision, one record (here and with .local)."""
        before = session.stats().calls
        assert compute.fib(15) == 610
        _ran_remotely(session)
        assert compute.fib.local(12) == 144
        records = session.stats().records[before:]
        assert [r.where == "local" for r in records] == [False, True]


class TestNeverSilent:
    def test_unpicklable_argument_warns_once_and_runs_locally(
        self, session: Session, caplog: pytest.LogCaptureFixture
    ) -> None:
        lock = threading.Lock()
        with caplog.at_level(logging.WARNING, logger="edgeoffload"):
            assert compute.apply(lambda _: 1, [lock]) == [1]
            assert compute.apply(lambda _: 2, [lock]) == [2]
        record = _last(session)
        assert record.where == "local"
        assert "cannot be pickled" in record.reason
        warned = [r.getMessage() for r in caplog.records if "cannot be pickled" in r.getMessage()]
        assert len(warned) == 1, warned
        assert any("cannot be pickled" in w for w in session.stats().warnings)

    def test_a_module_that_fails_to_import_there_is_not_retried(
        self, session: Session, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A function whose module cannot even be imported on the workers falls back
        once after trying them, then at once: the session remembers why."""
        monkeypatch.setenv("EO_TEST_CLIENT_ONLY", "1")  # here only: the workers lack it
        import eo_clientonly

        assert eo_clientonly.double(2) == 4
        assert eo_clientonly.double(3) == 6
        first, second = session.stats().records[-2:]
        assert first.outcome == second.outcome == "fallback"
        assert len(first.attempts) == 2 and "EO_TEST_CLIENT_ONLY" in first.attempts[0].error
        assert not second.attempts and "no worker can run it" in second.reason

    def test_strict_session_raises_instead(self, shared_cluster: LocalCluster) -> None:
        with edgeoffload.connect(shared_cluster, policy="always-remote", strict=True) as s:
            with pytest.raises(OffloadError, match=r"strict.*cannot be pickled"):
                compute.apply(lambda _: 1, [threading.Lock()])
            assert s.stats().records[-1].outcome == "refused"

    def test_strict_function_raises_instead(self, session: Session) -> None:
        strict_apply = offload(strict=True)(compute.apply.__wrapped__)
        with pytest.raises(OffloadError, match="cannot be pickled"):
            strict_apply(lambda _: 1, [threading.Lock()])


class TestRefusedAtDefinition:
    def test_generator_function(self) -> None:
        def numbers(n: int) -> Iterator[int]:
            yield from range(n)

        with pytest.raises(TypeError, match=r"generator function.*Return a list"):
            offload(numbers)

    def test_async_function(self) -> None:
        async def later() -> int:
            return 1

        with pytest.raises(TypeError, match="async function"):
            offload(later)

    def test_not_a_python_function(self) -> None:
        with pytest.raises(TypeError, match="marks a function"):
            offload(functools.partial(len))


_FAKE_DIST = {
    # a distribution only the client has: the workers lack it
    "site/eofakepkg/__init__.py": "VALUE = 40\n",
    "site/eofakepkg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: eofakepkg\n"
    "Version: 1.0\n",
    "site/eofakepkg-1.0.dist-info/top_level.txt": "eofakepkg\n",
    # an editable install: metadata in site/, its source in a project folder
    "site/eoeditable-0.3.dist-info/METADATA": "Metadata-Version: 2.1\nName: eoeditable\n"
    "Version: 0.3\n",
    "site/eoeditable-0.3.dist-info/top_level.txt": "eoeditable\n",
    "site/eoeditable-0.3.dist-info/direct_url.json": '{"url": "file:///src/eoeditable", '
    '"dir_info": {"editable": true}}',
    "project/eoeditable/__init__.py": "",
    "project/eoeditable/heavy.py": textwrap.dedent(
        """
        from edgeoffload import offload

        @offload
        def triple(x):
            return 3 * x
        """
    ),
}

_CLIENT = textwrap.dedent(
    """
    import json, logging, sys
    sys.path[:0] = [sys.argv[1] + "/site", sys.argv[1] + "/project"]  # the client's only
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    import edgeoffload
    import eo_needsfake
    from eoeditable import heavy

    if __name__ == "__main__":
        with edgeoffload.connect(n_workers=1, policy="always-remote") as s:
            out = {
                "plain": eo_needsfake.plain(1),
                "fancy": eo_needsfake.fancy(2),
                "triple": heavy.triple(5),
                "shipped": eo_needsfake.shipped(3),
                "where": {r.function.split(":")[1]: r.where for r in s.stats().records},
                "reasons": {r.function.split(":")[1]: r.reason for r in s.stats().records},
                "missing": {n: dict(w.missing) for n, w in s.workers().items()},
            }
        print(json.dumps(out))
    """
)


def test_requirements_are_per_function_and_editable_installs_ship(
    tmp_path: Path, apps_folder: Path
) -> None:
    """A worker lacking a package still runs the functions that do not use it; one that
    needs it runs locally and says why, unless the function ships it
    (``@offload(ship=[...])``); an editable install is shipped as source."""
    for name, text in _FAKE_DIST.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    script = tmp_path / "client.py"
    script.write_text(_CLIENT)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**_env(), "PYTHONPATH": str(apps_folder)},
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert (out["plain"], out["fancy"], out["triple"], out["shipped"]) == (2, 42, 15, 43)
    assert out["where"]["plain"] == "worker-0"
    assert out["where"]["shipped"] == "worker-0"  # @offload(ship=["eofakepkg"])
    assert out["where"]["triple"] == "worker-0"
    assert out["where"]["fancy"] == "local"
    assert "eofakepkg 1.0, which is not installed" in out["reasons"]["fancy"]
    assert "eofakepkg" in out["missing"]["worker-0"]
    assert "eofakepkg 1.0, which is not installed" in done.stderr  # the warning


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


_UNGUARDED = textwrap.dedent(
    """
    import edgeoffload

    @edgeoffload.offload
    def double(x):
        return 2 * x

    with edgeoffload.connect(n_workers=1, policy="always-remote"):
        print(double(21))
    """
)

_UNGUARDED_OTHER_MODULE = textwrap.dedent(
    """
    import edgeoffload
    from eo_localapp import compute

    with edgeoffload.connect(n_workers=1, policy="always-remote") as s:
        print(compute.square(6), s.stats().records[-1].where)
    """
)


def test_unguarded_script_stops_with_one_line(tmp_path: Path, apps_folder: Path) -> None:
    """Opening a session at a script's top level, with offloaded functions in the script,
    stops at connect() and says what to add (workers would rerun the script)."""
    script = tmp_path / "unguarded.py"
    script.write_text(_UNGUARDED)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert "unguarded.py:8" in last and 'if __name__ == "__main__":' in last
    assert done.stderr.count("Traceback") == 1


def test_unguarded_script_of_other_modules_functions_works(
    tmp_path: Path, apps_folder: Path
) -> None:
    """A script that offloads only functions of other modules needs no guard."""
    script = tmp_path / "plain.py"
    script.write_text(_UNGUARDED_OTHER_MODULE)
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**_env(), "PYTHONPATH": str(apps_folder)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["36", "worker-0"]


_SCRIPT_WITH_DATA = textwrap.dedent(
    """
    import json
    from pathlib import Path

    import edgeoffload

    @edgeoffload.offload
    def settings():
        # the file beside the script, named after it
        return Path(__file__).name, json.loads(Path(__file__).with_suffix(".json").read_text())

    @edgeoffload.offload
    def missing():
        return open("not-here.txt").read()

    if __name__ == "__main__":
        with edgeoffload.connect(n_workers=1, policy="always-remote") as s:
            print(json.dumps(settings()))
            try:
                missing()
            except FileNotFoundError as exc:
                print(json.dumps(str(exc)))
            print(s.stats().records[0].where)
    """
)


def test_a_script_keeps_its_file_name_and_its_data(tmp_path: Path) -> None:
    """A script's ``__file__`` on the worker ends in its own name, the files beside it
    are there, and a worker's error names no private path."""
    (tmp_path / "report.py").write_text(_SCRIPT_WITH_DATA)
    (tmp_path / "report.json").write_text('{"rows": 3}')
    done = subprocess.run(
        [sys.executable, "report.py"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=_env(),
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert json.loads(lines[0]) == ["report.py", {"rows": 3}]
    error = json.loads(lines[1])
    assert "not-here.txt" in error and "edgeoffload" not in error and ".files" not in error
    assert lines[2] == "worker-0"
