"""MLflow REST routes for model versions: create, read, stage, tags, search, download URI."""

from __future__ import annotations

from typing import Any

from shipyard.server._context import AppContext
from shipyard.server._request import Fields
from shipyard.wire.registry import model_version_to_json
from shipyard.wire.tracking import tags_from_json

__all__ = ["ROUTES"]


def create(ctx: AppContext, f: Fields) -> dict[str, Any]:
    version = ctx.registry.create_model_version(
        f.req_str("name"),
        f.req_str("source"),
        run_id=f.text("run_id"),
        tags=tags_from_json(f.objects("tags")),
        run_link=f.text("run_link"),
        description=f.text("description"),
        model_id=f.text("model_id"),
        actor=f.actor,
        reason=f.text("reason"),
    )
    return {"model_version": model_version_to_json(version)}


def get(ctx: AppContext, f: Fields) -> dict[str, Any]:
    return {
        "model_version": model_version_to_json(ctx.registry.get_model_version(f.req_str("name"), f.req_str("version")))
    }


def update(ctx: AppContext, f: Fields) -> dict[str, Any]:
    version = ctx.registry.update_model_version(
        f.req_str("name"), f.req_str("version"), f.text("description"), actor=f.actor
    )
    return {"model_version": model_version_to_json(version)}


def delete(ctx: AppContext, f: Fields) -> dict[str, Any]:
    ctx.registry.delete_model_version(f.req_str("name"), f.req_str("version"), actor=f.actor, reason=f.text("reason"))
    return {}


def search(ctx: AppContext, f: Fields) -> dict[str, Any]:
    found, token = ctx.registry.search_model_versions(
        filter_string=f.text("filter"),
        order_by=f.str_list("order_by"),
        max_results=f.integer("max_results", default=10_000),  # type: ignore[arg-type]
        page_token=f.text("page_token"),
        visible=ctx.permissions.visible(f.principal, "registered_model"),
    )
    out: dict[str, Any] = {}
    if found:
        out["model_versions"] = [model_version_to_json(v) for v in found]
    if token:
        out["next_page_token"] = token
    return out


def download_uri(ctx: AppContext, f: Fields) -> dict[str, Any]:
    return {"artifact_uri": ctx.registry.get_download_uri(f.req_str("name"), f.req_str("version"))}


def transition_stage(ctx: AppContext, f: Fields) -> dict[str, Any]:
    version = ctx.registry.transition_model_version_stage(
        f.req_str("name"),
        f.req_str("version"),
        f.req_str("stage"),
        archive_existing_versions=f.boolean("archive_existing_versions"),
        actor=f.actor,
        reason=f.text("reason") or f.text("comment"),
    )
    return {"model_version": model_version_to_json(version)}


def set_tag(ctx: AppContext, f: Fields) -> dict[str, Any]:
    ctx.registry.set_model_version_tag(
        f.req_str("name"), f.req_str("version"), f.req_str("key"), f.text("value", default="") or "", actor=f.actor
    )
    return {}


def delete_tag(ctx: AppContext, f: Fields) -> dict[str, Any]:
    ctx.registry.delete_model_version_tag(f.req_str("name"), f.req_str("version"), f.req_str("key"), actor=f.actor)
    return {}


_BASE = "/2.0/mlflow/model-versions"
ROUTES = [
    ("POST", f"{_BASE}/create", create),
    ("GET", f"{_BASE}/get", get),
    ("PATCH", f"{_BASE}/update", update),
    ("DELETE", f"{_BASE}/delete", delete),
    ("GET", f"{_BASE}/search", search),
    ("GET", f"{_BASE}/get-download-uri", download_uri),
    ("POST", f"{_BASE}/transition-stage", transition_stage),
    ("POST", f"{_BASE}/set-tag", set_tag),
    ("DELETE", f"{_BASE}/delete-tag", delete_tag),
]
