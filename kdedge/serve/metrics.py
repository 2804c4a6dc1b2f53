"""The service's Prometheus metrics (``GET /metrics``).

One process keeps its metrics in its own registry. Under ``--workers N`` each worker
writes its samples to files in ``$PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's
multiprocess mode; the variable must be set before ``prometheus_client`` is imported,
which :func:`kdedge.serve.server.serve` does) and ``/metrics`` sums the workers' files.
"""

from __future__ import annotations

import os

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Metrics:
    """The counters and histograms of one app."""

    def __init__(self, model_name: str, sha256: str):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry()
        kw = {"registry": self.registry}
        self.requests = Counter("kdedge_http_requests", "HTTP requests by route, method and status.",
                                ["route", "method", "status"], **kw)
        self.latency = Histogram("kdedge_http_request_duration_seconds", "HTTP request latency by route and status.",
                                 ["route", "status"], buckets=LATENCY_BUCKETS, **kw)
        self.texts = Counter("kdedge_texts_classified", "Texts classified.", **kw)
        self.batch = Histogram("kdedge_model_batch_size", "Texts per model call (micro-batches).",
                               buckets=BATCH_BUCKETS, **kw)
        self.info = Gauge("kdedge_model_info", "The served model (value 1).", ["model", "sha256"],
                          multiprocess_mode="max", **kw)
        self.info.labels(model_name, sha256).set(1)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
        if self.multiprocess:
            from prometheus_client import multiprocess
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
