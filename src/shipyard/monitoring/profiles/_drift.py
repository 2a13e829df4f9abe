"""Drift from two profiles alone: Evidently's choice of test, run on the reference's bins and categories."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats  # type: ignore[import-untyped]  # scipy ships no type hints

from shipyard.errors import InvalidParameter
from shipyard.monitoring.entities import ColumnDrift, ColumnKind, DriftReport, Preset
from shipyard.monitoring.profiles._entities import (
    _OTHER,
    ColumnProfile,
    Profile,
    _check_same_columns,
    _check_same_layout,
    _sort_key,
)
from shipyard.monitoring.stats import binned
from shipyard.monitoring.stats.selection import (
    METHODS,
    Overrides,
    default_method,
    is_drifted,
    override_method,
    override_threshold,
)

__all__ = ["histogram_wasserstein", "profile_drift"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_RAW_VALUE_TESTS = ("ks", "anderson", "cramer_von_mises")  # need the values themselves, not histograms


def profile_drift(
    reference: Profile,
    current: Profile,
    *,
    preset: Preset = "default",
    method: str | None = None,
    num_method: str | None = None,
    cat_method: str | None = None,
    per_column_method: Mapping[str, str] | None = None,
    threshold: float | None = None,
    num_threshold: float | None = None,
    cat_threshold: float | None = None,
    per_column_threshold: Mapping[str, float] | None = None,
    drift_share: float = 0.5,
) -> DriftReport:
    """Drift of every numerical and categorical column, from two profiles alone.

    Default tests mirror Evidently's selection (section 3 of its rules) on the profiles' counts: with ``k`` the
    bins (or categories) holding values on either side and ``n`` the reference's non-missing values,
    ``wasserstein`` for numerical columns with ``k > 5`` (Evidently: ``ks`` when ``n <= 1000``; no KS from
    histograms), ``chisquare`` (``k > 2``) or ``z`` (``k <= 2``) when ``n <= 1000``, else ``jensenshannon``.
    The ``robust`` preset uses no p-values: ``wasserstein`` for numerical columns with ``k > 5``, else
    ``jensenshannon``. PSI, KL and JS use the shares of the bins holding values on either side.

    Args:
        reference: the reference profile.
        current: a profile made like it (`profile_like`, `profile_parquet` or merged windows).
        preset: ``default`` or ``robust``.
        method: the test for every column (``wasserstein``, ``psi``, ``kl_div``, ``jensenshannon``; and
            ``chisquare`` or ``z`` for categorical columns).
        num_method: the test for numerical columns.
        cat_method: the test for categorical columns.
        per_column_method: tests by column name (wins over the per-kind and all-column ones).
        threshold: the threshold for every column (else the method's default: 0.05 for p-values, 0.1 otherwise).
        num_threshold: the threshold for numerical columns.
        cat_threshold: the threshold for categorical columns.
        per_column_threshold: thresholds by column name.
        drift_share: the share of drifted columns at which the data set counts as drifted.

    Returns:
        The report; every result has ``binning="reference_bins"``.

    Raises:
        InvalidParameter: the profiles were not made alike, an unknown preset or method, a method the column's
            kind does not allow.

    Example:
        >>> report = profile_drift(Profile.load("reference.json"), month)  # doctest: +SKIP
        >>> [c.column for c in report.columns if c.drifted]  # doctest: +SKIP
        ['age']
    """
    if preset not in ("default", "robust"):
        raise InvalidParameter(f"Unknown preset {preset!r}: expected 'default' or 'robust'.")
    overrides = Overrides(
        method=method,
        num_method=num_method,
        cat_method=cat_method,
        per_column_method=per_column_method,
        threshold=threshold,
        num_threshold=num_threshold,
        cat_threshold=cat_threshold,
        per_column_threshold=per_column_threshold,
    )
    _check_same_columns(reference, current)
    results: list[ColumnDrift] = []
    skipped: dict[str, str] = {}
    for ref, cur in zip(reference.columns, current.columns, strict=True):
        if ref.kind not in ("numerical", "categorical"):
            skipped[ref.name] = f"{ref.kind} column"
            continue
        if ref.count == 0 or cur.count == 0:
            skipped[ref.name] = f"no values in the {'reference' if ref.count == 0 else 'current'} data"
            continue
        results.append(_column_drift(ref, cur, preset, overrides))
    return DriftReport(
        columns=tuple(results),
        preset=preset,
        drift_share=drift_share,
        skipped=skipped,
        reference_rows=reference.rows,
        current_rows=current.rows,
    )


def histogram_wasserstein(reference: ColumnProfile, current: ColumnProfile) -> float:
    """The 1-D Wasserstein distance between two numerical profiles, from their histograms.

    Each bin's values are represented by their mean (profiles keep each bin's sum, which merges exactly), and the
    distance is the exact one between these weighted points. It is exact for a discrete profile (one bin per
    reference value) while the current data holds only reference values; otherwise each side's error is at most
    its mean absolute deviation from its bin means (small for quantile bins, since most bins are narrow; at 30
    bins and 20,000 normal values per side it is within about 0.003 standard deviations of scipy's).

    Returns:
        The (un-normed) distance; NaN when either profile holds no values.

    Raises:
        InvalidParameter: the two profiles were not made on the same edges.
    """
    _check_same_layout(reference, current)
    if not reference.count or not current.count:
        return math.nan
    ref_counts = np.asarray(reference.histogram, dtype=np.float64)
    cur_counts = np.asarray(current.histogram, dtype=np.float64)
    ref_means = np.divide(reference.bin_sums, ref_counts, out=np.zeros_like(ref_counts), where=ref_counts > 0)
    cur_means = np.divide(current.bin_sums, cur_counts, out=np.zeros_like(cur_counts), where=cur_counts > 0)
    return float(stats.wasserstein_distance(ref_means, cur_means, ref_counts, cur_counts))


def _column_drift(ref: ColumnProfile, cur: ColumnProfile, preset: Preset, overrides: Overrides) -> ColumnDrift:
    """One column's test on its two profiles (the tests, thresholds and decisions of ``stats.selection``)."""
    kind: ColumnKind = "numerical" if ref.kind == "numerical" else "categorical"
    labels, ref_counts, cur_counts = _aligned_counts(ref, cur)
    seen = (ref_counts > 0) | (cur_counts > 0)
    k = int(seen.sum())
    details: dict[str, Any] = {"bins": k, "histogram": _histogram_kind(ref)}
    name = override_method(ref.name, kind, overrides)
    if name is None:
        name = _default_method(kind, k, ref.count, preset)
        if name == "wasserstein" and default_method(kind, ref.count, k) == "ks" and preset == "default":
            details["evidently_test"] = "ks"  # KS needs raw values; the profile can only give a distance
    else:
        _check_method(ref, kind, name)
    method = METHODS[name]
    score = _score(name, ref, cur, labels, ref_counts[seen], cur_counts[seen], seen)
    given = override_threshold(ref.name, kind, overrides)
    limit = method.threshold if given is None else given
    if ref.kind == "categorical":
        known = {value for value, _ in ref.categories}
        new = [(value, count) for value, count in cur.categories if value not in known]
        details["new_categories"] = [value for value, _ in new[:20]]
        details["new_category_share"] = sum(count for _, count in new) / cur.count
    else:
        details["out_of_range_share"] = (cur.histogram[0] + cur.histogram[-1]) / cur.count
    return ColumnDrift(
        column=ref.name,
        kind=kind,
        test=name,
        score=score,
        threshold=limit,
        drifted=is_drifted(score, limit, method.comparison),
        score_is_p_value=method.score_is_p_value,
        binning="reference_bins",
        reference_rows=ref.count,
        current_rows=cur.count,
        details=details,
    )


def _default_method(kind: ColumnKind, k: int, reference_rows: int, preset: Preset) -> str:
    """Evidently's default test (``stats.selection``), with Wasserstein where it would pick KS; or the robust
    preset's: a distance, never a p-value."""
    if preset == "robust":
        return "wasserstein" if kind == "numerical" and k > 5 else "jensenshannon"
    name = default_method(kind, reference_rows, k)
    return "wasserstein" if name == "ks" else name


def _score(
    method: str,
    ref: ColumnProfile,
    cur: ColumnProfile,
    labels: list[Any],
    ref_counts: IntArray,
    cur_counts: IntArray,
    seen: npt.NDArray[np.bool_],
) -> float:
    """The test's score on the bins holding values on either side."""
    if method == "wasserstein":
        return histogram_wasserstein(ref, cur) / max(ref.std, 0.001)
    if method == "chisquare":
        return binned.chisquare_counts(ref_counts, cur_counts)
    if method == "z":
        order = np.arange(ref_counts.size)
        if ref.kind == "categorical":  # Evidently's "0" is the first value in sorted order
            kept = [label for label, keep in zip(labels, seen, strict=True) if keep]
            order = np.asarray(sorted(range(len(kept)), key=lambda i: _sort_key(kept[i])), dtype=np.int64)
        first = int(order[0])
        return binned.z_test_counts(
            int(ref_counts.sum() - ref_counts[first]),
            int(ref_counts.sum()),
            int(cur_counts.sum() - cur_counts[first]),
            int(cur_counts.sum()),
        )
    ref_shares, cur_shares = binned.shares(ref_counts), binned.shares(cur_counts)
    tests: dict[str, Callable[[FloatArray, FloatArray], float]] = {
        "psi": binned.psi,
        "kl_div": binned.kl_div,
        "jensenshannon": binned.jensenshannon,
    }
    return tests[method](ref_shares, cur_shares)


def _aligned_counts(ref: ColumnProfile, cur: ColumnProfile) -> tuple[list[Any], IntArray, IntArray]:
    """Bin labels and both sides' counts on the same bins (categories: the reference's, the new ones, other)."""
    if ref.kind == "numerical":
        return (
            list(range(len(ref.histogram))),
            np.asarray(ref.histogram, dtype=np.int64),
            np.asarray(cur.histogram, dtype=np.int64),
        )
    ref_map, cur_map = dict(ref.categories), dict(cur.categories)
    labels: list[Any] = [*ref_map, *(value for value in cur_map if value not in ref_map)]
    ref_counts = [ref_map.get(value, 0) for value in labels]
    cur_counts = [cur_map.get(value, 0) for value in labels]
    if ref.other or cur.other:
        labels.append(_OTHER)
        ref_counts.append(ref.other)
        cur_counts.append(cur.other)
    return labels, np.asarray(ref_counts, dtype=np.int64), np.asarray(cur_counts, dtype=np.int64)


def _check_method(column: ColumnProfile, kind: ColumnKind, name: str) -> None:
    """Raise unless the test ``name`` may be asked for on this column's profiles."""
    allowed = sorted(m.name for m in METHODS.values() if kind in m.kinds and m.name not in _RAW_VALUE_TESTS)
    if name in allowed:
        return
    why = " (it needs raw values; profiles hold histograms)" if name in _RAW_VALUE_TESTS else ""
    raise InvalidParameter(
        f"Column {column.name!r} ({kind}) cannot use the test {name!r} on profiles{why}; expected one of {allowed}."
    )


def _histogram_kind(column: ColumnProfile) -> str:
    if column.kind == "categorical":
        return "categories"
    return "values" if column.discrete else "quantiles"
