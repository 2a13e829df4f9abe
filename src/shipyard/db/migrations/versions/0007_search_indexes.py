"""search indexes that keep run search fast without planner statistics

``params (key, value)`` and ``latest_metrics (key, value)`` become ``(key, value, run_uuid)``, and ``tags (key)``
becomes ``(key, run_uuid)``. On a PostgreSQL database whose tables were never analysed, the planner guessed one row
for every filter and looked each run's param up through ``(key, value)`` with the run id as a mere filter: every
run rescanned all runs holding that value (230 s at 39,347 runs). With the run id in the index, any lookup the
planner picks is one exact descent, and a filter's runs are read from the index alone. On SQLite the params and
metrics indexes already carried the run id (the tables are ``WITHOUT ROWID``), so their rebuild changes nothing
there but the name.

The indexes are built inside the migration's transaction (``CREATE INDEX`` blocks writes to the table while it runs:
about a second per million rows). ``shipyard db upgrade`` then runs ``ANALYZE`` on PostgreSQL.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 11:00:00.000000
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# table: (old columns, new columns)
_INDEXES = {
    "params": (["key", "value"], ["key", "value", "run_uuid"]),
    "latest_metrics": (["key", "value"], ["key", "value", "run_uuid"]),
    "tags": (["key"], ["key", "run_uuid"]),
}


def _name(table: str, columns: list[str]) -> str:
    return f"ix_{table}_{'_'.join(columns)}"


def upgrade() -> None:
    for table, (old, new) in _INDEXES.items():
        # The new index first, so that searches during the upgrade always have one.
        op.create_index(op.f(_name(table, new)), table, new, unique=False)
        op.drop_index(op.f(_name(table, old)), table_name=table)


def downgrade() -> None:
    for table, (old, new) in _INDEXES.items():
        op.create_index(op.f(_name(table, old)), table, old, unique=False)
        op.drop_index(op.f(_name(table, new)), table_name=table)
