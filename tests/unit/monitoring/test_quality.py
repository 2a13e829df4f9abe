"""Data quality against a reference, and model quality checked against scikit-learn to 1e-12."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics

from shipyard.errors import InvalidParameter
from shipyard.monitoring.profiles import build_reference_profile
from shipyard.monitoring.quality import classification_quality, data_quality, regression_quality


def _close(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


# --- data quality ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 1_000
    age = rng.integers(18, 90, n).astype(float)
    age[:50] = np.nan
    return pd.DataFrame(
        {"age": age, "city": rng.choice(["paris", "rome", "oslo"], n), "clicks": rng.integers(0, 100, n)}
    )


@pytest.fixture(scope="module")
def current(reference: pd.DataFrame) -> pd.DataFrame:
    frame = reference.iloc[:200].copy()
    frame.loc[:9, "age"] = 150.0  # 10 out of range
    frame.loc[10:14, "age"] = 5.0  # 5 out of range
    frame.loc[:2, "city"] = "lima"  # a new category, 3 rows
    frame.loc[3, "city"] = "kyiv"
    frame["clicks"] = frame["clicks"].astype(float)  # int -> float: a type change
    frame["extra"] = 1
    return pd.concat([frame, frame.iloc[:20]], ignore_index=True)  # 20 duplicate rows


def test_row_counts_and_duplicate_shares(reference: pd.DataFrame, current: pd.DataFrame) -> None:
    report = data_quality(reference, current)
    expected = (1_000, 220, int(current.duplicated().sum()), current.duplicated().mean(), reference.duplicated().mean())
    actual = (
        report.reference_rows,
        report.current_rows,
        report.current_duplicate_rows,
        report.current_duplicate_share,
        report.reference_duplicate_share,
    )
    assert expected == actual


def test_missing_shares(reference: pd.DataFrame, current: pd.DataFrame) -> None:
    age = data_quality(reference, current).column("age")
    expected = (0.05, current["age"].isna().mean(), int(current["age"].isna().sum()))
    assert expected == (age.reference_missing_share, age.current_missing_share, age.current_missing)


def test_out_of_range_values(reference: pd.DataFrame, current: pd.DataFrame) -> None:
    age = data_quality(reference, current).column("age")
    finite = current["age"].dropna()
    outside = int(((finite < reference["age"].min()) | (finite > reference["age"].max())).sum())
    assert (outside, outside / finite.size, 30) == (age.out_of_range_rows, age.out_of_range_share, outside)


def test_new_categories(reference: pd.DataFrame, current: pd.DataFrame) -> None:
    city = data_quality(reference, current).column("city")
    rows = int(current["city"].isin(["lima", "kyiv"]).sum())
    expected = (("lima", "kyiv"), 2, rows, rows / len(current))
    actual = (city.new_categories, city.new_category_count, city.new_category_rows, city.new_category_share)
    assert expected == actual


def test_type_change_and_column_changes(reference: pd.DataFrame, current: pd.DataFrame) -> None:
    report = data_quality(reference, current.drop(columns=["city"]))
    clicks = report.column("clicks")
    expected = ("integer", "float", True, ("city",), ("extra",))
    assert expected == (
        clicks.reference_type,
        clicks.current_type,
        clicks.type_changed,
        report.missing_columns,
        report.new_columns,
    )


def test_a_stored_profile_gives_the_same_column_answers(reference: pd.DataFrame, current: pd.DataFrame) -> None:
    from_frame = data_quality(reference, current)
    from_profile = data_quality(build_reference_profile(reference), current)
    assert (from_frame.columns, None) == (from_profile.columns, from_profile.reference_duplicate_share)


def test_quality_report_is_json_ready(reference: pd.DataFrame, current: pd.DataFrame) -> None:
    doc = json.loads(json.dumps(data_quality(reference, current).to_dict(), allow_nan=False))
    assert ["lima", "kyiv"] == next(c for c in doc["columns"] if c["column"] == "city")["new_categories"]


def test_current_that_is_not_a_frame_raises(reference: pd.DataFrame) -> None:
    with pytest.raises(InvalidParameter, match="must be a pandas DataFrame"):
        data_quality(reference, [1, 2])  # type: ignore[arg-type]


# --- classification -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def binary() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    n = 2_000
    y_true = rng.integers(0, 2, n)
    score = np.clip(0.35 * y_true + rng.random(n) * 0.65, 0, 1).round(2)  # rounded: ties in the scores
    score[:5] = [0.0, 1.0, 0.0, 1.0, 0.5]  # certain and wrong: log loss must clip
    y_pred = (score >= 0.5).astype(int)
    segment = rng.choice(["eu", "us", "apac"], n)
    return y_true, y_pred, score, segment


def test_binary_metrics_match_sklearn(binary: tuple[np.ndarray, ...]) -> None:
    y_true, y_pred, score, _ = binary
    quality = classification_quality(y_true, y_pred, proba=score)
    expected = [
        metrics.accuracy_score(y_true, y_pred),
        metrics.precision_score(y_true, y_pred, zero_division=0),
        metrics.recall_score(y_true, y_pred, zero_division=0),
        metrics.f1_score(y_true, y_pred, zero_division=0),
        metrics.roc_auc_score(y_true, score),
        metrics.log_loss(y_true, score),
    ]
    actual = [quality.accuracy, quality.precision, quality.recall, quality.f1, quality.roc_auc, quality.log_loss]
    assert ("binary", [True] * 6) == (quality.average, [_close(a, b) for a, b in zip(expected, actual, strict=True)])


def test_binary_per_class_metrics_match_sklearn(binary: tuple[np.ndarray, ...]) -> None:
    y_true, y_pred, _, _ = binary
    precision, recall, f1, support = metrics.precision_recall_fscore_support(y_true, y_pred, zero_division=0)
    quality = classification_quality(y_true, y_pred)
    expected = [(label, True, True, True, int(s)) for label, s in zip([0, 1], support, strict=True)]
    actual = [
        (c.label, _close(c.precision, p), _close(c.recall, r), _close(c.f1, f), c.support)
        for c, p, r, f in zip(quality.per_class, precision, recall, f1, strict=True)
    ]
    assert expected == actual


def test_segments_match_sklearn_on_each_segment(binary: tuple[np.ndarray, ...]) -> None:
    y_true, y_pred, score, segment = binary
    quality = classification_quality(y_true, y_pred, proba=score, segments=pd.Series(segment))
    expected = {
        name: (
            metrics.f1_score(y_true[segment == name], y_pred[segment == name]),
            metrics.roc_auc_score(y_true[segment == name], score[segment == name]),
        )
        for name in ["apac", "eu", "us"]
    }
    actual = {name: (q.f1, q.roc_auc) for name, q in quality.segments.items()}
    assert (list(expected), True) == (
        list(actual),
        all(_close(expected[k][0], actual[k][0]) and _close(expected[k][1], actual[k][1]) for k in expected),
    )


def test_multiclass_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(3)
    n, labels = 3_000, ["bird", "cat", "dog"]
    logits = rng.normal(size=(n, 3))
    y_true = np.array(labels)[rng.integers(0, 3, n)]
    logits[np.arange(n), np.searchsorted(labels, y_true)] += 1.0
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y_pred = np.array(labels)[proba.argmax(axis=1)]
    quality = classification_quality(y_true, y_pred, proba=proba, labels=labels)
    expected = [
        metrics.accuracy_score(y_true, y_pred),
        metrics.precision_score(y_true, y_pred, average="macro", zero_division=0),
        metrics.recall_score(y_true, y_pred, average="macro", zero_division=0),
        metrics.f1_score(y_true, y_pred, average="macro", zero_division=0),
        metrics.roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=labels),
        metrics.log_loss(y_true, proba, labels=labels),
    ]
    actual = [quality.accuracy, quality.precision, quality.recall, quality.f1, quality.roc_auc, quality.log_loss]
    assert ("macro", [True] * 6) == (quality.average, [_close(a, b) for a, b in zip(expected, actual, strict=True)])


def test_class_never_predicted_has_zero_precision() -> None:
    quality = classification_quality([0, 1, 2, 2], [0, 1, 1, 1], labels=[0, 1, 2])
    expected = metrics.precision_score([0, 1, 2, 2], [0, 1, 1, 1], average=None, zero_division=0).tolist()
    assert expected == [c.precision for c in quality.per_class]


def test_roc_auc_of_a_single_class_is_nan() -> None:
    quality = classification_quality([1, 1, 1], [1, 0, 1], proba=[0.9, 0.2, 0.7], labels=[0, 1])
    assert math.isnan(quality.roc_auc or 0.0)


def test_classification_report_is_json_ready(binary: tuple[np.ndarray, ...]) -> None:
    y_true, y_pred, score, segment = binary
    doc = classification_quality(y_true, y_pred, proba=score, segments=segment).to_dict()
    assert ["apac", "eu", "us"] == list(json.loads(json.dumps(doc, allow_nan=False))["segments"])


def test_mismatched_lengths_raise() -> None:
    with pytest.raises(InvalidParameter, match="y_true has 3 rows but y_pred has 2"):
        classification_quality([0, 1, 1], [0, 1])


def test_empty_labels_raise() -> None:
    with pytest.raises(InvalidParameter, match="y_true is empty"):
        classification_quality([], [])


def test_missing_labels_raise() -> None:
    with pytest.raises(InvalidParameter, match="y_true has missing labels"):
        classification_quality(pd.Series([0, None, 1]), [0, 1, 1])


def test_prediction_outside_labels_raises() -> None:
    with pytest.raises(InvalidParameter, match=r"y_pred holds labels not in labels \[0, 1\]: \['7'\]"):
        classification_quality([0, 1], [0, 7], labels=[0, 1])


def test_probabilities_of_the_wrong_shape_raise() -> None:
    with pytest.raises(InvalidParameter, match="proba must have one row per label"):
        classification_quality([0, 1, 2], [0, 1, 2], proba=[0.2, 0.5, 0.9])


def test_segments_of_another_length_raise() -> None:
    with pytest.raises(InvalidParameter, match="segments has 2"):
        classification_quality([0, 1, 1], [0, 1, 1], segments=["a", "b"])


# --- regression -----------------------------------------------------------------------------------------------


def test_regression_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(4)
    y_true = rng.normal(10, 3, 5_000)
    y_true[:7] = 0.0  # MAPE leaves these out
    y_pred = y_true + rng.normal(0, 1, 5_000)
    quality = regression_quality(y_true, y_pred)
    nonzero = y_true != 0
    expected = [
        metrics.mean_absolute_error(y_true, y_pred),
        metrics.root_mean_squared_error(y_true, y_pred),
        metrics.mean_absolute_percentage_error(y_true[nonzero], y_pred[nonzero]),
        metrics.r2_score(y_true, y_pred),
    ]
    actual = [quality.mae, quality.rmse, quality.mape, quality.r2]
    assert (4_993, [True] * 4) == (quality.mape_rows, [_close(a, b) for a, b in zip(expected, actual, strict=True)])


def test_regression_segments_match_sklearn() -> None:
    rng = np.random.default_rng(5)
    y_true, segment = rng.normal(size=600), rng.integers(0, 3, 600)
    y_pred = y_true + rng.normal(0, 0.5, 600) * (segment + 1)
    quality = regression_quality(y_true, y_pred, segments=segment)
    expected = {k: metrics.r2_score(y_true[segment == k], y_pred[segment == k]) for k in [0, 1, 2]}
    assert (True, True) == (
        list(expected) == list(quality.segments),
        all(_close(expected[k], quality.segments[k].r2) for k in expected),
    )


def test_r2_of_a_constant_target_follows_sklearn() -> None:
    expected = (metrics.r2_score([2.0, 2.0], [2.0, 2.0]), metrics.r2_score([2.0, 2.0], [1.0, 2.0]))
    assert expected == (regression_quality([2.0, 2.0], [2.0, 2.0]).r2, regression_quality([2.0, 2.0], [1.0, 2.0]).r2)


def test_mape_of_all_zero_targets_is_nan() -> None:
    quality = regression_quality([0.0, 0.0], [1.0, 2.0])
    assert (0, True) == (quality.mape_rows, math.isnan(quality.mape))


def test_non_numeric_targets_raise() -> None:
    with pytest.raises(InvalidParameter, match="y_true must hold numbers"):
        regression_quality(["a", "b"], [1.0, 2.0])


def test_missing_targets_raise() -> None:
    with pytest.raises(InvalidParameter, match="y_pred holds missing or infinite values"):
        regression_quality([1.0, 2.0], [1.0, np.nan])
