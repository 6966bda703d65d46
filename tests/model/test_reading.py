"""Reading user files: regular files only, bounded, strictly parsed; every refusal is one
line that names the file or the field (issue "Every input checked")."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from cases import PAPER_EXAMPLE
from edgeoffload.cli import main
from edgeoffload.errors import ModelError, ProblemFileError
from edgeoffload.model import load_problem
from edgeoffload.model.reading import MAX_INPUT_ENV, parse_json, parse_yaml, read_text
from edgeoffload.workloads.scenarios import load_scenario


def _schedule(path: Path | str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["schedule", str(path), "-a", "heft"])
    _, err = capsys.readouterr()
    assert err.count("\n") <= 1, err
    return code, err


class TestFiles:
    def test_a_fifo_is_refused_at_once(self, tmp_path: Path) -> None:
        """Opening a FIFO with no writer would block forever: it is refused unread."""
        fifo = tmp_path / "pipe.json"
        os.mkfifo(fifo)
        outcome: list[BaseException] = []
        reader = threading.Thread(
            target=lambda: outcome.append(_raises(lambda: read_text(fifo))), daemon=True
        )
        reader.start()
        reader.join(10)
        assert not reader.is_alive(), "reading a FIFO blocked"
        assert "is a FIFO (named pipe)" in str(outcome[0])

    @pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
    def test_devices_are_refused(self, device: str) -> None:
        with pytest.raises(ProblemFileError, match="is a device, not a problem file"):
            read_text(device, what="problem file")

    def test_directory_missing_and_long_names(self, tmp_path: Path) -> None:
        with pytest.raises(ProblemFileError, match="is a directory"):
            read_text(tmp_path)
        with pytest.raises(ProblemFileError, match="no such file"):
            read_text(tmp_path / "nope.json")
        with pytest.raises(ProblemFileError, match="File name too long") as info:
            read_text(tmp_path / ("x" * 5000))
        assert len(str(info.value)) < 300  # the name is shortened in the message

    def test_size_limit_names_the_variable(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        big = tmp_path / "big.json"
        big.write_bytes(b" " * (2 * 2**20))
        monkeypatch.setenv(MAX_INPUT_ENV, "1")
        with pytest.raises(ProblemFileError, match=f"larger than 1 MiB; set {MAX_INPUT_ENV}"):
            read_text(big)
        monkeypatch.setenv(MAX_INPUT_ENV, "3")
        assert len(read_text(big)) == 2 * 2**20

    def test_cli_special_files_exit_2_in_one_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        fifo = tmp_path / "p.json"
        os.mkfifo(fifo)
        for path in (fifo, Path("/dev/zero"), tmp_path / ("y" * 4000)):
            code, err = _schedule(path, capsys)
            assert code == 2 and err.startswith("edgeoffload: error: "), err


def _raises(action: object) -> BaseException:
    try:
        action()  # type: ignore[operator]
    except BaseException as exc:
        return exc
    raise AssertionError("did not raise")


class TestJSON:
    def test_duplicate_keys(self) -> None:
        with pytest.raises(ProblemFileError, match="duplicate key 'work'"):
            parse_json('{"work": 1, "work": 2}', "p.json")

    def test_deep_nesting(self) -> None:
        with pytest.raises(ProblemFileError, match="nested too deeply"):
            parse_json("[" * 5000 + "]" * 5000, "p.json")

    @pytest.mark.parametrize(
        ("literal", "shown"),
        [
            ("1" + "0" * 400, "an integer of 401 digits"),
            ("1e400", "inf"),
            ("NaN", "nan"),
            ("Infinity", "inf"),
        ],
    )
    def test_numbers_out_of_range_are_refused_naming_the_field(
        self, tmp_path: Path, literal: str, shown: str
    ) -> None:
        document = json.loads(PAPER_EXAMPLE.read_text())
        document["tasks"][0]["work"] = "__WORK__"
        path = tmp_path / "p.json"
        path.write_text(json.dumps(document).replace('"__WORK__"', literal))
        with pytest.raises(ModelError) as info:
            load_problem(path)
        assert "tasks[0]" in str(info.value)
        assert shown in str(info.value)


class TestYAML:
    def test_duplicate_keys_name_the_line(self) -> None:
        with pytest.raises(ProblemFileError, match="line 3: duplicate key 'seed'"):
            parse_yaml("name: x\nseed: 1\nseed: 2\n", "s.yaml")

    def test_yaml_12_floats_and_huge_integers(self) -> None:
        data = parse_yaml("a: 1e9\nb: -2.5E-3\nc: 10\nd: " + "9" * 50 + "\n", "s.yaml")
        assert data["a"] == 1e9 and data["b"] == -2.5e-3 and data["c"] == 10
        assert repr(data["d"]) == "an integer of 50 digits"

    def test_deep_nesting(self) -> None:
        with pytest.raises(ProblemFileError, match="nest"):
            parse_yaml("a: " + "[" * 5000 + "]" * 5000, "s.yaml")

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ("delta1: true", "dhs.delta1: must be a valid number, got True"),
            ('delta2: "12"', "dhs.delta2: must be a valid number, got '12'"),
            ("delta1: .inf", "dhs.delta1: must be a finite number"),
        ],
    )
    def test_a_bool_or_a_string_is_not_a_number(
        self, tmp_path: Path, change: str, message: str
    ) -> None:
        path = _scenario(tmp_path, f"dhs:\n  {change}\n")
        with pytest.raises(ModelError, match=message):
            load_scenario(path)

    def test_the_name_is_a_file_name(self, tmp_path: Path) -> None:
        """A scenario's name names its output files: no path, no 10,000 characters."""
        path = _scenario(tmp_path, "")
        for bad in ("a/b", "x" * 200):
            path.write_text(path.read_text().replace("name: t", f"name: {bad}", 1))
            with pytest.raises(ModelError, match="name: must"):
                load_scenario(path)
            path = _scenario(tmp_path, "")

    def test_limits_bound_the_work(self, tmp_path: Path) -> None:
        """A stream of 10^9 s would need tens of GB: refused, naming the key to raise."""
        stream = "streams:\n  - {model: alexnet, camera: cam1, rate: 10, duration: 1000000000}\n"
        with pytest.raises(ModelError, match=r"limits\.max_frames"):
            load_scenario(_scenario(tmp_path, stream))
        with pytest.raises(ModelError, match="exec_cv: must be less than or equal to 10"):
            load_scenario(_scenario(tmp_path, "variability: {exec_cv: 1.0e200}\n"))
        with pytest.raises(ModelError, match="repetitions: must be less than or equal"):
            load_scenario(_scenario(tmp_path, "repetitions: 1000000000\n"))


def _scenario(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: t\n"
        "devices:\n  - {id: cam1, preset: raspberry-pi-4}\n  - {id: edge, preset: i7-6700}\n"
        "requests:\n  - {model: alexnet, camera: cam1}\n" + extra
    )
    return path


def test_cluster_files_are_read_the_same_way(tmp_path: Path) -> None:
    """``load_cluster_file`` (calibrate-cluster's output) refuses what every reader does."""
    from edgeoffload.runtime.client.calibration import load_cluster_file

    fifo = tmp_path / "cluster.json"
    os.mkfifo(fifo)
    with pytest.raises(ProblemFileError, match="is a FIFO"):
        load_cluster_file(fifo)
    twice = tmp_path / "twice.json"
    twice.write_text('{"nodes": [{"id": "a", "speed": 1}], "nodes": []}')
    with pytest.raises(ProblemFileError, match="duplicate key 'nodes'"):
        load_cluster_file(twice)
    good = tmp_path / "good.json"
    good.write_text('{"nodes": [{"id": "a", "speed": 1e9}, {"id": "b", "speed": 2e9}]}')
    assert load_cluster_file(good).node_ids == ("a", "b")
