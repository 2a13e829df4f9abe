"""The Account page: who you are, your API tokens (create, revoke) and your password.

Every function here is synchronous and runs in a worker thread (see ``routes.page`` and ``routes.action``), and
acts only on the signed-in user's own account, admins included (they manage other accounts with the CLI or the
REST API). Revoking and changing the password answer with a redirect (post/redirect/get). Creating a token does
not: its secret must be shown once and never sit in a URL, so the page is rendered straight away with
``Cache-Control: no-store`` and is gone on the next visit. A refused form re-renders the page with the message
and a 4xx status, and nothing is changed.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.datastructures import QueryParams
from starlette.responses import RedirectResponse, Response

from shipyard.auth import ApiToken
from shipyard.auth.service import MIN_PASSWORD_CHARS
from shipyard.auth.throttle import REAUTH_ADDRESS
from shipyard.errors import InvalidParameter, InvalidState, ResourceNotFound, TooManyAttempts
from shipyard.server._auth import SESSION_COOKIE
from shipyard.server._context import AppContext
from shipyard.server.ui._render import render
from shipyard.server.ui._viewer import Viewer

__all__ = [
    "MAX_EXPIRY_DAYS",
    "MAX_TOKEN_NAME_CHARS",
    "account_page",
    "change_password_action",
    "create_token_action",
    "revoke_token_action",
]

MAX_EXPIRY_DAYS = 3650
MAX_TOKEN_NAME_CHARS = 256
# The notes a redirect may ask for (``/account?done=revoked``): fixed texts, so a link cannot put words on the page.
_DONE = {"revoked": "The token was revoked: requests carrying it are refused from now on."}
_RESENT = (
    "This form was already sent, or a token was made elsewhere since the page was shown: no new token was made. "
    "A token's secret is shown only once; if you did not copy it, revoke that token and create another."
)
_VIA = {"session": "the sign-in page", "token": "an API token", "basic": "a password (HTTP Basic)"}
_SIGN_IN_OFF = (
    "Sign-in is off on this server, so there is no account to change; start it with `shipyard server --auth`."
)


def _text(form: dict[str, str], name: str) -> str:
    return form.get(name, "").strip()


def _whole(raw: str, max_digits: int) -> int | None:
    """A whole number written in ASCII digits (``"²"`` is a digit to ``str.isdigit``, not to ``int``), else None."""
    if not raw or len(raw) > max_digits or not (raw.isascii() and raw.isdigit()):
        return None
    return int(raw)


def _no_store(response: Response) -> Response:
    """Keep the page out of every cache: it lists the account's tokens, and once a token's secret."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _username(viewer: Viewer) -> str:
    """The signed-in user a form acts for.

    Raises:
        InvalidState: sign-in is off, so there are no accounts.
    """
    if viewer.username is None:
        raise InvalidState(_SIGN_IN_OFF)
    return viewer.username


def _account_response(
    ctx: AppContext,
    viewer: Viewer,
    *,
    status: int = 200,
    error: str | None = None,
    error_for: str = "",
    notice: str | None = None,
    form: dict[str, str] | None = None,
    new_token: ApiToken | None = None,
    secret: str | None = None,
) -> Response:
    """The Account page (or the sign-in-off note), never cached; ``error_for`` names the form the error is about."""
    if viewer.username is None:
        return _no_store(render("account.html", status_code=status, viewer=viewer, user=None))
    user = ctx.accounts.get_user(viewer.username)
    page = render(
        "account.html",
        status_code=status,
        viewer=viewer,
        user=user,
        signed_in_with=_VIA.get(viewer.principal.via, viewer.principal.via),
        tokens=ctx.accounts.list_tokens(user.username),
        now_ms=int(time.time() * 1000),
        error=error,
        error_for=error_for,
        notice=notice,
        form=form or {},
        new_token=new_token,
        secret=secret,
        max_expiry_days=MAX_EXPIRY_DAYS,
        max_name_chars=MAX_TOKEN_NAME_CHARS,
        min_password_chars=MIN_PASSWORD_CHARS,
    )
    return _no_store(page)


def account_page(ctx: AppContext, viewer: Viewer, query: QueryParams, _path: dict[str, Any]) -> Response:
    """``GET /account``: who you are, your API tokens and the forms; a note instead when sign-in is off."""
    return _account_response(ctx, viewer, notice=_DONE.get(query.get("done", "")))


def _expiry_s(raw: str) -> int | None:
    """Seconds from the form's optional expiry in days.

    Raises:
        InvalidParameter: not a whole number from 1 to ``MAX_EXPIRY_DAYS``.
    """
    if not raw:
        return None
    days = _whole(raw, 6)
    if days is None or not 1 <= days <= MAX_EXPIRY_DAYS:
        raise InvalidParameter(
            f"Invalid expiry {raw[:20]!r}: expected a whole number of days from 1 to {MAX_EXPIRY_DAYS}, or leave it "
            "empty for a token that never expires."
        )
    return days * 86_400


def _sent_before(ctx: AppContext, username: str, shown_at_ms: str) -> bool:
    """Whether the form is older than one of the user's tokens: most likely the page with a new secret, reloaded.

    Reloading that page sends its form again; without this check each reload would make another token.
    """
    shown_ms = _whole(shown_at_ms, 16)
    if shown_ms is None:
        return False
    return any(t.created_at_ms > shown_ms for t in ctx.accounts.list_tokens(username))


def create_token_action(
    ctx: AppContext, viewer: Viewer, form: dict[str, str], _path: dict[str, Any], actor: str
) -> Response:
    """``POST /account/tokens``: make a token and show its secret on this one answer, never again."""
    username = _username(viewer)
    fields = {"name": _text(form, "name"), "expires_in_days": _text(form, "expires_in_days")}
    if _sent_before(ctx, username, _text(form, "shown_at_ms")):
        return _account_response(ctx, viewer, status=409, error=_RESENT, error_for="token", form=fields)
    try:
        token, secret = ctx.accounts.create_token(
            username,
            fields["name"],
            expires_in_s=_expiry_s(fields["expires_in_days"]),
            actor=actor,
            not_after_ms=viewer.principal.expires_at_ms,  # a form sent with a token makes none that outlives it
        )
    except InvalidParameter as exc:
        return _account_response(ctx, viewer, status=exc.http_status, error=exc.message, error_for="token", form=fields)
    return _account_response(ctx, viewer, new_token=token, secret=secret)


def revoke_token_action(
    ctx: AppContext, viewer: Viewer, form: dict[str, str], _path: dict[str, Any], actor: str
) -> Response:
    """``POST /account/tokens/revoke``: revoke one of your own tokens, then back to the page."""
    username = _username(viewer)
    token_id = _text(form, "token_id")
    # Someone else's token answers like a missing one, so the form cannot tell which ids exist.
    missing = ResourceNotFound(f"You have no API token {token_id[:40]!r}; reload the Account page to see yours.")
    try:
        token = ctx.accounts.get_token(token_id)
    except ResourceNotFound:
        raise missing from None
    if token.username != username:
        raise missing
    ctx.accounts.revoke_token(token.token_id, actor=actor)
    return RedirectResponse("/account?done=revoked#tokens", status_code=303)


def change_password_action(
    ctx: AppContext, viewer: Viewer, form: dict[str, str], _path: dict[str, Any], actor: str
) -> Response:
    """``POST /account/password``: check the current password, set the new one, and sign in again.

    A new password ends every web session of the account, this one included, so the answer goes to the sign-in
    page (which comes back here); API tokens keep working.
    """
    username = _username(viewer)
    new, current = form.get("new_password", ""), form.get("current_password", "")
    if new != form.get("repeat_password", ""):
        return _password_refused(ctx, viewer, "The new passwords differ; type the same new password twice.")
    if len(new) < MIN_PASSWORD_CHARS:
        return _password_refused(
            ctx, viewer, f"The new password is too short: use at least {MIN_PASSWORD_CHARS} characters."
        )
    try:
        checked = ctx.sign_in_throttle.check_password(ctx.accounts, REAUTH_ADDRESS, username, current)
    except TooManyAttempts as exc:
        message = f"Too many wrong current passwords; try again in {exc.retry_after_s} seconds."
        refused = _password_refused(ctx, viewer, message, status=429)
        refused.headers["Retry-After"] = str(exc.retry_after_s)
        return refused
    if checked is None:
        return _password_refused(ctx, viewer, "The current password is wrong; the password was not changed.")
    try:
        ctx.accounts.set_password(username, new, actor=actor)
    except InvalidParameter as exc:  # a limit only the service checks (too long): nothing was written
        return _password_refused(ctx, viewer, exc.message, status=exc.http_status)
    response = RedirectResponse("/login?next=%2Faccount", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _password_refused(ctx: AppContext, viewer: Viewer, message: str, *, status: int = 400) -> Response:
    """The page again with the password form's message (the passwords are never sent back)."""
    return _account_response(ctx, viewer, status=status, error=message, error_for="password")
