"""Reading a request's fields, for every API route (MLflow's and the native API's): the query string for GET, a JSON
object body for everything else (size limit, lenient about NaN, bounded nesting)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from shipyard._body import read_body
from shipyard._ids import canonical_experiment_id
from shipyard.auth import NOBODY, Principal
from shipyard.errors import BadRequest, InvalidParameter
from shipyard.tracking.entities import ViewType
from shipyard.wire.tracking import decode_int

__all__ = ["MAX_JSON_DEPTH", "Fields", "read_fields"]

# No MLflow message nests deeper than a few levels; deeper input would only reach recursion limits further on
# (``repr`` of a 1,000-deep list raises RecursionError).
MAX_JSON_DEPTH = 100
_VIEW_TYPES = {"1": ViewType.ACTIVE_ONLY, "2": ViewType.DELETED_ONLY, "3": ViewType.ALL}
# Fields that hold experiment ids (and a grant's resource_id on an experiment): read in their one canonical
# spelling ("02" -> "2"; " 2", "+2", "٢" refused), so the guard's permission check and the handler's lookup name
# the same experiment.
_EXPERIMENT_ID_FIELDS = frozenset({"experiment_id"})
_EXPERIMENT_IDS_FIELDS = frozenset({"experiment_ids"})


class Fields:
    """Typed access to a request's fields, raising MLflow-style INVALID_PARAMETER_VALUE errors.

    Unknown fields are ignored, as MLflow's server ignores them, so newer clients keep working.
    """

    def __init__(self, data: dict[str, Any], *, from_query: bool, actor: str | None = None) -> None:
        self.data = data
        self.from_query = from_query
        self.actor = actor  # who asks (for the registry's history); None when the client does not say
        self.principal: Principal = NOBODY  # who asks, for permission checks (set by the endpoint)

    def boolean(self, name: str, *, default: bool = False) -> bool:
        """A boolean field: JSON true/false, or "true"/"false" in a query string."""
        value = self.data.get(name)
        if isinstance(value, list) and self.from_query:
            value = value[-1] if value else None
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise InvalidParameter(f"Invalid value {value!r} for parameter '{name}': expected true or false.")

    def raw(self, name: str) -> Any:
        """The value as sent, or None."""
        return self.data.get(name)

    def text(self, name: str, *, required: bool = False, default: str | None = None) -> str | None:
        """A string field."""
        value = self.data.get(name)
        if isinstance(value, list) and self.from_query:
            value = value[-1] if value else None
        if value is None or (value == "" and required):
            if required:
                raise InvalidParameter(f"Missing value for required parameter '{name}'.")
            return default
        if value != "" and (name in _EXPERIMENT_ID_FIELDS or self._names_experiment(name)):
            return canonical_experiment_id(value, f"'{name}'")
        if not isinstance(value, str):
            raise InvalidParameter(f"Invalid value {value!r} for parameter '{name}': expected a string.")
        return value

    def _names_experiment(self, name: str) -> bool:
        """Whether ``name`` is a grant's ``resource_id`` on an experiment (an id like any other)."""
        return name == "resource_id" and self.data.get("resource_type") == "experiment"

    def req_str(self, name: str) -> str:
        """A required, non-empty string field."""
        value = self.text(name, required=True)
        assert value is not None
        return value

    def integer(self, name: str, *, required: bool = False, default: int | None = None) -> int | None:
        """An integer field; numeric strings are accepted, as protobuf JSON sends int64 as strings."""
        value = self.data.get(name)
        if isinstance(value, list) and self.from_query:
            value = value[-1] if value else None
        if value is None or value == "":
            if required:
                raise InvalidParameter(f"Missing value for required parameter '{name}'.")
            return default
        return decode_int(value, name)

    def repeated(self, name: str) -> list[Any]:
        """A repeated field (a JSON array, or repeated query keys)."""
        value = self.data.get(name)
        if value is None:
            return []
        if self.from_query and isinstance(value, str):
            return [value]
        if not isinstance(value, list):
            raise InvalidParameter(f"Invalid value {value!r} for parameter '{name}': expected a list.")
        return value

    def str_list(self, name: str) -> list[str]:
        """A repeated string field."""
        items = self.repeated(name)
        for item in items:
            if not isinstance(item, str | int) or isinstance(item, bool):
                raise InvalidParameter(f"Invalid value {item!r} in '{name}': expected strings.")
        if name in _EXPERIMENT_IDS_FIELDS:
            return [canonical_experiment_id(i, f"'{name}'") for i in items]
        return [str(i) for i in items]

    def objects(self, name: str) -> list[dict[str, Any]]:
        """A repeated message field: a list of JSON objects."""
        items = self.repeated(name)
        for item in items:
            if not isinstance(item, dict):
                raise InvalidParameter(f"Invalid value {item!r} in '{name}': expected objects.")
        return items

    def run_id(self) -> str:
        """``run_id``, or the legacy ``run_uuid``."""
        value = self.text("run_id") or self.text("run_uuid")
        if not value:
            raise InvalidParameter("Missing value for required parameter 'run_id'.")
        return value

    def view_type(self, name: str) -> ViewType:
        """A ViewType enum, by name or number; ACTIVE_ONLY by default."""
        value = self.data.get(name)
        if isinstance(value, list) and self.from_query:
            value = value[-1] if value else None
        if value is None or value == "":
            return ViewType.ACTIVE_ONLY
        text = str(value).upper()
        if text in ViewType.__members__:
            return ViewType[text]
        if text in _VIEW_TYPES:
            return _VIEW_TYPES[text]
        raise InvalidParameter(
            f"Invalid value {value!r} for parameter '{name}': expected ACTIVE_ONLY, DELETED_ONLY or ALL."
        )


async def read_fields(request: Request) -> Fields:
    """Parse a request into Fields: query parameters for GET, a JSON object otherwise."""
    if request.method == "GET":
        data: dict[str, Any] = {}
        for key, value in request.query_params.multi_items():
            data.setdefault(key, []).append(value)
        return Fields({k: v[0] if len(v) == 1 else v for k, v in data.items()}, from_query=True)
    body = await read_body(
        request,
        _max_bytes(request),
        hint="raise SHIPYARD_MAX_REQUEST_BYTES or split the request, e.g. log metrics in batches of 1,000.",
    )
    if not body.strip():
        return Fields({}, from_query=False)
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        parsed = _lenient_json(body, exc)
    if not isinstance(parsed, dict):
        raise BadRequest("The request body must be a JSON object.")
    if _too_deep(parsed, MAX_JSON_DEPTH):
        raise BadRequest(f"The request body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep.")
    return Fields(parsed, from_query=False)


def _max_bytes(request: Request) -> int:
    limit: int = request.app.state.context.settings.max_request_bytes
    return limit


def _too_deep(value: Any, limit: int) -> bool:
    """Whether JSON containers nest more than ``limit`` levels (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _lenient_json(body: bytes, exc: Exception) -> Any:
    # Python's json writes NaN and Infinity as bare words; protobuf clients may too. Accept them like MLflow.
    if "depth limit" in str(exc) or "recursion" in str(exc):
        raise BadRequest(f"The request body nests arrays and objects too deeply: {exc}.")
    import json

    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise BadRequest(f"Malformed JSON in request body: {exc}.") from None
