"""Fill every table of a Shipyard database, at whatever schema revision it is, with varied rows; snapshot them.

The filler knows no table by name: it reflects the schema, orders the tables by their foreign keys and makes
values from each column's type, length and nullability (non-ASCII text, NULLs, the largest and smallest
integers, extreme floats, both booleans, bytes with NUL). A migration added later is covered without editing
this file; a column type it does not know is refused with its name, so the filler is extended, not bypassed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from sqlalchemy import Column, Engine, MetaData, Table, insert, select, types
from sqlalchemy.exc import SAWarning

__all__ = [
    "ROWS_PER_TABLE",
    "Snapshot",
    "changed_rows",
    "complete_row",
    "fill_every_table",
    "primary_keys",
    "reflect",
    "snapshot",
]

ROWS_PER_TABLE = 3
# table -> rows, each a column -> value mapping
Snapshot = dict[str, list[dict[str, Any]]]

_TEXT = "ñ日本語😀 \"quoted\" 'single' back\\slash 100% _under_ line\nbreak\ttab"
_BIG = (2**63 - 1, -(2**63), 1_767_225_600_123)  # BIGINT max and min, a timestamp in ms
_INT = (2**31 - 1, -(2**31), 42)
_FLOAT = (1.7976931348623157e308, -2.2250738585072014e-308, 0.1)  # the largest double, the smallest normal one


def reflect(engine: Engine) -> MetaData:
    """The schema as the database has it now (Alembic's own table left out)."""
    metadata = MetaData()
    with warnings.catch_warnings():
        # SQLite cannot reflect an index on an expression (lower(name), ...); rows need only columns and keys.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index", SAWarning)
        metadata.reflect(engine)
    alembic_version = metadata.tables.get("alembic_version")
    if alembic_version is not None:
        metadata.remove(alembic_version)
    return metadata


def _text_value(column: Column[Any], table: str, i: int) -> str:
    # The row number comes first so values stay unique when a short column cuts the rest off.
    value = f"{i}·{table}.{column.name} {_TEXT}"
    length = getattr(column.type, "length", None)
    if length is None and i == ROWS_PER_TABLE - 1:
        value = value + "long " * 4000  # 20,000 characters in an unbounded text column
    return value if length is None else value[:length]


def _value(column: Column[Any], table: str, i: int) -> Any:
    kind = column.type
    if isinstance(kind, types.Boolean):
        return i % 2 == 0
    if isinstance(kind, types.BigInteger):
        return _BIG[i % len(_BIG)]
    if isinstance(kind, types.Integer):
        return _INT[i % len(_INT)]
    if isinstance(kind, types.Float | types.Numeric):
        return _FLOAT[i % len(_FLOAT)]
    if isinstance(kind, types.LargeBinary):
        return bytes([0, 255, i]) * 50 + "ñ日".encode()
    if isinstance(kind, types.String):
        return _text_value(column, table, i)
    raise TypeError(
        f"tests/support/schema_fill.py makes no values for {table}.{column.name} ({kind!r}): teach _value the type."
    )


def _assigned_by_database(table: Table) -> set[str]:
    """The integer primary key the database numbers itself (``experiment_id``, ``event_id``, ...)."""
    key = list(table.primary_key.columns)
    if len(key) == 1 and isinstance(key[0].type, types.Integer) and not key[0].foreign_keys:
        return {key[0].name}
    return set()


def _rows(table: Table, parents: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """``ROWS_PER_TABLE`` rows for ``table``: row 0 has NULL in every nullable column that is not a key."""
    keyed = {c.name for c in table.primary_key.columns}
    skipped = _assigned_by_database(table)
    rows: list[dict[str, Any]] = []
    for i in range(ROWS_PER_TABLE):
        row: dict[str, Any] = {}
        for fk in table.foreign_key_constraints:
            # Row i refers to the parent's row i, so keys made only of foreign keys stay distinct.
            referred = parents[fk.referred_table.name]
            parent = referred[i % len(referred)]
            for element in fk.elements:
                row[element.parent.name] = parent[element.column.name]
        for column in table.columns:
            if column.name in row or column.name in skipped:
                continue
            nullable = column.nullable and column.name not in keyed
            row[column.name] = None if nullable and i == 0 else _value(column, table.name, i)
        rows.append(row)
    return rows


def complete_row(table: Table, row: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` as ``table`` takes it: columns it lacks dropped, required ones it has no value for generated.

    Hand-written rows name the columns of the revision they were written for; at a later revision a new
    NOT NULL column still gets a value (and at an earlier one a column that did not exist yet is left out).
    """
    kept = {k: v for k, v in row.items() if k in table.columns}
    skipped = _assigned_by_database(table)
    for column in table.columns:
        required = not column.nullable and column.server_default is None
        if required and column.name not in kept and column.name not in skipped:
            kept[column.name] = _value(column, table.name, 1)
    return kept


def fill_every_table(engine: Engine, metadata: MetaData) -> None:
    """Insert ``ROWS_PER_TABLE`` generated rows into every table of ``metadata``, parents before children."""
    parents: dict[str, list[dict[str, Any]]] = {}
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            conn.execute(insert(table), _rows(table, parents))
            parents[table.name] = [dict(r) for r in conn.execute(select(table)).mappings()]


def _plain(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview) else value


def _order(row: Mapping[str, Any], columns: Sequence[str]) -> tuple[str, ...]:
    return tuple(repr(row[c]) for c in columns)


def snapshot(engine: Engine, metadata: MetaData) -> Snapshot:
    """Every row of every table of ``metadata``, in primary-key order (all columns' order without one)."""
    taken: Snapshot = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            rows = [{k: _plain(v) for k, v in r.items()} for r in conn.execute(select(table)).mappings()]
            order = [c.name for c in table.primary_key.columns] or [c.name for c in table.columns]
            taken[table.name] = sorted(rows, key=partial(_order, columns=order))
    return taken


def primary_keys(metadata: MetaData) -> dict[str, list[str]]:
    """Each table's primary-key columns (empty for a table without one)."""
    return {t.name: [c.name for c in t.primary_key.columns] for t in metadata.sorted_tables}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b and type(a) is type(b))


def _show(row: Mapping[str, Any], key: Sequence[str]) -> str:
    return repr({c: row[c] for c in key})[:200]


def changed_rows(before: Snapshot, after: Snapshot, keys: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """What ``after`` lost or changed of ``before``, per table: rows compared by ``keys`` (the primary key, or
    every column when a table has none), each on the columns both snapshots have. Empty when nothing changed.

    New tables and new columns in ``after`` are not differences; a table that is gone is one.
    """
    problems: dict[str, list[str]] = {}
    for name, old_rows in before.items():
        if name not in after:
            problems[name] = [f"the table is gone with its {len(old_rows)} rows"]
            continue
        new_rows = after[name]
        shared = [c for c in (old_rows[0] if old_rows else {}) if not new_rows or c in new_rows[0]]
        key = [c for c in keys[name] if c in shared] or shared
        indexed: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
        for row in new_rows:
            indexed.setdefault(_order(row, key), []).append(row)
        found: list[str] = []
        if len(new_rows) != len(old_rows):
            found.append(f"{len(old_rows)} rows before, {len(new_rows)} after")
        for row in old_rows:
            candidates = indexed.get(_order(row, key), [])
            if not candidates:
                found.append(f"lost {_show(row, key)}")
                continue
            new = candidates.pop(0)
            diffs = [c for c in shared if not _same(row[c], new[c])]
            if diffs:
                changes = ", ".join(f"{c} {row[c]!r:.80} -> {new[c]!r:.80}" for c in diffs)
                found.append(f"{_show(row, key)}: {changes}")
        if found:
            problems[name] = found
    return problems
