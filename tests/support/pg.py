"""A fresh PostgreSQL database, created on the admin connection and dropped afterwards (tests and benchmarks)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

PG_ADMIN_URL = os.environ.get("SHIPYARD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.contextmanager
def fresh_pg_database(prefix: str = "shipyard_test") -> Iterator[str]:
    """Create an empty database named ``<prefix>_<random>``, yield its URL, drop it (forcing out connections)."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
