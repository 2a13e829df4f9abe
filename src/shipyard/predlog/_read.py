"""Reading the prediction and feedback logs back, with schema unification, and joining labels to predictions."""

from __future__ import annotations

import json
import logging
from typing import Any

from shipyard.artifacts import ArtifactStore, open_artifact_store
from shipyard.errors import InvalidParameter, ResourceNotFound
from shipyard.predlog._segments import NAME, day, require_arrow, time_type

__all__ = ["join_feedback", "read_feedback", "read_predictions"]

_log = logging.getLogger("shipyard.serving")


def read_predictions(
    uri: str | ArtifactStore,
    deployment: str,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    variant: str | None = None,
    s3_endpoint_url: str | None = None,
) -> Any:
    """The logged predictions of ``deployment``, as one Arrow table.

    Segments written with different input or output columns are unified: a column missing from a segment is
    null there, and types are widened (``int64`` and ``double`` read as ``double``).

    Args:
        uri: the log's artifact store URI (`PredictionLogConfig.uri`), or an open `ArtifactStore`.
        deployment: the deployment's name.
        start_ms: keep rows whose ``time`` is at or after this (UTC ms); ``None`` for no lower bound.
        end_ms: keep rows whose ``time`` is before this; ``None`` for no upper bound.
        variant: keep only this variant's rows.
        s3_endpoint_url: an S3-compatible server for an ``s3://`` URI.

    Returns:
        A ``pyarrow.Table`` with the columns `PredictionLog` writes; no rows (and only the fixed columns) when
        nothing was logged.

    Raises:
        InvalidParameter: a bad deployment name, a time window that ends before it starts, or a bad URI.

    Example:
        >>> read_predictions("/data/predlog", "churn", start_ms=day_start_ms).to_pandas()  # doctest: +SKIP
    """
    return _read("predictions", uri, deployment, start_ms, end_ms, s3_endpoint_url, variant)


def read_feedback(
    uri: str | ArtifactStore,
    deployment: str,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    s3_endpoint_url: str | None = None,
) -> Any:
    """The labels posted for ``deployment``, as one Arrow table (``time`` is when each label arrived).

    Args:
        uri: the log's artifact store URI, or an open `ArtifactStore`.
        deployment: the deployment's name.
        start_ms: keep labels received at or after this (UTC ms).
        end_ms: keep labels received before this.
        s3_endpoint_url: an S3-compatible server for an ``s3://`` URI.

    Returns:
        A ``pyarrow.Table`` with the columns `FeedbackLog` writes.

    Raises:
        InvalidParameter: as for `read_predictions`.
    """
    return _read("feedback", uri, deployment, start_ms, end_ms, s3_endpoint_url, None)


def _read(
    kind: str,
    uri: str | ArtifactStore,
    deployment: str,
    start_ms: int | None,
    end_ms: int | None,
    s3_endpoint_url: str | None,
    variant: str | None,
) -> Any:
    require_arrow()
    if not isinstance(deployment, str) or not NAME.match(deployment):
        raise InvalidParameter(
            f"Invalid deployment name {str(deployment)[:80]!r}: expected 1-128 letters, digits, '_', '.' or '-'."
        )
    if start_ms is not None and end_ms is not None and end_ms < start_ms:
        raise InvalidParameter(f"end_ms ({end_ms}) is before start_ms ({start_ms}).")
    store = open_artifact_store(uri, s3_endpoint_url=s3_endpoint_url) if isinstance(uri, str) else uri
    days = (day(start_ms) if start_ms is not None else "", day(end_ms) if end_ms is not None else "~")
    tables = []
    for path in _segment_paths(store, f"{kind}/{deployment}", days):
        table = _read_segment(store, path)
        if table is not None:
            tables.append(_filtered(table, start_ms, end_ms, variant))
    return _concat(tables) if tables else _empty_table(kind)


def _segment_paths(store: ArtifactStore, folder: str, days: tuple[str, str]) -> list[str]:
    """The segment files under ``folder`` in the ``date=`` folders from ``days[0]`` to ``days[1]``, by name.

    Hidden files (a store's in-flight writes) and anything not ``.parquet`` are passed over.
    """
    paths = []
    for entry in store.list_dir(folder):
        name = entry.path.rsplit("/", 1)[-1]
        if not (entry.is_dir and name.startswith("date=") and days[0] <= name.removeprefix("date=") <= days[1]):
            continue
        for file in store.list_dir(entry.path):
            file_name = file.path.rsplit("/", 1)[-1]
            if not file.is_dir and not file_name.startswith(".") and file_name.endswith(".parquet"):
                paths.append(file.path)
    return paths


def _filtered(table: Any, start_ms: int | None, end_ms: int | None, variant: str | None) -> Any:
    """The rows of ``table`` in the time window and of the variant asked for."""
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
    import pyarrow.compute as pc  # type: ignore[import-untyped]  # pyarrow ships no type information

    masks = []
    if start_ms is not None:
        masks.append(pc.greater_equal(table["time"], pa.scalar(start_ms, time_type())))
    if end_ms is not None:
        masks.append(pc.less(table["time"], pa.scalar(end_ms, time_type())))
    if variant is not None:
        masks.append(pc.equal(table["variant"], pa.scalar(variant, pa.string())))
    if not masks:
        return table
    mask = masks[0]
    for more in masks[1:]:
        mask = pc.and_(mask, more)
    return table.filter(mask)


def _concat(tables: list[Any]) -> Any:
    """One table from segments whose columns may differ: missing columns are null, types widened, and a column
    whose type changed beyond widening (a model that returned numbers, then strings) is read as text."""
    import pyarrow as pa

    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    types: dict[str, list[Any]] = {}
    for table in tables:
        for column in table.schema:
            types.setdefault(column.name, []).append(column.type)
    clashing = []
    for name, kinds in types.items():
        try:
            pa.unify_schemas([pa.schema([(name, kind)]) for kind in kinds], promote_options="permissive")
        except (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
            clashing.append(name)
    return pa.concat_tables([_as_text(table, clashing) for table in tables], promote_options="permissive")


def _as_text(table: Any, names: list[str]) -> Any:
    """``table`` with its columns ``names`` cast to strings (JSON for lists and structs)."""
    import pyarrow as pa

    for name in names:
        index = table.schema.get_field_index(name)
        if index < 0:
            continue
        column = table.column(index)
        try:
            text = column.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            values = column.to_pylist()
            text = pa.array([None if v is None else json.dumps(v, default=str) for v in values], pa.string())
        table = table.set_column(index, name, text)
    return table


def _read_segment(store: ArtifactStore, path: str) -> Any:
    """One segment file, or ``None`` (with a warning) if it cannot be read as Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no type information

    try:
        local = store.local_path(path)
        if local is not None:
            return pq.ParquetFile(local).read()
        return pq.ParquetFile(pa.BufferReader(b"".join(store.iter_read(path)))).read()
    except (pa.ArrowException, OSError, ResourceNotFound) as exc:  # corrupt, or deleted since it was listed
        _log.warning("Skipping the unreadable log segment %s: %s", path, exc)
        return None


def _empty_table(kind: str) -> Any:
    import pyarrow as pa

    if kind == "feedback":
        fields = [("request_id", pa.string()), ("row", pa.int32()), ("time", time_type()), ("label", pa.string())]
        fields += [("label_value", pa.float64()), ("outcome", pa.string())]
    else:
        fields = [("request_id", pa.string()), ("row", pa.int32()), ("time", time_type())]
        fields += [(name, pa.string()) for name in ("deployment", "variant", "model_name", "model_version")]
        fields += [("shadow", pa.bool_()), ("latency_ms", pa.float64())]
    return pa.schema(fields).empty_table()


def join_feedback(predictions: Any, feedback: Any, *, outcome: str | None = None) -> Any:
    """Predictions with their labels: a left join on ``request_id`` and ``row``.

    A label posted without a row applies to every row of its request. When several labels apply to one row
    (posted again, or for the row and for the whole request), the one received last wins.

    Args:
        predictions: `read_predictions`' table (or its pandas DataFrame).
        feedback: `read_feedback`'s table (or its pandas DataFrame).
        outcome: use only labels of this outcome; ``None`` uses every label.

    Returns:
        A pandas DataFrame: the prediction columns, then ``label`` (the posted value: a string, number or
        boolean), ``label_value`` (float, NaN unless numeric), ``outcome`` and ``label_time``; rows without a
        label have nulls there.

    Example:
        >>> joined = join_feedback(read_predictions(uri, "churn"), read_feedback(uri, "churn"))  # doctest: +SKIP
        >>> (joined["prediction"] == joined["label"]).mean()  # doctest: +SKIP
    """
    import pandas as pd

    preds = predictions if isinstance(predictions, pd.DataFrame) else predictions.to_pandas()
    labels = feedback if isinstance(feedback, pd.DataFrame) else feedback.to_pandas()
    columns = ["request_id", "row", "label", "label_value", "outcome", "label_time"]
    labels = labels.rename(columns={"time": "label_time"})
    if outcome is not None:
        labels = labels[labels["outcome"] == outcome]
    labels = labels.assign(_order=range(len(labels)))  # ties in time: the later posted (or read) wins
    by_row = labels[labels["row"].notna()].astype({"row": preds["row"].dtype})
    whole = labels[labels["row"].isna()].drop(columns="row")  # one label for every row of its request
    keys = preds[["request_id", "row"]].drop_duplicates()
    candidates = pd.concat([by_row, whole.merge(keys, on="request_id")], ignore_index=True)
    latest = candidates.sort_values(["label_time", "_order"], kind="stable").drop_duplicates(
        ["request_id", "row"], keep="last"
    )
    joined = preds.merge(latest[columns], on=["request_id", "row"], how="left")
    decoded = [json.loads(text) if isinstance(text, str) else None for text in joined["label"]]
    joined["label"] = pd.Series(decoded, index=joined.index, dtype=object)  # mixed types, None where unlabelled
    return joined
