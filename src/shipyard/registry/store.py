"""Registered models, versions, tags, aliases and stages on SQL; every change writes its event in the same
transaction.

`RegistryStore` holds the registered models; their versions and aliases are its part in `_version_store`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from shipyard._paging import decode_page_token, encode_page_token
from shipyard._visibility import EVERYTHING, Visible
from shipyard.db import Database
from shipyard.errors import ResourceAlreadyExists
from shipyard.filters import parse_filter, parse_order_by
from shipyard.registry._rows import Change, drop_tag, load_models, model_key_of, put_tag, record_change, touch
from shipyard.registry._search_sql import registered_models_query
from shipyard.registry._version_store import VersionStore
from shipyard.registry.entities import ModelVersion, RegisteredModel, Stage
from shipyard.registry.search import REGISTERED_MODEL_SEARCH
from shipyard.registry.tables import (
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
)

__all__ = ["Change", "RegistryStore"]


class RegistryStore(VersionStore):
    """The registry's SQL: one short transaction per change, events in the same transaction."""

    def __init__(self, database: Database) -> None:
        self.db = database

    # ---------------------------------------------------------------------------------- registered models
    def create_registered_model(
        self, name: str, tags: dict[str, str], description: str | None, user_id: str | None, change: Change
    ) -> RegisteredModel:
        """Insert a registered model with no versions."""
        try:
            with self.db.write() as conn:
                if conn.execute(select(registered_models.c.model_key).where(registered_models.c.name == name)).first():
                    raise ResourceAlreadyExists(f"Registered Model (name={name}) already exists.")
                result = conn.execute(
                    insert(registered_models).values(
                        name=name,
                        creation_time=change.now_ms,
                        last_updated_time=change.now_ms,
                        description=description,
                        user_id=user_id,
                        last_version=0,
                    )
                )
                assert result.inserted_primary_key is not None
                key = int(result.inserted_primary_key[0])
                if tags:
                    conn.execute(
                        insert(registered_model_tags),
                        [{"model_key": key, "key": k, "value": v} for k, v in tags.items()],
                    )
                record_change(conn, change, "registered_model.created", name, key, description=description, tags=tags)
        except IntegrityError as exc:
            raise ResourceAlreadyExists(f"Registered Model (name={name}) already exists.") from exc
        return self.get_registered_model(name)

    def get_registered_model(self, name: str) -> RegisteredModel:
        """A registered model with its tags, aliases and latest version per stage."""
        with self.db.read() as conn:
            return load_models(conn, [model_key_of(conn, name)])[0]

    def rename_registered_model(self, name: str, new_name: str, change: Change) -> RegisteredModel:
        """Rename; versions, tags, aliases and history follow (they refer to the model's key)."""
        try:
            with self.db.write() as conn:
                key = model_key_of(conn, name)
                if (
                    name != new_name
                    and conn.execute(
                        select(registered_models.c.model_key).where(registered_models.c.name == new_name)
                    ).first()
                ):
                    raise ResourceAlreadyExists(f"Registered Model (name={new_name}) already exists.")
                conn.execute(
                    update(registered_models)
                    .where(registered_models.c.model_key == key)
                    .values(name=new_name, last_updated_time=change.now_ms)
                )
                record_change(conn, change, "registered_model.renamed", new_name, key, **{"from": name, "to": new_name})
        except IntegrityError as exc:
            raise ResourceAlreadyExists(f"Registered Model (name={new_name}) already exists.") from exc
        return self.get_registered_model(new_name)

    def update_registered_model(self, name: str, description: str | None, change: Change) -> RegisteredModel:
        """Replace the description."""
        with self.db.write() as conn:
            key = model_key_of(conn, name)
            old = conn.execute(
                select(registered_models.c.description).where(registered_models.c.model_key == key)
            ).scalar()
            conn.execute(
                update(registered_models)
                .where(registered_models.c.model_key == key)
                .values(description=description, last_updated_time=change.now_ms)
            )
            record_change(conn, change, "registered_model.updated", name, key, **{"from": old, "to": description})
        return self.get_registered_model(name)

    def delete_registered_model(self, name: str, change: Change) -> None:
        """Delete the model with all its versions, tags and aliases (its history stays)."""
        with self.db.write() as conn:
            key = model_key_of(conn, name)
            versions = [
                int(v)
                for v in conn.execute(
                    select(model_versions.c.version).where(model_versions.c.model_key == key)
                ).scalars()
            ]
            conn.execute(delete(registered_model_aliases).where(registered_model_aliases.c.model_key == key))
            conn.execute(delete(model_version_tags).where(model_version_tags.c.model_key == key))
            conn.execute(delete(model_versions).where(model_versions.c.model_key == key))
            conn.execute(delete(registered_model_tags).where(registered_model_tags.c.model_key == key))
            conn.execute(delete(registered_models).where(registered_models.c.model_key == key))
            record_change(conn, change, "registered_model.deleted", name, key, versions=versions)

    def set_registered_model_tag(self, name: str, key_: str, value: str, change: Change) -> None:
        """Set or overwrite a model tag."""
        with self.db.write() as conn:
            key = model_key_of(conn, name)
            old = put_tag(conn, registered_model_tags, {"model_key": key}, key_, value)
            touch(conn, key, change.now_ms)
            record_change(conn, change, "registered_model_tag.set", name, key, tag=key_, **{"from": old, "to": value})

    def delete_registered_model_tag(self, name: str, key_: str, change: Change) -> None:
        """Remove a model tag; removing a missing tag is not an error (as in MLflow)."""
        with self.db.write() as conn:
            key = model_key_of(conn, name)
            old = drop_tag(conn, registered_model_tags, {"model_key": key}, key_)
            if old is not None:
                record_change(conn, change, "registered_model_tag.deleted", name, key, tag=key_, **{"from": old})

    def search_registered_models(
        self,
        filter_string: str | None,
        order_by: Sequence[str],
        max_results: int,
        page_token: str | None,
        *,
        visible: Visible = EVERYTHING,
    ) -> tuple[list[RegisteredModel], str | None]:
        """Registered models matching MLflow's filter grammar, one page at a time (only those in ``visible``)."""
        comparisons = parse_filter(filter_string, REGISTERED_MODEL_SEARCH)
        order_keys = parse_order_by(list(order_by), REGISTERED_MODEL_SEARCH)
        offset = decode_page_token(page_token)
        with self.db.read() as conn:
            keys = [
                int(k)
                for k in conn.execute(
                    registered_models_query(comparisons, order_keys, offset, max_results + 1, visible=visible)
                ).scalars()
            ]
            page = load_models(conn, keys[:max_results])
        return page, (encode_page_token(offset + max_results) if len(keys) > max_results else None)

    def latest_versions(self, name: str, stages: Iterable[str]) -> list[ModelVersion]:
        """The newest version in each of ``stages`` (every stage when empty), ordered by stage."""
        wanted = {Stage.parse(s).value for s in stages}
        model = self.get_registered_model(name)
        return [mv for mv in model.latest_versions if not wanted or mv.current_stage in wanted]

    def model_key(self, name: str) -> int:
        """The stable key of a registered model (events refer to it)."""
        with self.db.read() as conn:
            return model_key_of(conn, name)
