"""Event entities: what happened, to what, by whom; and webhook subscriptions and deliveries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Delivery", "Event", "NewEvent", "Webhook"]


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event about to be recorded (the store assigns its id and time).

    Attributes:
        kind: what happened, dotted: ``"model_version.created"``, ``"model_version_alias.moved"``,
            ``"model_version.stage_changed"``, ``"registered_model.deleted"``, …
        entity_type: the kind of thing it happened to (``"registered_model"``, ``"model_version"``).
        entity_id: a stable id of that thing (survives renames).
        entity_name: its name when it happened.
        version: the model version concerned, if any.
        actor: who did it.
        from_value: the value before (an alias's previous version, the previous stage), if any.
        to_value: the value after, if any.
        reason: why, as given by the actor.
        payload: the full detail delivered to webhooks.
    """

    kind: str
    entity_type: str
    entity_id: str
    entity_name: str
    actor: str
    version: str | None = None
    from_value: str | None = None
    to_value: str | None = None
    reason: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


# kw_only: the two fields without defaults come after NewEvent's defaulted ones.
@dataclass(frozen=True, slots=True, kw_only=True)
class Event(NewEvent):
    """A recorded event: a NewEvent with the id and time the store assigned.

    Attributes:
        event_id: its place in the outbox; ids only grow.
        occurred_at_ms: when it was recorded, in ms since the epoch.
    """

    event_id: int
    occurred_at_ms: int


@dataclass(frozen=True, slots=True)
class Webhook:
    """A subscription: POST these event kinds to this URL, signed with the secret."""

    webhook_id: str
    name: str
    url: str
    events: tuple[str, ...]
    status: str
    creation_time_ms: int
    last_updated_time_ms: int
    description: str | None = None
    has_secret: bool = False


@dataclass(frozen=True, slots=True)
class Delivery:
    """One attempt history of delivering one event to one webhook: the delivery log."""

    delivery_id: str
    webhook_id: str
    event_id: int
    status: str
    attempts: int
    next_attempt_at_ms: int
    created_at_ms: int
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at_ms: int | None = None
