"""Reading a request body with a size bound: one implementation for the tracking server and the model server."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.errors import PayloadTooLarge

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = ["read_body"]


async def read_body(request: Request, max_bytes: int, *, hint: str = "") -> bytes:
    """The whole body, refused with `PayloadTooLarge` (413) as soon as it is known to pass ``max_bytes``.

    A declared ``Content-Length`` over the limit is refused before a byte is read; a chunked body is counted
    while it streams in, so the server never holds more than the limit (plus one chunk).

    Args:
        hint: what the caller can do about it, appended to the message.
    """
    declared = request.headers.get("content-length", "").strip()
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(_too_large(f"Request body of {int(declared)} bytes", max_bytes, hint))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise PayloadTooLarge(_too_large("Request body", max_bytes, hint))
    return bytes(body)


def _too_large(what: str, max_bytes: int, hint: str) -> str:
    return f"{what} exceeds the limit of {max_bytes} bytes" + (f"; {hint}" if hint else ".")
