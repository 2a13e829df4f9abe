"""Metrics linked to logged models (MLflow 3's ``model_id``), on SQLite and the real PostgreSQL server."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from shipyard.db import open_database
from shipyard.errors import BadRequest, InvalidParameter
from shipyard.registry.service import RegistryService
from shipyard.tracking.entities import Metric, Param
from shipyard.tracking.service import TrackingService
from shipyard.tracking.store import TrackingStore
from shipyard.tracking.validation import series_of


@pytest.fixture
def registry(store_url: str) -> Iterator[RegistryService]:
    database = open_database(store_url)
    clock = iter(range(1_000_000, 10_000_000, 10))
    tracking = TrackingService(TrackingStore(database), clock_ms=lambda: next(clock))
    yield RegistryService(database, tracking, clock_ms=lambda: next(clock))
    database.dispose()


@dataclass(frozen=True)
class Setup:
    experiment_id: str
    run_id: str
    model_id: str


@pytest.fixture
def setup(registry: RegistryService) -> Setup:
    exp = registry.tracking.create_experiment("exp")
    run_id = registry.tracking.create_run(exp, run_name="train").run_id
    model_id = registry.create_logged_model(exp, "model", source_run_id=run_id).model_id
    return Setup(exp, run_id, model_id)


def _points(metrics: tuple[Metric, ...]) -> list[tuple[str, float, int, int, str | None, str | None]]:
    return [(m.key, m.value, m.timestamp_ms, m.step, m.model_id, m.run_id) for m in metrics]


def test_linked_metric_is_listed_on_the_logged_model(registry: RegistryService, setup: Setup) -> None:
    registry.tracking.log_metric(setup.run_id, "acc", 0.97, 5_000, 3, model_id=setup.model_id)

    model = registry.get_logged_model(setup.model_id)

    assert [("acc", 0.97, 5_000, 3, setup.model_id, setup.run_id)] == _points(model.metrics)


def test_linked_metric_still_belongs_to_the_run(registry: RegistryService, setup: Setup) -> None:
    registry.tracking.log_metric(setup.run_id, "acc", 0.97, 5_000, 3, model_id=setup.model_id)

    run = registry.tracking.get_run(setup.run_id)
    history, _ = registry.tracking.get_metric_history(setup.run_id, "acc")

    assert ([Metric("acc", 0.97, 5_000, 3)], [Metric("acc", 0.97, 5_000, 3)]) == (list(run.metrics), history)


def test_every_linked_point_of_a_batch_is_on_the_model(registry: RegistryService, setup: Setup) -> None:
    registry.tracking.log_batch(
        setup.run_id,
        metrics=[
            Metric("loss", 0.9, 1_000, 1, setup.model_id),
            Metric("loss", 0.4, 2_000, 2, setup.model_id),
            Metric("f1", 0.5, 2_000, 2, setup.model_id),
            Metric("plain", 1.0, 2_000, 2),
        ],
    )

    model = registry.get_logged_model(setup.model_id)

    expected = [("f1", 0.5, 2_000, 2), ("loss", 0.9, 1_000, 1), ("loss", 0.4, 2_000, 2)]
    assert expected == [(m.key, m.value, m.timestamp_ms, m.step) for m in model.metrics]


def test_dataset_of_a_linked_metric_is_kept(registry: RegistryService, setup: Setup) -> None:
    registry.tracking.log_metric(
        setup.run_id, "acc", 0.9, 1_000, 0, model_id=setup.model_id, dataset_name="iris", dataset_digest="abc123"
    )

    (metric,) = registry.get_logged_model(setup.model_id).metrics

    assert ("iris", "abc123") == (metric.dataset_name, metric.dataset_digest)


def test_unknown_model_id_is_refused_and_nothing_of_the_batch_is_written(
    registry: RegistryService, setup: Setup
) -> None:
    with pytest.raises(BadRequest, match="m-unknown"):
        registry.tracking.log_batch(
            setup.run_id,
            metrics=[Metric("acc", 0.9, 1_000, 0, "m-unknown"), Metric("plain", 1.0, 1_000, 0)],
            params=[Param("lr", "0.1")],
        )

    run = registry.tracking.get_run(setup.run_id)
    assert ((), {}) == (run.metrics, run.params)


def test_deleted_logged_model_takes_no_more_metrics(registry: RegistryService, setup: Setup) -> None:
    registry.delete_logged_model(setup.model_id)

    with pytest.raises(BadRequest, match="not found"):
        registry.tracking.log_metric(setup.run_id, "acc", 0.9, 1_000, 0, model_id=setup.model_id)


def test_same_point_linked_to_two_models_is_on_both_and_once_on_the_run(
    registry: RegistryService, setup: Setup
) -> None:
    other = registry.create_logged_model(setup.experiment_id, "other").model_id
    for model_id in (setup.model_id, other):
        registry.tracking.log_metric(setup.run_id, "acc", 0.9, 1_000, 0, model_id=model_id)

    on_models = [len(registry.get_logged_model(m).metrics) for m in (setup.model_id, other)]
    history, _ = registry.tracking.get_metric_history(setup.run_id, "acc")

    assert ([1, 1], 1) == (on_models, len(history))


def test_resent_linked_batch_is_stored_once(registry: RegistryService, setup: Setup) -> None:
    batch = [Metric("acc", 0.9, 1_000, 0, setup.model_id), Metric("acc", 0.95, 2_000, 1, setup.model_id)]
    registry.tracking.log_batch(setup.run_id, metrics=batch)
    registry.tracking.log_batch(setup.run_id, metrics=batch)

    assert 2 == len(registry.get_logged_model(setup.model_id).metrics)


def test_plain_and_linked_points_of_one_key_in_one_batch_keep_the_newest_as_latest(
    registry: RegistryService, setup: Setup
) -> None:
    registry.tracking.log_batch(
        setup.run_id, metrics=[Metric("acc", 0.5, 1_000, 1), Metric("acc", 0.7, 1_000, 2, setup.model_id)]
    )

    assert [Metric("acc", 0.7, 1_000, 2)] == list(registry.tracking.get_run(setup.run_id).metrics)


def test_linked_columns_from_the_fast_path_are_on_the_model(registry: RegistryService, setup: Setup) -> None:
    columns = {
        series_of("acc", setup.model_id, "iris", None): ([0, 1], [1_000, 2_000], [0.5, 0.6]),
        "x": ([0], [1], [1.0]),
    }
    registry.tracking.log_metric_columns(setup.run_id, columns)

    model = registry.get_logged_model(setup.model_id)

    assert [("acc", 0.5, "iris"), ("acc", 0.6, "iris")] == [(m.key, m.value, m.dataset_name) for m in model.metrics]


def test_nan_linked_metric_stays_nan_on_the_model(registry: RegistryService, setup: Setup) -> None:
    registry.tracking.log_metric(setup.run_id, "loss", math.nan, 1_000, 0, model_id=setup.model_id)

    (metric,) = registry.get_logged_model(setup.model_id).metrics

    assert math.isnan(metric.value)


def test_over_long_dataset_name_is_refused(registry: RegistryService, setup: Setup) -> None:
    with pytest.raises(InvalidParameter, match="dataset_name"):
        registry.tracking.log_metric(
            setup.run_id, "acc", 0.9, 1_000, 0, model_id=setup.model_id, dataset_name="d" * 501
        )


def test_tracking_without_logged_models_refuses_a_linked_metric(store_url: str) -> None:
    database = open_database(store_url)
    tracking = TrackingService(TrackingStore(database))
    run_id = tracking.create_run(tracking.create_experiment("exp")).run_id
    try:
        with pytest.raises(BadRequest, match="without 'model_id'"):
            tracking.log_metric(run_id, "acc", 0.9, model_id="m-0123")
    finally:
        database.dispose()


# ---------------------------------------------------------------------------------------------------- search
@pytest.fixture
def ranked(registry: RegistryService, setup: Setup) -> dict[str, str]:
    """Three models of one experiment: acc's newest value 0.5 (after 0.99 at an earlier step), 0.8, and none."""
    exp, run_id, tracking = setup.experiment_id, setup.run_id, registry.tracking
    names = {"early": setup.model_id}
    names["mid"] = registry.create_logged_model(exp, "mid").model_id
    names["none"] = registry.create_logged_model(exp, "none").model_id
    tracking.log_batch(
        run_id, metrics=[Metric("acc", 0.99, 1_000, 1, names["early"]), Metric("acc", 0.5, 1_000, 2, names["early"])]
    )
    tracking.log_metric(run_id, "acc", 0.8, 1_000, 1, model_id=names["mid"])
    return names


def _search(registry: RegistryService, exp: str, filter_string: str | None = None, order_by: str = "") -> list[str]:
    found, _ = registry.search_logged_models(
        [exp], filter_string=filter_string, order_by=[order_by] if order_by else []
    )
    return [m.name for m in found]


def test_search_filters_logged_models_by_their_newest_metric_value(
    registry: RegistryService, setup: Setup, ranked: dict[str, str]
) -> None:
    assert ["mid"] == _search(registry, setup.experiment_id, "metrics.acc > 0.6")


def test_search_orders_logged_models_by_metric_with_missing_last(
    registry: RegistryService, setup: Setup, ranked: dict[str, str]
) -> None:
    assert ["mid", "model", "none"] == _search(registry, setup.experiment_id, order_by="metrics.acc DESC")
