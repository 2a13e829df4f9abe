"""Fast JSON responses (orjson), shared by every router."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

__all__ = ["json_response"]


def json_response(content: Any, status_code: int = 200) -> Response:
    """A JSON response encoded with orjson."""
    return Response(orjson.dumps(content), status_code=status_code, media_type="application/json")
