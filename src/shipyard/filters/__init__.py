"""The filter grammar: MLflow's search filter and ``order_by`` syntax, parsed once for every entity and interface.

A capability declares what its entities accept as an `EntitySchema` (built with `field_spec` and `field_specs`),
parses with `parse_filter` and `parse_order_by`, and compiles the result to SQL over its own tables with the shared
pieces in `shipyard.filters.sql`. Tracking (runs, experiments) and the registry (registered models, versions,
logged models) use it; traces and features are next.

Example:
    >>> from shipyard.tracking.search import RUN_SEARCH
    >>> parse_filter("metrics.acc > 0.9 AND params.model = 'cnn'", RUN_SEARCH)[0]
    Comparison(kind=<Kind.METRIC: 'metric'>, key='acc', op='>', value=0.9)
"""

from __future__ import annotations

from shipyard.filters._grammar import (
    Comparison,
    EntitySchema,
    FieldSpec,
    Kind,
    OrderKey,
    Value,
    ValueType,
    field_spec,
    field_specs,
    parse_filter,
    parse_order_by,
)
from shipyard.filters._scanner import (
    EQ,
    GE,
    GT,
    ID_OPS,
    ILIKE,
    IN,
    IS_NOT_NULL,
    IS_NULL,
    KEYED_STRING_OPS,
    LE,
    LIKE,
    LIST_OPS,
    LT,
    NE,
    NOT_IN,
    NULL_OPS,
    NUMERIC_OPS,
    STRING_OPS,
)

__all__ = [
    "EQ",
    "GE",
    "GT",
    "ID_OPS",
    "ILIKE",
    "IN",
    "IS_NOT_NULL",
    "IS_NULL",
    "KEYED_STRING_OPS",
    "LE",
    "LIKE",
    "LIST_OPS",
    "LT",
    "NE",
    "NOT_IN",
    "NULL_OPS",
    "NUMERIC_OPS",
    "STRING_OPS",
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
