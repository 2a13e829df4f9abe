"""Authentication: who each request comes from, as plain ASGI middleware.

The API (``/api``, ``/ajax-api``) takes an ``Authorization`` header: ``Bearer <token>`` (the mlflow client's
``MLFLOW_TRACKING_TOKEN``) or HTTP Basic (``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``). The web UI
takes the session cookie set by its sign-in page; the API never does, so a cross-site page cannot ride a
browser's session into it. The principal is left on ``request.state.principal``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from shipyard._http_errors import http_error
from shipyard.auth import ANONYMOUS, AuthService, Principal
from shipyard.auth.credentials import authenticate
from shipyard.auth.throttle import SignInThrottle
from shipyard.errors import TooManyAttempts, Unauthenticated
from shipyard.server._errors import error_response

__all__ = ["SESSION_COOKIE", "AuthMiddleware", "csrf_of", "open_to_anyone", "principal_of"]

SESSION_COOKIE = "shipyard_session"
_API_PREFIXES = ("/api/", "/ajax-api/")
# Reachable without signing in: liveness, the version the mlflow client asks for, the sign-in page, static files.
_PUBLIC = ("/health", "/version", "/login", "/favicon.ico")
_PUBLIC_PREFIXES = ("/ui/static/",)
_REALM = 'Basic realm="Shipyard", charset="UTF-8"'
# Pages under /api that a person opens in the browser (the interactive API docs): they take the UI's session.
_PAGES_UNDER_API = frozenset({"/api/docs", "/api/docs/oauth2-redirect", "/api/openapi.json"})


def principal_of(request: HTTPConnection) -> Principal:
    """The request's principal (set by AuthMiddleware).

    Raises:
        Unauthenticated: a public route asked, and nobody signed in.
    """
    principal: Principal | None = request.state.principal
    if principal is None:
        raise Unauthenticated("Sign in first.")
    return principal


def open_to_anyone(path: str) -> bool:
    """Whether a request to ``path`` goes through without signing in: the routes that declare `PUBLIC`.

    Example:
        >>> open_to_anyone("/health"), open_to_anyone("/api/2.0/mlflow/experiments/search")
        (True, False)
    """
    return path in _PUBLIC or path.startswith(_PUBLIC_PREFIXES)


def csrf_of(request: HTTPConnection) -> str | None:
    """The form token of the request's web session, or None without one."""
    token: str | None = getattr(request.state, "csrf_token", None)
    return token


class AuthMiddleware:
    """Set ``scope["state"]["principal"]``: the signed-in user, ``ANONYMOUS`` with auth off, or None.

    With authentication on, a request with bad credentials is refused with 401 wherever it goes; one with none
    is refused unless its path is public (the API answers 401 with ``WWW-Authenticate``; UI pages redirect
    to the sign-in page).
    """

    def __init__(self, app: ASGIApp, *, accounts: AuthService | None, throttle: SignInThrottle) -> None:
        self.app = app
        self.accounts = accounts  # None: authentication is off
        self.throttle = throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        if self.accounts is None:
            state["principal"], state["csrf_token"] = ANONYMOUS, None
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        api = path.startswith(_API_PREFIXES) and path not in _PAGES_UNDER_API
        try:
            principal, csrf = await self._authenticate(Headers(scope=scope), HTTPConnection(scope), api=api)
        except Unauthenticated as exc:
            await _refuse(exc.message, api=api, scope=scope)(scope, receive, send)
            return
        except TooManyAttempts as exc:  # answered here: this middleware sits outside the app's error handlers
            failure = http_error(exc)  # 429 REQUEST_LIMIT_EXCEEDED with Retry-After
            response = error_response(failure.error_code, failure.message, failure.status)
            response.headers.update(failure.headers)
            await response(scope, receive, send)
            return
        if principal is None and not open_to_anyone(path):
            message = "Authentication required: send an API token (Bearer) or a username and password (Basic)."
            await _refuse(message, api=api, scope=scope)(scope, receive, send)
            return
        state["principal"], state["csrf_token"] = principal, csrf
        await self.app(scope, receive, send)

    async def _authenticate(
        self, headers: Headers, conn: HTTPConnection, *, api: bool
    ) -> tuple[Principal | None, str | None]:
        accounts = self.accounts
        assert accounts is not None
        authorization = headers.get("authorization")
        if authorization:
            address = conn.client.host if conn.client else ""
            # Passwords are throttled as one step (attempt reserved before the check), so guesses cannot race it.
            principal = await run_in_threadpool(authenticate, accounts, self.throttle, authorization, address=address)
            return principal, None
        secret = conn.cookies.get(SESSION_COOKIE)
        if secret and not api:
            found = await run_in_threadpool(accounts.session, secret)
            if found is not None:
                user, csrf = found
                return accounts.principal(user, "session"), csrf
        return None, None


def _refuse(message: str, *, api: bool, scope: Scope) -> Any:
    if api:
        response = error_response("UNAUTHENTICATED", message, 401)
        response.headers["WWW-Authenticate"] = _REALM
        return response
    if scope["method"] in ("GET", "HEAD"):
        target = scope["path"] + (("?" + scope["query_string"].decode("latin-1")) if scope["query_string"] else "")
        return RedirectResponse("/login?next=" + quote(target, safe=""), status_code=303)
    from shipyard.server.ui._render import error_page

    page: Response = error_page(401, message + " Sign in at /login.")
    return page
