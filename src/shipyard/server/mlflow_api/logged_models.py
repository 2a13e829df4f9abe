"""MLflow 3's logged-model routes and ``runs/outputs``: what ``mlflow.<flavor>.log_model`` and ``runs:/`` need."""

from __future__ import annotations

from typing import Any

from shipyard.errors import InvalidParameter
from shipyard.server._context import AppContext
from shipyard.server._request import Fields
from shipyard.wire.registry import logged_model_to_json
from shipyard.wire.tracking import tags_from_json

__all__ = ["ROUTES"]


def create(ctx: AppContext, f: Fields) -> dict[str, Any]:
    model = ctx.registry.create_logged_model(
        f.req_str("experiment_id"),
        f.text("name"),
        source_run_id=f.text("source_run_id"),
        model_type=f.text("model_type"),
        user_id=f.actor,
        params=tags_from_json(f.objects("params")),
        tags=tags_from_json(f.objects("tags")),
    )
    return {"model": logged_model_to_json(model)}


def get(ctx: AppContext, f: Fields) -> dict[str, Any]:
    return {"model": logged_model_to_json(ctx.registry.get_logged_model(f.req_str("model_id")))}


def finalize(ctx: AppContext, f: Fields) -> dict[str, Any]:
    status = f.raw("status")
    if isinstance(status, int) and not isinstance(status, bool):
        status = {1: "LOGGED_MODEL_PENDING", 2: "LOGGED_MODEL_READY", 3: "LOGGED_MODEL_UPLOAD_FAILED"}.get(status)
    if not isinstance(status, str):
        raise InvalidParameter("Missing value for required parameter 'status'.")
    return {"model": logged_model_to_json(ctx.registry.finalize_logged_model(f.req_str("model_id"), status))}


def delete(ctx: AppContext, f: Fields) -> dict[str, Any]:
    ctx.registry.delete_logged_model(f.req_str("model_id"))
    return {}


def set_tags(ctx: AppContext, f: Fields) -> dict[str, Any]:
    ctx.registry.set_logged_model_tags(f.req_str("model_id"), tags_from_json(f.objects("tags")))
    return {}


def delete_tag(ctx: AppContext, f: Fields) -> dict[str, Any]:
    ctx.registry.delete_logged_model_tag(f.req_str("model_id"), f.req_str("tag_key"))
    return {}


def log_params(ctx: AppContext, f: Fields) -> dict[str, Any]:
    ctx.registry.log_logged_model_params(f.req_str("model_id"), tags_from_json(f.objects("params")))
    return {}


_NO_DATASETS = (
    "Shipyard does not restrict logged-model metrics to datasets in a search yet; leave out {what} (metrics are "
    "compared by their newest value over all datasets)."
)


def _order_by(items: list[dict[str, Any]]) -> list[str]:
    out = []
    for item in items:
        name = item.get("field_name")
        if not isinstance(name, str) or not name:
            raise InvalidParameter(f"Invalid order_by item {item!r}: expected an object with 'field_name'.")
        if item.get("dataset_name") or item.get("dataset_digest"):
            raise InvalidParameter(_NO_DATASETS.format(what="order_by's dataset_name and dataset_digest"))
        out.append(f"{name} {'ASC' if item.get('ascending', True) else 'DESC'}")
    return out


def search(ctx: AppContext, f: Fields) -> dict[str, Any]:
    if f.objects("datasets"):
        raise InvalidParameter(_NO_DATASETS.format(what="'datasets'"))
    found, token = ctx.registry.search_logged_models(
        f.str_list("experiment_ids"),
        filter_string=f.text("filter"),
        order_by=_order_by(f.objects("order_by")),
        max_results=f.integer("max_results", default=100) or 100,
        page_token=f.text("page_token"),
        visible=ctx.permissions.visible(f.principal, "experiment"),
    )
    out: dict[str, Any] = {}
    if found:
        out["models"] = [logged_model_to_json(m) for m in found]
    if token:
        out["next_page_token"] = token
    return out


def log_outputs(ctx: AppContext, f: Fields) -> dict[str, Any]:
    outputs = []
    for item in f.objects("models"):
        model_id = item.get("model_id")
        if not isinstance(model_id, str) or not model_id:
            raise InvalidParameter(f"Invalid model output {item!r}: expected an object with 'model_id'.")
        outputs.append((model_id, int(item.get("step") or 0)))
    ctx.registry.log_outputs(f.run_id(), outputs)
    return {}


_BASE = "/2.0/mlflow/logged-models"
ROUTES = [
    ("POST", _BASE, create),
    ("POST", f"{_BASE}/search", search),
    ("GET", f"{_BASE}/{{model_id}}", get),
    ("PATCH", f"{_BASE}/{{model_id}}", finalize),
    ("DELETE", f"{_BASE}/{{model_id}}", delete),
    ("PATCH", f"{_BASE}/{{model_id}}/tags", set_tags),
    ("DELETE", f"{_BASE}/{{model_id}}/tags/{{tag_key}}", delete_tag),
    ("POST", f"{_BASE}/{{model_id}}/params", log_params),
    ("POST", "/2.0/mlflow/runs/outputs", log_outputs),
]
