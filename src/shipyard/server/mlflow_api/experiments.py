"""MLflow REST routes for experiments."""

from __future__ import annotations

from typing import Any

from shipyard.server._context import AppContext
from shipyard.server._request import Fields
from shipyard.wire.tracking import experiment_to_json

__all__ = ["ROUTES"]


def create(ctx: AppContext, f: Fields) -> dict[str, Any]:
    tags = {t.get("key"): t.get("value", "") for t in f.objects("tags")}
    exp_id = ctx.tracking.create_experiment(f.req_str("name"), f.text("artifact_location"), tags)  # type: ignore[arg-type]
    ctx.permissions.grant_creator("experiment", exp_id, f.principal)
    return {"experiment_id": exp_id}


def get(ctx: AppContext, f: Fields) -> dict[str, Any]:
    return {"experiment": experiment_to_json(ctx.tracking.get_experiment(f.req_str("experiment_id")))}


def get_by_name(ctx: AppContext, f: Fields) -> dict[str, Any]:
    return {"experiment": experiment_to_json(ctx.tracking.get_experiment_by_name(f.req_str("experiment_name")))}


def search(ctx: AppContext, f: Fields) -> dict[str, Any]:
    found, token = ctx.tracking.search_experiments(
        view_type=f.view_type("view_type"),
        filter_string=f.text("filter"),
        order_by=f.str_list("order_by"),
        max_results=f.integer("max_results", default=1000),  # type: ignore[arg-type]
        page_token=f.text("page_token"),
        visible=ctx.permissions.visible(f.principal, "experiment"),
    )
    out: dict[str, Any] = {}
    if found:
        out["experiments"] = [experiment_to_json(e) for e in found]
    if token:
        out["next_page_token"] = token
    return out


def update(ctx: AppContext, f: Fields) -> dict[str, Any]:
    ctx.tracking.rename_experiment(f.req_str("experiment_id"), f.req_str("new_name"))
    return {}


def delete(ctx: AppContext, f: Fields) -> dict[str, Any]:
    ctx.tracking.delete_experiment(f.req_str("experiment_id"))
    return {}


def restore(ctx: AppContext, f: Fields) -> dict[str, Any]:
    ctx.tracking.restore_experiment(f.req_str("experiment_id"))
    return {}


def set_tag(ctx: AppContext, f: Fields) -> dict[str, Any]:
    ctx.tracking.set_experiment_tag(f.req_str("experiment_id"), f.req_str("key"), f.text("value", default="") or "")
    return {}


def delete_tag(ctx: AppContext, f: Fields) -> dict[str, Any]:
    ctx.tracking.delete_experiment_tag(f.req_str("experiment_id"), f.req_str("key"))
    return {}


ROUTES = [
    ("POST", "/2.0/mlflow/experiments/create", create),
    ("GET", "/2.0/mlflow/experiments/get", get),
    ("GET", "/2.0/mlflow/experiments/get-by-name", get_by_name),
    ("POST", "/2.0/mlflow/experiments/search", search),
    ("GET", "/2.0/mlflow/experiments/search", search),
    ("POST", "/2.0/mlflow/experiments/update", update),
    ("POST", "/2.0/mlflow/experiments/delete", delete),
    ("POST", "/2.0/mlflow/experiments/restore", restore),
    ("POST", "/2.0/mlflow/experiments/set-experiment-tag", set_tag),
    ("POST", "/2.0/mlflow/experiments/delete-experiment-tag", delete_tag),
]
