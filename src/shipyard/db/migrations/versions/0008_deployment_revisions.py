"""deployment revisions in the metadata store, and durable cursors of the events outbox

Deployment revisions moved out of the flock-locked state file each ``shipyard serve`` host kept
(``SHIPYARD_HOME/deployments/NAME/state.json``) into two tables, so serving replicas on several hosts share them:
``deployments`` (one row per name, ``head`` the active revision's number, moved with a conditional UPDATE) and
``deployment_revisions`` (the newest revisions, each pinning the version behind every route). ``event_cursors``
holds, per named consumer of the events outbox, the id of the last event it handled: serving follows alias
moves through it, and the pipelines' scheduler will too. Only new tables: no existing row is touched.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_cursors",
        sa.Column("consumer", sa.String(length=200), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("consumer", name=op.f("pk_event_cursors")),
    )
    op.create_table(
        "deployments",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("head", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_deployments")),
    )
    op.create_table(
        "deployment_revisions",
        sa.Column("deployment", sa.String(length=128), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=True),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("models", sa.Text(), nullable=False),
        sa.Column("shadow", sa.Text(), nullable=True),
        sa.Column("aliases", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment"],
            ["deployments.name"],
            name=op.f("fk_deployment_revisions_deployment_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("deployment", "number", name=op.f("pk_deployment_revisions")),
    )


def downgrade() -> None:
    op.drop_table("deployment_revisions")
    op.drop_table("deployments")
    op.drop_table("event_cursors")
