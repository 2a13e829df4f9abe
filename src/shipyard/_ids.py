"""Experiment ids in one canonical spelling, so a permission check and a store lookup always mean the same row."""

from __future__ import annotations

import re

from shipyard.errors import InvalidParameter

__all__ = ["MAX_EXPERIMENT_ID", "canonical_experiment_id", "strict_experiment_id"]

MAX_EXPERIMENT_ID = 2**31 - 1
# ASCII digits only: ``int()`` also accepts " 2", "+2", "0_2" and "٢" (any Unicode digit), and grants are keyed by
# the string, so every other spelling of 2 would be a different, ungranted key that still reaches experiment 2.
_DIGITS = re.compile(r"[0-9]+")


def canonical_experiment_id(value: object, field: str = "experiment_id") -> str:
    """The one spelling of an experiment id: ASCII digits without leading zeros (``"02"`` becomes ``"2"``).

    Args:
        value: the id as sent (a string, or an int from a JSON body or a database row).
        field: the request field, named in the message.

    Returns:
        ``str(int(value))``.

    Raises:
        InvalidParameter: anything but ASCII digits (signs, spaces, underscores, other scripts' digits), or a
            number past the experiment id column's range.

    Example:
        >>> canonical_experiment_id("007")
        '7'
    """
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise InvalidParameter(f"Invalid {field} {value!r}: expected an experiment id such as '1'.")
    if len(text) > 64 or _DIGITS.fullmatch(text) is None:
        shown = text if len(text) <= 64 else text[:64] + "..."
        raise InvalidParameter(
            f"Invalid {field} {shown!r}: an experiment id is written with the ASCII digits 0-9 only, such as '1'."
        )
    number = int(text)
    if number > MAX_EXPERIMENT_ID:
        raise InvalidParameter(f"Invalid {field} {text!r}: out of range (at most {MAX_EXPERIMENT_ID}).")
    return str(number)


def strict_experiment_id(value: object, field: str = "experiment_id") -> int:
    """An experiment id that must already be canonical (what stores accept): ``"2"`` or ``2``, never ``"02"``.

    Interfaces canonicalize what they receive (`canonical_experiment_id`) before checking permissions; a store
    refusing every other spelling means a caller that forgot cannot reach a row its check did not name.

    Raises:
        InvalidParameter: not the canonical spelling of an experiment id.
    """
    canonical = canonical_experiment_id(value, field)
    if isinstance(value, str) and value != canonical:
        raise InvalidParameter(f"Invalid {field} {value!r}: write it as {canonical!r}, without leading zeros.")
    return int(canonical)
