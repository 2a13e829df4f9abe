"""Alembic environment: runs migrations on the engine Shipyard hands in, with every capability's tables declared.

The tables modules are named by the capability registry and imported by name, so the database layer imports no
capability (import-linter checks it).
"""

from __future__ import annotations

import importlib

from alembic import context

from shipyard._capabilities import tables_modules
from shipyard.db._metadata import metadata

__all__: list[str] = []

for _module in tables_modules():
    importlib.import_module(_module)  # registers the capability's tables on the shared metadata

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
