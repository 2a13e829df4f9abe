"""Webhooks end to end: the service, the dispatcher and a real HTTP receiver, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shipyard.cli.webhooks import app as cli_app
from shipyard.db import Database, open_database
from shipyard.errors import InvalidParameter, ResourceNotFound
from shipyard.events import NewEvent, Webhook, WebhookDispatcher, WebhookService, record_event
from shipyard.events.webhooks import kinds_from_wire, validate_kinds
from shipyard.wire.webhooks import webhook_to_json
from tests.support.servers import free_port

SECRET = "s3cret-key"
T0 = 1_700_000_000.0
# The receiver listens on loopback, which the outbound guard refuses unless the allow-list names it.
ALLOW_RECEIVER = ("127.0.0.1",)


# --- a real receiver ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One request the receiver got."""

    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    """A threaded HTTP server on 127.0.0.1 that records POSTs and answers with scripted statuses (200 after)."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    delay_s: float = 0.0
    got_one: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, times: int, status: int = 500) -> None:
        self.statuses.extend([status] * times)

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            self.received.append(Received(headers, body))
            status = self.statuses.pop(0) if self.statuses else 200
        self.got_one.set()
        return status


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if state.delay_s:
                threading.Event().wait(state.delay_s)
            status = state.answer({k.lower(): v for k, v in self.headers.items()}, body)
            reply = b"ok" if status < 300 else b"nope"
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


# --- the store, a fake clock, the services -------------------------------------------------------------------


class FakeClock:
    """Seconds since the epoch that only move when told."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def database(store_url: str) -> Iterator[Database]:
    db = open_database(store_url)
    yield db
    db.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def hooks(database: Database, clock: FakeClock) -> WebhookService:
    return WebhookService(database, clock=clock, timeout_s=5.0, outbound_allowlist=ALLOW_RECEIVER)


@pytest.fixture
def make_dispatcher(database: Database, clock: FakeClock) -> Iterator[Callable[..., WebhookDispatcher]]:
    made: list[WebhookDispatcher] = []

    def make(**options: Any) -> WebhookDispatcher:
        settings = {
            "clock": clock,
            "jitter_ratio": 0.0,
            "timeout_s": 5.0,
            "database": database,
            "outbound_allowlist": ALLOW_RECEIVER,
            **options,
        }
        dispatcher = WebhookDispatcher(settings.pop("database"), **settings)
        made.append(dispatcher)
        return dispatcher

    yield make
    for dispatcher in made:
        dispatcher.stop()


@pytest.fixture
def dispatcher(make_dispatcher: Callable[..., WebhookDispatcher]) -> WebhookDispatcher:
    return make_dispatcher()


Record = Callable[..., int]
DeliverOne = Callable[..., Webhook]


@pytest.fixture
def record(database: Database, clock: FakeClock) -> Record:
    """``record(kind, **payload)`` writes one event into the outbox, as the registry does in its own transaction."""

    def write(kind: str = "model_version.created", **payload: Any) -> int:
        event = NewEvent(
            kind=kind,
            entity_type=kind.split(".", 1)[0],
            entity_id="m-1",
            entity_name="churn",
            actor="ann",
            version="3",
            from_value=payload.pop("from_value", None),
            to_value=payload.pop("to_value", None),
            payload={"name": "churn", "version": "3", **payload},
        )
        with database.write() as conn:
            return record_event(conn, event, int(clock() * 1000))

    return write


@pytest.fixture
def deliver_one(hooks: WebhookService, dispatcher: WebhookDispatcher, receiver: Receiver, record: Record) -> DeliverOne:
    """``deliver_one()`` subscribes the receiver to every kind, records one event and runs the dispatcher once.

    It returns the webhook; ``secret=`` signs it and ``failures=n`` makes the receiver fail its first n requests.
    """

    def deliver(*, secret: str | None = None, failures: int = 0) -> Webhook:
        hook = hooks.create("ci", receiver.url, ["*"], secret=secret)
        receiver.fail_next(failures)
        record()
        dispatcher.run_once()
        return hook

    return deliver


def drive(dispatcher: WebhookDispatcher, clock: FakeClock, hooks: WebhookService, webhook_id: str) -> list[int]:
    """Run the dispatcher until the delivery settles, jumping the clock to each retry; returns the waits (ms)."""
    waits = []
    dispatcher.run_once()
    while (latest := hooks.deliveries(webhook_id)[0]).status == "PENDING":
        wait_ms = latest.next_attempt_at_ms - int(clock() * 1000)
        waits.append(wait_ms)
        clock.advance(wait_ms / 1000)
        dispatcher.run_once()
    return waits


# --- delivery and signature ------------------------------------------------------------------------------------


def test_delivery_carries_mlflow_envelope_and_shipyard_detail(
    hooks: WebhookService, dispatcher: WebhookDispatcher, receiver: Receiver, record: Record
) -> None:
    hooks.create("ci", receiver.url, ["model_version.created"])
    event_id = record(source="runs:/abc/model", run_id="abc")
    dispatcher.run_once()
    body = receiver.received[0].json
    expected = {
        "entity": "model_version",
        "action": "created",
        "timestamp": "2023-11-14T22:13:20+00:00",
        "data": {
            "name": "churn",
            "version": "3",
            "source": "runs:/abc/model",
            "run_id": "abc",
            "tags": {},
            "description": None,
        },
        "event_id": event_id,
        "kind": "model_version.created",
        "actor": "ann",
        "version": "3",
    }
    assert expected == {k: body[k] for k in expected}


def test_delivery_headers_name_the_delivery_and_time(
    hooks: WebhookService, deliver_one: DeliverOne, receiver: Receiver
) -> None:
    hook = deliver_one()
    headers = receiver.received[0].headers
    delivery_id = hooks.deliveries(hook.webhook_id)[0].delivery_id
    assert ("application/json", delivery_id, "1700000000") == (
        headers["content-type"],
        headers["x-mlflow-delivery-id"],
        headers["x-mlflow-timestamp"],
    )


def test_signature_verifies_with_an_independent_hmac(deliver_one: DeliverOne, receiver: Receiver) -> None:
    deliver_one(secret=SECRET)
    got = receiver.received[0]
    signed = f"{got.headers['x-mlflow-delivery-id']}.{got.headers['x-mlflow-timestamp']}.".encode() + got.body
    expected = "v1," + base64.b64encode(hmac.new(SECRET.encode(), signed, hashlib.sha256).digest()).decode()
    assert expected == got.headers["x-mlflow-signature"]


def test_signature_matches_mlflows_own_signing(deliver_one: DeliverOne, receiver: Receiver) -> None:
    # MLflow ships no verification helper; the function its server signs with is the reference.
    from mlflow.webhooks.delivery import _generate_hmac_signature

    deliver_one(secret=SECRET)
    got = receiver.received[0]
    expected = _generate_hmac_signature(
        SECRET, got.headers["x-mlflow-delivery-id"], got.headers["x-mlflow-timestamp"], got.body.decode()
    )
    assert expected == got.headers["x-mlflow-signature"]


def test_unsigned_webhook_gets_no_signature_header(deliver_one: DeliverOne, receiver: Receiver) -> None:
    deliver_one()
    assert "x-mlflow-signature" not in receiver.received[0].headers


def test_success_is_logged_as_delivered(
    hooks: WebhookService, dispatcher: WebhookDispatcher, receiver: Receiver, record: Record
) -> None:
    hook = hooks.create("ci", receiver.url, ["*"])
    record()
    attempted = dispatcher.run_once()
    d = hooks.deliveries(hook.webhook_id)[0]
    assert (1, "DELIVERED", 1, 200, None, int(T0 * 1000)) == (
        attempted,
        d.status,
        d.attempts,
        d.last_status_code,
        d.last_error,
        d.delivered_at_ms,
    )


def test_delivered_event_is_not_sent_again(
    deliver_one: DeliverOne, dispatcher: WebhookDispatcher, receiver: Receiver, clock: FakeClock
) -> None:
    deliver_one()
    clock.advance(3600)
    assert (0, 1) == (dispatcher.run_once(), len(receiver.received))


# --- retries -----------------------------------------------------------------------------------------------------


def test_server_error_schedules_a_retry_after_the_base_backoff(hooks: WebhookService, deliver_one: DeliverOne) -> None:
    hook = deliver_one(failures=1)
    d = hooks.deliveries(hook.webhook_id)[0]
    assert ("PENDING", 1, 500, "HTTP 500: nope", int(T0 * 1000) + 2000) == (
        d.status,
        d.attempts,
        d.last_status_code,
        d.last_error,
        d.next_attempt_at_ms,
    )


def test_retry_waits_until_it_is_due(
    deliver_one: DeliverOne, dispatcher: WebhookDispatcher, receiver: Receiver, clock: FakeClock
) -> None:
    deliver_one(failures=1)
    clock.advance(1.9)
    assert (0, 1) == (dispatcher.run_once(), len(receiver.received))


def test_retry_delivers_the_same_delivery_once_due(
    hooks: WebhookService, deliver_one: DeliverOne, dispatcher: WebhookDispatcher, receiver: Receiver, clock: FakeClock
) -> None:
    hook = deliver_one(failures=1)
    clock.advance(2)
    dispatcher.run_once()
    d = hooks.deliveries(hook.webhook_id)[0]
    ids = {r.headers["x-mlflow-delivery-id"] for r in receiver.received}
    assert ("DELIVERED", 2, {d.delivery_id}) == (d.status, d.attempts, ids)


def test_backoff_doubles_up_to_its_cap(
    hooks: WebhookService,
    make_dispatcher: Callable[..., WebhookDispatcher],
    receiver: Receiver,
    record: Record,
    clock: FakeClock,
) -> None:
    hook = hooks.create("ci", receiver.url, ["*"])
    receiver.fail_next(5)
    record()
    waits = drive(make_dispatcher(backoff_base_s=1.0, backoff_max_s=5.0), clock, hooks, hook.webhook_id)
    assert [1000, 2000, 4000, 5000, 5000] == waits


def test_jitter_only_shortens_the_wait(make_dispatcher: Callable[..., WebhookDispatcher]) -> None:
    dispatcher = make_dispatcher(backoff_base_s=10.0, jitter_ratio=0.5)
    assert all(5.0 <= dispatcher.backoff_s(1) <= 10.0 for _ in range(200))


def test_connection_refused_is_retried(hooks: WebhookService, dispatcher: WebhookDispatcher, record: Record) -> None:
    hook = hooks.create("ci", f"http://127.0.0.1:{free_port()}/hook", ["*"])
    record()
    dispatcher.run_once()
    d = hooks.deliveries(hook.webhook_id)[0]
    assert ("PENDING", 1, None, True) == (
        d.status,
        d.attempts,
        d.last_status_code,
        (d.last_error or "").startswith("ConnectError"),
    )


def test_timeout_is_retried(
    hooks: WebhookService, make_dispatcher: Callable[..., WebhookDispatcher], receiver: Receiver, record: Record
) -> None:
    hook = hooks.create("ci", receiver.url, ["*"])
    receiver.delay_s = 0.5
    record()
    make_dispatcher(timeout_s=0.1).run_once()
    d = hooks.deliveries(hook.webhook_id)[0]
    assert ("PENDING", 1, "ReadTimeout") == (d.status, d.attempts, (d.last_error or "").split(":")[0])


def test_gives_up_after_max_attempts_and_keeps_the_log(
    hooks: WebhookService,
    make_dispatcher: Callable[..., WebhookDispatcher],
    receiver: Receiver,
    record: Record,
    clock: FakeClock,
) -> None:
    hook = hooks.create("ci", receiver.url, ["*"])
    receiver.fail_next(10, status=503)
    record()
    dispatcher = make_dispatcher(max_attempts=3)
    drive(dispatcher, clock, hooks, hook.webhook_id)
    clock.advance(3600)
    dispatcher.run_once()
    d = hooks.deliveries(hook.webhook_id)[0]
    assert ("FAILED", 3, 503, "HTTP 503: nope", 3) == (
        d.status,
        d.attempts,
        d.last_status_code,
        d.last_error,
        len(receiver.received),
    )


# --- who gets what -----------------------------------------------------------------------------------------------


def test_star_receives_every_kind(
    hooks: WebhookService, dispatcher: WebhookDispatcher, receiver: Receiver, record: Record
) -> None:
    hooks.create("all", receiver.url, ["*"])
    for kind in ("registered_model.created", "model_version.stage_changed", "model_version_alias.deleted"):
        record(kind)
    dispatcher.run_once()
    kinds = sorted(r.json["kind"] for r in receiver.received)
    assert ["model_version.stage_changed", "model_version_alias.deleted", "registered_model.created"] == kinds


def test_prefix_wildcard_receives_only_its_entity(
    hooks: WebhookService, dispatcher: WebhookDispatcher, receiver: Receiver, record: Record
) -> None:
    hooks.create("versions", receiver.url, ["model_version.*"])
    for kind in ("model_version.created", "model_version_alias.created", "model_version.deleted"):
        record(kind)
    dispatcher.run_once()
    assert ["model_version.created", "model_version.deleted"] == sorted(r.json["kind"] for r in receiver.received)


def test_alias_created_subscription_also_receives_moves(
    hooks: WebhookService, dispatcher: WebhookDispatcher, receiver: Receiver, record: Record
) -> None:
    hooks.create("aliases", receiver.url, ["model_version_alias.created"])
    record("model_version_alias.moved", alias="champion", from_value="2", to_value="3")
    dispatcher.run_once()
    body = receiver.received[0].json
    assert ("model_version_alias", "created", "model_version_alias.moved", "2", "3") == (
        body["entity"],
        body["action"],
        body["kind"],
        body["from"],
        body["to"],
    )


def test_disabled_webhook_gets_nothing(
    hooks: WebhookService, dispatcher: WebhookDispatcher, receiver: Receiver, record: Record
) -> None:
    hook = hooks.create("ci", receiver.url, ["*"])
    record()
    hooks.update(hook.webhook_id, status="DISABLED")
    attempted = dispatcher.run_once()
    d = hooks.deliveries(hook.webhook_id)[0]
    assert (0, 0, "FAILED", "Not delivered: the webhook is disabled.") == (
        attempted,
        len(receiver.received),
        d.status,
        d.last_error,
    )


def test_deleted_webhook_gets_nothing(
    hooks: WebhookService, dispatcher: WebhookDispatcher, receiver: Receiver, record: Record
) -> None:
    hook = hooks.create("ci", receiver.url, ["*"])
    record()
    hooks.delete(hook.webhook_id)
    assert (0, 0) == (dispatcher.run_once(), len(receiver.received))


def test_two_dispatchers_racing_never_send_a_delivery_twice(
    hooks: WebhookService, receiver: Receiver, record: Record, database: Database, store_url: str, clock: FakeClock
) -> None:
    hooks.create("a", receiver.url, ["*"])
    hooks.create("b", receiver.url, ["*"])
    for _ in range(15):
        record()
    # A second Database stands for a second server process: its own engine, pool and write lock.
    other = open_database(store_url, migrate=False)
    racers = [
        WebhookDispatcher(
            db, clock=clock, jitter_ratio=0.0, timeout_s=5.0, batch_size=4, outbound_allowlist=ALLOW_RECEIVER
        )
        for db in (database, other)
    ]
    start = threading.Barrier(2)
    counts: list[int] = []

    def race(dispatcher: WebhookDispatcher) -> None:
        start.wait()
        counts.append(dispatcher.run_once())

    threads = [threading.Thread(target=race, args=(d,)) for d in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for dispatcher in racers:
        dispatcher.stop()
    other.dispose()
    sent = [r.headers["x-mlflow-delivery-id"] for r in receiver.received]
    assert (30, 30, 30) == (sum(counts), len(sent), len(set(sent)))


def test_started_dispatcher_delivers_in_the_background(
    hooks: WebhookService, make_dispatcher: Callable[..., WebhookDispatcher], receiver: Receiver, record: Record
) -> None:
    hooks.create("ci", receiver.url, ["*"])
    dispatcher = make_dispatcher(poll_interval_s=0.01)
    dispatcher.start()
    record()
    delivered = receiver.got_one.wait(30)
    dispatcher.stop()
    assert (True, 1) == (delivered, len(receiver.received))


# --- the service: CRUD, validation, test deliveries ----------------------------------------------------------


def test_create_then_get_returns_the_subscription(hooks: WebhookService, clock: FakeClock) -> None:
    made = hooks.create("ci-hook", "https://hooks.example.com/x", ["model_version.*"], description="CI")
    got = hooks.get(made.webhook_id)
    assert ("ci-hook", "https://hooks.example.com/x", ("model_version.*",), "ACTIVE", "CI", 32, int(T0 * 1000)) == (
        got.name,
        got.url,
        got.events,
        got.status,
        got.description,
        len(got.webhook_id),
        got.creation_time_ms,
    )


def test_secret_is_never_returned(hooks: WebhookService) -> None:
    made = hooks.create("ci", "https://hooks.example.com/x", ["*"], secret=SECRET)
    shown = webhook_to_json(hooks.get(made.webhook_id))
    assert (True, False) == (shown["has_secret"], SECRET in json.dumps(shown))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "ftp://hooks.example.com/x",
            "Invalid webhook URL scheme 'ftp' in 'ftp://hooks.example.com/x': expected http or https.",
        ),
        ("hooks.example.com/x", "Invalid webhook URL scheme '' in 'hooks.example.com/x': expected http or https."),
        ("http:///no-host", "Invalid webhook URL 'http:///no-host': it names no host."),
        ("", "A webhook needs a URL, for example 'https://hooks.example.com/shipyard'."),
    ],
    ids=["ftp", "no-scheme", "no-host", "empty"],
)
def test_bad_url_is_rejected(hooks: WebhookService, url: str, expected: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        hooks.create("ci", url, ["*"])
    assert expected == caught.value.message


def test_unknown_event_kind_is_rejected(hooks: WebhookService) -> None:
    with pytest.raises(InvalidParameter) as caught:
        hooks.create("ci", "https://hooks.example.com/x", ["model_version.exploded"])
    assert caught.value.message.startswith("Unknown event kind 'model_version.exploded': expected '*', one of")


def test_empty_event_list_is_rejected(hooks: WebhookService) -> None:
    with pytest.raises(InvalidParameter, match="at least one event kind"):
        hooks.create("ci", "https://hooks.example.com/x", [])


def test_bad_name_is_rejected(hooks: WebhookService) -> None:
    with pytest.raises(InvalidParameter, match="Invalid webhook name 'no spaces allowed'"):
        hooks.create("no spaces allowed", "https://hooks.example.com/x", ["*"])


def test_bad_status_is_rejected(hooks: WebhookService) -> None:
    made = hooks.create("ci", "https://hooks.example.com/x", ["*"])
    with pytest.raises(InvalidParameter, match="expected ACTIVE or DISABLED"):
        hooks.update(made.webhook_id, status="PAUSED")


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.get("nope"),
        lambda s: s.update("nope", name="x"),
        lambda s: s.delete("nope"),
        lambda s: s.deliveries("nope"),
        lambda s: s.test("nope"),
    ],
    ids=["get", "update", "delete", "deliveries", "test"],
)
def test_unknown_id_is_not_found(hooks: WebhookService, call: Callable[[WebhookService], Any]) -> None:
    with pytest.raises(ResourceNotFound) as caught:
        call(hooks)
    assert "Webhook with ID 'nope' not found." == caught.value.message


def test_update_changes_only_given_fields(hooks: WebhookService, clock: FakeClock) -> None:
    made = hooks.create("ci", "https://hooks.example.com/x", ["*"], description="keep", secret=SECRET)
    clock.advance(5)
    changed = hooks.update(made.webhook_id, url="https://hooks.example.com/y", secret="")
    assert ("ci", "https://hooks.example.com/y", "keep", False, int(T0 * 1000) + 5000) == (
        changed.name,
        changed.url,
        changed.description,
        changed.has_secret,
        changed.last_updated_time_ms,
    )


def test_list_pages_newest_first(hooks: WebhookService, clock: FakeClock) -> None:
    for name in ("first", "second", "third"):
        hooks.create(name, "https://hooks.example.com/x", ["*"])
        clock.advance(1)
    page1, token = hooks.list(2)
    page2, last = hooks.list(2, token)
    assert (["third", "second"], ["first"], None) == ([w.name for w in page1], [w.name for w in page2], last)


def test_test_delivery_reports_the_answer(hooks: WebhookService, receiver: Receiver) -> None:
    made = hooks.create("ci", receiver.url, ["model_version_alias.*"], secret=SECRET)
    result = hooks.test(made.webhook_id)
    body = receiver.received[0].json
    assert (True, 200, "ok", None, True, "model_version_alias.created") == (
        result.ok,
        result.status_code,
        result.response_body,
        result.error,
        body["test"],
        body["kind"],
    )


def test_test_delivery_leaves_the_outbox_alone(hooks: WebhookService, receiver: Receiver) -> None:
    made = hooks.create("ci", receiver.url, ["*"])
    hooks.test(made.webhook_id)
    assert [] == hooks.deliveries(made.webhook_id)


def test_test_delivery_to_nowhere_reports_the_error(hooks: WebhookService) -> None:
    made = hooks.create("ci", f"http://127.0.0.1:{free_port()}/hook", ["*"])
    result = hooks.test(made.webhook_id)
    assert (False, None, "ConnectError") == (result.ok, result.status_code, (result.error or "").split(":")[0])


# --- MLflow's (entity, action) view --------------------------------------------------------------------------


def test_mlflow_pairs_map_to_kinds() -> None:
    wire = [{"entity": "MODEL_VERSION", "action": "CREATED"}, {"entity": "MODEL_VERSION_ALIAS", "action": "CREATED"}]
    assert (
        "model_version.created",
        "model_version_alias.created",
        "model_version_alias.moved",
    ) == validate_kinds(kinds_from_wire(wire))


def test_mlflow_prompt_events_are_rejected() -> None:
    with pytest.raises(InvalidParameter, match=r"Unsupported webhook event 'prompt\.created'"):
        kinds_from_wire([{"entity": "PROMPT", "action": "CREATED"}])


def test_mlflow_view_expands_wildcards_and_drops_shipyard_only_kinds(hooks: WebhookService) -> None:
    made = hooks.create("ci", "https://hooks.example.com/x", ["model_version_alias.*", "model_version.stage_changed"])
    events = webhook_to_json(made)["events"]
    assert [
        {"entity": "MODEL_VERSION_ALIAS", "action": "CREATED"},
        {"entity": "MODEL_VERSION_ALIAS", "action": "DELETED"},
    ] == events


# --- the CLI on the embedded store -----------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path))
    monkeypatch.delenv("SHIPYARD_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("SHIPYARD_WEBHOOK_SECRET", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli_app, list(args))
    return result.exit_code, result.output


def test_cli_create_then_list(home: Path) -> None:
    code, webhook_id = invoke("create", "ci", "https://hooks.example.com/x", "--event", "model_version.*")
    listed = invoke("list")[1]
    assert (0, True, True) == (code, webhook_id.strip() in listed, "model_version.*" in listed)


def test_cli_disable_shows_in_show(home: Path) -> None:
    webhook_id = invoke("create", "ci", "https://hooks.example.com/x", "-e", "*")[1].strip()
    disabled = invoke("disable", webhook_id)[0]
    assert (0, True) == (disabled, "DISABLED" in invoke("show", webhook_id)[1])


def test_cli_bad_event_prints_one_error_line(home: Path) -> None:
    code, out = invoke("create", "ci", "https://hooks.example.com/x", "-e", "nope")
    assert (1, True) == (code, out.startswith("error: Unknown event kind 'nope'"))


def test_cli_test_against_a_receiver(home: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_OUTBOUND_ALLOWLIST", ",".join(ALLOW_RECEIVER))
    webhook_id = invoke("create", "ci", receiver.url, "-e", "*")[1].strip()
    code, out = invoke("test", webhook_id)
    assert (0, "HTTP 200 ok") == (code, out.strip())
