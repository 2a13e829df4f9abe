"""A durable reader of the events outbox: the events after a named cursor, at least once, in id order."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.db import Database
from shipyard.errors import InvalidParameter
from shipyard.events.entities import Event
from shipyard.events.store import WILDCARD, event_from_row, matches
from shipyard.events.tables import event_cursors, events

__all__ = ["EventConsumer"]

_MAX_NAME = 200
_MAX_PAGES = 10  # pages of other kinds read past in one poll before returning empty-handed


class EventConsumer:
    """Reads the events of some kinds after its cursor; :meth:`ack` moves the cursor past what was handled.

    The cursor is a row of ``event_cursors`` keyed by ``name``, so it survives restarts and is shared by every
    process that uses the same name. Processes sharing a name share the work (each event goes to whichever polls
    first); processes that must each see every event use names of their own.

    Delivery is **at least once**: an event comes back from :meth:`poll` until it is acknowledged, so a process
    that stops between reading and acknowledging leaves it to the next poll, and two processes polling at the same
    moment may both get it. Handlers must therefore be idempotent: handle an event by re-reading the state it
    announces (re-resolve the alias it moved) rather than replaying its payload as a change, so that a repeat is a
    no-op. Acknowledge after handling, never before.

    Ids are handed out when an event is inserted but become visible when its transaction commits: on PostgreSQL a
    later id can be visible before an earlier one whose transaction is still running, and a rolled-back transaction
    leaves a gap for good. A poll therefore stops before a missing id until ``gap_timeout_s`` has passed since this
    consumer first saw the gap, then reads on past it. An event whose transaction commits later than that is
    missed by this consumer. (SQLite commits writes one at a time, in id order: it has no such gaps.)

    Args:
        database: the metadata store holding the outbox.
        name: the cursor's name (``"serving:churn"``), 1 to 200 characters.
        kinds: the kinds wanted, exact or as a prefix (``"model_version_alias.*"``, ``"*"`` for all). Events of
            other kinds are passed over: the cursor moves past them with the wanted ones.
        start: where a new cursor starts: ``"latest"`` (events recorded from now on) or ``"earliest"`` (every
            event kept).
        batch: the most events one poll reads.
        gap_timeout_s: how long a poll waits at a missing id before reading past it.
        clock: seconds, monotonic (tests pass their own).

    Example:
        >>> consumer = EventConsumer(database, "scheduler", ["alert.*"])  # doctest: +SKIP
        >>> for event in consumer.poll():  # doctest: +SKIP
        ...     retrain(event)  # idempotent
        ...     consumer.ack(event.event_id)
    """

    def __init__(
        self,
        database: Database,
        name: str,
        kinds: Sequence[str] = (WILDCARD,),
        *,
        start: Literal["latest", "earliest"] = "latest",
        batch: int = 100,
        gap_timeout_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not name or len(name) > _MAX_NAME:
            raise InvalidParameter(f"An event consumer's name must be 1 to {_MAX_NAME} characters, got {name[:80]!r}.")
        if isinstance(kinds, str) or not kinds:
            raise InvalidParameter("An event consumer needs a list of event kinds (['*'] for every kind).")
        if start not in ("latest", "earliest"):
            raise InvalidParameter(f"start must be 'latest' or 'earliest', got {start!r}.")
        if batch < 1:
            raise InvalidParameter(f"batch must be at least 1, got {batch}.")
        self._db = database
        self.name = name
        self.kinds = tuple(kinds)
        self._start = start
        self._batch = batch
        self._gap_timeout_s = gap_timeout_s
        self._clock = clock
        self._gaps: dict[int, float] = {}  # first missing id -> when this consumer first saw it missing
        self._last_poll: tuple[int, int] | None = None  # (last event returned, the id read up to)

    def position(self) -> int:
        """The id of the last event handled (creating the cursor where ``start`` says, on first use)."""
        while True:
            with self._db.read() as conn:
                found = conn.execute(
                    select(event_cursors.c.last_event_id).where(event_cursors.c.consumer == self.name)
                ).scalar()
            if found is not None:
                return int(found)
            try:
                with self._db.write() as conn:
                    latest = conn.execute(select(func.max(events.c.event_id))).scalar()
                    begin = int(latest or 0) if self._start == "latest" else 0
                    conn.execute(
                        insert(event_cursors).values(consumer=self.name, last_event_id=begin, updated_at=_now_ms())
                    )
                return begin
            except IntegrityError:
                continue  # another process created it at the same moment: read its position

    def poll(self) -> list[Event]:
        """The wanted events after the cursor, oldest first (empty when there is none yet).

        The cursor does not move, except past events of other kinds when none of the wanted kinds came with them.
        """
        cursor = self.position()
        now = self._clock()
        wanted: list[Event] = []
        upto = cursor
        for _ in range(_MAX_PAGES):
            with self._db.read() as conn:
                rows = conn.execute(
                    select(events).where(events.c.event_id > upto).order_by(events.c.event_id).limit(self._batch)
                ).all()
            ready = self._without_gaps(rows, upto, now)
            wanted += [event_from_row(row) for row in ready if matches(self.kinds, row.kind)]
            if ready:
                upto = ready[-1].event_id
            if wanted or len(ready) < self._batch:
                break
        self._gaps = {gap: seen for gap, seen in self._gaps.items() if gap > upto}
        if not wanted and upto > cursor:
            self._advance(upto)
        self._last_poll = (wanted[-1].event_id, upto) if wanted else None
        return wanted

    def ack(self, event_id: int) -> None:
        """Record every event up to ``event_id`` as handled; the cursor never moves back.

        Acknowledging the last event :meth:`poll` returned also passes the other kinds it read past after it.
        """
        target = event_id
        if self._last_poll is not None and event_id >= self._last_poll[0]:
            target = max(event_id, self._last_poll[1])
        self.position()  # the cursor exists
        self._advance(target)

    def _advance(self, event_id: int) -> None:
        with self._db.write() as conn:
            conn.execute(
                update(event_cursors)
                .where(event_cursors.c.consumer == self.name, event_cursors.c.last_event_id < event_id)
                .values(last_event_id=event_id, updated_at=_now_ms())
            )

    def _without_gaps(self, rows: Sequence[Any], after: int, now: float) -> list[Any]:
        """The leading rows with no missing id before them, or whose gap has been missing for ``gap_timeout_s``."""
        ready: list[Any] = []
        expected = after + 1
        for row in rows:
            if row.event_id != expected:
                first_seen = self._gaps.setdefault(expected, now)
                if now - first_seen < self._gap_timeout_s:
                    break
            ready.append(row)
            expected = row.event_id + 1
        return ready


def _now_ms() -> int:
    return int(time.time() * 1000)
