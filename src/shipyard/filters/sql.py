"""The SQL side of the filter grammar: parsed comparisons as SQLAlchemy conditions, the same on every table.

Each capability compiles its own entities (which columns an attribute names, which table holds a key); the
semantics they share live here, so that they are the same on SQLite and PostgreSQL and for every entity:

* ``LIKE`` is case-sensitive and ``ILIKE`` case-insensitive on both databases; neither has an escape character,
  so ``%`` and ``_`` are always wildcards and ``\\`` is literal (MLflow-on-SQLite behaviour). SQLite's LIKE
  ignores case, so case-sensitive LIKE is compiled to GLOB there (ILIKE folds ASCII only on SQLite, as MLflow's
  does).
* Numbers are bound as doubles unless the column holds the integer as it is (PostgreSQL would otherwise cast
  ``200.4`` to ``200`` or fail on ``3000000000`` against an integer column).
* NaN metrics (stored as value 0 with ``is_nan`` set) satisfy only ``!=``; in an order they come after real
  values and before rows without the metric, in both directions.
* A keyed comparison (a tag, param or metric) needs the key: a row without it never matches, ``!=`` and
  ``NOT IN`` included; ``IS NULL`` / ``IS NOT NULL`` test whether the key is there.
* Strings sort by code point (`sortable`: ``COLLATE "C"`` on PostgreSQL).
* The caller's visibility is applied inside the query (`visible_condition`), so pages are cut from visible rows.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Double,
    FromClause,
    Integer,
    and_,
    bindparam,
    case,
    exists,
    false,
    literal,
    or_,
    select,
    true,
)

from shipyard._ids import canonical_experiment_id
from shipyard._visibility import EVERYTHING, Visible
from shipyard.errors import InvalidParameter
from shipyard.filters._grammar import Comparison, Value
from shipyard.filters._scanner import EQ, GE, GT, ILIKE, IN, IS_NOT_NULL, IS_NULL, LE, LIKE, LT, NE, NOT_IN
from shipyard.filters._sql_functions import CaseInsensitiveLike, CaseSensitiveLike, JsonTextField, sortable

__all__ = [
    "CaseInsensitiveLike",
    "CaseSensitiveLike",
    "JsonTextField",
    "attribute_condition",
    "check_page",
    "keyed_exists",
    "metric_condition",
    "metric_order",
    "sortable",
    "string_condition",
    "value_condition",
    "visible_condition",
]

_NUMERIC: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    EQ: operator.eq,
    NE: operator.ne,
    GT: operator.gt,
    GE: operator.ge,
    LT: operator.lt,
    LE: operator.le,
}


def string_condition(column: ColumnElement[Any], op: str, value: Value) -> ColumnElement[bool]:
    """``column op value`` for a string comparison (``=``, ``!=``, ``LIKE``, ``ILIKE``, ``IN``, ``NOT IN``).

    Raises:
        InvalidParameter: another comparator, or a value of the wrong shape.
    """
    if op == EQ:
        return column == value
    if op == NE:
        return column != value
    if op == LIKE:
        return CaseSensitiveLike(column, _as_str(value, op))
    if op == ILIKE:
        return CaseInsensitiveLike(column, _as_str(value, op))
    if op == IN:
        return column.in_(_as_tuple(value, op))
    if op == NOT_IN:
        return column.not_in(_as_tuple(value, op))
    raise InvalidParameter(f"'{op}' cannot compare strings; use =, !=, LIKE, ILIKE, IN or NOT IN.")


def _fits(column: ColumnElement[Any], value: int) -> bool:
    bits = 64 if isinstance(column.type, BigInteger) else 32
    return bool(-(2 ** (bits - 1)) <= value < 2 ** (bits - 1))


def _number(column: ColumnElement[Any], value: int | float) -> Any:
    """A bind for comparing ``column`` with ``value``: typed as a double unless it is an int the column holds.

    Binding with the column's own type would make PostgreSQL cast the value to it: 200.4 would become 200
    and 3000000000 an "integer out of range" error.
    """
    if isinstance(value, int) and _fits(column, value):
        return value
    return literal(float(value), Double())


def value_condition(column: ColumnElement[Any], op: str, value: Value) -> ColumnElement[bool]:
    """``column op value`` for a string or numeric comparison (attributes, ids, param and tag values)."""
    if op in _NUMERIC and isinstance(value, int | float) and not isinstance(value, bool):
        return _NUMERIC[op](column, _number(column, value))
    if op in (IN, NOT_IN) and isinstance(value, tuple) and all(isinstance(v, int) for v in value):
        # Ids the column cannot hold match nothing, so they leave IN and NOT IN alike.
        held = [v for v in value if isinstance(v, int) and _fits(column, v)]
        return column.in_(held) if op == IN else column.not_in(held)
    return string_condition(column, op, value)


def _as_str(value: Value, op: str) -> str:
    if not isinstance(value, str):
        raise InvalidParameter(f"'{op}' needs a quoted string, got {value!r}.")
    return value


def _as_tuple(value: Value, op: str) -> tuple[str, ...] | tuple[int, ...]:
    if not isinstance(value, tuple) or not value:
        raise InvalidParameter(f"'{op}' needs a non-empty list of values, got {value!r}.")
    return value


def metric_condition(table: FromClause, op: str, value: Value) -> ColumnElement[bool]:
    """``value op number`` on a latest-metric table (columns ``value`` and ``is_nan``); NaN satisfies only ``!=``.

    Raises:
        InvalidParameter: a comparator other than ``= != > >= < <=``, or a value that is not a number.
    """
    if op not in _NUMERIC or not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidParameter(f"Metrics are compared with =, !=, >, >=, <, <= and a number, got '{op}' {value!r}.")
    condition = _NUMERIC[op](table.c.value, literal(float(value), Double()))
    # NaN is stored as 0 with is_nan set: every comparison with NaN is false except "!=".
    if op == NE:
        return or_(condition, table.c.is_nan == true())
    return and_(condition, table.c.is_nan == false())


def metric_order(value: ColumnElement[Any], is_nan: ColumnElement[Any], *, ascending: bool) -> list[ColumnElement[Any]]:
    """ORDER BY clauses for a metric: real values first, then NaN, then rows without the metric (MLflow's order)."""
    return [
        case((value.is_(None), 2), (is_nan == true(), 1), else_=0),
        (value.asc() if ascending else value.desc()).nulls_last(),
    ]


def keyed_exists(
    table: FromClause, owner: Sequence[tuple[ColumnElement[Any], ColumnElement[Any]]], comparison: Comparison
) -> ColumnElement[bool]:
    """EXISTS a ``(key, value)`` row of the owning entity (a tag or param) that satisfies a string comparison.

    Args:
        table: a key/value table (columns ``key`` and ``value``).
        owner: pairs ``(table column, entity column)`` that tie a row to the entity being searched.
        comparison: a keyed comparison; ``IS NULL`` / ``IS NOT NULL`` test whether the key is there at all.
    """
    where = [a == b for a, b in owner]
    where.append(table.c.key == comparison.key)
    if comparison.op in (IS_NULL, IS_NOT_NULL):
        present = exists(select(table.c.key).where(*where))
        return ~present if comparison.op == IS_NULL else present
    where.append(string_condition(table.c.value, comparison.op, comparison.value))
    return exists(select(table.c.key).where(*where))


def attribute_condition(
    columns: Mapping[str, ColumnElement[Any]], entity: str, comparison: Comparison
) -> ColumnElement[bool]:
    """An attribute comparison on the column ``columns`` maps its name to.

    Raises:
        InvalidParameter: ``entity`` has no such attribute.
    """
    column = columns.get(comparison.key)
    if column is None:
        article = "an" if entity[:1] in "aeiou" else "a"
        raise InvalidParameter(f"'{comparison.key}' is not {article} {entity} attribute.")
    return value_condition(column, comparison.op, comparison.value)


# ---------------------------------------------------------------------------------------------------------
# Visibility: the caller's permissions, applied inside the query so pages are cut from visible rows only


def _integer_ids(values: frozenset[str], *, canonical_only: bool) -> list[int]:
    """The ids an integer column can match; ``canonical_only`` drops other spellings ("02") instead of reading them.

    An allow-list keeps only canonical ids (a grant on "02" opens nothing), a deny-list reads every digit
    spelling (a denial on "02" still hides experiment 2): both fail closed. Ids that are not ASCII digits
    name no row and are dropped.
    """
    out = set()
    for value in values:
        try:
            canonical = canonical_experiment_id(value)
        except InvalidParameter:
            continue
        if not (canonical_only and canonical != value):
            out.add(int(canonical))
    return sorted(out)


def _in_list(column: ColumnElement[Any], values: Sequence[str] | Sequence[int]) -> ColumnElement[bool]:
    if values and isinstance(values[0], int):
        # Integers are rendered inline: a user with many grants must not run into the bind-parameter limit.
        return column.in_(bindparam("visible_ids", list(values), expanding=True, literal_execute=True, unique=True))
    return column.in_(list(values))


def visible_condition(column: ColumnElement[Any], visible: Visible = EVERYTHING) -> list[ColumnElement[bool]]:
    """The WHERE conditions that keep only the rows whose ``column`` (an id or a name) the caller may see.

    Args:
        column: the column holding the resource id: an integer experiment id, or a model or deployment name.
        visible: the caller's visibility (built by the permission layer); the default lets everything through.

    Returns:
        Conditions to AND into the query (none when everything is visible).
    """
    if visible.unrestricted:
        return []
    integer = isinstance(column.type, Integer)
    where: list[ColumnElement[bool]] = []
    if visible.allowed is not None:
        allowed = _integer_ids(visible.allowed, canonical_only=True) if integer else sorted(visible.allowed)
        where.append(_in_list(column, allowed) if allowed else false())
    if visible.denied:
        denied = _integer_ids(visible.denied, canonical_only=False) if integer else sorted(visible.denied)
        if denied:
            where.append(~_in_list(column, denied))
    return where


def check_page(offset: int, limit: int) -> None:
    """Refuse a negative page offset or size.

    Raises:
        InvalidParameter: either is negative.
    """
    if offset < 0:
        raise InvalidParameter(f"A page offset must be zero or more, got {offset}.")
    if limit < 0:
        raise InvalidParameter(f"A page size must be zero or more, got {limit}.")
