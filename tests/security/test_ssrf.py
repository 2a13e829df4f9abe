"""Server-side requests (webhooks) never reach loopback, private, link-local or metadata addresses unless the
outbound allow-list names them: refused at creation, at update, in a test delivery and at delivery time."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard.db import Database, open_database
from shipyard.events import NewEvent, WebhookDispatcher, WebhookService, record_event
from tests.security.conftest import Target
from tests.support.servers import RunningServer, shipyard_server

API = "/api/2.0/mlflow"
SETTING = "SHIPYARD_OUTBOUND_ALLOWLIST"


# --- a real receiver on 127.0.0.1 ------------------------------------------------------------------------------


@dataclass
class Receiver:
    """A threaded HTTP server on 127.0.0.1 that records every request; ``redirect_to`` answers 302 there."""

    port: int = 0
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    redirect_to: str = ""
    got_one: threading.Event = field(default_factory=threading.Event)

    def url(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/hook"


@contextlib.contextmanager
def running_receiver() -> Iterator[Receiver]:
    """Start a receiver; stop it on exit."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
            state.received.append((self.command, {k.lower(): v for k, v in self.headers.items()}, body))
            state.got_one.set()
            if state.redirect_to:
                self.send_response(302)
                self.send_header("Location", state.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        do_GET = do_POST = do_PUT = _record  # noqa: N815  # http.server's naming

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = int(server.server_address[1])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state


@pytest.fixture
def second_receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _create_webhook(http: httpx.Client, url: str) -> httpx.Response:
    body = {"name": _unique("hook"), "url": url, "events": [{"entity": "registered_model", "action": "created"}]}
    return http.post(f"{API}/webhooks", json=body)


def _plant_webhook(store: Path, url: str) -> str:
    """A webhook row written straight into the store, as if created before the guard existed."""
    webhook_id = uuid.uuid4().hex
    now = int(time.time() * 1000)
    with sqlite3.connect(store, timeout=30) as conn:
        conn.execute(
            "INSERT INTO webhooks (webhook_id, name, url, events, status, creation_time, last_updated_time)"
            " VALUES (?, ?, ?, '[\"*\"]', 'ACTIVE', ?, ?)",
            (webhook_id, _unique("planted"), url, now, now),
        )
    return webhook_id


# --- refused at creation and update (the fixture server: no allow-list) ------------------------------------------

REFUSED_HOSTS = [
    ("127.0.0.1:{port}", "loopback"),
    ("localhost:{port}", "loopback"),
    ("[::1]:{port}", "loopback"),
    ("[::ffff:127.0.0.1]:{port}", "loopback"),
    ("2130706433:{port}", "loopback"),  # decimal 127.0.0.1
    ("0x7f.1:{port}", "loopback"),  # hex
    ("0177.0.0.1:{port}", "loopback"),  # octal
    ("0.0.0.0:{port}", "unspecified"),
    ("169.254.169.254", "cloud metadata"),
    ("[fd00:ec2::254]", "cloud metadata"),
    ("169.254.10.1", "link-local"),
    ("[fe80::1]", "link-local"),
    ("10.0.0.1", "private"),
    ("192.168.0.10", "private"),
    ("[fd12::1]", "private"),
    ("100.64.0.1", "shared"),
    ("224.0.0.1", "multicast"),
]


@pytest.mark.parametrize(("host", "kind"), REFUSED_HOSTS)
def test_webhook_to_a_non_public_address_is_refused_at_creation(
    target: Target, receiver: Receiver, host: str, kind: str
) -> None:
    with target.client() as http:
        response = _create_webhook(http, f"http://{host.format(port=receiver.port)}/hook")
    assert (400, True, True) == (response.status_code, kind in response.json()["message"], SETTING in response.text)


def test_refused_creation_stores_nothing(target: Target, receiver: Receiver) -> None:
    with target.client() as http:
        _create_webhook(http, receiver.url())
        listed = http.get(f"{API}/webhooks", params={"max_results": 1000}).json()
    assert [] == [w for w in listed.get("webhooks", []) if w["url"] == receiver.url()]


def test_webhook_to_a_public_host_is_accepted(target: Target) -> None:
    # A positive control: the guard refuses addresses, not webhooks.
    with target.client() as http:
        assert 200 == _create_webhook(http, "https://hooks.example.com/shipyard").status_code


def test_update_to_a_loopback_url_is_refused_and_keeps_the_old_url(target: Target, receiver: Receiver) -> None:
    with target.client() as http:
        made = _create_webhook(http, "https://hooks.example.com/shipyard").json()["webhook"]
        response = http.patch(f"{API}/webhooks/{made['webhook_id']}", json={"url": receiver.url()})
        kept = http.get(f"{API}/webhooks/{made['webhook_id']}").json()["webhook"]["url"]
    assert (400, "https://hooks.example.com/shipyard") == (response.status_code, kept)


def test_test_delivery_of_a_planted_loopback_webhook_sends_nothing(target: Target, receiver: Receiver) -> None:
    webhook_id = _plant_webhook(target.root / "data" / "shipyard.db", receiver.url())
    with target.client() as http:
        result = http.post(f"{API}/webhooks/{webhook_id}/test", json={}).json()["result"]
    assert (False, True, []) == (result["success"], "loopback" in result["error_message"], receiver.received)


# --- delivery by a real server, with and without the allow-list --------------------------------------------------


def _wait(condition: Callable[[], bool], timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def _deliveries(http: httpx.Client, webhook_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = http.get(f"/api/v1/webhooks/{webhook_id}/deliveries").json()["deliveries"]
    return found


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server that delivers webhooks, with no allow-list."""
    with shipyard_server(tmp_path_factory.mktemp("guarded"), env={"SHIPYARD_DELIVER_WEBHOOKS": "1"}) as server:
        yield server


@pytest.fixture(scope="module")
def allowing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server that delivers webhooks and whose allow-list names 127.0.0.1."""
    env = {"SHIPYARD_DELIVER_WEBHOOKS": "1", SETTING: "127.0.0.1"}
    with shipyard_server(tmp_path_factory.mktemp("allowing"), env=env) as server:
        yield server


def test_planted_loopback_webhook_is_never_delivered(guarded_server: RunningServer, receiver: Receiver) -> None:
    webhook_id = _plant_webhook(guarded_server.root / "shipyard.db", receiver.url())
    with httpx.Client(base_url=guarded_server.url, timeout=30) as http:
        http.post(f"{API}/registered-models/create", json={"name": _unique("m")}).raise_for_status()
        settled = _wait(lambda: [d["status"] for d in _deliveries(http, webhook_id)] == ["FAILED"])
        delivery = _deliveries(http, webhook_id)[0]
    assert (True, 1, True, True, []) == (
        settled,
        delivery["attempts"],
        "loopback" in delivery["last_error"],
        SETTING in delivery["last_error"],
        receiver.received,
    )


def test_allow_listed_receiver_gets_the_delivery(allowing_server: RunningServer, receiver: Receiver) -> None:
    with httpx.Client(base_url=allowing_server.url, timeout=30) as http:
        made = _create_webhook(http, receiver.url())
        http.post(f"{API}/registered-models/create", json={"name": _unique("m")}).raise_for_status()
        arrived = receiver.got_one.wait(20)
        settled = _wait(
            lambda: [d["status"] for d in _deliveries(http, made.json()["webhook"]["webhook_id"])] == ["DELIVERED"]
        )
    assert (200, True, True, "registered_model") == (
        made.status_code,
        arrived,
        settled,
        json.loads(receiver.received[0][2])["entity"],
    )


def test_allow_list_by_address_does_not_open_another_loopback_name(
    allowing_server: RunningServer, receiver: Receiver
) -> None:
    with httpx.Client(base_url=allowing_server.url, timeout=30) as http:
        response = _create_webhook(http, receiver.url("[::1]"))
    assert 400 == response.status_code


# --- delivery time: DNS that changes after the check, and redirects -------------------------------------------------


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = open_database(f"sqlite:///{tmp_path / 'hooks.db'}")
    yield db
    db.dispose()


def _record(database: Database) -> None:
    event = NewEvent(
        kind="model_version.created",
        entity_type="model_version",
        entity_id="m-1",
        entity_name="churn",
        actor="ann",
        version="1",
        payload={"name": "churn", "version": "1"},
    )
    with database.write() as conn:
        record_event(conn, event, int(time.time() * 1000))


class Dns:
    """Answers for made-up names (``*.test``), changeable between calls: DNS is an edge we cannot drive."""

    def __init__(self, answers: dict[str, Sequence[str]]) -> None:
        self.answers = dict(answers)

    def __call__(self, host: str, _port: int) -> Sequence[str]:
        if host not in self.answers:
            raise OSError(f"unknown host {host}")
        return self.answers[host]


def test_dns_rebinding_to_loopback_after_creation_is_refused_at_delivery(
    database: Database, receiver: Receiver
) -> None:
    dns = Dns({"hooks.rebind.test": ["93.184.216.34"]})
    hooks = WebhookService(database, resolve=dns)
    made = hooks.create("ci", f"http://hooks.rebind.test:{receiver.port}/hook", ["*"])
    dns.answers["hooks.rebind.test"] = ["127.0.0.1"]
    _record(database)
    dispatcher = WebhookDispatcher(database, resolve=dns, jitter_ratio=0.0, timeout_s=5.0)
    try:
        dispatcher.run_once()
    finally:
        dispatcher.stop()
    delivery = hooks.deliveries(made.webhook_id)[0]
    assert ("FAILED", 1, True, []) == (
        delivery.status,
        delivery.attempts,
        "resolves to 127.0.0.1" in (delivery.last_error or ""),
        receiver.received,
    )


def test_refused_delivery_is_not_retried(database: Database, receiver: Receiver) -> None:
    dns = Dns({"hooks.rebind.test": ["93.184.216.34"]})
    hooks = WebhookService(database, resolve=dns)
    hooks.create("ci", f"http://hooks.rebind.test:{receiver.port}/hook", ["*"])
    dns.answers["hooks.rebind.test"] = ["127.0.0.1"]
    _record(database)
    dispatcher = WebhookDispatcher(database, resolve=dns, jitter_ratio=0.0, timeout_s=5.0, backoff_base_s=0.0)
    try:
        attempts = [dispatcher.run_once(), dispatcher.run_once()]
    finally:
        dispatcher.stop()
    assert [1, 0] == attempts


def test_delivery_connects_to_the_checked_address_with_the_original_host_header(
    database: Database, receiver: Receiver
) -> None:
    # Only the guard's resolver knows this name: the POST arrives only if it goes to the address that was checked.
    dns = Dns({"receiver.pinned.test": ["127.0.0.1"]})
    hooks = WebhookService(database, resolve=dns, outbound_allowlist=["127.0.0.1"])
    made = hooks.create("ci", f"http://receiver.pinned.test:{receiver.port}/hook", ["*"])
    _record(database)
    dispatcher = WebhookDispatcher(
        database, resolve=dns, outbound_allowlist=["127.0.0.1"], jitter_ratio=0.0, timeout_s=5.0
    )
    try:
        dispatcher.run_once()
    finally:
        dispatcher.stop()
    assert ("DELIVERED", f"receiver.pinned.test:{receiver.port}") == (
        hooks.deliveries(made.webhook_id)[0].status,
        receiver.received[0][1]["host"],
    )


def test_redirect_to_another_address_is_not_followed(
    database: Database, receiver: Receiver, second_receiver: Receiver
) -> None:
    receiver.redirect_to = second_receiver.url()
    hooks = WebhookService(database, outbound_allowlist=["127.0.0.1"])
    made = hooks.create("ci", receiver.url(), ["*"])
    _record(database)
    dispatcher = WebhookDispatcher(database, outbound_allowlist=["127.0.0.1"], jitter_ratio=0.0, timeout_s=5.0)
    try:
        dispatcher.run_once()
    finally:
        dispatcher.stop()
    assert (302, 1, []) == (
        hooks.deliveries(made.webhook_id)[0].last_status_code,
        len(receiver.received),
        second_receiver.received,
    )
