"""``shipyard webhooks``: subscribe URLs to registry events, inspect the delivery log, send test deliveries."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated

import typer
from rich.table import Table

from shipyard.cli._common import TrackingUri, clients_for, console, format_ms
from shipyard.client.ports import WebhooksPort
from shipyard.events import Webhook

__all__ = ["app"]

app = typer.Typer(help="Manage registry webhooks and their delivery log.", no_args_is_help=True)


@contextlib.contextmanager
def _webhooks_for(tracking_uri: str | None) -> Iterator[WebhooksPort]:
    """The server's routes for an ``http(s)://`` tracking URI, else the store; errors print as one line."""
    with clients_for(tracking_uri) as clients:
        yield clients.webhooks


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
