"""The audit trail of accounts and permissions: one event per change, in the change's own transaction."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.engine import Connection

from shipyard.events.entities import NewEvent
from shipyard.events.store import record_event

__all__ = ["audit"]


def audit(
    conn: Connection,
    kind: str,
    entity_type: str,
    entity_id: str,
    actor: str | None,
    *,
    entity_name: str | None = None,
    from_value: str | None = None,
    to_value: str | None = None,
    payload: dict[str, Any] | None = None,
) -> None:
    """Record ``kind`` (``user.created``, ``permission.granted``, …) about one entity; never a secret."""
    event = NewEvent(
        kind=kind,
        entity_type=entity_type,
        entity_id=entity_id[:64],
        entity_name=(entity_name or entity_id)[:256],
        actor=actor or "system",
        from_value=from_value,
        to_value=to_value,
        payload=payload or {},
    )
    record_event(conn, event, int(time.time() * 1000))
