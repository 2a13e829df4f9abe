"""Alembic environment: runs migrations on the engine Shipyard hands in."""

from __future__ import annotations

from alembic import context

import shipyard.auth.tables
import shipyard.events.tables
import shipyard.monitoring.tables
import shipyard.registry.tables
import shipyard.tracking.tables  # noqa: F401
from shipyard.db._metadata import metadata

given = context.config.attributes.get("connection")
if given is not None:
    # Shipyard's upgrade holds the migration lock in this connection's transaction and commits it afterwards.
    context.configure(connection=given, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
