"""The real DNN pipeline: the cut (no torch needed) and, where PyTorch is installed, the
layer groups' tensors and a run across workers equal to a local run."""

from __future__ import annotations

import numpy as np
import pytest

from edgeoffload.apps.dnn_pipeline import (
    CUTS,
    MODELS,
    layer_groups,
    pipeline_dag,
    profiled_work,
    torch_unavailable,
)
from edgeoffload.errors import ModelError
from edgeoffload.workloads.dnn import load_dnn

NO_TORCH = torch_unavailable()
needs_torch = pytest.mark.skipif(
    NO_TORCH is not None, reason=f"the DNN pipeline needs the 'dnn' extra: {NO_TORCH}"
)


class TestCut:
    @pytest.mark.parametrize("model", MODELS)
    @pytest.mark.parametrize("cut", CUTS)
    def test_groups_cover_the_block_dag_in_order_with_its_figures(self, model: str, cut: str):
        dnn = load_dnn(model, "block")
        groups = layer_groups(model, cut)
        assert [b for g in groups for b in g.blocks] == [t.id for t in dnn.graph.tasks]
        assert sum(g.work for g in groups) == pytest.approx(dnn.total_flops)
        for group in groups:
            assert group.output_bytes == dnn.output_bytes[group.blocks[-1]]

    def test_resnet_stages(self) -> None:
        groups = layer_groups("resnet50", "stage")
        assert [g.id for g in groups] == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]
        assert groups[-1].kind == "fc" and groups[1].kind == "conv"
        assert len(layer_groups("resnet50", "block")) == 18
        assert [g.id for g in layer_groups("alexnet", "stage")] == [
            "stage1",
            "stage2",
            "stage3",
            "classifier",
        ]

    def test_unknown_model_or_cut(self) -> None:
        with pytest.raises(ModelError, match="unknown model"):
            layer_groups("vgg16")
        with pytest.raises(ModelError, match="unknown cut"):
            layer_groups("alexnet", "layer")

    def test_pipeline_dag_is_a_chain_of_groups(self) -> None:
        dag = pipeline_dag("alexnet", work={"stage2": 1.0})
        graph = dag.graph
        assert graph.entry_tasks() == ("stage1",) and graph.exit_tasks() == ("classifier",)
        assert graph.task("stage2").work == 1.0
        assert graph.dependency("stage1", "stage2").data == 186_624
        assert dag.calls["stage3"].kwargs["blocks"] == ("stage3",)

    def test_profiled_work_is_time_at_the_reference_speed(self) -> None:
        seconds = {g.id: 0.01 for g in layer_groups("alexnet")}
        work = profiled_work("alexnet", seconds, {"conv": 5e10, "fc": 1e10})
        assert work["stage1"] == pytest.approx(5e8) and work["classifier"] == pytest.approx(1e8)


@needs_torch
class TestTorch:
    @pytest.mark.parametrize("model", MODELS)
    def test_each_group_outputs_the_tensor_the_graph_says(self, model: str) -> None:
        from edgeoffload.apps.dnn_pipeline import capture_frame, run_group

        x = capture_frame(1, 0)
        assert x.shape == (1, 3, 224, 224) and x.nbytes == 602_112
        for group in layer_groups(model, "stage"):
            x = run_group(x, model=model, blocks=group.blocks)
            assert x.dtype == np.float32 and x.nbytes == group.output_bytes
            assert np.isfinite(x).all()

    def test_weights_depend_on_the_seed_only(self) -> None:
        from edgeoffload.apps.dnn_pipeline import _MODULES, capture_frame, run_group

        x = capture_frame(2, 3)
        first = run_group(x, model="alexnet", blocks=("stage1",), seed=5)
        _MODULES.clear()  # built again from scratch: the same weights
        assert np.array_equal(run_group(x, model="alexnet", blocks=("stage1",), seed=5), first)
        assert not np.array_equal(run_group(x, model="alexnet", blocks=("stage1",), seed=6), first)

    def test_kernel_speeds(self) -> None:
        from edgeoffload.apps.dnn_pipeline import torch_kernel_for, torch_kernel_speed

        assert torch_kernel_for("fc") == "fc" and torch_kernel_for("pool") == "conv"
        assert torch_kernel_speed("fc", seconds=0.01, repeats=1)["speed"] > 1e7

    @pytest.mark.dask
    def test_frames_through_alexnet_across_workers_equal_a_local_run(self) -> None:
        """Two frames, AlexNet's groups spread by HEFT over a camera and an edge server."""
        pytest.importorskip("distributed")
        from edgeoffload.apps.dnn_pipeline import capture_frame, warm_up
        from edgeoffload.model import Cluster, Link, Node
        from edgeoffload.runtime import WorkerSpec, connect
        from edgeoffload.runtime.dag import DagRequest, TaskCall, run_dag, run_local

        app = pipeline_dag("alexnet")
        requests = [
            DagRequest(
                "f0", app, "cam1", source=TaskCall(capture_frame, (1, 0)), input_bytes=602_112
            ),
            DagRequest("f1", app, "cam1", arrival=0.05, input=capture_frame(2, 0)),
        ]
        cluster = Cluster(
            [Node("cam1", 2e9, role="camera"), Node("edge", 2e10, role="edge")],
            default_link=Link(1e8, 0.001),
        )
        workers = [WorkerSpec("cam1", role="camera"), WorkerSpec("edge", role="edge")]
        with connect(workers=workers, timeout=120) as session:
            for node in ("cam1", "edge"):
                session.call_on(node, warm_up, "alexnet")
            run = run_dag(session, requests, cluster=cluster, algorithm="heft")
        expected = run_local(requests)
        assert set(run.outputs) == {"f0/classifier", "f1/classifier"}
        for task, value in run.outputs.items():
            np.testing.assert_allclose(value, expected[task], rtol=1e-4, atol=1e-4)
        assert {e.node for e in run.executions} == {"cam1", "edge"}


def test_without_torch_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where PyTorch is missing, using the pipeline says how to install it."""
    import importlib.util

    from edgeoffload.apps import dnn_pipeline
    from edgeoffload.errors import EdgeOffloadError

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    reason = dnn_pipeline.torch_unavailable()
    assert reason is not None and "edgeoffload[dnn]" in reason
    with pytest.raises(EdgeOffloadError, match=r"pip install 'edgeoffload\[dnn\]'"):
        dnn_pipeline.import_torch()
