"""``shipyard db``: the metadata database's schema: upgrade it, show where it stands, list the revisions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli._common import console, handle_errors
from shipyard.config import Settings

if TYPE_CHECKING:
    from shipyard.db import Database

__all__ = ["app"]

app = typer.Typer(help="Upgrade and inspect the metadata database's schema.", no_args_is_help=True)

Store = Annotated[
    str | None,
    typer.Option("--store", help="Metadata store URL (sqlite:///… or postgresql://…); default SHIPYARD_STORE_URI."),
]


def _open(store: str | None) -> Database:
    """The store, opened as it is (no migration, no services: these commands inspect and upgrade the schema)."""
    from shipyard._composition import open_store

    return open_store(Settings.from_env().with_overrides(store_uri=store), migrate=False)


@app.command()
def upgrade(store: Store = None) -> None:
    """Bring the schema to this Shipyard's newest revision (safe while other servers start: it takes a lock)."""
    from shipyard.db import current_revision, head_revision

    with handle_errors():
        database = _open(store)
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
    from shipyard.db import current_revision, head_revision

    with handle_errors():
        database = _open(store)
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
