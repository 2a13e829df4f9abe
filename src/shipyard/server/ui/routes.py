"""The web UI's routes: server-rendered pages, raw artifacts, a metric-history JSON endpoint and static files."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from shipyard.errors import ResourceNotFound, ShipyardError
from shipyard.server._context import AppContext, context_of
from shipyard.server._json import json_response
from shipyard.server.ui import _pages
from shipyard.server.ui._render import error_page

__all__ = ["STATIC_DIR", "page", "ui_routes"]

STATIC_DIR = Path(__file__).parent / "static"
_log = logging.getLogger("shipyard.server.ui")

Page = Callable[[AppContext, QueryParams, dict[str, Any]], Response]


def page(build: Page) -> Callable[[Request], Any]:
    """An endpoint that builds a page in a worker thread and turns every error into a friendly HTML page."""

    async def endpoint(request: Request) -> Response:
        try:
            return await run_in_threadpool(build, context_of(request), request.query_params, request.path_params)
        except ResourceNotFound as exc:
            return error_page(404, exc.message)
        except ShipyardError as exc:
            status = exc.http_status if 400 <= exc.http_status < 600 else 500
            if status >= 500:
                _log.warning("UI page failed: %s", exc.message)
            return error_page(status, exc.message)
        except OperationalError as exc:
            _log.warning("database unavailable: %s", exc)
            return error_page(503, "The metadata store is busy or unreachable; reload the page in a moment.")
        except Exception:
            _log.exception("unexpected error in UI page %s", request.url.path)
            return error_page(500, "The page could not be built; the server log has the details.")

    endpoint.__name__ = build.__name__
    return endpoint


async def metric_history(request: Request) -> Response:
    """``GET /ui/api/runs/{run_id}/metrics/{key}``: every point of one metric, ordered by step."""
    ctx = context_of(request)
    run_id, key = request.path_params["run_id"], request.path_params["key"]
    history, _ = await run_in_threadpool(ctx.tracking.get_metric_history, run_id, key)
    points = sorted(history, key=lambda m: (m.step, m.timestamp_ms))
    return json_response(
        {
            "run_id": run_id,
            "key": key,
            "points": [{"step": m.step, "value": m.value, "timestamp_ms": m.timestamp_ms} for m in points],
        }
    )


def ui_routes() -> list[BaseRoute]:
    """The UI's routes, appended to the app's by ``create_app``."""
    return [
        Route("/", page(_pages.experiments_page), methods=["GET"], name="ui_experiments"),
        Route("/experiments/{experiment_id}", page(_pages.runs_page), methods=["GET"], name="ui_runs"),
        Route("/runs/{run_id}", page(_pages.run_page), methods=["GET"], name="ui_run"),
        Route("/compare", page(_pages.compare_page), methods=["GET"], name="ui_compare"),
        Route("/ui/artifacts/{run_id}/raw", page(_pages.raw_artifact), methods=["GET"], name="ui_raw_artifact"),
        Route("/ui/api/runs/{run_id}/metrics/{key:path}", metric_history, methods=["GET"], name="ui_metric_history"),
        Mount("/ui/static", app=StaticFiles(directory=STATIC_DIR), name="ui_static"),
    ]
