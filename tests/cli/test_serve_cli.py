"""``edgeoffload serve`` through main(): its help, bad input refused before anything
starts, and a short run on a running mutual-TLS cluster (``--cluster ADDR --tls DIR``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cases import SERVE_SCENARIO, SMALL_SCENARIO
from edgeoffload.cli import main

pytest.importorskip("distributed")
pytest.importorskip("simpy")


def call(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_help_names_the_options(capsys) -> None:
    assert main(["serve", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in ("--duration", "--out", "--algorithm", "--cluster", "--tls", "--metrics-port"):
        assert flag in text
    assert "camera-serve" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--duration", "0"], "--duration: must be > 0"),
        (["--duration", "nan"], "--duration: expected a finite number"),
        (["-a", "fastest"], "invalid choice: 'fastest'"),
        (["--metrics-port", "70000"], "must be between 0 and 65535"),
        (["no-such-scenario"], "no such file"),
        (["--scale", "2", "--torch"], "--scale: does not apply to real inference"),
        (["--grace", "-1"], "--grace"),
        (["--netem", "no-such.yaml"], "--netem"),
        (["--netem", "camera-cluster", "--cluster", "tcp://x:1"], "leave out --cluster"),
        (["--hold-workers", "{not json"], "--hold-workers: must be JSON"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, capsys, tmp_path) -> None:
    try:
        code, _, err = call(["serve", *args, "--out", str(tmp_path / "out")], capsys)
    except SystemExit as exc:  # argparse's own errors
        code, err = int(exc.code or 0), capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_netem_needs_a_host_per_node_and_one_for_the_client(capsys, tmp_path) -> None:
    topology = tmp_path / "topology.yaml"
    topology.write_text(
        "name: t\nhosts:\n  edge: {address: 10.77.0.1}\n  cam1: {address: 10.77.0.2}\n"
    )
    code, _, err = call(["serve", "--netem", str(topology), "--out", str(tmp_path / "out")], capsys)
    assert code == 2
    assert "--netem: has no host for the scenario's node(s) cam2, cam3, cam4" in err


def test_torch_refuses_a_layer_granularity_stream(capsys, tmp_path) -> None:
    path = tmp_path / "layer.yaml"
    path.write_text(SERVE_SCENARIO.replace("granularity: block", "granularity: layer"))
    code, _, err = call(["serve", str(path), "--torch", "--out", str(tmp_path / "out")], capsys)
    assert code == 2
    assert "stream 'light': --torch runs models cut into blocks" in err


def test_a_scenario_without_streams_is_refused(capsys, tmp_path) -> None:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL_SCENARIO)
    code, _, err = call(["serve", str(path), "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "has no streams" in err


def test_an_output_folder_that_cannot_be_made_is_refused(capsys, tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = call(["serve", "--out", str(blocker)], capsys)
    assert code == 2 and "--out" in err and "not a folder" in err


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    from edgeoffload.runtime import LocalCluster, WorkerSpec
    from edgeoffload.runtime.wire.security import make_certificates

    certs = tmp_path_factory.mktemp("certs")
    make_certificates(certs)
    workers = [WorkerSpec("cam1"), WorkerSpec("cam2"), WorkerSpec("edge")]
    with LocalCluster(workers, tls=certs) as local:
        yield local.address, certs


def test_serve_on_a_running_tls_cluster(tls_cluster, capsys, tmp_path) -> None:
    address, certs = tls_cluster
    scenario = tmp_path / "serve.yaml"
    scenario.write_text(SERVE_SCENARIO)
    out = tmp_path / "out"
    code, stdout, _ = call(
        [
            "serve",
            str(scenario),
            "--cluster",
            address,
            "--tls",
            str(certs),
            "--duration",
            "2.5",
            "--seconds",
            "0.02",
            "--repeats",
            "1",
            "--no-plots",
            "--json",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert code == 0
    result = json.loads(stdout)
    assert result["algorithm"] == "dhs" and result["scenario"] == "serve-test"
    # cam2 sends at 0, 1 and 2 s: three frames, each ended once
    frames = [json.loads(line) for line in (out / "frames.jsonl").read_text().splitlines()]
    assert [(f["camera"], f["frame"]) for f in frames] == [("cam2", 0), ("cam2", 1), ("cam2", 2)]
    assert result["frames"] == 3 and result["complete"]
    assert result["done"] + sum(result["dropped"].values()) == 3
    assert {f["scheduler"] for f in frames if f["status"] == "done"} <= {"heft"}
    assert json.loads((out / "summary.json").read_text())["frames"] == 3
