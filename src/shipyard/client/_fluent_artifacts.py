"""The fluent API's artifact and data set calls: files, folders, text, dicts, figures and DataFrames a run used."""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.client._fluent_state import active, run_id_of, state
from shipyard.client._journal import ARTIFACT, INPUTS
from shipyard.errors import InvalidParameter, StoreUnavailable
from shipyard.tracking.entities import DatasetInput, Run
from shipyard.wire.tracking import dataset_input_to_json

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["log_artifact", "log_artifacts", "log_dict", "log_figure", "log_input", "log_text"]


def log_artifact(local_path: str | Path, artifact_path: str | None = None) -> None:
    """Upload a file into the run's artifacts (under ``artifact_path`` if given)."""
    path = Path(local_path)
    if not path.is_file():
        raise InvalidParameter(f"Artifact {str(path)!r} is not a file.")
    dest = f"{artifact_path.strip('/')}/{path.name}" if artifact_path else path.name
    _upload(active(), path, dest)


def _upload(run: Run, path: Path, dest: str, *, owned: bool = False) -> None:
    """Upload an artifact now if the server is there; else keep a copy (moved if ``owned``) and queue it.

    Artifacts queued for a run keep their order: a new one queues behind them.
    """
    backend = state.get_backend()
    if not state.queued:
        backend.upload_artifact(run, path, dest)
        return
    logger = state.get_logger()
    known = run if run.artifact_uri else logger.created_run(run.run_id)
    if known is not None and logger.healthy and not logger.artifacts_queued(run.run_id):
        try:
            state.get_fast().upload_artifact(known, path, dest)
            return
        except StoreUnavailable as exc:
            logger.report_unreachable(exc)
    try:
        copy = logger.stash(path, move=owned)
    except OSError as exc:
        raise StoreUnavailable(
            f"The server is unreachable and artifact {dest!r} cannot be kept for later ({exc}); "
            "check that SHIPYARD_SDK_JOURNAL_DIR (or SHIPYARD_HOME) is writable."
        ) from exc
    logger.add_record(ARTIFACT, run.run_id, (str(copy), dest))


def log_artifacts(local_dir: str | Path, artifact_path: str | None = None) -> None:
    """Upload a folder's files, keeping its layout."""
    root = Path(local_dir)
    if not root.is_dir():
        raise InvalidParameter(f"Artifact folder {str(root)!r} is not a directory.")
    run = active()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = file.relative_to(root).as_posix()
        _upload(run, file, f"{artifact_path.strip('/')}/{rel}" if artifact_path else rel)


@contextlib.contextmanager
def _temp_file(artifact_file: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="shipyard-") as folder:
        yield Path(folder) / Path(artifact_file).name


def _log_bytes(data: bytes, artifact_file: str) -> None:
    with _temp_file(artifact_file) as tmp:
        tmp.write_bytes(data)
        _upload(active(), tmp, artifact_file.strip("/"), owned=True)


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
        _upload(active(), tmp, artifact_file.strip("/"), owned=True)


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
    if state.queued:
        state.get_logger().add_record(INPUTS, run_id_of(), (dataset_input_to_json(item),))
    else:
        state.get_backend().log_inputs(run_id_of(), [item])
    return item
