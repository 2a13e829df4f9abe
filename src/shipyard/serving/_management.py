"""The deployment's management routes: status with the A/B analysis, apply, rollback, feedback, and its page."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute

from shipyard._body import read_body
from shipyard.errors import InvalidParameter, Overloaded, ShipyardError
from shipyard.registry.uris import is_model_uri
from shipyard.serving._http import ServingState, authorize, client_address, json_response, route
from shipyard.serving.rollout.deployment import DeploymentSpec, parse_spec

__all__ = ["flush_logs", "management_routes"]

_log = logging.getLogger("shipyard.serving")
_MAX_ADMIN_BODY_BYTES = 1024 * 1024
_FLUSH_EVERY_S = 2.0
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


async def _status(request: Request, state: ServingState) -> Response:
    await authorize(request, state, "READ")
    return json_response(await _status_of(state))


async def _status_of(state: ServingState) -> dict[str, Any]:
    status = state.runtime.status()
    if state.log is not None:
        status["analysis"] = await run_in_threadpool(_analysis_of, state)  # flushes the log first
        status["prediction_log"] = {
            "uri": state.config.prediction_log,
            "written_records": state.log.written_records,
            "dropped": state.log.dropped,
            "failed": state.log.failed,
            "queued": state.log.queued,
        }
    return status


def _analysis_of(state: ServingState) -> dict[str, Any]:
    """The A/B analysis from the log, after writing out what is buffered (so fresh feedback counts)."""
    from shipyard.serving.rollout._abtest import analyse_deployment

    spec = state.runtime.revision.spec
    try:
        flush_logs(state)
        return analyse_deployment(spec, str(state.config.prediction_log))
    except ShipyardError as exc:
        return {"metric": spec.analysis.metric, "message": f"No analysis: {exc.message}", "variants": []}
    except Exception as exc:  # a damaged segment must not take the status page down with it
        _log.warning("A/B analysis of %r failed: %r", spec.name, exc)
        return {"metric": spec.analysis.metric, "message": f"No analysis: {type(exc).__name__}", "variants": []}


def flush_logs(state: ServingState) -> None:
    """Write out what the prediction and feedback logs buffer (at most every two seconds)."""
    now = time.monotonic()
    if now - state.flushed_at < _FLUSH_EVERY_S:
        return
    state.flushed_at = now
    for log in (state.log, state.feedback):
        if log is not None:
            log.flush(timeout_s=5.0)


async def _apply(request: Request, state: ServingState) -> Response:
    actor = await authorize(request, state, "EDIT")
    body = await read_body(request, _MAX_ADMIN_BODY_BYTES)
    spec = parse_spec(body)
    _check_sources(spec, state)
    await _authorize_models(request, state, spec)
    revision = await state.runtime.apply(spec, actor=actor)
    _log.warning("deployment %r: revision %d applied by %s", state.name, revision.number, actor or "anonymous")
    return json_response(await _status_of(state))


def _models(spec: DeploymentSpec) -> list[str]:
    return [route.model for route in spec.routes] + ([spec.shadow.model] if spec.shadow else [])


def _check_sources(spec: DeploymentSpec, state: ServingState) -> None:
    """Over the API, models come from the registry or runs; a local folder only if the server already knew it.

    Loading a model can run code from its files (pickle), so a caller with EDIT on the deployment must not be able
    to point the server at any folder on its disk.
    """
    known = state.runtime.known_models()
    local = [model for model in _models(spec) if not is_model_uri(model) and model not in known]
    if local:
        raise InvalidParameter(
            f"Model {local[0][:200]!r} is a local folder: over the API a deployment may name registry models "
            "(models:/name/version, models:/name@alias) or runs (runs:/<run_id>/<path>); local folders only in the "
            "spec the server was started with."
        )


async def _authorize_models(request: Request, state: ServingState, spec: DeploymentSpec) -> None:
    """Check every registry or run model the spec names with the caller's identity, before anything is resolved.

    The server resolves and downloads with its own credentials afterwards, so without this a caller with EDIT on
    the deployment could serve (and read the outputs of) a model from a run or registered model she is denied.
    """
    if state.config.authorize_models is None:
        return
    named = sorted({model for model in _models(spec) if is_model_uri(model)})
    if named:
        await state.config.authorize_models(request.headers, named, client=client_address(request))


async def _rollback(request: Request, state: ServingState) -> Response:
    actor = await authorize(request, state, "EDIT")
    body = await read_body(request, _MAX_ADMIN_BODY_BYTES)
    to = None
    if body.strip():
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise InvalidParameter('The rollback body must be JSON: {} or {"revision": N}.') from None
        revision = data.get("revision") if isinstance(data, dict) else None
        if revision is not None and (not isinstance(revision, int) or isinstance(revision, bool) or revision < 1):
            raise InvalidParameter(f"'revision' must be a revision number (1, 2, ...), got {revision!r}.")
        to = revision
    await state.runtime.rollback(to=to, actor=actor)
    return json_response(await _status_of(state))


async def _feedback(request: Request, state: ServingState) -> Response:
    await authorize(request, state, "EDIT")
    if state.feedback is None:
        raise InvalidParameter("This server keeps no prediction log, so feedback cannot be joined: start it with one.")
    from shipyard.predlog._writer import parse_feedback

    records = parse_feedback(await read_body(request, state.config.max_body_bytes))
    if not state.feedback.append(records, deployment=state.name):
        state.metrics.prediction_log_dropped(len(records))
        raise Overloaded(f"The feedback log is behind: {len(records)} label(s) not accepted; send them again.")
    return json_response({"accepted": len(records)})


async def _page(request: Request, state: ServingState) -> Response:
    await authorize(request, state, "READ")
    from shipyard.serving._page import render_deployment_page

    html = render_deployment_page(await _status_of(state))
    return HTMLResponse(html, headers=_PAGE_HEADERS)


def management_routes() -> list[BaseRoute]:
    """``/v1/deployment`` (status, apply, rollback), ``/v1/feedback`` and the ``/deployment`` page."""
    return [
        route("/v1/deployment", _status, "GET"),
        route("/v1/deployment", _apply, "PUT"),
        route("/v1/deployment/rollback", _rollback, "POST"),
        route("/v1/feedback", _feedback, "POST"),
        route("/deployment", _page, "GET"),
    ]
