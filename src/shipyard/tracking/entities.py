"""Tracking entities: plain frozen dataclasses with no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

__all__ = [
    "DatasetInput",
    "Experiment",
    "LifecycleStage",
    "Metric",
    "MetricSeries",
    "Param",
    "Run",
    "RunStatus",
    "RunTag",
    "ViewType",
]


class RunStatus(StrEnum):
    """A run's status, with MLflow's names."""

    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


class LifecycleStage(StrEnum):
    """Soft-delete state of experiments and runs."""

    ACTIVE = "active"
    DELETED = "deleted"


class ViewType(StrEnum):
    """Which lifecycle stages a search returns."""

    ACTIVE_ONLY = "ACTIVE_ONLY"
    DELETED_ONLY = "DELETED_ONLY"
    ALL = "ALL"

    @property
    def stages(self) -> tuple[str, ...]:
        """The lifecycle stages this view includes."""
        if self is ViewType.ACTIVE_ONLY:
            return (LifecycleStage.ACTIVE.value,)
        if self is ViewType.DELETED_ONLY:
            return (LifecycleStage.DELETED.value,)
        return (LifecycleStage.ACTIVE.value, LifecycleStage.DELETED.value)


class Metric(NamedTuple):
    """One point of a metric's history.

    A NamedTuple rather than a frozen dataclass: a run may log millions of points, and a NamedTuple is
    just as immutable and typed while being three times cheaper to create.

    Attributes:
        model_id: the logged model the point is about (MLflow 3): the point belongs to its run and is also shown
            on that model. None for a plain run metric.
        dataset_name: the dataset the point was computed on, with ``dataset_digest``; kept only for a point
            linked to a logged model, as MLflow keeps them.
        run_id: the run that logged the point, where the context does not say it (a logged model's metrics).
    """

    key: str
    value: float
    timestamp_ms: int
    step: int = 0
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None
    run_id: str | None = None


class MetricSeries(NamedTuple):
    """The points of one metric that are linked to one logged model (and dataset): how they are grouped and stored.

    Points of a metric linked to no model are grouped under the plain key (a ``str``) instead.
    """

    key: str
    model_id: str
    dataset_name: str | None = None
    dataset_digest: str | None = None


@dataclass(frozen=True, slots=True)
class Param:
    """A run parameter; immutable once logged."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class RunTag:
    """A run or experiment tag; may be overwritten."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Experiment:
    """A named group of runs."""

    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    creation_time_ms: int
    last_update_time_ms: int
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DatasetInput:
    """A dataset a run consumed, with the tags of that use (e.g. ``mlflow.data.context``)."""

    name: str
    digest: str
    source_type: str
    source: str
    schema: str = ""
    profile: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Run:
    """A run with its latest metrics, params, tags and dataset inputs."""

    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time_ms: int | None
    end_time_ms: int | None
    lifecycle_stage: str
    artifact_uri: str
    metrics: tuple[Metric, ...] = ()
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    inputs: tuple[DatasetInput, ...] = ()
