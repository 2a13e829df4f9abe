"""The fluent SDK behind ``import shipyard as sy``: an active run, logging calls, search."""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from shipyard.client._backend import Backend, open_backend
from shipyard.client.batching import BackgroundLogger
from shipyard.config import Settings
from shipyard.errors import InvalidParameter
from shipyard.tracking.entities import DatasetInput, Experiment, Metric, Param, Run, RunStatus, RunTag, ViewType
from shipyard.tracking.lineage import PACKAGES_ARTIFACT, capture_lineage
from shipyard.tracking.validation import check_key, check_param, check_tag

if TYPE_CHECKING:
    import pandas as pd

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


class _State:
    """Process-wide SDK state: settings, the backend, the background logger and the run stack."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.settings: Settings | None = None
        self.backend: Backend | None = None
        self.logger: BackgroundLogger | None = None
        self.experiment_id: str | None = None
        self.runs: list[Run] = []
        self.valid_keys: set[str] = set()

    def get_backend(self) -> Backend:
        with self.lock:
            if self.backend is None:
                self.settings = self.settings or Settings.from_env()
                self.backend = open_backend(self.settings)
                self.logger = BackgroundLogger(self.backend, flush_interval_s=self.settings.flush_interval_s)
            return self.backend

    def get_logger(self) -> BackgroundLogger:
        self.get_backend()
        assert self.logger is not None
        return self.logger

    def reset(self, settings: Settings | None) -> None:
        with self.lock:
            if self.logger is not None:
                self.logger.close()
            if self.backend is not None:
                self.backend.close()
            self.settings = settings
            self.backend = None
            self.logger = None
            self.experiment_id = None
            self.runs = []


_state = _State()


def _now_ms() -> int:
    return int(time.time() * 1000)


def set_tracking_uri(uri: str) -> None:
    """Point the SDK at a server (``http://…``), a database URL, or ``""`` for the embedded default.

    Example:
        >>> import shipyard as sy
        >>> sy.set_tracking_uri("http://127.0.0.1:5000")  # doctest: +SKIP
    """
    _state.reset(Settings.from_env().with_overrides(tracking_uri=uri))


def set_experiment(name: str) -> Experiment:
    """Make ``name`` the experiment new runs go to, creating it if needed."""
    backend = _state.get_backend()
    experiment = backend.get_experiment_by_name(name)
    if experiment is None:
        experiment = backend.get_experiment(backend.create_experiment(name))
    if experiment.lifecycle_stage != "active":
        raise InvalidParameter(f"Experiment '{name}' is deleted; restore it or choose another name.")
    _state.experiment_id = experiment.experiment_id
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
        """The run as it was when started (call ``get_run`` for fresh data)."""
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
        run = backend.get_run(run_id)
        backend.update_run(run_id, RunStatus.RUNNING.value, None)
        _state.runs.append(run)
        return ActiveRun(run)
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
    run = backend.create_run(_state.experiment_id or "0", run_name, run_tags, _now_ms(), user)
    _state.runs.append(run)
    if lineage:
        log_text(lineage.requirements_text(), PACKAGES_ARTIFACT)
    return ActiveRun(run)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def active_run() -> Run | None:
    """The innermost active run, or None."""
    return _state.runs[-1] if _state.runs else None


def _run_id(run_id: str | None = None) -> str:
    if run_id:
        return run_id
    if not _state.runs:
        raise InvalidParameter("No active run: call sy.start_run() first.")
    return _state.runs[-1].run_id


def end_run(status: str = "FINISHED", *, run_id: str | None = None) -> None:
    """Flush queued metrics, then end the active run (or ``run_id``) with ``status``."""
    rid = _run_id(run_id)
    logger = _state.get_logger()
    try:
        logger.flush()
    finally:
        _state.get_backend().update_run(rid, status, _now_ms())
        _state.runs = [r for r in _state.runs if r.run_id != rid]


def flush(timeout_s: float | None = None) -> None:
    """Wait until every queued metric point is stored."""
    _state.get_logger().flush(timeout_s)


def log_metric(key: str, value: float, step: int | None = None, *, timestamp_ms: int | None = None) -> None:
    """Queue one metric point; it is sent in the background and never blocks the training loop."""
    log_metrics({key: value}, step=step, timestamp_ms=timestamp_ms)


def log_metrics(
    metrics: Mapping[str, float], step: int | None = None, *, timestamp_ms: int | None = None, run_id: str | None = None
) -> None:
    """Queue several metric points at one step.

    Raises:
        InvalidParameter: a name or value is invalid (checked here, so the error points at your code).
    """
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
    logger.add(rid, timestamp_ms if timestamp_ms is not None else int(time.time() * 1000), step or 0, values)


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
    """Log several params at once (sent immediately, so a conflict raises here)."""
    items = [Param(*check_param(k, str(v))) for k, v in params.items()]
    backend = _state.get_backend()
    rid = _run_id(run_id)
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
    for start in range(0, len(items), 100):
        backend.log_batch(rid, (), (), items[start : start + 100])


def _active() -> Run:
    _run_id()  # raises the "no active run" error
    return _state.runs[-1]


def log_artifact(local_path: str | Path, artifact_path: str | None = None) -> None:
    """Upload a file into the run's artifacts (under ``artifact_path`` if given)."""
    path = Path(local_path)
    if not path.is_file():
        raise InvalidParameter(f"Artifact {str(path)!r} is not a file.")
    dest = f"{artifact_path.strip('/')}/{path.name}" if artifact_path else path.name
    _state.get_backend().upload_artifact(_active(), path, dest)


def log_artifacts(local_dir: str | Path, artifact_path: str | None = None) -> None:
    """Upload a folder's files, keeping its layout."""
    root = Path(local_dir)
    if not root.is_dir():
        raise InvalidParameter(f"Artifact folder {str(root)!r} is not a directory.")
    backend = _state.get_backend()
    run = _active()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = file.relative_to(root).as_posix()
        backend.upload_artifact(run, file, f"{artifact_path.strip('/')}/{rel}" if artifact_path else rel)


@contextlib.contextmanager
def _temp_file(artifact_file: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="shipyard-") as folder:
        yield Path(folder) / Path(artifact_file).name


def _log_bytes(data: bytes, artifact_file: str) -> None:
    with _temp_file(artifact_file) as tmp:
        tmp.write_bytes(data)
        _state.get_backend().upload_artifact(_active(), tmp, artifact_file.strip("/"))


def log_text(text: str, artifact_file: str) -> None:
    """Save ``text`` as the artifact ``artifact_file`` (e.g. ``notes/summary.md``)."""
    _log_bytes(text.encode("utf-8"), artifact_file)


def log_dict(data: Mapping[str, Any], artifact_file: str) -> None:
    """Save a dict as JSON (or YAML for a ``.yaml``/``.yml`` name, if PyYAML is installed)."""
    if artifact_file.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError as exc:
            raise InvalidParameter("Saving YAML needs PyYAML: pip install pyyaml, or use a .json name.") from exc
        text = yaml.safe_dump(dict(data), sort_keys=False)
    else:
        text = json.dumps(data, indent=2, default=str)
    log_text(text, artifact_file)


def log_figure(figure: Any, artifact_file: str) -> None:
    """Save a matplotlib figure (PNG, SVG or PDF by the file's extension)."""
    with _temp_file(artifact_file) as tmp:
        figure.savefig(tmp, bbox_inches="tight")
        _state.get_backend().upload_artifact(_active(), tmp, artifact_file.strip("/"))


def log_input(df: pd.DataFrame, *, name: str, context: str = "training", source: str = "") -> DatasetInput:
    """Record a pandas DataFrame the run used: name, content digest, schema and a small profile."""
    import pandas as pd

    digest = hashlib.sha256(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes()).hexdigest()[:16]
    schema = json.dumps({"columns": [{"name": str(c), "type": str(t)} for c, t in df.dtypes.items()]})
    profile = json.dumps({"num_rows": len(df), "num_columns": len(df.columns)})
    item = DatasetInput(
        name=name,
        digest=digest,
        source_type="code" if not source else "local",
        source=source or json.dumps({"tags": {}}),
        schema=schema,
        profile=profile,
        tags={"mlflow.data.context": context},
    )
    _state.get_backend().log_inputs(_run_id(), [item])
    return item


def get_run(run_id: str) -> Run:
    """A run with its latest metrics, params and tags."""
    return _state.get_backend().get_run(run_id)


def get_metric_history(run_id: str, key: str) -> list[Metric]:
    """Every point of one metric of a run."""
    flush()
    return _state.get_backend().get_metric_history(run_id, key)


def search_runs(
    experiment_names: list[str] | None = None,
    *,
    experiment_ids: list[str] | None = None,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
    max_results: int = 100_000,
    view: str = "active",
) -> pd.DataFrame:
    """Runs matching MLflow's filter grammar as a pandas DataFrame (``metrics.*``, ``params.*``, ``tags.*``).

    Example:
        >>> sy.search_runs(["iris"], filter_string="metrics.acc > 0.9", order_by=["metrics.acc DESC"])  # doctest: +SKIP
    """
    import pandas as pd

    backend = _state.get_backend()
    ids = list(experiment_ids or [])
    for name in experiment_names or []:
        experiment = backend.get_experiment_by_name(name)
        if experiment is None:
            raise InvalidParameter(f"No experiment named {name!r}.")
        ids.append(experiment.experiment_id)
    if not ids:
        ids = [_state.experiment_id or "0"]
    view_type = {"active": ViewType.ACTIVE_ONLY, "deleted": ViewType.DELETED_ONLY, "all": ViewType.ALL}.get(view)
    if view_type is None:
        raise InvalidParameter(f"view must be 'active', 'deleted' or 'all', got {view!r}.")
    flush()
    rows: list[dict[str, Any]] = []
    token: str | None = None
    while len(rows) < max_results:
        page, token = backend.search_runs(
            ids, filter_string, view_type, min(1000, max_results - len(rows)), order_by or [], token
        )
        rows.extend(_run_row(r) for r in page)
        if not token:
            break
    columns = ["run_id", "experiment_id", "run_name", "status", "start_time", "end_time"]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=columns)
    for col in ("start_time", "end_time"):
        frame[col] = pd.to_datetime(frame[col], unit="ms", utc=True)
    return frame


def _run_row(run: Run) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run_id": run.run_id,
        "experiment_id": run.experiment_id,
        "run_name": run.run_name,
        "status": run.status,
        "start_time": run.start_time_ms,
        "end_time": run.end_time_ms,
    }
    row.update({f"metrics.{m.key}": m.value for m in run.metrics})
    row.update({f"params.{k}": v for k, v in run.params.items()})
    row.update({f"tags.{k}": v for k, v in run.tags.items()})
    return row
