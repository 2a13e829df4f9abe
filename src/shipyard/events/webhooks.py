"""Webhook subscriptions: validation, create/list/update/delete, the delivery log, tests, and MLflow's view.

Their JSON shapes are `shipyard.wire.webhooks`.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import delete, insert, select, update

from shipyard._paging import decode_page_token, encode_page_token
from shipyard.db import Database
from shipyard.errors import InvalidParameter, ResourceNotFound
from shipyard.events._dispatcher import (
    MLFLOW_PAIRS,
    PAIR_OF_KIND,
    DeliveryAttempt,
    build_payload,
    http_client,
    send_delivery,
)
from shipyard.events._netguard import OutboundGuard, Resolver, system_resolver
from shipyard.events.entities import Delivery, Event, Webhook
from shipyard.events.tables import ACTIVE, DISABLED, webhook_deliveries, webhooks

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ACTIVE",
    "DISABLED",
    "KNOWN_KINDS",
    "WebhookService",
    "kinds_from_wire",
    "mlflow_events_for",
    "status_from_wire",
    "validate_kinds",
]

_STATUSES = (ACTIVE, DISABLED)

# Every kind the registry records. Monitoring adds ``alert.*`` later; its prefix is accepted as a wildcard now.
KNOWN_KINDS: frozenset[str] = frozenset(
    {
        "registered_model.created",
        "registered_model.renamed",
        "registered_model.updated",
        "registered_model.deleted",
        "registered_model_tag.set",
        "registered_model_tag.deleted",
        "model_version.created",
        "model_version.updated",
        "model_version.deleted",
        "model_version.stage_changed",
        "model_version_tag.set",
        "model_version_tag.deleted",
        "model_version_alias.created",
        "model_version_alias.moved",
        "model_version_alias.deleted",
    }
)
_PREFIXES = frozenset({k.split(".", 1)[0] for k in KNOWN_KINDS} | {"alert"})

# MLflow has no "alias moved": it fires "alias created" whenever an alias is set. A subscription to
# ``model_version_alias.created`` is therefore stored with ``model_version_alias.moved`` beside it.
_IMPLIED = {"model_version_alias.created": "model_version_alias.moved"}
# Protobuf JSON may carry enums as numbers; these are MLflow's webhooks.proto numbers.
_PROTO_ENTITIES = (
    "",
    "registered_model",
    "model_version",
    "model_version_tag",
    "model_version_alias",
    "prompt",
    "prompt_version",
    "prompt_tag",
    "prompt_version_tag",
    "prompt_alias",
    "budget_policy",
)
_PROTO_ACTIONS = ("", "created", "updated", "deleted", "set", "exceeded")
_PROTO_STATUSES = ("", ACTIVE, DISABLED)

_EXAMPLE_PAYLOAD: dict[str, Any] = {
    "name": "example_model",
    "version": "1",
    "source": "models:/example_model/1",
    "run_id": "abcd1234abcd5678",
    "tags": {"example_key": "example_value"},
    "description": "An example model version",
    "alias": "champion",
    "key": "example_key",
    "value": "example_value",
    "stage": "Production",
}

_NAME = re.compile(r"[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?", re.IGNORECASE)  # MLflow's rule for webhook names
MAX_SECRET_CHARS = 1024
MAX_URL_CHARS = 2048


# --- kinds and MLflow's (entity, action) pairs ---------------------------------------------------------------


def validate_kinds(kinds: Iterable[str]) -> tuple[str, ...]:
    """Check a subscription: a non-empty list of known kinds or wildcards; returns it without duplicates.

    Raises:
        InvalidParameter: empty, or an unknown kind or wildcard, named in the message.
    """
    out: list[str] = []
    for kind in kinds:
        if not isinstance(kind, str):
            raise InvalidParameter(f"Invalid event kind {kind!r}: expected a string such as 'model_version.created'.")
        known = kind in KNOWN_KINDS or kind == "*" or (kind.endswith(".*") and kind[:-2] in _PREFIXES)
        if not known:
            raise InvalidParameter(
                f"Unknown event kind {kind!r}: expected '*', one of {', '.join(sorted(KNOWN_KINDS))}, "
                f"or a prefix wildcard such as 'model_version.*'."
            )
        for item in (kind, _IMPLIED.get(kind)):
            if item is not None and item not in out:
                out.append(item)
    if not out:
        raise InvalidParameter("A webhook needs at least one event kind (for example 'model_version.created').")
    return tuple(out)


def _enum_name(value: Any, numbered: tuple[str, ...], what: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < len(numbered):
        return numbered[value]
    if isinstance(value, str) and value.strip():
        return value.strip().lower()
    raise InvalidParameter(f"Invalid webhook event {what} {value!r}.")


def kinds_from_wire(items: Sequence[Any]) -> list[str]:
    """Event kinds from a request's ``events``: MLflow's ``{"entity", "action"}`` objects or dotted kinds.

    Raises:
        InvalidParameter: an item is neither, or names an event Shipyard does not record (prompts, budgets).
    """
    kinds: list[str] = []
    for item in items:
        if isinstance(item, str):
            kinds.append(item)
            continue
        if not isinstance(item, Mapping):
            raise InvalidParameter(f"Invalid webhook event {item!r}: expected {{'entity': …, 'action': …}}.")
        kind = f"{_enum_name(item.get('entity'), _PROTO_ENTITIES, 'entity')}.{_enum_name(item.get('action'), _PROTO_ACTIONS, 'action')}"  # noqa: E501
        if kind not in KNOWN_KINDS:
            raise InvalidParameter(
                f"Unsupported webhook event {kind!r}: Shipyard delivers model registry events only "
                f"({', '.join(f'{e}.{a}' for e, a in MLFLOW_PAIRS)} in MLflow's terms)."
            )
        kinds.append(kind)
    return kinds


def mlflow_events_for(kinds: Iterable[str]) -> list[tuple[str, str]]:
    """The MLflow (entity, action) pairs a subscription covers; wildcards expand, Shipyard-only kinds drop out."""
    pairs: list[tuple[str, str]] = []
    for kind in kinds:
        if kind == "*":
            covered = list(MLFLOW_PAIRS)
        elif kind.endswith(".*"):
            covered = [p for p in MLFLOW_PAIRS if p[0] == kind[:-2]]
        else:
            covered = [PAIR_OF_KIND[kind]] if kind in PAIR_OF_KIND else []
        pairs.extend(p for p in covered if p not in pairs)
    return pairs


def status_from_wire(value: Any) -> str:
    """A webhook status from a request (``ACTIVE``/``DISABLED``, any case, or protobuf's 1/2).

    Raises:
        InvalidParameter: anything else.
    """
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < len(_PROTO_STATUSES):
        return _PROTO_STATUSES[value]
    if isinstance(value, str) and value.upper() in _STATUSES:
        return value.upper()
    raise InvalidParameter(f"Invalid webhook status {value!r}: expected ACTIVE or DISABLED.")


# --- the service ----------------------------------------------------------------------------------------------


def _not_found(webhook_id: str) -> ResourceNotFound:
    return ResourceNotFound(f"Webhook with ID '{webhook_id}' not found.")


def _is_page_size(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and 1 <= value <= 1000


def _validate_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidParameter(
            f"Invalid webhook name {name!r}: use 1 to 63 letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit."
        )
    return name


def _validate_url(url: str) -> str:
    if not isinstance(url, str) or not url.strip():
        raise InvalidParameter("A webhook needs a URL, for example 'https://hooks.example.com/shipyard'.")
    if len(url) > MAX_URL_CHARS or any(c.isspace() for c in url):
        raise InvalidParameter(f"Invalid webhook URL {url[:100]!r}: no spaces, at most {MAX_URL_CHARS} characters.")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise InvalidParameter(f"Invalid webhook URL {url!r}: {exc}.") from exc
    if parts.scheme not in ("http", "https"):
        raise InvalidParameter(f"Invalid webhook URL scheme {parts.scheme!r} in {url!r}: expected http or https.")
    if not host:
        raise InvalidParameter(f"Invalid webhook URL {url!r}: it names no host.")
    return url


def _validate_secret(secret: str | None) -> str | None:
    if secret is None or secret == "":
        return None
    if not isinstance(secret, str) or len(secret) > MAX_SECRET_CHARS:
        raise InvalidParameter(f"A webhook secret must be a string of at most {MAX_SECRET_CHARS} characters.")
    return secret


def _webhook_from_row(row: Any) -> Webhook:
    return Webhook(
        webhook_id=row.webhook_id,
        name=row.name,
        url=row.url,
        events=tuple(json.loads(row.events)),
        status=row.status,
        creation_time_ms=row.creation_time,
        last_updated_time_ms=row.last_updated_time,
        description=row.description,
        has_secret=bool(row.secret),
    )


def _delivery_from_row(row: Any) -> Delivery:
    return Delivery(
        delivery_id=row.delivery_id,
        webhook_id=row.webhook_id,
        event_id=row.event_id,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at_ms=row.next_attempt_at,
        created_at_ms=row.created_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        delivered_at_ms=row.delivered_at,
    )


def _test_kind(subscribed: Sequence[str]) -> str:
    first = subscribed[0] if subscribed else "*"
    if first == "*":
        return "model_version.created"
    if first.endswith(".*"):
        prefix = first[:-1]
        return min((k for k in KNOWN_KINDS if k.startswith(prefix)), default=f"{prefix}test")
    return first


class WebhookService:
    """Create, change and inspect webhook subscriptions; send test deliveries.

    Secrets are stored so deliveries can be signed, and never returned: a Webhook only says ``has_secret``.

    Example:
        >>> hooks = WebhookService(open_database("sqlite:///shipyard.db"))  # doctest: +SKIP
        >>> hook = hooks.create("ci", "https://ci.example.com/hook", ["model_version_alias.*"], secret="s3cret")
    """

    def __init__(
        self,
        database: Database,
        *,
        clock: Callable[[], float] = time.time,
        client: httpx.Client | None = None,
        timeout_s: float = 10.0,
        outbound_allowlist: Iterable[str] = (),
        resolve: Resolver = system_resolver,
    ) -> None:
        """Args:
        database: the metadata store.
        clock: seconds since the epoch (tests pass a fake one).
        client: the HTTP client for test deliveries; a fresh one per test when omitted.
        timeout_s: how long a test delivery may take.
        outbound_allowlist: hosts, addresses or CIDR networks a webhook may call although they are loopback,
            private, link-local or metadata addresses (``Settings.outbound_allowlist``).
        resolve: the host resolver (``socket.getaddrinfo`` by default; tests simulate DNS with it).
        """
        self.db = database
        self.clock = clock
        self.client = client
        self.timeout_s = timeout_s
        self.guard = OutboundGuard(outbound_allowlist, resolve=resolve)

    def _checked_url(self, url: str) -> str:
        """A valid webhook URL whose host is not a refused address (a host that does not resolve yet passes)."""
        self.guard.check_configured(_validate_url(url))
        return url

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def create(
        self,
        name: str,
        url: str,
        events: Sequence[str],
        *,
        description: str | None = None,
        secret: str | None = None,
        status: str = ACTIVE,
    ) -> Webhook:
        """Subscribe ``url`` to ``events`` (kinds such as ``model_version.created``, ``model_version.*``, ``*``).

        Raises:
            InvalidParameter: a bad name, a URL that is not http(s) or whose host is (or resolves to) a loopback,
                private, link-local or metadata address not covered by the allow-list, no or unknown kinds, a
                bad status.
        """
        webhook_id = uuid.uuid4().hex
        now_ms = self._now_ms()
        row = {
            "webhook_id": webhook_id,
            "name": _validate_name(name),
            "url": self._checked_url(url),
            "events": json.dumps(validate_kinds(events)),
            "secret": _validate_secret(secret),
            "status": status_from_wire(status),
            "description": description or None,
            "creation_time": now_ms,
            "last_updated_time": now_ms,
        }
        with self.db.write() as conn:
            conn.execute(insert(webhooks).values(**row))
        return self.get(webhook_id)

    def get(self, webhook_id: str) -> Webhook:
        """One webhook by id.

        Raises:
            ResourceNotFound: no webhook has this id.
        """
        return _webhook_from_row(self._row(webhook_id))

    def _row(self, webhook_id: str) -> Any:
        """The webhook's row, secret included."""
        with self.db.read() as conn:
            row = conn.execute(select(webhooks).where(webhooks.c.webhook_id == webhook_id)).first()
        if row is None:
            raise _not_found(webhook_id)
        return row

    def update(
        self,
        webhook_id: str,
        *,
        name: str | None = None,
        url: str | None = None,
        events: Sequence[str] | None = None,
        description: str | None = None,
        status: str | None = None,
        secret: str | None = None,
    ) -> Webhook:
        """Change the given fields; None leaves a field as it is, ``""`` clears the description or the secret.

        Raises:
            ResourceNotFound: no webhook has this id.
            InvalidParameter: a new value is invalid.
        """
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = _validate_name(name)
        if url is not None:
            changes["url"] = self._checked_url(url)
        if events is not None:
            changes["events"] = json.dumps(validate_kinds(events))
        if description is not None:
            changes["description"] = description or None
        if status is not None:
            changes["status"] = status_from_wire(status)
        if secret is not None:
            changes["secret"] = _validate_secret(secret)
        changes["last_updated_time"] = self._now_ms()
        with self.db.write() as conn:
            result = conn.execute(update(webhooks).where(webhooks.c.webhook_id == webhook_id).values(**changes))
        if result.rowcount == 0:
            raise _not_found(webhook_id)
        return self.get(webhook_id)

    def delete(self, webhook_id: str) -> None:
        """Delete a webhook and its delivery log; nothing more is delivered to it.

        Raises:
            ResourceNotFound: no webhook has this id.
        """
        with self.db.write() as conn:
            conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.webhook_id == webhook_id))
            result = conn.execute(delete(webhooks).where(webhooks.c.webhook_id == webhook_id))
        if result.rowcount == 0:
            raise _not_found(webhook_id)

    def deliveries(self, webhook_id: str, limit: int = 50) -> list[Delivery]:
        """The delivery log of one webhook, newest first.

        Raises:
            ResourceNotFound: no webhook has this id.
            InvalidParameter: ``limit`` is not between 1 and 1000.
        """
        if not _is_page_size(limit):
            raise InvalidParameter(f"Invalid limit {limit!r}: expected 1 to 1000 deliveries.")
        self.get(webhook_id)
        d = webhook_deliveries.c
        query = (
            select(webhook_deliveries)
            .where(d.webhook_id == webhook_id)
            .order_by(d.created_at.desc(), d.event_id.desc(), d.delivery_id)
            .limit(limit)
        )
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [_delivery_from_row(r) for r in rows]

    def test(self, webhook_id: str, kind: str | None = None) -> DeliveryAttempt:
        """Send an example event of ``kind`` (default: the first subscribed) now, signed as a real delivery.

        Nothing is written: the outbox and the delivery log stay as they were. The body carries ``"test": true``.
        The destination is checked like a real delivery: a refused address is reported in the result, unsent.

        Raises:
            ResourceNotFound: no webhook has this id.
            InvalidParameter: ``kind`` is not a known event kind.
        """
        row = self._row(webhook_id)
        if kind is not None and kind not in KNOWN_KINDS:
            raise InvalidParameter(f"Unknown event kind {kind!r}: expected one of {', '.join(sorted(KNOWN_KINDS))}.")
        chosen = kind or _test_kind(json.loads(row.events))
        example = Event(
            event_id=0,
            occurred_at_ms=self._now_ms(),
            kind=chosen,
            entity_type=chosen.split(".", 1)[0],
            entity_id="example",
            entity_name=_EXAMPLE_PAYLOAD["name"],
            actor="shipyard",
            version="1",
            payload=dict(_EXAMPLE_PAYLOAD),
        )
        payload = {**build_payload(example), "test": True}
        client = self.client or http_client(self.timeout_s)
        try:
            return send_delivery(
                client,
                row.url,
                delivery_id=uuid.uuid4().hex,
                payload=payload,
                secret=row.secret,
                now_s=self.clock(),
                guard=self.guard,
            )
        finally:
            if self.client is None:
                client.close()

    # Kept last: a method named ``list`` shadows the builtin in the annotations of methods defined after it.
    def list(self, max_results: int = 100, page_token: str | None = None) -> tuple[list[Webhook], str | None]:
        """A page of webhooks, newest first, and the token of the next page (None on the last).

        Raises:
            InvalidParameter: ``max_results`` is not between 1 and 1000, or the token is not one we made.
        """
        if not _is_page_size(max_results):
            raise InvalidParameter(f"Invalid max_results {max_results!r}: expected 1 to 1000.")
        offset = decode_page_token(page_token)
        w = webhooks.c
        query = select(webhooks).order_by(w.creation_time.desc(), w.webhook_id).offset(offset).limit(max_results + 1)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        page = [_webhook_from_row(r) for r in rows[:max_results]]
        return page, encode_page_token(offset + max_results) if len(rows) > max_results else None
