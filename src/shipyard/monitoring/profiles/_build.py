"""Building profiles from data: the reference's two passes, windows on its layout, Parquet in bounded memory."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from shipyard.errors import InvalidParameter
from shipyard.monitoring.profiles._entities import (
    DEFAULT_BINS,
    DEFAULT_CATEGORY_CAP,
    DEFAULT_SAMPLE_ROWS,
    ColumnProfile,
    Profile,
    ProfileKind,
    _capped,
)

__all__ = ["Data", "build_reference_profile", "profile_like", "profile_parquet"]

FloatArray = npt.NDArray[np.float64]

_DISCRETE_MAX = 20  # Evidently bins a numerical column value by value up to 20 distinct reference values


Data = Any
"""A ``pandas.DataFrame``, a ``pyarrow.Table`` or ``RecordBatch``, or an iterable of batches or frames."""


def build_reference_profile(
    data: Data,
    *,
    numerical_columns: Sequence[str] | None = None,
    categorical_columns: Sequence[str] | None = None,
    bins: int = DEFAULT_BINS,
    category_cap: int = DEFAULT_CATEGORY_CAP,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
) -> Profile:
    """Profile the reference data, choosing column kinds and bin edges from it.

    Two passes over the data: the first infers column kinds (Evidently's rules, on the reference), and finds
    each numerical column's minimum, maximum, distinct values (up to 21) and a systematic sample of at most
    ``sample_rows`` rows (every k-th row, so the result does not depend on how the data is split into batches);
    the second counts. Edges are the sample's quantiles with the exact minimum first and the next float above
    the exact maximum last; a column with at most 20 distinct values gets one bin per value.

    Args:
        data: a ``pandas.DataFrame``, a ``pyarrow.Table`` or ``RecordBatch``, or an iterable of batches or frames
            (kept in a list for the second pass; use `profile_parquet` for data larger than memory).
        numerical_columns: columns to profile as numerical; when this or ``categorical_columns`` is given, only
            the listed columns are profiled.
        categorical_columns: columns to profile as categorical.
        bins: quantile bins per numerical column (between the two open outer bins).
        category_cap: categories kept per categorical column; rarer ones are counted together as ``other``.
        sample_rows: rows sampled for the quantile edges (quantiles are exact up to this many rows).

    Returns:
        The reference profile.

    Raises:
        InvalidParameter: empty data, an unknown column, a numerical column that holds no numbers, bad sizes.

    Example:
        >>> reference = build_reference_profile(train_frame, bins=30)  # doctest: +SKIP
        >>> reference.save("reference.profile.json")  # doctest: +SKIP
    """
    frames = _frames(data)
    rows = sum(len(frame) for frame in frames)
    return _build(lambda: iter(frames), rows, numerical_columns, categorical_columns, bins, category_cap, sample_rows)


def profile_like(reference: Profile, data: Data) -> Profile:
    """Profile a window of data on the reference's columns, kinds, edges and category cap.

    Args:
        reference: the reference profile (or any profile made like it).
        data: the window, as for `build_reference_profile`; columns the reference lacks are ignored.

    Returns:
        A profile that merges with other windows' and compares with the reference.

    Raises:
        InvalidParameter: the data lacks a reference column, or a numerical column holds no numbers.
    """
    profile = _empty_like(reference)
    for frame in _frames(data):
        profile = profile.merge(_frame_profile(reference, frame))
    return profile


def profile_parquet(
    path: str | Path,
    *,
    reference: Profile | None = None,
    batch_rows: int = 1_000_000,
    numerical_columns: Sequence[str] | None = None,
    categorical_columns: Sequence[str] | None = None,
    bins: int = DEFAULT_BINS,
    category_cap: int = DEFAULT_CATEGORY_CAP,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
) -> Profile:
    """Profile a Parquet file in bounded memory, ``batch_rows`` rows at a time.

    With a stored ``reference`` profile this is one pass over the file (the usual case: profiling current
    data). Without one, the file is the reference and is read twice, as in `build_reference_profile`; memory
    then holds one batch, the sample and the distinct values tracked for type inference.

    Args:
        path: the Parquet file.
        reference: profile like this reference; ``None`` to profile the file as the reference.
        batch_rows: rows per batch read (memory grows with this, not with the file).
        numerical_columns: as for `build_reference_profile` (reference pass only).
        categorical_columns: as for `build_reference_profile` (reference pass only).
        bins: as for `build_reference_profile` (reference pass only).
        category_cap: as for `build_reference_profile` (reference pass only).
        sample_rows: as for `build_reference_profile` (reference pass only).

    Returns:
        The file's profile.

    Raises:
        InvalidParameter: a bad batch size, or as for `profile_like` and `build_reference_profile`.

    Example:
        >>> day = profile_parquet("2024-05-01.parquet", reference=Profile.load("reference.json"))  # doctest: +SKIP
    """
    import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no type information

    if batch_rows < 1:
        raise InvalidParameter(f"batch_rows must be at least 1, got {batch_rows}.")
    names = [column.name for column in reference.columns] if reference is not None else None

    def batches() -> Iterator[pd.DataFrame]:
        # pre_buffer would read ahead of the batch being profiled (most of the file, measured): memory is the point
        with pq.ParquetFile(path, pre_buffer=False) as file:
            for batch in file.iter_batches(batch_size=batch_rows, columns=names):
                yield _arrow_to_pandas(batch)

    if reference is not None:
        profile = _empty_like(reference)
        for frame in batches():
            profile = profile.merge(_frame_profile(reference, frame))
        return profile
    with pq.ParquetFile(path) as file:
        rows = int(file.metadata.num_rows)
    return _build(batches, rows, numerical_columns, categorical_columns, bins, category_cap, sample_rows)


# --- building -----------------------------------------------------------------------------------------------


@dataclass
class _Scan:
    """What the first pass learns about one column."""

    family: str
    non_null: int = 0
    distinct: set[Any] = field(default_factory=set)
    overflow: bool = False
    first: Any = None
    last: Any = None
    minimum: float = math.nan
    maximum: float = math.nan


def _build(
    frames: Callable[[], Iterator[pd.DataFrame]],
    rows: int,
    numerical_columns: Sequence[str] | None,
    categorical_columns: Sequence[str] | None,
    bins: int,
    category_cap: int,
    sample_rows: int,
) -> Profile:
    """The two-pass reference profile over re-readable frames."""
    if bins < 1 or category_cap < 1 or sample_rows < 2:
        raise InvalidParameter(
            f"bins and category_cap must be at least 1 and sample_rows at least 2, got {bins}, "
            f"{category_cap} and {sample_rows}."
        )
    if rows == 0:
        raise InvalidParameter("The reference data is empty: a profile needs at least one row.")
    declared: dict[str, ProfileKind] = dict.fromkeys(numerical_columns or (), "numerical")
    declared |= dict.fromkeys(categorical_columns or (), "categorical")
    step = max(1, math.ceil(rows / sample_rows))
    scans: dict[str, _Scan] = {}
    samples: list[pd.DataFrame] = []
    offset = 0
    for frame in frames():
        names = list(declared) if declared else [str(name) for name in frame.columns]
        missing = [name for name in names if name not in frame.columns]
        if missing:
            raise InvalidParameter(f"Unknown column(s) {missing}: the data has {list(map(str, frame.columns))}.")
        for name in names:
            _scan(scans, name, frame[name], declared.get(name), category_cap)
        samples.append(frame[names].iloc[(-offset) % step :: step])  # every step-th row of the whole data
        offset += len(frame)
    sample = pd.concat(samples, ignore_index=True)
    columns = []
    for name, scan in scans.items():
        kind = declared.get(name) or _infer_kind(scan, sample[name])
        columns.append(_skeleton(name, kind, scan, sample[name], bins, category_cap))
    skeleton = Profile(rows=0, columns=tuple(columns), bins=bins, category_cap=category_cap)
    profile = _empty_like(skeleton)
    for frame in frames():
        profile = profile.merge(_frame_profile(skeleton, frame))
    return profile


def _scan(scans: dict[str, _Scan], name: str, series: pd.Series, declared: str | None, cap: int) -> None:
    """Update the first pass's knowledge of one column with one frame's values."""
    family = _family(series)
    scan = scans.get(name)
    if scan is None:
        scan = scans[name] = _Scan(family)
    elif scan.family != family and series.notna().any():
        scan.family = "float" if {scan.family, family} <= {"integer", "float"} else "object"
    values = series.dropna()
    scan.non_null += len(values)
    if len(values) and scan.first is None:
        scan.first = values.iloc[0]
    if len(values):
        scan.last = values.iloc[-1]
    if declared == "numerical" or (declared is None and family in ("integer", "float")):
        numbers = _numbers(name, series)
        finite = numbers[np.isfinite(numbers)]
        if finite.size:
            scan.minimum = float(np.fmin(scan.minimum, finite.min()))
            scan.maximum = float(np.fmax(scan.maximum, finite.max()))
        values = pd.Series(finite)
        cap = _DISCRETE_MAX
    if not scan.overflow and family not in ("datetime", "other") and declared != "categorical":
        try:
            scan.distinct.update(values.unique().tolist())
        except TypeError:  # unhashable values (lists): never a category
            scan.overflow = True
        if len(scan.distinct) > cap:
            scan.overflow, scan.distinct = True, set()


def _infer_kind(scan: _Scan, sample: pd.Series) -> ProfileKind:
    """Evidently's type inference (section 1), on the reference."""
    family = scan.family
    if family == "integer":
        return "numerical" if scan.overflow or len(scan.distinct) > 10 else "categorical"
    strings = family == "string" or (family == "object" and isinstance(scan.first, str) and isinstance(scan.last, str))
    if strings:
        if scan.overflow:  # too many distinct values to count them all: decide on the sample
            values = sample.dropna()
            return "text" if values.nunique() > 0.5 * len(values) else "categorical"
        return "text" if len(scan.distinct) > 0.5 * scan.non_null else "categorical"
    kinds: dict[str, ProfileKind] = {
        "float": "numerical",
        "bool": "categorical",
        "category": "categorical",
        "datetime": "datetime",
    }
    return kinds.get(family, "unknown")


def _skeleton(name: str, kind: ProfileKind, scan: _Scan, sample: pd.Series, bins: int, cap: int) -> ColumnProfile:
    """A column's empty profile with its kind and, for a numerical column, its edges."""
    column = ColumnProfile(name=name, kind=kind, value_type=scan.family, category_cap=cap)
    if kind != "numerical":
        return column
    if math.isnan(scan.minimum):
        return replace(column, edges=(0.0,), histogram=(0, 0), bin_sums=(0.0, 0.0))
    top = float(np.nextafter(scan.maximum, np.inf))
    if not scan.overflow:
        values = sorted(float(v) for v in scan.distinct)
        empty = (0,) * (len(values) + 2)
        return replace(column, edges=(*values, top), histogram=empty, bin_sums=(0.0,) * len(empty), discrete=True)
    numbers = _numbers(name, sample)
    finite = numbers[np.isfinite(numbers)]
    quantiles = np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)) if finite.size else np.zeros(2)
    quantiles[0], quantiles[-1] = scan.minimum, top
    edges = tuple(float(e) for e in np.unique(np.clip(quantiles, scan.minimum, top)))
    return replace(column, edges=edges, histogram=(0,) * (len(edges) + 1), bin_sums=(0.0,) * (len(edges) + 1))


def _frame_profile(like: Profile, frame: pd.DataFrame) -> Profile:
    """One frame's profile on ``like``'s layout."""
    missing = [column.name for column in like.columns if column.name not in frame.columns]
    if missing:
        raise InvalidParameter(
            f"The data has no column(s) {missing}, which the reference profile holds; it has "
            f"{list(map(str, frame.columns))}."
        )
    columns = tuple(_column_profile(column, frame[column.name]) for column in like.columns)
    return replace(like, rows=len(frame), columns=columns)


def _column_profile(like: ColumnProfile, series: pd.Series) -> ColumnProfile:
    """One column's profile of ``series`` on ``like``'s layout."""
    empty = _empty_column(like)
    null = int(series.isna().sum())
    profile = replace(empty, value_type=_family(series), missing=null, count=len(series) - null)
    if like.kind == "numerical":
        numbers = _numbers(like.name, series)
        finite = numbers[np.isfinite(numbers)]
        if finite.size == 0:
            return replace(profile, count=0, infinite=len(series) - null)
        mean = float(finite.mean())
        index = np.searchsorted(np.asarray(like.edges, dtype=np.float64), finite, side="right")
        histogram = np.bincount(index, minlength=len(like.edges) + 1)
        sums = np.bincount(index, weights=finite, minlength=len(like.edges) + 1)
        return replace(
            profile,
            count=int(finite.size),
            infinite=len(series) - null - int(finite.size),
            minimum=float(finite.min()),
            maximum=float(finite.max()),
            mean=mean,
            m2=float(np.sum((finite - mean) ** 2)),
            histogram=tuple(int(c) for c in histogram),
            bin_sums=tuple(float(total) for total in sums),
        )
    if like.kind == "categorical":
        counts = series.value_counts(dropna=True, sort=False)
        counts = counts[counts > 0]
        pairs = dict(zip(counts.index.tolist(), (int(c) for c in counts.to_numpy()), strict=True))
        categories, beyond = _capped(pairs, like.category_cap)
        return replace(profile, categories=categories, other=beyond)
    return profile


def _numbers(name: str, series: pd.Series) -> FloatArray:
    """A numerical column's values as float64, NaN for missing."""
    from pandas.api import types

    if types.is_bool_dtype(series.dtype) or types.is_numeric_dtype(series.dtype):
        result: FloatArray = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return result
    raise InvalidParameter(f"Column {name!r} is numerical but holds {series.dtype} values, not numbers.")


def _family(series: pd.Series) -> str:
    """The type family of a column's dtype (what a type change compares)."""
    from pandas.api import types

    dtype = series.dtype
    checks: tuple[tuple[str, Callable[[Any], bool]], ...] = (
        ("bool", types.is_bool_dtype),
        ("category", lambda d: isinstance(d, pd.CategoricalDtype)),
        ("integer", types.is_integer_dtype),
        ("float", types.is_float_dtype),
        ("datetime", types.is_datetime64_any_dtype),
        ("object", types.is_object_dtype),
        ("string", types.is_string_dtype),
    )
    return next((family for family, check in checks if check(dtype)), "other")


def _empty_column(like: ColumnProfile) -> ColumnProfile:
    return replace(
        like,
        count=0,
        missing=0,
        infinite=0,
        minimum=None,
        maximum=None,
        mean=0.0,
        m2=0.0,
        histogram=(0,) * len(like.histogram),
        bin_sums=(0.0,) * len(like.bin_sums),
        categories=(),
        other=0,
    )


def _empty_like(like: Profile) -> Profile:
    return replace(like, rows=0, columns=tuple(_empty_column(column) for column in like.columns))


# --- data in ------------------------------------------------------------------------------------------------


def _frames(data: Data) -> list[pd.DataFrame]:
    """The data as a list of pandas frames."""
    if isinstance(data, pd.DataFrame):
        return [data]
    if hasattr(data, "schema") and hasattr(data, "to_pandas"):  # a pyarrow Table or RecordBatch
        return [_arrow_to_pandas(data)]
    if isinstance(data, Iterable) and not isinstance(data, str | bytes):
        frames = [_frames(part)[0] for part in data]
        if frames:
            return frames
        raise InvalidParameter("The data is empty: no batches were given.")
    raise InvalidParameter(
        f"Cannot profile a {type(data).__name__}: expected a pandas DataFrame, a pyarrow Table or RecordBatch, or "
        "an iterable of them."
    )


def _arrow_to_pandas(batch: Any) -> pd.DataFrame:
    """An Arrow batch as pandas, keeping integers and booleans with nulls as nullable ints and booleans (so a
    batch with a null does not turn an int column into floats, which would change its inferred kind)."""
    import pyarrow as pa

    def mapper(arrow_type: Any) -> Any:
        if pa.types.is_integer(arrow_type):
            return pd.api.types.pandas_dtype(str(arrow_type).replace("u", "U").replace("int", "Int", 1))
        if pa.types.is_boolean(arrow_type):
            return pd.BooleanDtype()
        return None

    frame: pd.DataFrame = batch.to_pandas(types_mapper=mapper)
    return frame
