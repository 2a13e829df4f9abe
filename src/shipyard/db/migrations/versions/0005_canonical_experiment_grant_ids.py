"""canonical experiment ids in permission grants

Grants were keyed by the experiment id as the admin typed it, while the tracking store read ids with ``int()``,
so a grant on "02" was a grant on experiment 2 under another key. Permission checks now canonicalize every
experiment id (ASCII digits, no leading zeros) first; this rewrites stored grants the same way:

- "02" becomes "2", unless the user already holds a grant under "2": that one is what requests spelled "2"
  were checked against, so it stays and the other spelling's row is dropped;
- ids that are not ASCII digits at all (" 2", "+2", "0_2", "٢") can no longer be named by any request or
  revoked by any route, so their rows are dropped.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-20 10:00:00.000000
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_DIGITS = re.compile(r"[0-9]+")
_permissions = sa.table(
    "permissions",
    sa.column("resource_type", sa.String),
    sa.column("resource_id", sa.String),
    sa.column("username", sa.String),
)


def _where(resource_id: str, username: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        _permissions.c.resource_type == "experiment",
        _permissions.c.resource_id == resource_id,
        _permissions.c.username == username,
    )


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(_permissions.c.resource_id, _permissions.c.username).where(
            _permissions.c.resource_type == "experiment"
        )
    ).all()
    held = {(r.resource_id, r.username) for r in rows}
    for resource_id, username in sorted((r.resource_id, r.username) for r in rows):
        if _DIGITS.fullmatch(resource_id) is None:
            conn.execute(sa.delete(_permissions).where(_where(resource_id, username)))
            continue
        canonical = str(int(resource_id))
        if canonical == resource_id:
            continue
        if (canonical, username) in held:
            conn.execute(sa.delete(_permissions).where(_where(resource_id, username)))
        else:
            conn.execute(sa.update(_permissions).where(_where(resource_id, username)).values(resource_id=canonical))
            held.add((canonical, username))


def downgrade() -> None:
    # The other spellings were never meant to exist; there is nothing to restore.
    pass
