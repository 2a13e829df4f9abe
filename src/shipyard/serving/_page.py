"""The deployment's web page (``GET /deployment``): routes, shadow, the A/B verdict and the revision history.

One self-contained HTML page (inline CSS, no script), rendered from the same status the REST route answers, with
the template ``templates/deployment.html``.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

import jinja2

__all__ = ["render_deployment_page"]


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _verdict_class(verdict: str | None) -> str:
    return {"winner": "ok", "loser": "bad"}.get(verdict or "", "wait")


@cache
def _template() -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("shipyard.serving", "templates"),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,
    )
    environment.globals.update(when=_when, num=_num, verdict_class=_verdict_class)
    return environment.get_template("deployment.html")


def render_deployment_page(status: dict[str, Any]) -> str:
    """The page for a status answer (``GET /v1/deployment``); every value is HTML-escaped."""
    return _template().render(s=status)
