"""``serve --torch``: real PyTorch inference of the frames' blocks on throttled workers.

A camera and an edge server serve AlexNet frames for a few seconds: the frames run the
model's blocks for real (the calls are the pipeline's, checked against the whole model
run here), the work is not scaled, DHS's δ1 follows how much slower this machine is than
the devices, and every frame ends done or dropped with a reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeoffload.apps import dnn_pipeline as dnn
from edgeoffload.errors import ModelError
from edgeoffload.experiments.serving import DROP_REASONS, read_frames, serve
from edgeoffload.experiments.serving.control import camera_sources, frame_problem
from edgeoffload.experiments.serving.inference import Torch
from edgeoffload.workloads.scenarios import load_scenario

pytestmark = pytest.mark.dask

if dnn.torch_unavailable():
    pytest.skip(dnn.torch_unavailable() or "", allow_module_level=True)
pytest.importorskip("distributed")

SCENARIO = """\
format: 1
name: serve-torch
granularity: block
dhs: {delta1: 0.1, delta2: 1.0}
devices:
  - {id: cam1, preset: jetson-tx2, role: camera}
  - {id: edge, preset: edge-server, role: edge}
network:
  default_link: {preset: wifi-ac}
streams:
  - {name: frames, model: alexnet, camera: cam1, rate: 2, start: 0, duration: 4, deadline: 2.0}
"""


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("serve-torch") / "serve-torch.yaml"
    path.write_text(SCENARIO)
    return load_scenario(path)


def test_a_frames_calls_are_the_models_blocks(scenario: Any) -> None:
    from edgeoffload.experiments.serving.control import Frame
    from edgeoffload.runtime.dag import run_local

    source = next(iter(camera_sources(scenario.streams, 1.0, 1.0).values()))
    problem = frame_problem(source, scenario.cluster)
    runner = Torch()
    bound = runner.bind(problem, "alexnet")
    blocks = {t: c.kwargs.get("blocks") for t, c in bound.calls.items()}
    assert blocks == {
        "frame/input": None,
        "frame/stage1": ("stage1",),
        "frame/stage2": ("stage2",),
        "frame/stage3": ("stage3",),
        "frame/classifier": ("classifier",),
    }
    frame = Frame("cam1", 3, 0.0, source)
    call = runner.source(frame, "frame/input")
    assert call is not None
    from edgeoffload.runtime.dag import DagProblem

    app = DagProblem(problem, {**bound.calls, "frame/input": call}, bound.outputs)
    (logits,) = run_local(app).values()
    x = call.local()
    for group in dnn.layer_groups("alexnet"):
        x = dnn.run_group(x, model="alexnet", blocks=group.blocks)
    assert logits.shape == (1, 1000)
    np.testing.assert_allclose(logits, x, rtol=1e-5, atol=1e-6)
    # a picture goes through ImageNet's normalisation
    picture = np.zeros((224, 224, 3), np.uint8)
    with_pixels = Frame("cam1", 4, 0.0, source, picture, "black.png")
    tensor = runner.source(with_pixels, "frame/input").local()  # type: ignore[union-attr]
    assert tensor.shape == (1, 3, 224, 224)
    assert tensor[0, :, 0, 0] == pytest.approx([-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225])


def test_torch_refuses_layer_granularity_and_unknown_models(scenario: Any) -> None:
    layer = load_scenario_text(SCENARIO.replace("granularity: block", "granularity: layer"))
    with pytest.raises(ModelError, match="cut into blocks"):
        Torch().check(layer.streams)


def load_scenario_text(text: str) -> Any:
    import yaml

    from edgeoffload.workloads.scenarios import scenario_from_dict

    return scenario_from_dict(yaml.safe_load(text))


def test_serve_runs_real_inference(scenario: Any, tmp_path: Path) -> None:
    result = serve(
        scenario,
        duration=4.0,
        out=tmp_path,
        torch=True,
        budget=1.0,
        calibration_options={"seconds": 0.05, "repeats": 1, "links": False, "client_links": False},
        plots=False,
    )
    frames = read_frames(tmp_path / "frames.jsonl")
    assert [f["frame"] for f in frames] == list(range(8))  # 2 a second for 4 s
    done = [f for f in frames if f["status"] == "done"]
    assert len(done) >= 6, frames
    assert all(f["reason"] in DROP_REASONS for f in frames if f["status"] == "dropped")
    assert all(f["latency"] > 0 and f["predicted_latency"] > 0 for f in done)
    assert result.scale == 1.0  # real work is not scaled
    (note,) = [n for n in result.notes if "real inference" in n]
    slower = float(note.split("takes ")[1].split("x")[0])
    assert slower > 0
    assert f"delta1 scaled to {0.1 * slower:.3g} s" in note
    # the model learned the workers' PyTorch speed from the runs
    learned = {(s["node"], s["kind"]): s for s in result.learned["speeds"]}
    assert learned[("cam1", "conv")]["executions"] > 0
    assert learned[("cam1", "conv")]["speed"] > 0
