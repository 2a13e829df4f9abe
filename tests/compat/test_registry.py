"""The model registry through the mlflow client: registered models, versions, tags, aliases, stages and loading."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from tests.compat.conftest import compat_target
from tests.support.servers import RunningServer

EXTERNAL_SOURCE = "s3://shipyard-compat-bucket/models/external"


@dataclass(frozen=True)
class Trained:
    """One small sklearn model logged once for the whole module."""

    run_id: str
    model_id: str
    features: np.ndarray
    expected: list[int]


@pytest.fixture(scope="module")
def trained(tracking_server: RunningServer) -> Trained:
    iris = load_iris()
    features, target = iris.data[:, :2], iris.target
    model = LogisticRegression(max_iter=200).fit(features, target)
    experiment_id = MlflowClient(tracking_server.url).create_experiment(f"compat-registry-{uuid.uuid4().hex[:10]}")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        info = mlflow.sklearn.log_model(
            model, name="model", input_example=features[:3], pip_requirements=["scikit-learn"]
        )
    return Trained(run.info.run_id, info.model_id, features[:5], model.predict(features[:5]).tolist())


@pytest.fixture
def model_name(client: MlflowClient, unique_name: Callable[[str], str]) -> str:
    """A registered model with no versions."""
    return client.create_registered_model(unique_name("rm")).name


def _error_code(action: Callable[[], object]) -> str:
    with pytest.raises(mlflow.MlflowException) as excinfo:
        action()
    return str(excinfo.value.error_code)


def _external_version(client: MlflowClient, name: str, **kwargs: object) -> ModelVersion:
    return client.create_model_version(name, EXTERNAL_SOURCE, **kwargs)  # type: ignore[arg-type]


def _logged_version(client: MlflowClient, name: str, trained: Trained) -> ModelVersion:
    return client.create_model_version(name, f"models:/{trained.model_id}", model_id=trained.model_id)


def _predict(uri: str, trained: Trained) -> list[int]:
    return mlflow.pyfunc.load_model(uri).predict(trained.features).tolist()  # type: ignore[no-any-return]


# --- logging, registering and loading -------------------------------------------------------------------


def test_load_model_from_runs_uri_predicts(trained: Trained) -> None:
    assert trained.expected == _predict(f"runs:/{trained.run_id}/model", trained)


def test_register_model_from_runs_uri_uses_the_logged_model_as_source(
    trained: Trained, unique_name: Callable[[str], str]
) -> None:
    version = mlflow.register_model(f"runs:/{trained.run_id}/model", unique_name("reg"))

    assert ("1", f"models:/{trained.model_id}", trained.run_id) == (version.version, version.source, version.run_id)


def test_load_model_by_version_number_predicts(client: MlflowClient, model_name: str, trained: Trained) -> None:
    _logged_version(client, model_name, trained)

    assert trained.expected == _predict(f"models:/{model_name}/1", trained)


def test_load_model_by_alias_predicts(client: MlflowClient, model_name: str, trained: Trained) -> None:
    _logged_version(client, model_name, trained)
    client.set_registered_model_alias(model_name, "champion", "1")

    assert trained.expected == _predict(f"models:/{model_name}@champion", trained)


def test_load_model_by_stage_predicts(client: MlflowClient, model_name: str, trained: Trained) -> None:
    _logged_version(client, model_name, trained)
    client.transition_model_version_stage(model_name, "1", "Production")

    assert trained.expected == _predict(f"models:/{model_name}/Production", trained)


# --- registered models ----------------------------------------------------------------------------------


def test_create_registered_model_keeps_tags_and_description(
    client: MlflowClient, unique_name: Callable[[str], str]
) -> None:
    name = unique_name()
    client.create_registered_model(name, tags={"team": "fraud"}, description="churn model")

    model = client.get_registered_model(name)
    assert (name, {"team": "fraud"}, "churn model") == (model.name, model.tags, model.description)


def test_create_registered_model_with_taken_name_raises_already_exists(client: MlflowClient, model_name: str) -> None:
    assert "RESOURCE_ALREADY_EXISTS" == _error_code(lambda: client.create_registered_model(model_name))


def test_get_unknown_registered_model_raises_does_not_exist(
    client: MlflowClient, unique_name: Callable[[str], str]
) -> None:
    assert "RESOURCE_DOES_NOT_EXIST" == _error_code(lambda: client.get_registered_model(unique_name("missing")))


def test_update_registered_model_replaces_description(client: MlflowClient, model_name: str) -> None:
    client.update_registered_model(model_name, description="new words")

    assert "new words" == client.get_registered_model(model_name).description


def test_rename_registered_model_moves_its_versions(
    client: MlflowClient, model_name: str, unique_name: Callable[[str], str]
) -> None:
    _external_version(client, model_name)
    new_name = unique_name("renamed")

    client.rename_registered_model(model_name, new_name)

    assert (new_name, "1") == (
        client.get_model_version(new_name, "1").name,
        client.get_model_version(new_name, "1").version,
    )


def test_rename_registered_model_frees_the_old_name(
    client: MlflowClient, model_name: str, unique_name: Callable[[str], str]
) -> None:
    client.rename_registered_model(model_name, unique_name("renamed"))

    assert "RESOURCE_DOES_NOT_EXIST" == _error_code(lambda: client.get_registered_model(model_name))


def test_rename_to_taken_name_raises_already_exists(
    client: MlflowClient, model_name: str, unique_name: Callable[[str], str]
) -> None:
    other = client.create_registered_model(unique_name("other")).name

    assert "RESOURCE_ALREADY_EXISTS" == _error_code(lambda: client.rename_registered_model(model_name, other))


def test_delete_registered_model_removes_it(client: MlflowClient, model_name: str) -> None:
    _external_version(client, model_name)

    client.delete_registered_model(model_name)

    assert "RESOURCE_DOES_NOT_EXIST" == _error_code(lambda: client.get_registered_model(model_name))


def test_delete_unknown_registered_model_raises_does_not_exist(
    client: MlflowClient, unique_name: Callable[[str], str]
) -> None:
    assert "RESOURCE_DOES_NOT_EXIST" == _error_code(lambda: client.delete_registered_model(unique_name("missing")))


def test_set_registered_model_tag_overwrites(client: MlflowClient, model_name: str) -> None:
    client.set_registered_model_tag(model_name, "team", "red")
    client.set_registered_model_tag(model_name, "team", "blue")

    assert {"team": "blue"} == client.get_registered_model(model_name).tags


def test_delete_registered_model_tag_removes_it(client: MlflowClient, model_name: str) -> None:
    client.set_registered_model_tag(model_name, "team", "red")
    client.set_registered_model_tag(model_name, "keep", "yes")

    client.delete_registered_model_tag(model_name, "team")

    assert {"keep": "yes"} == client.get_registered_model(model_name).tags


# --- searching registered models ------------------------------------------------------------------------


@pytest.fixture
def search_models(client: MlflowClient, unique_name: Callable[[str], str]) -> list[str]:
    """Five models sharing a unique prefix; the first three tagged team=red, the others team=blue."""
    prefix = unique_name("srch")
    names = [f"{prefix}-{letter}" for letter in "abcde"]
    for i, name in enumerate(names):
        client.create_registered_model(name, tags={"team": "red" if i < 3 else "blue"})
    return names


def test_search_registered_models_by_exact_name(client: MlflowClient, search_models: list[str]) -> None:
    found = client.search_registered_models(f"name = '{search_models[1]}'")

    assert [search_models[1]] == [m.name for m in found]


def test_search_registered_models_by_like_prefix(client: MlflowClient, search_models: list[str]) -> None:
    prefix = search_models[0][:-2]

    found = client.search_registered_models(f"name LIKE '{prefix}%'")

    assert search_models == [m.name for m in found]


def test_search_registered_models_by_tag(client: MlflowClient, search_models: list[str]) -> None:
    prefix = search_models[0][:-2]

    found = client.search_registered_models(f"name LIKE '{prefix}%' AND tags.team = 'blue'")

    assert search_models[3:] == [m.name for m in found]


def test_search_registered_models_by_tag_not_equal_skips_untagged(
    client: MlflowClient, search_models: list[str]
) -> None:
    # Only the client's own prompt filter (tags.`mlflow.prompt.is_prompt` != 'true') matches untagged models.
    client.delete_registered_model_tag(search_models[0], "team")
    prefix = search_models[0][:-2]

    found = client.search_registered_models(f"name LIKE '{prefix}%' AND tags.team != 'red'")

    assert search_models[3:] == [m.name for m in found]


def test_search_registered_models_order_by_name_desc(client: MlflowClient, search_models: list[str]) -> None:
    prefix = search_models[0][:-2]

    found = client.search_registered_models(f"name LIKE '{prefix}%'", order_by=["name DESC"])

    assert search_models[::-1] == [m.name for m in found]


def test_search_registered_models_pages_with_tokens(client: MlflowClient, search_models: list[str]) -> None:
    prefix = search_models[0][:-2]
    pages: list[list[str]] = []
    token = None
    while True:
        page = client.search_registered_models(f"name LIKE '{prefix}%'", max_results=2, page_token=token)
        pages.append([m.name for m in page])
        token = page.token
        if not token:
            break

    assert [search_models[0:2], search_models[2:4], search_models[4:]] == pages


def test_search_registered_models_without_match_is_empty(
    client: MlflowClient, unique_name: Callable[[str], str]
) -> None:
    assert [] == list(client.search_registered_models(f"name = '{unique_name('none')}'"))


# --- model versions ---------------------------------------------------------------------------------------


def test_create_version_from_artifact_uri_keeps_the_source(client: MlflowClient, model_name: str) -> None:
    version = _external_version(client, model_name, description="from s3")

    assert ("1", EXTERNAL_SOURCE, "from s3", "READY") == (
        version.version,
        version.source,
        version.description,
        version.status,
    )


def test_create_version_from_logged_model_takes_the_run_of_the_logged_model(
    client: MlflowClient, model_name: str, trained: Trained
) -> None:
    assert trained.run_id == _logged_version(client, model_name, trained).run_id


def test_version_from_logged_model_downloads_from_the_logged_model(
    client: MlflowClient, model_name: str, trained: Trained
) -> None:
    _logged_version(client, model_name, trained)

    assert client.get_logged_model(trained.model_id).artifact_location == client.get_model_version_download_uri(
        model_name, "1"
    )


def test_create_version_from_runs_uri_keeps_the_source(client: MlflowClient, model_name: str, trained: Trained) -> None:
    source = f"runs:/{trained.run_id}/model"

    version = client.create_model_version(model_name, source, run_id=trained.run_id)

    assert (source, trained.run_id) == (version.source, version.run_id)


def test_create_version_of_unknown_model_raises_does_not_exist(
    client: MlflowClient, unique_name: Callable[[str], str]
) -> None:
    assert "RESOURCE_DOES_NOT_EXIST" == _error_code(lambda: _external_version(client, unique_name("missing")))


def test_get_model_version_returns_tags(client: MlflowClient, model_name: str) -> None:
    _external_version(client, model_name, tags={"validated": "yes"})

    assert {"validated": "yes"} == client.get_model_version(model_name, "1").tags


def test_update_model_version_replaces_description(client: MlflowClient, model_name: str) -> None:
    _external_version(client, model_name, description="old")

    client.update_model_version(model_name, "1", description="new")

    assert "new" == client.get_model_version(model_name, "1").description


def test_deleted_version_number_is_not_reused(client: MlflowClient, model_name: str) -> None:
    _external_version(client, model_name)
    _external_version(client, model_name)
    client.delete_model_version(model_name, "2")

    assert "3" == _external_version(client, model_name).version


def test_get_deleted_version_raises_does_not_exist(client: MlflowClient, model_name: str) -> None:
    _external_version(client, model_name)
    client.delete_model_version(model_name, "1")

    assert "RESOURCE_DOES_NOT_EXIST" == _error_code(lambda: client.get_model_version(model_name, "1"))


def test_get_unknown_version_raises_does_not_exist(client: MlflowClient, model_name: str) -> None:
    _external_version(client, model_name)

    assert "RESOURCE_DOES_NOT_EXIST" == _error_code(lambda: client.get_model_version(model_name, "7"))


def test_get_version_that_is_not_a_number_raises_invalid_parameter(client: MlflowClient, model_name: str) -> None:
    _external_version(client, model_name)

    assert "INVALID_PARAMETER_VALUE" == _error_code(lambda: client.get_model_version(model_name, "x"))


def test_set_model_version_tag_overwrites(client: MlflowClient, model_name: str) -> None:
    _external_version(client, model_name)
    client.set_model_version_tag(model_name, "1", "validated", "no")
    client.set_model_version_tag(model_name, "1", "validated", "yes")

    assert {"validated": "yes"} == client.get_model_version(model_name, "1").tags


def test_delete_model_version_tag_removes_it(client: MlflowClient, model_name: str) -> None:
    _external_version(client, model_name, tags={"validated": "yes", "keep": "1"})

    client.delete_model_version_tag(model_name, "1", "validated")

    assert {"keep": "1"} == client.get_model_version(model_name, "1").tags


def test_search_model_versions_by_name(client: MlflowClient, model_name: str) -> None:
    for _ in range(3):
        _external_version(client, model_name)

    found = client.search_model_versions(f"name = '{model_name}'")

    assert ["1", "2", "3"] == sorted(v.version for v in found)


def test_search_model_versions_by_run_id(client: MlflowClient, model_name: str, trained: Trained) -> None:
    _external_version(client, model_name)
    _logged_version(client, model_name, trained)

    found = client.search_model_versions(f"name = '{model_name}' AND run_id = '{trained.run_id}'")

    assert ["2"] == [v.version for v in found]


def test_search_model_versions_by_tag(client: MlflowClient, model_name: str) -> None:
    _external_version(client, model_name, tags={"validated": "no"})
    _external_version(client, model_name, tags={"validated": "yes"})

    found = client.search_model_versions(f"name = '{model_name}' AND tags.validated = 'yes'")

    assert ["2"] == [v.version for v in found]


def test_search_model_versions_order_by_version(client: MlflowClient, model_name: str) -> None:
    for _ in range(3):
        _external_version(client, model_name)

    found = client.search_model_versions(f"name = '{model_name}'", order_by=["version_number ASC"])

    assert ["1", "2", "3"] == [v.version for v in found]


# --- aliases ------------------------------------------------------------------------------------------------


def test_get_version_by_alias(client: MlflowClient, model_name: str) -> None:
    _external_version(client, model_name)
    _external_version(client, model_name)

    client.set_registered_model_alias(model_name, "champion", "1")

    assert "1" == client.get_model_version_by_alias(model_name, "champion").version


def test_alias_is_listed_on_the_registered_model(client: MlflowClient, model_name: str) -> None:
    _external_version(client, model_name)

    client.set_registered_model_alias(model_name, "champion", "1")

    assert {"champion": "1"} == client.get_registered_model(model_name).aliases


def test_alias_is_listed_on_the_version(client: MlflowClient, model_name: str) -> None:
    _external_version(client, model_name)

    client.set_registered_model_alias(model_name, "champion", "1")

    assert ["champion"] == client.get_model_version(model_name, "1").aliases


def test_setting_an_alias_again_moves_it(client: MlflowClient, model_name: str) -> None:
    _external_version(client, model_name)
    _external_version(client, model_name)
    client.set_registered_model_alias(model_name, "champion", "1")

    client.set_registered_model_alias(model_name, "champion", "2")

    assert "2" == client.get_model_version_by_alias(model_name, "champion").version


def test_deleted_alias_is_gone_from_the_model(client: MlflowClient, model_name: str) -> None:
    _external_version(client, model_name)
    client.set_registered_model_alias(model_name, "champion", "1")

    client.delete_registered_model_alias(model_name, "champion")

    assert {} == client.get_registered_model(model_name).aliases


def test_alias_of_deleted_version_disappears(client: MlflowClient, model_name: str) -> None:
    _external_version(client, model_name)
    _external_version(client, model_name)
    client.set_registered_model_alias(model_name, "champion", "1")

    client.delete_model_version(model_name, "1")

    assert {} == client.get_registered_model(model_name).aliases


def test_latest_alias_resolves_to_the_newest_version(client: MlflowClient, model_name: str) -> None:
    _external_version(client, model_name)
    _external_version(client, model_name)
    client.transition_model_version_stage(model_name, "1", "Production")

    assert "2" == client.get_model_version_by_alias(model_name, "latest").version


# MLflow answers INVALID_PARAMETER_VALUE (400) for an alias that is not set, a plain bug: Shipyard answers
# RESOURCE_DOES_NOT_EXIST (404), as for every other missing entity and as MLflow does for "latest" of a model
# without versions.
MISSING_ALIAS_CODE = "RESOURCE_DOES_NOT_EXIST" if compat_target() == "shipyard" else "INVALID_PARAMETER_VALUE"


def test_get_version_by_unknown_alias_raises(client: MlflowClient, model_name: str) -> None:
    _external_version(client, model_name)

    assert MISSING_ALIAS_CODE == _error_code(lambda: client.get_model_version_by_alias(model_name, "nobody"))


def test_set_alias_on_unknown_version_raises_does_not_exist(client: MlflowClient, model_name: str) -> None:
    _external_version(client, model_name)

    assert "RESOURCE_DOES_NOT_EXIST" == _error_code(
        lambda: client.set_registered_model_alias(model_name, "champion", "5")
    )


@pytest.mark.parametrize("alias", ["latest", "LATEST", "v1", "V12", "a b", "a/b"])
def test_reserved_or_malformed_alias_raises_invalid_parameter(
    client: MlflowClient, model_name: str, alias: str
) -> None:
    _external_version(client, model_name)

    assert "INVALID_PARAMETER_VALUE" == _error_code(lambda: client.set_registered_model_alias(model_name, alias, "1"))


# --- stages -------------------------------------------------------------------------------------------------


def test_transition_stage_sets_current_stage(client: MlflowClient, model_name: str) -> None:
    _external_version(client, model_name)

    moved = client.transition_model_version_stage(model_name, "1", "Staging")

    assert ("Staging", "Staging") == (moved.current_stage, client.get_model_version(model_name, "1").current_stage)


def test_transition_stage_is_case_insensitive(client: MlflowClient, model_name: str) -> None:
    _external_version(client, model_name)

    assert "Production" == client.transition_model_version_stage(model_name, "1", "production").current_stage


def test_transition_with_archive_existing_archives_the_previous_version(client: MlflowClient, model_name: str) -> None:
    _external_version(client, model_name)
    _external_version(client, model_name)
    client.transition_model_version_stage(model_name, "1", "Production")

    client.transition_model_version_stage(model_name, "2", "Production", archive_existing_versions=True)

    assert "Archived" == client.get_model_version(model_name, "1").current_stage


def test_transition_without_archive_existing_keeps_the_previous_version(client: MlflowClient, model_name: str) -> None:
    _external_version(client, model_name)
    _external_version(client, model_name)
    client.transition_model_version_stage(model_name, "1", "Production")

    client.transition_model_version_stage(model_name, "2", "Production")

    assert "Production" == client.get_model_version(model_name, "1").current_stage


def test_transition_to_unknown_stage_raises_invalid_parameter(client: MlflowClient, model_name: str) -> None:
    _external_version(client, model_name)

    assert "INVALID_PARAMETER_VALUE" == _error_code(
        lambda: client.transition_model_version_stage(model_name, "1", "Retired")
    )


def test_get_latest_versions_of_a_stage_returns_the_newest(client: MlflowClient, model_name: str) -> None:
    for _ in range(3):
        _external_version(client, model_name)
    client.transition_model_version_stage(model_name, "1", "Production")
    client.transition_model_version_stage(model_name, "2", "Production")

    assert ["2"] == [v.version for v in client.get_latest_versions(model_name, stages=["Production"])]


def test_get_latest_versions_returns_one_per_stage(client: MlflowClient, model_name: str) -> None:
    for _ in range(3):
        _external_version(client, model_name)
    client.transition_model_version_stage(model_name, "1", "Staging")

    found = client.get_latest_versions(model_name)

    assert [("1", "Staging"), ("3", "None")] == sorted((v.version, v.current_stage) for v in found)


def test_registered_model_lists_latest_version_per_stage(client: MlflowClient, model_name: str) -> None:
    _external_version(client, model_name)
    _external_version(client, model_name)
    client.transition_model_version_stage(model_name, "2", "Production")

    latest = client.get_registered_model(model_name).latest_versions

    assert [("1", "None"), ("2", "Production")] == sorted((v.version, v.current_stage) for v in latest)
