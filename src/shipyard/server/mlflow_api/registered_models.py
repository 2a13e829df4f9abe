"""MLflow REST routes for registered models and their aliases."""

from __future__ import annotations

from typing import Any

from shipyard.server._context import AppContext
from shipyard.server._request import Fields
from shipyard.wire.registry import model_version_to_json, registered_model_to_json
from shipyard.wire.tracking import tags_from_json

__all__ = ["ROUTES"]


def create(ctx: AppContext, f: Fields) -> dict[str, Any]:
    model = ctx.registry.create_registered_model(
        f.req_str("name"),
        tags=tags_from_json(f.objects("tags")),
        description=f.text("description"),
        actor=f.actor,
        reason=f.text("reason"),
    )
    ctx.permissions.grant_creator("registered_model", model.name, f.principal)
    return {"registered_model": registered_model_to_json(model)}


def get(ctx: AppContext, f: Fields) -> dict[str, Any]:
    return {"registered_model": registered_model_to_json(ctx.registry.get_registered_model(f.req_str("name")))}


def rename(ctx: AppContext, f: Fields) -> dict[str, Any]:
    model = ctx.registry.rename_registered_model(
        f.req_str("name"), f.req_str("new_name"), actor=f.actor, reason=f.text("reason")
    )
    ctx.permissions.rename_resource("registered_model", f.req_str("name"), model.name, actor=f.actor)
    return {"registered_model": registered_model_to_json(model)}


def update(ctx: AppContext, f: Fields) -> dict[str, Any]:
    model = ctx.registry.update_registered_model(
        f.req_str("name"), f.text("description"), actor=f.actor, reason=f.text("reason")
    )
    return {"registered_model": registered_model_to_json(model)}


def delete(ctx: AppContext, f: Fields) -> dict[str, Any]:
    ctx.registry.delete_registered_model(f.req_str("name"), actor=f.actor, reason=f.text("reason"))
    ctx.permissions.forget_resource("registered_model", f.req_str("name"))
    return {}


def search(ctx: AppContext, f: Fields) -> dict[str, Any]:
    found, token = ctx.registry.search_registered_models(
        filter_string=f.text("filter"),
        order_by=f.str_list("order_by"),
        max_results=f.integer("max_results", default=100),  # type: ignore[arg-type]
        page_token=f.text("page_token"),
        visible=ctx.permissions.visible(f.principal, "registered_model"),
    )
    out: dict[str, Any] = {}
    if found:
        out["registered_models"] = [registered_model_to_json(m) for m in found]
    if token:
        out["next_page_token"] = token
    return out


def get_latest_versions(ctx: AppContext, f: Fields) -> dict[str, Any]:
    versions = ctx.registry.get_latest_versions(f.req_str("name"), f.str_list("stages"))
    return {"model_versions": [model_version_to_json(v) for v in versions]} if versions else {}


def set_tag(ctx: AppContext, f: Fields) -> dict[str, Any]:
    ctx.registry.set_registered_model_tag(
        f.req_str("name"), f.req_str("key"), f.text("value", default="") or "", actor=f.actor
    )
    return {}


def delete_tag(ctx: AppContext, f: Fields) -> dict[str, Any]:
    ctx.registry.delete_registered_model_tag(f.req_str("name"), f.req_str("key"), actor=f.actor)
    return {}


def set_alias(ctx: AppContext, f: Fields) -> dict[str, Any]:
    ctx.registry.set_alias(
        f.req_str("name"), f.req_str("alias"), f.req_str("version"), actor=f.actor, reason=f.text("reason")
    )
    return {}


def get_by_alias(ctx: AppContext, f: Fields) -> dict[str, Any]:
    version = ctx.registry.get_version_by_alias(f.req_str("name"), f.req_str("alias"))
    return {"model_version": model_version_to_json(version)}


def delete_alias(ctx: AppContext, f: Fields) -> dict[str, Any]:
    ctx.registry.delete_alias(f.req_str("name"), f.req_str("alias"), actor=f.actor, reason=f.text("reason"))
    return {}


_BASE = "/2.0/mlflow/registered-models"
ROUTES = [
    ("POST", f"{_BASE}/create", create),
    ("GET", f"{_BASE}/get", get),
    ("POST", f"{_BASE}/rename", rename),
    ("PATCH", f"{_BASE}/update", update),
    ("DELETE", f"{_BASE}/delete", delete),
    ("GET", f"{_BASE}/search", search),
    ("POST", f"{_BASE}/get-latest-versions", get_latest_versions),
    ("GET", f"{_BASE}/get-latest-versions", get_latest_versions),
    ("POST", f"{_BASE}/set-tag", set_tag),
    ("DELETE", f"{_BASE}/delete-tag", delete_tag),
    ("POST", f"{_BASE}/alias", set_alias),
    ("GET", f"{_BASE}/alias", get_by_alias),
    ("DELETE", f"{_BASE}/alias", delete_alias),
]
