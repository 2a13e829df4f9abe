"""Who is looking at a UI page, and the token their forms must carry (CSRF protection)."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from shipyard.auth import NOBODY, Principal
from shipyard.server._auth import csrf_of

__all__ = ["CSRF_COOKIE", "CSRF_FIELD", "Viewer", "csrf_matches", "remember_csrf", "viewer_of"]

# Without sign-in there is no session to hold the form token, so it lives in its own cookie and every form
# repeats it (double submit): a page on another site can neither read the cookie nor guess the value.
CSRF_COOKIE = "shipyard_csrf"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class Viewer:
    """The person behind a UI request.

    Attributes:
        principal: who they are (``ANONYMOUS`` when the server runs without sign-in).
        csrf_token: the value every form they post must carry in ``csrf_token``.
        new_cookie: whether ``csrf_token`` is new and must be set as a cookie on the response.
    """

    principal: Principal
    csrf_token: str
    new_cookie: bool = False

    @property
    def username(self) -> str | None:
        """The signed-in user's name, or None without sign-in."""
        return self.principal.username


def viewer_of(request: Request) -> Viewer:
    """The viewer of a request: the session's form token when signed in, else the CSRF cookie's (or a new one)."""
    principal: Principal = getattr(request.state, "principal", None) or NOBODY
    session_token = csrf_of(request)
    if session_token:
        return Viewer(principal, session_token)
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if 20 <= len(cookie) <= 128:
        return Viewer(principal, cookie)
    return Viewer(principal, secrets.token_urlsafe(32), new_cookie=True)


def csrf_matches(viewer: Viewer, form: dict[str, str]) -> bool:
    """Whether a posted form carries the viewer's token (never true for a freshly minted one)."""
    sent = form.get(CSRF_FIELD, "")
    return not viewer.new_cookie and bool(sent) and hmac.compare_digest(sent, viewer.csrf_token)


def remember_csrf(response: Response, viewer: Viewer, *, secure: bool) -> Response:
    """Set the CSRF cookie on ``response`` when the viewer's token is new."""
    if viewer.new_cookie:
        response.set_cookie(CSRF_COOKIE, viewer.csrf_token, httponly=True, samesite="strict", secure=secure, path="/")
    return response
