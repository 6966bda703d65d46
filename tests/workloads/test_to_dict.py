"""JSON shapes of the presets and DNN models: ``DevicePreset.to_dict``, ``LinkPreset.to_dict``,
``DNNModel.to_dict`` and ``dnn_summary`` (workloads/devices.py, workloads/dnn.py)."""

from __future__ import annotations

import json

import pytest

from edgeoffload.cli import main
from edgeoffload.errors import ModelError
from edgeoffload.workloads.devices import (
    DEVICE_PRESETS,
    LINK_PRESETS,
    REFERENCES,
    DevicePreset,
    device_preset,
    link_preset,
    presets_to_dict,
)
from edgeoffload.workloads.dnn import DNN_KINDS, GRANULARITIES, dnn_names, dnn_summary, load_dnn

GIB = 1024**3
MBIT = 1e6 / 8  # bytes/s
DEVICE_KEYS = [
    "name",
    "title",
    "hardware",
    "role",
    "speed",
    "speed_basis",
    "speed_by_kind",
    "cores",
    "memory",
    "power",
    "sources",
]
SUMMARY_KEYS = [
    "name",
    "layer_tasks",
    "layer_dependencies",
    "block_tasks",
    "block_dependencies",
    "macs",
    "reference_gmacs",
    "flops",
    "param_bytes",
    "parameters",
    "input_bytes",
    "largest_output_bytes",
]
ALL = [(name, g) for name in ("alexnet", "googlenet", "resnet50") for g in GRANULARITIES]


def roundtrip(doc: object) -> object:
    return json.loads(json.dumps(doc))


# --------------------------------------------------------------------------------------------
# device and link presets
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(DEVICE_PRESETS))
def test_device_to_dict_mirrors_the_preset(name: str) -> None:
    preset = device_preset(name)
    d = preset.to_dict()
    assert list(d) == DEVICE_KEYS
    assert (d["name"], d["title"], d["hardware"], d["role"]) == (
        preset.name,
        preset.title,
        preset.hardware,
        preset.role,
    )
    assert (d["speed"], d["speed_basis"], d["cores"], d["memory"]) == (
        preset.speed,
        preset.speed_basis,
        preset.cores,
        preset.memory,
    )
    assert d["speed_by_kind"] == dict(preset.speed_by_kind)
    assert preset.power is not None
    assert d["power"] == {
        "idle": preset.power.idle,
        "busy": preset.power.busy,
        "transmit": preset.power.transmit,
    }
    assert d["sources"] == dict(preset.sources)
    assert roundtrip(d) == d


def test_rpi4b_numbers_survive_json() -> None:
    d = roundtrip(device_preset("rpi4b").to_dict())
    assert isinstance(d, dict)
    assert d["speed"] / 1e9 == pytest.approx(27.18, abs=0.01)  # FLOP/s
    assert d["speed"] == device_preset("rpi4b").speed  # exactly: floats survive JSON
    assert d["cores"] == 1
    assert d["memory"] == 4 * GIB
    assert d["power"] == {"idle": 1.6, "busy": 7.2, "transmit": 1.6}
    assert d["role"] == "camera"
    assert d["speed_by_kind"] == {}
    assert "[S1]" in d["sources"]["speed"]
    assert "[S9]" in d["sources"]["power.busy"]


def test_jetson_and_cofa_numbers_survive_json() -> None:
    tx2 = roundtrip(device_preset("jetson-tx2").to_dict())
    assert isinstance(tx2, dict)
    assert set(tx2["speed_by_kind"]) == set(DNN_KINDS)
    assert tx2["speed_by_kind"]["conv"] / 1e9 == pytest.approx(121.36, abs=0.01)
    assert tx2["speed"] / 1e9 == pytest.approx(28.01, abs=0.01)
    i7 = roundtrip(device_preset("i7-6700").to_dict())
    assert isinstance(i7, dict)
    assert (i7["speed"], i7["memory"], i7["role"]) == (2719.6e6, 16 * GIB, "edge")
    assert i7["power"] == {"idle": 58.0, "busy": 143.8, "transmit": 58.0}
    n7 = roundtrip(device_preset("nexus7").to_dict())
    assert isinstance(n7, dict)
    assert n7["speed"] == 106.1e6
    assert n7["power"]["busy"] == pytest.approx(0.2184 * 3.70)


def test_device_to_dict_without_power_or_memory() -> None:
    preset = DevicePreset("bare", "A bare device", "nothing known", 1e9, "assumed", cores=2)
    d = preset.to_dict()
    assert d["power"] is None and d["memory"] is None
    assert d["cores"] == 2 and d["speed_by_kind"] == {} and d["sources"] == {}
    text = json.dumps(d)
    assert '"power": null' in text and '"memory": null' in text


def test_device_to_dict_is_a_fresh_copy() -> None:
    preset = device_preset("jetson-tx2")
    d = preset.to_dict()
    d["speed_by_kind"]["conv"] = 1.0
    d["sources"]["speed"] = "changed"
    assert d["power"] is not None
    d["power"]["idle"] = 0.0
    assert preset.speed_by_kind["conv"] > 1e11
    assert preset.sources["speed"] != "changed"
    assert preset.power is not None and preset.power.idle > 0
    assert preset.to_dict() != d


@pytest.mark.parametrize("name", list(LINK_PRESETS))
def test_link_to_dict_mirrors_the_preset(name: str) -> None:
    preset = link_preset(name)
    d = preset.to_dict()
    assert d == {
        "name": preset.name,
        "title": preset.title,
        "bandwidth": preset.bandwidth,
        "latency": preset.latency,
        "sources": dict(preset.sources),
    }
    assert list(d) == ["name", "title", "bandwidth", "latency", "sources"]
    assert roundtrip(d) == d


def test_link_numbers_survive_json() -> None:
    n = roundtrip(link_preset("wifi-n").to_dict())
    eth = roundtrip(link_preset("ethernet").to_dict())
    assert isinstance(n, dict) and isinstance(eth, dict)
    assert n["bandwidth"] == 29.4 * MBIT  # bytes/s
    assert n["latency"] == pytest.approx(3e-3)  # s
    assert eth["bandwidth"] == 939.0 * MBIT
    assert eth["latency"] == pytest.approx(0.1425e-3)
    assert "[S14]" in n["sources"]["bandwidth"]


# --------------------------------------------------------------------------------------------
# DNN models
# --------------------------------------------------------------------------------------------
def test_alexnet_summary_values() -> None:
    s = dnn_summary("alexnet")
    layer, block = load_dnn("alexnet", "layer"), load_dnn("alexnet", "block")
    assert list(s) == SUMMARY_KEYS
    assert s["name"] == "alexnet"
    assert s["layer_tasks"] == len(layer.graph) == 13
    assert s["layer_dependencies"] == len(layer.graph.dependencies) == 12
    assert s["block_tasks"] == len(block.graph) == 4
    assert s["block_dependencies"] == len(block.graph.dependencies) == 3
    assert s["macs"] == layer.total_macs == 714_188_480
    assert s["reference_gmacs"] == 0.714
    assert s["flops"] == layer.total_flops == 1_429_674_240.0
    assert s["param_bytes"] == layer.total_param_bytes == 244_403_360
    assert s["parameters"] == layer.total_parameters == 61_100_840  # FP32: 4 bytes each
    assert s["input_bytes"] == 3 * 224 * 224 * 4
    assert s["largest_output_bytes"] == max(layer.output_bytes.values()) == 774_400
    assert roundtrip(s) == s


@pytest.mark.parametrize("name", ["alexnet", "googlenet", "resnet50"])
def test_summary_counts_match_both_granularities(name: str) -> None:
    s = dnn_summary(name)
    layer, block = load_dnn(name, "layer"), load_dnn(name, "block")
    assert (s["layer_tasks"], s["layer_dependencies"]) == (
        len(layer.graph),
        len(layer.graph.dependencies),
    )
    assert (s["block_tasks"], s["block_dependencies"]) == (
        len(block.graph),
        len(block.graph.dependencies),
    )
    assert s["macs"] == layer.total_macs == block.total_macs
    assert s["reference_gmacs"] == layer.provenance["reference_gmacs"]


def test_summary_of_an_unknown_model() -> None:
    with pytest.raises(ModelError, match="unknown DNN 'vgg16'"):
        dnn_summary("vgg16")


@pytest.mark.parametrize(("name", "granularity"), ALL)
def test_model_to_dict_lists_every_task_and_dependency(name: str, granularity: str) -> None:
    model = load_dnn(name, granularity)
    d = model.to_dict()
    assert list(d) == [
        "name",
        "granularity",
        "macs",
        "flops",
        "param_bytes",
        "parameters",
        "input_bytes",
        "provenance",
        "tasks",
        "dependencies",
    ]
    assert (d["name"], d["granularity"]) == (name, granularity)
    assert (d["macs"], d["flops"], d["param_bytes"], d["input_bytes"]) == (
        model.total_macs,
        model.total_flops,
        model.total_param_bytes,
        model.input_bytes,
    )
    assert d["parameters"] == model.total_parameters == model.total_param_bytes // 4
    assert d["provenance"] == dict(model.provenance)
    tasks = model.graph.tasks
    assert [t["id"] for t in d["tasks"]] == [t.id for t in tasks]
    for row, task in zip(d["tasks"], tasks, strict=True):
        assert row == {
            "id": task.id,
            "kind": task.kind,
            "ops": list(model.ops[task.id]),
            "work": task.work,
            "macs": model.macs[task.id],
            "param_bytes": model.param_bytes[task.id],
            "output_bytes": model.output_bytes[task.id],
        }
    deps = model.graph.dependencies
    assert d["dependencies"] == [[dep.source, dep.target, dep.data] for dep in deps]
    assert len(d["dependencies"]) == len(deps)
    # the per-task figures add up to the totals, and every edge carries its producer's output
    assert sum(t["macs"] for t in d["tasks"]) == d["macs"]
    assert sum(t["work"] for t in d["tasks"]) == d["flops"]
    outputs = {t["id"]: t["output_bytes"] for t in d["tasks"]}
    assert all(data == outputs[src] for src, _, data in d["dependencies"])
    assert roundtrip(d) == d


def test_alexnet_to_dict_values() -> None:
    d = load_dnn("alexnet").to_dict()
    first = d["tasks"][0]
    assert first["id"] == "conv1" and first["kind"] == "conv"
    assert first["output_bytes"] == 774_400
    assert d["dependencies"][0] == ["conv1", "pool1", 774_400.0]
    assert {t["kind"] for t in d["tasks"]} <= set(DNN_KINDS)


# --------------------------------------------------------------------------------------------
# the CLI prints exactly these dicts
# --------------------------------------------------------------------------------------------
def _printed(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(args) == 0
    return capsys.readouterr().out


def test_cli_json_is_the_library_dicts(capsys: pytest.CaptureFixture[str]) -> None:
    def dumped(doc: object) -> str:
        return json.dumps(doc, indent=2) + "\n"

    assert _printed(["presets", "rpi4b", "--json"], capsys) == dumped(
        device_preset("rpi4b").to_dict()
    )
    assert _printed(["presets", "wifi-ac", "--json"], capsys) == dumped(
        link_preset("wifi-ac").to_dict()
    )
    assert _printed(["presets", "--json"], capsys) == dumped(
        {
            "devices": [p.to_dict() for p in DEVICE_PRESETS.values()],
            "links": [p.to_dict() for p in LINK_PRESETS.values()],
            "references": dict(REFERENCES),
        }
    )
    assert _printed(["dnn", "--json"], capsys) == dumped([dnn_summary(n) for n in dnn_names()])
    assert _printed(["dnn", "googlenet", "-g", "block", "--json"], capsys) == dumped(
        load_dnn("googlenet", "block").to_dict()
    )


def test_presets_to_dict_is_what_presets_json_prints(capsys: pytest.CaptureFixture[str]) -> None:
    doc = presets_to_dict()
    assert list(doc) == ["devices", "links", "references"]
    assert [d["name"] for d in doc["devices"]] == list(DEVICE_PRESETS)
    assert [link["name"] for link in doc["links"]] == list(LINK_PRESETS)
    assert doc["devices"][0] == device_preset("rpi4b").to_dict()
    assert doc["references"] == dict(REFERENCES)
    assert roundtrip(doc) == doc
    assert _printed(["presets", "--json"], capsys) == json.dumps(doc, indent=2) + "\n"


@pytest.mark.parametrize(
    ("name", "parameters"),
    [("alexnet", 61_100_840), ("googlenet", 6_624_904), ("resnet50", 25_557_032)],
)
def test_parameters_are_counted_from_fp32_bytes(name: str, parameters: int) -> None:
    """torchvision's parameter counts, from the shipped float32 graphs' bytes."""
    for granularity in GRANULARITIES:
        model = load_dnn(name, granularity)
        assert model.provenance["dtype"] == "float32"
        assert model.total_parameters == parameters == model.total_param_bytes // 4
        assert model.total_parameters / 1e6 == pytest.approx(
            model.provenance["measured_params_millions"], abs=1e-6
        )
    assert dnn_summary(name)["parameters"] == parameters
