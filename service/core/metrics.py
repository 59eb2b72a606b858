"""Prometheus metrics of one app: HTTP traffic and what the scheduler does with it.

Each app gets its own registry (tests build several apps in one process; a global registry
would refuse the second).  The scheduler's metrics say whether batching works: sentences and
real tokens per forward pass, how much of a padded batch is real tokens, and the model's time.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_TOKEN_BUCKETS = (16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384)
_FRACTION_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)


class Metrics:
    """The service's metrics, registered in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "elmo_http_requests", "HTTP requests by route and status", ["route", "status"],
            registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "elmo_http_request_duration_seconds", "HTTP request latency by route", ["route"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.in_flight = Gauge(
            "elmo_http_requests_in_flight", "HTTP requests being answered", registry=r
        )
        self.scheduled = Gauge(
            "elmo_scheduler_requests", "requests with sentences waiting or in the model",
            registry=r,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "elmo_queue_sentences", "sentences waiting for the model", registry=r
        )
        self.rejected = Counter(
            "elmo_rejected_requests", "requests refused or dropped, by reason", ["reason"],
            registry=r,
        )  # fmt: skip
        self.batch_sentences = Histogram(
            "elmo_batch_sentences",
            "sentences per forward pass (continuous batching: in the running batch when some join)",
            buckets=_SIZE_BUCKETS,
            registry=r,
        )  # fmt: skip
        self.batch_tokens = Histogram(
            "elmo_batch_tokens",
            "real units (not padding) per forward pass (continuous batching: in the running batch)",
            buckets=_TOKEN_BUCKETS, registry=r,
        )  # fmt: skip
        self.padding_efficiency = Histogram(
            "elmo_batch_padding_efficiency", "real units / (rows x longest row) per forward pass",
            buckets=_FRACTION_BUCKETS, registry=r,
        )  # fmt: skip
        self.inference_seconds = Histogram(
            "elmo_inference_seconds",
            "model time per forward pass (continuous batching: per delivery of finished sentences)",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )  # fmt: skip

        self.token_cache = Counter(
            "elmo_token_cache_lookups",
            "distinct units of each forward pass (continuous batching: of each joining "
            "sentence) whose layer-0 vector was kept from earlier work (hit) or computed (miss)",
            ["result"],
            registry=r,
        )  # fmt: skip

    def render(self) -> tuple[bytes, str]:
        """The text exposition format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
