"""Run Alembic migrations programmatically, cheaply when the schema is already current."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

__all__ = ["alembic_config", "current_revision", "upgrade_to_head"]

_MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    """An Alembic config pointing at Shipyard's migrations, bound to ``engine``."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_to_head(engine: Engine) -> None:
    """Bring the schema to the newest revision; a no-op (one query) when it is already there."""
    config = alembic_config(engine)
    head = ScriptDirectory.from_config(config).get_current_head()
    if current_revision(engine) == head:
        return
    command.upgrade(config, "head")
