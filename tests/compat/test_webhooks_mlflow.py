"""Registry webhooks through MLflow's own client: create, list, get, update, test and delete."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from mlflow import MlflowClient
from mlflow.entities.webhook import WebhookEvent, WebhookStatus
from mlflow.exceptions import MlflowException

from tests.compat.conftest import compat_target
from tests.support.servers import RunningServer, shipyard_server

pytestmark = pytest.mark.compat

URL = "https://hooks.example.com/compat"
SECRET = "compat-secret"
MV_CREATED = WebhookEvent("model_version", "created")
ALIAS_CREATED = WebhookEvent("model_version_alias", "created")
# MLflow's server resolves webhook hosts, refuses private addresses and allows only https by default. To run the
# receiver tests against it, start the suite with MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true and
# MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https (the server inherits them).
NEEDS_PRIVATE_CALLS = pytest.mark.skipif(
    compat_target() == "mlflow"
    and "http" not in os.environ.get("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", "").replace("https", "").split(","),
    reason="MLflow's server needs MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true and MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https",
)


@pytest.fixture(scope="module")
def webhook_server(tracking_server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Shipyard: a server whose outbound allow-list names the loopback receiver (refused by default); MLflow: the
    suite's server (see NEEDS_PRIVATE_CALLS)."""
    if compat_target() != "shipyard":
        yield tracking_server
        return
    root = tmp_path_factory.mktemp("webhooks-server")
    with shipyard_server(root, env={"SHIPYARD_OUTBOUND_ALLOWLIST": "127.0.0.1"}) as server:
        yield server


@pytest.fixture(scope="module")
def client(webhook_server: RunningServer) -> MlflowClient:
    """An ``MlflowClient`` bound to the webhook server."""
    return MlflowClient(tracking_uri=webhook_server.url)


@pytest.fixture
def make_webhook(client: MlflowClient, unique_name: Callable[[str], str]) -> Iterator[Callable[..., Any]]:
    """Create webhooks with unique names; delete whatever is left at the end."""
    made: list[str] = []

    def make(**options: Any) -> Any:
        settings = {"name": unique_name("hook")[-60:].strip("-"), "url": URL, "events": [MV_CREATED], **options}
        webhook = client.create_webhook(**settings)
        made.append(webhook.webhook_id)
        return webhook

    yield make
    for webhook_id in made:
        with contextlib.suppress(MlflowException):
            client.delete_webhook(webhook_id)


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """A local HTTP endpoint that answers 200 and records each POST as (headers, body)."""
    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def test_create_webhook_returns_the_subscription(make_webhook: Callable[..., Any]) -> None:
    webhook = make_webhook(description="compat", secret=SECRET)
    assert (URL, [MV_CREATED], "compat", WebhookStatus.ACTIVE, None) == (
        webhook.url,
        webhook.events,
        webhook.description,
        webhook.status,
        webhook.secret,
    )


def test_get_webhook_returns_what_was_created(client: MlflowClient, make_webhook: Callable[..., Any]) -> None:
    made = make_webhook()
    got = client.get_webhook(made.webhook_id)
    assert (made.name, made.url, made.events, made.creation_timestamp) == (
        got.name,
        got.url,
        got.events,
        got.creation_timestamp,
    )


def test_list_webhooks_includes_a_new_webhook(client: MlflowClient, make_webhook: Callable[..., Any]) -> None:
    made = make_webhook()
    ids = [w.webhook_id for w in client.list_webhooks(max_results=1000)]
    assert made.webhook_id in ids


def test_list_webhooks_pages(client: MlflowClient, make_webhook: Callable[..., Any]) -> None:
    make_webhook()
    make_webhook()
    page = client.list_webhooks(max_results=1)
    assert (1, True) == (len(page), bool(page.token))


def test_alias_created_round_trips_as_one_event(client: MlflowClient, make_webhook: Callable[..., Any]) -> None:
    made = make_webhook(events=[ALIAS_CREATED])
    assert [ALIAS_CREATED] == client.get_webhook(made.webhook_id).events


def test_update_webhook_disables_and_renames(client: MlflowClient, make_webhook: Callable[..., Any]) -> None:
    made = make_webhook()
    client.update_webhook(made.webhook_id, name="renamed-hook", status=WebhookStatus.DISABLED)
    got = client.get_webhook(made.webhook_id)
    assert ("renamed-hook", WebhookStatus.DISABLED, made.url) == (got.name, got.status, got.url)


def test_update_webhook_events(client: MlflowClient, make_webhook: Callable[..., Any]) -> None:
    made = make_webhook()
    client.update_webhook(made.webhook_id, events=[ALIAS_CREATED, "model_version_tag.set"])
    expected = [ALIAS_CREATED, WebhookEvent("model_version_tag", "set")]
    assert sorted(map(str, expected)) == sorted(map(str, client.get_webhook(made.webhook_id).events))


def test_delete_webhook_then_get_is_not_found(client: MlflowClient, make_webhook: Callable[..., Any]) -> None:
    made = make_webhook()
    client.delete_webhook(made.webhook_id)
    with pytest.raises(MlflowException) as caught:
        client.get_webhook(made.webhook_id)
    assert "RESOURCE_DOES_NOT_EXIST" == caught.value.error_code


def test_bad_url_scheme_is_rejected(make_webhook: Callable[..., Any]) -> None:
    with pytest.raises(MlflowException) as caught:
        make_webhook(url="ftp://hooks.example.com/x")
    assert "INVALID_PARAMETER_VALUE" == caught.value.error_code


@NEEDS_PRIVATE_CALLS
def test_test_webhook_reaches_the_receiver(
    client: MlflowClient,
    make_webhook: Callable[..., Any],
    receiver: tuple[str, list[tuple[dict[str, str], bytes]]],
) -> None:
    url, received = receiver
    made = make_webhook(url=url, secret=SECRET)
    result = client.test_webhook(made.webhook_id)
    assert (True, 200, "ok", "model_version", "created") == (
        result.success,
        result.response_status,
        result.response_body,
        json.loads(received[0][1])["entity"],
        json.loads(received[0][1])["action"],
    )


@NEEDS_PRIVATE_CALLS
def test_test_webhook_is_signed_as_mlflow_signs(
    client: MlflowClient,
    make_webhook: Callable[..., Any],
    receiver: tuple[str, list[tuple[dict[str, str], bytes]]],
) -> None:
    from mlflow.webhooks.delivery import _generate_hmac_signature

    url, received = receiver
    made = make_webhook(url=url, secret=SECRET)
    client.test_webhook(made.webhook_id)
    headers, body = received[0]
    expected = _generate_hmac_signature(
        SECRET, headers["x-mlflow-delivery-id"], headers["x-mlflow-timestamp"], body.decode()
    )
    assert expected == headers["x-mlflow-signature"]
