"""``shipyard webhooks``: subscribe URLs to registry events, inspect the delivery log, send test deliveries."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Protocol
from urllib.parse import quote

import typer
from rich.table import Table

from shipyard.cli._common import TrackingUri, console, format_ms, handle_errors
from shipyard.config import Settings
from shipyard.events import Delivery, DeliveryAttempt, Webhook
from shipyard.events.webhooks import delivery_from_json, webhook_from_json

if TYPE_CHECKING:
    from shipyard.client.http import RestBackend

__all__ = ["app"]

app = typer.Typer(help="Manage registry webhooks and their delivery log.", no_args_is_help=True)

_MLFLOW = "/api/2.0/mlflow/webhooks"


class _Webhooks(Protocol):
    """What the commands need; WebhookService (embedded) and _RemoteWebhooks (a server) both provide it."""

    def create(
        self, name: str, url: str, events: Sequence[str], *, description: str | None = ..., secret: str | None = ...
    ) -> Webhook: ...
    def get(self, webhook_id: str) -> Webhook: ...
    def update(self, webhook_id: str, *, status: str | None = ...) -> Webhook: ...
    def delete(self, webhook_id: str) -> None: ...
    def deliveries(self, webhook_id: str, limit: int = ...) -> list[Delivery]: ...
    def test(self, webhook_id: str, kind: str | None = ...) -> DeliveryAttempt: ...
    def list(self, max_results: int = ..., page_token: str | None = ...) -> tuple[list[Webhook], str | None]: ...


class _RemoteWebhooks:
    """The webhook commands against a server, through its REST routes."""

    def __init__(self, rest: RestBackend) -> None:
        self.rest = rest

    def _one(self, webhook_id: str) -> str:
        return f"{_MLFLOW}/{quote(webhook_id, safe='')}"

    def create(
        self,
        name: str,
        url: str,
        events: Sequence[str],
        *,
        description: str | None = None,
        secret: str | None = None,
    ) -> Webhook:
        body = {"name": name, "url": url, "events": list(events), "description": description, "secret": secret}
        answer = self.rest.request("POST", _MLFLOW, {k: v for k, v in body.items() if v is not None})
        return webhook_from_json(answer["webhook"])

    def get(self, webhook_id: str) -> Webhook:
        return webhook_from_json(self.rest.request("GET", self._one(webhook_id))["webhook"])

    def update(self, webhook_id: str, *, status: str | None = None) -> Webhook:
        answer = self.rest.request("PATCH", self._one(webhook_id), {"status": status} if status else {})
        return webhook_from_json(answer["webhook"])

    def delete(self, webhook_id: str) -> None:
        self.rest.request("DELETE", self._one(webhook_id))

    def deliveries(self, webhook_id: str, limit: int = 50) -> list[Delivery]:
        path = f"/api/v1/webhooks/{quote(webhook_id, safe='')}/deliveries"
        return [delivery_from_json(d) for d in self.rest.request("GET", path, {"limit": limit})["deliveries"]]

    def test(self, webhook_id: str, kind: str | None = None) -> DeliveryAttempt:
        result = self.rest.request("POST", f"{self._one(webhook_id)}/test", {"event": kind} if kind else {})["result"]
        return DeliveryAttempt(result.get("response_status"), result.get("response_body"), result.get("error_message"))

    def list(self, max_results: int = 100, page_token: str | None = None) -> tuple[list[Webhook], str | None]:
        query: dict[str, Any] = {"max_results": max_results}
        if page_token:
            query["page_token"] = page_token
        answer = self.rest.request("GET", _MLFLOW, query)
        return [webhook_from_json(w) for w in answer.get("webhooks", [])], answer.get("next_page_token")


@contextlib.contextmanager
def _webhooks_for(tracking_uri: str | None) -> Iterator[_Webhooks]:
    """A server's routes for ``http(s)://`` URIs, else the embedded (or named) store; errors print as one line."""
    settings = Settings.from_env()
    if tracking_uri is not None:
        settings = settings.with_overrides(tracking_uri=tracking_uri)
    uri = settings.tracking_uri
    with handle_errors():
        if uri.startswith(("http://", "https://")):
            from shipyard.client.http import RestBackend

            rest = RestBackend(uri, retries=1)
            try:
                yield _RemoteWebhooks(rest)
            finally:
                rest.close()
            return
        from shipyard.db import open_database
        from shipyard.events import WebhookService

        database = open_database(settings.embedded_store_uri)
        try:
            yield WebhookService(database, outbound_allowlist=settings.outbound_allowlist)
        finally:
            database.dispose()


def _status_style(status: str) -> str:
    return {"ACTIVE": "green", "DELIVERED": "green", "DISABLED": "yellow", "FAILED": "red"}.get(status, "")


@app.command()
def create(
    name: str,
    url: str,
    event: Annotated[
        list[str],
        typer.Option("--event", "-e", help="An event kind ('model_version.created', 'model_version.*', '*'); repeat."),
    ],
    secret: Annotated[
        str | None,
        typer.Option(envvar="SHIPYARD_WEBHOOK_SECRET", help="HMAC key to sign deliveries with (never shown again)."),
    ] = None,
    description: Annotated[str | None, typer.Option(help="What the webhook is for.")] = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Subscribe URL to registry events and print the webhook's id."""
    with _webhooks_for(tracking_uri) as hooks:
        webhook = hooks.create(name, url, event, description=description, secret=secret)
    typer.echo(webhook.webhook_id)


@app.command("list")
def list_webhooks(tracking_uri: TrackingUri = None) -> None:
    """List webhooks, newest first."""
    found: list[Webhook] = []
    with _webhooks_for(tracking_uri) as hooks:
        token: str | None = None
        while True:
            page, token = hooks.list(1000, token)
            found.extend(page)
            if not token:
                break
    table = Table("id", "name", "status", "events", "url", "signed", "created", title="Webhooks")
    for hook in found:
        style = _status_style(hook.status)
        table.add_row(
            hook.webhook_id,
            hook.name,
            f"[{style}]{hook.status}[/{style}]",
            ", ".join(hook.events),
            hook.url,
            "yes" if hook.has_secret else "no",
            format_ms(hook.creation_time_ms),
        )
    console.print(table)


@app.command()
def show(
    webhook_id: str,
    limit: Annotated[int, typer.Option(help="How many of the latest deliveries to show.")] = 20,
    tracking_uri: TrackingUri = None,
) -> None:
    """Show a webhook and its latest deliveries."""
    with _webhooks_for(tracking_uri) as hooks:
        hook = hooks.get(webhook_id)
        deliveries = hooks.deliveries(webhook_id, limit)
    console.print(f"[bold]{hook.name}[/bold]  {hook.webhook_id}  [{_status_style(hook.status)}]{hook.status}[/]")
    console.print(f"url:     {hook.url}", highlight=False)
    console.print(f"events:  {', '.join(hook.events)}", highlight=False)
    console.print(f"signed:  {'yes' if hook.has_secret else 'no'}")
    if hook.description:
        console.print(f"about:   {hook.description}", highlight=False)
    table = Table("delivery", "event", "status", "attempts", "last status", "last error", "created", "next / done")
    for d in deliveries:
        style = _status_style(d.status)
        when = (
            d.delivered_at_ms if d.status == "DELIVERED" else (d.next_attempt_at_ms if d.status == "PENDING" else None)
        )
        table.add_row(
            d.delivery_id,
            str(d.event_id),
            f"[{style}]{d.status}[/{style}]" if style else d.status,
            str(d.attempts),
            "" if d.last_status_code is None else str(d.last_status_code),
            (d.last_error or "")[:80],
            format_ms(d.created_at_ms),
            format_ms(when),
        )
    console.print(table)


@app.command()
def delete(webhook_id: str, tracking_uri: TrackingUri = None) -> None:
    """Delete a webhook and its delivery log."""
    with _webhooks_for(tracking_uri) as hooks:
        hooks.delete(webhook_id)
    typer.echo(f"Deleted webhook {webhook_id}.")


@app.command("test")
def send_test(
    webhook_id: str,
    event: Annotated[str | None, typer.Option("--event", "-e", help="The kind of example event to send.")] = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Send an example delivery now and show the answer; exits 1 unless the receiver answered 2xx."""
    with _webhooks_for(tracking_uri) as hooks:
        result = hooks.test(webhook_id, event)
    if result.status_code is None:
        console.print(f"[red]no answer:[/red] {result.error}", highlight=False)
    else:
        style = "green" if result.ok else "red"
        console.print(f"[{style}]HTTP {result.status_code}[/{style}] {result.response_body or ''}", highlight=False)
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def enable(webhook_id: str, tracking_uri: TrackingUri = None) -> None:
    """Resume deliveries to a webhook."""
    with _webhooks_for(tracking_uri) as hooks:
        hooks.update(webhook_id, status="ACTIVE")
    typer.echo(f"Enabled webhook {webhook_id}.")


@app.command()
def disable(webhook_id: str, tracking_uri: TrackingUri = None) -> None:
    """Stop deliveries to a webhook (its pending deliveries are given up, marked FAILED)."""
    with _webhooks_for(tracking_uri) as hooks:
        hooks.update(webhook_id, status="DISABLED")
    typer.echo(f"Disabled webhook {webhook_id}.")
