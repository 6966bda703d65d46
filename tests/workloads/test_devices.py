"""Device and link presets (workloads/devices.py)."""

from __future__ import annotations

import re

import pytest

from edgeoffload.errors import ModelError
from edgeoffload.model import AppRequest, Cluster, Link, Node, merge_requests
from edgeoffload.workloads.devices import (
    BENCHMARK_MACS,
    DEVICE_PRESETS,
    LINK_PRESETS,
    REFERENCES,
    device_preset,
    device_preset_names,
    effective_speed,
    link_preset,
    link_preset_names,
)
from edgeoffload.workloads.dnn import DNN_KINDS, load_dnn

GFLOPS = 1e9
GIB = 1024**3


def test_names() -> None:
    assert device_preset_names() == [
        "rpi4b",
        "jetson-tx2",
        "jetson-tx2-cpu",
        "edge-server",
        "nexus7",
        "nexus6p",
        "i7-6700",
    ]
    assert link_preset_names() == ["wifi-n", "wifi-ac", "ethernet"]


@pytest.mark.parametrize("name", list(DEVICE_PRESETS))
def test_every_device_preset_makes_a_valid_node(name: str) -> None:
    preset = device_preset(name)
    node = preset.to_node("n1")
    assert isinstance(node, Node)
    assert node.id == "n1"
    assert node.speed == preset.speed > 0
    assert node.role == preset.role
    assert node.cores == 1
    assert node.memory == preset.memory
    assert node.power == preset.power
    assert node.power is not None and node.power.busy > node.power.idle > 0
    assert dict(node.speed_by_kind) == dict(preset.speed_by_kind)


def test_to_node_overrides() -> None:
    node = device_preset("rpi4b").to_node("cam", role="device", cores=4, available_from=2.0)
    assert (node.role, node.cores, node.available_from) == ("device", 4, 2.0)
    with pytest.raises(ModelError, match="cores"):
        device_preset("rpi4b").to_node("cam", cores=0)


@pytest.mark.parametrize("name", list(LINK_PRESETS))
def test_every_link_preset_makes_a_valid_link(name: str) -> None:
    preset = link_preset(name)
    link = preset.to_link()
    assert link == Link(preset.bandwidth, preset.latency)
    assert link.bandwidth > 0 and 0 < link.latency < 0.01


@pytest.mark.parametrize(
    "preset", [*DEVICE_PRESETS.values(), *LINK_PRESETS.values()], ids=lambda p: p.name
)
def test_every_number_has_a_source(preset: object) -> None:
    """Each numeric field carries a non-trivial citation; bracketed keys are in REFERENCES."""
    fields = preset.numeric_fields()  # type: ignore[attr-defined]
    assert fields
    for key in fields:
        source = (
            preset.source_of(key)  # type: ignore[attr-defined]
            if hasattr(preset, "source_of")
            else preset.sources.get(key, "")  # type: ignore[attr-defined]
        )
        assert len(source) > 15, f"{preset.name}.{key} has no source"  # type: ignore[attr-defined]
        for ref in re.findall(r"\[([A-Za-z0-9-]+)\]", source):
            assert ref in REFERENCES, f"{preset.name}.{key} cites unknown [{ref}]"  # type: ignore[attr-defined]


def test_effective_speed() -> None:
    assert effective_speed([1e9, 3e9], [0.1, 0.3]) == 20e9
    with pytest.raises(ModelError):
        effective_speed([1e9], [0.1, 0.2])


def test_effective_speeds_match_their_citations() -> None:
    """The speeds are 2 x Σ MACs / Σ latency of the cited measurements, as the sources say."""
    total = 2 * sum(BENCHMARK_MACS.values())
    assert total == pytest.approx(12.330e9, rel=1e-4)
    assert device_preset("rpi4b").speed == pytest.approx(total / 0.4536)
    assert device_preset("rpi4b").speed / GFLOPS == pytest.approx(27.18, abs=0.01)
    assert device_preset("jetson-tx2").speed_by_kind["conv"] / GFLOPS == pytest.approx(
        121.36, abs=0.01
    )
    assert device_preset("jetson-tx2-cpu").speed / GFLOPS == pytest.approx(28.01, abs=0.01)
    assert device_preset("edge-server").speed / GFLOPS == pytest.approx(284.47, abs=0.01)


def test_cofa_speeds_are_the_papers_linpack() -> None:
    assert [device_preset(n).speed for n in ("nexus7", "nexus6p", "i7-6700")] == [
        106.1e6,
        298.5e6,
        2719.6e6,
    ]


def test_papers_memory_figures() -> None:
    assert device_preset("edge-server").memory == 24 * GIB
    assert device_preset("nexus7").memory == 1 * GIB
    assert device_preset("i7-6700").memory == 16 * GIB


def test_battery_powers_from_the_android_power_profiles() -> None:
    """mA from power_profile.xml times the battery's nominal volts."""
    n7 = device_preset("nexus7").power
    assert n7 is not None
    assert n7.idle == pytest.approx(0.0584 * 3.70)
    assert n7.busy == pytest.approx(0.2184 * 3.70)
    assert n7.transmit == pytest.approx(0.0894 * 3.70)
    p6 = device_preset("nexus6p").power
    assert p6 is not None
    assert p6.busy == pytest.approx(1.49996, abs=1e-4)


def test_ratios_that_must_hold() -> None:
    """The relations the sources support, whatever the exact numbers."""
    tx2 = device_preset("jetson-tx2").to_node("g")
    tx2_cpu = device_preset("jetson-tx2-cpu").to_node("c")
    rpi = device_preset("rpi4b").to_node("r")
    edge = device_preset("edge-server").to_node("e")
    # the TX2 GPU runs DNN layers several times faster than its own CPU
    assert tx2.speed_for("conv") > 4 * tx2_cpu.speed_for("conv")
    assert all(tx2.speed_for(kind) == tx2.speed_for("conv") for kind in DNN_KINDS)
    assert tx2.speed_for(None) == tx2_cpu.speed  # kind-less tasks run on its CPU
    # the edge server beats every camera at conv layers
    assert edge.speed_for("conv") > tx2.speed_for("conv") > rpi.speed_for("conv")
    # the two ARM CPUs are within 10 % of each other (ncnn, all cores)
    assert rpi.speed == pytest.approx(tx2_cpu.speed, rel=0.1)
    # COFA: server > remote phone > local tablet, with the paper's own ratios
    n7, p6, i7 = (device_preset(n).speed for n in ("nexus7", "nexus6p", "i7-6700"))
    assert p6 / n7 == pytest.approx(2.81, abs=0.01)
    assert i7 / n7 == pytest.approx(25.63, abs=0.01)
    # links: Ethernet > 802.11ac > 802.11n, and Wi-Fi has the longer latency
    eth, ac, n = (link_preset(x) for x in ("ethernet", "wifi-ac", "wifi-n"))
    assert eth.bandwidth > ac.bandwidth > n.bandwidth
    assert eth.latency < ac.latency == n.latency


def test_resnet50_on_presets_takes_about_the_measured_time() -> None:
    """Effective speeds make a shipped graph take about the benchmarked latency.

    The preset speed is the three networks' joint rate, 7 % below ResNet-50's own on this
    board; torchvision's ResNet-50 (v1.5) also has 6 % more MACs than the benchmarked v1 and
    its work counts element-wise FLOP. So the modelled time sits 10-20 % above the measured.
    """
    model = load_dnn("resnet50")
    rpi = device_preset("rpi4b").to_node("r")
    seconds = sum((t.work or 0.0) / rpi.speed_for(t.kind) for t in model.graph.tasks)
    measured = 0.2628  # ncnn FP32, 4 threads, 1.8 GHz [S1]
    assert seconds == pytest.approx(8.2176e9 / 27.1828e9, rel=1e-4)
    assert 1.10 * measured < seconds < 1.20 * measured
    tx2 = device_preset("jetson-tx2").to_node("g")
    gpu_seconds = sum((t.work or 0.0) / tx2.speed_for(t.kind) for t in model.graph.tasks)
    assert 0.0641 < gpu_seconds < 1.10 * 0.0641  # Caffe FP32, Max-N [S2]


def test_dhs_cluster_from_presets_schedules() -> None:
    """The paper's cluster (1 RPi 4B, 3 TX2, an edge server) built from presets is usable."""
    nodes = [device_preset("rpi4b").to_node("cam1")]
    nodes += [device_preset("jetson-tx2").to_node(f"cam{i}") for i in (2, 3, 4)]
    nodes.append(device_preset("edge-server").to_node("edge"))
    cluster = Cluster(nodes, default_link=link_preset("wifi-ac").to_link())
    requests = [
        AppRequest("r1", load_dnn("alexnet").graph, "cam1", input_data=602_112.0),
        load_dnn("googlenet", "block").request("r2", "cam2"),
    ]
    problem = merge_requests(requests, cluster)
    assert [n.id for n in problem.cluster.nodes_with_role("camera")] == [
        "cam1",
        "cam2",
        "cam3",
        "cam4",
    ]
    assert problem.cluster.nodes_with_role("edge")[0].memory == 24 * GIB


@pytest.mark.parametrize(
    ("lookup", "name", "message"),
    [
        pytest.param(
            device_preset,
            "jetson-nano",
            r"unknown device preset 'jetson-nano'; known: rpi4b, ",
            id="device",
        ),
        pytest.param(
            link_preset,
            "5g",
            r"unknown link preset '5g'; known: wifi-n, wifi-ac, ethernet",
            id="link",
        ),
    ],
)
def test_unknown_names_list_the_known_ones(lookup: object, name: str, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        lookup(name)  # type: ignore[operator]


def test_presets_are_immutable() -> None:
    preset = device_preset("jetson-tx2")
    with pytest.raises(TypeError):
        preset.speed_by_kind["conv"] = 1.0  # type: ignore[index]
    with pytest.raises(AttributeError):
        preset.speed = 1.0  # type: ignore[misc]
