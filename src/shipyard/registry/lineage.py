"""A model version's lineage: the run that produced it, its params, metrics, code, environment and data."""

from __future__ import annotations

from dataclasses import dataclass, field

from shipyard.errors import ResourceNotFound
from shipyard.registry.entities import LoggedModel, ModelVersion
from shipyard.registry.service import EVALUATION_PREFIX, RegistryService
from shipyard.tracking.entities import DatasetInput, Metric, Run
from shipyard.tracking.lineage import (
    PACKAGES_ARTIFACT,
    TAG_COMMAND,
    TAG_GIT_BRANCH,
    TAG_GIT_COMMIT,
    TAG_GIT_DIRTY,
    TAG_GIT_REPO,
    TAG_PLATFORM,
    TAG_PYTHON,
    TAG_SOURCE_NAME,
)

__all__ = ["ModelLineage", "model_lineage"]

_CODE_TAGS = {
    "git_commit": TAG_GIT_COMMIT,
    "git_branch": TAG_GIT_BRANCH,
    "git_dirty": TAG_GIT_DIRTY,
    "git_repo": TAG_GIT_REPO,
    "entry_point": TAG_SOURCE_NAME,
    "command": TAG_COMMAND,
}
_ENV_TAGS = {"python": TAG_PYTHON, "platform": TAG_PLATFORM}


@dataclass(frozen=True)
class ModelLineage:
    """Everything the platform knows about where a model version came from.

    Attributes:
        version: the model version.
        logged_model: the logged model holding its files, if any.
        run: the run that produced it, if known and still present.
        experiment_name: that run's experiment.
        code: git commit, branch, dirty flag, repo, entry point and command (what the run recorded).
        environment: Python version and platform of the run, plus the artifact listing its packages.
        datasets: the dataset inputs of the run, with digests.
        params: the run's params.
        metrics: the run's latest metrics.
        evaluations: results attached to the version later (``shipyard.evaluation.<name>`` tags).
    """

    version: ModelVersion
    logged_model: LoggedModel | None
    run: Run | None
    experiment_name: str | None
    code: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    datasets: tuple[DatasetInput, ...] = ()
    params: dict[str, str] = field(default_factory=dict)
    metrics: tuple[Metric, ...] = ()
    evaluations: dict[str, str] = field(default_factory=dict)

    @property
    def chain(self) -> list[tuple[str, str]]:
        """The lineage as a chain of ``(kind, label)`` links: data → run → logged model → version."""
        links: list[tuple[str, str]] = [("dataset", f"{d.name}@{d.digest}") for d in self.datasets]
        if self.code.get("git_commit"):
            links.append(("code", self.code["git_commit"][:12]))
        if self.run is not None:
            links.append(("run", self.run.run_id))
        if self.logged_model is not None:
            links.append(("logged_model", self.logged_model.model_id))
        links.append(("model_version", f"{self.version.name}/{self.version.version}"))
        return links


def model_lineage(registry: RegistryService, name: str, version: str | int) -> ModelLineage:
    """Gather the lineage of ``name``/``version``.

    Raises:
        ModelNotFound, ModelVersionNotFound: no such model or version.
    """
    mv = registry.get_model_version(name, version)
    logged = None
    if mv.model_id:
        try:
            logged = registry.get_logged_model(mv.model_id)
        except ResourceNotFound:
            logged = None
    run_id = mv.run_id or (logged.source_run_id if logged else None)
    run = None
    experiment_name = None
    if run_id:
        try:
            run = registry.tracking.get_run(run_id)
            experiment_name = registry.tracking.get_experiment(run.experiment_id).name
        except ResourceNotFound:
            run = None
    tags = run.tags if run else {}
    environment = {k: tags[t] for k, t in _ENV_TAGS.items() if t in tags}
    if run is not None and tags.get("shipyard.lineage.packages_count"):
        environment["packages_artifact"] = f"{run.artifact_uri.rstrip('/')}/{PACKAGES_ARTIFACT}"
    return ModelLineage(
        version=mv,
        logged_model=logged,
        run=run,
        experiment_name=experiment_name,
        code={k: tags[t] for k, t in _CODE_TAGS.items() if t in tags},
        environment=environment,
        datasets=run.inputs if run else (),
        params=dict(run.params) if run else {},
        metrics=run.metrics if run else (),
        evaluations={k[len(EVALUATION_PREFIX) :]: v for k, v in mv.tags.items() if k.startswith(EVALUATION_PREFIX)},
    )
