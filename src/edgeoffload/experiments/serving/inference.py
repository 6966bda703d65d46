"""What a served frame's tasks run: calibrated synthetic kernels, or real PyTorch inference.

:class:`Synthetic` (the default) runs each task as a
:func:`~edgeoffload.apps.synthetic.synthetic_task` of the task's work and kind, scaled so
that each worker takes as long as the device it stands for. :class:`Torch`
(``serve --torch``) runs the model's blocks for real with PyTorch on CPU
(:mod:`edgeoffload.apps.dnn_pipeline`): the frame's source task makes the input tensor on
the camera, each block task runs its block of AlexNet, GoogLeNet or ResNet-50 on the
activation it receives, and the activations go worker to worker. Its work is what it is:
nothing is scaled; each block's work in the cost model is its time profiled on the fastest
worker, as FLOP at that worker's calibrated speed
(:func:`~edgeoffload.apps.dnn_pipeline.profiled_work`).
"""

from __future__ import annotations

import functools
import statistics
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from edgeoffload.errors import ModelError
from edgeoffload.model import Cluster, Problem
from edgeoffload.model.task_graph import NodeId

if TYPE_CHECKING:
    from edgeoffload.experiments.serving.control import Frame
    from edgeoffload.runtime.client.session import Session
    from edgeoffload.runtime.dag import DagProblem, TaskCall

__all__ = ["INFERENCES", "Inference", "Synthetic", "Torch", "inference", "work_scale"]


class Inference:
    """How a frame problem becomes calls on workers (see the module docstring)."""

    name = ""
    scales = True
    """Whether the frames' work is scaled to the emulated devices (synthetic kernels)."""

    def check(self, streams: Sequence[Any]) -> None:
        """Refuse what this inference cannot run (a :class:`ModelError` naming why)."""

    def calibration(self) -> dict[str, Any]:
        """Options of :func:`~edgeoffload.runtime.calibrate_cluster` for its kernels."""
        return {}

    def prepare(self, session: Session, nodes: Iterable[NodeId], models: Iterable[str]) -> None:
        """Load what the tasks need on ``nodes`` before anything is timed."""

    def prepare_dask(self, dask: Any, nodes: Sequence[NodeId], models: Iterable[str]) -> None:
        """:meth:`prepare` for tasks that plain Dask runs (in the worker's own process)."""

    def profiled_work(
        self, session: Session, cluster: Cluster, models: Iterable[str]
    ) -> dict[str, dict[str, float]]:
        """Each model's task work measured on the cluster (empty: the graph's figures)."""
        return {}

    def bind(self, problem: Problem, model: str) -> DagProblem:
        """A call for every task of one frame of ``model`` (a stand-in source)."""
        raise NotImplementedError

    def source(self, frame: Frame, task_id: str) -> TaskCall | None:
        """The call of ``frame``'s source task, or ``None`` to keep :meth:`bind`'s."""
        raise NotImplementedError

    def for_dask(self, call: TaskCall) -> Callable[..., Any]:
        """``call`` as a plain function for Dask's workers, on one thread, as the
        runtime's executor runs it."""
        from edgeoffload.apps.synthetic import single_threaded

        return functools.partial(single_threaded, call.function, *call.args, **call.kwargs)


class Synthetic(Inference):
    """Synthetic kernels of each task's work and kind (the default)."""

    name = "synthetic"

    def bind(self, problem: Problem, model: str) -> DagProblem:
        from edgeoffload.apps.synthetic import synthetic_calls
        from edgeoffload.runtime.dag import DagProblem

        return DagProblem.bind(problem, synthetic_calls(problem))

    def source(self, frame: Frame, task_id: str) -> TaskCall | None:
        from edgeoffload.apps.synthetic import image_input
        from edgeoffload.runtime.dag import TaskCall

        if frame.payload is None:
            return None
        return TaskCall(image_input, (frame.payload,), {"tag": task_id})


class Torch(Inference):
    """Real inference with PyTorch on CPU (the ``dnn`` extra); weights are random but the
    same on every worker (``seed``)."""

    name = "torch"
    scales = False

    def __init__(self, seed: int = 0, repeats: int = 3) -> None:
        self.seed = seed
        self.repeats = repeats

    def check(self, streams: Sequence[Any]) -> None:
        from edgeoffload.apps import dnn_pipeline as dnn

        reason = dnn.torch_unavailable()
        if reason is not None:
            raise ModelError(f"real inference needs PyTorch: {reason}", "torch")
        for s in streams:
            where = f"stream {s.name!r}"
            if s.model not in dnn.MODELS:
                known = ", ".join(dnn.MODELS)
                raise ModelError(f"--torch runs {known}, not {s.model!r}", where)
            if s.granularity != "block":
                raise ModelError(
                    f"--torch runs models cut into blocks; this stream is at {s.granularity!r} "
                    "granularity (set 'granularity: block')",
                    where,
                )

    def calibration(self) -> dict[str, Any]:
        from edgeoffload.apps import dnn_pipeline as dnn

        return {"probe": dnn.torch_kernel_speed, "kernel_of": dnn.torch_kernel_for}

    def prepare(self, session: Session, nodes: Iterable[NodeId], models: Iterable[str]) -> None:
        """Import PyTorch and build every block's weights on each node, in parallel."""
        from edgeoffload.apps import dnn_pipeline as dnn

        names, wanted = list(nodes), sorted(set(models))
        if not names:
            return
        with ThreadPoolExecutor(len(names)) as pool:
            calls = [
                pool.submit(session.call_on, n, dnn.warm_up, m, None, self.seed)
                for n in names
                for m in wanted
            ]
            for call in calls:
                call.result()

    def prepare_dask(self, dask: Any, nodes: Sequence[NodeId], models: Iterable[str]) -> None:
        from edgeoffload.apps import dnn_pipeline as dnn
        from edgeoffload.apps.synthetic import single_threaded

        tasks: list[tuple[str, Callable[..., Any], list[str], NodeId]] = [
            (
                f"warm-up-{n}-{m}",
                functools.partial(single_threaded, dnn.warm_up, m, None, self.seed),
                [],
                n,
            )
            for n in nodes
            for m in sorted(set(models))
        ]
        dask.run(tasks, [t[0] for t in tasks], 300.0)

    def profiled_work(
        self, session: Session, cluster: Cluster, models: Iterable[str]
    ) -> dict[str, dict[str, float]]:
        """Each block timed on the fastest node, as FLOP at that node's speed for its kind."""
        from edgeoffload.apps import dnn_pipeline as dnn

        reference = max(cluster.nodes, key=lambda n: (n.speed, n.id))
        speeds = {kernel: reference.speed_for(kernel) for kernel in ("conv", "fc")}
        out = {}
        for model in sorted(set(models)):
            seconds = session.call_on(
                reference.id,
                dnn.profile_groups,
                model,
                "block",
                seed=self.seed,
                repeats=self.repeats,
            )
            out[model] = dnn.profiled_work(model, seconds, speeds)
        return out

    def bind(self, problem: Problem, model: str) -> DagProblem:
        from edgeoffload.apps import dnn_pipeline as dnn
        from edgeoffload.model.requests import SOURCE_TASK
        from edgeoffload.runtime.dag import DagProblem, TaskCall

        calls = {}
        for task in problem.graph.tasks:
            block = task.id.partition("/")[2]
            calls[task.id] = (
                TaskCall(dnn.capture_frame, (0, 0))
                if block == SOURCE_TASK
                else TaskCall(
                    dnn.run_group, kwargs={"model": model, "blocks": (block,), "seed": self.seed}
                )
            )
        return DagProblem.bind(problem, calls)

    def source(self, frame: Frame, task_id: str) -> TaskCall | None:
        from edgeoffload.apps import dnn_pipeline as dnn
        from edgeoffload.runtime.dag import TaskCall

        if frame.payload is not None:
            return TaskCall(dnn.picture_input, (frame.payload,))
        camera = zlib.crc32(str(frame.camera).encode()) % 10_000  # a seed per camera
        return TaskCall(dnn.capture_frame, (camera, frame.number))


INFERENCES: Mapping[str, Callable[[], Inference]] = {"synthetic": Synthetic, "torch": Torch}
"""What ``serve`` can run frames with, by name."""


def inference(name: str) -> Inference:
    """The inference called ``name`` (see :data:`INFERENCES`)."""
    if name not in INFERENCES:
        raise ModelError(f"unknown inference {name!r}; known: {', '.join(INFERENCES)}", "inference")
    return INFERENCES[name]()


def work_scale(
    model: Cluster,
    measured: Cluster,
    problems: Sequence[Problem],
    real: Sequence[Problem] | None = None,
) -> float:
    """The factor on every task's work that makes the measured nodes take as long as the
    modelled ones: the median over nodes of measured over modelled speed on the workload
    (a node's speed on it is the total work over the time it would take there).

    ``real``: the same frames with the work the measured nodes really do (profiled
    inference): then it is the median of the modelled time over the measured one."""
    from edgeoffload.experiments.dag_run import workload_speeds

    def total(ps: Sequence[Problem]) -> float:
        return sum(float(t.work or 0.0) for p in ps for t in p.graph.tasks)

    if not total(problems) or (real is not None and not total(real)):
        return 1.0
    modelled = workload_speeds(model, problems)
    shared = [n for n in measured.node_ids if n in modelled]
    if not shared:
        raise ModelError("the measured cluster shares no node with the scenario", "cluster")
    shown = workload_speeds(Cluster([measured.node(n) for n in shared]), real or problems)
    works = 1.0 if real is None else total(problems) / total(real)
    return works * float(statistics.median(shown[n] / modelled[n] for n in shared))
