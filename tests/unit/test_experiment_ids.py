"""Experiment ids in one spelling (issue 12, item 4), stored grants rewritten to it, and storage keys by owner."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, insert, select

from shipyard._ids import canonical_experiment_id, strict_experiment_id
from shipyard.auth.tables import permissions, users
from shipyard.db._migrate import alembic_config
from shipyard.errors import InvalidParameter
from shipyard.server._access import storage_key

OTHER_SPELLINGS = [" 2", "2 ", "+2", "-2", "0_2", "٢", "²", "2.0", "0x2", "", "2\n"]


@pytest.mark.parametrize(("sent", "canonical"), [("2", "2"), ("02", "2"), ("0", "0"), ("000", "0"), (7, "7")])
def test_ascii_digits_read_as_their_canonical_spelling(sent: object, canonical: str) -> None:
    assert canonical == canonical_experiment_id(sent)


@pytest.mark.parametrize("sent", [*OTHER_SPELLINGS, True, None, 2.0, str(2**31)])
def test_every_other_spelling_is_refused(sent: object) -> None:
    with pytest.raises(InvalidParameter):
        canonical_experiment_id(sent)


def test_a_store_refuses_a_leading_zero_it_would_read_as_another_key() -> None:
    with pytest.raises(InvalidParameter, match="write it as '2'"):
        strict_experiment_id("02")


def test_a_store_accepts_the_canonical_spelling_and_ints() -> None:
    assert (2, 2) == (strict_experiment_id("2"), strict_experiment_id(2))


@pytest.mark.parametrize(
    ("location", "key"),
    [
        ("mlflow-artifacts:/2/abc/artifacts", "2/abc/artifacts"),
        ("mlflow-artifacts://host/2/abc", "2/abc"),
        ("/data/artifacts/2/abc", "2/abc"),
        ("/data/artifacts//./2/abc", "2/abc"),
        ("file:///data/artifacts/2/abc", "2/abc"),
        ("file://localhost/data/artifacts/deployments/x", "deployments/x"),
    ],
)
def test_a_location_under_a_local_root_maps_to_its_key(location: str, key: str) -> None:
    assert key == storage_key(location, "/data/artifacts")


@pytest.mark.parametrize(
    "location",
    [
        "/data/artifacts",
        "/data/other/2",
        "/data/artifacts/2/../../x",
        "file://fileserver/data/artifacts/2",
        "s3://bucket/prefix/2",
        "dbfs:/data/artifacts/2",
        "runs:/abc/model",
    ],
)
def test_a_location_outside_a_local_root_has_no_key(location: str) -> None:
    assert None is storage_key(location, "/data/artifacts")


@pytest.mark.parametrize(
    ("location", "key"),
    [("s3://bucket/prefix/2/abc", "2/abc"), ("s3://bucket/other/2", None), ("s3://elsewhere/prefix/2", None)],
)
def test_a_location_under_an_s3_root_maps_to_its_key(location: str, key: str | None) -> None:
    assert key == storage_key(location, "s3://bucket/prefix")


def _grants_after_migration(tmp_path: Path, stored: list[tuple[str, str, int]]) -> set[tuple[str, str, int]]:
    engine = create_engine(f"sqlite:///{tmp_path / 'grants.db'}")
    config = alembic_config(engine)
    command.upgrade(config, "0004")
    with engine.begin() as conn:
        for name in sorted({username for _rid, username, _level in stored}):
            conn.execute(
                insert(users).values(username=name, password_hash="x", is_admin=False, created_at=0, updated_at=0)
            )
        for resource_id, username, level in stored:
            conn.execute(
                insert(permissions).values(
                    resource_type="experiment", resource_id=resource_id, username=username, level=level
                )
            )
        conn.execute(
            insert(permissions).values(resource_type="registered_model", resource_id="02", username="u", level=1)
        )
    command.upgrade(config, "head")
    with engine.connect() as conn:
        rows = conn.execute(select(permissions).where(permissions.c.resource_type == "experiment")).all()
    engine.dispose()
    return {(r.resource_id, r.username, r.level) for r in rows}


def test_the_migration_rewrites_a_leading_zero_grant_to_the_canonical_id(tmp_path: Path) -> None:
    assert {("2", "u", 1)} == _grants_after_migration(tmp_path, [("02", "u", 1)])


def test_the_migration_keeps_the_canonical_grant_when_both_spellings_exist(tmp_path: Path) -> None:
    assert {("2", "u", 0)} == _grants_after_migration(tmp_path, [("2", "u", 0), ("002", "u", 3)])


def test_the_migration_drops_grants_no_request_can_name(tmp_path: Path) -> None:
    assert {("3", "u", 1)} == _grants_after_migration(tmp_path, [("٢", "u", 3), (" 2", "u", 3), ("3", "u", 1)])


@pytest.mark.parametrize("spelling", ["02", " 2", "+2", "0_2", "٢"])
def test_the_registry_service_refuses_other_spellings_of_an_experiment_id(tmp_path: Path, spelling: str) -> None:
    """In-process callers (the SDK's embedded backend) reach the registry service without the server's
    canonicalization: its logged-model routes refuse every other spelling too."""
    from shipyard.db import open_database
    from shipyard.registry.service import RegistryService
    from shipyard.tracking.service import TrackingService
    from shipyard.tracking.store import TrackingStore

    database = open_database(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        registry = RegistryService(database, TrackingService(TrackingStore(database)))
        with pytest.raises(InvalidParameter):
            registry.create_logged_model(spelling)
        with pytest.raises(InvalidParameter):
            registry.search_logged_models([spelling])
    finally:
        database.dispose()
