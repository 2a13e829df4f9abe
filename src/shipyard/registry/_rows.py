"""The registry store's shared rows: who changes what, model keys, versions and models read back, events, tags."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, and_, delete, func, insert, select, tuple_, update

from shipyard.errors import ModelNotFound, ModelVersionNotFound
from shipyard.events import NewEvent, record_event
from shipyard.registry.entities import ModelVersion, RegisteredModel
from shipyard.registry.tables import (
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
)

__all__ = [
    "Change",
    "drop_tag",
    "load_models",
    "load_versions",
    "model_key_of",
    "put_tag",
    "record_change",
    "require_version",
    "touch",
    "version_label",
]


class Change:
    """Who makes a change, when, and why: recorded on the change's event."""

    __slots__ = ("actor", "now_ms", "reason")

    def __init__(self, actor: str, now_ms: int, reason: str | None = None) -> None:
        self.actor = actor
        self.now_ms = now_ms
        self.reason = reason


def version_label(name: str, version: int | str) -> str:
    """How messages name a version: ``(name=churn, version=3)``."""
    return f"(name={name}, version={version})"


def model_key_of(conn: Connection, name: str) -> int:
    """The stable key of the registered model called ``name``.

    Raises:
        ModelNotFound: no model has that name.
    """
    key = conn.execute(select(registered_models.c.model_key).where(registered_models.c.name == name)).scalar()
    if key is None:
        raise ModelNotFound(f"Registered Model with name={name} not found")
    return int(key)


def require_version(conn: Connection, key: int, name: str, version: int) -> Any:
    """The row of one version of the model ``key`` (``name`` is for the message).

    Raises:
        ModelVersionNotFound: the model has no such version.
    """
    row = conn.execute(
        select(model_versions).where(model_versions.c.model_key == key, model_versions.c.version == version)
    ).first()
    if row is None:
        raise ModelVersionNotFound(f"Model Version {version_label(name, version)} not found")
    return row


def record_change(conn: Connection, change: Change, kind: str, name: str, model_key: int, **fields: Any) -> None:
    """Write the change's event (a version's when ``fields`` names one) in the change's own transaction."""
    version = fields.pop("version", None)
    payload = {"name": name, **({"version": str(version)} if version is not None else {}), **fields}
    record_event(
        conn,
        NewEvent(
            kind=kind,
            entity_type="model_version" if version is not None else "registered_model",
            entity_id=str(model_key),
            entity_name=name,
            actor=change.actor,
            version=str(version) if version is not None else None,
            from_value=_text(fields.get("from")),
            to_value=_text(fields.get("to")),
            reason=change.reason,
            payload={k: v for k, v in payload.items() if v is not None},
        ),
        change.now_ms,
    )


def touch(conn: Connection, key: int, now_ms: int) -> None:
    """Mark the model ``key`` as updated at ``now_ms``."""
    conn.execute(update(registered_models).where(registered_models.c.model_key == key).values(last_updated_time=now_ms))


def load_versions(conn: Connection, pairs: Sequence[tuple[int, int]]) -> list[ModelVersion]:
    """Full ModelVersion entities for ``(model_key, version)`` pairs, in the order given."""
    if not pairs:
        return []
    wanted = tuple_(model_versions.c.model_key, model_versions.c.version).in_(list(pairs))
    rows = conn.execute(
        select(model_versions, registered_models.c.name)
        .join(registered_models, registered_models.c.model_key == model_versions.c.model_key)
        .where(wanted)
    ).all()
    keys = sorted({k for k, _ in pairs})
    tags: dict[tuple[int, int], dict[str, str]] = {}
    for r in conn.execute(select(model_version_tags).where(model_version_tags.c.model_key.in_(keys))):
        tags.setdefault((r.model_key, r.version), {})[r.key] = r.value
    aliases: dict[tuple[int, int], list[str]] = {}
    for r in conn.execute(
        select(registered_model_aliases)
        .where(registered_model_aliases.c.model_key.in_(keys))
        .order_by(registered_model_aliases.c.alias)
    ):
        aliases.setdefault((r.model_key, r.version), []).append(r.alias)
    by_pair = {
        (r.model_key, r.version): ModelVersion(
            name=r.name,
            version=r.version,
            creation_time_ms=r.creation_time,
            last_updated_time_ms=r.last_updated_time,
            current_stage=r.current_stage,
            source=r.source,
            status=r.status,
            description=r.description,
            user_id=r.user_id,
            run_id=r.run_id,
            run_link=r.run_link,
            status_message=r.status_message,
            model_id=r.model_id,
            storage_location=r.storage_location,
            tags=tags.get((r.model_key, r.version), {}),
            aliases=tuple(aliases.get((r.model_key, r.version), ())),
        )
        for r in rows
    }
    return [by_pair[p] for p in pairs if p in by_pair]


def load_models(conn: Connection, keys: Sequence[int]) -> list[RegisteredModel]:
    """Full RegisteredModel entities (tags, aliases, latest version per stage) for ``keys``, in the order given."""
    if not keys:
        return []
    rows = {
        r.model_key: r for r in conn.execute(select(registered_models).where(registered_models.c.model_key.in_(keys)))
    }
    tags: dict[int, dict[str, str]] = {}
    for r in conn.execute(select(registered_model_tags).where(registered_model_tags.c.model_key.in_(keys))):
        tags.setdefault(r.model_key, {})[r.key] = r.value
    aliases: dict[int, dict[str, int]] = {}
    for r in conn.execute(
        select(registered_model_aliases)
        .where(registered_model_aliases.c.model_key.in_(keys))
        .order_by(registered_model_aliases.c.alias)
    ):
        aliases.setdefault(r.model_key, {})[r.alias] = r.version
    latest_rows = conn.execute(
        select(model_versions.c.model_key, model_versions.c.current_stage, func.max(model_versions.c.version))
        .where(model_versions.c.model_key.in_(keys))
        .group_by(model_versions.c.model_key, model_versions.c.current_stage)
    ).all()
    latest_pairs = sorted((int(k), int(v)) for k, _, v in latest_rows)
    latest: dict[int, list[ModelVersion]] = {}
    for mv, (k, _) in zip(load_versions(conn, latest_pairs), latest_pairs, strict=True):
        latest.setdefault(k, []).append(mv)
    return [
        RegisteredModel(
            name=rows[k].name,
            creation_time_ms=rows[k].creation_time,
            last_updated_time_ms=rows[k].last_updated_time,
            description=rows[k].description,
            user_id=rows[k].user_id,
            tags=tags.get(k, {}),
            aliases=aliases.get(k, {}),
            latest_versions=tuple(latest.get(k, ())),
        )
        for k in keys
        if k in rows
    ]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _tag_where(table: Table, owner: dict[str, Any], key: str) -> ColumnElement[bool]:
    return and_(*(table.c[column] == value for column, value in owner.items()), table.c.key == key)


def put_tag(conn: Connection, table: Table, owner: dict[str, Any], key: str, value: str) -> str | None:
    """Set the tag ``key`` of the row ``owner`` names in ``table``; returns the value it had, if any."""
    where = _tag_where(table, owner, key)
    old: str | None = conn.execute(select(table.c.value).where(where)).scalar()
    if old is None:
        conn.execute(insert(table).values(**owner, key=key, value=value))
    else:
        conn.execute(update(table).where(where).values(value=value))
    return old


def drop_tag(conn: Connection, table: Table, owner: dict[str, Any], key: str) -> str | None:
    """Delete the tag ``key`` of the row ``owner`` names; returns the value it had, or None if there was none."""
    where = _tag_where(table, owner, key)
    old: str | None = conn.execute(select(table.c.value).where(where)).scalar()
    if old is not None:
        conn.execute(delete(table).where(where))
    return old
