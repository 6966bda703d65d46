"""Prometheus metrics of a serve run (the ``serve`` extra's ``prometheus-client``).

Served at ``http://HOST:PORT/metrics`` while the run lasts, on loopback unless another
host is asked for. Every series is prefixed ``edgeoffload_serve_``:

==================================  ======================================================
``frames_total``                    frames ended, by ``camera``, ``status``, ``reason``
``frame_latency_seconds``           histogram of done frames' latency, by ``camera``
``prediction_error_ratio``          median |predicted − measured| / measured, last 10 s
``scheduler``                       1 for the list scheduler placing frames now (label
                                    ``scheduler``, with the load class as ``load``)
``node_utilisation_ratio``          busy share of each node over the last 10 s
``frames_in_flight``                frames placed and not ended, by ``camera``
``shed_ratio``                      share of a camera's frames being shed now
==================================  ======================================================
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from edgeoffload.errors import ModelError

__all__ = ["Metrics"]

_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0)


class Metrics:
    """A Prometheus endpoint for one serve run (its own registry: nothing global)."""

    def __init__(self, port: int, host: str, nodes: Iterable[str]) -> None:
        try:
            import prometheus_client as prom
        except ImportError as exc:
            raise ModelError(
                "metrics need prometheus-client: pip install 'edgeoffload[serve]'",
                "metrics_port",
            ) from exc
        self.registry = prom.CollectorRegistry()
        r = self.registry
        p = "edgeoffload_serve_"
        self.frames = prom.Counter(
            p + "frames", "frames ended", ["camera", "status", "reason"], registry=r
        )
        self.latency = prom.Histogram(
            p + "frame_latency_seconds",
            "latency of done frames",
            ["camera"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.error = prom.Gauge(
            p + "prediction_error_ratio", "median |predicted - measured| / measured", registry=r
        )
        self.scheduler = prom.Gauge(
            p + "scheduler",
            "1 for the scheduler placing frames now",
            ["scheduler", "load"],
            registry=r,
        )
        self.utilisation = prom.Gauge(
            p + "node_utilisation_ratio", "busy share of each node", ["node"], registry=r
        )
        self.in_flight = prom.Gauge(
            p + "frames_in_flight", "frames placed and not ended", ["camera"], registry=r
        )
        self.shed = prom.Gauge(
            p + "shed_ratio", "share of a camera's frames being shed", ["camera"], registry=r
        )
        for node in nodes:
            self.utilisation.labels(node).set(0.0)
        self._lock = threading.Lock()
        self._current: tuple[str, str] | None = None
        try:
            self.server, self._thread = prom.start_http_server(port, addr=host, registry=r)
        except OSError as exc:
            raise ModelError(
                f"cannot serve metrics on {host}:{port}: {exc}", "metrics_port"
            ) from exc
        self.host = host
        self.port = int(self.server.server_address[1])

    def frame(self, record: Mapping[str, Any]) -> None:
        camera = str(record["camera"])
        self.frames.labels(camera, record["status"], record["reason"] or "").inc()
        if record["status"] == "done":
            self.latency.labels(camera).observe(float(record["latency"]))

    def update(self, snapshot: Mapping[str, Any]) -> None:
        with self._lock:
            current = (str(snapshot.get("scheduler") or ""), str(snapshot.get("load") or ""))
            if current != self._current:
                if self._current is not None:
                    self.scheduler.remove(*self._current)
                self.scheduler.labels(*current).set(1)
                self._current = current
        for node, share in snapshot.get("utilisation", {}).items():
            self.utilisation.labels(node).set(share)
        if snapshot.get("prediction_error") is not None:
            self.error.set(snapshot["prediction_error"])
        for camera in snapshot.get("cameras", {}):
            self.in_flight.labels(camera).set(snapshot.get("in_flight", {}).get(camera, 0))
            self.shed.labels(camera).set(snapshot.get("shedding", {}).get(camera, 0.0))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
