"""One way to guard a route: every route of ``create_app`` declares the permission it needs (issue 14).

Every family declares its requirement on the endpoint it registers, read back by `requirement_of`:

* native routes (``/api/v1``) are `GuardedRoute`\\ s built by `shipyard.server._routes.route`, whose requirement
  is mandatory (a route without one raises at import);
* MLflow routes are rows of the ``ROUTES`` tables in ``shipyard.server.mlflow_api``; each endpoint declares and
  checks the requirement its handler has in ``_policy.py`` (a handler without one cannot be routed);
* the artifact proxy, the web UI's pages and forms (`page` and `action` take a mandatory ``requires``), the static
  files, the app's own routes and FastAPI's API docs declare theirs with `shipyard.server._routes.declare`.

So a new route that declares nothing fails the walk, and each family refuses to register one without it.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, routing
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from shipyard.auth import Level
from shipyard.config import Settings
from shipyard.server import mlflow_api
from shipyard.server._auth import open_to_anyone
from shipyard.server._routes import (
    PUBLIC,
    Access,
    Admin,
    Arg,
    GuardedRoute,
    Requirement,
    SignedIn,
    UnguardedRoute,
    declare,
    native_router,
    requirement_of,
    route,
)
from shipyard.server.api import native_routers
from shipyard.server.api.models import RegisteredModel
from shipyard.server.app import create_app
from shipyard.server.mlflow_api import artifacts
from shipyard.server.mlflow_api._policy import requirement_for
from shipyard.server.ui import routes as ui


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """The server as ``shipyard server`` builds it (SQLite in a temporary folder)."""
    built = create_app(Settings(home=tmp_path_factory.mktemp("route-guards")))
    yield built
    built.state.context.database.dispose()


def _registered(app: FastAPI) -> list[BaseRoute]:
    """Every route of the app, included routers opened up."""
    iterate = getattr(routing, "iter_route_contexts", None)
    if iterate is None:  # FastAPI before included routers were kept whole: app.routes holds every route
        return list(app.routes)
    return [context.original_route for context in iterate(app.routes)]


def _operations(registered: BaseRoute) -> list[str]:
    """``METHOD /path`` for each method a route answers (HEAD, which Starlette adds to GET, left out)."""
    if isinstance(registered, Mount):
        return [f"MOUNT {registered.path}"]
    methods = sorted(set(getattr(registered, "methods", None) or ()) - {"HEAD"})
    return [f"{method} {getattr(registered, 'path', '?')}" for method in methods]


def _mlflow_table() -> dict[str, Callable[..., object]]:
    """``METHOD /path`` of every row of the MLflow family's route tables, under both of its prefixes."""
    table: dict[str, Callable[..., object]] = {}
    for info in pkgutil.iter_modules(mlflow_api.__path__):
        module = importlib.import_module(f"{mlflow_api.__name__}.{info.name}")
        for method, path, handler in getattr(module, "ROUTES", ()):
            for prefix in mlflow_api.API_PREFIXES:
                table[f"{method} {prefix}{path}"] = handler
    return table


def _undeclared(app: FastAPI) -> list[str]:
    """Every operation of ``app`` whose route declares no requirement."""
    return [
        operation
        for registered in _registered(app)
        for operation in _operations(registered)
        if not isinstance(requirement_of(registered), Requirement)
    ]


def _sample_path(registered: BaseRoute) -> str:
    """A path the route answers: each ``{parameter}`` filled in, a file below a mount."""
    path = re.sub(r"\{[^}]+\}", "x", getattr(registered, "path", ""))
    return f"{path}/x" if isinstance(registered, Mount) else path


def test_every_native_route_declares_its_requirement(app: FastAPI) -> None:
    native = [r for r in _registered(app) if isinstance(r, APIRoute)]

    undeclared = [op for r in native for op in _operations(r) if not isinstance(requirement_of(r), Requirement)]
    outside = [op for r in native for op in _operations(r) if " /api/v1/" not in op]
    assert (True, [], []) == (len(native) >= 19, undeclared, outside)
    assert all(isinstance(r, GuardedRoute) for r in native)


def test_the_capabilities_mount_every_native_router(app: FastAPI) -> None:
    defined = {op for router in native_routers() for r in router.routes for op in _operations(r)}
    mounted = {op for r in _registered(app) if isinstance(r, APIRoute) for op in _operations(r)}

    assert (set(), True) == (defined - mounted, len(defined) >= 19)


def test_every_mlflow_route_declares_the_requirement_of_its_handler_in_the_policy_table(app: FastAPI) -> None:
    mlflow = _mlflow_table()
    served = {op: r for r in _registered(app) if isinstance(r, Route) for op in _operations(r)}

    routed = set(served) & set(mlflow)
    mismatched = sorted(op for op in routed if requirement_of(served[op]) is not requirement_for(mlflow[op]))
    assert (True, set(), []) == (len(routed) >= 100, set(mlflow) - routed, mismatched)


def test_every_route_of_every_family_declares_a_requirement(app: FastAPI) -> None:
    described = {
        operation: requirement.describe()
        for registered in _registered(app)
        if isinstance(requirement := requirement_of(registered), Requirement)
        for operation in _operations(registered)
    }

    assert ([], True, []) == (_undeclared(app), len(described) >= 160, [op for op, d in described.items() if not d])


def test_the_routes_declared_public_are_the_ones_authentication_lets_through_signed_out(app: FastAPI) -> None:
    declared_public = {
        operation
        for registered in _registered(app)
        if requirement_of(registered) is PUBLIC
        for operation in _operations(registered)
    }
    let_through = {
        operation
        for registered in _registered(app)
        if open_to_anyone(_sample_path(registered))
        for operation in _operations(registered)
    }

    expected = {"GET /health", "GET /version", "GET /login", "POST /login", "MOUNT /ui/static"}
    assert (expected, expected) == (declared_public, let_through)


def test_the_walk_finds_a_route_that_declares_nothing(tmp_path: Path) -> None:
    built = create_app(Settings(home=tmp_path))

    async def open_route(_request: Request) -> Response:
        return PlainTextResponse("open")

    built.add_route("/open", open_route, methods=["GET"])

    assert ["GET /open"] == _undeclared(built)
    built.state.context.database.dispose()


def test_a_native_route_without_a_requirement_cannot_be_registered() -> None:
    router = native_router("/api/v1/things", "things")

    def unguarded() -> dict[str, Any]:
        return {}

    with pytest.raises(UnguardedRoute, match="declares no required permission"):
        router.get("/open")(unguarded)
    with pytest.raises(UnguardedRoute, match="must be a Requirement"):
        route(router, "GET", "/open", requires=None, answers=GuardedRoute)  # type: ignore[arg-type]
    assert [] == router.routes


def test_an_mlflow_handler_without_a_requirement_cannot_be_routed() -> None:
    def unguarded(_ctx: Any, _fields: Any) -> dict[str, Any]:
        return {}

    with pytest.raises(UnguardedRoute, match="declares no required permission"):
        mlflow_api._endpoint(unguarded)


def test_an_artifact_route_without_a_requirement_cannot_be_registered() -> None:
    with pytest.raises(UnguardedRoute, match="must be a Requirement"):
        artifacts._guarded(None)  # type: ignore[arg-type]


def test_a_ui_page_or_form_without_a_requirement_cannot_be_registered() -> None:
    def build(*_args: Any) -> Response:
        return PlainTextResponse("page")

    with pytest.raises(UnguardedRoute, match="must be a Requirement"):
        ui.page(build, requires=None)  # type: ignore[arg-type]
    with pytest.raises(UnguardedRoute, match="must be a Requirement"):
        ui.action(build, requires="signed in")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="requires"):
        ui.page(build)  # type: ignore[call-arg]


def test_a_ui_page_declares_the_requirement_it_was_given() -> None:
    def build(*_args: Any) -> Response:
        return PlainTextResponse("page")

    assert PUBLIC is requirement_of(Route("/p", ui.page(build, requires=PUBLIC)))


def test_declare_refuses_what_is_not_a_requirement() -> None:
    with pytest.raises(UnguardedRoute, match="must be a Requirement"):
        declare(None)  # type: ignore[arg-type]


def test_a_declared_requirement_is_read_back_from_any_route() -> None:
    @declare(PUBLIC)
    async def health(_request: Any) -> Any:
        return None

    assert (PUBLIC, None) == (requirement_of(Route("/health", health)), requirement_of(Route("/x", lambda r: r)))


@pytest.mark.parametrize(
    ("requirement", "expected"),
    [
        (PUBLIC, "public"),
        (SignedIn("lists only what the caller may read"), "signed in; lists only what the caller may read"),
        (Admin("list users"), "admin (to list users)"),
        (Access(Level.READ, RegisteredModel(Arg("name"))), "READ on the registered model named by 'name'"),
    ],
)
def test_requirements_describe_themselves_for_the_api_document(requirement: Requirement, expected: str) -> None:
    assert expected == requirement.describe()


def test_arg_finds_values_in_path_parameters_and_models(tmp_path: Path) -> None:
    class Body:
        resource_id = "7"

    arguments = {"name": "m", "body": Body(), "query": {"username": "ann"}}

    found = [Arg(where)(None, arguments) for where in ("name", "body.resource_id", "query.username", "body.missing")]

    assert ["m", "7", "ann", None] == found
