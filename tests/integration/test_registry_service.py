"""The registry service on SQLite and PostgreSQL: history events, URI resolution, lineage, model cards, search."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from shipyard.db import open_database
from shipyard.errors import InvalidParameter, ModelVersionNotFound, ResourceNotFound
from shipyard.events import Event
from shipyard.registry.card import model_card_markdown
from shipyard.registry.lineage import model_lineage
from shipyard.registry.service import EVALUATION_PREFIX, RegistryService
from shipyard.tracking.entities import DatasetInput, Metric, Param, RunTag
from shipyard.tracking.lineage import TAG_GIT_COMMIT
from shipyard.tracking.service import TrackingService
from shipyard.tracking.store import TrackingStore

SOURCE = "s3://bucket/models/churn"
PROMPT_TAG = "mlflow.prompt.is_prompt"


@pytest.fixture
def registry(store_url: str) -> Iterator[RegistryService]:
    database = open_database(store_url)
    clock = iter(range(1_000_000, 10_000_000, 10))
    tracking = TrackingService(TrackingStore(database), clock_ms=lambda: next(clock))
    yield RegistryService(database, tracking, clock_ms=lambda: next(clock))
    database.dispose()


@dataclass(frozen=True)
class Produced:
    """A run that logged a model, with what it recorded."""

    run_id: str
    model_id: str
    artifact_location: str


DATASET = DatasetInput(
    name="iris",
    digest="d1g3st",
    source_type="local",
    source='{"uri": "/data/iris.csv"}',
    tags={"mlflow.data.context": "training"},
)


@pytest.fixture
def produced(registry: RegistryService) -> Produced:
    tracking = registry.tracking
    exp = tracking.create_experiment("exp")
    run_id = tracking.create_run(exp, run_name="train").run_id
    tracking.log_batch(
        run_id,
        metrics=[Metric("accuracy", 0.93, 1_000, 0)],
        params=[Param("max_depth", "4")],
        tags=[RunTag(TAG_GIT_COMMIT, "0123456789abcdef0123")],
    )
    tracking.log_inputs(run_id, [DATASET])
    logged = registry.create_logged_model(exp, "model", source_run_id=run_id)
    return Produced(run_id, logged.model_id, logged.artifact_location)


@pytest.fixture
def name(registry: RegistryService) -> str:
    """A registered model with two versions from an artifact URI."""
    registry.create_registered_model("churn", actor="alice")
    registry.create_model_version("churn", SOURCE, actor="alice")
    registry.create_model_version("churn", SOURCE, actor="alice")
    return "churn"


def _last(registry: RegistryService, model: str, kind: str) -> Event:
    return next(e for e in registry.history(model) if e.kind == kind)


def _summary(event: Event) -> tuple[str, str, str | None, str | None, str | None, str | None]:
    return (event.kind, event.actor, event.version, event.from_value, event.to_value, event.reason)


# ------------------------------------------------------------------------------------------------------ history
def test_creating_a_version_records_who_and_which_number(registry: RegistryService, name: str) -> None:
    registry.create_model_version(name, SOURCE, actor="bob", reason="retrained")

    assert ("model_version.created", "bob", "3", None, "3", "retrained") == _summary(
        _last(registry, name, "model_version.created")
    )


def test_creating_a_registered_model_records_the_actor(registry: RegistryService, name: str) -> None:
    assert ("registered_model.created", "alice") == _summary(_last(registry, name, "registered_model.created"))[:2]


def test_change_without_actor_is_recorded_as_anonymous(registry: RegistryService, name: str) -> None:
    registry.set_alias(name, "champion", 1)

    assert "anonymous" == _last(registry, name, "model_version_alias.created").actor


def test_new_alias_records_created_with_target_and_reason(registry: RegistryService, name: str) -> None:
    registry.set_alias(name, "champion", 1, actor="carol", reason="best AUC")

    assert ("model_version_alias.created", "carol", "1", None, "1", "best AUC") == _summary(
        _last(registry, name, "model_version_alias.created")
    )


def test_moving_an_alias_records_old_and_new_version(registry: RegistryService, name: str) -> None:
    registry.set_alias(name, "champion", 1, actor="carol")
    registry.set_alias(name, "champion", 2, actor="dave", reason="v2 wins")

    assert ("model_version_alias.moved", "dave", "2", "1", "2", "v2 wins") == _summary(
        _last(registry, name, "model_version_alias.moved")
    )


def test_setting_an_alias_to_where_it_points_records_nothing(registry: RegistryService, name: str) -> None:
    registry.set_alias(name, "champion", 1)
    before = len(registry.history(name))

    registry.set_alias(name, "champion", 1)

    assert before == len(registry.history(name))


def test_deleting_an_alias_records_the_version_it_pointed_at(registry: RegistryService, name: str) -> None:
    registry.set_alias(name, "champion", 2)

    registry.delete_alias(name, "champion", actor="erin", reason="rollback")

    assert ("model_version_alias.deleted", "erin", "2", "2", None, "rollback") == _summary(
        _last(registry, name, "model_version_alias.deleted")
    )


def test_stage_change_records_from_and_to(registry: RegistryService, name: str) -> None:
    registry.transition_model_version_stage(name, 1, "Production", actor="frank", reason="approved")

    assert ("model_version.stage_changed", "frank", "1", "None", "Production", "approved") == _summary(
        _last(registry, name, "model_version.stage_changed")
    )


def test_archiving_existing_versions_records_an_event_per_archived_version(
    registry: RegistryService, name: str
) -> None:
    registry.transition_model_version_stage(name, 1, "Production")

    registry.transition_model_version_stage(name, 2, "Production", archive_existing_versions=True, actor="gina")

    changes = [_summary(e) for e in registry.history(name) if e.kind == "model_version.stage_changed"]
    assert [
        ("model_version.stage_changed", "gina", "2", "None", "Production", None),
        ("model_version.stage_changed", "gina", "1", "Production", "Archived", None),
    ] == changes[:2]


def test_archived_version_event_names_the_version_that_replaced_it(registry: RegistryService, name: str) -> None:
    registry.transition_model_version_stage(name, 1, "Production")

    registry.transition_model_version_stage(name, 2, "Production", archive_existing_versions=True)

    archived = next(e for e in registry.history(name) if e.to_value == "Archived")
    assert "2" == archived.payload["archived_by"]


def test_version_tag_records_old_and_new_value(registry: RegistryService, name: str) -> None:
    registry.set_model_version_tag(name, 1, "validated", "no")
    registry.set_model_version_tag(name, 1, "validated", "yes", actor="hana")

    event = _last(registry, name, "model_version_tag.set")
    assert (("model_version_tag.set", "hana", "1", "no", "yes", None), "validated") == (
        _summary(event),
        event.payload["tag"],
    )


def test_model_tag_records_the_new_value(registry: RegistryService, name: str) -> None:
    registry.set_registered_model_tag(name, "team", "fraud", actor="ivan")

    assert ("registered_model_tag.set", "ivan", None, None, "fraud", None) == _summary(
        _last(registry, name, "registered_model_tag.set")
    )


def test_deleting_a_model_tag_records_the_old_value(registry: RegistryService, name: str) -> None:
    registry.set_registered_model_tag(name, "team", "fraud")

    registry.delete_registered_model_tag(name, "team", actor="ivan")

    assert ("registered_model_tag.deleted", "ivan", None, "fraud", None, None) == _summary(
        _last(registry, name, "registered_model_tag.deleted")
    )


def test_description_update_records_old_and_new_text(registry: RegistryService, name: str) -> None:
    registry.update_registered_model(name, "first")
    registry.update_registered_model(name, "second", actor="jo", reason="clarify")

    assert ("registered_model.updated", "jo", None, "first", "second", "clarify") == _summary(
        _last(registry, name, "registered_model.updated")
    )


def test_history_is_newest_first(registry: RegistryService, name: str) -> None:
    registry.set_alias(name, "champion", 1)

    assert ["model_version_alias.created", "model_version.created", "model_version.created"] == [
        e.kind for e in registry.history(name)[:3]
    ]


def test_history_survives_a_rename(registry: RegistryService, name: str) -> None:
    registry.rename_registered_model(name, "churn-v2", actor="kim", reason="new naming")

    kinds = [e.kind for e in registry.history("churn-v2")]
    assert [
        "registered_model.renamed",
        "model_version.created",
        "model_version.created",
        "registered_model.created",
    ] == kinds


def test_rename_records_old_and_new_name(registry: RegistryService, name: str) -> None:
    registry.rename_registered_model(name, "churn-v2", actor="kim", reason="new naming")

    assert ("registered_model.renamed", "kim", None, "churn", "churn-v2", "new naming") == _summary(
        _last(registry, "churn-v2", "registered_model.renamed")
    )


def test_history_of_a_deleted_model_stays_in_the_event_store(registry: RegistryService, name: str) -> None:
    key = registry.store.model_key(name)

    registry.delete_registered_model(name, actor="lee", reason="retired")

    found = registry.events.list_events(entity_id=str(key), newest_first=True)
    assert (("registered_model.deleted", "lee", None, None, None, "retired"), 4) == (_summary(found[0]), len(found))


def test_deleting_a_model_records_its_versions(registry: RegistryService, name: str) -> None:
    key = registry.store.model_key(name)

    registry.delete_registered_model(name)

    [deleted] = registry.events.list_events(entity_id=str(key), kinds=["registered_model.deleted"])
    assert [1, 2] == deleted.payload["versions"]


def test_deleting_a_version_records_the_aliases_it_lost(registry: RegistryService, name: str) -> None:
    registry.set_alias(name, "champion", 2)

    registry.delete_model_version(name, 2, actor="max", reason="bad data")

    event = _last(registry, name, "model_version.deleted")
    assert (("model_version.deleted", "max", "2", None, None, "bad data"), ["champion"]) == (
        _summary(event),
        event.payload["aliases"],
    )


def test_failed_alias_change_writes_no_event(registry: RegistryService, name: str) -> None:
    before = registry.history(name)

    with pytest.raises(ModelVersionNotFound):
        registry.set_alias(name, "champion", 9)

    assert before == registry.history(name)


def test_failed_stage_change_writes_no_event(registry: RegistryService, name: str) -> None:
    before = registry.history(name)

    with pytest.raises(InvalidParameter):
        registry.transition_model_version_stage(name, 1, "Retired")

    assert before == registry.history(name)


def test_history_of_unknown_model_raises_not_found(registry: RegistryService) -> None:
    with pytest.raises(ResourceNotFound):
        registry.history("nope")


# ---------------------------------------------------------------------------------------------- URI resolution
def test_resolve_version_number(registry: RegistryService, name: str) -> None:
    resolved = registry.resolve_model_uri(f"models:/{name}/2")

    assert (SOURCE, 2) == (resolved.artifact_uri, resolved.version.version if resolved.version else None)


def test_resolve_alias(registry: RegistryService, name: str) -> None:
    registry.set_alias(name, "champion", 1)

    resolved = registry.resolve_model_uri(f"models:/{name}@champion")

    assert 1 == (resolved.version.version if resolved.version else None)


def test_resolve_latest_alias_takes_the_newest_version(registry: RegistryService, name: str) -> None:
    resolved = registry.resolve_model_uri(f"models:/{name}@latest")

    assert 2 == (resolved.version.version if resolved.version else None)


def test_latest_alias_of_model_without_versions_raises_version_not_found(registry: RegistryService) -> None:
    registry.create_registered_model("empty")

    with pytest.raises(ModelVersionNotFound):
        registry.get_version_by_alias("empty", "latest")


def test_resolve_stage_takes_the_newest_in_that_stage(registry: RegistryService, name: str) -> None:
    registry.transition_model_version_stage(name, 1, "Production")
    registry.transition_model_version_stage(name, 2, "Production")

    resolved = registry.resolve_model_uri(f"models:/{name}/Production")

    assert 2 == (resolved.version.version if resolved.version else None)


def test_resolve_stage_is_case_insensitive(registry: RegistryService, name: str) -> None:
    registry.transition_model_version_stage(name, 1, "Staging")

    resolved = registry.resolve_model_uri(f"models:/{name}/staging")

    assert 1 == (resolved.version.version if resolved.version else None)


def test_resolve_empty_stage_raises_version_not_found(registry: RegistryService, name: str) -> None:
    with pytest.raises(ModelVersionNotFound):
        registry.resolve_model_uri(f"models:/{name}/Production")


def test_resolve_latest_takes_the_newest_version(registry: RegistryService, name: str) -> None:
    registry.transition_model_version_stage(name, 1, "Production")

    resolved = registry.resolve_model_uri(f"models:/{name}/latest")

    assert 2 == (resolved.version.version if resolved.version else None)


def test_resolve_logged_model_id(registry: RegistryService, produced: Produced) -> None:
    resolved = registry.resolve_model_uri(f"models:/{produced.model_id}")

    assert (produced.artifact_location, produced.run_id) == (resolved.artifact_uri, resolved.run_id)


def test_resolve_runs_uri_finds_the_logged_model(registry: RegistryService, produced: Produced) -> None:
    resolved = registry.resolve_model_uri(f"runs:/{produced.run_id}/model")

    assert (produced.artifact_location, produced.model_id) == (
        resolved.artifact_uri,
        resolved.logged_model.model_id if resolved.logged_model else None,
    )


def test_resolve_runs_uri_without_logged_model_points_into_the_run(
    registry: RegistryService, produced: Produced
) -> None:
    run = registry.tracking.get_run(produced.run_id)

    resolved = registry.resolve_model_uri(f"runs:/{produced.run_id}/old/model")

    assert f"{run.artifact_uri}/old/model" == resolved.artifact_uri


def test_resolve_runs_uri_with_a_quote_in_the_path_points_into_the_run(
    registry: RegistryService, produced: Produced
) -> None:
    run = registry.tracking.get_run(produced.run_id)

    resolved = registry.resolve_model_uri(f"runs:/{produced.run_id}/it's")

    assert f"{run.artifact_uri}/it's" == resolved.artifact_uri


def test_resolve_registered_version_of_logged_model(registry: RegistryService, produced: Produced) -> None:
    registry.create_registered_model("clf")
    registry.create_model_version("clf", f"models:/{produced.model_id}", model_id=produced.model_id)

    resolved = registry.resolve_model_uri("models:/clf/1")

    assert (produced.artifact_location, produced.run_id) == (resolved.artifact_uri, resolved.run_id)


def test_version_from_runs_uri_downloads_from_the_logged_model(registry: RegistryService, produced: Produced) -> None:
    registry.create_registered_model("clf")
    registry.create_model_version("clf", f"runs:/{produced.run_id}/model", run_id=produced.run_id)

    assert produced.artifact_location == registry.get_download_uri("clf", 1)


def test_resolve_unknown_scheme_raises_invalid_parameter(registry: RegistryService) -> None:
    with pytest.raises(InvalidParameter):
        registry.resolve_model_uri("s3://bucket/model")


def test_resolve_model_uri_without_version_raises_invalid_parameter(registry: RegistryService, name: str) -> None:
    with pytest.raises(InvalidParameter):
        registry.resolve_model_uri(f"models:/{name}")


# ---------------------------------------------------------------------------------------------- lineage, card
@pytest.fixture
def registered(registry: RegistryService, produced: Produced) -> str:
    registry.create_registered_model("clf")
    registry.create_model_version("clf", f"models:/{produced.model_id}", model_id=produced.model_id)
    return "clf"


def test_lineage_carries_run_params(registry: RegistryService, registered: str) -> None:
    assert {"max_depth": "4"} == model_lineage(registry, registered, 1).params


def test_lineage_carries_run_metrics(registry: RegistryService, registered: str) -> None:
    assert [("accuracy", 0.93)] == [(m.key, m.value) for m in model_lineage(registry, registered, 1).metrics]


def test_lineage_carries_dataset_digests(registry: RegistryService, registered: str) -> None:
    assert [("iris", "d1g3st")] == [(d.name, d.digest) for d in model_lineage(registry, registered, 1).datasets]


def test_lineage_carries_code_tags(registry: RegistryService, registered: str) -> None:
    assert {"git_commit": "0123456789abcdef0123"} == model_lineage(registry, registered, 1).code


def test_lineage_names_the_experiment(registry: RegistryService, registered: str) -> None:
    assert "exp" == model_lineage(registry, registered, 1).experiment_name


def test_lineage_chain_runs_from_data_to_version(
    registry: RegistryService, registered: str, produced: Produced
) -> None:
    assert [
        ("dataset", "iris@d1g3st"),
        ("code", "0123456789ab"),
        ("run", produced.run_id),
        ("logged_model", produced.model_id),
        ("model_version", "clf/1"),
    ] == model_lineage(registry, registered, 1).chain


def test_lineage_of_version_without_run_is_only_the_version(registry: RegistryService, name: str) -> None:
    assert [("model_version", "churn/1")] == model_lineage(registry, name, 1).chain


def test_lineage_collects_evaluations(registry: RegistryService, registered: str) -> None:
    registry.set_model_version_tag(registered, 1, EVALUATION_PREFIX + "fairness", '{"gap": 0.01}')

    assert {"fairness": '{"gap": 0.01}'} == model_lineage(registry, registered, 1).evaluations


def _card(registry: RegistryService, name: str) -> str:
    return model_card_markdown(model_lineage(registry, name, 1))


def test_card_lists_params(registry: RegistryService, registered: str) -> None:
    assert "| max_depth | 4 |" in _card(registry, registered)


def test_card_lists_metrics(registry: RegistryService, registered: str) -> None:
    assert "| accuracy | 0.93 | 0 |" in _card(registry, registered)


def test_card_lists_datasets_with_digests(registry: RegistryService, registered: str) -> None:
    assert "| iris | `d1g3st` |" in _card(registry, registered)


def test_card_shows_the_intended_use(registry: RegistryService, registered: str) -> None:
    registry.set_card_fields(registered, 1, intended_use="Rank churn risk for retention offers.")

    assert "## Intended use\n\nRank churn risk for retention offers.\n" in _card(registry, registered)


def test_card_shows_attached_evaluations(registry: RegistryService, registered: str) -> None:
    registry.set_model_version_tag(registered, 1, EVALUATION_PREFIX + "fairness", '{"gap": 0.01}')

    assert '### fairness\n\n```json\n{"gap": 0.01}\n```' in _card(registry, registered)


def test_card_field_names_are_checked(registry: RegistryService, registered: str) -> None:
    with pytest.raises(InvalidParameter):
        registry.set_card_fields(registered, 1, **{"Intended Use": "x"})


# ---------------------------------------------------------------------------------------------------- search
@pytest.fixture
def tagged(registry: RegistryService) -> None:
    registry.create_registered_model("red", tags={"team": "red"})
    registry.create_registered_model("blue", tags={"team": "blue"})
    registry.create_registered_model("plain")
    registry.create_registered_model("prompt", tags={PROMPT_TAG: "true"})


def _names(registry: RegistryService, filter_string: str | None) -> list[str]:
    return [m.name for m in registry.search_registered_models(filter_string)[0]]


@pytest.mark.usefixtures("tagged")
def test_tag_not_equal_needs_the_tag(registry: RegistryService) -> None:
    # As MLflow's server does (checked by tests/compat): "tags.k != 'v'" leaves out models without the tag.
    assert ["blue"] == _names(registry, "tags.team != 'red'")


@pytest.mark.usefixtures("tagged")
def test_prompts_are_left_out_by_default(registry: RegistryService) -> None:
    assert ["blue", "plain", "red"] == _names(registry, None)


@pytest.mark.usefixtures("tagged")
def test_client_prompt_filter_matches_models_without_the_prompt_tag(registry: RegistryService) -> None:
    assert ["blue", "plain", "red"] == _names(registry, f"tags.`{PROMPT_TAG}` != 'true'")


@pytest.mark.usefixtures("tagged")
def test_prompts_are_found_when_asked_for(registry: RegistryService) -> None:
    assert ["prompt"] == _names(registry, f"tags.`{PROMPT_TAG}` = 'true'")


@pytest.mark.usefixtures("tagged")
def test_tag_like_filter(registry: RegistryService) -> None:
    assert ["blue"] == _names(registry, "tags.team LIKE 'bl%'")


@pytest.mark.usefixtures("tagged")
def test_name_like_is_case_sensitive(registry: RegistryService) -> None:
    assert [] == _names(registry, "name LIKE 'RE%'")


@pytest.mark.usefixtures("tagged")
def test_name_ilike_ignores_case(registry: RegistryService) -> None:
    assert ["red"] == _names(registry, "name ILIKE 'RE%'")


def test_search_model_versions_by_tag_not_equal_needs_the_tag(registry: RegistryService, name: str) -> None:
    registry.set_model_version_tag(name, 1, "validated", "yes")
    registry.create_model_version(name, SOURCE, tags={"validated": "no"})

    found, _ = registry.search_model_versions(f"name = '{name}' AND tags.validated != 'yes'")

    assert [3] == [v.version for v in found]


def test_search_model_versions_default_order_is_newest_update_first(registry: RegistryService, name: str) -> None:
    registry.update_model_version(name, 1, "touched last")

    found, _ = registry.search_model_versions(f"name = '{name}'")

    assert [1, 2] == [v.version for v in found]


def test_search_registered_models_rejects_too_many_results(registry: RegistryService) -> None:
    with pytest.raises(InvalidParameter):
        registry.search_registered_models(max_results=1001)


def test_search_registered_models_by_unknown_attribute_is_invalid(registry: RegistryService) -> None:
    with pytest.raises(InvalidParameter):
        registry.search_registered_models("attributes.owner = 'x'")
