"""DHS as a live service: camera streams served on a real cluster (``edgeoffload serve``).

- :mod:`.live`: :func:`serve`, the service loop (arrivals in real time, runs on workers,
  shutdown);
- :mod:`.control`: the :class:`Controller` (admission, the sliding-window load class and
  the scheduler switch, placement around work in flight, the cost model that learns);
- :mod:`.sources`: when frames arrive; :mod:`.log`: the frame log and live figures;
  :mod:`.report`: the summary and figures; :mod:`.metrics`: Prometheus;
- :mod:`.inference`: what a frame's tasks run (synthetic kernels, or PyTorch).

See docs/serving.md.
"""

from __future__ import annotations

from edgeoffload.experiments.serving.control import BASELINES, DROP_REASONS, Controller
from edgeoffload.experiments.serving.inference import work_scale
from edgeoffload.experiments.serving.live import DEFAULT_SCENARIO, ServeResult, serve
from edgeoffload.experiments.serving.log import FRAME_KEYS, read_frames
from edgeoffload.experiments.serving.report import summarise

__all__ = [
    "BASELINES",
    "DEFAULT_SCENARIO",
    "DROP_REASONS",
    "FRAME_KEYS",
    "Controller",
    "ServeResult",
    "read_frames",
    "serve",
    "summarise",
    "work_scale",
]
