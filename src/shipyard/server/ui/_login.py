"""The sign-in page, signing in and out: a session cookie (HttpOnly, SameSite, Secure over TLS) per sign-in."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import QueryParams
from starlette.responses import RedirectResponse, Response

from shipyard.errors import TooManyAttempts
from shipyard.server._auth import SESSION_COOKIE
from shipyard.server._context import AppContext
from shipyard.server.ui._render import render
from shipyard.server.ui._viewer import Viewer

__all__ = ["login_page", "safe_next", "sign_in", "sign_out"]


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this server, never another site (``//evil``, ``/\\evil``)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or any(c < " " for c in target):
        return "/"
    return target


def login_page(ctx: AppContext, viewer: Viewer, query: QueryParams, _path: dict[str, Any]) -> Response:
    """``GET /login``: the sign-in form (or straight on when already signed in or sign-in is off)."""
    target = safe_next(query.get("next"))
    if not ctx.settings.auth or viewer.username:
        return RedirectResponse(target, status_code=303)
    return render("login.html", viewer=viewer, next=target, username="", error=None)


def sign_in(ctx: AppContext, viewer: Viewer, form: dict[str, str], secure: bool, address: str) -> Response:
    """``POST /login``: open a session and go on, or show the form again with 401 (429 after many failures)."""
    target = safe_next(form.get("next"))
    if not ctx.settings.auth:
        return RedirectResponse(target, status_code=303)
    username = form.get("username", "").strip()
    try:
        user = ctx.sign_in_throttle.check_password(ctx.accounts, address, username, form.get("password", ""))
    except TooManyAttempts as exc:
        wait_s = exc.retry_after_s
        error = f"Too many failed sign-ins for this account from your address; try again in {wait_s} seconds."
        page = render("login.html", status_code=429, viewer=viewer, next=target, username=username, error=error)
        page.headers["Retry-After"] = str(wait_s)
        return page
    if user is None:
        error = "Wrong username or password."
        return render("login.html", status_code=401, viewer=viewer, next=target, username=username, error=error)
    session = ctx.accounts.open_session(user, ttl_s=ctx.settings.session_ttl_s)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session.secret,
        max_age=ctx.settings.session_ttl_s,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )
    return response


def sign_out(ctx: AppContext, secret: str | None) -> Response:
    """``POST /logout``: end the session and forget the cookie."""
    if secret:
        ctx.accounts.sign_out(secret)
    response = RedirectResponse("/login" if ctx.settings.auth else "/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
