"""The metadata database: engine set-up, shared metadata and Alembic migrations."""

from shipyard.db._engine import Database, open_database
from shipyard.db._metadata import metadata

__all__ = ["Database", "metadata", "open_database"]
