"""Applications that run on workers: what a scheduled DAG's tasks really compute.

- :mod:`~edgeoffload.apps.synthetic`: numpy kernels that burn a task's FLOP at the
  worker's real speed (``edgeoffload run`` gives every task of a scenario one), and the
  calibration kernels that measure that speed per task kind.
- :mod:`~edgeoffload.apps.dnn_pipeline`: AlexNet and ResNet-50 cut into layer groups and
  run with PyTorch on CPU (the optional ``dnn`` extra).

These modules are installed code: a worker imports them by name (a bundle never ships
them), so they must be importable without Dask.
"""
