"""Alembic migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import shipyard.events.tables
import shipyard.registry.tables
import shipyard.tracking.tables  # noqa: F401
from shipyard.db import metadata, open_database
from shipyard.db._migrate import alembic_config, current_revision


def test_migrated_schema_matches_the_declared_tables(store_url: str) -> None:
    database = open_database(store_url)
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    database.dispose()
    assert [] == diff


def test_opening_twice_keeps_the_revision(store_url: str) -> None:
    first = open_database(store_url)
    revision = current_revision(first.engine)
    first.dispose()
    second = open_database(store_url)
    head = ScriptDirectory.from_config(alembic_config(second.engine)).get_current_head()
    assert (head, head) == (revision, current_revision(second.engine))
    second.dispose()
