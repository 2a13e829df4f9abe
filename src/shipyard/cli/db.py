"""``shipyard db``: the metadata database's schema: upgrade it, show where it stands, list the revisions."""

from __future__ import annotations

from typing import Annotated

import typer

from shipyard.cli._common import console, handle_errors
from shipyard.config import Settings

__all__ = ["app"]

app = typer.Typer(help="Upgrade and inspect the metadata database's schema.", no_args_is_help=True)

Store = Annotated[
    str | None,
    typer.Option("--store", help="Metadata store URL (sqlite:///… or postgresql://…); default SHIPYARD_STORE_URI."),
]


def _store(store: str | None) -> str:
    return Settings.from_env().with_overrides(store_uri=store).resolved_store_uri


@app.command()
def upgrade(store: Store = None) -> None:
    """Bring the schema to this Shipyard's newest revision (safe while other servers start: it takes a lock)."""
    from shipyard.db import current_revision, head_revision, open_database

    with handle_errors():
        database = open_database(_store(store), migrate=False)
        try:
            before = current_revision(database.engine)
            from shipyard.db._migrate import upgrade_to_head

            upgrade_to_head(database.engine)
            after, head = current_revision(database.engine), head_revision(database.engine)
        finally:
            database.dispose()
    if before == after:
        console.print(f"The schema is current ({head}).")
    else:
        console.print(f"Upgraded the schema from {before or 'empty'} to {after}.")


@app.command()
def current(store: Store = None) -> None:
    """Print the database's schema revision and whether it is current (exit 1 when it is not)."""
    from shipyard.db import current_revision, head_revision, open_database

    with handle_errors():
        database = open_database(_store(store), migrate=False)
        try:
            found, head = current_revision(database.engine), head_revision(database.engine)
        finally:
            database.dispose()
    if found == head:
        console.print(f"{found} (current)")
        return
    console.print(f"{found or 'empty'} (this Shipyard's newest is {head}: run `shipyard db upgrade`)")
    raise typer.Exit(1)


@app.command()
def history() -> None:
    """List the schema revisions this Shipyard knows, oldest first."""
    from alembic.script import ScriptDirectory

    from shipyard.db._migrate import _MIGRATIONS

    script = ScriptDirectory(str(_MIGRATIONS))
    for revision in reversed(list(script.walk_revisions())):
        console.print(f"{revision.revision}  {revision.doc or ''}".rstrip(), highlight=False)
