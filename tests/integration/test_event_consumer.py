"""The events outbox's durable consumer: a named cursor, at least once, in id order, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, insert

from shipyard.db import Database, open_database
from shipyard.errors import InvalidParameter
from shipyard.events import EventConsumer, NewEvent, record_event
from shipyard.events.tables import events

ALIAS = "model_version_alias.moved"
TAG = "model_version_tag.set"


@pytest.fixture
def database(store_url: str) -> Iterator[Database]:
    opened = open_database(store_url)
    yield opened
    opened.dispose()


def record(database: Database, kind: str = ALIAS, name: str = "churn") -> int:
    with database.write() as conn:
        return record_event(
            conn, NewEvent(kind, "model_version", "1", name, "ada", version="2"), int(time.time() * 1000)
        )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ids(found: list[object]) -> list[int]:
    return [event.event_id for event in found]  # type: ignore[attr-defined]


def test_a_new_consumer_starts_after_the_events_already_recorded(database: Database) -> None:
    record(database)
    consumer = EventConsumer(database, "serving:churn", [ALIAS])
    consumer.position()
    later = record(database)

    assert [later] == ids(consumer.poll())


def test_an_earliest_consumer_reads_every_event_kept(database: Database) -> None:
    first, second = record(database), record(database)

    assert [first, second] == ids(EventConsumer(database, "audit", ["*"], start="earliest").poll())


def test_an_event_comes_back_until_it_is_acknowledged(database: Database) -> None:
    consumer = EventConsumer(database, "serving:churn", [ALIAS])
    consumer.position()
    event_id = record(database)

    first, again = ids(consumer.poll()), ids(consumer.poll())
    consumer.ack(event_id)
    after_ack = ids(consumer.poll())

    assert ([event_id], [event_id], []) == (first, again, after_ack)


def test_the_cursor_is_shared_by_name_and_survives_a_restart(database: Database, store_url: str) -> None:
    consumer = EventConsumer(database, "serving:churn", [ALIAS])
    consumer.position()
    handled, pending = record(database), record(database)
    consumer.poll()
    consumer.ack(handled)
    elsewhere = open_database(store_url)  # another process, or the same one restarted
    try:
        resumed = ids(EventConsumer(elsewhere, "serving:churn", [ALIAS]).poll())
        other_name = ids(EventConsumer(elsewhere, "serving:fraud", [ALIAS]).poll())
    finally:
        elsewhere.dispose()

    assert ([pending], []) == (resumed, other_name)


def test_events_of_other_kinds_are_passed_over_and_the_cursor_moves_past_them(database: Database) -> None:
    consumer = EventConsumer(database, "serving:churn", ["model_version_alias.*"])
    consumer.position()
    record(database, TAG)
    moved = record(database, ALIAS)
    tagged_after = record(database, TAG)

    found = ids(consumer.poll())
    consumer.ack(moved)

    assert ([moved], tagged_after) == (found, consumer.position())


def test_nothing_wanted_still_moves_the_cursor_past_what_was_read(database: Database) -> None:
    consumer = EventConsumer(database, "serving:churn", [ALIAS], batch=2)
    consumer.position()
    last = [record(database, TAG) for _ in range(5)][-1]

    assert ([], last) == (consumer.poll(), consumer.position())


def test_the_cursor_never_moves_back(database: Database) -> None:
    consumer = EventConsumer(database, "serving:churn", [ALIAS])
    consumer.position()
    first, second = record(database), record(database)
    consumer.ack(second)
    consumer.ack(first)

    assert second == consumer.position()


def test_a_poll_waits_at_a_missing_id_then_reads_past_it(database: Database) -> None:
    """A missing id may be a transaction still running (its event shows up late) or one rolled back (never)."""
    clock = Clock()
    consumer = EventConsumer(database, "serving:churn", [ALIAS], gap_timeout_s=5.0, clock=clock)
    consumer.position()
    first, missing, third = record(database), record(database), record(database)
    with database.write() as conn:
        conn.execute(delete(events).where(events.c.event_id == missing))

    before_gap = ids(consumer.poll())
    consumer.ack(first)
    clock.now += 1.0
    still_waiting = ids(consumer.poll())
    clock.now += 5.0
    past_gap = ids(consumer.poll())

    assert ([first], [], [third]) == (before_gap, still_waiting, past_gap)


def test_an_event_that_fills_the_gap_in_time_is_read_in_order(database: Database) -> None:
    clock = Clock()
    consumer = EventConsumer(database, "serving:churn", [ALIAS], gap_timeout_s=5.0, clock=clock)
    consumer.position()
    first, missing, third = record(database), record(database), record(database)
    with database.write() as conn:
        late = dict(conn.execute(events.select().where(events.c.event_id == missing)).mappings().one())
        conn.execute(delete(events).where(events.c.event_id == missing))
    consumer.poll()
    consumer.ack(first)
    with database.write() as conn:
        conn.execute(insert(events).values(late))  # its transaction commits after all

    assert [missing, third] == ids(consumer.poll())


@pytest.mark.parametrize(
    ("name", "kinds", "start"),
    [("", ["*"], "latest"), ("x" * 201, ["*"], "latest"), ("ok", [], "latest"), ("ok", ["*"], "middle")],
)
def test_a_consumer_with_a_bad_setting_is_refused(database: Database, name: str, kinds: list[str], start: str) -> None:
    with pytest.raises(InvalidParameter):
        EventConsumer(database, name, kinds, start=start)  # type: ignore[arg-type]
