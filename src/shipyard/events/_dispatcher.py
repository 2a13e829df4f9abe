"""Webhook delivery: the signed payload, one POST, and the dispatcher that drains the outbox with retries."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, and_, or_, select, update

from shipyard._retry import RetryPolicy
from shipyard.db import Database
from shipyard.events._netguard import (
    HostNotResolved,
    IPAddress,
    OutboundGuard,
    OutboundRefused,
    Resolver,
    system_resolver,
)
from shipyard.events.entities import Event
from shipyard.events.store import event_from_row
from shipyard.events.tables import ACTIVE, DELIVERED, FAILED, PENDING, events, webhook_deliveries, webhooks

if TYPE_CHECKING:
    import httpx

__all__ = [
    "DELIVERY_ID_HEADER",
    "MLFLOW_PAIRS",
    "PAIR_OF_KIND",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "DeliveryAttempt",
    "WebhookDispatcher",
    "build_payload",
    "delivery_headers",
    "http_client",
    "send_delivery",
    "sign",
]

_log = logging.getLogger("shipyard.events.webhooks")

# MLflow's header names and signature scheme, so receivers written for MLflow verify Shipyard's deliveries.
SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
SIGNATURE_VERSION = "v1"
MAX_RESPONSE_BYTES = 16 * 1024  # of a receiver's answer kept in a test result or the log
# Checked addresses tried per attempt (say the IPv6 and the IPv4 one); more would let one attempt outlast its lease.
MAX_ADDRESSES_TRIED = 2

# The (entity, action) pairs MLflow's client accepts for the model registry, and the kind each one stands for.
# MLflow fires "alias created" every time an alias is set, moves included, so a move reads as "created" to it.
MLFLOW_PAIRS: tuple[tuple[str, str], ...] = (
    ("registered_model", "created"),
    ("model_version", "created"),
    ("model_version_tag", "set"),
    ("model_version_tag", "deleted"),
    ("model_version_alias", "created"),
    ("model_version_alias", "deleted"),
)
PAIR_OF_KIND: dict[str, tuple[str, str]] = {f"{e}.{a}": (e, a) for e, a in MLFLOW_PAIRS} | {
    "model_version_alias.moved": ("model_version_alias", "created"),
}
# MLflow's payload ("data") fields per kind; the rest of Shipyard's detail travels in "payload".
_MLFLOW_DATA_FIELDS: dict[str, tuple[str, ...]] = {
    "registered_model.created": ("name", "tags", "description"),
    "model_version.created": ("name", "version", "source", "run_id", "tags", "description"),
    "model_version_tag.set": ("name", "version", "key", "value"),
    "model_version_tag.deleted": ("name", "version", "key"),
    "model_version_alias.created": ("name", "alias", "version"),
    "model_version_alias.moved": ("name", "alias", "version"),
    "model_version_alias.deleted": ("name", "alias"),
}


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """The outcome of one POST to a webhook: a status and body, or the error that prevented an answer.

    Attributes:
        status_code: the receiver's HTTP status, or None when no answer came (refused, timed out).
        response_body: the start of the receiver's answer (at most 16 KiB).
        error: why there was no answer, or None.
        refused: the outbound guard refused the destination (nothing was sent); retrying will not help.
    """

    status_code: int | None = None
    response_body: str | None = None
    error: str | None = None
    refused: bool = False

    @property
    def ok(self) -> bool:
        """Whether the receiver accepted the delivery (any 2xx status)."""
        return self.status_code is not None and 200 <= self.status_code < 300


def _mlflow_data(event: Event) -> dict[str, Any]:
    defaults: dict[str, Any] = {"name": event.entity_name, "version": event.version or event.to_value}
    fields = _MLFLOW_DATA_FIELDS.get(event.kind)
    if fields is None:
        return {**{k: v for k, v in defaults.items() if v is not None}, **event.payload}
    return {k: event.payload.get(k, {} if k == "tags" else defaults.get(k)) for k in fields}


def build_payload(event: Event) -> dict[str, Any]:
    """The JSON body a webhook receives for ``event``.

    MLflow's envelope (``entity``, ``action``, ``timestamp``, ``data``) comes first, so receivers written for
    MLflow work unchanged; Shipyard's detail follows (``event_id``, ``kind``, ``from``, ``to``, ``reason``, …).
    An alias move reads as MLflow's ``model_version_alias``/``created``, with ``kind`` saying ``…moved``.
    """
    entity, _, action = event.kind.partition(".")
    pair = PAIR_OF_KIND.get(event.kind)
    return {
        "entity": entity,
        "action": pair[1] if pair else action,
        "timestamp": dt.datetime.fromtimestamp(event.occurred_at_ms / 1000, tz=dt.UTC).isoformat(),
        "data": _mlflow_data(event),
        "event_id": event.event_id,
        "kind": event.kind,
        "occurred_at_ms": event.occurred_at_ms,
        "entity_type": event.entity_type,
        "entity_id": event.entity_id,
        "entity_name": event.entity_name,
        "version": event.version,
        "actor": event.actor,
        "from": event.from_value,
        "to": event.to_value,
        "reason": event.reason,
        "payload": event.payload,
    }


def sign(secret: str, delivery_id: str, timestamp: str, body: str) -> str:
    """MLflow's webhook signature: ``v1,`` + base64(HMAC-SHA256(secret, ``delivery_id.timestamp.body``)).

    Example:
        >>> sign("s3cret", "d1", "1700000000", "{}")
        'v1,zanuGVyPdkCH5t63rF48cWGMLFZ3sNRiNHn6qebAxZ8='
    """
    content = f"{delivery_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret.encode("utf-8"), content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def delivery_headers(delivery_id: str, timestamp_s: int, body: str, secret: str | None) -> dict[str, str]:
    """The headers of a delivery: content type, delivery id, timestamp and (with a secret) the signature."""
    headers = {
        "Content-Type": "application/json",
        DELIVERY_ID_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(timestamp_s),
    }
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, delivery_id, str(timestamp_s), body)
    return headers


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _post_pinned(
    client: httpx.Client, url: str, ip: IPAddress, body: bytes, headers: dict[str, str]
) -> DeliveryAttempt | httpx.ConnectError:
    """POST to ``url`` over a connection to ``ip``: the Host header and TLS SNI (and so certificate checks) still
    name the URL's host. Returns a DeliveryAttempt, or the ConnectError when ``ip`` took no connection."""
    import httpx

    target = httpx.URL(url)
    pinned = target.copy_with(host=str(ip))
    extensions = {"sni_hostname": target.raw_host.decode("ascii")} if target.scheme == "https" else {}
    sent_headers = {**headers, "Host": target.netloc.decode("ascii")}
    try:
        with client.stream(
            "POST", pinned, content=body, headers=sent_headers, extensions=extensions, follow_redirects=False
        ) as response:
            kept = bytearray()
            for chunk in response.iter_bytes():
                kept.extend(chunk)
                if len(kept) >= MAX_RESPONSE_BYTES:
                    break
            text = bytes(kept[:MAX_RESPONSE_BYTES]).decode("utf-8", errors="replace")
            return DeliveryAttempt(status_code=response.status_code, response_body=text)
    except httpx.ConnectError as exc:
        return exc
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
        return DeliveryAttempt(error=_error_text(exc))


def send_delivery(
    client: httpx.Client,
    url: str,
    *,
    delivery_id: str,
    payload: dict[str, Any],
    secret: str | None,
    now_s: float,
    guard: OutboundGuard,
) -> DeliveryAttempt:
    """POST ``payload`` to ``url``, signed; the receiver's failures are reported, never raised.

    ``guard`` resolves the URL's host and checks every address right before sending; the request then goes to
    one of those checked addresses (the first two, in resolver order, until one accepts the connection), so a
    DNS answer that changes after the check (DNS rebinding) is never used. A refused destination comes back
    with ``refused=True`` and nothing is sent. Redirects are never followed.
    """
    try:
        destination = guard.check(url)
    except OutboundRefused as exc:
        return DeliveryAttempt(error=exc.message, refused=True)
    except HostNotResolved as exc:
        return DeliveryAttempt(error=exc.message)
    body = json.dumps(payload)
    headers = delivery_headers(delivery_id, int(now_s), body, secret)
    failures: list[str] = []
    for ip in destination.addresses[:MAX_ADDRESSES_TRIED]:
        outcome = _post_pinned(client, url, ip, body.encode("utf-8"), headers)
        if isinstance(outcome, DeliveryAttempt):
            return outcome
        failures.append(_error_text(outcome))
    return DeliveryAttempt(error="; ".join(dict.fromkeys(failures)))


def http_client(timeout_s: float) -> httpx.Client:
    """The HTTP client deliveries use: no redirects followed, no proxies taken from the environment, and no
    kept-alive connections (each delivery connects to the address its guard just checked)."""
    import httpx

    return httpx.Client(
        timeout=timeout_s,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


def _failure_text(attempt: DeliveryAttempt) -> str:
    if attempt.error:
        return attempt.error
    body = (attempt.response_body or "").strip()
    return f"HTTP {attempt.status_code}" + (f": {body[:500]}" if body else "")


class WebhookDispatcher:
    """Delivers the outbox's pending webhook deliveries, retrying failures with exponential back-off.

    Several server processes may run one each: a delivery is claimed with a conditional UPDATE (its status,
    attempts and due time unchanged) before it is sent, so no two dispatchers send it at the same time. A
    claim holds the delivery for a lease longer than any send may take; if the process dies mid-send, the
    delivery is due again when the lease ends, and that attempt counts.

    Example:
        >>> dispatcher = WebhookDispatcher(open_database(url))  # doctest: +SKIP
        >>> dispatcher.start()
        >>> dispatcher.stop(timeout_s=10)
    """

    def __init__(
        self,
        database: Database,
        *,
        poll_interval_s: float = 1.0,
        max_attempts: int = 8,
        backoff_base_s: float = 2.0,
        backoff_max_s: float = 600.0,
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
        client: httpx.Client | None = None,
        jitter_ratio: float = 0.1,
        batch_size: int = 100,
        outbound_allowlist: Iterable[str] = (),
        resolve: Resolver = system_resolver,
    ) -> None:
        """Args:
        database: the metadata store holding the outbox.
        poll_interval_s: how long the background thread waits when nothing was due.
        max_attempts: attempts before a delivery is given up as FAILED.
        backoff_base_s: the wait after the first failure; it doubles with each further failure.
        backoff_max_s: the longest wait between attempts.
        timeout_s: how long one POST may take.
        clock: seconds since the epoch (tests pass a fake one).
        client: the HTTP client to POST with; one is made (and closed by ``stop``) when omitted.
        jitter_ratio: each wait is shortened by a random fraction up to this, so retries spread out.
        batch_size: deliveries read per query.
        outbound_allowlist: hosts, addresses or CIDR networks that may be called although they are loopback,
            private, link-local or metadata addresses (``Settings.outbound_allowlist``); a delivery to any other
            such address is recorded as FAILED with the reason, without retries.
        resolve: the host resolver (``socket.getaddrinfo`` by default; tests simulate DNS with it).
        """
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.db = database
        self.poll_interval_s = poll_interval_s
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        # The attempts are counted by the outbox (max_attempts), so the policy only spaces them.
        self.retry_policy = RetryPolicy(first_s=backoff_base_s, max_s=backoff_max_s, jitter=jitter_ratio, retries=None)
        self.timeout_s = timeout_s
        self.clock = clock
        self.jitter_ratio = jitter_ratio
        self.batch_size = batch_size
        self.guard = OutboundGuard(outbound_allowlist, resolve=resolve)
        self._owns_client = client is None
        self._client = client
        # httpx's timeout applies to connect, write and read separately; the lease outlasts all of them.
        self._lease_ms = int((4 * timeout_s + 30) * 1000)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def client(self) -> httpx.Client:
        """The HTTP client deliveries are sent with."""
        if self._client is None:
            self._client = http_client(self.timeout_s)
        return self._client

    def start(self) -> None:
        """Deliver in a daemon thread until :meth:`stop`."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="shipyard-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop after the delivery in progress (waiting up to ``timeout_s``) and close our HTTP client."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                attempted = self.run_once()
            except Exception:
                # The store may be briefly unreachable; the outbox keeps everything, so try again later.
                _log.exception("webhook dispatch failed; retrying in %.1fs", self.poll_interval_s)
                attempted = 0
            if attempted == 0:
                self._stopping.wait(self.poll_interval_s)

    def run_once(self) -> int:
        """Attempt every delivery due now, once each; returns how many were attempted (sent or tried)."""
        now_ms = int(self.clock() * 1000)
        attempted = 0
        after: tuple[int, str] | None = None
        while not self._stopping.is_set():
            rows = self._due(now_ms, after)
            for row in rows:
                if self._stopping.is_set():
                    break
                attempted += self._handle(row, now_ms)
            if len(rows) < self.batch_size:
                break
            after = (rows[-1].next_attempt_at, rows[-1].delivery_id)
        return attempted

    def _due(self, now_ms: int, after: tuple[int, str] | None) -> list[Row[Any]]:
        d = webhook_deliveries.c
        query = (
            select(
                d.delivery_id,
                d.attempts,
                d.next_attempt_at,
                webhooks.c.url,
                webhooks.c.secret,
                webhooks.c.status.label("webhook_status"),
                *events.c,
            )
            .select_from(
                webhook_deliveries.join(webhooks, d.webhook_id == webhooks.c.webhook_id).join(
                    events, d.event_id == events.c.event_id
                )
            )
            .where(d.status == PENDING, d.next_attempt_at <= now_ms)
            .order_by(d.next_attempt_at, d.delivery_id)
            .limit(self.batch_size)
        )
        if after is not None:
            query = query.where(
                or_(d.next_attempt_at > after[0], and_(d.next_attempt_at == after[0], d.delivery_id > after[1]))
            )
        with self.db.read() as conn:
            return list(conn.execute(query).all())

    def _unchanged(self, row: Row[Any]) -> Any:
        d = webhook_deliveries.c
        return and_(
            d.delivery_id == row.delivery_id,
            d.status == PENDING,
            d.attempts == row.attempts,
            d.next_attempt_at == row.next_attempt_at,
        )

    def _handle(self, row: Row[Any], now_ms: int) -> int:
        if row.webhook_status != ACTIVE:
            self._give_up(row, "Not delivered: the webhook is disabled.")
            return 0
        if row.attempts >= self.max_attempts:
            self._give_up(row, f"Gave up: attempt {row.attempts} was interrupted before its outcome was recorded.")
            return 0
        claimed = self._claim(row, now_ms)
        if not claimed:
            return 0  # another dispatcher has it
        attempt = send_delivery(
            self.client,
            row.url,
            delivery_id=row.delivery_id,
            payload=build_payload(event_from_row(row)),
            secret=row.secret,
            now_s=self.clock(),
            guard=self.guard,
        )
        self._record(row.delivery_id, row.attempts + 1, attempt)
        return 1

    def _claim(self, row: Row[Any], now_ms: int) -> bool:
        active = select(webhooks.c.webhook_id).where(webhooks.c.status == ACTIVE)
        claim = (
            update(webhook_deliveries)
            .where(self._unchanged(row), webhook_deliveries.c.webhook_id.in_(active))
            .values(attempts=row.attempts + 1, next_attempt_at=now_ms + self._lease_ms)
        )
        with self.db.write() as conn:
            return conn.execute(claim).rowcount == 1

    def _give_up(self, row: Row[Any], reason: str) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(webhook_deliveries).where(self._unchanged(row)).values(status=FAILED, last_error=reason)
            )

    def backoff_s(self, attempts: int) -> float:
        """The wait after the ``attempts``-th failed attempt: base * 2^(attempts-1), capped, less some jitter."""
        return self.retry_policy.delay_s(attempts)

    def _record(self, delivery_id: str, attempts: int, attempt: DeliveryAttempt) -> None:
        now_ms = int(self.clock() * 1000)
        values: dict[str, Any] = {"last_status_code": attempt.status_code}
        if attempt.ok:
            values |= {"status": DELIVERED, "delivered_at": now_ms, "last_error": None}
        elif attempt.refused or attempts >= self.max_attempts:
            values |= {"status": FAILED, "next_attempt_at": now_ms, "last_error": _failure_text(attempt)}
        else:
            next_at = now_ms + int(self.backoff_s(attempts) * 1000)
            values |= {"next_attempt_at": next_at, "last_error": _failure_text(attempt)}
        d = webhook_deliveries.c
        with self.db.write() as conn:
            conn.execute(
                update(webhook_deliveries)
                .where(d.delivery_id == delivery_id, d.status == PENDING, d.attempts == attempts)
                .values(**values)
            )
