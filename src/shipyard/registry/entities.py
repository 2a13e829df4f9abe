"""Registry entities: logged models, registered models, versions; plain frozen dataclasses with no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from shipyard.tracking.entities import Metric

__all__ = [
    "LoggedModel",
    "LoggedModelStatus",
    "ModelVersion",
    "ModelVersionStatus",
    "RegisteredModel",
    "Stage",
]


class Stage(StrEnum):
    """MLflow's legacy model-version stages."""

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"

    @classmethod
    def parse(cls, text: str) -> Stage:
        """The stage named ``text``, case-insensitively (MLflow accepts ``production``).

        Raises:
            ValueError: not one of None, Staging, Production, Archived.
        """
        for stage in cls:
            if stage.value.lower() == text.strip().lower():
                return stage
        raise ValueError(text)


class ModelVersionStatus(StrEnum):
    """Registration status of a model version (Shipyard registers synchronously: always READY)."""

    PENDING_REGISTRATION = "PENDING_REGISTRATION"
    FAILED_REGISTRATION = "FAILED_REGISTRATION"
    READY = "READY"


class LoggedModelStatus(StrEnum):
    """Upload status of an MLflow 3 logged model."""

    PENDING = "LOGGED_MODEL_PENDING"
    READY = "LOGGED_MODEL_READY"
    UPLOAD_FAILED = "LOGGED_MODEL_UPLOAD_FAILED"


@dataclass(frozen=True, slots=True)
class LoggedModel:
    """A model's files and metadata, owned by an experiment and usually produced by a run."""

    model_id: str
    experiment_id: str
    name: str
    artifact_location: str
    creation_time_ms: int
    last_updated_time_ms: int
    status: str
    status_message: str | None = None
    user_id: str | None = None
    model_type: str | None = None
    source_run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: tuple[Metric, ...] = ()  # every point linked to the model (model_id, run_id set), as MLflow 3 shows


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One numbered version of a registered model."""

    name: str
    version: int
    creation_time_ms: int
    last_updated_time_ms: int
    current_stage: str
    source: str
    status: str
    description: str | None = None
    user_id: str | None = None
    run_id: str | None = None
    run_link: str | None = None
    status_message: str | None = None
    model_id: str | None = None
    storage_location: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A named model with versions, tags and aliases."""

    name: str
    creation_time_ms: int
    last_updated_time_ms: int
    description: str | None = None
    user_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    latest_versions: tuple[ModelVersion, ...] = ()
