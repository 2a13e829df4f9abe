"""The registry's length limits: MLflow's where MLflow has one, each refused with a message naming it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shipyard.db import open_database
from shipyard.errors import InvalidParameter, ResourceNotFound
from shipyard.registry.service import RegistryService
from shipyard.registry.validation import (
    check_description,
    check_logged_model_entries,
    check_model_type,
    check_reason,
    check_registry_tag,
    check_registry_tags,
    check_run_link,
    check_version_source,
)
from shipyard.tracking.service import TrackingService
from shipyard.tracking.store import TrackingStore

SOURCE_500 = "mlflow-artifacts:/" + "/".join(["s" * 99] * 5)[: 500 - len("mlflow-artifacts:/")]


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryService]:
    database = open_database(f"sqlite:///{tmp_path / 'store.db'}")
    yield RegistryService(database, TrackingService(TrackingStore(database)))
    database.dispose()


# --- registry tags: MLflow's 250 / 100,000 ------------------------------------------------------------


def test_registry_tag_at_mlflow_limits_passes() -> None:
    assert ("k" * 250, "v" * 100_000) == check_registry_tag("k" * 250, "v" * 100_000)


def test_registry_tag_key_over_250_characters_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="Model version tag key exceeds the maximum length of 250 characters"):
        check_registry_tag("k" * 251, "v", owner="Model version")


def test_registry_tag_value_over_100000_characters_is_refused() -> None:
    expected = "Registered model tag 'k' value exceeds the maximum length of 100000 characters"
    with pytest.raises(InvalidParameter, match=expected):
        check_registry_tag("k", "v" * 100_001)


def test_registry_tag_without_a_key_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="Missing value for required parameter 'key'"):
        check_registry_tag("", "v")


def test_registry_tag_value_that_is_not_text_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="value must be a string"):
        check_registry_tag("k", None)


def test_no_registry_tags_are_an_empty_dict() -> None:
    assert {} == check_registry_tags(None)


# --- logged-model tags and params --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["tag", "param"])
def test_logged_model_entries_at_the_limits_pass(kind: str) -> None:
    assert {"k" * 250: "v" * 100_000} == check_logged_model_entries({"k" * 250: "v" * 100_000}, kind)


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ({"k" * 251: "v"}, "Logged model param key exceeds the maximum length of 250 characters"),
        ({"k": "v" * 100_001}, "Logged model param 'k' value exceeds the maximum length of 100000 characters"),
        ({"": "v"}, "Logged model param key must be a non-empty string"),
    ],
    ids=["key", "value", "empty-key"],
)
def test_logged_model_entry_over_the_limits_is_refused(entries: dict[str, str], expected: str) -> None:
    with pytest.raises(InvalidParameter, match=expected):
        check_logged_model_entries(entries, "param")


# --- single fields -------------------------------------------------------------------------------------

FIELDS: list[tuple[Callable[[str], str | None], str, int]] = [
    (check_description, "'description'", 5000),
    (check_run_link, "'run_link'", 500),
    (check_reason, "'reason'", 5000),
    (check_model_type, "'model_type'", 256),
]
FIELD_IDS = ["description", "run_link", "reason", "model_type"]


@pytest.mark.parametrize(("check", "field", "limit"), FIELDS, ids=FIELD_IDS)
def test_field_at_its_limit_passes(check: Callable[[str], str | None], field: str, limit: int) -> None:
    assert "x" * limit == check("x" * limit)


@pytest.mark.parametrize(("check", "field", "limit"), FIELDS, ids=FIELD_IDS)
def test_field_over_its_limit_is_refused(check: Callable[[str], str | None], field: str, limit: int) -> None:
    with pytest.raises(InvalidParameter) as caught:
        check("x" * (limit + 1))

    assert (True, True) == (
        field in caught.value.message,
        f"maximum length of {limit} characters" in caught.value.message,
    )


def test_version_source_of_500_characters_passes() -> None:
    assert SOURCE_500 == check_version_source(SOURCE_500, "/data/artifacts")


def test_version_source_over_500_characters_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="'source' exceeds the maximum length of 500 characters"):
        check_version_source(SOURCE_500 + "x", "/data/artifacts")


# --- where the values enter the service -----------------------------------------------------------------


def test_registered_model_with_an_oversized_description_is_not_created(registry: RegistryService) -> None:
    with pytest.raises(InvalidParameter):
        registry.create_registered_model("churn", description="d" * 5001)
    with pytest.raises(ResourceNotFound):
        registry.get_registered_model("churn")


def test_oversized_reason_records_no_history(registry: RegistryService) -> None:
    registry.create_registered_model("churn")
    with pytest.raises(InvalidParameter):
        registry.rename_registered_model("churn", "churn-2", reason="r" * 5001)

    assert (["churn"], ["registered_model.created"]) == (
        [m.name for m in registry.search_registered_models()[0]],
        [e.kind for e in registry.history("churn")],
    )


def test_oversized_version_tag_leaves_the_version_untagged(registry: RegistryService) -> None:
    registry.create_registered_model("churn")
    registry.create_model_version("churn", "mlflow-artifacts:/1/model")
    with pytest.raises(InvalidParameter):
        registry.set_model_version_tag("churn", 1, "k", "v" * 100_001)

    assert {} == registry.get_model_version("churn", 1).tags


def test_logged_model_with_an_oversized_param_is_not_created(registry: RegistryService) -> None:
    experiment_id = registry.tracking.create_experiment("models")
    with pytest.raises(InvalidParameter):
        registry.create_logged_model(experiment_id, "model", params={"p": "v" * 100_001})

    assert [] == registry.search_logged_models([experiment_id])[0]
