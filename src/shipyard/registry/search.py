"""The registry's search schemas: what registered-model, model-version and logged-model searches accept.

They are written in the shared filter grammar (`shipyard.filters`) and accept what MLflow 3 accepts (see each
docstring for the exceptions); `shipyard.registry._search_sql` compiles the parsed filters to SQL.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from shipyard.filters import (
    LIST_OPS,
    NUMERIC_OPS,
    STRING_OPS,
    EntitySchema,
    Kind,
    OrderKey,
    ValueType,
    field_spec,
    field_specs,
)

__all__ = ["LOGGED_MODEL_SEARCH", "MODEL_VERSION_SEARCH", "REGISTERED_MODEL_SEARCH"]

_REGISTRY_PREFIXES: Final = MappingProxyType({"attribute": Kind.ATTRIBUTE, "tags": Kind.TAG, "tag": Kind.TAG})
_TAG_OPS: Final = STRING_OPS - LIST_OPS

REGISTERED_MODEL_SEARCH: Final = EntitySchema(
    entity="registered model",
    prefixes=_REGISTRY_PREFIXES,
    attributes=field_specs(
        field_spec("name", ValueType.STRING, lists=True),
        field_spec("last_updated_timestamp", ValueType.INTEGER, filterable=False),
        aliases={"timestamp": "last_updated_timestamp"},
    ),
    key_ops=MappingProxyType({Kind.TAG: _TAG_OPS}),
    default_order=(OrderKey(Kind.ATTRIBUTE, "name"),),
)
"""Registered models: filter by name and tags; order by name or ``timestamp`` (= last_updated_timestamp)."""

MODEL_VERSION_SEARCH: Final = EntitySchema(
    entity="model version",
    prefixes=_REGISTRY_PREFIXES,
    attributes=field_specs(
        field_spec("name", ValueType.STRING, lists=True),
        field_spec("version_number", ValueType.INTEGER),
        field_spec("run_id", ValueType.STRING, lists=True, orderable=False),
        field_spec("source_path", ValueType.STRING, orderable=False),
        field_spec("creation_timestamp", ValueType.INTEGER, filterable=False),
        field_spec("last_updated_timestamp", ValueType.INTEGER, filterable=False),
    ),
    key_ops=MappingProxyType({Kind.TAG: _TAG_OPS}),
    default_order=(
        OrderKey(Kind.ATTRIBUTE, "last_updated_timestamp", ascending=False),
        OrderKey(Kind.ATTRIBUTE, "name"),
        OrderKey(Kind.ATTRIBUTE, "version_number", ascending=False),
    ),
)
"""Model versions: filter by name, version_number, run_id, source_path and tags; order by name, version_number
and the timestamps."""

LOGGED_MODEL_SEARCH: Final = EntitySchema(
    entity="logged model",
    prefixes=MappingProxyType(
        {
            "attributes": Kind.ATTRIBUTE,
            "attribute": Kind.ATTRIBUTE,
            "metrics": Kind.METRIC,
            "metric": Kind.METRIC,
            "params": Kind.PARAM,
            "param": Kind.PARAM,
            "tags": Kind.TAG,
            "tag": Kind.TAG,
        }
    ),
    attributes=field_specs(
        field_spec("name", ValueType.STRING, lists=True),
        field_spec("model_id", ValueType.STRING, lists=True),
        field_spec("model_type", ValueType.STRING, lists=True),
        field_spec("status", ValueType.STRING, lists=True),
        field_spec("source_run_id", ValueType.STRING, lists=True),
        field_spec("creation_timestamp", ValueType.INTEGER),
        field_spec("last_updated_timestamp", ValueType.INTEGER),
        aliases={"creation_time": "creation_timestamp", "last_updated_time": "last_updated_timestamp"},
    ),
    key_ops=MappingProxyType({Kind.TAG: _TAG_OPS, Kind.PARAM: _TAG_OPS, Kind.METRIC: NUMERIC_OPS}),
    order_kinds=frozenset({Kind.ATTRIBUTE, Kind.METRIC}),
    default_order=(OrderKey(Kind.ATTRIBUTE, "creation_timestamp", ascending=False),),
)
"""Logged models: filter by name, model_id, model_type, status, source_run_id, timestamps, metrics, params and
tags; order by attributes and metrics. A metric compares its newest value (by step, timestamp, value) over every
run that logged it for the model, as MLflow does; MLflow's ``datasets`` restriction is not supported."""
