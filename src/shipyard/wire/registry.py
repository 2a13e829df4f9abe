"""MLflow's JSON shapes for logged models, registered models and model versions (server and client share them)."""

from __future__ import annotations

from typing import Any

from shipyard.events import Event
from shipyard.registry.entities import LoggedModel, ModelVersion, RegisteredModel
from shipyard.registry.lineage import ModelLineage
from shipyard.wire.tracking import (
    dataset_input_from_json,
    dataset_input_to_json,
    metric_from_json,
    metric_to_json,
    run_from_json,
    run_to_json,
    tags_from_json,
    tags_to_json,
)

__all__ = [
    "event_from_json",
    "event_to_json",
    "lineage_from_json",
    "lineage_to_json",
    "logged_model_from_json",
    "logged_model_to_json",
    "model_version_from_json",
    "model_version_to_json",
    "registered_model_from_json",
    "registered_model_to_json",
]


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
            "tags": tags_to_json(mv.tags),
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
            "tags": tags_to_json(rm.tags),
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
            "tags": tags_to_json(lm.tags),
            "registrations": [{"name": n, "version": str(v)} for n, v in registrations or []],
        }
    )
    data = {"params": tags_to_json(lm.params), "metrics": [metric_to_json(m) for m in lm.metrics]}
    return {"info": info, "data": _drop_empty(data)}


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
        metrics=tuple(metric_from_json(m) for m in data.get("data", {}).get("metrics") or ()),
    )


def event_to_json(event: Event) -> dict[str, Any]:
    """One history event as JSON (every field of `shipyard.events.Event`)."""
    return {
        "event_id": event.event_id,
        "occurred_at_ms": event.occurred_at_ms,
        "kind": event.kind,
        "entity_type": event.entity_type,
        "entity_id": event.entity_id,
        "entity_name": event.entity_name,
        "actor": event.actor,
        "version": event.version,
        "from_value": event.from_value,
        "to_value": event.to_value,
        "reason": event.reason,
        "payload": event.payload,
    }


def lineage_to_json(lineage: ModelLineage) -> dict[str, Any]:
    """A version's lineage as JSON; entities use MLflow's wire shapes, ``chain`` is precomputed for readers."""
    return {
        "model_version": model_version_to_json(lineage.version),
        "logged_model": logged_model_to_json(lineage.logged_model) if lineage.logged_model else None,
        "run": run_to_json(lineage.run) if lineage.run else None,
        "experiment_name": lineage.experiment_name,
        "code": lineage.code,
        "environment": lineage.environment,
        "datasets": [dataset_input_to_json(d) for d in lineage.datasets],
        "params": lineage.params,
        "metrics": [metric_to_json(m) for m in lineage.metrics],
        "evaluations": lineage.evaluations,
        "chain": [{"kind": kind, "label": label} for kind, label in lineage.chain],
    }


def lineage_from_json(data: dict[str, Any]) -> ModelLineage:
    """A `ModelLineage` from the ``lineage`` object of ``GET /api/v1/models/{name}/versions/{version}/lineage``."""
    return ModelLineage(
        version=model_version_from_json(data["model_version"]),
        logged_model=logged_model_from_json(data["logged_model"]) if data.get("logged_model") else None,
        run=run_from_json(data["run"]) if data.get("run") else None,
        experiment_name=data.get("experiment_name"),
        code=dict(data.get("code") or {}),
        environment=dict(data.get("environment") or {}),
        datasets=tuple(dataset_input_from_json(d) for d in data.get("datasets") or ()),
        params=dict(data.get("params") or {}),
        metrics=tuple(metric_from_json(m) for m in data.get("metrics") or ()),
        evaluations=dict(data.get("evaluations") or {}),
    )


def event_from_json(data: dict[str, Any]) -> Event:
    return Event(
        event_id=int(data["event_id"]),
        occurred_at_ms=int(data["occurred_at_ms"]),
        kind=str(data["kind"]),
        entity_type=str(data.get("entity_type", "")),
        entity_id=str(data.get("entity_id", "")),
        entity_name=str(data.get("entity_name", "")),
        actor=str(data.get("actor", "")),
        version=data.get("version"),
        from_value=data.get("from_value"),
        to_value=data.get("to_value"),
        reason=data.get("reason"),
        payload=dict(data.get("payload") or {}),
    )
