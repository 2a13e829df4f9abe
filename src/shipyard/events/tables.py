"""SQL tables of the event outbox: events, webhook subscriptions and the delivery log."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text

from shipyard.db import metadata

__all__ = [
    "ACTIVE",
    "DELIVERED",
    "DISABLED",
    "FAILED",
    "PENDING",
    "event_cursors",
    "events",
    "webhook_deliveries",
    "webhooks",
]

# The values of webhooks.status and of webhook_deliveries.status.
ACTIVE, DISABLED = "ACTIVE", "DISABLED"
PENDING, DELIVERED, FAILED = "PENDING", "DELIVERED", "FAILED"

# Every change worth telling someone about (a model version created, an alias moved, a stage changed, later an
# alert) is one row, written in the same transaction as the change itself: the outbox. Readers (a model's
# history, webhook delivery, the serving hot-swap) consume it by event_id, which only grows.
events = Table(
    "events",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("occurred_at", BigInteger, nullable=False),  # ms since the epoch
    Column("kind", String(64), nullable=False),  # "model_version.created", "model_version_alias.moved", …
    Column("entity_type", String(32), nullable=False),  # "registered_model", "model_version", …
    Column("entity_id", String(64), nullable=False),  # stable id: survives a rename
    Column("entity_name", String(256), nullable=False),  # the name when it happened
    Column("version", String(32), nullable=True),
    Column("actor", String(256), nullable=False),
    Column("from_value", Text, nullable=True),
    Column("to_value", Text, nullable=True),
    Column("reason", Text, nullable=True),
    Column("payload", Text, nullable=False),  # JSON: the full detail webhooks deliver
    Index(None, "entity_type", "entity_id", "event_id"),
    Index(None, "kind", "event_id"),
)

# One row per durable consumer of the outbox (a deployment's alias follower, later the pipelines' scheduler): the id
# of the last event it has handled. A consumer reads the events after it and moves it forward once handled.
event_cursors = Table(
    "event_cursors",
    metadata,
    Column("consumer", String(200), primary_key=True),
    Column("last_event_id", Integer, nullable=False),
    Column("updated_at", BigInteger, nullable=False),  # ms since the epoch
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("webhook_id", String(32), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("url", Text, nullable=False),
    Column("events", Text, nullable=False),  # JSON list of event kinds ("*" for all)
    Column("secret", Text, nullable=True),  # HMAC key; needed in clear to sign, never returned by the API
    Column("status", String(16), nullable=False),  # ACTIVE | DISABLED
    Column("description", Text, nullable=True),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
)

# One row per (webhook, event) to deliver. The dispatcher picks due PENDING rows, posts, and records the outcome;
# a failure is retried with exponential back-off until max attempts, then FAILED. The rows are the delivery log.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("delivery_id", String(32), primary_key=True),
    Column("webhook_id", String(32), ForeignKey("webhooks.webhook_id", ondelete="CASCADE"), nullable=False),
    Column("event_id", Integer, ForeignKey("events.event_id", ondelete="CASCADE"), nullable=False),
    Column("status", String(16), nullable=False),  # PENDING | DELIVERED | FAILED
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", BigInteger, nullable=False),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("delivered_at", BigInteger, nullable=True),
    Index(None, "status", "next_attempt_at"),
    Index(None, "webhook_id", "created_at"),
)
