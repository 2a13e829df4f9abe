"""The capability registry is the one list: every entry resolves, and the app, the CLI, Alembic, the UI's top bar and
the permission checks each take exactly what it declares, a new entry included."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
import typer.main
from fastapi import APIRouter, FastAPI
from sqlalchemy import Table
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.testclient import TestClient
from typer.testing import CliRunner

import shipyard._capabilities as registry
from shipyard._capabilities import Capability, CliEntry, NavEntry, capabilities, resolve
from shipyard.auth import check_resource_type
from shipyard.config import Settings
from shipyard.db import metadata
from shipyard.errors import InvalidParameter
from shipyard.server import create_app

# --- a capability that exists only here, wired in by one entry (see the last tests) ----------------------------


async def _widgets(_request: Request) -> Response:
    return JSONResponse({"widgets": ["a", "b"]})


async def _widgets_page(_request: Request) -> Response:
    return HTMLResponse("<h1>Widgets</h1>")


def fake_routes() -> list[BaseRoute]:
    """The fake capability's API."""
    return [Route("/api/v1/widgets", _widgets, methods=["GET"])]


def fake_pages() -> list[BaseRoute]:
    """The fake capability's page."""
    return [Route("/widgets", _widgets_page, methods=["GET"])]


fake_cli = typer.Typer(help="Manage widgets.")


@fake_cli.command("count")
def _count() -> None:
    typer.echo("2 widgets")


FAKE = Capability(
    name="widgets",
    routes=(f"{__name__}:fake_routes",),
    pages=(f"{__name__}:fake_pages",),
    nav=(NavEntry("Widgets", "/widgets", 99),),
    cli=(CliEntry("widgets", f"{__name__}:fake_cli"),),
    resource_types=("widget",),
)


# --- helpers ---------------------------------------------------------------------------------------------------


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(home=tmp_path, artifacts_uri=str(tmp_path / "artifacts"), deliver_webhooks=False)
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as test_client:
        yield test_client


def _routes_of(references: tuple[str, ...]) -> list[BaseRoute]:
    found: list[BaseRoute] = []
    for reference in references:
        contributed = resolve(reference)
        if callable(contributed) and not isinstance(contributed, APIRouter):
            contributed = contributed()
        found.extend(contributed.routes if isinstance(contributed, APIRouter) else contributed)
    return found


def _signature(route: BaseRoute) -> tuple[str, frozenset[str]]:
    if isinstance(route, Route):
        return route.path, frozenset(route.methods or ())
    assert isinstance(route, Mount)
    return route.path, frozenset()


def _mounted(app: FastAPI) -> set[tuple[str, frozenset[str]]]:
    def flat(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
        for route in routes:
            included = getattr(route, "original_router", None)  # FastAPI keeps an included router whole
            yield from flat(included.routes) if included is not None else (route,)

    return {_signature(r) for r in flat(app.router.routes) if isinstance(r, Route | Mount)}


def _cli_names(group: typer.Typer) -> set[str]:
    """Every command path of a Typer app: ``"runs"``, ``"runs reproduce"``, ``"version"``…"""
    command = typer.main.get_command(group)
    names: set[str] = set()

    def walk(prefix: str, node: object) -> None:
        for name, child in getattr(node, "commands", {}).items():
            path = f"{prefix} {name}".strip()
            names.add(path)
            walk(path, child)

    walk("", command)
    return names


# --- every entry resolves ---------------------------------------------------------------------------------------


def test_every_capability_declares_a_unique_name_and_resolves_every_reference() -> None:
    found = capabilities()
    references = [
        *(c.tables for c in found if c.tables),
        *(r for c in found for r in (*c.routes, *c.pages)),
        *(e.target for c in found for e in c.cli),
    ]
    unresolved = [r for r in references if resolve(r) is None]
    assert (list(registry.CAPABILITIES), unresolved) == ([c.name for c in found], [])


def test_names_paths_and_resource_types_are_declared_once() -> None:
    found = capabilities()
    lists = {
        "cli": [e.name for c in found for e in c.cli],
        "nav": [e.path for c in found for e in c.nav],
        "resource_types": [t for c in found for t in c.resource_types],
    }
    assert {k: sorted(set(v)) for k, v in lists.items()} == {k: sorted(v) for k, v in lists.items()}


def test_a_wrong_entry_is_refused_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.CAPABILITIES, "broken", f"{__name__}:fake_routes")
    with pytest.raises(TypeError, match="'broken'"):
        capabilities()


# --- Alembic: the tables ------------------------------------------------------------------------------------------


def test_the_declared_tables_modules_hold_exactly_the_shared_metadata() -> None:
    declared: set[Table] = set()
    for module_name in registry.tables_modules():
        module = importlib.import_module(module_name)
        declared |= {v for v in vars(module).values() if isinstance(v, Table)}
    assert (all(t.metadata is metadata for t in declared), set(metadata.tables.values())) == (True, declared)


# --- the CLI, the server, the top bar, the permissions ---------------------------------------------------------


def test_the_cli_root_has_every_declared_command() -> None:
    from shipyard.cli.main import app

    declared = {e.name for c in capabilities() for e in c.cli}
    assert declared - _cli_names(app) == set()


def test_create_app_mounts_every_declared_route_and_page(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    declared = {_signature(r) for c in capabilities() for r in _routes_of((*c.routes, *c.pages))}
    assert declared - _mounted(app) == set()


def test_the_top_bar_links_every_declared_page_in_order(client: TestClient) -> None:
    html = client.get("/login").text
    entries = [e for c in capabilities() for e in c.nav]
    positions = [html.find(f'<a href="{e.path}">{e.label}</a>') for e in sorted(entries, key=lambda e: e.order)]
    assert (min(positions) >= 0, positions) == (True, sorted(positions))


def test_permissions_accept_exactly_the_declared_resource_types() -> None:
    check_resource_type("experiment")
    with pytest.raises(InvalidParameter, match="expected one of experiment, registered_model, deployment"):
        check_resource_type("widget")


def test_the_registry_and_monitoring_declare_the_kinds_they_record() -> None:
    from shipyard.events.webhooks import KNOWN_KINDS
    from shipyard.monitoring.monitors._store import ALERT_FIRED, ALERT_RESOLVED

    declared = registry.event_kinds()

    def covered(kind: str) -> bool:
        return kind in declared or f"{kind.split('.', 1)[0]}.*" in declared

    assert [k for k in sorted(KNOWN_KINDS | {ALERT_FIRED, ALERT_RESOLVED}) if not covered(k)] == []


# --- one more entry: its route, page, top-bar link, command and resource type appear --------------------------


def test_a_new_entry_adds_its_route_page_and_link(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(registry.CAPABILITIES, "widgets", f"{__name__}:FAKE")
    settings = Settings(home=tmp_path, artifacts_uri=str(tmp_path / "artifacts"), deliver_webhooks=False)
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as test_client:
        api = test_client.get("/api/v1/widgets").json()
        page = test_client.get("/widgets").text
        top_bar = test_client.get("/login").text
    assert (api, "<h1>Widgets</h1>" in page, '<a href="/widgets">Widgets</a>' in top_bar) == (
        {"widgets": ["a", "b"]},
        True,
        True,
    )


def test_a_new_entry_adds_its_command_group(monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.cli.main import build_cli

    monkeypatch.setitem(registry.CAPABILITIES, "widgets", f"{__name__}:FAKE")
    result = CliRunner().invoke(build_cli(), ["widgets", "count"])
    assert (result.exit_code, result.output) == (0, "2 widgets\n")


def test_a_new_entry_adds_its_resource_type(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.CAPABILITIES, "widgets", f"{__name__}:FAKE")
    check_resource_type("widget")
    assert registry.resource_types()[-1] == "widget"
