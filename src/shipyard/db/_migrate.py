"""Run Alembic migrations programmatically: cheaply when the schema is current, under a lock when it is not.

Several servers (or workers) may start at once on one fresh database. Each checks the revision without a lock
(one query, the common case); one that finds the schema behind takes the migration lock (a transaction-level
advisory lock on PostgreSQL, an exclusive transaction on SQLite), checks again, and migrates on that same
connection, so the others wait and then find the schema at head. The statement timeout does not apply to it, and
on PostgreSQL an upgrade ends with ``ANALYZE`` of Shipyard's tables. A database stamped with a revision this
Shipyard does not know (a newer release migrated it) is refused with one sentence, not a traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, text

from shipyard.db._metadata import metadata
from shipyard.errors import InvalidState

__all__ = ["alembic_config", "check_schema", "current_revision", "head_revision", "upgrade_to_head"]

_MIGRATIONS = Path(__file__).parent / "migrations"
# pg_advisory_xact_lock key: any constant shared by every Shipyard process ("shipyard" as a 63-bit number).
_LOCK_KEY = int.from_bytes(b"shipyard", "big") >> 1


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


def head_revision(engine: Engine) -> str:
    """The newest revision this Shipyard knows."""
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    assert head is not None  # the package ships its migrations
    return head


def check_schema(engine: Engine) -> None:
    """Refuse a schema that is not at head (for ``shipyard server --no-migrate``), naming the command to run.

    Raises:
        InvalidState: the schema is behind (or empty), or newer than this Shipyard knows.
    """
    current, head = current_revision(engine), head_revision(engine)
    if current == head:
        return
    _refuse_unknown(engine, current)
    shown = "empty" if current is None else f"at revision {current}"
    raise InvalidState(
        f"The database is {shown}, behind this Shipyard's schema ({head}): run `shipyard db upgrade` first, "
        "or start without --no-migrate."
    )


def upgrade_to_head(engine: Engine) -> None:
    """Bring the schema to the newest revision; a no-op (one query) when it is already there.

    Raises:
        InvalidState: the database was migrated by a newer Shipyard.
    """
    head = head_revision(engine)
    if current_revision(engine) == head:
        return
    with _migration_lock(engine) as conn:
        current = MigrationContext.configure(conn).get_current_revision()  # another process may have migrated
        if current == head:
            return
        _refuse_unknown(engine, current)
        config = alembic_config(engine)
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        _analyze(conn)


def _refuse_unknown(engine: Engine, current: str | None) -> None:
    if current is None:
        return
    try:
        known = ScriptDirectory.from_config(alembic_config(engine)).get_revision(current) is not None
    except CommandError:
        known = False
    if not known:
        raise InvalidState(
            f"The database is at schema revision {current!r}, which this Shipyard does not know: a newer release "
            "migrated it. Upgrade Shipyard (pip install -U shipyard), or point it at another database."
        )


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that holds the migration lock; committed when the block ends."""
    if engine.dialect.name == "sqlite":
        with engine.connect().execution_options(sqlite_exclusive=True) as conn:
            # A migration that rebuilds a table (Alembic's batch mode: copy, drop, rename) would, with foreign
            # keys on, cascade the drop into every table pointing at it. SQLite ignores this pragma inside a
            # transaction, so it is set before; the keys are checked before commit and switched back on after.
            raw = conn.connection.driver_connection  # outside SQLAlchemy's transaction bookkeeping
            assert raw is not None
            raw.execute("PRAGMA foreign_keys=OFF")
            try:
                with conn.begin():
                    yield conn
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise InvalidState(
                            f"The migration left {len(broken)} rows pointing at missing rows (first in table "
                            f"{broken[0][0]!r}); nothing was changed."
                        )
            finally:
                raw.execute("PRAGMA foreign_keys=ON")
        return
    with engine.connect() as conn, conn.begin():
        # Neither the wait for another process's upgrade nor an index build may hit the statement timeout.
        conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        yield conn


def _analyze(conn: Connection) -> None:
    """Refresh PostgreSQL's planner statistics for Shipyard's tables after an upgrade built or rebuilt indexes.

    On PostgreSQL only: a table created or loaded since autovacuum last ran has none, and ``CREATE INDEX`` leaves
    the columns' statistics untouched. Run searches do not depend on them (they are shaped to plan well without:
    tracking/_run_search.py), but every other query and future ones do. SQLite is left as it is: its planner
    needs no statistics for these queries, and ``ANALYZE`` there writes figures it then trusts as they are, which
    go stale as a database taken at upgrade time (often empty) fills up.
    """
    if conn.dialect.name != "postgresql":
        return
    names = sorted(metadata.tables)  # every table the migrations created: env.py imported their modules
    if names:
        conn.exec_driver_sql("ANALYZE " + ", ".join(conn.dialect.identifier_preparer.quote(n) for n in names))
