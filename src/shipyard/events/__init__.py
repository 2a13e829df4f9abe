"""Events: the outbox every registry change (and later every alert) is written to, its consumers, and webhooks."""

from shipyard.events._consumer import EventConsumer
from shipyard.events._dispatcher import DeliveryAttempt, WebhookDispatcher, sign
from shipyard.events.entities import Delivery, Event, NewEvent, Webhook
from shipyard.events.store import EventStore, matches, record_event
from shipyard.events.webhooks import KNOWN_KINDS, WebhookService

__all__ = [
    "KNOWN_KINDS",
    "Delivery",
    "DeliveryAttempt",
    "Event",
    "EventConsumer",
    "EventStore",
    "NewEvent",
    "Webhook",
    "WebhookDispatcher",
    "WebhookService",
    "matches",
    "record_event",
    "sign",
]
