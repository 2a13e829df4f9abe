"""One column's drift: its kind (Evidently's type inference), its cleaning, and the chosen test's result."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

from shipyard.errors import InvalidParameter
from shipyard.monitoring.entities import Binning, ColumnDrift, ColumnKind, Preset
from shipyard.monitoring.stats import numerical
from shipyard.monitoring.stats.binned import jensenshannon, kl_div, psi, shares
from shipyard.monitoring.stats.categorical import CategoryCounts, chisquare, z_test
from shipyard.monitoring.stats.numerical import Sample
from shipyard.monitoring.stats.robust import (
    PSI_THRESHOLD,
    TEST_NAME,
    RobustResult,
    robust_categorical,
    robust_numerical,
)
from shipyard.monitoring.stats.selection import Overrides, is_drifted, override_threshold, resolve

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CATEGORICAL_MAX_INT_DISTINCT",
    "TEXT_REASON",
    "ColumnSkipped",
    "InferredKind",
    "infer_kind",
    "test_categorical",
    "test_column",
    "test_numerical",
    "text_or_categorical",
]

CATEGORICAL_MAX_INT_DISTINCT = 10
"""Evidently: an integer column with at most this many distinct values is categorical."""

TEXT_REASON = "text column: not tested"

InferredKind = ColumnKind | Literal["text"] | None


class ColumnSkipped(Exception):
    """A column that cannot be tested (no values left after cleaning); the message is the report's reason."""


def infer_kind(series: pd.Series) -> tuple[InferredKind, str]:  # noqa: PLR0911  # one return per dtype family
    """Evidently's type inference for one column of the current data: the kind, or None and why not.

    Example:
        >>> import pandas as pd
        >>> infer_kind(pd.Series([0, 1, 1, 0]))
        ('categorical', '')
    """
    import pandas as pd

    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return "categorical", ""
    if pd.api.types.is_float_dtype(dtype):
        return "numerical", ""
    if pd.api.types.is_integer_dtype(dtype):
        return ("categorical" if series.nunique() <= CATEGORICAL_MAX_INT_DISTINCT else "numerical"), ""
    if pd.api.types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
        return None, "datetime column: not tested"
    if isinstance(dtype, pd.StringDtype):
        return _text_or_categorical(series), ""
    if pd.api.types.is_object_dtype(dtype):
        values = series.dropna()
        if values.empty:
            return None, "empty column: no non-missing values"
        first, last = values.iloc[0], values.iloc[-1]
        if isinstance(first, str) and isinstance(last, str):
            return _text_or_categorical(series), ""
        if isinstance(first, list | tuple) and isinstance(last, list | tuple):
            return None, "list column: not tested"
    return None, f"unsupported dtype {dtype}: not tested"


def _text_or_categorical(series: pd.Series) -> InferredKind:
    return text_or_categorical(int(series.nunique()), int(series.count()))


def text_or_categorical(distinct: int, values: int) -> InferredKind:
    """Evidently's rule for a string column: text when more than half its non-missing values are distinct."""
    return "text" if distinct > 0.5 * values else "categorical"


def test_column(
    name: str, kind: ColumnKind, reference: pd.Series, current: pd.Series, preset: Preset, overrides: Overrides
) -> ColumnDrift:
    """Clean one column (``±inf`` and NaN dropped per side) and run its test.

    Raises:
        ColumnSkipped: a side has no value left.
        InvalidParameter: a numerical column holds non-numbers, or the chosen test cannot test this kind.
    """
    if kind == "numerical":
        return test_numerical(name, _sample(name, reference), _sample(name, current), preset, overrides)
    return test_categorical(name, CategoryCounts.from_series(reference, current), preset, overrides)


def test_numerical(name: str, ref: Sample, cur: Sample, preset: Preset, overrides: Overrides) -> ColumnDrift:
    """A numerical column's test from its two cleaned samples (``test_column`` once the values are read).

    Raises:
        ColumnSkipped: a side has no value left.
        InvalidParameter: the chosen test cannot test numerical columns.
    """
    return _numerical(name, ref, cur, preset, overrides)


def test_categorical(name: str, counts: CategoryCounts, preset: Preset, overrides: Overrides) -> ColumnDrift:
    """A categorical column's test from both sides' counts per category (``test_column`` once counted).

    Raises:
        ColumnSkipped: a side has no value left.
        InvalidParameter: the chosen test cannot test categorical columns.
    """
    _require_values(counts.reference_rows, counts.current_rows)
    return _categorical(name, counts, preset, overrides)


def _sample(name: str, series: pd.Series) -> Sample:
    import pandas as pd

    if not (pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype)):
        raise InvalidParameter(f"Column {name!r} is numerical but its dtype is {series.dtype}; expected numbers.")
    if pd.api.types.is_integer_dtype(series.dtype) and not series.hasnans:
        return Sample.from_values(series.to_numpy(dtype=np.int64))
    return Sample.from_values(series.to_numpy(dtype=np.float64, na_value=np.nan))


def _require_values(reference_rows: int, current_rows: int) -> None:
    if reference_rows == 0 or current_rows == 0:
        side = "reference" if reference_rows == 0 else "current"
        raise ColumnSkipped(f"empty column: no non-missing values in the {side} data")


def _numerical(name: str, ref: Sample, cur: Sample, preset: Preset, overrides: Overrides) -> ColumnDrift:
    _require_values(ref.size, cur.size)
    rows = (ref.size, cur.size)
    if preset == "robust" and _automatic(name, "numerical", overrides):
        threshold = override_threshold(name, "numerical", overrides)
        return _robust(
            name, "numerical", robust_numerical(ref, cur, PSI_THRESHOLD if threshold is None else threshold), rows
        )
    distinct = ref.distinct if ref.distinct > 5 else int(np.union1d(ref.unique[0], cur.unique[0]).size)
    method, threshold, _ = resolve(name, "numerical", ref.size, distinct, overrides)
    binning: Binning = "none"
    if method.name in {"chisquare", "z"}:  # Evidently's automatic choice for few distinct values
        keys, ref_counts, cur_counts = numerical.per_value_counts(ref, cur)
        counts = CategoryCounts(keys=keys.tolist(), ref=ref_counts, cur=cur_counts)
        score = chisquare(counts) if method.name == "chisquare" else z_test(counts)
    elif method.name in _BINNED:
        ref_counts, cur_counts, binning = numerical.binned_counts(ref, cur)
        score = _BINNED[method.name](shares(ref_counts), shares(cur_counts))
    else:
        score = _NUMERICAL[method.name](ref, cur)
    return ColumnDrift(
        column=name,
        kind="numerical",
        test=method.name,
        score=score,
        threshold=threshold,
        drifted=is_drifted(score, threshold, method.comparison),
        score_is_p_value=method.score_is_p_value,
        binning=binning,
        reference_rows=rows[0],
        current_rows=rows[1],
    )


def _categorical(name: str, counts: CategoryCounts, preset: Preset, overrides: Overrides) -> ColumnDrift:
    rows = (counts.reference_rows, counts.current_rows)
    if preset == "robust" and _automatic(name, "categorical", overrides):
        threshold = override_threshold(name, "categorical", overrides)
        return _robust(
            name, "categorical", robust_categorical(counts, PSI_THRESHOLD if threshold is None else threshold), rows
        )
    method, threshold, _ = resolve(name, "categorical", counts.reference_rows, len(counts.keys), overrides)
    if method.name == "chisquare":
        score = chisquare(counts)
    elif method.name == "z":
        score = z_test(counts)
    else:
        score = _BINNED[method.name](shares(counts.ref), shares(counts.cur))
    return ColumnDrift(
        column=name,
        kind="categorical",
        test=method.name,
        score=score,
        threshold=threshold,
        drifted=is_drifted(score, threshold, method.comparison),
        score_is_p_value=method.score_is_p_value,
        binning="none" if method.name in {"chisquare", "z"} else "per_value",
        reference_rows=rows[0],
        current_rows=rows[1],
    )


def _automatic(name: str, kind: ColumnKind, overrides: Overrides) -> bool:
    """True when the caller chose no test for this column (the preset chooses)."""
    per_kind = overrides.num_method if kind == "numerical" else overrides.cat_method
    return (overrides.per_column_method or {}).get(name) is None and per_kind is None and overrides.method is None


def _robust(name: str, kind: ColumnKind, result: RobustResult, rows: tuple[int, int]) -> ColumnDrift:
    return ColumnDrift(
        column=name,
        kind=kind,
        test=TEST_NAME,
        score=result.score,
        threshold=result.threshold,
        drifted=result.drifted,
        score_is_p_value=False,
        binning=result.binning,
        details=result.details,
        reference_rows=rows[0],
        current_rows=rows[1],
    )


_BINNED = {"psi": psi, "jensenshannon": jensenshannon, "kl_div": kl_div}
_NUMERICAL = {
    "ks": numerical.ks,
    "wasserstein": numerical.wasserstein_normed,
    "anderson": numerical.anderson,
    "cramer_von_mises": numerical.cramer_von_mises,
}
