"""The serving metrics: the batcher collector over a snapshot, request and error counting, one registry per app."""

from __future__ import annotations

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from shipyard.serving.runtime._batcher import BATCH_ROWS_BUCKETS, BatcherStats
from shipyard.serving.runtime._metrics import MODEL_ERROR, BatcherCollector, ServingMetrics, error_kind

INFER = "/v2/models/{name}/infer"


def _stats(**changes: object) -> BatcherStats:
    """A batcher that ran 3 batches of 1, 3 and 300 rows; 5 rows wait and 2 are being predicted."""
    batch_rows = (1, 3, 300)
    histogram = tuple(
        (bound, sum(1 for rows in batch_rows if rows <= bound)) for bound in (*BATCH_ROWS_BUCKETS, math.inf)
    )
    values: dict[str, object] = {
        "batches": 3,
        "requests": 7,
        "rows": 304,
        "failed_batches": 1,
        "immediate_dispatches": 2,
        "waited_dispatches": 1,
        "overload_rejections": 4,
        "queued_requests": 2,
        "queued_rows": 5,
        "in_flight_rows": 2,
        "batch_rows_histogram": histogram,
    }
    return BatcherStats(**{**values, **changes})  # type: ignore[arg-type]


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    matches = [v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls]
    assert len(matches) == 1, (name, labels, matches)
    return matches[0]


def _collected(stats: BatcherStats) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    registry.register(BatcherCollector(lambda: [("3", stats)], model="churn"))
    return _samples(generate_latest(registry).decode())


def test_collector_exposes_the_batch_rows_histogram_from_the_snapshot_buckets() -> None:
    samples = _collected(_stats())

    assert (1, 2, 2, 3, 3, 3, 304) == (
        _value(samples, "shipyard_serving_batch_rows_bucket", le="1.0"),
        _value(samples, "shipyard_serving_batch_rows_bucket", le="4.0"),
        _value(samples, "shipyard_serving_batch_rows_bucket", le="256.0"),
        _value(samples, "shipyard_serving_batch_rows_bucket", le="512.0"),
        _value(samples, "shipyard_serving_batch_rows_bucket", le="+Inf"),
        _value(samples, "shipyard_serving_batch_rows_count"),
        _value(samples, "shipyard_serving_batch_rows_sum"),
    )


def test_collector_exposes_counters_and_queue_gauges() -> None:
    samples = _collected(_stats())

    assert (3, 7, 1, 2, 1, 4, 5, 2, 2) == (
        _value(samples, "shipyard_serving_batches_total", model="churn", version="3"),
        _value(samples, "shipyard_serving_batch_requests_total"),
        _value(samples, "shipyard_serving_failed_batches_total"),
        _value(samples, "shipyard_serving_batch_dispatches_total", dispatch="immediate"),
        _value(samples, "shipyard_serving_batch_dispatches_total", dispatch="waited"),
        _value(samples, "shipyard_serving_overload_rejections_total"),
        _value(samples, "shipyard_serving_queue_depth_rows"),
        _value(samples, "shipyard_serving_queued_requests"),
        _value(samples, "shipyard_serving_in_flight_rows"),
    )


def test_collector_reads_the_snapshot_at_every_scrape() -> None:
    current = [_stats()]
    metrics = ServingMetrics(model="churn", batchers=lambda: [("3", current[0])])
    before = _value(_samples(metrics.render().decode()), "shipyard_serving_queue_depth_rows")
    current[0] = _stats(queued_rows=0)
    after = _value(_samples(metrics.render().decode()), "shipyard_serving_queue_depth_rows")

    assert (5, 0) == (before, after)


def test_requests_are_counted_and_timed_by_route_and_status() -> None:
    metrics = ServingMetrics(model="churn")
    metrics.observe(INFER, 200, 0.0004, version="3")
    metrics.observe(INFER, 200, 0.003, version="3")
    metrics.observe(INFER, 400, 0.0002, version="3")
    samples = _samples(metrics.render().decode())

    assert (2, 1, 3, 2, 3) == (
        _value(samples, "shipyard_serving_requests_total", route=INFER, status="200", model="churn", version="3"),
        _value(samples, "shipyard_serving_requests_total", route=INFER, status="400"),
        _value(samples, "shipyard_serving_request_duration_seconds_count", route=INFER),
        _value(samples, "shipyard_serving_request_duration_seconds_bucket", route=INFER, le="0.0005"),
        _value(samples, "shipyard_serving_request_duration_seconds_bucket", route=INFER, le="0.005"),
    )


def test_errors_are_counted_by_kind_and_a_model_error_overrides_the_status() -> None:
    metrics = ServingMetrics(model="churn")
    metrics.observe(INFER, 400, 0.001)
    metrics.observe(INFER, 404, 0.001)
    metrics.observe("/invocations", 400, 0.001, MODEL_ERROR)
    metrics.observe(INFER, 200, 0.001, MODEL_ERROR)  # a kind on a success is ignored
    errors = {
        (dict(labels)["route"], dict(labels)["kind"]): value
        for (name, labels), value in _samples(metrics.render().decode()).items()
        if name == "shipyard_serving_errors_total"
    }

    assert {(INFER, "bad_request"): 1, (INFER, "not_found"): 1, ("/invocations", MODEL_ERROR): 1} == errors


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "bad_request"),
        (415, "bad_request"),
        (404, "not_found"),
        (413, "too_large"),
        (503, "overloaded"),
        (500, "internal"),
        (501, "internal"),
    ],
)
def test_error_kind_follows_the_status(status: int, kind: str) -> None:
    assert kind == error_kind(status)


def test_prediction_log_drops_read_zero_until_counted() -> None:
    metrics = ServingMetrics(model="churn")
    before = _value(_samples(metrics.render().decode()), "shipyard_serving_prediction_log_dropped_total")
    metrics.prediction_log_dropped(3)
    after = _value(_samples(metrics.render().decode()), "shipyard_serving_prediction_log_dropped_total")

    assert (0, 3) == (before, after)


def test_each_app_has_its_own_registry() -> None:
    first = ServingMetrics(model="churn")
    second = ServingMetrics(model="churn")
    first.observe(INFER, 200, 0.001)

    assert [] == [
        name for (name, _), _ in _samples(second.render().decode()).items() if name == "shipyard_serving_requests_total"
    ]


def test_each_model_version_gets_its_own_series() -> None:
    metrics = ServingMetrics(model="churn", batchers=lambda: [("3", _stats()), ("4", _stats(queued_rows=0))])
    metrics.observe(INFER, 200, 0.001, version="3")
    metrics.observe(INFER, 200, 0.001, version="4")
    metrics.observe(INFER, 200, 0.001, version="4")
    samples = _samples(metrics.render().decode())

    assert (1, 2, 5, 0) == (
        _value(samples, "shipyard_serving_requests_total", version="3"),
        _value(samples, "shipyard_serving_requests_total", version="4"),
        _value(samples, "shipyard_serving_queue_depth_rows", version="3"),
        _value(samples, "shipyard_serving_queue_depth_rows", version="4"),
    )
