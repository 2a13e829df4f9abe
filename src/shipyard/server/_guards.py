"""The server's request guards: the shared ones (`shipyard._http_guards`) worded and configured for the server.

Installed by `install_request_guards` from outermost to innermost:

* `SecurityHeaders`: ``nosniff`` everywhere; on HTML answers without their own, the UI's Content-Security-Policy
  (the interactive API docs get a looser one), ``X-Frame-Options: DENY`` and ``Referrer-Policy``.
* `HostGuard`: 400 to a ``Host`` header the server does not serve (DNS rebinding); ``/health`` and ``/version``
  answer any host.
* Starlette's ``CORSMiddleware``, only when ``Settings.cors_origins`` names origins; otherwise CORS is closed:
  no answer carries ``Access-Control-Allow-Origin`` and a preflight gets no allow headers.
* `CrossSiteGuard`: refuses writes sent by a page of another site, and API writes with a body a cross-site form
  or ``fetch`` could send without a preflight (``text/plain``, form encodings, or no ``Content-Type`` at all).

Refusals are MLflow's JSON error on API paths and the UI's error page elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp

from shipyard import _http_guards as shared
from shipyard._http_guards import (
    LOOPBACK_HOSTS,
    SIMPLE_CONTENT_TYPES,
    STATE_CHANGING_METHODS,
    BodyRule,
    HostMatcher,
    normalize_origin,
    split_host,
)
from shipyard.config import Settings
from shipyard.server._errors import error_response
from shipyard.server.ui._render import UI_CONTENT_SECURITY_POLICY, error_page

__all__ = [
    "LOOPBACK_HOSTS",
    "SIMPLE_CONTENT_TYPES",
    "STATE_CHANGING_METHODS",
    "CrossSiteGuard",
    "HostGuard",
    "HostMatcher",
    "SecurityHeaders",
    "install_request_guards",
    "normalize_origin",
    "split_host",
]

API_PREFIXES = ("/api/", "/ajax-api/")
# The artifact proxy takes the file itself as the body (the mlflow client labels it text/plain for .txt, MLmodel
# and the like). Browsers cannot send a cross-site PUT without a preflight, which closed CORS refuses.
_RAW_BODY_PREFIXES = tuple(f"{p}2.0/mlflow-artifacts/" for p in API_PREFIXES)
# Liveness probes address the server by its pod or container IP; these answer constants and change nothing.
_ANY_HOST_PATHS = frozenset({"/health", "/version"})
# FastAPI's interactive API docs load Swagger UI from a CDN and start it with an inline script; they show no
# user content, so they get a policy that only forbids framing and plugins.
_DOCS_PREFIX = "/api/docs"
_DOCS_POLICY = "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
_JSON_BODY = BodyRule(expected="application/json")


def _is_api(path: str) -> bool:
    return path.startswith((*API_PREFIXES, "/ui/api/")) or path in ("/api", "/ajax-api")


def refusal(path: str, status: int, code: str, message: str) -> Response:
    """MLflow's JSON error for API paths, the UI's error page for the rest."""
    if _is_api(path):
        return error_response(code, message, status)
    return error_page(status, message)


def _body_rule(path: str) -> BodyRule | None:
    """API writes take JSON; the artifact proxy takes raw files; UI forms carry a CSRF token instead."""
    if not path.startswith(API_PREFIXES) or path.startswith(_RAW_BODY_PREFIXES):
        return None
    return _JSON_BODY


def _html_policy(path: str) -> str:
    return _DOCS_POLICY if path.startswith(_DOCS_PREFIX) else UI_CONTENT_SECURITY_POLICY


class HostGuard(shared.HostGuard):
    """Answer 400 to requests whose ``Host`` header is not one the server serves (DNS rebinding)."""

    def __init__(self, app: ASGIApp, *, allowed_hosts: Iterable[str] = ()) -> None:
        super().__init__(app, allowed_hosts=allowed_hosts, refuse=refusal, any_host_paths=_ANY_HOST_PATHS)


class CrossSiteGuard(shared.CrossSiteGuard):
    """Refuse writes sent by another site's page, and API writes with bodies a browser sends without a preflight.

    Args:
        app: the application to protect.
        cors_origins: origins that may write across sites (``Settings.cors_origins``); ``*`` allows any.
    """

    def __init__(self, app: ASGIApp, *, cors_origins: Iterable[str] = ()) -> None:
        super().__init__(app, cors_origins=cors_origins, refuse=refusal, body_rule=_body_rule)


class SecurityHeaders(shared.SecurityHeaders):
    """The shared headers, with the UI's Content-Security-Policy on HTML answers (the API docs' on theirs)."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, html_policy=_html_policy)


def install_request_guards(app: Any, settings: Settings) -> None:
    """Wrap a Starlette/FastAPI app in the request guards, configured from ``settings``.

    Args:
        app: the application (``create_app`` calls this once, before the app starts).
        settings: ``allowed_hosts`` and ``cors_origins`` are read here.

    Example:
        >>> install_request_guards(app, Settings(cors_origins=("https://app.example.com",)))  # doctest: +SKIP
    """
    shared.install_guards(
        app,
        allowed_hosts=settings.allowed_hosts,
        cors_origins=settings.cors_origins,
        refuse=refusal,
        body_rule=_body_rule,
        html_policy=_html_policy,
        any_host_paths=_ANY_HOST_PATHS,
    )
