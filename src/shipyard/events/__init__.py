"""Events: the outbox table every registry change (and later every alert) is written to, and webhooks."""

from shipyard.events.entities import Delivery, Event, NewEvent, Webhook
from shipyard.events.store import EventStore, matches, record_event

__all__ = ["Delivery", "Event", "EventStore", "NewEvent", "Webhook", "matches", "record_event"]
