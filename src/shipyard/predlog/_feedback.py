"""Ground-truth labels: the ``POST /v1/feedback`` body, checked, and the feedback log's Arrow rows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

from shipyard.errors import InvalidParameter

__all__ = ["MAX_FEEDBACK_ITEMS", "FeedbackRecord", "feedback_table", "parse_feedback"]

#: The most labels one ``POST /v1/feedback`` body may carry.
MAX_FEEDBACK_ITEMS = 10_000

_FIELDS = ("request_id", "label", "row", "outcome")
_MAX_REQUEST_ID_CHARS = 256
_MAX_OUTCOME_CHARS = 128
_MAX_LABEL_CHARS = 4096
_MAX_ROW = 2**31 - 1  # the `row` column is int32
_SHOWN_CHARS = 80


class FeedbackRecord(NamedTuple):
    """One label posted for a served request.

    Attributes:
        request_id: the request the label is for (the id the server answered with).
        label: the ground truth: a string, a number or a boolean.
        row: the row of the request it is for; ``None`` for every row of the request.
        outcome: the name of what was observed (``"churned"``, ``"clicked"``) when a deployment tracks several.
    """

    request_id: str
    label: str | int | float | bool
    row: int | None = None
    outcome: str | None = None


def parse_feedback(body: bytes | str) -> list[FeedbackRecord]:
    """Read and check the JSON body of ``POST /v1/feedback``.

    The body is one label, ``{"request_id": "…", "label": "yes", "row": 0, "outcome": "churned"}`` (``row`` and
    ``outcome`` optional; without ``row`` the label is for every row of the request), or up to
    `MAX_FEEDBACK_ITEMS` of them as ``{"feedback": [{…}, {…}]}``. Unknown fields are refused, so a misspelt
    ``row`` never turns a row's label into the whole request's.

    Args:
        body: the request body, UTF-8 JSON.

    Returns:
        The labels, in the order posted.

    Raises:
        InvalidParameter: the body is not JSON of either shape; the message names the field and the item, such
            as ``feedback[3].request_id is missing.``

    Example:
        >>> parse_feedback(b'{"request_id": "r1", "label": 1}')
        [FeedbackRecord(request_id='r1', label=1, row=None, outcome=None)]
    """
    try:
        data = json.loads(body, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise InvalidParameter(f"The feedback body is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise InvalidParameter(
            f"The feedback body must be a JSON object, got {_shown(data)}; expected "
            '{"request_id": …, "label": …} or {"feedback": [...]}.'
        )
    if "feedback" not in data:
        return [_item(data, "")]
    unknown = sorted(set(data) - {"feedback"})
    if unknown:
        raise InvalidParameter(f"The feedback body has the unknown field {unknown[0]!r} beside 'feedback'.")
    items = data["feedback"]
    if not isinstance(items, list):
        raise InvalidParameter(f"feedback must be a JSON array of objects, got {_shown(items)}.")
    if not items:
        raise InvalidParameter(f"feedback is empty; expected 1 to {MAX_FEEDBACK_ITEMS:,} objects.")
    if len(items) > MAX_FEEDBACK_ITEMS:
        raise InvalidParameter(f"feedback holds {len(items):,} items; at most {MAX_FEEDBACK_ITEMS:,} are allowed.")
    return [_item(item, f"feedback[{index}]") for index, item in enumerate(items)]


def feedback_table(labels: Sequence[tuple[int, FeedbackRecord]]) -> Any:
    """The feedback log rows of ``(time_ms received, record)`` pairs, as a ``pyarrow.Table``.

    ``label`` holds the JSON text of the label, so ``"yes"``, ``1`` and ``true`` keep their types;
    ``label_value`` holds it as a float when it is a number or a boolean, else null.
    """
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information

    from shipyard.predlog._segments import time_type

    return pa.Table.from_arrays(
        [
            pa.array([record.request_id for _, record in labels], pa.string()),
            pa.array([record.row for _, record in labels], pa.int32()),
            pa.array([time_ms for time_ms, _ in labels], pa.int64()).cast(time_type()),
            pa.array([json.dumps(record.label, ensure_ascii=False) for _, record in labels], pa.string()),
            pa.array([_label_value(record.label) for _, record in labels], pa.float64()),
            pa.array([record.outcome for _, record in labels], pa.string()),
        ],
        names=["request_id", "row", "time", "label", "label_value", "outcome"],
    )


def _item(item: Any, where: str) -> FeedbackRecord:
    """One label object; ``where`` names it in messages (``"feedback[3]"``, or ``""`` for a lone object)."""
    at = f"{where}." if where else ""
    if not isinstance(item, dict):
        raise InvalidParameter(f"{where} must be a JSON object with request_id and label, got {_shown(item)}.")
    unknown = [name for name in item if name not in _FIELDS]
    if unknown:
        raise InvalidParameter(f"{at}{unknown[0]} is not a feedback field; expected {', '.join(_FIELDS)}.")
    for name in ("request_id", "label"):
        if name not in item:
            raise InvalidParameter(f"{at}{name} is missing.")
    request_id, label, row, outcome = item["request_id"], item["label"], item.get("row"), item.get("outcome")
    if not isinstance(request_id, str) or not 1 <= len(request_id) <= _MAX_REQUEST_ID_CHARS:
        raise InvalidParameter(
            f"{at}request_id must be a string of 1 to {_MAX_REQUEST_ID_CHARS} characters, got {_shown(request_id)}."
        )
    if not isinstance(label, str | int | float) or (isinstance(label, str) and len(label) > _MAX_LABEL_CHARS):
        raise InvalidParameter(
            f"{at}label must be a string of at most {_MAX_LABEL_CHARS} characters, a number or a boolean, "
            f"got {_shown(label)}."
        )
    if row is not None and (isinstance(row, bool) or not isinstance(row, int) or not 0 <= row <= _MAX_ROW):
        raise InvalidParameter(f"{at}row must be a whole number from 0 to {_MAX_ROW}, got {_shown(row)}.")
    if outcome is not None and (not isinstance(outcome, str) or not 1 <= len(outcome) <= _MAX_OUTCOME_CHARS):
        raise InvalidParameter(
            f"{at}outcome must be a string of 1 to {_MAX_OUTCOME_CHARS} characters, got {_shown(outcome)}."
        )
    return FeedbackRecord(request_id, label, row, outcome)


def _label_value(label: object) -> float | None:
    if isinstance(label, bool | int | float):
        try:
            return float(label)
        except OverflowError:  # an integer past float's range has no float value
            return None
    return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _shown(value: Any) -> str:
    """A value as a message shows it: JSON, cut short."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _SHOWN_CHARS else f"{text[: _SHOWN_CHARS - 3]}..."
