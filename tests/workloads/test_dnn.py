"""The shipped DNN task graphs (workloads/dnn.py and data/dnn/*.json)."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from edgeoffload.errors import ModelError
from edgeoffload.model import Cluster, Node, merge_requests
from edgeoffload.workloads.dnn import DNN_KINDS, GRANULARITIES, dnn_names, load_dnn

# Published conv + linear GMACs at batch 1, 224x224 (docs/workloads.md), parameters in millions.
REFERENCE_GMACS = {"alexnet": 0.714, "googlenet": 1.498, "resnet50": 4.089}
REFERENCE_PARAMS_M = {"alexnet": 61.1, "googlenet": 6.6, "resnet50": 25.6}
LAYER_NODES = {"alexnet": (12, 15), "googlenet": (75, 90), "resnet50": (65, 80)}
BLOCK_NODES = {"alexnet": 4, "googlenet": 11, "resnet50": 18}
INPUT_BYTES = 3 * 224 * 224 * 4  # FP32 image

ALL = [(name, g) for name in ("alexnet", "googlenet", "resnet50") for g in GRANULARITIES]


def test_names() -> None:
    assert dnn_names() == ["alexnet", "googlenet", "resnet50"]


@pytest.mark.parametrize(("name", "granularity"), ALL)
def test_macs_within_one_percent_of_reference(name: str, granularity: str) -> None:
    """Conv + linear MACs of every shipped graph are within 1 % of the published GMACs."""
    model = load_dnn(name, granularity)
    gmacs = model.total_macs / 1e9
    assert gmacs == pytest.approx(REFERENCE_GMACS[name], rel=0.01)
    assert model.provenance["reference_gmacs"] == REFERENCE_GMACS[name]
    assert model.provenance["measured_gmacs"] == pytest.approx(gmacs, abs=1e-6)


@pytest.mark.parametrize("name", ["alexnet", "googlenet", "resnet50"])
def test_parameters_within_one_percent_of_reference(name: str) -> None:
    params_m = load_dnn(name).total_param_bytes / 4 / 1e6
    assert params_m == pytest.approx(REFERENCE_PARAMS_M[name], rel=0.01)


def test_exact_totals_are_stable() -> None:
    """The generated numbers, to the MAC: regenerating with another torchvision shows here."""
    assert [load_dnn(n).total_macs for n in dnn_names()] == [
        714_188_480,
        1_498_376_192,
        4_089_184_256,
    ]
    assert [len(load_dnn(n).graph) for n in dnn_names()] == [13, 82, 73]
    assert [len(load_dnn(n).graph.dependencies) for n in dnn_names()] == [12, 108, 88]


@pytest.mark.parametrize("name", ["alexnet", "googlenet", "resnet50"])
def test_node_counts(name: str) -> None:
    low, high = LAYER_NODES[name]
    assert low <= len(load_dnn(name, "layer").graph) <= high
    assert len(load_dnn(name, "block").graph) == BLOCK_NODES[name]


@pytest.mark.parametrize(("name", "granularity"), ALL)
def test_dag_with_one_entry_and_one_exit(name: str, granularity: str) -> None:
    """TaskGraph validated acyclicity; the image enters at one task and logits leave one."""
    graph = load_dnn(name, granularity).graph
    assert len(graph.entry_tasks()) == 1
    assert len(graph.exit_tasks()) == 1
    order = [graph.tasks[i].id for i in graph.topological_order]
    position = {task_id: k for k, task_id in enumerate(order)}
    assert all(position[d.source] < position[d.target] for d in graph.dependencies)


@pytest.mark.parametrize(("name", "granularity"), ALL)
def test_edge_bytes_equal_producer_output_bytes(name: str, granularity: str) -> None:
    model = load_dnn(name, granularity)
    for dep in model.graph.dependencies:
        assert dep.data == model.output_bytes[dep.source] > 0


@pytest.mark.parametrize(("name", "granularity"), ALL)
def test_work_and_kinds(name: str, granularity: str) -> None:
    """Work is FLOP (at least 2 per MAC), every kind is one a node can be fast at."""
    model = load_dnn(name, granularity)
    for task in model.graph.tasks:
        assert task.kind in DNN_KINDS
        assert task.work is not None and task.work >= 2 * model.macs[task.id]
    assert model.total_flops >= 2 * model.total_macs
    assert model.total_flops < 2.05 * model.total_macs  # element-wise ops are a few percent


def test_fusion_at_layer_level() -> None:
    """conv+BN+ReLU, add+ReLU and linear+ReLU are single tasks."""
    resnet = load_dnn("resnet50")
    assert resnet.ops["conv1"] == ("conv", "norm", "relu")
    assert resnet.ops["layer1.0.conv3"] == ("conv", "norm")  # ReLU comes after the add
    assert resnet.ops["layer1.0.add"] == ("add", "relu")
    assert resnet.graph.predecessors("layer1.0.add") == ("layer1.0.conv3", "layer1.0.downsample")
    alexnet = load_dnn("alexnet")
    assert alexnet.ops["fc6"] == ("fc", "relu", "dropout")
    assert alexnet.graph.task("fc6").kind == "fc"
    googlenet = load_dnn("googlenet")
    assert len(googlenet.graph.predecessors("inception3a.concat")) == 4
    assert len(googlenet.graph.successors("maxpool2")) == 4


def test_a_tensor_read_twice_is_one_edge_per_reader() -> None:
    """ResNet's block output feeds the next conv1 and the residual add: two edges."""
    resnet = load_dnn("resnet50")
    assert set(resnet.graph.successors("layer1.1.add")) == {"layer1.2.conv1", "layer1.2.add"}
    data = {
        resnet.graph.dependency("layer1.1.add", t).data for t in ("layer1.2.conv1", "layer1.2.add")
    }
    assert data == {56 * 56 * 256 * 4}


def test_known_layer_values() -> None:
    """Hand-computed: AlexNet conv1 is 64x55x55 outputs of 3x11x11 MACs."""
    alexnet = load_dnn("alexnet")
    assert alexnet.macs["conv1"] == 64 * 55 * 55 * 3 * 11 * 11
    assert alexnet.param_bytes["conv1"] == (64 * 3 * 11 * 11 + 64) * 4
    assert alexnet.output_bytes["conv1"] == 64 * 55 * 55 * 4
    # conv (2 per MAC) + ReLU (1 per output element)
    assert alexnet.graph.task("conv1").work == 2 * 64 * 55 * 55 * 363 + 64 * 55 * 55
    assert alexnet.macs["fc6"] == 9216 * 4096


@pytest.mark.parametrize("name", ["alexnet", "googlenet", "resnet50"])
def test_block_totals_equal_layer_totals(name: str) -> None:
    layer, block = load_dnn(name, "layer"), load_dnn(name, "block")
    assert block.total_macs == layer.total_macs
    assert block.total_flops == layer.total_flops
    assert block.total_param_bytes == layer.total_param_bytes
    assert block.output_bytes[block.graph.exit_tasks()[0]] == 1000 * 4  # the logits


def test_blocks_list_their_layers() -> None:
    """Every layer sits in exactly one block, the block file's ``layers`` say which."""
    for name in dnn_names():
        layer_ids = [t.id for t in load_dnn(name, "layer").graph.tasks]
        doc = json.loads(
            resources.files("edgeoffload.workloads.data.dnn")
            .joinpath(f"{name}.block.json")
            .read_text()
        )
        members = [layer for node in doc["nodes"] for layer in node["layers"]]
        assert sorted(members) == sorted(layer_ids)


@pytest.mark.parametrize(("name", "granularity"), ALL)
def test_input_and_provenance(name: str, granularity: str) -> None:
    model = load_dnn(name, granularity)
    assert model.input_bytes == INPUT_BYTES == 602_112
    prov = model.provenance
    assert prov["tool"] == "tools/dnn_dags/extract.py"
    assert prov["input_shape"] == [1, 3, 224, 224]
    assert prov["dtype"] == "float32"
    assert prov["torch"].startswith("2.13.0") and prov["torchvision"].startswith("0.28.0")
    assert "weights=None" in prov["source"]
    assert "2 FLOP per MAC" in prov["flop_convention"]
    assert prov["generated"][:2] == "20"


def test_largest_activation_is_resnet_stage1() -> None:
    """The reference's 3.2 MB tensor: 256x56x56 FP32 after each layer1 bottleneck."""
    assert max(load_dnn("resnet50").output_bytes.values()) == 3_211_264


def test_loading_is_cached() -> None:
    assert load_dnn("resnet50") is load_dnn("resnet50", "layer")
    assert load_dnn("resnet50", "block") is not load_dnn("resnet50", "layer")


def test_request_merges_into_a_problem() -> None:
    """A DNN request gets a pinned source that sends the image to the first layer."""
    cluster = Cluster([Node("cam", 2.7e10, role="camera"), Node("edge", 2.8e11, role="edge")])
    problem = merge_requests([load_dnn("alexnet").request("r1", "cam", arrival=0.5)], cluster)
    assert problem.graph.dependency("r1/input", "r1/conv1").data == 602_112
    assert problem.graph.task("r1/input").pinned == "cam"
    assert len(problem.graph) == 14


@pytest.mark.parametrize(
    ("name", "granularity", "message"),
    [
        pytest.param(
            "vgg16", "layer", "unknown DNN 'vgg16'; known: alexnet, googlenet, resnet50", id="name"
        ),
        pytest.param(
            "alexnet", "op", "unknown granularity 'op'; known: layer, block", id="granularity"
        ),
    ],
)
def test_unknown_names_list_the_known_ones(name: str, granularity: str, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        load_dnn(name, granularity)
