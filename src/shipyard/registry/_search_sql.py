"""Compile parsed registry searches (`shipyard.registry.search`) to SQL over the registry tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, exists, select

from shipyard._visibility import EVERYTHING, Visible
from shipyard.errors import InvalidParameter
from shipyard.filters import EQ, NE, Comparison, Kind, OrderKey
from shipyard.filters.sql import (
    attribute_condition,
    keyed_exists,
    metric_condition,
    metric_order,
    sortable,
    visible_condition,
)
from shipyard.registry.search import LOGGED_MODEL_SEARCH, MODEL_VERSION_SEARCH, REGISTERED_MODEL_SEARCH
from shipyard.registry.tables import (
    latest_model_metrics,
    logged_model_params,
    logged_model_tags,
    logged_models,
    model_version_tags,
    model_versions,
    registered_model_tags,
    registered_models,
)

__all__ = ["logged_models_query", "model_versions_query", "registered_models_query"]

PROMPT_TAG: Final = "mlflow.prompt.is_prompt"

_RM_COLUMNS: Final[dict[str, Any]] = {
    "name": registered_models.c.name,
    "last_updated_timestamp": registered_models.c.last_updated_time,
    "creation_timestamp": registered_models.c.creation_time,
}
_MV_COLUMNS: Final[dict[str, Any]] = {
    "name": registered_models.c.name,
    "version_number": model_versions.c.version,
    "run_id": model_versions.c.run_id,
    "source_path": model_versions.c.source,
    "creation_timestamp": model_versions.c.creation_time,
    "last_updated_timestamp": model_versions.c.last_updated_time,
}
_LM_COLUMNS: Final[dict[str, Any]] = {
    "name": logged_models.c.name,
    "model_id": logged_models.c.model_id,
    "model_type": logged_models.c.model_type,
    "status": logged_models.c.status,
    "source_run_id": logged_models.c.source_run_id,
    "creation_timestamp": logged_models.c.creation_time,
    "last_updated_timestamp": logged_models.c.last_updated_time,
}


def _queries_prompts(comparisons: Sequence[Comparison]) -> bool:
    """Whether a filter asks for prompts (MLflow's rule: the first comparison on the prompt tag decides)."""
    for c in comparisons:
        if c.kind is Kind.TAG and c.key == PROMPT_TAG:
            value = str(c.value).lower()
            return (c.op == EQ and value == "true") or (c.op == NE and value == "false")
    return False


def _without_prompts(
    table: Any, owner: Sequence[tuple[Any, Any]], comparisons: Sequence[Comparison]
) -> tuple[list[ColumnElement[bool]], list[Comparison]]:
    """MLflow's registry leaves prompts out unless the filter asks for them, and then drops the filter's own
    comparisons on the prompt tag: the client adds "tags.`mlflow.prompt.is_prompt` != 'true'" to every
    registered-model search, and that must match the models that have no such tag.

    Returns:
        the extra filters, and the comparisons left to compile.
    """
    if _queries_prompts(comparisons):
        return [], list(comparisons)
    prompt = exists(
        select(table.c.key).where(*(a == b for a, b in owner), table.c.key == PROMPT_TAG, table.c.value == "true")
    )
    return [~prompt], [c for c in comparisons if not (c.kind is Kind.TAG and c.key == PROMPT_TAG)]


def _order(columns: dict[str, Any], entity: str, keys: Sequence[OrderKey]) -> list[ColumnElement[Any]]:
    order: list[ColumnElement[Any]] = []
    for key in keys:
        column = columns.get(key.key) if key.kind is Kind.ATTRIBUTE else None
        if column is None:
            raise InvalidParameter(f"{entity.capitalize()}s cannot be sorted by {key.kind.value} '{key.key}'.")
        by = sortable(column) if key.key == "name" else column
        order.append(by.asc() if key.ascending else by.desc())
    return order


def registered_models_query(
    comparisons: Sequence[Comparison],
    order_keys: Sequence[OrderKey],
    offset: int,
    limit: int,
    *,
    visible: Visible = EVERYTHING,
) -> Select[Any]:
    """The model keys of registered models matching a parsed filter, in order, one page.

    Models outside ``visible`` are left out by the query itself, before the page is cut.
    """
    owner = [(registered_model_tags.c.model_key, registered_models.c.model_key)]
    filters, comparisons = _without_prompts(registered_model_tags, owner, comparisons)
    filters += visible_condition(registered_models.c.name, visible)
    for c in comparisons:
        if c.kind is Kind.TAG:
            filters.append(keyed_exists(registered_model_tags, owner, c))
        else:
            filters.append(attribute_condition(_RM_COLUMNS, "registered model", c))
    order = _order(_RM_COLUMNS, "registered model", order_keys or REGISTERED_MODEL_SEARCH.default_order)
    order.append(registered_models.c.model_key.asc())
    return select(registered_models.c.model_key).where(*filters).order_by(*order).offset(offset).limit(limit)


def model_versions_query(
    comparisons: Sequence[Comparison],
    order_keys: Sequence[OrderKey],
    offset: int,
    limit: int,
    *,
    visible: Visible = EVERYTHING,
) -> Select[Any]:
    """``(model_key, version)`` of model versions matching a parsed filter, in order, one page.

    Versions of models outside ``visible`` are left out by the query itself, before the page is cut.
    """
    owner = [
        (model_version_tags.c.model_key, model_versions.c.model_key),
        (model_version_tags.c.version, model_versions.c.version),
    ]
    filters, comparisons = _without_prompts(model_version_tags, owner, comparisons)
    filters += visible_condition(registered_models.c.name, visible)
    for c in comparisons:
        if c.kind is Kind.TAG:
            filters.append(keyed_exists(model_version_tags, owner, c))
        else:
            filters.append(attribute_condition(_MV_COLUMNS, "model version", c))
    order = _order(_MV_COLUMNS, "model version", order_keys or MODEL_VERSION_SEARCH.default_order)
    order += [model_versions.c.model_key.asc(), model_versions.c.version.desc()]
    return (
        select(model_versions.c.model_key, model_versions.c.version)
        .select_from(
            model_versions.join(registered_models, registered_models.c.model_key == model_versions.c.model_key)
        )
        .where(*filters)
        .order_by(*order)
        .offset(offset)
        .limit(limit)
    )


def _latest_model_metric(key: str) -> Any:
    return latest_model_metrics.c.model_id == logged_models.c.model_id, latest_model_metrics.c.key == key


def _model_metric(comparison: Comparison) -> ColumnElement[bool]:
    """The model's newest value of the metric satisfies the comparison (NaN satisfies only ``!=``)."""
    condition = metric_condition(latest_model_metrics, comparison.op, comparison.value)
    return exists(select(latest_model_metrics.c.key).where(*_latest_model_metric(comparison.key), condition))


def _logged_model_order(keys: Sequence[OrderKey]) -> list[ColumnElement[Any]]:
    order: list[ColumnElement[Any]] = []
    for key in keys:
        if key.kind is not Kind.METRIC:
            order += _order(_LM_COLUMNS, "logged model", [key])
            continue
        where = _latest_model_metric(key.key)
        value = select(latest_model_metrics.c.value).where(*where).scalar_subquery()
        is_nan = select(latest_model_metrics.c.is_nan).where(*where).scalar_subquery()
        order += metric_order(value, is_nan, ascending=key.ascending)
    return order


def logged_models_query(
    experiment_ids: Sequence[int],
    comparisons: Sequence[Comparison],
    order_keys: Sequence[OrderKey],
    lifecycle_stages: Sequence[str],
    offset: int,
    limit: int,
    *,
    visible: Visible = EVERYTHING,
) -> Select[Any]:
    """Model ids of logged models in the experiments matching a parsed filter, in order, one page.

    No ``experiment_ids`` searches every experiment in ``visible``; logged models of others are left out by
    the query itself, before the page is cut.
    """
    filters: list[ColumnElement[bool]] = [logged_models.c.lifecycle_stage.in_(list(lifecycle_stages))]
    filters += visible_condition(logged_models.c.experiment_id, visible)
    if experiment_ids:
        filters.append(logged_models.c.experiment_id.in_(list(experiment_ids)))
    model_id = logged_models.c.model_id
    for c in comparisons:
        if c.kind is Kind.TAG:
            filters.append(keyed_exists(logged_model_tags, [(logged_model_tags.c.model_id, model_id)], c))
        elif c.kind is Kind.PARAM:
            filters.append(keyed_exists(logged_model_params, [(logged_model_params.c.model_id, model_id)], c))
        elif c.kind is Kind.METRIC:
            filters.append(_model_metric(c))
        else:
            filters.append(attribute_condition(_LM_COLUMNS, "logged model", c))
    keys = order_keys or LOGGED_MODEL_SEARCH.default_order
    order = _logged_model_order(keys)
    if not any(k.kind is Kind.ATTRIBUTE and k.key == "creation_timestamp" for k in keys):
        order.append(logged_models.c.creation_time.desc())  # MLflow's tie-breakers: newest first, then the id
    order.append(logged_models.c.model_id.asc())
    return select(logged_models.c.model_id).where(*filters).order_by(*order).offset(offset).limit(limit)
