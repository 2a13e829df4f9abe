"""The permission grid has a row for every native route: a new ``/api/v1`` route fails here until it gets one.

`COVERAGE` names, per native operation, the rows of `_grid_routes` that call it; the operations come from the
server's OpenAPI document, which lists every native route (see ``tests/integration/test_openapi_fuzz.py``).
"""

from __future__ import annotations

from pathlib import Path

from shipyard.config import Settings
from shipyard.server.app import create_app
from tests.security._grid_routes import server_routes

_KINDS = ("experiment", "model", "deployment")

COVERAGE: dict[str, tuple[str, ...]] = {
    "GET /api/v1/models/{name}/history": ("native-model-history",),
    "GET /api/v1/models/{name}/versions/{version}/lineage": ("native-version-lineage",),
    "GET /api/v1/models/{name}/versions/{version}/card": ("native-version-card",),
    "GET /api/v1/monitors": ("native-monitor-list",),
    "POST /api/v1/monitors": ("native-monitor-create", "native-monitor-create-foreign-reference"),
    "GET /api/v1/monitors/{name}": ("native-monitor-get",),
    "GET /api/v1/monitors/{name}/alerts": ("native-monitor-alerts",),
    "POST /api/v1/monitors/{name}/run": ("native-monitor-run",),
    "DELETE /api/v1/monitors/{name}": ("native-monitor-delete",),
    "GET /api/v1/webhooks/{webhook_id}/deliveries": ("native-webhook-deliveries",),
    "GET /api/v1/auth/whoami": ("native-whoami",),
    "POST /api/v1/auth/tokens": ("native-token-create-own", "native-token-create-other"),
    "GET /api/v1/auth/tokens": ("native-tokens-list-own", "native-tokens-list-other"),
    "DELETE /api/v1/auth/tokens/{token_id}": ("native-token-revoke-own", "native-token-revoke-other"),
    "POST /api/v1/auth/users": ("native-user-create",),
    "GET /api/v1/auth/users": ("native-users-list",),
    "GET /api/v1/auth/users/{username}": ("native-user-get-own", "native-user-get-other"),
    "PATCH /api/v1/auth/users/{username}": ("native-user-update-own", "native-user-update-other"),
    "DELETE /api/v1/auth/users/{username}": ("native-user-delete",),
    "GET /api/v1/auth/permissions": tuple(f"native-permissions-list-{kind}" for kind in _KINDS),
    "GET /api/v1/auth/permissions/mine": ("native-permissions-mine",),
    "PUT /api/v1/auth/permissions": tuple(f"native-permissions-grant-{kind}" for kind in _KINDS),
    "DELETE /api/v1/auth/permissions": tuple(f"native-permissions-revoke-{kind}" for kind in _KINDS),
}


def test_the_grid_has_a_row_for_every_native_route(tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path))
    operations = {f"{method.upper()} {path}" for path, methods in app.openapi()["paths"].items() for method in methods}
    rows = {row.id for row in server_routes()}

    named = {row for ids in COVERAGE.values() for row in ids}
    native_rows = {row for row in rows if row.startswith("native-")}
    assert (operations, set(), set()) == (set(COVERAGE), named - rows, native_rows - named)
    app.state.context.database.dispose()
