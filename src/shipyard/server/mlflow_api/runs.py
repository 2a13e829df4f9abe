"""MLflow REST routes for runs, params, metrics, tags, inputs and metric history."""

from __future__ import annotations

from typing import Any

from shipyard.errors import InvalidParameter
from shipyard.server._context import AppContext
from shipyard.server._request import Fields
from shipyard.tracking.entities import Param, RunTag
from shipyard.wire.tracking import (
    dataset_input_from_json,
    history_to_json,
    metric_columns_from_json,
    run_to_json,
)

__all__ = ["ROUTES"]


def _tag_pairs(items: list[dict[str, Any]], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, item in enumerate(items):
        if "key" not in item:
            raise InvalidParameter(f"Missing value for required parameter '{where}[{i}].key'.")
        out[item["key"]] = item.get("value", "")
    return out


def create(ctx: AppContext, f: Fields) -> dict[str, Any]:
    run = ctx.tracking.create_run(
        f.text("experiment_id") or "0",
        # With sign-in on, a run belongs to who created it, whatever user_id the client claims.
        user_id=f.principal.username or f.text("user_id", default="") or "",
        start_time_ms=f.integer("start_time"),
        tags=_tag_pairs(f.objects("tags"), "tags"),
        run_name=f.text("run_name"),
        # Shipyard's extension (MLflow's servers ignore it): an id the client chose, making the create idempotent.
        run_id=f.text("run_id") or None,
    )
    return {"run": run_to_json(run)}


def get(ctx: AppContext, f: Fields) -> dict[str, Any]:
    run_id = f.run_id()
    out = run_to_json(ctx.tracking.get_run(run_id))
    outputs = ctx.registry.run_outputs(run_id)
    if outputs:
        out["outputs"] = {"model_outputs": [{"model_id": m, "step": s} for m, s in outputs]}
    return {"run": out}


def update(ctx: AppContext, f: Fields) -> dict[str, Any]:
    run = ctx.tracking.update_run(f.run_id(), f.text("status"), f.integer("end_time"), f.text("run_name"))
    return {"run_info": run_to_json(run)["info"]}


def delete(ctx: AppContext, f: Fields) -> dict[str, Any]:
    ctx.tracking.delete_run(f.run_id())
    return {}


def restore(ctx: AppContext, f: Fields) -> dict[str, Any]:
    ctx.tracking.restore_run(f.run_id())
    return {}


def log_metric(ctx: AppContext, f: Fields) -> dict[str, Any]:
    ctx.tracking.log_batch_columns(f.run_id(), metric_columns_from_json([f.data], path=""))
    return {}


def log_param(ctx: AppContext, f: Fields) -> dict[str, Any]:
    value = f.raw("value")
    ctx.tracking.log_batch(f.run_id(), params=[Param(f.req_str("key"), "" if value is None else value)])
    return {}


def set_tag(ctx: AppContext, f: Fields) -> dict[str, Any]:
    value = f.raw("value")
    ctx.tracking.log_batch(f.run_id(), tags=[RunTag(f.req_str("key"), "" if value is None else value)])
    return {}


def delete_tag(ctx: AppContext, f: Fields) -> dict[str, Any]:
    ctx.tracking.delete_tag(f.run_id(), f.req_str("key"))
    return {}


def log_batch(ctx: AppContext, f: Fields) -> dict[str, Any]:
    columns = metric_columns_from_json(f.objects("metrics"))
    params = [Param(k, v) for k, v in _tag_pairs(f.objects("params"), "params").items()]
    if len(params) != len(f.objects("params")):
        _check_duplicate_params(f.objects("params"))
    tags = [RunTag(k, v) for k, v in _tag_pairs(f.objects("tags"), "tags").items()]
    ctx.tracking.log_batch_columns(f.run_id(), columns, params, tags)
    return {}


def _check_duplicate_params(items: list[dict[str, Any]]) -> None:
    seen: dict[Any, Any] = {}
    for item in items:
        key = item.get("key")
        if key in seen and seen[key] != item.get("value"):
            raise InvalidParameter(
                f"Duplicate parameter keys have been submitted: ['{key}']. Please ensure the request contains "
                "only one param value per param key."
            )
        seen[key] = item.get("value")


def log_inputs(ctx: AppContext, f: Fields) -> dict[str, Any]:
    inputs = [dataset_input_from_json(item) for item in f.objects("datasets")]
    ctx.tracking.log_inputs(f.run_id(), inputs)
    return {}


def search(ctx: AppContext, f: Fields) -> dict[str, Any]:
    found, token = ctx.tracking.search_runs(
        experiment_ids=f.str_list("experiment_ids"),
        filter_string=f.text("filter"),
        view_type=f.view_type("run_view_type"),
        max_results=f.integer("max_results", default=1000),  # type: ignore[arg-type]
        order_by=f.str_list("order_by"),
        page_token=f.text("page_token"),
        visible=ctx.permissions.visible(f.principal, "experiment"),
    )
    out: dict[str, Any] = {}
    if found:
        out["runs"] = [run_to_json(r) for r in found]
    if token:
        out["next_page_token"] = token
    return out


def get_history(ctx: AppContext, f: Fields) -> dict[str, Any]:
    key = f.req_str("metric_key")
    points, token = ctx.tracking.metric_history_points(f.run_id(), key, f.integer("max_results"), f.text("page_token"))
    out: dict[str, Any] = {}
    if points:
        out["metrics"] = history_to_json(key, points)
    if token:
        out["next_page_token"] = token
    return out


ROUTES = [
    ("POST", "/2.0/mlflow/runs/create", create),
    ("GET", "/2.0/mlflow/runs/get", get),
    ("POST", "/2.0/mlflow/runs/update", update),
    ("POST", "/2.0/mlflow/runs/delete", delete),
    ("POST", "/2.0/mlflow/runs/restore", restore),
    ("POST", "/2.0/mlflow/runs/log-metric", log_metric),
    ("POST", "/2.0/mlflow/runs/log-parameter", log_param),
    ("POST", "/2.0/mlflow/runs/set-tag", set_tag),
    ("POST", "/2.0/mlflow/runs/delete-tag", delete_tag),
    ("POST", "/2.0/mlflow/runs/log-batch", log_batch),
    ("POST", "/2.0/mlflow/runs/log-inputs", log_inputs),
    ("POST", "/2.0/mlflow/runs/search", search),
    ("GET", "/2.0/mlflow/runs/search", search),
    ("GET", "/2.0/mlflow/metrics/get-history", get_history),
]
