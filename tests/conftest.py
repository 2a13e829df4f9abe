"""Fixtures shared by every suite: the metadata stores to run against (SQLite and the real PostgreSQL)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.pg import PG_ADMIN_URL, fresh_pg_database

IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_reachable() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'shipyard[postgres]')"
    try:
        with psycopg.connect(PG_ADMIN_URL.replace("postgresql://", "postgresql://", 1), connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}".splitlines()[0]


def require_postgres() -> None:
    """Skip (or, under CI, fail) when PostgreSQL is not reachable."""
    reason = _pg_reachable()
    if reason:
        if IN_CI:
            pytest.fail(f"CI requires PostgreSQL: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (dropped at the end)."""
    require_postgres()
    with fresh_pg_database() as url:
        yield url


def _reset_pg(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A metadata-store URL: a SQLite file in a temporary folder, or an empty PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("pg_database")
    _reset_pg(url)
    return url
