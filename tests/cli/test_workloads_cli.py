"""``edgeoffload presets`` and ``edgeoffload dnn`` through main()."""

from __future__ import annotations

import json

import pytest

from edgeoffload.cli import main


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_presets_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["presets"], capsys)
    assert code == 0
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert lines["rpi4b"][:4] == ["rpi4b", "camera", "27.18", "27.18"]
    assert lines["jetson-tx2"][:4] == ["jetson-tx2", "camera", "28.01", "121.4"]
    assert lines["edge-server"][-1] == "estimate"
    assert lines["nexus7"][2] == "0.1061"
    assert lines["wifi-ac"][1:3] == ["77.6", "3"]
    assert lines["ethernet"][1] == "939"


def test_presets_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["presets", "--json"], capsys)
    assert code == 0
    doc = json.loads(out)
    devices = {d["name"]: d for d in doc["devices"]}
    assert list(devices) == [
        "rpi4b",
        "jetson-tx2",
        "jetson-tx2-cpu",
        "edge-server",
        "nexus7",
        "nexus6p",
        "i7-6700",
    ]
    assert devices["i7-6700"]["speed"] == 2719.6e6
    assert devices["edge-server"]["memory"] == 24 * 1024**3
    assert devices["jetson-tx2"]["speed_by_kind"]["conv"] == pytest.approx(121.36e9, rel=1e-4)
    assert devices["rpi4b"]["power"] == {"idle": 1.6, "busy": 7.2, "transmit": 1.6}
    assert "[S1]" in devices["rpi4b"]["sources"]["speed"]
    assert {link["name"]: link["bandwidth"] for link in doc["links"]}["wifi-n"] == 29.4e6 / 8
    assert "S12" in doc["references"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(
            "nexus6p", ["power.busy", "1.49996 W", "[AOSP-angler]", "= 1.50 W"], id="device"
        ),
        pytest.param("jetson-tx2", ["speed for conv, fc", "1.21359e+11 FLOP/s"], id="gpu"),
        pytest.param("wifi-n", ["bandwidth", "3.675e+06 bytes/s", "[S14]"], id="link"),
    ],
)
def test_one_preset_shows_its_sources(
    name: str, expected: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["presets", name], capsys)
    assert code == 0
    flat = " ".join(out.split())
    for text in expected:
        assert text in flat


def test_one_preset_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["presets", "ethernet", "--json"], capsys)
    assert code == 0
    assert json.loads(out)["latency"] == pytest.approx(0.1425e-3)


def test_dnn_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["dnn"], capsys)
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert rows["alexnet"] == [
        "alexnet",
        "13/12",
        "4/3",
        "0.714",
        "0.714",
        "1.430",
        "61.10",
        "0.77",
    ]
    assert rows["googlenet"][1:5] == ["82/108", "11/10", "1.498", "1.498"]
    assert rows["resnet50"][1:5] == ["73/88", "18/17", "4.089", "4.089"]
    assert "input image: 602112 bytes" in out


def test_dnn_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["dnn", "--json"], capsys)
    assert code == 0
    doc = {m["name"]: m for m in json.loads(out)}
    assert doc["resnet50"]["layer_tasks"] == 73
    assert doc["resnet50"]["block_tasks"] == 18
    assert doc["alexnet"]["macs"] == 714_188_480
    assert doc["googlenet"]["largest_output_bytes"] == 3_211_264


def test_dnn_one_model(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["dnn", "resnet50", "--granularity", "block"], capsys)
    assert code == 0
    assert out.startswith("resnet50 (block): 18 tasks, 17 dependencies, 4.0892 GMACs")
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert rows["stem"][-1] == "(input)"
    assert rows["layer1.0"][-1] == "stem"
    assert rows["head"][1] == "fc"


def test_dnn_one_model_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["dnn", "alexnet", "--json"], capsys)
    assert code == 0
    doc = json.loads(out)
    assert [t["id"] for t in doc["tasks"]][:3] == ["conv1", "pool1", "conv2"]
    assert doc["dependencies"][0] == ["conv1", "pool1", 774_400.0]
    assert doc["provenance"]["reference_gmacs"] == 0.714


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["dnn", "vgg16"], "unknown DNN 'vgg16'; known: alexnet", id="dnn"),
        pytest.param(["presets", "pixel"], "unknown preset 'pixel'; known: rpi4b", id="preset"),
    ],
)
def test_unknown_names_are_usage_errors(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(args, capsys)
    assert code == 2
    assert out == ""
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_bad_granularity_is_rejected_by_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dnn", "alexnet", "-g", "op"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid choice: 'op'" in err
