"""The metadata database: engine set-up, shared metadata and Alembic migrations."""

from shipyard.db._cancel import QueryScope, cancelled_error, query_scope
from shipyard.db._engine import (
    Database,
    connection_budget_warning,
    open_database,
    pool_size_for,
    resolved_connection_budget,
)
from shipyard.db._metadata import metadata
from shipyard.db._migrate import check_schema, current_revision, head_revision

__all__ = [
    "Database",
    "QueryScope",
    "cancelled_error",
    "check_schema",
    "connection_budget_warning",
    "current_revision",
    "head_revision",
    "metadata",
    "open_database",
    "pool_size_for",
    "query_scope",
    "resolved_connection_budget",
]
