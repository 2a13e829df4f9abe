"""Prometheus metrics of the inference server: requests, latency, errors by kind, batching and the queue.

Every app gets its own ``CollectorRegistry`` (never the process-wide default), so tests and several apps in
one process never share or collide on series. Request metrics are recorded as requests finish; the batcher's
numbers are read from ``AdaptiveBatcher.snapshot()`` at scrape time by :class:`BatcherCollector`, so the
batching hot path pays nothing for them.

Label values are bounded: ``route`` is the route template (``/v2/models/{name}/infer``, never the raw path),
``status`` an HTTP status the server answers with, ``kind`` one of :data:`ERROR_KINDS`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator

from shipyard.errors import MissingExtra
from shipyard.serving.runtime._batcher import BatcherStats

try:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
except ModuleNotFoundError as exc:  # pragma: no cover - the serving extra is installed wherever serving runs
    raise MissingExtra("prometheus-client", "serving") from exc

__all__ = ["ERROR_KINDS", "LATENCY_BUCKETS_S", "MODEL_ERROR", "BatcherCollector", "ServingMetrics", "error_kind"]

LATENCY_BUCKETS_S: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Upper bounds (seconds) of the request latency histogram: sub-millisecond to ten seconds."""

MODEL_ERROR = "model_error"
ERROR_KINDS: tuple[str, ...] = ("bad_request", "not_found", "too_large", "overloaded", MODEL_ERROR, "internal")
"""Values of the ``kind`` label of ``shipyard_serving_errors_total``."""

_PREFIX = "shipyard_serving_"
_MODEL_LABELS = ("model", "version")


def _is_prediction(route: str) -> bool:
    return route.endswith(("/infer", "/ModelInfer")) or route == "/invocations"


def error_kind(status: int) -> str:
    """The ``kind`` of an error answer from its HTTP status (a model's own failure is marked by the caller)."""
    if status == 404:
        return "not_found"
    if status == 413:
        return "too_large"
    if status == 503:
        return "overloaded"
    if 400 <= status < 500:
        return "bad_request"
    return "internal"


class ServingMetrics:
    """The metrics of one deployment, in a registry of their own, labelled per model version.

    Example:
        >>> metrics = ServingMetrics(model="churn", batchers=lambda: [("3", batcher.snapshot())])
        >>> metrics.observe("/v2/models/{name}/infer", 200, 0.0012, version="3")
        >>> text = metrics.render()
    """

    content_type = CONTENT_TYPE_LATEST
    """The ``Content-Type`` of :meth:`render`'s output."""

    def __init__(self, *, model: str, batchers: Callable[[], Iterable[tuple[str, BatcherStats]]] | None = None) -> None:
        """Create the registry; ``batchers`` (version, ``AdaptiveBatcher.snapshot()``) adds the batching metrics."""
        self.registry = CollectorRegistry()
        self._model = model
        self._requests = Counter(
            f"{_PREFIX}requests",
            "Requests answered, by route template and HTTP status.",
            [*_MODEL_LABELS, "route", "status"],
            registry=self.registry,
        )
        self._duration = Histogram(
            f"{_PREFIX}request_duration_seconds",
            "Time from routing a request to its answer (body read, parse, queue, predict, encode), by route template.",
            [*_MODEL_LABELS, "route"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self._errors = Counter(
            f"{_PREFIX}errors",
            "Error answers by kind: " + ", ".join(ERROR_KINDS) + ".",
            [*_MODEL_LABELS, "route", "kind"],
            registry=self.registry,
        )
        dropped = Counter(
            f"{_PREFIX}prediction_log_dropped",
            "Prediction-log records dropped because the log fell behind or could not be written.",
            ["model"],
            registry=self.registry,
        )
        self._log_dropped = dropped.labels(model)  # created now, so the series reads 0, not absent
        # prometheus_client's .labels() validates and hashes on every call: cache the children per label values.
        self._request_children: dict[tuple[str, str, int], Counter] = {}
        self._duration_children: dict[tuple[str, str], Histogram] = {}
        self._error_children: dict[tuple[str, str, str], Counter] = {}
        if batchers is not None:
            self.registry.register(BatcherCollector(batchers, model=model))
        self.totals: dict[str, dict[str, int]] = {}
        """Prediction requests per model version since the process started (``requests``, ``errors`` for 5xx and
        model failures, ``client_errors`` for other 4xx): what the ops snapshots write."""

    def observe(self, route: str, status: int, duration_s: float, kind: str | None = None, version: str = "") -> None:
        """Record one answered request.

        Args:
            route: the route template, e.g. ``/v2/models/{name}/infer`` (never the raw path).
            status: the HTTP status answered.
            duration_s: how long the answer took.
            kind: the error kind when the status alone cannot tell it (``MODEL_ERROR``); ignored below 400.
            version: the model version that answered ("" when the request never reached a model).
        """
        counter = self._request_children.get((version, route, status))
        if counter is None:
            counter = self._requests.labels(self._model, version, route, str(status))
            self._request_children[(version, route, status)] = counter
        counter.inc()
        histogram = self._duration_children.get((version, route))
        if histogram is None:
            histogram = self._duration.labels(self._model, version, route)
            self._duration_children[(version, route)] = histogram
        histogram.observe(duration_s)
        if version and _is_prediction(route):
            total = self.totals.get(version)
            if total is None:
                total = self.totals[version] = {"requests": 0, "errors": 0, "client_errors": 0}
            total["requests"] += 1
            if status >= 500 or kind == MODEL_ERROR:
                total["errors"] += 1
            elif status >= 400:
                total["client_errors"] += 1
        if status >= 400:
            key = (version, route, kind or error_kind(status))
            errors = self._error_children.get(key)
            if errors is None:
                errors = self._error_children[key] = self._errors.labels(self._model, *key)
            errors.inc()

    def prediction_log_dropped(self, records: int = 1) -> None:
        """Count prediction-log records dropped because the log fell behind or could not be written."""
        self._log_dropped.inc(records)

    def render(self) -> bytes:
        """Every metric in the Prometheus text format (:attr:`content_type`)."""
        return generate_latest(self.registry)


class BatcherCollector:
    """Reads the adaptive batchers' counters at scrape time and exposes them as Prometheus metrics.

    Call it where the batchers live (the event loop thread): a snapshot is a plain read of the counters.
    """

    def __init__(self, batchers: Callable[[], Iterable[tuple[str, BatcherStats]]], *, model: str) -> None:
        """Expose ``batchers()`` (version, ``AdaptiveBatcher.snapshot()``) labelled with the model and version."""
        self._batchers = batchers
        self._model = model

    def collect(self) -> Iterator[Metric]:
        """The batching metrics as they are now, one series per model version."""
        snapshots = list(self._batchers())
        names = list(_MODEL_LABELS)
        families: dict[str, Metric] = {}
        for version, stats in snapshots:
            for family in self._families(stats, [self._model, version], names):
                if family.name in families:
                    families[family.name].samples.extend(family.samples)
                else:
                    families[family.name] = family
        yield from families.values()

    @staticmethod
    def _families(stats: BatcherStats, labels: list[str], names: list[str]) -> Iterator[Metric]:
        def counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
            family = CounterMetricFamily(f"{_PREFIX}{name}", documentation, labels=names)
            family.add_metric(labels, value)
            return family

        def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
            family = GaugeMetricFamily(f"{_PREFIX}{name}", documentation, labels=names)
            family.add_metric(labels, value)
            return family

        yield counter("batches", "predict calls made by the adaptive batcher.", stats.batches)
        yield counter("batch_requests", "Requests sent to predict by the adaptive batcher.", stats.requests)
        yield counter(
            "failed_batches", "predict calls that raised or whose output could not be split back.", stats.failed_batches
        )
        dispatches = CounterMetricFamily(
            f"{_PREFIX}batch_dispatches",
            "Batches sent at once (immediate) or after waiting up to max_wait_ms for company (waited).",
            labels=[*names, "dispatch"],
        )
        dispatches.add_metric([*labels, "immediate"], stats.immediate_dispatches)
        dispatches.add_metric([*labels, "waited"], stats.waited_dispatches)
        yield dispatches
        rows = HistogramMetricFamily(
            f"{_PREFIX}batch_rows", "Rows per predict call made by the adaptive batcher.", labels=names
        )
        rows.add_metric(
            labels,
            [(_le(bound), count) for bound, count in stats.batch_rows_histogram],
            sum_value=stats.rows,
        )
        yield rows
        yield gauge("queue_depth_rows", "Rows waiting for the model now.", stats.queued_rows)
        yield gauge("queued_requests", "Requests waiting for the model now.", stats.queued_requests)
        yield gauge(
            "in_flight_rows", "Rows in the predict call running now (0 when the model is idle).", stats.in_flight_rows
        )
        yield counter(
            "overload_rejections",
            "Requests refused with 503 because more than max_queued_rows rows were waiting.",
            stats.overload_rejections,
        )


def _le(bound: float) -> str:
    """A bucket bound as Prometheus writes it: ``4.0``, ``+Inf`` (the batcher's bounds are whole rows)."""
    return "+Inf" if math.isinf(bound) else repr(float(bound))
