"""Migrations under a lock: servers starting at once on one fresh database all come up (issue 13, item 1)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from shipyard.db import current_revision, head_revision, open_database
from tests.conftest import PG_ADMIN_URL
from tests.support.servers import shipyard_server

_OPEN = "import sys; from shipyard.db import open_database; open_database(sys.argv[1]).dispose()"


def _start_together(url: str, n: int = 4) -> list[subprocess.CompletedProcess[str]]:
    """``n`` processes open (and so migrate) the same database at the same moment."""
    procs = [
        subprocess.Popen([sys.executable, "-c", _OPEN, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(n)
    ]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=120), *p.communicate()) for p in procs]


@pytest.fixture
def fresh_databases(store_url: str, tmp_path: Path) -> Iterator[list[str]]:
    """Ten fresh, empty databases of the parametrised kind."""
    if store_url.startswith("sqlite"):
        yield [f"sqlite:///{tmp_path / f'fresh-{i}.db'}" for i in range(10)]
        return
    import psycopg

    names = [f"shipyard_lock_{uuid.uuid4().hex[:12]}" for _ in range(10)]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        for name in names:
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield [PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}" for name in names]
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_four_processes_migrating_one_fresh_database_at_once_all_succeed(fresh_databases: list[str]) -> None:
    """On commit 665ca51 `upgrade_to_head` took no lock: in 2 of 3 trials on PostgreSQL one of two servers died
    with `UniqueViolation … alembic_version`. Ten rounds of four at once must all come up, at head."""
    failures = []
    for url in fresh_databases:
        for done in _start_together(url):
            if done.returncode != 0:
                failures.append(done.stderr[-500:])
    revisions = set()
    for url in fresh_databases:
        database = open_database(url, migrate=False)
        try:
            revisions.add(current_revision(database.engine))
        finally:
            database.dispose()

    assert ([], {head_revision(database.engine)}) == (failures, revisions)


def test_a_schema_newer_than_this_shipyard_is_refused_in_one_sentence(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    database = open_database(url)
    try:
        with database.write() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        database.dispose()

    done = subprocess.run(
        [sys.executable, "-m", "shipyard", "db", "upgrade", "--store", url], capture_output=True, text=True, check=False
    )

    said = " ".join(done.stderr.split())  # rich wraps the message to the terminal's width
    assert (1, True, False) == (done.returncode, "which this Shipyard does not know" in said, "Traceback" in said)


def test_server_with_no_migrate_refuses_an_out_of_date_schema_and_names_the_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    database = open_database(url, migrate=False)
    database.dispose()  # an empty database: behind head
    done = subprocess.run(
        [sys.executable, "-m", "shipyard", "server", "--store", url, "--port", "0", "--no-migrate"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "SHIPYARD_HOME": str(tmp_path / "home")},
    )

    said = " ".join(done.stderr.split())
    assert (1, True, False) == (done.returncode, "run `shipyard db upgrade` first" in said, "Traceback" in said)


def test_server_with_no_migrate_starts_on_a_current_schema(tmp_path: Path) -> None:
    (tmp_path / "srv").mkdir()
    open_database(f"sqlite:///{tmp_path / 'srv' / 'shipyard.db'}").dispose()  # the store shipyard_server names
    with shipyard_server(tmp_path / "srv", extra_args=("--no-migrate",)) as server:
        assert server.process.poll() is None
