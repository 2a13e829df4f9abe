"""Experiments: create, read, rename, delete/restore, tags and search, through the mlflow client."""

from __future__ import annotations

from collections.abc import Callable

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType


def test_create_experiment_is_readable_by_id(client: MlflowClient, unique_name: Callable[[str], str]) -> None:
    name = unique_name("exp")

    experiment_id = client.create_experiment(name)

    experiment = client.get_experiment(experiment_id)
    assert (experiment.experiment_id, experiment.name, experiment.lifecycle_stage) == (experiment_id, name, "active")


def test_create_experiment_stores_tags(client: MlflowClient, unique_name: Callable[[str], str]) -> None:
    experiment_id = client.create_experiment(unique_name("exp"), tags={"team": "vision", "owner": "ada"})

    tags = client.get_experiment(experiment_id).tags

    assert {"team": "vision", "owner": "ada"} == {k: v for k, v in tags.items() if not k.startswith("mlflow.")}


def test_experiment_artifact_location_uses_mlflow_artifacts_scheme(client: MlflowClient, experiment_id: str) -> None:
    location = client.get_experiment(experiment_id).artifact_location

    assert location.startswith("mlflow-artifacts:/")


def test_get_experiment_by_name_returns_the_experiment(client: MlflowClient, unique_name: Callable[[str], str]) -> None:
    name = unique_name("exp")
    experiment_id = client.create_experiment(name)

    experiment = mlflow.get_experiment_by_name(name)

    assert experiment is not None
    assert (experiment.experiment_id, experiment.name) == (experiment_id, name)


def test_get_experiment_by_name_returns_none_when_missing(
    tracking_server: object, unique_name: Callable[[str], str]
) -> None:
    assert mlflow.get_experiment_by_name(unique_name("never-created")) is None


def test_set_experiment_creates_a_missing_experiment(
    tracking_server: object, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("exp")

    created = mlflow.set_experiment(name)

    fetched = mlflow.get_experiment_by_name(name)
    assert fetched is not None
    assert (created.name, created.lifecycle_stage, fetched.experiment_id) == (name, "active", created.experiment_id)


def test_set_experiment_reuses_an_existing_experiment(client: MlflowClient, unique_name: Callable[[str], str]) -> None:
    name = unique_name("exp")
    experiment_id = client.create_experiment(name)

    assert experiment_id == mlflow.set_experiment(name).experiment_id


def test_create_experiment_with_duplicate_name_raises_resource_already_exists(
    client: MlflowClient, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("exp")
    client.create_experiment(name)

    with pytest.raises(mlflow.MlflowException) as excinfo:
        client.create_experiment(name)

    assert "RESOURCE_ALREADY_EXISTS" == excinfo.value.error_code


def test_create_experiment_with_name_of_deleted_experiment_raises_resource_already_exists(
    client: MlflowClient, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("exp")
    client.delete_experiment(client.create_experiment(name))

    with pytest.raises(mlflow.MlflowException) as excinfo:
        client.create_experiment(name)

    assert "RESOURCE_ALREADY_EXISTS" == excinfo.value.error_code


def test_rename_experiment_changes_its_name(client: MlflowClient, unique_name: Callable[[str], str]) -> None:
    experiment_id = client.create_experiment(unique_name("old"))
    new_name = unique_name("new")

    client.rename_experiment(experiment_id, new_name)

    assert new_name == client.get_experiment(experiment_id).name


def test_renamed_experiment_is_not_found_by_old_name(client: MlflowClient, unique_name: Callable[[str], str]) -> None:
    old_name = unique_name("old")
    experiment_id = client.create_experiment(old_name)

    client.rename_experiment(experiment_id, unique_name("new"))

    assert client.get_experiment_by_name(old_name) is None


def test_delete_experiment_marks_it_deleted(client: MlflowClient, experiment_id: str) -> None:
    client.delete_experiment(experiment_id)

    assert "deleted" == client.get_experiment(experiment_id).lifecycle_stage


def test_restore_experiment_marks_it_active(client: MlflowClient, experiment_id: str) -> None:
    client.delete_experiment(experiment_id)

    client.restore_experiment(experiment_id)

    assert "active" == client.get_experiment(experiment_id).lifecycle_stage


def test_set_experiment_tag_overwrites_the_value(client: MlflowClient, experiment_id: str) -> None:
    client.set_experiment_tag(experiment_id, "stage", "draft")

    client.set_experiment_tag(experiment_id, "stage", "final")

    assert "final" == client.get_experiment(experiment_id).tags["stage"]


def test_delete_experiment_tag_removes_it(client: MlflowClient, experiment_id: str) -> None:
    client.set_experiment_tag(experiment_id, "keep", "1")
    client.set_experiment_tag(experiment_id, "drop", "2")

    client.delete_experiment_tag(experiment_id, "drop")

    tags = client.get_experiment(experiment_id).tags
    assert (True, False) == ("keep" in tags, "drop" in tags)


# --- search_experiments ------------------------------------------------------------------------


def _make_experiments(client: MlflowClient, prefix: str, count: int) -> list[str]:
    return [client.create_experiment(f"{prefix}-{index:02d}") for index in range(count)]


def test_search_experiments_filters_by_name_like(client: MlflowClient, unique_name: Callable[[str], str]) -> None:
    prefix = unique_name("like")
    wanted = _make_experiments(client, prefix, 3)
    client.create_experiment(unique_name("other"))

    found = client.search_experiments(filter_string=f"name LIKE '{prefix}-%'")

    assert sorted(wanted) == sorted(e.experiment_id for e in found)


def test_search_experiments_filters_by_tag(client: MlflowClient, unique_name: Callable[[str], str]) -> None:
    marker = unique_name("marker")
    tagged = client.create_experiment(unique_name("a"), tags={"suite": marker, "kind": "keep"})
    client.create_experiment(unique_name("b"), tags={"suite": marker, "kind": "skip"})

    found = client.search_experiments(filter_string=f"tags.suite = '{marker}' AND tags.kind = 'keep'")

    assert [tagged] == [e.experiment_id for e in found]


def test_search_experiments_orders_by_name_descending(client: MlflowClient, unique_name: Callable[[str], str]) -> None:
    prefix = unique_name("order")
    ids = _make_experiments(client, prefix, 3)

    found = client.search_experiments(filter_string=f"name LIKE '{prefix}-%'", order_by=["name DESC"])

    assert list(reversed(ids)) == [e.experiment_id for e in found]


def test_search_experiments_active_only_hides_deleted(client: MlflowClient, unique_name: Callable[[str], str]) -> None:
    prefix = unique_name("view")
    kept, deleted = _make_experiments(client, prefix, 2)
    client.delete_experiment(deleted)

    found = client.search_experiments(view_type=ViewType.ACTIVE_ONLY, filter_string=f"name LIKE '{prefix}-%'")

    assert [kept] == [e.experiment_id for e in found]


def test_search_experiments_deleted_only_returns_deleted(
    client: MlflowClient, unique_name: Callable[[str], str]
) -> None:
    prefix = unique_name("view")
    _kept, deleted = _make_experiments(client, prefix, 2)
    client.delete_experiment(deleted)

    found = client.search_experiments(view_type=ViewType.DELETED_ONLY, filter_string=f"name LIKE '{prefix}-%'")

    assert [(deleted, "deleted")] == [(e.experiment_id, e.lifecycle_stage) for e in found]


def test_search_experiments_all_returns_active_and_deleted(
    client: MlflowClient, unique_name: Callable[[str], str]
) -> None:
    prefix = unique_name("view")
    ids = _make_experiments(client, prefix, 2)
    client.delete_experiment(ids[1])

    found = client.search_experiments(view_type=ViewType.ALL, filter_string=f"name LIKE '{prefix}-%'")

    assert sorted(ids) == sorted(e.experiment_id for e in found)


def test_search_experiments_paginates_with_page_token(client: MlflowClient, unique_name: Callable[[str], str]) -> None:
    prefix = unique_name("page")
    ids = _make_experiments(client, prefix, 5)
    query = {"filter_string": f"name LIKE '{prefix}-%'", "order_by": ["name ASC"], "max_results": 2}

    pages = [client.search_experiments(**query)]
    while pages[-1].token:
        pages.append(client.search_experiments(**query, page_token=pages[-1].token))

    assert ([2, 2, 1], ids) == ([len(p) for p in pages], [e.experiment_id for p in pages for e in p])


def test_search_experiments_with_no_match_returns_empty_list(
    client: MlflowClient, unique_name: Callable[[str], str]
) -> None:
    found = client.search_experiments(filter_string=f"name = '{unique_name('absent')}'")

    assert ([], None) == (list(found), found.token)
