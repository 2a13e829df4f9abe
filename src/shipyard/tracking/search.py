"""Tracking's search schemas: what run and experiment searches accept, in MLflow's filter grammar.

The grammar itself is `shipyard.filters`; its names are re-exported here because callers that search runs parse
with them. The schemas accept exactly what MLflow 3's SQL store accepts (a test holds them to MLflow's own code),
except: bare keys may hold ``- / :``; runs also filter and sort by ``lifecycle_stage``.

Example:
    >>> parse_filter("metrics.acc > 0.9 AND params.model = 'cnn'", RUN_SEARCH)[0]
    Comparison(kind=<Kind.METRIC: 'metric'>, key='acc', op='>', value=0.9)
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from shipyard._paging import decode_page_token, encode_page_token  # re-exported: callers page through search
from shipyard.filters import (
    KEYED_STRING_OPS,
    NUMERIC_OPS,
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

__all__ = [
    "EXPERIMENT_SEARCH",
    "RUN_SEARCH",
    "Comparison",
    "EntitySchema",
    "FieldSpec",
    "Kind",
    "OrderKey",
    "Value",
    "ValueType",
    "decode_page_token",
    "encode_page_token",
    "parse_filter",
    "parse_order_by",
]

RUN_SEARCH: Final = EntitySchema(
    entity="run",
    prefixes=MappingProxyType(
        {
            "metrics": Kind.METRIC,
            "metric": Kind.METRIC,
            "params": Kind.PARAM,
            "param": Kind.PARAM,
            "parameters": Kind.PARAM,
            "parameter": Kind.PARAM,
            "tags": Kind.TAG,
            "tag": Kind.TAG,
            "attributes": Kind.ATTRIBUTE,
            "attribute": Kind.ATTRIBUTE,
            "attr": Kind.ATTRIBUTE,
            "run": Kind.ATTRIBUTE,
            "datasets": Kind.DATASET,
            "dataset": Kind.DATASET,
        }
    ),
    attributes=field_specs(
        field_spec("run_id", ValueType.STRING, lists=True),
        field_spec("run_name", ValueType.STRING),
        field_spec("status", ValueType.STRING),
        field_spec("user_id", ValueType.STRING),
        field_spec("artifact_uri", ValueType.STRING),
        field_spec("lifecycle_stage", ValueType.STRING),
        field_spec("start_time", ValueType.NUMBER),
        field_spec("end_time", ValueType.NUMBER),
        # MLflow's UI column titles, accepted as aliases as MLflow does.
        aliases={
            "created": "start_time",
            "Created": "start_time",
            "run name": "run_name",
            "Run name": "run_name",
            "Run Name": "run_name",
        },
    ),
    key_ops=MappingProxyType({Kind.METRIC: NUMERIC_OPS, Kind.PARAM: KEYED_STRING_OPS, Kind.TAG: KEYED_STRING_OPS}),
    dataset_fields=field_specs(
        field_spec("name", ValueType.STRING, lists=True, orderable=False),
        field_spec("digest", ValueType.STRING, lists=True, orderable=False),
        field_spec("context", ValueType.STRING, lists=True, orderable=False),
    ),
    order_kinds=frozenset({Kind.ATTRIBUTE, Kind.METRIC, Kind.PARAM, Kind.TAG}),
    filter_only_aliases=frozenset({"run name", "Run name", "Run Name"}),
    default_order=(OrderKey(Kind.ATTRIBUTE, "start_time", ascending=False), OrderKey(Kind.ATTRIBUTE, "run_id")),
)
"""Runs. Beyond MLflow: the ``lifecycle_stage`` attribute, and bare keys holding ``- / :`` (MLflow wants quotes)."""

EXPERIMENT_SEARCH: Final = EntitySchema(
    entity="experiment",
    # MLflow 3.18 added the plural ``attributes.`` prefix to experiment search (runs have always taken it).
    prefixes=MappingProxyType(
        {"attribute": Kind.ATTRIBUTE, "attributes": Kind.ATTRIBUTE, "tags": Kind.TAG, "tag": Kind.TAG}
    ),
    attributes=field_specs(
        field_spec("experiment_id", ValueType.ID),
        field_spec("name", ValueType.STRING),
        field_spec("creation_time", ValueType.INTEGER),
        field_spec("last_update_time", ValueType.INTEGER),
    ),
    key_ops=MappingProxyType({Kind.TAG: KEYED_STRING_OPS}),
    default_order=(
        OrderKey(Kind.ATTRIBUTE, "creation_time", ascending=False),
        OrderKey(Kind.ATTRIBUTE, "experiment_id"),
    ),
)
"""Experiments: name, experiment_id (quoted, as MLflow wants), creation_time, last_update_time and tags."""
