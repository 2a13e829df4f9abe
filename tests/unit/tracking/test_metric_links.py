"""The wire side of metrics linked to logged models: how ``model_id`` and a dataset are read and written."""

from __future__ import annotations

import pytest

from shipyard.errors import InvalidParameter
from shipyard.registry.entities import LoggedModel
from shipyard.tracking.entities import Metric, MetricSeries
from shipyard.wire.registry import logged_model_from_json, logged_model_to_json
from shipyard.wire.tracking import metric_columns_from_json, metric_from_json, metric_to_json


def test_points_with_a_model_id_are_grouped_apart_from_plain_ones() -> None:
    items = [
        {"key": "acc", "value": 0.5, "timestamp": 1, "step": 0},
        {"key": "acc", "value": 0.6, "timestamp": 2, "step": 1, "model_id": "m-1", "dataset_name": "iris"},
    ]

    groups = metric_columns_from_json(items)

    assert {"acc": ([0], [1], [0.5]), MetricSeries("acc", "m-1", "iris"): ([1], [2], [0.6])} == groups


def test_an_empty_model_id_is_no_model() -> None:
    groups = metric_columns_from_json([{"key": "acc", "value": 0.5, "timestamp": 1, "model_id": ""}])

    assert ["acc"] == list(groups)


def test_a_dataset_without_a_model_is_not_kept() -> None:
    groups = metric_columns_from_json([{"key": "acc", "value": 0.5, "timestamp": 1, "dataset_name": "iris"}])

    assert ["acc"] == list(groups)


def test_a_model_id_that_is_not_a_string_is_refused_with_its_path() -> None:
    with pytest.raises(InvalidParameter, match=r"'metrics\[0\]\.model_id'"):
        metric_columns_from_json([{"key": "acc", "value": 0.5, "timestamp": 1, "model_id": 7}])


def test_a_plain_metric_is_written_without_link_fields() -> None:
    assert {"key": "acc", "value": 0.5, "timestamp": 1, "step": 0} == metric_to_json(Metric("acc", 0.5, 1))


def test_a_linked_metric_round_trips_with_its_model_run_and_dataset() -> None:
    metric = Metric("acc", 0.5, 1, 2, "m-1", "iris", "abc", "r1")

    assert metric == metric_from_json(metric_to_json(metric))


def test_logged_model_json_carries_its_metrics_under_data() -> None:
    metric = Metric("acc", 0.5, 1, 2, "m-1", None, None, "r1")
    model = LoggedModel(
        "m-1", "1", "m", "mlflow-artifacts:/1/models/m-1/artifacts", 1, 1, "LOGGED_MODEL_READY", metrics=(metric,)
    )

    out = logged_model_to_json(model)

    expected = [{"key": "acc", "value": 0.5, "timestamp": 1, "step": 2, "model_id": "m-1", "run_id": "r1"}]
    assert (expected, (metric,)) == (out["data"]["metrics"], logged_model_from_json(out).metrics)
