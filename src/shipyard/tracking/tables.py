"""SQL tables of the tracking capability (experiments, runs, params, metrics, tags, inputs)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from shipyard.db import metadata

__all__ = [
    "datasets",
    "experiment_tags",
    "experiments",
    "latest_metrics",
    "metric_chunks",
    "params",
    "run_inputs",
    "runs",
    "tags",
]

# Key and value limits follow MLflow's so that what one accepts the other accepts too.
KEY_LEN = 250
PARAM_VALUE_LEN = 6000
MODEL_ID_LEN = 40  # "m-" + 32 hex, as MLflow; logged_models.model_id has the same width
# A metric's dataset (MLflow's logged_model_metrics.dataset_name / dataset_digest widths).
DATASET_NAME_LEN = 500
DATASET_DIGEST_LEN = 36

experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(500), nullable=False, unique=True),
    Column("artifact_location", Text, nullable=False),
    Column("lifecycle_stage", String(32), nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
)

experiment_tags = Table(
    "experiment_tags",
    metadata,
    Column("experiment_id", Integer, ForeignKey("experiments.experiment_id", ondelete="CASCADE"), nullable=False),
    Column("key", String(KEY_LEN), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("experiment_id", "key"),
)

runs = Table(
    "runs",
    metadata,
    Column("run_uuid", String(32), primary_key=True),
    Column("experiment_id", Integer, ForeignKey("experiments.experiment_id"), nullable=False),
    Column("name", String(KEY_LEN), nullable=False),
    Column("user_id", String(256), nullable=False),
    Column("status", String(20), nullable=False),
    Column("start_time", BigInteger, nullable=True),
    Column("end_time", BigInteger, nullable=True),
    Column("deleted_time", BigInteger, nullable=True),
    Column("lifecycle_stage", String(20), nullable=False),
    Column("artifact_uri", Text, nullable=False),
    Index(None, "experiment_id", "lifecycle_stage", "start_time"),
    # Clustered on the primary key in SQLite (WITHOUT ROWID): search joins look runs up by id thousands of
    # times per query, and a clustered key saves one B-tree descent per lookup (3x on the 10,000-run search).
    sqlite_with_rowid=False,
)

params = Table(
    "params",
    metadata,
    Column("run_uuid", String(32), ForeignKey("runs.run_uuid", ondelete="CASCADE"), nullable=False),
    Column("key", String(KEY_LEN), nullable=False),
    Column("value", String(PARAM_VALUE_LEN), nullable=False),
    PrimaryKeyConstraint("run_uuid", "key"),
    # (key, value, run_uuid): a filter finds its runs here, and a lookup for one run is an exact descent, so no
    # plan PostgreSQL picks without statistics rescans a key's rows per run (migration 0007).
    Index(None, "key", "value", "run_uuid"),
    sqlite_with_rowid=False,
)

tags = Table(
    "tags",
    metadata,
    Column("run_uuid", String(32), ForeignKey("runs.run_uuid", ondelete="CASCADE"), nullable=False),
    Column("key", String(KEY_LEN), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("run_uuid", "key"),
    Index(None, "key", "run_uuid"),  # the run id makes a lookup exact, as on params (migration 0007)
)

# Full, append-only history, stored as chunks: one row per (run, key, logged batch) holding the batch's
# steps, timestamps and values as packed little-endian arrays. Ingest costs one row per key per batch instead of
# one per point, which is what makes a million points per run cheap. A chunk is identified by the sha1 of its
# contents, so a retried batch is stored once; identical points across chunks are merged when read (MLflow
# stores an identical point once too). NaN survives as an IEEE value inside the blob.
metric_chunks = Table(
    "metric_chunks",
    metadata,
    Column("run_uuid", String(32), ForeignKey("runs.run_uuid", ondelete="CASCADE"), nullable=False),
    Column("key", String(KEY_LEN), nullable=False),
    Column("digest", String(40), nullable=False),
    Column("n_points", Integer, nullable=False),
    Column("min_timestamp", BigInteger, nullable=False),
    Column("max_timestamp", BigInteger, nullable=False),
    Column("steps", LargeBinary, nullable=False),
    Column("timestamps", LargeBinary, nullable=False),
    Column("vals", LargeBinary, nullable=False),
    # MLflow 3 links a point to a logged model (and the dataset it was computed on); a chunk holds points of one
    # link only. The digest covers the link, so the same points logged for two models are two chunks.
    Column("model_id", String(MODEL_ID_LEN), nullable=True),
    Column("dataset_name", String(DATASET_NAME_LEN), nullable=True),
    Column("dataset_digest", String(DATASET_DIGEST_LEN), nullable=True),
    UniqueConstraint("run_uuid", "key", "digest"),
    # Partial: most chunks are linked to no model, and indexing their NULLs would only slow ingest.
    Index(None, "model_id", sqlite_where=text("model_id IS NOT NULL"), postgresql_where=text("model_id IS NOT NULL")),
)

# The newest point per (run, key): max by (step, timestamp, value), as MLflow picks it. Serves search and sort.
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_uuid", String(32), ForeignKey("runs.run_uuid", ondelete="CASCADE"), nullable=False),
    Column("key", String(KEY_LEN), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("value", Float(precision=53), nullable=False),
    Column("is_nan", Boolean, nullable=False),
    PrimaryKeyConstraint("run_uuid", "key"),
    Index(None, "key", "value", "run_uuid"),  # as on params (migration 0007)
    sqlite_with_rowid=False,
)

datasets = Table(
    "datasets",
    metadata,
    Column("dataset_uuid", String(32), primary_key=True),
    Column("experiment_id", Integer, ForeignKey("experiments.experiment_id", ondelete="CASCADE"), nullable=False),
    Column("name", String(500), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("source_type", String(36), nullable=False),
    Column("source", Text, nullable=False),
    Column("schema", Text, nullable=False),
    Column("profile", Text, nullable=False),
    UniqueConstraint("experiment_id", "name", "digest"),
)

run_inputs = Table(
    "run_inputs",
    metadata,
    Column("run_uuid", String(32), ForeignKey("runs.run_uuid", ondelete="CASCADE"), nullable=False),
    Column("dataset_uuid", String(32), ForeignKey("datasets.dataset_uuid", ondelete="CASCADE"), nullable=False),
    Column("tags_json", Text, nullable=False),
    PrimaryKeyConstraint("run_uuid", "dataset_uuid"),
)
