"""The metadata database: engine set-up, shared metadata and Alembic migrations."""

from shipyard.db._engine import Database, open_database
from shipyard.db._metadata import metadata
from shipyard.db._migrate import check_schema, current_revision, head_revision

__all__ = ["Database", "check_schema", "current_revision", "head_revision", "metadata", "open_database"]
