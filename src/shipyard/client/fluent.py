"""The fluent SDK behind ``import shipyard as sy``: an active run, logging calls, search.

Against a server, every logging call (run start and end, params, tags, metrics, dataset inputs, artifacts) is
queued and returns at once: a server that is away never raises into the training loop. The run's id is chosen
here, so logging can start before the server answers; `batching.BackgroundLogger` sends the queue in order and
keeps what it cannot send in a journal on disk. Against the embedded store only metrics are queued; the rest is
written at once, as it was.
"""

from __future__ import annotations

import getpass
import logging
import time
import uuid
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from shipyard.client._backend import Backend
from shipyard.client._fluent_artifacts import log_artifact, log_artifacts, log_dict, log_figure, log_input, log_text
from shipyard.client._fluent_reads import get_metric_history, get_run, search_runs
from shipyard.client._fluent_state import now_ms as _now_ms
from shipyard.client._fluent_state import run_id_of as _run_id
from shipyard.client._fluent_state import state as _state
from shipyard.client._journal import CREATE, PARAMS, TAGS, UPDATE
from shipyard.config import Settings
from shipyard.errors import InvalidParameter, ParamConflict, StoreUnavailable
from shipyard.tracking.entities import (
    Experiment,
    LifecycleStage,
    Param,
    Run,
    RunStatus,
    RunTag,
)
from shipyard.tracking.lineage import PACKAGES_ARTIFACT, capture_lineage
from shipyard.tracking.validation import check_key, check_param, check_run_name, check_tag

if TYPE_CHECKING:
    pass

__all__ = [
    "ActiveRun",
    "active_run",
    "end_run",
    "flush",
    "get_metric_history",
    "get_run",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_text",
    "search_runs",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]


_log = logging.getLogger("shipyard.client")


def set_tracking_uri(uri: str) -> None:
    """Point the SDK at a server (``http://…``), a database URL, or ``""`` for the embedded default.

    Example:
        >>> import shipyard as sy
        >>> sy.set_tracking_uri("http://127.0.0.1:5000")  # doctest: +SKIP
    """
    _state.reset(Settings.from_env().with_overrides(tracking_uri=uri))


def set_experiment(name: str) -> Experiment:
    """Make ``name`` the experiment new runs go to, creating it if needed.

    While a server is unreachable this does not raise: the name is kept, runs started meanwhile are created in
    that experiment when the server returns, and the Experiment returned has an empty ``experiment_id``.
    """
    _state.get_backend()
    backend = _state.get_fast()
    try:
        experiment = backend.get_experiment_by_name(name)
        if experiment is None:
            experiment = backend.get_experiment(backend.create_experiment(name))
    except StoreUnavailable as exc:
        if not _state.queued:
            raise
        _log.warning("shipyard: experiment %r will be looked up when the server answers (%s)", name, exc)
        _state.experiment_id, _state.experiment_name = None, name
        return Experiment("", name, "", LifecycleStage.ACTIVE.value, 0, 0)
    if experiment.lifecycle_stage != "active":
        raise InvalidParameter(f"Experiment '{name}' is deleted; restore it or choose another name.")
    _state.experiment_id, _state.experiment_name = experiment.experiment_id, None
    return experiment


class ActiveRun:
    """The run returned by ``start_run``; as a context manager it ends the run (FAILED on an exception)."""

    def __init__(self, run: Run) -> None:
        self.run = run

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self.run.run_id

    @property
    def info(self) -> Run:
        """The run as it was when started (call ``get_run`` for fresh data).

        A run started while the server was away is the SDK's own record of it until the server makes it: its
        ``artifact_uri`` is empty and, if the experiment was named during the outage, its ``experiment_id`` too.
        """
        return self.run

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        status = RunStatus.FINISHED if exc_type is None else RunStatus.FAILED
        if exc_type is KeyboardInterrupt:
            status = RunStatus.KILLED
        end_run(status.value, run_id=self.run.run_id)


def start_run(
    run_name: str | None = None,
    *,
    experiment: str | None = None,
    tags: Mapping[str, str] | None = None,
    nested: bool = False,
    run_id: str | None = None,
    capture: bool = True,
) -> ActiveRun:
    """Start (or resume, with ``run_id``) a run and make it active.

    Lineage is recorded when a run starts: git commit and dirty flag, entry point and command, Python
    version, platform, and the installed packages (as the artifact ``shipyard/requirements.txt``).

    Args:
        run_name: a readable name; generated when omitted.
        experiment: experiment name (created if missing); defaults to the last ``set_experiment`` or "Default".
        tags: extra run tags.
        nested: start a child of the active run instead of failing because one is active.
        run_id: resume this run instead of creating one.
        capture: record lineage (set False to skip the package scan).

    Example:
        >>> import shipyard as sy
        >>> with sy.start_run(experiment="iris", run_name="rf") as run:  # doctest: +SKIP
        ...     sy.log_params({"n_estimators": 100})
        ...     sy.log_metrics({"loss": 0.3}, step=1)
    """
    backend = _state.get_backend()
    if _state.runs and not nested:
        raise InvalidParameter(
            f"Run {_state.runs[-1].run_id} is already active. End it first with sy.end_run(), or pass nested=True."
        )
    if run_id:
        return ActiveRun(_resume(run_id) if _state.queued else _resume_embedded(backend, run_id))
    if experiment is not None:
        set_experiment(experiment)
    run_tags = {k: str(v) for k, v in (tags or {}).items()}
    lineage = capture_lineage() if capture else None
    if lineage:
        run_tags = {**lineage.as_tags(), **run_tags}
    if _state.runs:
        run_tags["mlflow.parentRunId"] = _state.runs[-1].run_id
    user = _user()
    run_tags.setdefault("mlflow.user", user)
    if _state.queued:
        run = _create_queued(run_name, run_tags, user)
    else:
        run = backend.create_run(_state.experiment_id or "0", run_name, run_tags, _now_ms(), user)
    _state.runs.append(run)
    if lineage:
        log_text(lineage.requirements_text(), PACKAGES_ARTIFACT)
    return ActiveRun(run)


def _resume_embedded(backend: Backend, run_id: str) -> Run:
    run = backend.get_run(run_id)
    backend.update_run(run_id, RunStatus.RUNNING.value, None)
    _state.runs.append(run)
    return run


def _resume(run_id: str) -> Run:
    """Resume a run on a server: RUNNING again once the queue reaches it; unknown runs raise if it can tell."""
    try:
        run = _state.get_fast().get_run(run_id)
        _state.params[run.run_id] = dict(run.params)
    except StoreUnavailable:
        run = Run(run_id, "", "", "", RunStatus.RUNNING.value, None, None, LifecycleStage.ACTIVE.value, "")
    _state.get_logger().add_record(UPDATE, run_id, (RunStatus.RUNNING.value, None))
    _state.runs.append(run)
    return run


def _create_queued(run_name: str | None, run_tags: dict[str, str], user: str) -> Run:
    """Queue a run's creation under an id chosen here; wait (briefly) for the server's answer while it is reachable.

    Tags and name are checked first, since a run the server refuses takes its later records with it.
    """
    checked = dict(check_tag(k, v) for k, v in run_tags.items())
    check_run_name(run_name)
    run_id = uuid.uuid4().hex
    now = _now_ms()
    body = {
        "experiment_id": _state.experiment_id or (None if _state.experiment_name else "0"),
        "experiment_name": _state.experiment_name,
        "run_name": run_name,
        "tags": checked,
        "start_time_ms": now,
        "user_id": user,
    }
    logger = _state.get_logger()
    seq = logger.add_record(CREATE, run_id, body)
    logger.wait_for(seq, timeout_s=_state.get_settings().sdk_wait_s, until_unreachable=True, raise_errors=False)
    refused = logger.refused(run_id)
    if refused is not None:
        raise refused
    _state.params[run_id] = {}
    created = logger.created_run(run_id)
    if created is not None:
        return created
    name = run_name or checked.get("mlflow.runName", "")
    return Run(
        run_id,
        _state.experiment_id or "",
        name,
        user,
        RunStatus.RUNNING.value,
        now,
        None,
        LifecycleStage.ACTIVE.value,
        "",
        tags=checked,
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def active_run() -> Run | None:
    """The innermost active run, or None."""
    return _state.runs[-1] if _state.runs else None


def end_run(status: str = "FINISHED", *, run_id: str | None = None) -> None:
    """End the active run (or ``run_id``) with ``status``, after what was logged to it.

    Against a server the end is queued behind the run's records; this waits at most ``SHIPYARD_SDK_WAIT_S``
    (5 s) for them to be stored, and not at all once the server is found unreachable: the queue sends them when
    it returns (or the next process does, from the journal).

    Raises:
        ShipyardError: records logged earlier were refused for a reason retrying cannot fix (as ``flush``).
    """
    rid = _run_id(run_id)
    logger = _state.get_logger()
    if not _state.queued:
        try:
            logger.flush()
        finally:
            _state.get_backend().update_run(rid, status, _now_ms())
            _state.runs = [r for r in _state.runs if r.run_id != rid]
        return
    if status not in RunStatus.__members__:
        raise InvalidParameter(f"Invalid run status {status!r}: expected one of {', '.join(RunStatus)}.")
    seq = logger.add_record(UPDATE, rid, (status, _now_ms()))
    ended = logger.server_id(rid)  # the run may be on the stack under the server's id (see _active)
    _state.runs = [r for r in _state.runs if logger.server_id(r.run_id) != ended]
    _state.params.pop(rid, None)
    if not logger.wait_for(seq, timeout_s=_state.get_settings().sdk_wait_s, until_unreachable=True):
        _log.info("shipyard: run %s ends once the server has the %d records queued before it", rid, logger.pending)


def flush(timeout_s: float | None = None) -> None:
    """Wait until everything logged so far is stored (a server that is away makes this wait: pass a timeout).

    Raises:
        ShipyardError: records were refused for a reason retrying cannot fix.
        TimeoutError: not everything was stored within ``timeout_s``.
    """
    _state.get_logger().flush(timeout_s)


_MAX_MODEL_ID = 40  # the metric_chunks.model_id column


def log_metric(
    key: str, value: float, step: int | None = None, *, timestamp_ms: int | None = None, model_id: str | None = None
) -> None:
    """Queue one metric point; it is sent in the background and never blocks the training loop.

    ``model_id`` also links the point to a logged model (``sy.log_model(...).model_id``), as MLflow 3 does.
    """
    log_metrics({key: value}, step=step, timestamp_ms=timestamp_ms, model_id=model_id)


def log_metrics(
    metrics: Mapping[str, float],
    step: int | None = None,
    *,
    timestamp_ms: int | None = None,
    run_id: str | None = None,
    model_id: str | None = None,
) -> None:
    """Queue several metric points at one step (``model_id``: also link them to that logged model).

    Raises:
        InvalidParameter: a name or value is invalid (checked here, so the error points at your code).
    """
    if model_id is not None and (not isinstance(model_id, str) or not 0 < len(model_id) <= _MAX_MODEL_ID):
        raise InvalidParameter(f"model_id must be a logged model's id (a non-empty string), got {model_id!r}.")
    rid = run_id or (_state.runs[-1].run_id if _state.runs else _run_id())
    values = dict(metrics)
    if not values.keys() <= _state.valid_keys:
        for key in values:
            check_key("Metric", key)
        _state.valid_keys.update(values)
    for key, value in values.items():
        if type(value) is not float:
            values[key] = _as_float(key, value)
    logger = _state.logger or _state.get_logger()
    stamp = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
    logger.add(rid, stamp, step or 0, values, model_id)


def _as_float(key: str, value: Any) -> float:
    if isinstance(value, bool | str):
        raise InvalidParameter(f"Metric '{key}' value must be a number, got {value!r}.")
    try:
        return float(value)  # ints, numpy scalars and the like
    except (TypeError, ValueError):
        raise InvalidParameter(f"Metric '{key}' value must be a number, got {value!r}.") from None


def log_param(key: str, value: Any) -> None:
    """Log one param (stringified). Params are immutable: a different value later is an error."""
    log_params({key: value})


def log_params(params: Mapping[str, Any], *, run_id: str | None = None) -> None:
    """Log several params at once.

    Raises:
        InvalidParameter: a name or value is invalid.
        ParamConflict: a param already logged in this process (or, for the embedded store, anywhere) has
            another value; nothing of the call is logged.
    """
    items = [Param(*check_param(k, str(v))) for k, v in params.items()]
    backend = _state.get_backend()
    rid = _run_id(run_id)
    if _state.queued:
        logged = _state.params.setdefault(rid, {})
        for param in items:
            if logged.get(param.key, param.value) != param.value:
                raise ParamConflict(
                    f"Changing param values is not allowed. Param with key='{param.key}' was already logged with "
                    f"value='{logged[param.key]}' for run ID='{rid}'. Attempted logging new value '{param.value}'."
                )
        pairs = tuple((param.key, param.value) for param in items)
        logged.update(pairs)
        _state.get_logger().add_record(PARAMS, rid, pairs)
        return
    for start in range(0, len(items), 100):
        backend.log_batch(rid, (), items[start : start + 100], ())


def set_tag(key: str, value: Any) -> None:
    """Set one run tag."""
    set_tags({key: value})


def set_tags(tags: Mapping[str, Any], *, run_id: str | None = None) -> None:
    """Set several run tags."""
    items = [RunTag(*check_tag(k, str(v))) for k, v in tags.items()]
    backend = _state.get_backend()
    rid = _run_id(run_id)
    if _state.queued:
        _state.get_logger().add_record(TAGS, rid, tuple((tag.key, tag.value) for tag in items))
        return
    for start in range(0, len(items), 100):
        backend.log_batch(rid, (), (), items[start : start + 100])
