"""Real DNN inference on a small camera cluster: AlexNet and ResNet-50 cut into layer
groups, run with PyTorch on CPU on different workers, Local / Edge / DHS compared.

Three workers on this machine stand for the DHS paper's devices: ``cam1`` (a Raspberry Pi
4B), ``cam2`` (a Jetson TX2) and ``edge`` (the edge server), made heterogeneous by CPU
quotas in the ratio of their presets' speeds. Each camera produces frames (a camera-like
source running on the camera); each frame is a request: AlexNet at ``cam1``, ResNet-50 at
``cam2``. The workers are calibrated first (PyTorch conv and linear kernels, links between
every pair), then each algorithm's schedule runs for real and is simulated on the same
calibrated cluster.

Needs the optional extra: ``pip install 'edgeoffload[dnn]'``; without it the example says
so and stops. Run: ``python examples/04_dnn_pipeline.py`` (about a minute). CPU quotas
use cgroups as root, else a stop/continue duty cycle.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

import edgeoffload
from edgeoffload.apps import dnn_pipeline as dnn

ALGORITHMS = ("local", "edge", "dhs")
FRAMES = 2  # frames per camera
FRAME_PERIOD = 0.2  # seconds between a camera's frames
INPUT_BYTES = 602_112  # a 1x3x224x224 float32 frame
PIPELINES = {"cam1": ("alexnet", "block"), "cam2": ("resnet50", "stage")}  # model, cut


def requests(app_by_camera: dict[str, object]) -> list[object]:
    from edgeoffload.runtime.dag import DagRequest, TaskCall

    out = []
    for k, (camera, app) in enumerate(app_by_camera.items(), start=1):
        for frame in range(FRAMES):
            out.append(
                DagRequest(
                    f"{camera}-f{frame}",
                    app,  # type: ignore[arg-type]
                    camera,
                    arrival=frame * FRAME_PERIOD,
                    source=TaskCall(dnn.capture_frame, (k, frame)),
                    input_bytes=INPUT_BYTES,
                )
            )
    return out


def main() -> None:
    reason = dnn.torch_unavailable()
    if reason is not None:
        print(f"skipped: {reason}")
        return
    from edgeoffload.experiments.dag_run import preset_quotas, throttle_workers
    from edgeoffload.model import Cluster
    from edgeoffload.runtime import WorkerSpec
    from edgeoffload.runtime.dag import DagProblem
    from edgeoffload.workloads.devices import device_preset

    model = Cluster(
        [
            device_preset("rpi4b").to_node("cam1", role="camera"),
            device_preset("jetson-tx2").to_node("cam2", role="camera"),
            device_preset("edge-server").to_node("edge", role="edge"),
        ]
    )
    apps = {camera: dnn.pipeline_dag(name, cut) for camera, (name, cut) in PIPELINES.items()}
    work = requests(apps)
    bound = DagProblem.from_requests(work, model)  # type: ignore[arg-type]
    quotas = preset_quotas(model, [bound.problem], budget=1.5)
    print("CPU quotas (cores):", ", ".join(f"{n} {q:.2f}" for n, q in quotas.items()))
    print("requests:", ", ".join(f"{r.id} ({len(r.app.graph)} groups)" for r in work))  # type: ignore[attr-defined]

    workers = [WorkerSpec(n.id, role=n.role) for n in model]
    with edgeoffload.connect(workers=workers, timeout=120) as session:
        # import PyTorch and build every block's weights on every worker before anything
        # is timed, at full speed; then hold the workers to their quotas
        with ThreadPoolExecutor(len(workers)) as pool:
            for name in dnn.MODELS:
                calls = [pool.submit(session.call_on, n, dnn.warm_up, name) for n in model.node_ids]
                for call in calls:
                    call.result()
        with throttle_workers(session, quotas) as problems:
            for problem in problems:
                print(f"not throttled: {problem}")
            compare(session, model, bound)


def compare(session: Any, model: Any, bound: Any) -> None:
    from edgeoffload.runtime import calibrate_cluster
    from edgeoffload.runtime.dag import DagProblem, run_dag, run_local
    from edgeoffload.simulation import SimConfig, simulate

    calibration = calibrate_cluster(
        session,
        base=model,
        kinds=["conv", "fc"],
        probe=dnn.torch_kernel_speed,
        kernel_of=dnn.torch_kernel_for,
        seconds=0.1,
    )
    for node, speeds in calibration.kernel_speeds.items():
        rates = ", ".join(f"{k} {v / 1e9:.3g}" for k, v in speeds.items())
        print(f"calibrated {node}: {rates} GFLOP/s")
    flops = bound.with_cluster(calibration.cluster)
    # the profiled variant: each group timed once on the edge server, as FLOP at its speed
    reference = calibration.kernel_speeds["edge"]
    profiled_apps = {}
    for camera, (name, cut) in PIPELINES.items():
        seconds = session.call_on("edge", dnn.profile_groups, name, cut)
        work = dnn.profiled_work(name, seconds, reference, cut)
        profiled_apps[camera] = dnn.pipeline_dag(name, cut, work=work)
    profiled = DagProblem.from_requests(requests(profiled_apps), calibration.cluster)
    expected = run_local(flops)
    print(
        f"{'algorithm':<9} {'work':<8} {'predicted':>9} {'simulated':>9} "
        f"{'measured':>9} {'error':>7}"
    )
    runs = {}
    for algorithm in ALGORITHMS:
        for label, app in (("FLOP", flops), ("profiled", profiled)):
            run = run_dag(session, app, algorithm=algorithm)
            for task, value in run.outputs.items():
                assert np.allclose(value, expected[task], rtol=1e-3, atol=1e-3), task
            simulated = simulate(app.problem, run.schedule, SimConfig())
            print(
                f"{algorithm:<9} {label:<8} {run.predicted_makespan:9.3f} "
                f"{simulated.makespan:9.3f} {run.makespan:9.3f} {100 * run.error:6.1f}%"
            )
            runs[algorithm, label] = run
    top1 = {t.partition("/")[0]: int(np.argmax(v)) for t, v in expected.items()}
    print("top-1 class per frame (the same in every run):", top1)
    base = np.mean([r.latency for r in runs["local", "profiled"].requests])
    for algorithm in ("edge", "dhs"):
        mean = np.mean([r.latency for r in runs[algorithm, "profiled"].requests])
        print(f"{algorithm}: mean latency {100 * mean / base:.1f} % of Local's (measured)")
    folder = os.environ.get("EDGEOFFLOAD_EXAMPLE_OUT")
    if folder:
        from edgeoffload.plots import save_figure
        from edgeoffload.plots.dag import plot_predicted_vs_measured

        for (algorithm, label), run in runs.items():
            top, _ = plot_predicted_vs_measured(
                run.problem, run.schedule, run.measured, transfers=run.transfers
            )
            save_figure(top, Path(folder) / f"dnn-{algorithm}-{label}.png")


if __name__ == "__main__":  # worker processes import this file: keep the guard
    main()
