"""SQL tables of the registry: logged models (MLflow 3), registered models, versions, tags and aliases."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from shipyard.db import metadata
from shipyard.tracking.tables import KEY_LEN, MODEL_ID_LEN

__all__ = [
    "latest_model_metrics",
    "logged_model_params",
    "logged_model_tags",
    "logged_models",
    "model_version_tags",
    "model_versions",
    "registered_model_aliases",
    "registered_model_tags",
    "registered_models",
    "run_outputs",
]

NAME_LEN = 256

# A logged model is a model's files plus metadata, owned by an experiment and usually produced by a run; it is
# what `mlflow.<flavor>.log_model` creates in MLflow 3, and what a model version points at.
logged_models = Table(
    "logged_models",
    metadata,
    Column("model_id", String(40), primary_key=True),  # "m-" + 32 hex, as MLflow
    Column("experiment_id", Integer, ForeignKey("experiments.experiment_id", ondelete="CASCADE"), nullable=False),
    Column("name", String(NAME_LEN), nullable=False),
    Column("artifact_location", Text, nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    Column(
        "status", String(32), nullable=False
    ),  # LOGGED_MODEL_PENDING | LOGGED_MODEL_READY | LOGGED_MODEL_UPLOAD_FAILED
    Column("status_message", Text, nullable=True),
    Column("user_id", String(256), nullable=True),
    Column("model_type", String(256), nullable=True),
    Column("source_run_id", String(32), nullable=True),
    Column("lifecycle_stage", String(20), nullable=False),
    Index(None, "experiment_id", "creation_time"),
    Index(None, "source_run_id", "name"),
)

logged_model_tags = Table(
    "logged_model_tags",
    metadata,
    Column("model_id", String(40), ForeignKey("logged_models.model_id", ondelete="CASCADE"), nullable=False),
    Column("key", String(KEY_LEN), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("model_id", "key"),
)

logged_model_params = Table(
    "logged_model_params",
    metadata,
    Column("model_id", String(40), ForeignKey("logged_models.model_id", ondelete="CASCADE"), nullable=False),
    Column("key", String(KEY_LEN), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("model_id", "key"),
)

# The newest metric point per (logged model, key), over every run that logged one for the model: max by (step,
# timestamp, value), as MLflow ranks a logged model's metrics for search and sort. The points themselves are in
# tracking's metric_chunks (model_id set); this serves `metrics.<key>` in logged-model search and order_by.
latest_model_metrics = Table(
    "latest_model_metrics",
    metadata,
    Column("model_id", String(MODEL_ID_LEN), ForeignKey("logged_models.model_id", ondelete="CASCADE"), nullable=False),
    Column("key", String(KEY_LEN), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("value", Float(precision=53), nullable=False),
    Column("is_nan", Boolean, nullable=False),
    PrimaryKeyConstraint("model_id", "key"),
    sqlite_with_rowid=False,
)

# The models a run produced (`runs/outputs`), with the step they were logged at.
run_outputs = Table(
    "run_outputs",
    metadata,
    Column("run_uuid", String(32), ForeignKey("runs.run_uuid", ondelete="CASCADE"), nullable=False),
    Column("model_id", String(40), ForeignKey("logged_models.model_id", ondelete="CASCADE"), nullable=False),
    Column("step", BigInteger, nullable=False),
    PrimaryKeyConstraint("run_uuid", "model_id"),
)

# Registered models have a surrogate key so that a rename is one UPDATE; versions, tags, aliases and events
# refer to the key, never to the name.
registered_models = Table(
    "registered_models",
    metadata,
    Column("model_key", Integer, primary_key=True, autoincrement=True),
    Column("name", String(NAME_LEN), nullable=False, unique=True),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    Column("description", Text, nullable=True),
    Column("user_id", String(256), nullable=True),
    Column("last_version", Integer, nullable=False),  # numbers are never reused, even after a delete
)

registered_model_tags = Table(
    "registered_model_tags",
    metadata,
    Column("model_key", Integer, ForeignKey("registered_models.model_key", ondelete="CASCADE"), nullable=False),
    Column("key", String(KEY_LEN), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("model_key", "key"),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("model_key", Integer, ForeignKey("registered_models.model_key", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    Column("description", Text, nullable=True),
    Column("user_id", String(256), nullable=True),
    Column("current_stage", String(20), nullable=False),
    Column("source", Text, nullable=False),
    Column("storage_location", Text, nullable=True),  # where the files are (mlflow-artifacts:/…)
    Column("run_id", String(32), nullable=True),
    Column("run_link", Text, nullable=True),
    Column("status", String(32), nullable=False),
    Column("status_message", Text, nullable=True),
    Column("model_id", String(40), nullable=True),
    PrimaryKeyConstraint("model_key", "version"),
    Index(None, "run_id"),
    Index(None, "model_id"),
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("model_key", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("key", String(KEY_LEN), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("model_key", "version", "key"),
    ForeignKeyConstraint(
        ["model_key", "version"], ["model_versions.model_key", "model_versions.version"], ondelete="CASCADE"
    ),
)

registered_model_aliases = Table(
    "registered_model_aliases",
    metadata,
    Column("model_key", Integer, nullable=False),
    Column("alias", String(NAME_LEN), nullable=False),
    Column("version", Integer, nullable=False),
    PrimaryKeyConstraint("model_key", "alias"),
    ForeignKeyConstraint(
        ["model_key", "version"], ["model_versions.model_key", "model_versions.version"], ondelete="CASCADE"
    ),
)
