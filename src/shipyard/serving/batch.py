"""Batch scoring: stream a Parquet or CSV file through a model in chunks and write the predictions to Parquet.

Memory stays bounded whatever the file's size: the input is read one chunk at a time, at most ``2 * workers``
chunks are in flight, and the output is appended chunk by chunk to a temporary file renamed at the end.
"""

from __future__ import annotations

import collections
import concurrent.futures
import multiprocessing
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.errors import InternalError, InvalidParameter, MissingExtra, SchemaMismatch, ShipyardError
from shipyard.models import ColSpec, LoadedModel, Signature, TensorSpec, load_model, read_model_meta

__all__ = ["SUPPORTED_SUFFIXES", "ScoringResult", "score_file"]

#: The input formats ``score_file`` reads, by file suffix.
SUPPORTED_SUFFIXES: tuple[str, ...] = (".parquet", ".pq", ".csv")

Progress = Callable[..., None]
_WorkerAnswer = tuple[str, Any, list[tuple[type[Warning], str]]]


@dataclass(frozen=True)
class ScoringResult:
    """What ``score_file`` did.

    Attributes:
        rows: rows scored (and written).
        elapsed_s: wall-clock seconds, model loading included.
        output_path: the Parquet file written.
        columns: the output's column names: key columns, then prediction columns.
    """

    rows: int
    elapsed_s: float
    output_path: Path
    columns: tuple[str, ...]

    @property
    def rows_per_s(self) -> float:
        """Throughput over the whole run."""
        return self.rows / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass(frozen=True)
class _Plan:
    """Which input columns go where: the model's inputs, the key columns copied to the output."""

    model_columns: tuple[str, ...]
    key_columns: tuple[str, ...]
    tensor: Sequence[TensorSpec] | None  # the tensor schema when the model takes tensors


def score_file(
    model: str | Path | LoadedModel,
    input_path: str | Path,
    output_path: str | Path,
    *,
    key_columns: Sequence[str] | None = None,
    chunk_rows: int = 100_000,
    workers: int = 1,
    progress: Progress | None = None,
) -> ScoringResult:
    """Score a Parquet or CSV file with a model, chunk by chunk, and write the predictions to a Parquet file.

    The output holds the key columns, then the predictions, in input order: a 1-D prediction is ``prediction``;
    a 2-D one ``prediction_0`` … ``prediction_k``; a DataFrame or dict ``prediction_<name>`` per column.
    Nothing is left at ``output_path`` on failure.

    Args:
        model: a local model folder, or a model already loaded (its folder is given to the workers).
        input_path: a ``.parquet`` (``.pq``) or ``.csv`` file.
        output_path: the Parquet file to write (replaced when it exists).
        key_columns: input columns copied beside the predictions; by default every column the model does not
            take (with a model without named inputs, none).
        chunk_rows: rows per ``predict`` call.
        workers: processes that score in parallel, each loading the model once; 1 scores in this process.
        progress: called after each chunk as ``progress(rows_done=…, rows_total=…)``; ``rows_total`` is None
            for a CSV file. Takes keyword arguments and should accept ``**_``.

    Returns:
        The rows scored, the time taken and the output's columns.

    Raises:
        InvalidParameter: an unsupported file type, an unknown key column, or a chunk the model's signature or
            the output's schema rejects (the message names the chunk's rows).
        SchemaMismatch: the file lacks a column the model requires (raised before any scoring).
        InternalError: the model raised on a chunk (the message names the chunk's rows and the error).
        MissingExtra: pyarrow, numpy or pandas is not installed.

    Example:
        >>> result = score_file("model", "customers.parquet", "scores.parquet", workers=4)  # doctest: +SKIP
        >>> result.rows, result.rows_per_s  # doctest: +SKIP
    """
    started = time.perf_counter()
    _require("pyarrow", "numpy", "pandas")
    if chunk_rows < 1 or workers < 1:
        raise InvalidParameter(f"chunk_rows and workers must be at least 1 (got {chunk_rows} and {workers}).")
    source, output = Path(input_path), Path(output_path)
    loaded = model if isinstance(model, LoadedModel) else None
    folder = model.path if isinstance(model, LoadedModel) else Path(model)
    signature = loaded.signature if loaded is not None else read_model_meta(folder).signature
    read, schema, rows_total = _open_input(source, chunk_rows)
    plan = _plan(list(schema.names), signature, key_columns, source)
    chunks = _rechunk(read(list(dict.fromkeys([*plan.key_columns, *plan.model_columns]))), chunk_rows)
    temp = output.with_name(f".{output.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        rows, columns = _run(chunks, plan, folder, loaded, workers, temp, rows_total, progress)
        temp.replace(output)
    finally:
        temp.unlink(missing_ok=True)
    return ScoringResult(rows, time.perf_counter() - started, output, columns)


def _require(*packages: str) -> None:
    import importlib.util

    for package in packages:
        if importlib.util.find_spec(package) is None:
            raise MissingExtra(package, "serving")


def _open_input(path: Path, chunk_rows: int) -> tuple[Callable[[list[str]], Iterator[Any]], Any, int | None]:
    """A reader of the file's record batches (given the columns wanted), its Arrow schema and its row count
    (None when unknown before reading)."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise InvalidParameter(
            f"Cannot score {path.name!r}: expected a {', '.join(SUPPORTED_SUFFIXES)} file, got {suffix or 'none'}."
        )
    if not path.is_file():
        raise InvalidParameter(f"Input file {str(path)!r} does not exist.")
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information

    try:
        if suffix == ".csv":
            import pyarrow.csv as pa_csv  # type: ignore[import-untyped]  # pyarrow ships no type information

            reader = pa_csv.open_csv(path, read_options=pa_csv.ReadOptions(block_size=8 << 20))
            return (lambda columns: (batch.select(columns) for batch in reader)), reader.schema, None
        import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no type information

        # pre_buffer would cache every column chunk read so far: memory would grow with the file's size
        parquet = pq.ParquetFile(path, pre_buffer=False)
        return (
            lambda columns: parquet.iter_batches(batch_size=chunk_rows, columns=columns),
            parquet.schema_arrow,
            parquet.metadata.num_rows,
        )
    except (pa.ArrowException, OSError) as exc:
        raise InvalidParameter(f"Cannot read {path.name!r} as {suffix[1:]}: {exc}") from None


def _plan(names: list[str], signature: Signature | None, key_columns: Sequence[str] | None, source: Path) -> _Plan:
    """Split the file's columns into model inputs and keys, raising before any scoring if some are missing."""
    inputs = signature.inputs.items if signature is not None else ()
    tensor = [s for s in inputs if isinstance(s, TensorSpec)] or None
    specs = [s for s in inputs if isinstance(s, ColSpec)]
    if specs and all(s.name is not None for s in specs):
        missing = [
            f"missing column {s.name!r} (expected {s.type})" for s in specs if s.required and s.name not in names
        ]
        if missing:
            raise SchemaMismatch([*missing, f"{source.name} has columns {', '.join(names)}"])
        model_columns = [str(s.name) for s in specs if s.name in names]
        default_keys = [n for n in names if n not in model_columns]
    else:  # no named inputs: every column that is not a key goes to the model, in file order
        model_columns, default_keys = [], []
    keys = list(key_columns) if key_columns is not None else default_keys
    unknown = [k for k in keys if k not in names]
    if unknown:
        raise InvalidParameter(
            f"Key column(s) {', '.join(map(repr, unknown))} not in {source.name} (columns: {', '.join(names)})."
        )
    if not model_columns:
        model_columns = [n for n in names if n not in keys]
    return _Plan(tuple(model_columns), tuple(dict.fromkeys(keys)), tensor)


def _rechunk(batches: Iterator[Any], chunk_rows: int) -> Iterator[Any]:
    """Tables of exactly ``chunk_rows`` rows (the last one shorter), from batches of any size."""
    import pyarrow as pa

    pending: list[Any] = []
    pending_rows = 0
    for batch in batches:
        pending.append(batch)
        pending_rows += batch.num_rows
        while pending_rows >= chunk_rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, chunk_rows)
            rest = table.slice(chunk_rows)
            pending, pending_rows = rest.to_batches(), rest.num_rows
    if pending_rows:
        yield pa.Table.from_batches(pending)


def _run(
    chunks: Iterator[Any],
    plan: _Plan,
    folder: Path,
    loaded: LoadedModel | None,
    workers: int,
    temp: Path,
    rows_total: int | None,
    progress: Progress | None,
) -> tuple[int, tuple[str, ...]]:
    """Score every chunk (here or in worker processes), appending results to ``temp`` in input order."""
    writer = _Writer(temp)
    done = 0
    try:
        if progress is not None:
            progress(rows_done=0, rows_total=rows_total)
        for start, keys, predictions in _scored(chunks, plan, folder, loaded, workers):
            writer.write(keys, predictions, start)
            done += keys.num_rows
            if progress is not None:
                progress(rows_done=done, rows_total=rows_total)
    except Exception:
        writer.close()
        raise
    return done, writer.close()


def _scored(
    chunks: Iterator[Any], plan: _Plan, folder: Path, loaded: LoadedModel | None, workers: int
) -> Iterator[tuple[int, Any, Any]]:
    """``(first row, key table, prediction table)`` per chunk, in input order."""
    start = 0
    if workers == 1:
        model = loaded if loaded is not None else load_model(folder)
        for table in _read_errors(chunks):
            predictions = _predict_or_raise(model, table.select(list(plan.model_columns)), plan, start)
            yield start, table.select(list(plan.key_columns)), predictions
            start += table.num_rows
        return
    context = multiprocessing.get_context("spawn")  # fork would copy Arrow's thread pools and rich's threads
    in_flight: collections.deque[tuple[int, Any, concurrent.futures.Future[_WorkerAnswer]]] = collections.deque()
    with concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(str(folder),)
    ) as pool:
        try:
            for table in _read_errors(chunks):
                features = _to_ipc(table.select(list(plan.model_columns)))
                in_flight.append(
                    (start, table.select(list(plan.key_columns)), pool.submit(_score_in_worker, features, plan))
                )
                start += table.num_rows
                if len(in_flight) >= 2 * workers:
                    yield _collect(*in_flight.popleft())
            while in_flight:
                yield _collect(*in_flight.popleft())
        finally:
            for *_, future in in_flight:
                future.cancel()


def _read_errors(chunks: Iterator[Any]) -> Iterator[Any]:
    """The chunks, with a read error (a malformed CSV line, a corrupt page) reported with its row."""
    import pyarrow as pa

    rows = 0
    try:
        for chunk in chunks:
            yield chunk
            rows += chunk.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise InvalidParameter(f"Cannot read the input after row {rows:,}: {exc}") from None


def _collect(start: int, keys: Any, future: concurrent.futures.Future[_WorkerAnswer]) -> tuple[int, Any, Any]:
    kind, payload, caught = future.result()
    for category, message in caught:  # e.g. the PickleWarning of loading the model, once per worker
        warnings.warn(message, category, stacklevel=2)
    if kind != "ok":
        raise _chunk_error(kind, str(payload), start, keys.num_rows)
    return start, keys, _from_ipc(payload)


def _predict_or_raise(model: LoadedModel, features: Any, plan: _Plan, start: int) -> Any:
    try:
        return _predict(model, features, plan)
    except ShipyardError as exc:
        raise _chunk_error("input", exc.message, start, features.num_rows) from None
    except Exception as exc:
        raise _chunk_error("model", f"{type(exc).__name__}: {exc}", start, features.num_rows) from exc


def _chunk_error(kind: str, message: str, start: int, rows: int) -> ShipyardError:
    where = f"rows {start:,}-{start + rows - 1:,}"
    if kind == "model":
        return InternalError(f"The model failed on {where}: {message}")
    return InvalidParameter(f"Scoring failed on {where}: {message}")


def _predict(model: LoadedModel, features: Any, plan: _Plan) -> Any:
    """The model's predictions on one Arrow table, as an Arrow table of prediction columns."""
    frame = features.to_pandas()
    data: Any = frame
    if plan.tensor is not None:
        if len(plan.tensor) == 1 and plan.tensor[0].name is None:
            data = frame.to_numpy()
        else:
            data = {name: frame[name].to_numpy() for name in frame.columns}
    return _prediction_table(model.predict(data), features.num_rows)


def _prediction_table(prediction: Any, rows: int) -> Any:
    """``prediction`` / ``prediction_0..k`` / ``prediction_<name>`` columns, checked to have ``rows`` rows."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    columns: dict[str, Any] = {}
    if isinstance(prediction, pd.DataFrame):
        columns = {f"prediction_{name}": prediction[name].to_numpy() for name in prediction.columns}
    elif isinstance(prediction, dict):
        for name, value in prediction.items():
            array = np.asarray(value)
            if array.ndim == 2:
                columns.update({f"prediction_{name}_{i}": array[:, i] for i in range(array.shape[1])})
            else:
                columns[f"prediction_{name}"] = array
    else:
        array = np.asarray(prediction)
        if array.ndim == 2:
            columns = {f"prediction_{i}": array[:, i] for i in range(array.shape[1])}
        else:
            columns = {"prediction": array}
    for name, array in columns.items():
        if array.ndim != 1 or len(array) != rows:
            raise InvalidParameter(
                f"The model returned {name} with shape {array.shape} for {rows} rows; expected one value per row."
            )
    try:
        return pa.table({name: pa.array(array, from_pandas=True) for name, array in columns.items()})
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise InvalidParameter(f"Predictions cannot be written to Parquet: {exc}") from None


class _Writer:
    """Appends key + prediction tables to one Parquet file, all with the schema of the first."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._writer: Any = None
        self._schema: Any = None

    def write(self, keys: Any, predictions: Any, start: int) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        clash = sorted(set(keys.column_names) & set(predictions.column_names))
        if clash:
            raise InvalidParameter(f"Key column(s) {', '.join(clash)} clash with the prediction columns.")
        table = pa.Table.from_arrays(
            [*keys.columns, *predictions.columns], [*keys.column_names, *predictions.column_names]
        )
        if self._writer is None:
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self._path, self._schema)
        elif table.schema != self._schema:
            try:
                table = table.cast(self._schema)
            except (pa.ArrowException, ValueError) as exc:
                raise InvalidParameter(
                    f"Rows {start:,}-{start + table.num_rows - 1:,} do not fit the output's schema "
                    f"({self._schema}): {exc}"
                ) from None
        self._writer.write_table(table)

    def close(self) -> tuple[str, ...]:
        if self._writer is None:  # an empty input still gets a (column-less) file
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.table({}), self._path)
            return ()
        self._writer.close()
        return tuple(self._schema.names)


def _to_ipc(table: Any) -> bytes:
    """Arrow's stream format: a chunk crosses to a worker without pickling (and without a slice's parent)."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def _from_ipc(data: bytes) -> Any:
    import pyarrow as pa

    return pa.ipc.open_stream(data).read_all()


# In a worker process: the model, loaded once by the initializer, or the error that stopped it loading.
_WORKER: dict[str, Any] = {}


def _init_worker(folder: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            _WORKER["model"] = load_model(folder)
        except ShipyardError as exc:
            _WORKER["error"] = ("input", exc.message)
        except Exception as exc:
            _WORKER["error"] = ("model", f"loading the model raised {type(exc).__name__}: {exc}")
    _WORKER["warnings"] = [(w.category, str(w.message)) for w in caught]


def _score_in_worker(features: bytes, plan: _Plan) -> _WorkerAnswer:
    """``("ok", prediction IPC bytes, warnings)`` or ``(error kind, message, warnings)``: errors cross back as
    plain strings, and the warnings of loading the model come back with the worker's first answer."""
    caught: list[tuple[type[Warning], str]] = _WORKER.pop("warnings", [])
    if "error" in _WORKER:
        kind, message = _WORKER["error"]
        return kind, message, caught
    try:
        return "ok", _to_ipc(_predict(_WORKER["model"], _from_ipc(features), plan)), caught
    except ShipyardError as exc:
        return "input", exc.message, caught
    except Exception as exc:
        return "model", f"{type(exc).__name__}: {exc}", caught
