"""The web UI's routes: server-rendered pages, registry forms, raw artifacts, a metric-history JSON endpoint
and static files. Every route declares what it requires (`page` and `action` take it as a mandatory argument)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from shipyard._http_errors import ErrorKind, http_error
from shipyard.auth import Level
from shipyard.server._auth import SESSION_COOKIE
from shipyard.server._context import AppContext, context_of
from shipyard.server._json import json_response
from shipyard.server._routes import PUBLIC, Requirement, SignedIn, declare
from shipyard.server.ui import _account, _login, _model_pages, _monitoring_pages, _tracking_pages
from shipyard.server.ui._render import error_page
from shipyard.server.ui._requirements import (
    ACCOUNT,
    EDIT_MODEL,
    READ_EXPERIMENT,
    READ_MODEL,
    READ_MONITOR,
    READ_RUN,
    READ_RUNS,
    READ_VERSION,
)
from shipyard.server.ui._viewer import Viewer, csrf_matches, remember_csrf, viewer_of

__all__ = [
    "STATIC_DIR",
    "UI_ACTOR",
    "account_pages",
    "action",
    "monitoring_pages",
    "page",
    "registry_pages",
    "tracking_pages",
    "ui_actor",
    "ui_routes",
]

STATIC_DIR = Path(__file__).parent / "static"
_log = logging.getLogger("shipyard.server.ui")

Page = Callable[[AppContext, Viewer, QueryParams, dict[str, Any]], Response]
Action = Callable[[AppContext, Viewer, dict[str, str], dict[str, Any], str], Response]
UI_ACTOR = "web-ui"
MAX_FORM_BYTES = 64 * 1024
_STALE_FORM = "This form's security token is missing or out of date; reload the page and send the form again."
_FORM_TYPE = "application/x-www-form-urlencoded"
# The listings: any signed-in viewer, shown only what they may read (filtered in SQL or per row).
_LISTS_EXPERIMENTS = SignedIn("lists only the experiments the caller may read")
_LISTS_MODELS = SignedIn("lists only the registered models the caller may read")
_LISTS_MONITORS = SignedIn("lists only the monitors of deployments the caller may read")


async def _guarded(request: Request, build: Callable[..., Response], viewer: Viewer, *args: Any) -> Response:
    """Run ``build(context, viewer, *args)`` in a worker thread, turning every error into a friendly HTML page."""
    secure = request.url.scheme == "https"
    return remember_csrf(await _built(request, build, viewer, *args), viewer, secure=secure)


async def _built(request: Request, build: Callable[..., Response], *args: Any) -> Response:
    try:
        return await run_in_threadpool(build, context_of(request), *args)
    except Exception as exc:
        return _error_page(request, exc)


def _error_page(request: Request, exc: Exception) -> Response:
    """The page for a failed build: the status `http_error` gives, in words for a person at a browser."""
    failure = http_error(exc)
    if failure.kind is ErrorKind.REFUSED:
        if failure.status >= 500:
            _log.warning("UI page failed: %s", failure.message)
        return error_page(failure.status, failure.message)
    if failure.kind is ErrorKind.UNAVAILABLE:
        _log.warning("database unavailable: %s", exc)
        return error_page(503, "The metadata store is busy or unreachable; reload the page in a moment.")
    _log.error("unexpected error in UI page %s", request.url.path, exc_info=exc)
    return error_page(500, "The page could not be built; the server log has the details.")


def page(build: Page, *, requires: Requirement) -> Callable[[Request], Any]:
    """An endpoint that builds a page in a worker thread and turns every error into a friendly HTML page.

    Args:
        build: the page; it checks ``requires`` itself (see `shipyard.server.ui._requirements`).
        requires: what the page requires (mandatory), declared on the endpoint for `requirement_of`.

    Raises:
        UnguardedRoute: ``requires`` is not a `Requirement`.
    """
    declared = declare(requires)

    async def endpoint(request: Request) -> Response:
        return await _guarded(request, build, viewer_of(request), request.query_params, request.path_params)

    endpoint.__name__ = build.__name__
    return declared(endpoint)


def ui_actor(viewer: Viewer) -> str:
    """Who is changing the registry through the UI, for its history: the signed-in user, else ``web-ui``."""
    return viewer.username or UI_ACTOR


def _same_origin(request: Request) -> bool:
    """Whether a form was posted from one of our own pages (a cross-site form must not move an alias)."""
    origin = request.headers.get("origin")
    if origin is not None:
        return urlsplit(origin).netloc == request.headers.get("host", "")
    return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


async def _read_form(request: Request) -> dict[str, str] | None:
    """The posted form's fields (the last value of a repeated name wins), or None when it is too large."""
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_FORM_BYTES:
            return None
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


async def _posted_form(request: Request) -> tuple[Viewer, dict[str, str]] | Response:
    """The viewer and fields of a form posted from one of our pages with its CSRF token, or the error page."""
    if not _same_origin(request):
        return error_page(403, "This form was sent from another site; open the page here and send it again.")
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != _FORM_TYPE:
        return error_page(400, f"Send the form as {_FORM_TYPE}, as the page's own form does.")
    form = await _read_form(request)
    if form is None:
        return error_page(413, f"The form is larger than {MAX_FORM_BYTES // 1024} KB.")
    viewer = viewer_of(request)
    if not csrf_matches(viewer, form):
        return error_page(403, _STALE_FORM)
    return viewer, form


def action(handle: Action, *, requires: Requirement) -> Callable[[Request], Any]:
    """An endpoint for a POSTed form: checks where it came from, parses it, and runs ``handle`` like a page.

    Args:
        handle: the form's handler; it checks ``requires`` itself, like a page.
        requires: what the form requires (mandatory), declared on the endpoint for `requirement_of`.

    Raises:
        UnguardedRoute: ``requires`` is not a `Requirement`.
    """
    declared = declare(requires)

    async def endpoint(request: Request) -> Response:
        posted = await _posted_form(request)
        if isinstance(posted, Response):
            return posted
        viewer, form = posted
        return await _guarded(request, handle, viewer, form, request.path_params, ui_actor(viewer))

    endpoint.__name__ = handle.__name__
    return declared(endpoint)


@declare(READ_RUN)
async def metric_history(request: Request) -> Response:
    """``GET /ui/api/runs/{run_id}/metrics/{key}``: every point of one metric, ordered by step."""
    ctx = context_of(request)
    run_id, key = request.path_params["run_id"], request.path_params["key"]
    await run_in_threadpool(ctx.access.run, viewer_of(request).principal, run_id, Level.READ)
    history, _ = await run_in_threadpool(ctx.tracking.get_metric_history, run_id, key)
    points = sorted(history, key=lambda m: (m.step, m.timestamp_ms))
    return json_response(
        {
            "run_id": run_id,
            "key": key,
            "points": [{"step": m.step, "value": m.value, "timestamp_ms": m.timestamp_ms} for m in points],
        }
    )


@declare(PUBLIC)
async def _login_post(request: Request) -> Response:
    """``POST /login``: check the form's origin and token, then sign in (see ``_login.sign_in``)."""
    posted = await _posted_form(request)
    if isinstance(posted, Response):
        return posted
    viewer, form = posted
    address = request.client.host if request.client else ""
    return await _guarded(request, _login.sign_in, viewer, form, request.url.scheme == "https", address)


@declare(SignedIn("ends the caller's own session"))  # authentication lets only /login through signed out
async def _logout_post(request: Request) -> Response:
    """``POST /logout``: end the session (the form must carry its token, so no other site can sign you out)."""
    posted = await _posted_form(request)
    if isinstance(posted, Response):
        return posted
    return await run_in_threadpool(_login.sign_out, context_of(request), request.cookies.get(SESSION_COOKIE))


def tracking_pages() -> list[BaseRoute]:
    """Tracking's pages: experiments, runs, comparison, raw artifacts and a run's metric history as JSON."""
    return [
        Route(
            "/",
            page(_tracking_pages.experiments_page, requires=_LISTS_EXPERIMENTS),
            methods=["GET"],
            name="ui_experiments",
        ),
        Route(
            "/experiments/{experiment_id}",
            page(_tracking_pages.runs_page, requires=READ_EXPERIMENT),
            methods=["GET"],
            name="ui_runs",
        ),
        Route("/runs/{run_id}", page(_tracking_pages.run_page, requires=READ_RUN), methods=["GET"], name="ui_run"),
        Route("/compare", page(_tracking_pages.compare_page, requires=READ_RUNS), methods=["GET"], name="ui_compare"),
        Route(
            "/ui/artifacts/{run_id}/raw",
            page(_tracking_pages.raw_artifact, requires=READ_RUN),
            methods=["GET"],
            name="ui_raw_artifact",
        ),
        Route("/ui/api/runs/{run_id}/metrics/{key:path}", metric_history, methods=["GET"], name="ui_metric_history"),
    ]


def registry_pages() -> list[BaseRoute]:
    """The registry's pages: models, versions, and the alias, stage and card forms."""
    return [
        Route("/models", page(_model_pages.models_page, requires=_LISTS_MODELS), methods=["GET"], name="ui_models"),
        Route("/models/{name}", page(_model_pages.model_page, requires=READ_MODEL), methods=["GET"], name="ui_model"),
        Route(
            "/models/{name}/aliases",
            action(_model_pages.set_alias_action, requires=EDIT_MODEL),
            methods=["POST"],
            name="ui_set_alias",
        ),
        Route(
            "/models/{name}/stage",
            action(_model_pages.stage_action, requires=EDIT_MODEL),
            methods=["POST"],
            name="ui_set_stage",
        ),
        Route(
            "/models/{name}/versions/{version}",
            page(_model_pages.version_page, requires=READ_VERSION),
            methods=["GET"],
            name="ui_version",
        ),
        Route(
            "/models/{name}/versions/{version}/card",
            action(_model_pages.card_action, requires=EDIT_MODEL),
            methods=["POST"],
            name="ui_version_card",
        ),
        Route(
            "/models/{name}/versions/{version}/raw",
            page(_model_pages.version_raw, requires=READ_VERSION),
            methods=["GET"],
            name="ui_version_raw",
        ),
    ]


def monitoring_pages() -> list[BaseRoute]:
    """Monitoring's pages: monitors, one monitor, one column's drift."""
    return [
        Route(
            "/monitoring",
            page(_monitoring_pages.monitors_page, requires=_LISTS_MONITORS),
            methods=["GET"],
            name="ui_monitors",
        ),
        Route(
            "/monitoring/{name}",
            page(_monitoring_pages.monitor_page, requires=READ_MONITOR),
            methods=["GET"],
            name="ui_monitor",
        ),
        Route(
            "/monitoring/{name}/columns/{column:path}",
            page(_monitoring_pages.column_page, requires=READ_MONITOR),
            methods=["GET"],
            name="ui_monitor_column",
        ),
    ]


def account_pages() -> list[BaseRoute]:
    """Accounts' pages: sign in and out, and the account page with its token and password forms."""
    return [
        Route("/login", page(_login.login_page, requires=PUBLIC), methods=["GET"], name="ui_login"),
        Route("/login", _login_post, methods=["POST"], name="ui_login_post"),
        Route("/logout", _logout_post, methods=["POST"], name="ui_logout"),
        Route("/account", page(_account.account_page, requires=ACCOUNT), methods=["GET"], name="ui_account"),
        Route(
            "/account/tokens",
            action(_account.create_token_action, requires=ACCOUNT),
            methods=["POST"],
            name="ui_create_token",
        ),
        Route(
            "/account/tokens/revoke",
            action(_account.revoke_token_action, requires=ACCOUNT),
            methods=["POST"],
            name="ui_revoke_token",
        ),
        Route(
            "/account/password",
            action(_account.change_password_action, requires=ACCOUNT),
            methods=["POST"],
            name="ui_password",
        ),
    ]


def ui_routes() -> list[BaseRoute]:
    """What every page needs whichever capabilities are mounted: the static files. The pages themselves come from
    the capabilities (``tracking_pages`` and the others, named in each one's ``capability.py``)."""
    static = declare(PUBLIC)(StaticFiles(directory=STATIC_DIR))
    return [Mount("/ui/static", app=static, name="ui_static")]
