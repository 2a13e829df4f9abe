"""Data quality against a reference (missing values, new categories, out-of-range values, type changes, duplicates)
and model quality from predictions joined with ground truth (classification and regression, overall and per segment).

Model metrics are computed with numpy and match scikit-learn's (the tests check every one to 1e-12), with these
choices: precision, recall and F1 are 0 where undefined (scikit-learn's ``zero_division=0``); MAPE leaves out rows
whose target is 0 (scikit-learn divides by machine epsilon there instead); log loss clips probabilities to
``[eps, 1 - eps]`` as scikit-learn does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from shipyard.errors import InvalidParameter
from shipyard.monitoring.profiles import Profile, ProfileKind, build_reference_profile
from shipyard.monitoring.profiles._build import _family

__all__ = [
    "ClassMetrics",
    "ClassificationQuality",
    "ColumnQuality",
    "QualityReport",
    "RegressionQuality",
    "classification_quality",
    "data_quality",
    "regression_quality",
]

FloatArray = npt.NDArray[np.float64]
_LISTED_CATEGORIES = 20


# --- data quality -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnQuality:
    """One column's quality in the current data against the reference.

    Attributes:
        column: the column's name.
        kind: its kind in the reference profile.
        reference_type: the reference's type family (``integer``, ``float``, ``string``...).
        current_type: the current data's type family.
        type_changed: the families differ (an int column that now holds floats counts: usually a new missing value).
        reference_missing_share: null values' share of the reference rows.
        current_missing_share: null values' share of the current rows.
        current_missing: null values in the current data.
        new_categories: up to 20 current categories the reference does not have, most frequent first.
        new_category_count: distinct new categories.
        new_category_rows: current rows holding a new category.
        new_category_share: their share of the current non-missing values.
        out_of_range_rows: finite current values below the reference minimum or above its maximum.
        out_of_range_share: their share of the current finite values.
        reference_min: the reference minimum (numerical columns).
        reference_max: the reference maximum (numerical columns).
    """

    column: str
    kind: ProfileKind
    reference_type: str
    current_type: str
    type_changed: bool
    reference_missing_share: float
    current_missing_share: float
    current_missing: int
    new_categories: tuple[Any, ...] = ()
    new_category_count: int = 0
    new_category_rows: int = 0
    new_category_share: float = 0.0
    out_of_range_rows: int = 0
    out_of_range_share: float = 0.0
    reference_min: float | None = None
    reference_max: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        doc = asdict(self)
        doc["new_categories"] = list(self.new_categories)
        return doc


@dataclass(frozen=True)
class QualityReport:
    """The current data's quality against the reference.

    Attributes:
        reference_rows: rows in the reference.
        current_rows: rows in the current data.
        current_duplicate_rows: current rows identical to an earlier current row (all columns).
        current_duplicate_share: their share of the current rows.
        reference_duplicate_share: the same share in the reference; None when the reference is a profile
            (duplicates do not merge, so profiles do not keep them).
        columns: one entry per reference column found in the current data, in the reference's order.
        missing_columns: reference columns the current data lacks.
        new_columns: current columns the reference lacks.
    """

    reference_rows: int
    current_rows: int
    current_duplicate_rows: int
    current_duplicate_share: float
    reference_duplicate_share: float | None
    columns: tuple[ColumnQuality, ...]
    missing_columns: tuple[str, ...] = ()
    new_columns: tuple[str, ...] = ()

    def column(self, name: str) -> ColumnQuality:
        """The entry of column ``name`` (`KeyError` if it has none)."""
        for entry in self.columns:
            if entry.column == name:
                return entry
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "current_duplicate_rows": self.current_duplicate_rows,
            "current_duplicate_share": self.current_duplicate_share,
            "reference_duplicate_share": self.reference_duplicate_share,
            "columns": [entry.to_dict() for entry in self.columns],
            "missing_columns": list(self.missing_columns),
            "new_columns": list(self.new_columns),
        }


def data_quality(
    reference: pd.DataFrame | Profile,
    current: pd.DataFrame,
    *,
    numerical_columns: Sequence[str] | None = None,
    categorical_columns: Sequence[str] | None = None,
) -> QualityReport:
    """The current data's quality against the reference: missing shares, new categories, out-of-range values, type
    changes, row counts and duplicate rows.

    A reference frame is profiled first (`build_reference_profile`), so a stored profile gives the same answers,
    except that a profile keeps only its ``category_cap`` most frequent categories (a category beyond the cap
    then counts as new) and no duplicate count.

    Args:
        reference: the reference data, or its profile.
        current: the current data.
        numerical_columns: as for `build_reference_profile` (ignored when ``reference`` is a profile).
        categorical_columns: as for `build_reference_profile` (ignored when ``reference`` is a profile).

    Returns:
        The report.

    Raises:
        InvalidParameter: ``current`` is not a DataFrame, or the reference is empty.

    Example:
        >>> report = data_quality(train_frame, today_frame)  # doctest: +SKIP
        >>> report.column("age").out_of_range_share  # doctest: +SKIP
        0.002
    """
    if not isinstance(current, pd.DataFrame):
        raise InvalidParameter(f"The current data must be a pandas DataFrame, got {type(current).__name__}.")
    reference_duplicates: float | None = None
    if isinstance(reference, pd.DataFrame):
        profile = build_reference_profile(
            reference, numerical_columns=numerical_columns, categorical_columns=categorical_columns
        )
        reference_duplicates = _duplicate_rows(reference) / len(reference)
    elif isinstance(reference, Profile):
        profile = reference
    else:
        raise InvalidParameter(f"The reference must be a DataFrame or a Profile, got {type(reference).__name__}.")
    names = [str(name) for name in current.columns]
    entries = [
        _column_quality(column, profile.rows, current[column.name])
        for column in profile.columns
        if column.name in names
    ]
    known = {column.name for column in profile.columns}
    duplicates = _duplicate_rows(current)
    return QualityReport(
        reference_rows=profile.rows,
        current_rows=len(current),
        current_duplicate_rows=duplicates,
        current_duplicate_share=duplicates / len(current) if len(current) else 0.0,
        reference_duplicate_share=reference_duplicates,
        columns=tuple(entries),
        missing_columns=tuple(column.name for column in profile.columns if column.name not in names),
        new_columns=tuple(name for name in names if name not in known),
    )


def _column_quality(reference: Any, reference_rows: int, values: pd.Series) -> ColumnQuality:
    """One column's entry: ``reference`` is its `ColumnProfile`."""
    rows = len(values)
    missing = int(values.isna().sum())
    current_type = _family(values)
    entry = ColumnQuality(
        column=reference.name,
        kind=reference.kind,
        reference_type=reference.value_type,
        current_type=current_type,
        type_changed=current_type != reference.value_type,
        reference_missing_share=reference.missing / reference_rows if reference_rows else 0.0,
        current_missing_share=missing / rows if rows else 0.0,
        current_missing=missing,
    )
    if reference.kind == "numerical" and current_type in ("integer", "float", "bool") and reference.count:
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
        finite = numbers[np.isfinite(numbers)]
        outside = int(np.count_nonzero((finite < reference.minimum) | (finite > reference.maximum)))
        return replace(
            entry,
            out_of_range_rows=outside,
            out_of_range_share=outside / finite.size if finite.size else 0.0,
            reference_min=reference.minimum,
            reference_max=reference.maximum,
        )
    if reference.kind == "categorical":
        counts = values.value_counts(dropna=True)
        counts = counts[counts > 0]
        known = pd.Index([value for value, _ in reference.categories], dtype=object)
        new = counts[~pd.Index(counts.index.tolist(), dtype=object).isin(known)]
        new_rows = int(new.sum())
        present = int(counts.sum())
        return replace(
            entry,
            new_categories=tuple(new.index.tolist()[:_LISTED_CATEGORIES]),
            new_category_count=len(new),
            new_category_rows=new_rows,
            new_category_share=new_rows / present if present else 0.0,
        )
    return entry


def _duplicate_rows(frame: pd.DataFrame) -> int:
    """Rows identical to an earlier row (unhashable cells, such as lists, compare by their text)."""
    if frame.empty:
        return 0
    try:
        return int(frame.duplicated().sum())
    except TypeError:
        return int(frame.astype(str).duplicated().sum())


# --- model quality ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassMetrics:
    """One class's precision, recall and F1 (one-vs-rest), and its support (true rows of the class)."""

    label: Any
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class ClassificationQuality:
    """Classification quality.

    Attributes:
        rows: rows scored.
        accuracy: the share of correct predictions.
        precision: of the positive label (``average="binary"``) or the unweighted mean over labels (``macro``).
        recall: as ``precision``.
        f1: as ``precision``.
        average: ``binary`` (two labels) or ``macro``.
        roc_auc: binary ROC AUC, or the one-vs-rest macro average over labels present with both outcomes; None
            without probabilities, NaN when undefined (a single class in ``y_true``).
        log_loss: mean cross-entropy with probabilities clipped to ``[eps, 1 - eps]``; None without them.
        per_class: per-label metrics in label order.
        segments: the same metrics per segment value (each without further segments).
    """

    rows: int
    accuracy: float
    precision: float
    recall: float
    f1: float
    average: str
    roc_auc: float | None
    log_loss: float | None
    per_class: tuple[ClassMetrics, ...]
    segments: dict[Any, ClassificationQuality] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (segment keys become strings, NaN becomes None)."""
        doc = {f.name: _clean(getattr(self, f.name)) for f in fields(self) if f.name not in ("per_class", "segments")}
        doc["per_class"] = [{k: _clean(v) for k, v in asdict(entry).items()} for entry in self.per_class]
        doc["segments"] = {str(key): value.to_dict() for key, value in self.segments.items()}
        return doc


@dataclass(frozen=True)
class RegressionQuality:
    """Regression quality.

    Attributes:
        rows: rows scored.
        mae: mean absolute error.
        rmse: root mean squared error.
        mape: mean absolute percentage error as a fraction (0.1 is 10 %), over rows whose target is not 0; NaN
            when every target is 0.
        mape_rows: the rows MAPE is computed on.
        r2: coefficient of determination (1 for a perfect fit of a constant target, 0 for an imperfect one, as
            scikit-learn; NaN for fewer than 2 rows).
        segments: the same metrics per segment value.
    """

    rows: int
    mae: float
    rmse: float
    mape: float
    mape_rows: int
    r2: float
    segments: dict[Any, RegressionQuality] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (segment keys become strings, NaN becomes None)."""
        doc = {f.name: _clean(getattr(self, f.name)) for f in fields(self) if f.name != "segments"}
        doc["segments"] = {str(key): value.to_dict() for key, value in self.segments.items()}
        return doc


def classification_quality(
    y_true: Any,
    y_pred: Any,
    *,
    proba: Any = None,
    labels: Sequence[Any] | None = None,
    segments: Any = None,
) -> ClassificationQuality:
    """Accuracy, precision, recall, F1, ROC AUC and log loss, overall, per class and per segment.

    Args:
        y_true: the true labels (array-like).
        y_pred: the predicted labels.
        proba: predicted probabilities: one column per label in ``labels`` order, or for two labels a 1-D array
            of the positive (second) label's probability.
        labels: every label, in order; the last is the positive one when there are two. Default: the sorted
            labels found in ``y_true`` and ``y_pred``.
        segments: a column of the same length (any values: a feature, a region, a model version); rows whose
            segment is missing count overall only.

    Returns:
        The metrics, with ``segments`` keyed by segment value (sorted).

    Raises:
        InvalidParameter: empty or mismatched inputs, missing labels, a label outside ``labels``, probabilities
            of the wrong shape.

    Example:
        >>> quality = classification_quality(joined["label"], joined["prediction"], segments=joined["region"])
        >>> quality.f1, quality.segments["eu"].f1  # doctest: +SKIP
        (0.91, 0.88)
    """
    truth, predicted = _array(y_true, "y_true"), _array(y_pred, "y_pred")
    _same_length(len(truth), y_pred=len(predicted))
    for name, values in (("y_true", truth), ("y_pred", predicted)):
        if pd.isna(values).any():
            raise InvalidParameter(f"{name} has missing labels; drop the rows without ground truth first.")
    if labels is None:
        try:
            labels = sorted(set(truth.tolist()) | set(predicted.tolist()))
        except TypeError as exc:
            raise InvalidParameter(
                f"Labels of different types cannot be sorted; pass labels= in order: {exc}."
            ) from exc
    index = pd.Index(list(labels), dtype=object)
    if not index.is_unique or len(index) < 2:
        raise InvalidParameter(f"labels must be at least two distinct values, got {list(labels)}.")
    codes_true, codes_pred = _codes(index, truth, "y_true"), _codes(index, predicted, "y_pred")
    probabilities = None if proba is None else _probabilities(proba, len(truth), len(index))
    overall = _classification(codes_true, codes_pred, probabilities, list(index))
    groups = _segments(segments, len(truth))
    by_segment = {
        key: _classification(codes_true[rows], codes_pred[rows], None if proba is None else proba[rows], list(index))
        for key, rows in groups.items()
        for proba in [probabilities]
    }
    return replace(overall, segments=by_segment)


def regression_quality(y_true: Any, y_pred: Any, *, segments: Any = None) -> RegressionQuality:
    """MAE, RMSE, MAPE and R², overall and per segment.

    Args:
        y_true: the true values (array-like of numbers).
        y_pred: the predictions.
        segments: a column of the same length; rows whose segment is missing count overall only.

    Returns:
        The metrics, with ``segments`` keyed by segment value (sorted).

    Raises:
        InvalidParameter: empty or mismatched inputs, values that are not finite numbers.

    Example:
        >>> regression_quality([3.0, 5.0], [2.5, 5.5]).mae
        0.5
    """
    truth, predicted = _numbers(y_true, "y_true"), _numbers(y_pred, "y_pred")
    _same_length(len(truth), y_pred=len(predicted))
    groups = _segments(segments, len(truth))
    overall = _regression(truth, predicted)
    return replace(overall, segments={key: _regression(truth[rows], predicted[rows]) for key, rows in groups.items()})


def _classification(
    truth: npt.NDArray[np.int64], predicted: npt.NDArray[np.int64], proba: FloatArray | None, labels: list[Any]
) -> ClassificationQuality:
    k = len(labels)
    confusion = np.bincount(truth * k + predicted, minlength=k * k).reshape(k, k)
    hits = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    predicted_count = confusion.sum(axis=0)
    precision = _ratio(hits, predicted_count)
    recall = _ratio(hits, support)
    f1 = _ratio(2 * hits, support + predicted_count)  # 2tp / (2tp + fp + fn), as scikit-learn
    per_class = tuple(
        ClassMetrics(label, float(p), float(r), float(f), int(s))
        for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    )
    binary = k == 2

    def pick(values: FloatArray) -> float:
        return float(values[1]) if binary else float(values.mean())

    roc_auc = log_loss = None
    if proba is not None:
        roc_auc = _roc_auc(truth, proba, k)
        clipped = np.clip(proba, np.finfo(np.float64).eps, 1 - np.finfo(np.float64).eps)
        log_loss = float(-np.mean(np.log(clipped[np.arange(truth.size), truth])))
    return ClassificationQuality(
        rows=int(truth.size),
        accuracy=float(hits.sum() / truth.size),
        precision=pick(precision),
        recall=pick(recall),
        f1=pick(f1),
        average="binary" if binary else "macro",
        roc_auc=roc_auc,
        log_loss=log_loss,
        per_class=per_class,
    )


def _roc_auc(truth: npt.NDArray[np.int64], proba: FloatArray, k: int) -> float:
    """Binary AUC of the second label, or the one-vs-rest macro average over labels with both outcomes."""
    from scipy import stats  # type: ignore[import-untyped]  # scipy ships no type hints

    scores = []
    for label in [1] if k == 2 else range(k):
        positive = truth == label
        n_pos = int(positive.sum())
        n_neg = truth.size - n_pos
        if n_pos == 0 or n_neg == 0:
            continue
        ranks = stats.rankdata(proba[:, label])  # average ranks: ties count one half, as the ROC curve's trapezoids
        scores.append((float(ranks[positive].sum()) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return float(np.mean(scores)) if scores else math.nan


def _regression(truth: FloatArray, predicted: FloatArray) -> RegressionQuality:
    error = predicted - truth
    nonzero = truth != 0
    mape_rows = int(nonzero.sum())
    mape = float(np.mean(np.abs(error[nonzero]) / np.abs(truth[nonzero]))) if mape_rows else math.nan
    r2 = math.nan
    if truth.size >= 2:
        residual = float(np.sum(error**2))
        spread = float(np.sum((truth - truth.mean()) ** 2))
        r2 = 1 - residual / spread if spread else (1.0 if residual == 0 else 0.0)
    return RegressionQuality(
        rows=int(truth.size),
        mae=float(np.mean(np.abs(error))),
        rmse=float(np.sqrt(np.mean(error**2))),
        mape=mape,
        mape_rows=mape_rows,
        r2=r2,
    )


def _ratio(numerator: FloatArray, denominator: npt.NDArray[np.int64]) -> FloatArray:
    """``numerator / denominator``, 0 where the denominator is 0."""
    result: FloatArray = np.divide(
        numerator, denominator, out=np.zeros(numerator.shape, dtype=np.float64), where=denominator > 0
    )
    return result


def _array(values: Any, name: str) -> npt.NDArray[Any]:
    array = values.to_numpy() if isinstance(values, pd.Series | pd.Index) else np.asarray(values)
    if array.ndim != 1:
        raise InvalidParameter(f"{name} must be one-dimensional, got shape {array.shape}.")
    if array.size == 0:
        raise InvalidParameter(f"{name} is empty: quality needs at least one row.")
    result: npt.NDArray[Any] = array
    return result


def _numbers(values: Any, name: str) -> FloatArray:
    array = _array(values, name)
    try:
        numbers = np.asarray(array, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidParameter(f"{name} must hold numbers: {exc}.") from exc
    if not np.isfinite(numbers).all():
        raise InvalidParameter(f"{name} holds missing or infinite values; drop those rows first.")
    return numbers


def _same_length(expected: int, **others: int) -> None:
    for name, length in others.items():
        if length != expected:
            raise InvalidParameter(f"y_true has {expected} rows but {name} has {length}: they must be aligned.")


def _codes(index: pd.Index, values: npt.NDArray[Any], name: str) -> npt.NDArray[np.int64]:
    codes: npt.NDArray[np.int64] = np.asarray(index.get_indexer(pd.Index(values, dtype=object)), dtype=np.int64)
    if (codes < 0).any():
        unknown = sorted({str(value) for value in values[codes < 0]})[:5]
        raise InvalidParameter(f"{name} holds labels not in labels {list(index)}: {unknown}.")
    return codes


def _probabilities(proba: Any, rows: int, k: int) -> FloatArray:
    array = np.asarray(proba.to_numpy() if isinstance(proba, pd.Series | pd.DataFrame) else proba, dtype=np.float64)
    if array.ndim == 1 and k == 2:
        array = np.column_stack([1 - array, array])
    if array.ndim != 2 or array.shape != (rows, k):
        raise InvalidParameter(
            f"proba must have one row per label ({rows}) and one column per label ({k}), got shape {array.shape}."
        )
    if not np.isfinite(array).all():
        raise InvalidParameter("proba holds missing or infinite values.")
    return array


def _segments(segments: Any, rows: int) -> dict[Any, npt.NDArray[np.int64]]:
    """Row positions per segment value, sorted by value; rows without a segment are left out."""
    if segments is None:
        return {}
    column = pd.Series(_array(segments, "segments"))
    _same_length(rows, segments=len(column))
    positions = column.groupby(column, sort=True, dropna=True).indices
    return {key: np.asarray(value, dtype=np.int64) for key, value in positions.items()}


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value
