"""Data drift between a reference and a current data set: Evidently's DataDriftPreset, or the robust preset.

``data_drift`` compares two pandas data frames; ``data_drift_files`` two Parquet or CSV files, read a column at a
time so that memory holds a few columns, not both data sets.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from shipyard.errors import InvalidParameter
from shipyard.monitoring.entities import ColumnDrift, ColumnKind, DriftReport, Preset
from shipyard.monitoring.stats.columns import TEXT_REASON, ColumnSkipped, infer_kind, test_column
from shipyard.monitoring.stats.selection import Overrides

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information

    from shipyard.monitoring.stats.columns import InferredKind

__all__ = ["data_drift", "data_drift_files"]


def data_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    preset: Preset = "default",
    columns: Sequence[str] | None = None,
    numerical_columns: Iterable[str] | None = None,
    categorical_columns: Iterable[str] | None = None,
    method: str | None = None,
    num_method: str | None = None,
    cat_method: str | None = None,
    per_column_method: Mapping[str, str] | None = None,
    threshold: float | None = None,
    num_threshold: float | None = None,
    cat_threshold: float | None = None,
    per_column_threshold: Mapping[str, float] | None = None,
    drift_share: float = 0.5,
    workers: int | None = None,
    progress: Callable[..., None] | None = None,
) -> DriftReport:
    """Test every column of ``current`` against ``reference`` for drift.

    The ``default`` preset is Evidently 0.7's ``DataDriftPreset``, test for test and score for score: column
    types inferred from the current data (float: numerical; int: categorical up to 10 distinct values; strings:
    categorical, or text when more than half the values are distinct), ``±inf`` and missing values dropped per
    side, then KS / chi-square / z on up to 1,000 reference values and Wasserstein / Jensen-Shannon above. The
    ``robust`` preset scores every column with PSI on noise-proof bins and flags new categories explicitly (see
    ``shipyard.monitoring.stats.robust``); a test you name explicitly is still run as asked.

    Text columns are skipped (Evidently's domain-classifier test is not implemented), and so are datetime,
    unsupported and empty columns, each with its reason in ``DriftReport.skipped``.

    Args:
        reference: the data the model was trained or validated on.
        current: the data to check.
        preset: ``default`` (Evidently's rules) or ``robust``.
        columns: test only these columns (default: every column of ``current``).
        numerical_columns: columns to test as numerical, whatever their inferred type.
        categorical_columns: columns to test as categorical, whatever their inferred type.
        method: the test for every column (``ks``, ``wasserstein``, ``anderson``, ``cramer_von_mises``, ``psi``,
            ``jensenshannon``, ``kl_div``, ``chisquare``, ``z``).
        num_method: the test for numerical columns.
        cat_method: the test for categorical columns.
        per_column_method: the test per column name.
        threshold: the threshold for every column (default: the test's own).
        num_threshold: the threshold for numerical columns.
        cat_threshold: the threshold for categorical columns.
        per_column_threshold: the threshold per column name.
        drift_share: the share of drifted columns at which the data set counts as drifted.
        workers: columns tested at once (default: one per core).
        progress: called as each column finishes, with keyword arguments ``done``, ``total`` and ``column``.

    Returns:
        One result per tested column, in the data's column order, and the skipped columns with their reasons.

    Raises:
        InvalidParameter: an unknown test, a test that cannot test a column's kind, a named column missing from
            either frame, or a numerical column holding non-numbers.

    Example:
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> reference = pd.DataFrame({"age": rng.normal(40, 10, 5000), "plan": rng.choice(["a", "b"], 5000)})
        >>> current = pd.DataFrame({"age": rng.normal(48, 10, 5000), "plan": rng.choice(["a", "b"], 5000)})
        >>> report = data_drift(reference, current)
        >>> [(c.column, c.test, c.drifted) for c in report.columns]
        [('age', 'wasserstein', True), ('plan', 'jensenshannon', False)]
        >>> report.dataset_drift
        True
    """
    overrides = _checked(
        preset,
        Overrides(
            method=method,
            num_method=num_method,
            cat_method=cat_method,
            per_column_method=per_column_method,
            threshold=threshold,
            num_threshold=num_threshold,
            cat_threshold=cat_threshold,
            per_column_threshold=per_column_threshold,
        ),
    )
    kinds, skipped = _column_kinds(reference, current, columns, numerical_columns, categorical_columns)

    def one(name: str, kind: ColumnKind) -> ColumnDrift | str:
        try:
            return test_column(name, kind, reference[name], current[name], preset, overrides)
        except ColumnSkipped as exc:
            return str(exc)

    results = _each_column(one, kinds, skipped, workers, progress)
    return DriftReport(
        columns=tuple(results[name] for name in kinds if name in results),
        preset=preset,
        drift_share=drift_share,
        skipped={name: skipped[name] for name in _ordered(current.columns, reference.columns, skipped)},
        reference_rows=len(reference),
        current_rows=len(current),
    )


def data_drift_files(
    reference_path: str | os.PathLike[str],
    current_path: str | os.PathLike[str],
    *,
    preset: Preset = "default",
    columns: Sequence[str] | None = None,
    numerical_columns: Iterable[str] | None = None,
    categorical_columns: Iterable[str] | None = None,
    method: str | None = None,
    num_method: str | None = None,
    cat_method: str | None = None,
    per_column_method: Mapping[str, str] | None = None,
    threshold: float | None = None,
    num_threshold: float | None = None,
    cat_threshold: float | None = None,
    per_column_threshold: Mapping[str, float] | None = None,
    drift_share: float = 0.5,
    workers: int | None = None,
    progress: Callable[..., None] | None = None,
) -> DriftReport:
    """``data_drift`` on two Parquet or CSV files, reading a column at a time.

    The report is the one ``data_drift(pandas.read_parquet(reference_path), pandas.read_parquet(current_path))``
    gives, but memory holds only the columns being tested (two per worker), not both data sets. Plain columns
    (floats, integers, booleans, strings) go from Arrow to numpy without pandas; other types are read with pandas,
    one column at a time. A CSV file is parsed once by pyarrow (only the columns to test are kept).

    Args:
        reference_path: the reference data, a ``.parquet``, ``.pq`` or ``.csv`` file.
        current_path: the current data, in the same formats.
        preset: as ``data_drift``; so are every other argument.
        columns: as ``data_drift``.
        numerical_columns: as ``data_drift``.
        categorical_columns: as ``data_drift``.
        method: as ``data_drift``.
        num_method: as ``data_drift``.
        cat_method: as ``data_drift``.
        per_column_method: as ``data_drift``.
        threshold: as ``data_drift``.
        num_threshold: as ``data_drift``.
        cat_threshold: as ``data_drift``.
        per_column_threshold: as ``data_drift``.
        drift_share: as ``data_drift``.
        workers: columns read and tested at once (default: one per core).
        progress: called as each column finishes, with keyword arguments ``done``, ``total`` and ``column``.

    Returns:
        One result per tested column, in the current file's column order, and the skipped columns with reasons.

    Raises:
        InvalidParameter: as ``data_drift``, and a file that is missing, of another format or unreadable.

    Example:
        >>> report = data_drift_files("reference.parquet", "current.parquet")  # doctest: +SKIP
        >>> report.dataset_drift  # doctest: +SKIP
        False
    """
    overrides = _checked(
        preset,
        Overrides(
            method=method,
            num_method=num_method,
            cat_method=cat_method,
            per_column_method=per_column_method,
            threshold=threshold,
            num_threshold=num_threshold,
            cat_threshold=cat_threshold,
            per_column_threshold=per_column_threshold,
        ),
    )
    reference, current = _Source.open(Path(reference_path)), _Source.open(Path(current_path))
    planned, skipped = _plan(reference.names, current.names, columns, numerical_columns, categorical_columns)
    reference.keep(list(planned))
    current.keep(list(planned))

    def one(name: str, kind: ColumnKind | None) -> ColumnDrift | str:
        return _test_file_column(name, kind, reference, current, preset, overrides)

    results = _each_column(one, planned, skipped, workers, progress)
    return DriftReport(
        columns=tuple(results[name] for name in planned if name in results),
        preset=preset,
        drift_share=drift_share,
        skipped={name: skipped[name] for name in _ordered(current.names, reference.names, skipped)},
        reference_rows=reference.rows,
        current_rows=current.rows,
    )


def _test_file_column(
    name: str,
    explicit: ColumnKind | None,
    reference: _Source,
    current: _Source,
    preset: Preset,
    overrides: Overrides,
) -> ColumnDrift | str:
    """One column read from both files and tested: its result, or the reason it was skipped."""
    from shipyard.monitoring.stats import arrow
    from shipyard.monitoring.stats.columns import test_categorical, test_numerical

    cur = current.column(name)
    plain = arrow.is_plain(cur, current.numpy_types.get(name))
    inferred: InferredKind = explicit
    reason = ""
    if inferred is None:
        inferred, reason = (arrow.infer_kind(cur), "") if plain else infer_kind(current.series(name))
    if inferred is None:
        return reason
    if inferred == "text":
        return TEXT_REASON
    kind: ColumnKind = inferred
    ref = reference.column(name)
    try:
        if plain and arrow.is_plain(ref, reference.numpy_types.get(name)):
            if kind == "numerical":
                ref_sample = arrow.sample(ref)
                cur_sample = arrow.sample(cur)
                if ref_sample is not None and cur_sample is not None:
                    del ref, cur  # the samples are copies: let the Arrow columns go
                    return test_numerical(name, ref_sample, cur_sample, preset, overrides)
            else:
                counts = arrow.category_counts(ref, cur)
                if counts is not None:
                    return test_categorical(name, counts, preset, overrides)
        return test_column(name, kind, reference.series(name), current.series(name), preset, overrides)
    except ColumnSkipped as exc:
        return str(exc)


@dataclass
class _Source:
    """One input file: its column names, row count and pandas dtypes, and its columns read one at a time."""

    path: Path
    names: list[str]
    rows: int
    numpy_types: dict[str, str] = field(default_factory=dict)
    table: Any = None  # a CSV file, parsed once (pyarrow.Table)

    SUFFIXES = (".parquet", ".pq", ".csv")

    @classmethod
    def open(cls, path: Path) -> _Source:
        suffix = path.suffix.lower()
        if suffix not in cls.SUFFIXES:
            raise InvalidParameter(
                f"Cannot read {path.name!r}: expected a {', '.join(cls.SUFFIXES)} file, got {suffix or 'no suffix'}."
            )
        if not path.is_file():
            raise InvalidParameter(f"Input file {str(path)!r} does not exist or is not a file.")
        with _read_errors(path):
            if suffix == ".csv":
                import pyarrow.csv as pa_csv  # type: ignore[import-untyped]  # pyarrow ships no type information

                names = [str(name) for name in pa_csv.open_csv(path).schema.names]
                return cls(path, names, rows=-1)
            import pyarrow.parquet as pq  # type: ignore[import-untyped]

            metadata = pq.ParquetFile(path).metadata
            schema = metadata.schema.to_arrow_schema()
        pandas = schema.pandas_metadata or {}
        index = {name for name in pandas.get("index_columns", ()) if isinstance(name, str)}
        names = [name for name in schema.names if name not in index and not name.startswith("__index_level_")]
        numpy_types = {
            str(column.get("field_name", column.get("name"))): str(column.get("numpy_type"))
            for column in pandas.get("columns", ())
        }
        return cls(path, names, rows=int(metadata.num_rows), numpy_types=numpy_types)

    def keep(self, names: list[str]) -> None:
        """Parse a CSV file now, keeping only these columns (a Parquet file is read later, column by column)."""
        if self.path.suffix.lower() != ".csv":
            return
        import pyarrow.csv as pa_csv

        wanted = [name for name in names if name in set(self.names)]
        with _read_errors(self.path):
            self.table = pa_csv.read_csv(self.path, convert_options=pa_csv.ConvertOptions(include_columns=wanted))
        self.rows = int(self.table.num_rows)

    def column(self, name: str) -> pa.ChunkedArray:
        if self.table is not None:
            return self.table.column(name)
        import pyarrow.parquet as pq

        with _read_errors(self.path):
            return pq.ParquetFile(self.path).read(columns=[name], use_pandas_metadata=False).column(0)

    def series(self, name: str) -> pd.Series:
        """The column as ``pandas.read_parquet`` gives it (the pandas metadata restores its dtype)."""
        import pandas as pd

        with _read_errors(self.path):
            if self.table is not None:
                frame: pd.DataFrame = self.table.select([name]).to_pandas()
            else:
                frame = pd.read_parquet(self.path, columns=[name])
        return frame[name]


@contextlib.contextmanager
def _read_errors(path: Path) -> Iterator[None]:
    """Turn pyarrow's and the file system's read errors into one-line ``InvalidParameter`` naming the file."""
    import pyarrow as pa

    try:
        yield
    except (pa.ArrowException, OSError) as exc:
        message = " ".join(str(exc).split())
        kind = "CSV" if path.suffix.lower() == ".csv" else "Parquet"
        raise InvalidParameter(f"Cannot read {path.name!r} as {kind}: {message}") from None


def _column_kinds(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: Sequence[str] | None,
    numerical_columns: Iterable[str] | None,
    categorical_columns: Iterable[str] | None,
) -> tuple[dict[str, ColumnKind], dict[str, str]]:
    """Each column to test with its kind, in the current data's order, and the columns skipped with why."""
    planned, skipped = _plan(
        list(reference.columns), list(current.columns), columns, numerical_columns, categorical_columns
    )
    kinds: dict[str, ColumnKind] = {}
    for name, explicit in planned.items():
        if explicit is not None:
            kinds[name] = explicit
            continue
        kind, reason = infer_kind(current[name])
        if kind == "text":
            skipped[name] = TEXT_REASON
        elif kind is None:
            skipped[name] = reason
        else:
            kinds[name] = kind
    return kinds, skipped


def _plan(
    reference_names: Sequence[str],
    current_names: Sequence[str],
    columns: Sequence[str] | None,
    numerical_columns: Iterable[str] | None,
    categorical_columns: Iterable[str] | None,
) -> tuple[dict[str, ColumnKind | None], dict[str, str]]:
    """The columns to test, each with the kind the caller gave it (None: to infer), and those not in the reference.

    Raises:
        InvalidParameter: a column named in two kinds, or a named column missing from either side.
    """
    explicit: dict[str, ColumnKind] = dict.fromkeys(numerical_columns or (), "numerical")
    for name in categorical_columns or ():
        if explicit.get(name) == "numerical":
            raise InvalidParameter(f"Column {name!r} is listed as both numerical and categorical; expected one.")
        explicit[name] = "categorical"
    wanted = list(columns) if columns is not None else list(current_names)
    in_reference, in_current = set(reference_names), set(current_names)
    for name in [*wanted, *explicit]:
        for names, side in ((in_current, "current"), (in_reference, "reference")):
            if name not in names and (columns is not None or name in explicit or side == "current"):
                raise InvalidParameter(f"Column {name!r} is not in the {side} data; expected one of its columns.")
    planned: dict[str, ColumnKind | None] = {}
    skipped: dict[str, str] = {}
    for name in wanted:
        if name not in in_reference:
            skipped[name] = "not in the reference data"
        else:
            planned[name] = explicit.get(name)
    return planned, skipped


def _ordered(current: Iterable[str], reference: Iterable[str], names: Mapping[str, str]) -> list[str]:
    order = {name: i for i, name in enumerate([*current, *reference])}
    return sorted(names, key=lambda name: order.get(name, len(order)))


_K = TypeVar("_K")


def _checked(preset: str, overrides: Overrides) -> Overrides:
    """``overrides`` once the preset and every named test are known (else ``InvalidParameter``)."""
    if preset not in {"default", "robust"}:
        raise InvalidParameter(f"preset={preset!r} is not a drift preset; expected 'default' or 'robust'.")
    overrides.validate()
    return overrides


def _each_column(
    test: Callable[[str, _K], ColumnDrift | str],
    kinds: Mapping[str, _K],
    skipped: dict[str, str],
    workers: int | None,
    progress: Callable[..., None] | None,
) -> dict[str, ColumnDrift]:
    """Run ``test`` on every column in a thread pool (numpy and scipy release the GIL); results by column, and the
    reasons of the columns it skipped added to ``skipped``; ``progress`` is told as each column finishes."""
    results: dict[str, ColumnDrift] = {}
    pool_size = max(1, min(workers or os.cpu_count() or 1, len(kinds)))
    with ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="drift") as pool:
        futures = {pool.submit(test, name, kind): name for name, kind in kinds.items()}
        for done, future in enumerate(as_completed(futures), start=1):
            name = futures[future]
            outcome = future.result()
            if isinstance(outcome, str):
                skipped[name] = outcome
            else:
                results[name] = outcome
            if progress is not None:
                progress(done=done, total=len(futures), column=name)
    return results
