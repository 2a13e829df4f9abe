"""The inference server's request guards: the tracking server's Host allow-list, cross-site refusal and headers.

Which bodies each write route takes (a body type outside these, or a simple one, is refused with 415):

* ``/v1/…`` (apply, rollback, feedback): a typed body, JSON or, for a spec, YAML; ``text/plain``, form encodings
  and a body with no ``Content-Type`` are refused, as on the tracking server's API.
* ``/invocations``: MLflow's scoring types (``application/json``, ``text/csv``...); ``text/csv`` is no
  simple type, so a page of another site cannot send it without a CORS preflight, which closed CORS refuses.
  ``text/plain`` and the form types are refused (MLflow's scoring server refuses them too).
* ``/v2/…/infer``: JSON, or the binary extension; tritonclient sends no ``Content-Type`` at all, so an untyped
  body is accepted here (only ``fetch`` can send one, and it always sends ``Origin``, which is checked first).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from starlette.responses import Response

from shipyard._http_guards import BodyRule, install_guards

__all__ = ["install_serving_guards"]

# Probes address a replica by its pod IP; these answer constants and change nothing.
_ANY_HOST_PATHS = frozenset({"/v2/health/live", "/v2/health/ready", "/ping", "/health"})
_PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_ADMIN = BodyRule(expected="application/json (or application/yaml for a spec)")
_SCORING = BodyRule(expected="application/json or text/csv")
_INFER = BodyRule(expected="application/json (or application/octet-stream for binary tensors)", untyped=True)


def _body_rule(path: str) -> BodyRule:
    if path == "/invocations":
        return _SCORING
    if path.startswith("/v2/"):
        return _INFER
    return _ADMIN


def _refuse(path: str, status: int, code: str, message: str) -> Response:
    """The protocol's own error shape: MLflow's on ``/invocations``, the v2 protocol's elsewhere."""
    body = {"error_code": code, "message": message} if path == "/invocations" else {"error": message}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def install_serving_guards(app: Any, *, allowed_hosts: Iterable[str], cors_origins: Iterable[str]) -> None:
    """Wrap the inference app in the shared request guards (see the module docstring for the body rules)."""
    install_guards(
        app,
        allowed_hosts=allowed_hosts,
        cors_origins=cors_origins,
        refuse=_refuse,
        body_rule=_body_rule,
        html_policy=lambda _path: _PAGE_POLICY,
        any_host_paths=_ANY_HOST_PATHS,
    )
