"""MLflow 3 logged models through the mlflow client: create, tag, finalize, search, delete, and run outputs."""

from __future__ import annotations

from collections.abc import Callable

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import LoggedModelStatus
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression


def _error_code(action: Callable[[], object]) -> str:
    with pytest.raises(mlflow.MlflowException) as excinfo:
        action()
    return str(excinfo.value.error_code)


def test_initialize_logged_model_is_pending(client: MlflowClient, experiment_id: str) -> None:
    model = mlflow.initialize_logged_model(name="draft")

    fetched = client.get_logged_model(model.model_id)
    assert ("draft", experiment_id, LoggedModelStatus.PENDING) == (
        fetched.name,
        fetched.experiment_id,
        fetched.status,
    )


def test_logged_model_artifacts_live_under_the_experiment(client: MlflowClient, experiment_id: str) -> None:
    model = mlflow.initialize_logged_model(name="draft")

    expected = f"mlflow-artifacts:/{experiment_id}/models/{model.model_id}/artifacts"
    assert expected == client.get_logged_model(model.model_id).artifact_location


def test_create_external_model_is_ready(client: MlflowClient, experiment_id: str) -> None:
    model = mlflow.create_external_model(name="served-elsewhere")

    assert LoggedModelStatus.READY == client.get_logged_model(model.model_id).status


def test_initialize_logged_model_keeps_source_run(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        model = mlflow.initialize_logged_model(name="draft")

    assert run.info.run_id == client.get_logged_model(model.model_id).source_run_id


def test_create_logged_model_keeps_params_and_tags(client: MlflowClient, experiment_id: str) -> None:
    model = client.create_logged_model(experiment_id, name="m", params={"alpha": "0.5"}, tags={"team": "red"})

    fetched = client.get_logged_model(model.model_id)
    assert ({"alpha": "0.5"}, "red") == (fetched.params, fetched.tags.get("team"))


def test_log_model_params_adds_params(client: MlflowClient, experiment_id: str) -> None:
    model = client.create_logged_model(experiment_id, name="m")

    client.log_model_params(model.model_id, {"depth": "3"})

    assert {"depth": "3"} == client.get_logged_model(model.model_id).params


def test_get_unknown_logged_model_raises_does_not_exist(client: MlflowClient) -> None:
    assert "RESOURCE_DOES_NOT_EXIST" == _error_code(lambda: client.get_logged_model("m-" + "0" * 32))


def test_set_logged_model_tags_overwrites(client: MlflowClient, experiment_id: str) -> None:
    model = client.create_logged_model(experiment_id, name="m", tags={"team": "red"})

    client.set_logged_model_tags(model.model_id, {"team": "blue", "tier": "gold"})

    tags = client.get_logged_model(model.model_id).tags
    assert ("blue", "gold") == (tags.get("team"), tags.get("tier"))


def test_delete_logged_model_tag_removes_it(client: MlflowClient, experiment_id: str) -> None:
    model = client.create_logged_model(experiment_id, name="m", tags={"team": "red"})

    client.delete_logged_model_tag(model.model_id, "team")

    assert "team" not in client.get_logged_model(model.model_id).tags


def test_finalize_logged_model_sets_ready(client: MlflowClient, experiment_id: str) -> None:
    model = client.create_logged_model(experiment_id, name="m")

    client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)

    assert LoggedModelStatus.READY == client.get_logged_model(model.model_id).status


def test_finalize_logged_model_sets_failed(client: MlflowClient, experiment_id: str) -> None:
    model = client.create_logged_model(experiment_id, name="m")

    client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)

    assert LoggedModelStatus.FAILED == client.get_logged_model(model.model_id).status


def test_search_logged_models_by_name(client: MlflowClient, experiment_id: str) -> None:
    wanted = client.create_logged_model(experiment_id, name="wanted")
    client.create_logged_model(experiment_id, name="other")

    found = client.search_logged_models([experiment_id], filter_string="name = 'wanted'")

    assert [wanted.model_id] == [m.model_id for m in found]


def test_search_logged_models_order_by_name(client: MlflowClient, experiment_id: str) -> None:
    for name in ("b", "c", "a"):
        client.create_logged_model(experiment_id, name=name)

    found = client.search_logged_models([experiment_id], order_by=[{"field_name": "name", "ascending": True}])

    assert ["a", "b", "c"] == [m.name for m in found]


def test_search_logged_models_newest_first_by_default(client: MlflowClient, experiment_id: str) -> None:
    ids = [client.create_logged_model(experiment_id, name=f"m{i}").model_id for i in range(3)]

    found = client.search_logged_models([experiment_id])

    assert ids[::-1] == [m.model_id for m in found]


def test_search_logged_models_pages_with_tokens(client: MlflowClient, experiment_id: str) -> None:
    for name in ("a", "b", "c"):
        client.create_logged_model(experiment_id, name=name)
    order = [{"field_name": "name", "ascending": True}]

    first = client.search_logged_models([experiment_id], order_by=order, max_results=2)
    second = client.search_logged_models([experiment_id], order_by=order, max_results=2, page_token=first.token)

    assert (["a", "b"], ["c"], None) == ([m.name for m in first], [m.name for m in second], second.token)


def test_deleted_logged_model_is_not_found(client: MlflowClient, experiment_id: str) -> None:
    model = client.create_logged_model(experiment_id, name="m")

    client.delete_logged_model(model.model_id)

    assert "RESOURCE_DOES_NOT_EXIST" == _error_code(lambda: client.get_logged_model(model.model_id))


def test_deleted_logged_model_is_left_out_of_search(client: MlflowClient, experiment_id: str) -> None:
    model = client.create_logged_model(experiment_id, name="m")
    kept = client.create_logged_model(experiment_id, name="kept")

    client.delete_logged_model(model.model_id)

    assert [kept.model_id] == [m.model_id for m in client.search_logged_models([experiment_id])]


def test_sklearn_log_model_is_a_run_output(client: MlflowClient, experiment_id: str) -> None:
    iris = load_iris()
    estimator = LogisticRegression(max_iter=200).fit(iris.data[:, :2], iris.target)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(estimator, name="model", pip_requirements=["scikit-learn"])

    outputs = client.get_run(run.info.run_id).outputs
    assert [info.model_id] == [o.model_id for o in outputs.model_outputs]


def test_sklearn_log_model_finalizes_the_logged_model(client: MlflowClient, experiment_id: str) -> None:
    iris = load_iris()
    estimator = LogisticRegression(max_iter=200).fit(iris.data[:, :2], iris.target)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(estimator, name="model", pip_requirements=["scikit-learn"])

    model = client.get_logged_model(info.model_id)
    assert ("model", LoggedModelStatus.READY, run.info.run_id) == (model.name, model.status, model.source_run_id)
