"""SQL the search grammar needs that databases spell differently: case-aware LIKE, ILIKE, JSON fields, C order.

Case-sensitive LIKE becomes GLOB on SQLite; ILIKE folds case on both; a JSON object's text field is read with
each database's JSON functions; strings sort by code point (``COLLATE "C"`` on PostgreSQL).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ColumnElement, String, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

__all__ = ["CaseInsensitiveLike", "CaseSensitiveLike", "JsonTextField", "sortable"]


def _like_to_glob(pattern: str) -> str:
    """A GLOB pattern matching exactly what the escape-less LIKE ``pattern`` matches, case-sensitively."""
    special = {"%": "*", "_": "?", "*": "[*]", "?": "[?]", "[": "[[]"}
    return "".join(special.get(char, char) for char in pattern)


class CaseSensitiveLike(FunctionElement[bool]):
    """``column LIKE pattern`` that respects case on every database (GLOB on SQLite)."""

    type = Boolean()
    inherit_cache = True
    name = "shipyard_like"
    _is_implicitly_boolean = True  # already a predicate: no "= 1" on SQLite

    def __init__(self, column: ColumnElement[Any], pattern: str) -> None:
        super().__init__(column, literal(pattern, String()), literal(_like_to_glob(pattern), String()))


class CaseInsensitiveLike(FunctionElement[bool]):
    """``column ILIKE pattern`` on every database."""

    type = Boolean()
    inherit_cache = True
    name = "shipyard_ilike"
    _is_implicitly_boolean = True

    def __init__(self, column: ColumnElement[Any], pattern: str) -> None:
        super().__init__(column, literal(pattern, String()))


class JsonTextField(FunctionElement[str]):
    """The text value of one top-level key of a column holding a JSON object (NULL when absent)."""

    type = String()
    inherit_cache = True
    name = "shipyard_json_text"

    def __init__(self, column: ColumnElement[Any], key: str) -> None:
        quoted_key = key.replace("\\", "\\\\").replace('"', '\\"')
        super().__init__(column, literal(key, String()), literal(f'$."{quoted_key}"', String()))


def _parts(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> list[str]:
    return [compiler.process(clause, **kw) for clause in element.clauses]


class _BinarySort(FunctionElement[str]):
    """A string column sorted by code point on every database (PostgreSQL's default collation is not)."""

    type = String()
    inherit_cache = True
    name = "shipyard_binary_sort"


@compiles(_BinarySort)
def _binary_sort_default(element: _BinarySort, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = _parts(element, compiler, **kw)
    return column


@compiles(_BinarySort, "postgresql")
def _binary_sort_postgresql(element: _BinarySort, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = _parts(element, compiler, **kw)
    return f'({column} COLLATE "C")'


def sortable(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """The column to sort by: a string column sorted by code point on every database, any other as it is."""
    return _BinarySort(column) if isinstance(column.type, String) else column


@compiles(CaseSensitiveLike)
def _like_default(element: CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, pattern, _ = _parts(element, compiler, **kw)
    return f"({column} LIKE {pattern})"


@compiles(CaseSensitiveLike, "postgresql")
def _like_postgresql(element: CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, pattern, _ = _parts(element, compiler, **kw)
    return f"({column} LIKE {pattern} ESCAPE '')"


@compiles(CaseSensitiveLike, "sqlite")
def _like_sqlite(element: CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, _, glob = _parts(element, compiler, **kw)
    return f"({column} GLOB {glob})"


@compiles(CaseInsensitiveLike)
def _ilike_default(element: CaseInsensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, pattern = _parts(element, compiler, **kw)
    return f"(lower({column}) LIKE lower({pattern}))"


@compiles(CaseInsensitiveLike, "postgresql")
def _ilike_postgresql(element: CaseInsensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, pattern = _parts(element, compiler, **kw)
    return f"({column} ILIKE {pattern} ESCAPE '')"


@compiles(CaseInsensitiveLike, "sqlite")
def _ilike_sqlite(element: CaseInsensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite's LIKE ignores (ASCII) case and has no escape character unless one is named.
    column, pattern = _parts(element, compiler, **kw)
    return f"({column} LIKE {pattern})"


@compiles(JsonTextField)
def _json_default(element: JsonTextField, compiler: SQLCompiler, **kw: Any) -> str:
    column, _, path = _parts(element, compiler, **kw)
    return f"json_extract({column}, {path})"


@compiles(JsonTextField, "sqlite")
def _json_sqlite(element: JsonTextField, compiler: SQLCompiler, **kw: Any) -> str:
    # Guarded by json_valid so a malformed row reads as "no such key" instead of failing the query.
    column, _, path = _parts(element, compiler, **kw)
    return f"(CASE WHEN json_valid({column}) THEN json_extract({column}, {path}) END)"


@compiles(JsonTextField, "postgresql")
def _json_postgresql(element: JsonTextField, compiler: SQLCompiler, **kw: Any) -> str:
    column, key, _ = _parts(element, compiler, **kw)
    return f"(CAST({column} AS JSONB) ->> {key})"
