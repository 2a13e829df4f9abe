"""The UI's one Jinja2 environment, its formatting filters, and HTML responses with safe headers."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from starlette.responses import HTMLResponse

from shipyard._capabilities import nav_entries
from shipyard._version import __version__
from shipyard.server.ui._model_views import model_url, version_url

__all__ = [
    "SECURITY_HEADERS",
    "UI_CONTENT_SECURITY_POLICY",
    "error_page",
    "fmt_duration",
    "fmt_number",
    "fmt_time",
    "markdown_html",
    "qs",
    "render",
]

# Pages carry no inline script, style attribute or event handler: everything comes from /ui/static, so a strict
# policy costs nothing, and text that slipped past escaping still could not run.
UI_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": UI_CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def fmt_time(ms: int | None) -> str:
    """Epoch milliseconds as ``YYYY-MM-DD HH:MM:SS`` in UTC; empty for None."""
    if ms is None:
        return ""
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return str(ms)


def fmt_duration(start_ms: int | None, end_ms: int | None) -> str:
    """A run's duration as ``450ms``, ``12.3s``, ``4m 05s`` or ``2h 03m``; empty when unknown."""
    if start_ms is None or end_ms is None or end_ms < start_ms:
        return ""
    total_ms = end_ms - start_ms
    if total_ms < 1000:
        return f"{total_ms}ms"
    seconds = total_ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def fmt_number(value: float | None) -> str:
    """A metric value with up to 6 significant digits (the exact value goes in a title attribute)."""
    if value is None:
        return ""
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def qs(**params: Any) -> str:
    """A query string (with its ``?``) of the non-empty parameters; lists repeat the name."""
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        if value is None or value == "":
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            pairs.append((name, str(item)))
    return "?" + urlencode(pairs) if pairs else ""


@cache
def _markdown() -> Any:
    from markdown_it import MarkdownIt  # a dependency of rich, which the CLI already needs

    # Raw HTML stays text (html=False) and javascript:/data: links are refused by the parser. Images are off:
    # the page's Content-Security-Policy would block a remote one anyway, and a broken image helps nobody.
    return MarkdownIt("js-default", {"html": False, "linkify": False}).disable("image")


def markdown_html(text: str) -> Markup:
    """Markdown rendered to HTML in which every piece of the source text is escaped (raw HTML is not passed on).

    The result is marked safe because the renderer, not the author, wrote every tag in it.
    """
    return Markup(_markdown().render(text))  # noqa: S704 - the renderer escapes all source text (html=False)


@cache
def environment() -> Environment:
    """The Jinja2 environment, built once; autoescaping is on for every template."""
    env = Environment(
        loader=PackageLoader("shipyard.server.ui", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(time=fmt_time, number=fmt_number)
    env.globals.update(duration=fmt_duration, qs=qs, version=__version__, model_url=model_url, version_url=version_url)
    env.globals.update(nav=nav_entries)  # the top bar's links: each capability's, from the registry
    return env


def render(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a template into an HTML response with the UI's security headers."""
    html = environment().get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


_TITLES = {
    400: "Bad request",
    401: "Sign-in required",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Too large",
    415: "Unsupported media type",
    500: "Something went wrong",
    503: "Service unavailable",
}


def error_page(status_code: int, message: str) -> HTMLResponse:
    """A friendly error page: a headline for the status and the message saying what was wrong."""
    title = _TITLES.get(status_code, "Error")
    return render("error.html", status_code=status_code, title=title, status=status_code, message=message)
