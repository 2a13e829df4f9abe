"""metrics linked to logged models (MLflow 3's ``model_id`` on a metric)

A metric point logged with ``model_id`` (and optionally the dataset it was computed on) still belongs to its run;
it is also shown on the logged model. The history chunks gain the link, nullable so existing chunks stay as they
are (no rewrite: columns are added in place on SQLite and PostgreSQL); a partial index finds a model's chunks
without indexing the unlinked majority. A latest-value table per (logged model, key) serves search filters and
order by ``metrics.<key>`` on logged models, as ``latest_metrics`` does for runs.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_LINKED = sa.text("model_id IS NOT NULL")


def upgrade() -> None:
    op.add_column("metric_chunks", sa.Column("model_id", sa.String(length=40), nullable=True))
    op.add_column("metric_chunks", sa.Column("dataset_name", sa.String(length=500), nullable=True))
    op.add_column("metric_chunks", sa.Column("dataset_digest", sa.String(length=36), nullable=True))
    op.create_index(
        op.f("ix_metric_chunks_model_id"),
        "metric_chunks",
        ["model_id"],
        unique=False,
        sqlite_where=_LINKED,
        postgresql_where=_LINKED,
    )
    op.create_table(
        "latest_model_metrics",
        sa.Column("model_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=False),
        sa.Column("is_nan", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["logged_models.model_id"],
            name=op.f("fk_latest_model_metrics_model_id_logged_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_id", "key", name=op.f("pk_latest_model_metrics")),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("latest_model_metrics")
    op.drop_index(op.f("ix_metric_chunks_model_id"), table_name="metric_chunks")
    # Dropping columns rebuilds the table on SQLite; batch mode does that copy.
    with op.batch_alter_table("metric_chunks", schema=None) as batch_op:
        batch_op.drop_column("dataset_digest")
        batch_op.drop_column("dataset_name")
        batch_op.drop_column("model_id")
