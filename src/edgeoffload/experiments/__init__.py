"""The experiments, usable from Python; the command line only renders what they return.

Simulated (the ``sim`` extra):

- :mod:`~edgeoffload.experiments.simulated`: a scenario's conditions × algorithms,
  scheduled once and simulated N times (``run_experiment``), its frame streams
  (``run_streams``), and how much that is before it starts (``estimate_work``);
- :mod:`~edgeoffload.experiments.sweep`: parameter sweeps and DHS threshold calibration
  in worker processes;
- :mod:`~edgeoffload.experiments.report` and
  :mod:`~edgeoffload.experiments.simulation_files`: their markdown reports, CSV and
  figures.

With real processes on this machine (the ``runtime`` extra):

- :mod:`~edgeoffload.experiments.dag_run`: a scenario's requests run for real on workers,
  beside their prediction and simulation; cluster calibration;
- :mod:`~edgeoffload.experiments.cofa`: COFA's Reversi and Linpack offloading experiments
  with a throttled client (files: :mod:`~edgeoffload.experiments.cofa_files`);
- :mod:`~edgeoffload.experiments.runner` runs any measurement plan in a throttled client
  subprocess; :mod:`~edgeoffload.experiments.apps` finds the example applications and
  stages them as application code; :mod:`~edgeoffload.experiments.demo` is what
  ``edgeoffload demo`` shows.

Only COFA's entry points are imported here; import the others from their modules (each
needs its own extra).
"""

from __future__ import annotations

from edgeoffload.experiments.cofa import PAPER, CofaConfig, CofaResult, run_cofa

__all__ = ["PAPER", "CofaConfig", "CofaResult", "run_cofa"]
