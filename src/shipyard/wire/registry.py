"""MLflow's JSON shapes for logged models, registered models and model versions (server and client share them)."""

from __future__ import annotations

from typing import Any

from shipyard.registry.entities import LoggedModel, ModelVersion, RegisteredModel

__all__ = [
    "logged_model_from_json",
    "logged_model_to_json",
    "model_version_from_json",
    "model_version_to_json",
    "registered_model_from_json",
    "registered_model_to_json",
    "tags_from_json",
]


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in tags.items()]


def tags_from_json(items: list[dict[str, Any]] | None) -> dict[str, str]:
    """``[{"key": k, "value": v}]`` to a dict (a missing value is the empty string, as MLflow)."""
    return {str(t.get("key")): str(t.get("value", "")) for t in items or [] if t.get("key") is not None}


def _drop_empty(out: dict[str, Any]) -> dict[str, Any]:
    # MLflow leaves unset fields out (protobuf JSON); empty lists and None go.
    return {k: v for k, v in out.items() if v is not None and v != []}


def model_version_to_json(mv: ModelVersion) -> dict[str, Any]:
    """A ModelVersion message."""
    return _drop_empty(
        {
            "name": mv.name,
            "version": str(mv.version),
            "creation_timestamp": mv.creation_time_ms,
            "last_updated_timestamp": mv.last_updated_time_ms,
            "user_id": mv.user_id,
            "current_stage": mv.current_stage,
            "description": mv.description if mv.description is not None else "",
            "source": mv.source,
            "run_id": mv.run_id or "",
            "status": mv.status,
            "status_message": mv.status_message,
            "tags": _tags(mv.tags),
            "run_link": mv.run_link or "",
            "aliases": list(mv.aliases),
            "model_id": mv.model_id,
        }
    )


def model_version_from_json(data: dict[str, Any]) -> ModelVersion:
    """A ModelVersion from its message."""
    return ModelVersion(
        name=data["name"],
        version=int(data["version"]),
        creation_time_ms=int(data.get("creation_timestamp", 0)),
        last_updated_time_ms=int(data.get("last_updated_timestamp", 0)),
        current_stage=data.get("current_stage", "None"),
        source=data.get("source", ""),
        status=data.get("status", "READY"),
        description=data.get("description") or None,
        user_id=data.get("user_id") or None,
        run_id=data.get("run_id") or None,
        run_link=data.get("run_link") or None,
        status_message=data.get("status_message") or None,
        model_id=data.get("model_id") or None,
        tags=tags_from_json(data.get("tags")),
        aliases=tuple(data.get("aliases", ())),
    )


def registered_model_to_json(rm: RegisteredModel) -> dict[str, Any]:
    """A RegisteredModel message."""
    return _drop_empty(
        {
            "name": rm.name,
            "creation_timestamp": rm.creation_time_ms,
            "last_updated_timestamp": rm.last_updated_time_ms,
            "user_id": rm.user_id,
            "description": rm.description if rm.description is not None else "",
            "latest_versions": [model_version_to_json(v) for v in rm.latest_versions],
            "tags": _tags(rm.tags),
            "aliases": [{"alias": a, "version": str(v)} for a, v in rm.aliases.items()],
        }
    )


def registered_model_from_json(data: dict[str, Any]) -> RegisteredModel:
    """A RegisteredModel from its message."""
    return RegisteredModel(
        name=data["name"],
        creation_time_ms=int(data.get("creation_timestamp", 0)),
        last_updated_time_ms=int(data.get("last_updated_timestamp", 0)),
        description=data.get("description") or None,
        user_id=data.get("user_id") or None,
        tags=tags_from_json(data.get("tags")),
        aliases={a["alias"]: int(a["version"]) for a in data.get("aliases", [])},
        latest_versions=tuple(model_version_from_json(v) for v in data.get("latest_versions", [])),
    )


def logged_model_to_json(lm: LoggedModel, registrations: list[tuple[str, int]] | None = None) -> dict[str, Any]:
    """A LoggedModel message: ``{"info": …, "data": …}``."""
    info = _drop_empty(
        {
            "model_id": lm.model_id,
            "experiment_id": lm.experiment_id,
            "name": lm.name,
            "creation_timestamp_ms": lm.creation_time_ms,
            "last_updated_timestamp_ms": lm.last_updated_time_ms,
            "artifact_uri": lm.artifact_location,
            "status": lm.status,
            "model_type": lm.model_type,
            "source_run_id": lm.source_run_id,
            "status_message": lm.status_message,
            "tags": _tags(lm.tags),
            "registrations": [{"name": n, "version": str(v)} for n, v in registrations or []],
        }
    )
    return {"info": info, "data": _drop_empty({"params": _tags(lm.params)})}


def logged_model_from_json(data: dict[str, Any]) -> LoggedModel:
    """A LoggedModel from its message."""
    info = data.get("info", {})
    return LoggedModel(
        model_id=info["model_id"],
        experiment_id=str(info.get("experiment_id", "")),
        name=info.get("name", ""),
        artifact_location=info.get("artifact_uri", ""),
        creation_time_ms=int(info.get("creation_timestamp_ms", 0)),
        last_updated_time_ms=int(info.get("last_updated_timestamp_ms", 0)),
        status=info.get("status", "LOGGED_MODEL_PENDING"),
        status_message=info.get("status_message"),
        model_type=info.get("model_type"),
        source_run_id=info.get("source_run_id"),
        tags=tags_from_json(info.get("tags")),
        params=tags_from_json(data.get("data", {}).get("params")),
    )
