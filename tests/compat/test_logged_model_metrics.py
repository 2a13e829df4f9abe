"""Metrics linked to logged models (MLflow 3's ``model_id``) through the mlflow client: log, read, search."""

from __future__ import annotations

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression


def _on_model(client: MlflowClient, model_id: str) -> list[tuple[str, float, int, str | None, str | None]]:
    metrics = client.get_logged_model(model_id).metrics or []
    return sorted((m.key, m.value, m.step, m.model_id, m.run_id) for m in metrics)


def test_log_metric_with_model_id_shows_on_the_logged_model(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        model = mlflow.initialize_logged_model(name="m")
        mlflow.log_metric("acc", 0.97, step=3, model_id=model.model_id)

    assert [("acc", 0.97, 3, model.model_id, run.info.run_id)] == _on_model(client, model.model_id)


def test_log_metrics_with_model_id_shows_each_on_the_logged_model(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        model = mlflow.initialize_logged_model(name="m")
        mlflow.log_metrics({"f1": 0.5, "acc": 0.98}, step=4, model_id=model.model_id)

    rid, mid = run.info.run_id, model.model_id
    assert [("acc", 0.98, 4, mid, rid), ("f1", 0.5, 4, mid, rid)] == _on_model(client, mid)


def test_log_batch_links_only_the_metrics_with_a_model_id(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        model = mlflow.initialize_logged_model(name="m")
        client.log_batch(
            run.info.run_id,
            metrics=[Metric("loss", 1.5, 123, 2, model_id=model.model_id), Metric("plain", 1.0, 124, 0)],
        )

    assert [("loss", 1.5, 2, model.model_id, run.info.run_id)] == _on_model(client, model.model_id)


def test_linked_metric_stays_on_the_run(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        model = mlflow.initialize_logged_model(name="m")
        mlflow.log_metric("acc", 0.97, step=3, model_id=model.model_id)

    history = client.get_metric_history(run.info.run_id, "acc")
    assert ({"acc": 0.97}, [(0.97, 3)]) == (
        client.get_run(run.info.run_id).data.metrics,
        [(m.value, m.step) for m in history],
    )


def test_dataset_of_a_linked_metric_shows_on_the_logged_model(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        model = mlflow.initialize_logged_model(name="m")
        client.log_batch(
            run.info.run_id,
            metrics=[Metric("acc", 0.9, 1, 0, model_id=model.model_id, dataset_name="iris", dataset_digest="d1")],
        )

    (metric,) = client.get_logged_model(model.model_id).metrics or []
    assert ("iris", "d1") == (metric.dataset_name, metric.dataset_digest)


def test_unknown_model_id_is_a_bad_request(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_run(), pytest.raises(mlflow.MlflowException) as excinfo:
        mlflow.log_metric("acc", 1.0, model_id="m-0123456789abcdef0123456789abcdef")

    assert "BAD_REQUEST" == excinfo.value.error_code


def test_sklearn_log_model_links_the_run_metrics_of_its_step(client: MlflowClient, experiment_id: str) -> None:
    iris = load_iris()
    estimator = LogisticRegression(max_iter=200).fit(iris.data[:, :2], iris.target)
    with mlflow.start_run() as run:
        mlflow.log_metric("train_acc", 0.8, step=0)
        info = mlflow.sklearn.log_model(estimator, name="model", pip_requirements=["scikit-learn"])

    assert [("train_acc", 0.8, 0, info.model_id, run.info.run_id)] == _on_model(client, info.model_id)


def test_search_logged_models_filters_and_orders_by_metric(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_run():
        models = {name: mlflow.initialize_logged_model(name=name) for name in ("low", "high", "none")}
        mlflow.log_metric("acc", 0.6, model_id=models["low"].model_id)
        mlflow.log_metric("acc", 0.9, model_id=models["high"].model_id)

    found = client.search_logged_models([experiment_id], filter_string="metrics.acc > 0.7")
    ordered = client.search_logged_models([experiment_id], order_by=[{"field_name": "metrics.acc", "ascending": True}])
    assert (["high"], ["low", "high", "none"]) == ([m.name for m in found], [m.name for m in ordered])
