"""Tracking use cases: validate input, apply MLflow's rules, call the store; shared by server, SDK and CLI."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from shipyard._visibility import EVERYTHING, Visible
from shipyard.artifacts import safe_relpath
from shipyard.errors import InvalidParameter, ResourceNotFound
from shipyard.tracking.entities import (
    DatasetInput,
    Experiment,
    LifecycleStage,
    Metric,
    Param,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)
from shipyard.tracking.store import RUN_NAME_TAG, LoggedModelLinks, TrackingStore
from shipyard.tracking.validation import (
    MAX_ARTIFACT_LOCATION_LENGTH,
    MAX_USER_ID_LENGTH,
    MetricGroups,
    check_artifact_uri,
    check_batch_sizes,
    check_dataset_inputs,
    check_experiment_name,
    check_experiment_tag,
    check_key,
    check_length,
    check_metric_columns,
    check_param,
    check_run_id,
    check_run_name,
    check_tag,
    group_metrics,
)

__all__ = ["ARTIFACT_SCHEME", "MAX_SEARCHED_EXPERIMENTS", "TrackingService", "artifact_key", "check_experiment_ids"]

ARTIFACT_SCHEME = "mlflow-artifacts:"
MAX_SEARCH_RESULTS = 50000
_ASCII_DIGITS = re.compile(r"[0-9]+")
_CLIENT_RUN_ID = re.compile(r"[0-9a-f]{32}")
# At most this many experiment ids in one run or logged-model search. MLflow sets no bound, and
# ``mlflow.search_runs(search_all_experiments=True)`` sends every experiment's id, so the bound is generous; what
# made long lists costly (a permission query per id) is gone: all ids are checked in one query.
MAX_SEARCHED_EXPERIMENTS = 10_000
_ADJECTIVES = (
    "bold",
    "brave",
    "bright",
    "calm",
    "clever",
    "crisp",
    "eager",
    "gentle",
    "keen",
    "lucid",
    "merry",
    "nimble",
    "proud",
    "quick",
    "quiet",
    "sharp",
    "steady",
    "swift",
    "tidy",
    "wise",
)
_NOUNS = (
    "anchor",
    "bay",
    "beacon",
    "brig",
    "cove",
    "dock",
    "ferry",
    "gull",
    "harbor",
    "helm",
    "keel",
    "mast",
    "pier",
    "reef",
    "sail",
    "skiff",
    "tide",
    "wharf",
    "yacht",
    "yard",
)


def _now_ms() -> int:
    return int(time.time() * 1000)


def artifact_key(uri: str) -> str:
    """The artifact-store key of an ``mlflow-artifacts:/…`` URI, confined to the artifact root.

    ``mlflow-artifacts:/1/abc/artifacts`` becomes ``1/abc/artifacts``. The key goes through the artifact store's
    ``safe_relpath``, so a stored URI with a ``..`` component (raw or percent-encoded) is refused here, before
    any store call, whatever wrote it.

    Raises:
        InvalidParameter: the URI is not one of Shipyard's artifact URIs, or its path could leave the root.
    """
    if not uri.startswith(ARTIFACT_SCHEME):
        raise InvalidParameter(f"Artifact URI {uri!r} is not served by this store (expected {ARTIFACT_SCHEME}/…).")
    rest = uri[len(ARTIFACT_SCHEME) :]
    # Accept mlflow-artifacts:/x, mlflow-artifacts:///x and mlflow-artifacts://host/x, as MLflow does.
    if rest.startswith("//"):
        rest = rest[2:].split("/", 1)[1] if "/" in rest[2:] else ""
    return safe_relpath(rest.lstrip("/"))


def _random_run_name() -> str:
    rng = random.SystemRandom()
    return f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}-{rng.randrange(1000)}"


def check_experiment_ids(experiment_ids: Sequence[str | int]) -> Sequence[str | int]:
    """The experiment ids of one search, refused past :data:`MAX_SEARCHED_EXPERIMENTS` (before any is read).

    Raises:
        InvalidParameter: too many ids.
    """
    if len(experiment_ids) > MAX_SEARCHED_EXPERIMENTS:
        raise InvalidParameter(
            f"Too many experiment_ids: {len(experiment_ids)} were given, at most {MAX_SEARCHED_EXPERIMENTS} are "
            "searched at once; search in batches."
        )
    return experiment_ids


def _check_max_results(max_results: int, limit: int = MAX_SEARCH_RESULTS) -> int:
    if isinstance(max_results, bool) or not isinstance(max_results, int) or not 0 < max_results <= limit:
        raise InvalidParameter(f"Invalid value {max_results!r} for max_results: expected an integer in 1..{limit}.")
    return max_results


@dataclass
class TrackingService:
    """The tracking capability behind every interface.

    Args:
        store: the SQL store.
        clock_ms: the time source in milliseconds (replaceable in tests).
        artifact_root: the server's artifact root (``Settings.resolved_artifacts_uri``): locations beneath it
            are accepted as artifact locations; empty refuses every local path.
    """

    store: TrackingStore
    clock_ms: Callable[[], int] = field(default=_now_ms)
    artifact_root: str = ""

    _metric_keys: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self.store.ensure_default_experiment(ARTIFACT_SCHEME, self.clock_ms())

    # ----------------------------------------------------------------------------------------- experiments
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict[str, str] | None = None
    ) -> str:
        """Create an experiment and return its id.

        ``artifact_location`` may be empty (the server assigns ``mlflow-artifacts:/<id>``), an
        ``mlflow-artifacts:`` URI, an ``s3://`` URI, or a folder beneath the artifact root; see
        `check_artifact_uri`.

        Raises:
            ResourceAlreadyExists: the name is taken (deleted experiments keep their names).
            InvalidParameter: a bad name or tag, an artifact location over 2,048 characters (MLflow's limit), or
                one that could point outside the root.
        """
        check_experiment_name(name)
        if artifact_location:
            check_length("'artifact_location'", artifact_location, MAX_ARTIFACT_LOCATION_LENGTH)
            check_artifact_uri(artifact_location, self.artifact_root, field="artifact_location")
        checked = dict(check_experiment_tag(k, v) for k, v in (tags or {}).items())
        return self.store.create_experiment(name, ARTIFACT_SCHEME, artifact_location or None, checked, self.clock_ms())

    def get_experiment(self, experiment_id: str) -> Experiment:
        """One experiment by id."""
        return self.store.get_experiment(experiment_id)

    def experiment_owning(self, key: str) -> str | None:
        """The id of the experiment whose artifact folder holds the artifact-store ``key``, or None.

        Experiments keep their artifacts under ``<experiment_id>/`` of the artifact root unless created with
        another location; a key outside such a folder (``deployments/…``, ``02/…`` or ``٢/…``: only the canonical
        spelling of an id names its folder) belongs to no experiment.

        Example:
            ``experiment_owning("2/abc/artifacts/model/MLmodel")`` is ``"2"`` when experiment 2 exists with its
            default location.
        """
        first = key.split("/", 1)[0]
        if _ASCII_DIGITS.fullmatch(first) is None or first != str(int(first)):
            return None
        try:
            location = self.get_experiment(first).artifact_location
        except (ResourceNotFound, InvalidParameter):  # no such experiment, or a number past the id range
            return None
        return first if location.rstrip("/").endswith(f":/{first}") else None

    def get_experiment_by_name(self, name: str) -> Experiment:
        """One experiment by name."""
        return self.store.get_experiment_by_name(name)

    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        filter_string: str | None = None,
        order_by: Sequence[str] = (),
        max_results: int = 1000,
        page_token: str | None = None,
        *,
        visible: Visible = EVERYTHING,
    ) -> tuple[list[Experiment], str | None]:
        """A page of experiments and the token of the next page (None on the last).

        Args:
            visible: the experiments the caller may see (from the permission layer); others are never listed,
                and a page holds ``max_results`` visible experiments whenever that many match.
        """
        return self.store.search_experiments(
            view_type, filter_string, order_by, _check_max_results(max_results), page_token, visible=visible
        )

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Rename an experiment."""
        self.store.rename_experiment(experiment_id, check_experiment_name(new_name), self.clock_ms())

    def delete_experiment(self, experiment_id: str) -> None:
        """Soft-delete an experiment and its runs."""
        self.store.set_experiment_lifecycle(experiment_id, LifecycleStage.DELETED, self.clock_ms())

    def restore_experiment(self, experiment_id: str) -> None:
        """Undo a soft delete."""
        self.store.set_experiment_lifecycle(experiment_id, LifecycleStage.ACTIVE, self.clock_ms())

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        """Set or overwrite an experiment tag."""
        k, v = check_experiment_tag(key, value)
        self.store.set_experiment_tag(experiment_id, k, v)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Remove an experiment tag."""
        self.store.delete_experiment_tag(experiment_id, check_key("Tag", key))

    # ------------------------------------------------------------------------------------------------ runs
    def create_run(
        self,
        experiment_id: str,
        *,
        user_id: str = "",
        start_time_ms: int | None = None,
        tags: dict[str, str] | None = None,
        run_name: str | None = None,
        run_id: str | None = None,
    ) -> Run:
        """Start a run; its name comes from ``run_name``, the ``mlflow.runName`` tag, or is generated.

        ``run_id`` is an id the client chose (32 lowercase hex digits, a uuid4's ``hex``), so that a client can
        log against a run before the server has answered: creating it again with the same id and experiment
        returns the run already made (first write wins), which makes retries and replays create one run.

        Raises:
            InvalidParameter: a bad tag, a ``user_id`` over 256 characters or a run name over 250 (the widths of
                MLflow's columns), ``run_name`` and the ``mlflow.runName`` tag disagree, or a malformed ``run_id``.
            ResourceAlreadyExists: ``run_id`` names a run of another experiment.
        """
        if run_id is not None and not _CLIENT_RUN_ID.fullmatch(run_id):
            raise InvalidParameter(f"Invalid run_id {run_id!r}: expected 32 lowercase hex digits (a uuid4's hex).")
        check_length("'user_id'", user_id, MAX_USER_ID_LENGTH)
        checked = dict(check_tag(k, v) for k, v in (tags or {}).items())
        if run_name and checked.get(RUN_NAME_TAG, run_name) != run_name:
            raise InvalidParameter(
                f"Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values "
                f"(run_name='{run_name}', mlflow.runName='{checked[RUN_NAME_TAG]}')."
            )
        name = run_name or checked.get(RUN_NAME_TAG) or _random_run_name()
        check_run_name(name)
        start = self.clock_ms() if start_time_ms is None else start_time_ms
        return self.store.create_run(experiment_id, user_id or "", start, checked, name, run_id)

    def get_run(self, run_id: str) -> Run:
        """One run with its data."""
        return self.store.get_run(check_run_id(run_id))

    def update_run(
        self, run_id: str, status: str | None = None, end_time_ms: int | None = None, run_name: str | None = None
    ) -> Run:
        """Set status (RUNNING, FINISHED, FAILED, KILLED, SCHEDULED), end time or name."""
        if status is not None and status not in RunStatus.__members__:
            raise InvalidParameter(f"Invalid run status {status!r}: expected one of {', '.join(RunStatus)}.")
        check_run_name(run_name)
        return self.store.update_run(check_run_id(run_id), status, end_time_ms, run_name)

    def delete_run(self, run_id: str) -> None:
        """Soft-delete a run."""
        self.store.set_run_lifecycle(check_run_id(run_id), LifecycleStage.DELETED, self.clock_ms())

    def restore_run(self, run_id: str) -> None:
        """Restore a soft-deleted run."""
        self.store.set_run_lifecycle(check_run_id(run_id), LifecycleStage.ACTIVE, self.clock_ms())

    def link_logged_models(self, links: LoggedModelLinks) -> None:
        """Let metric points be linked to logged models (the registry calls this on the service it is built on)."""
        self.store.model_links = links

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp_ms: int | None = None,
        step: int = 0,
        *,
        model_id: str | None = None,
        dataset_name: str | None = None,
        dataset_digest: str | None = None,
    ) -> None:
        """Log one metric point; with ``model_id`` it is also shown on that logged model (MLflow 3).

        Raises:
            BadRequest: ``model_id`` names no logged model (or a deleted one).
        """
        ts = self.clock_ms() if timestamp_ms is None else timestamp_ms
        self.log_batch(run_id, metrics=[Metric(key, value, ts, step, model_id, dataset_name, dataset_digest)])

    def log_param(self, run_id: str, key: str, value: str) -> None:
        """Log one param (same value again is fine; a different value raises ParamConflict)."""
        self.log_batch(run_id, params=[Param(key, value)])

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        """Set or overwrite a run tag."""
        self.log_batch(run_id, tags=[RunTag(key, value)])

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a run tag."""
        self.store.delete_tag(check_run_id(run_id), check_key("Tag", key))

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        *,
        enforce_limits: bool = True,
    ) -> None:
        """Log metrics, params and tags together, all or nothing.

        A metric with a ``model_id`` is logged to the run and linked to that logged model, with its
        ``dataset_name`` and ``dataset_digest`` when given (a dataset without a model is not kept, as in MLflow).

        Args:
            enforce_limits: apply MLflow's per-request limits (the REST API does; the embedded SDK need not).

        Raises:
            BadRequest: a ``model_id`` names no logged model (or a deleted one); nothing is written.
        """
        if enforce_limits:
            check_batch_sizes(len(metrics), len(params), len(tags))
        grouped = group_metrics(metrics, self._metric_keys)
        self.log_batch_columns(run_id, grouped, params, tags, enforce_limits=False)

    def log_batch_columns(
        self,
        run_id: str,
        columns: MetricGroups,
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        *,
        enforce_limits: bool = True,
    ) -> None:
        """``log_batch`` with metric points already grouped as (steps, timestamps, values) lists.

        The fast path of the REST API's ``log-batch`` and of the SDK's background logger. Points are grouped by
        key, or, when linked to a logged model, by a `MetricSeries` (key, model_id, dataset_name, dataset_digest);
        `series_of` builds the right one.
        """
        check_run_id(run_id)
        if enforce_limits:
            check_batch_sizes(sum(len(c[0]) for c in columns.values()), len(params), len(tags))
        check_metric_columns(columns, self._metric_keys)
        checked_params = [Param(*check_param(p.key, p.value)) for p in params]
        checked_tags = [RunTag(*check_tag(t.key, t.value)) for t in tags]
        self.store.log_batch(run_id, columns, checked_params, checked_tags)

    def log_metric_columns(self, run_id: str, columns: MetricGroups) -> None:
        """Log points already grouped by key, without MLflow's per-request limits (the SDK's path)."""
        self.log_batch_columns(run_id, columns, enforce_limits=False)

    def log_inputs(self, run_id: str, inputs: Sequence[DatasetInput]) -> None:
        """Record dataset inputs of a run, all or nothing.

        Raises:
            InvalidParameter: more than 1,000 datasets, or a field over MLflow's limits (see
                `check_dataset_inputs`).
        """
        check_dataset_inputs(inputs)
        self.store.log_inputs(check_run_id(run_id), inputs)

    def get_metric_history(
        self, run_id: str, key: str, max_results: int | None = None, page_token: str | None = None
    ) -> tuple[list[Metric], str | None]:
        """A metric's full history (paged when ``max_results`` is given)."""
        points, token = self.metric_history_points(run_id, key, max_results, page_token)
        return [Metric(key, v, t, s) for t, s, v in points], token

    def metric_history_points(
        self, run_id: str, key: str, max_results: int | None = None, page_token: str | None = None
    ) -> tuple[list[tuple[int, int, float]], str | None]:
        """``get_metric_history`` as plain (timestamp, step, value) tuples: the REST API's fast path."""
        if max_results is not None:
            _check_max_results(max_results, 10**9)
        return self.store.get_metric_history(check_run_id(run_id), key, max_results, page_token)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] = (),
        page_token: str | None = None,
        *,
        visible: Visible = EVERYTHING,
    ) -> tuple[list[Run], str | None]:
        """A page of runs matching the filter, and the next page's token.

        Args:
            experiment_ids: the experiments to search, at most :data:`MAX_SEARCHED_EXPERIMENTS`.
            visible: the experiments the caller may see; runs of others are never listed.

        Raises:
            InvalidParameter: too many experiment ids, a bad filter or order, or a bad ``max_results``.
        """
        return self.store.search_runs(
            check_experiment_ids(experiment_ids),
            filter_string,
            view_type,
            _check_max_results(max_results),
            order_by,
            page_token,
            visible=visible,
        )
