"""Page tokens: the opaque offset every paged list answers with and accepts back (MLflow's token shape)."""

from __future__ import annotations

import base64
import binascii
import json

from shipyard.errors import InvalidParameter

__all__ = ["decode_page_token", "encode_page_token"]


def encode_page_token(offset: int) -> str:
    """An opaque token for the page that starts at ``offset`` (base64 JSON, the shape MLflow's tokens have).

    Example:
        >>> decode_page_token(encode_page_token(100))
        100
    """
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidParameter(f"A page offset must be a non-negative integer, got {offset!r}.")
    return base64.b64encode(json.dumps({"offset": offset}).encode("utf-8")).decode("ascii")


def decode_page_token(token: str | None) -> int:
    """The offset a page token stands for; None or empty means the first page (offset 0).

    Raises:
        InvalidParameter: the token was not made by :func:`encode_page_token`.
    """
    if not token:
        return 0
    if not isinstance(token, str):
        raise InvalidParameter(f"A page token must be a string, got {type(token).__name__}.")
    problem = "pass back the next_page_token of a previous response unchanged"
    try:
        # Accept the URL-safe alphabet too: tokens travel in query strings.
        normalised = token.replace("-", "+").replace("_", "/")
        raw = base64.b64decode(normalised + "=" * (-len(normalised) % 4), validate=True)
        parsed = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, AttributeError) as exc:
        raise InvalidParameter(f"Invalid page token {token!r}: {problem}.") from exc
    offset = parsed.get("offset") if isinstance(parsed, dict) else None
    if isinstance(offset, str) and offset.isdigit():
        offset = int(offset)  # tolerate tokens from servers that wrote the offset as a string
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidParameter(f"Invalid page token {token!r}: {problem}.")
    return offset
