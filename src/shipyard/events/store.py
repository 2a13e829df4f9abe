"""Recording and reading events: the outbox every change writes into, inside the change's own transaction."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, select

from shipyard.db import Database
from shipyard.events.entities import Event, NewEvent
from shipyard.events.tables import ACTIVE, PENDING, events, webhook_deliveries, webhooks

__all__ = ["WILDCARD", "EventStore", "matches", "record_event"]

WILDCARD = "*"


def matches(subscribed: Sequence[str], kind: str) -> bool:
    """Whether a webhook subscribed to ``subscribed`` kinds wants an event of ``kind``.

    ``"*"`` matches everything and ``"model_version.*"`` every kind that starts with ``model_version.``.
    """
    for pattern in subscribed:
        if pattern in (WILDCARD, kind):
            return True
        if pattern.endswith(".*") and kind.startswith(pattern[:-1]):
            return True
    return False


def record_event(conn: Connection, event: NewEvent, now_ms: int) -> int:
    """Insert ``event`` and one pending delivery per active webhook that wants it; returns the event id.

    Call it with the connection of the transaction that makes the change, so the change and its event
    commit (or roll back) together.
    """
    result = conn.execute(
        insert(events).values(
            occurred_at=now_ms,
            kind=event.kind,
            entity_type=event.entity_type,
            entity_id=event.entity_id,
            entity_name=event.entity_name,
            version=event.version,
            actor=event.actor,
            from_value=event.from_value,
            to_value=event.to_value,
            reason=event.reason,
            payload=json.dumps(event.payload, sort_keys=True, default=str),
        )
    )
    assert result.inserted_primary_key is not None
    event_id = int(result.inserted_primary_key[0])
    subscribers = conn.execute(select(webhooks.c.webhook_id, webhooks.c.events).where(webhooks.c.status == ACTIVE))
    rows = [
        {
            "delivery_id": uuid.uuid4().hex,
            "webhook_id": webhook_id,
            "event_id": event_id,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": now_ms,
            "created_at": now_ms,
        }
        for webhook_id, kinds in subscribers
        if matches(json.loads(kinds), event.kind)
    ]
    if rows:
        conn.execute(insert(webhook_deliveries), rows)
    return event_id


def event_from_row(row: Any) -> Event:
    """An Event from a row of the events table."""
    return Event(
        event_id=row.event_id,
        occurred_at_ms=row.occurred_at,
        kind=row.kind,
        entity_type=row.entity_type,
        entity_id=row.entity_id,
        entity_name=row.entity_name,
        actor=row.actor,
        version=row.version,
        from_value=row.from_value,
        to_value=row.to_value,
        reason=row.reason,
        payload=json.loads(row.payload) if row.payload else {},
    )


class EventStore:
    """Reads of the events table."""

    def __init__(self, database: Database) -> None:
        self.db = database

    def list_events(
        self,
        *,
        entity_type: str | None = None,
        entity_id: str | None = None,
        kinds: Sequence[str] = (),
        after_id: int = 0,
        limit: int = 1000,
        newest_first: bool = False,
    ) -> list[Event]:
        """Events in id order (or newest first), filtered by entity and kind."""
        query = select(events).where(events.c.event_id > after_id)
        if entity_type is not None:
            query = query.where(events.c.entity_type == entity_type)
        if entity_id is not None:
            query = query.where(events.c.entity_id == entity_id)
        if kinds:
            query = query.where(events.c.kind.in_(list(kinds)))
        order = events.c.event_id.desc() if newest_first else events.c.event_id
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(order).limit(limit)).all()
        return [event_from_row(r) for r in rows]

    def get_event(self, event_id: int) -> Event | None:
        """One event by id, or None."""
        with self.db.read() as conn:
            row = conn.execute(select(events).where(events.c.event_id == event_id)).first()
        return event_from_row(row) if row else None
