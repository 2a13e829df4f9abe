"""MLflow's search filter and order_by grammar, parsed once for every interface (REST, SDK, CLI, UI).

The parser is generic over an :class:`EntitySchema` that says which prefixes, attributes and comparators
an entity accepts. Each capability declares its own entities' schemas (``shipyard.tracking.search`` for runs and
experiments, ``shipyard.registry.search`` for registered models, versions and logged models). Parsing is pure: no
I/O, no SQL; `shipyard.filters.sql` holds the pieces that compile it to SQL.

Grammar (keywords are case-insensitive, prefixes and keys are not)::

    filter     := comparison ( [AND] comparison )*   -- as in MLflow, AND may also lead, trail or repeat
    comparison := column op value | column IN list | column NOT IN list | column IS [NOT] NULL
    column     := [prefix "."] key             -- no prefix means an attribute
    prefix     := word | `word` | "word"       -- metrics, params, tags, attributes, datasets, ...
    key        := bare | `quoted` | "quoted"   -- bare keys may hold letters, digits and _ . - / :
    op         := = | != | > | >= | < | <= | LIKE | ILIKE
    value      := 'string' | "string" | number -- a doubled quote, \\' or \\\\ escapes; other \\ are literal
    list       := "(" value ( "," value )* [","] ")"
    order_by   := column [ASC | DESC]          -- one per list item

Beyond MLflow's tokenizer: bare keys may hold ``- / :``; MLflow's tokenizer accidents that invent keys
(``metrics. a``) are rejected; a column named twice in ``order_by`` is an InvalidParameter everywhere (MLflow
answers 500 for runs and ignores it for experiments); ``''`` and ``\\'`` inside a string stand for a quote (MLflow
keeps both characters).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Final, TypeAlias

from shipyard.errors import InvalidParameter
from shipyard.filters._scanner import (
    EQ,
    GE,
    GT,
    ID_OPS,
    ILIKE,
    IN,
    IS_NOT_NULL,
    IS_NULL,
    LE,
    LIKE,
    LIST_OPS,
    LT,
    NE,
    NOT_IN,
    NULL_OPS,
    NUMERIC_OPS,
    STRING_OPS,
    Column,
    Scanner,
)

__all__ = [
    "Comparison",
    "EntitySchema",
    "FieldSpec",
    "Kind",
    "OrderKey",
    "Value",
    "ValueType",
    "field_spec",
    "field_specs",
    "parse_filter",
    "parse_order_by",
]


class Kind(StrEnum):
    """What a column names: an attribute of the entity itself, or a keyed metric, param, tag or dataset."""

    ATTRIBUTE = "attribute"
    METRIC = "metric"
    PARAM = "param"
    TAG = "tag"
    DATASET = "dataset"


class ValueType(StrEnum):
    """The literal an attribute (or dataset field) is compared with."""

    STRING = "string"  # a quoted string
    NUMBER = "number"  # an int or float literal, kept as written (int stays int)
    INTEGER = "integer"  # a whole number only (millisecond timestamps, version numbers)
    ID = "id"  # an integer id, written quoted ('3') as MLflow requires


_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1

Value: TypeAlias = str | int | float | tuple[str, ...] | tuple[int, ...] | None
"""A parsed right-hand side: a string, a number, a tuple for IN / NOT IN, None for IS [NOT] NULL."""


@dataclass(frozen=True)
class Comparison:
    """One ``column op value`` condition of a filter; a filter is the AND of its comparisons.

    Attributes:
        kind: what the column names.
        key: the metric/param/tag key, the canonical attribute name (aliases resolved: ``created`` is
            ``start_time``), or the dataset field (``name``, ``digest``, ``context``).
        op: the comparator in upper case: ``=``, ``!=``, ``>``, ``>=``, ``<``, ``<=``, ``LIKE``, ``ILIKE``,
            ``IN``, ``NOT IN``, ``IS NULL``, ``IS NOT NULL``.
        value: ``float`` for metrics; ``int`` or ``float`` for numeric attributes; ``int`` for ids; ``str``
            for strings; a tuple for ``IN`` / ``NOT IN``; ``None`` for ``IS [NOT] NULL``.
    """

    kind: Kind
    key: str
    op: str
    value: Value


@dataclass(frozen=True)
class OrderKey:
    """One ``order_by`` item: sort by this column, ascending unless ``ascending`` is False."""

    kind: Kind
    key: str
    ascending: bool = True


@dataclass(frozen=True)
class FieldSpec:
    """An attribute (or dataset field) of an entity: its canonical name, literal type and comparators."""

    name: str
    value_type: ValueType
    ops: frozenset[str]
    filterable: bool = True
    orderable: bool = True


@dataclass(frozen=True, eq=False)
class EntitySchema:
    """What one entity's search accepts; the parser is generic over it.

    Attributes:
        entity: the entity's name in messages ("run", "experiment", ...).
        prefixes: every accepted column prefix (aliases included) and the kind it selects, in the order
            messages list them; the first prefix of each kind is its canonical spelling.
        attributes: attribute specs by every accepted name, aliases included (``created`` -> start_time).
        key_ops: comparators allowed per keyed kind (metric, param, tag).
        dataset_fields: dataset field specs, for entities that have dataset inputs.
        order_kinds: kinds allowed in ``order_by`` (attributes must also be ``orderable``).
        filter_only_aliases: attribute aliases MLflow accepts in filters but not in ``order_by``.
        default_order: the order MLflow applies when ``order_by`` is empty (tie-breakers are the SQL
            layer's business).
    """

    entity: str
    prefixes: Mapping[str, Kind]
    attributes: Mapping[str, FieldSpec]
    key_ops: Mapping[Kind, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    dataset_fields: Mapping[str, FieldSpec] = field(default_factory=lambda: MappingProxyType({}))
    order_kinds: frozenset[Kind] = frozenset({Kind.ATTRIBUTE})
    filter_only_aliases: frozenset[str] = frozenset()
    default_order: tuple[OrderKey, ...] = ()

    def prefix_list(self) -> str:
        """The canonical prefixes, for messages: ``metrics., params., tags., attributes., datasets.``."""
        seen: dict[Kind, str] = {}
        for prefix, kind in self.prefixes.items():
            seen.setdefault(kind, prefix)
        return ", ".join(f"{p}." for p in seen.values())

    def attribute_list(self, *, for_order: bool = False) -> str:
        """The canonical attribute names, for messages."""
        names = {spec.name for spec in self.attributes.values() if (spec.orderable if for_order else spec.filterable)}
        return ", ".join(sorted(names))


# ---------------------------------------------------------------------------------------------------------
# Building schemas


def field_spec(
    name: str, value_type: ValueType, *, lists: bool = False, filterable: bool = True, orderable: bool = True
) -> FieldSpec:
    """An attribute's spec with the comparators its type takes (``IN`` / ``NOT IN`` for strings only if ``lists``).

    Example:
        >>> field_spec("status", ValueType.STRING, lists=True).ops == STRING_OPS
        True
    """
    ops = {
        ValueType.STRING: STRING_OPS - LIST_OPS | (LIST_OPS if lists else frozenset()),
        ValueType.NUMBER: NUMERIC_OPS,
        ValueType.INTEGER: NUMERIC_OPS,
        ValueType.ID: ID_OPS,
    }[value_type]
    return FieldSpec(name, value_type, frozenset(ops), filterable=filterable, orderable=orderable)


def field_specs(*specs: FieldSpec, aliases: Mapping[str, str] | None = None) -> Mapping[str, FieldSpec]:
    """Specs by name, for `EntitySchema.attributes`; ``aliases`` maps extra accepted names to a spec's name."""
    by_name = {spec.name: spec for spec in specs}
    for alias, target in (aliases or {}).items():
        by_name[alias] = by_name[target]
    return MappingProxyType(by_name)


# ---------------------------------------------------------------------------------------------------------
# Resolution against a schema


def _resolve(
    column: Column, schema: EntitySchema, scanner: Scanner, *, for_order: bool = False
) -> tuple[Kind, str, FieldSpec | None]:
    if column.prefix is None:
        kind = Kind.ATTRIBUTE
    else:
        found = schema.prefixes.get(column.prefix)
        if found is None:
            raise scanner.fail(
                f"unknown prefix {column.prefix!r} in {column.text!r}; {schema.entity} search accepts "
                f"{schema.prefix_list()} (or a bare attribute name)."
            )
        kind = found
    if kind is Kind.ATTRIBUTE:
        spec = schema.attributes.get(column.name)
        if for_order and column.name in schema.filter_only_aliases:
            spec = None
        if spec is None:
            hint = ""
            if column.prefix is None and "metrics" in schema.prefixes:
                name = column.name
                hint = f" For a metric, param or tag write metrics.{name}, params.{name} or tags.{name}."
            raise scanner.fail(
                f"{column.name!r} is not an attribute of {schema.entity}s; valid attributes are "
                f"{schema.attribute_list(for_order=for_order)}.{hint}"
            )
        return kind, spec.name, spec
    if kind is Kind.DATASET:
        spec = schema.dataset_fields.get(column.name)
        if spec is None:
            valid = ", ".join(sorted({s.name for s in schema.dataset_fields.values()}))
            raise scanner.fail(f"{column.name!r} is not a dataset field; valid fields are {valid}.")
        return kind, spec.name, spec
    return kind, column.name, None


def _check_int(value: int, column: str, scanner: Scanner) -> int:
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise scanner.fail(f"the number {value} compared with {column!r} is out of range.")
    return value


def _typed(raw: str | int | float, value_type: ValueType, column: str, op: str, scanner: Scanner) -> str | int | float:
    """Check one literal against what the column holds and convert it."""
    if value_type is ValueType.STRING:
        if not isinstance(raw, str):
            raise scanner.fail(f"{column!r} holds strings; quote the value after {op!r}, e.g. '{raw}'.")
        return raw
    if value_type is ValueType.ID:
        if not isinstance(raw, str) or not re.fullmatch(r"\d+", raw):
            raise scanner.fail(f"{column!r} is compared with a quoted integer id such as '1', got {raw!r}.")
        return _check_int(int(raw), column, scanner)
    if isinstance(raw, str):
        raise scanner.fail(
            f"{column!r} holds numbers; compare it with an unquoted number, e.g. {column} {op} 10, not {raw!r}."
        )
    if value_type is ValueType.INTEGER:
        if isinstance(raw, float):
            raise scanner.fail(f"{column!r} holds whole numbers (milliseconds or counts); got {raw!r}.")
        return _check_int(raw, column, scanner)
    return _check_int(raw, column, scanner) if isinstance(raw, int) else raw


def _comparison(scanner: Scanner, schema: EntitySchema) -> Comparison:
    column = scanner.column()
    kind, key, spec = _resolve(column, schema, scanner)
    scanner.skip_ws()
    op = scanner.operator(column.text)
    if spec is not None and not spec.filterable:
        raise scanner.fail(f"{column.text!r} can be used in order_by but not in a filter.")
    allowed = spec.ops if spec is not None else schema.key_ops.get(kind)
    if not allowed:
        raise scanner.fail(f"{kind.value}s cannot be filtered in {schema.entity} search.")
    if op not in allowed:
        ordered = [o for o in (EQ, NE, GT, GE, LT, LE, LIKE, ILIKE, IN, NOT_IN, IS_NULL, IS_NOT_NULL) if o in allowed]
        what = f"{kind.value} {key!r}" if spec is None else f"{column.text!r}"
        raise scanner.fail(f"{op!r} cannot compare {what}; use one of {', '.join(ordered)}.")
    scanner.skip_ws()
    after = f"{column.text} {op}"
    if op in NULL_OPS:
        return Comparison(kind, key, op, None)
    if kind is Kind.METRIC:
        raw = scanner.scalar(after)
        if isinstance(raw, str):
            raise scanner.fail(
                f"metric {key!r} is compared with numbers; write e.g. {column.text} {op} 0.5, not {raw!r}."
            )
        return Comparison(kind, key, op, float(raw))
    value_type = spec.value_type if spec is not None else ValueType.STRING
    if op in LIST_OPS:
        raws = scanner.values(after)
        if value_type is ValueType.ID:
            ids = tuple(int(_typed(raw, value_type, column.text, op, scanner)) for raw in raws)
            return Comparison(kind, key, op, ids)
        strings = tuple(str(_typed(raw, ValueType.STRING, column.text, op, scanner)) for raw in raws)
        return Comparison(kind, key, op, strings)
    return Comparison(kind, key, op, _typed(scanner.scalar(after), value_type, column.text, op, scanner))


def parse_filter(text: str | None, schema: EntitySchema) -> tuple[Comparison, ...]:
    """Parse an MLflow search filter into the comparisons it ANDs together.

    Args:
        text: the filter, e.g. ``"metrics.acc > 0.9 AND tags.mlflow.runName LIKE 'cnn%'"``; empty or None
            matches everything.
        schema: what the searched entity accepts, e.g. ``shipyard.tracking.search.RUN_SEARCH``.

    Returns:
        The comparisons, in the order written.

    Raises:
        InvalidParameter: the filter is malformed or names something the schema does not accept; the
            message names the bad part and what was expected.

    Example:
        >>> from shipyard.tracking.search import RUN_SEARCH
        >>> parse_filter("params.lr = '0.1'", RUN_SEARCH)
        (Comparison(kind=<Kind.PARAM: 'param'>, key='lr', op='=', value='0.1'),)
    """
    if text is None:
        return ()
    if not isinstance(text, str):
        raise InvalidParameter(f"A filter must be a string, got {type(text).__name__}.")
    scanner = Scanner(text, "filter")
    comparisons: list[Comparison] = []
    while True:
        # As in MLflow, AND separates comparisons but may also be repeated, leading, trailing or left out.
        scanner.skip_ws()
        start = scanner.pos
        keyword = scanner.keyword()
        if keyword == "AND":
            continue
        scanner.pos = start
        if scanner.at_end():
            return tuple(comparisons)
        if keyword == "OR":
            raise scanner.fail("OR is not supported; MLflow's search grammar only joins comparisons with AND.")
        if keyword == "NOT":
            raise scanner.fail("NOT is not supported; negate the comparison instead (!=, NOT IN, IS NOT NULL).")
        comparisons.append(_comparison(scanner, schema))


def parse_order_by(items: Iterable[str] | str | None, schema: EntitySchema) -> tuple[OrderKey, ...]:
    """Parse MLflow ``order_by`` items such as ``"metrics.rmse DESC"`` or ``"start_time"``.

    Args:
        items: one ``<column> [ASC|DESC]`` per item (a lone string counts as one item); empty or None
            means the schema's default order.
        schema: what the searched entity accepts, e.g. ``shipyard.tracking.search.RUN_SEARCH``.

    Returns:
        One :class:`OrderKey` per item, in priority order.

    Raises:
        InvalidParameter: an item is malformed, names a column the entity cannot sort by, or repeats a column.

    Example:
        >>> from shipyard.tracking.search import RUN_SEARCH
        >>> parse_order_by(["metrics.rmse DESC"], RUN_SEARCH)
        (OrderKey(kind=<Kind.METRIC: 'metric'>, key='rmse', ascending=False),)
    """
    if items is None:
        return ()
    if isinstance(items, str):
        items = [items]
    keys: list[OrderKey] = []
    seen: set[tuple[Kind, str]] = set()
    for item in items:
        if not isinstance(item, str):
            raise InvalidParameter(f"Each order_by item must be a string, got {type(item).__name__}.")
        scanner = Scanner(item, "order_by clause")
        scanner.skip_ws()
        if scanner.at_end():
            raise scanner.fail("it is empty; expected '<column> [ASC|DESC]', e.g. 'metrics.rmse DESC'.")
        column = scanner.column()
        kind, key, spec = _resolve(column, schema, scanner, for_order=True)
        if kind not in schema.order_kinds or (spec is not None and not spec.orderable):
            raise scanner.fail(
                f"{schema.entity} search cannot sort by {column.text!r}; it sorts by {_order_targets(schema)}."
            )
        scanner.skip_ws()
        ascending = True
        if not scanner.at_end():
            direction_text = scanner.rest_word()
            direction = (scanner.word() or "").upper()
            if direction not in ("ASC", "DESC"):
                raise scanner.fail(f"expected ASC or DESC after {column.text!r}, found {direction_text!r}.")
            ascending = direction == "ASC"
            scanner.skip_ws()
            if not scanner.at_end():
                raise scanner.fail(f"unexpected {scanner.rest_word()!r} after {direction}; one column per item.")
        if (kind, key) in seen:
            raise InvalidParameter(f"order_by names {column.text!r} more than once; give each column once.")
        seen.add((kind, key))
        keys.append(OrderKey(kind, key, ascending))
    return tuple(keys)


def _order_targets(schema: EntitySchema) -> str:
    parts = [f"the attributes {schema.attribute_list(for_order=True)}"]
    seen: set[Kind] = set()
    for prefix, kind in schema.prefixes.items():
        if kind in schema.order_kinds and kind is not Kind.ATTRIBUTE and kind not in seen:
            seen.add(kind)
            parts.append(f"{prefix}.<key>")
    return ", ".join(parts)
