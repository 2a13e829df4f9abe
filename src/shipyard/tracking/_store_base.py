"""What every part of the tracking store shares: the database, cached upserts, and the one experiment id parse."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from shipyard._ids import strict_experiment_id
from shipyard.db import Database

__all__ = ["StoreBase", "parse_experiment_id"]


def parse_experiment_id(experiment_id: str | int) -> int:
    """The integer id of an experiment id as sent (only its canonical spelling).

    Raises:
        InvalidParameter: anything but ASCII digits in canonical form.
    """
    # Only the canonical spelling's digits: int() alone would let " 2", "+2" or "٢" reach experiment 2 past a
    # permission check made on that other spelling.
    return strict_experiment_id(experiment_id, "experiment ID")


class StoreBase:
    """The database and the upsert statements the tracking store's parts build once and share."""

    def __init__(self, database: Database) -> None:
        self.db = database
        self._dialect_insert: Any = sqlite.insert if database.is_sqlite else postgresql.insert
        # Upsert statements are built once: building ON CONFLICT clauses costs more than running them.
        self._statements: dict[tuple[str, ...], Any] = {}

    def _upsert(
        self, conn: Connection, table: Any, rows: list[dict[str, Any]], keys: list[str], update_cols: list[str]
    ) -> None:
        cache_key = (table.name, *keys, "|", *update_cols)
        stmt = self._statements.get(cache_key)
        if stmt is None:
            base = self._dialect_insert(table)
            stmt = self._statements[cache_key] = base.on_conflict_do_update(
                index_elements=keys, set_={col: getattr(base.excluded, col) for col in update_cols}
            )
        conn.execute(stmt, rows)
