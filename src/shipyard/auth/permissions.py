"""Permission grants per experiment, registered model and deployment, and the checks every route makes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, delete, insert, select, update
from sqlalchemy.engine import Connection

from shipyard.auth._audit import audit
from shipyard.auth.entities import RESOURCE_TYPES, Grant, Level, Principal
from shipyard.auth.tables import permissions, users
from shipyard.db import Database
from shipyard.errors import InvalidParameter, PermissionDenied, ResourceNotFound

__all__ = ["Permissions"]


@dataclass
class Permissions:
    """Who may do what with each resource.

    A user's level on a resource is their grant on it if they have one, else ``default_level``; admins (and
    everyone, when authentication is off) have ``MANAGE`` on everything. The creator of a resource is granted
    ``MANAGE`` on it. Every grant and revocation is recorded as a ``permission.*`` event.

    Attributes:
        database: the metadata database holding the grants.
        default_level: the level of users without a grant (``Settings.auth_default_permission``).
    """

    database: Database
    default_level: Level = Level.READ

    def level(self, principal: Principal, resource_type: str, resource_id: str) -> Level:
        """The principal's effective level on one resource."""
        if principal.is_admin:
            return Level.MANAGE
        with self.database.read() as conn:
            found = conn.execute(
                select(permissions.c.level).where(
                    permissions.c.resource_type == resource_type,
                    permissions.c.resource_id == resource_id,
                    permissions.c.username == principal.username,
                )
            ).scalar_one_or_none()
        return self.default_level if found is None else Level(found)

    def require(self, principal: Principal, resource_type: str, resource_id: str, needed: Level, what: str) -> None:
        """Raise PermissionDenied unless the principal holds ``needed`` on the resource.

        Args:
            what: the resource as the message should name it (``"experiment '3'"``).
        """
        if principal.is_admin:
            return
        if self.level(principal, resource_type, resource_id) < needed:
            raise PermissionDenied(
                f"User '{principal.username}' lacks {needed.name} permission on {what}; ask its owner or an admin."
            )

    def require_admin(self, principal: Principal, what: str) -> None:
        """Raise PermissionDenied unless the principal is an admin."""
        if not principal.is_admin:
            raise PermissionDenied(f"Only an admin may {what}.")

    def readable(self, principal: Principal, resource_type: str) -> Callable[[str], bool]:
        """A predicate on resource ids: whether the principal may read each one (one query, for searches)."""
        if principal.is_admin:
            return lambda _rid: True
        with self.database.read() as conn:
            grants = {
                row.resource_id: Level(row.level)
                for row in conn.execute(
                    select(permissions.c.resource_id, permissions.c.level).where(
                        permissions.c.username == principal.username, permissions.c.resource_type == resource_type
                    )
                )
            }
        default = self.default_level
        return lambda rid: grants.get(rid, default) >= Level.READ

    def grants(self, resource_type: str, resource_id: str) -> list[Grant]:
        """Every explicit grant on one resource, by username."""
        _check_type(resource_type)
        with self.database.read() as conn:
            rows = conn.execute(
                select(permissions)
                .where(permissions.c.resource_type == resource_type, permissions.c.resource_id == resource_id)
                .order_by(permissions.c.username)
            )
            return [Grant(r.resource_type, r.resource_id, r.username, Level(r.level)) for r in rows]

    def user_grants(self, username: str) -> list[Grant]:
        """Every explicit grant a user holds."""
        with self.database.read() as conn:
            rows = conn.execute(
                select(permissions)
                .where(permissions.c.username == username)
                .order_by(permissions.c.resource_type, permissions.c.resource_id)
            )
            return [Grant(r.resource_type, r.resource_id, r.username, Level(r.level)) for r in rows]

    def grant(self, resource_type: str, resource_id: str, username: str, level: Level, *, actor: str | None) -> None:
        """Set ``username``'s level on a resource (replacing any earlier grant); recorded as an event.

        Raises:
            InvalidParameter: an unknown resource type.
            ResourceNotFound: no such user.
        """
        _check_type(resource_type)
        with self.database.write() as conn:
            if conn.execute(select(users.c.username).where(users.c.username == username)).first() is None:
                raise ResourceNotFound(f"User '{username}' does not exist.")
            self._grant(conn, resource_type, resource_id, username, level, actor)

    def grant_creator(self, resource_type: str, resource_id: str, principal: Principal) -> None:
        """Give the user who created a resource ``MANAGE`` on it (nothing when authentication is off)."""
        if principal.username is None:
            return
        with self.database.write() as conn:
            self._grant(conn, resource_type, resource_id, principal.username, Level.MANAGE, principal.username)

    def revoke(self, resource_type: str, resource_id: str, username: str, *, actor: str | None) -> None:
        """Remove a user's grant (they fall back to the default level); recorded as an event."""
        _check_type(resource_type)
        with self.database.write() as conn:
            before = _current(conn, resource_type, resource_id, username)
            if before is None:
                raise ResourceNotFound(f"User '{username}' holds no grant on {resource_type} '{resource_id}'.")
            conn.execute(delete(permissions).where(_key(resource_type, resource_id, username)))
            _audit(conn, "permission.revoked", resource_type, resource_id, username, actor, before, None)

    def rename_resource(self, resource_type: str, old_id: str, new_id: str, *, actor: str | None) -> None:
        """Carry a resource's grants over to its new name (a registered model renamed)."""
        with self.database.write() as conn:
            conn.execute(
                update(permissions)
                .where(permissions.c.resource_type == resource_type, permissions.c.resource_id == old_id)
                .values(resource_id=new_id)
            )

    def forget_resource(self, resource_type: str, resource_id: str) -> None:
        """Drop every grant on a deleted resource, so a new one with the same name starts clean."""
        with self.database.write() as conn:
            conn.execute(
                delete(permissions).where(
                    permissions.c.resource_type == resource_type, permissions.c.resource_id == resource_id
                )
            )

    def _grant(
        self, conn: Connection, resource_type: str, resource_id: str, username: str, level: Level, actor: str | None
    ) -> None:
        before = _current(conn, resource_type, resource_id, username)
        if before == level:
            return
        if before is None:
            conn.execute(
                insert(permissions).values(
                    resource_type=resource_type, resource_id=resource_id, username=username, level=int(level)
                )
            )
        else:
            conn.execute(update(permissions).where(_key(resource_type, resource_id, username)).values(level=int(level)))
        _audit(conn, "permission.granted", resource_type, resource_id, username, actor, before, level)


def _check_type(resource_type: str) -> None:
    if resource_type not in RESOURCE_TYPES:
        raise InvalidParameter(f"Invalid resource type {resource_type!r}: expected one of {', '.join(RESOURCE_TYPES)}.")


def _key(resource_type: str, resource_id: str, username: str) -> ColumnElement[bool]:
    return and_(
        permissions.c.resource_type == resource_type,
        permissions.c.resource_id == resource_id,
        permissions.c.username == username,
    )


def _current(conn: Connection, resource_type: str, resource_id: str, username: str) -> Level | None:
    found = conn.execute(select(permissions.c.level).where(_key(resource_type, resource_id, username))).scalar()
    return None if found is None else Level(found)


def _audit(
    conn: Connection,
    kind: str,
    resource_type: str,
    resource_id: str,
    username: str,
    actor: str | None,
    before: Level | None,
    after: Level | None,
) -> None:
    audit(
        conn,
        kind,
        "permission",
        f"{resource_type}:{resource_id}",
        actor,
        entity_name=resource_id,
        from_value=None if before is None else before.name,
        to_value=None if after is None else after.name,
        payload={"resource_type": resource_type, "resource_id": resource_id, "username": username},
    )
