"""A deployment's A/B analysis and bandit weights, computed from its prediction log joined with posted feedback.

Each labelled prediction row is one sample of the spec's metric for the variant that answered it (shadow rows
are left out: their answers were never shown). The statistics
themselves are in :mod:`shipyard.serving.rollout.analysis`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shipyard.serving.rollout.analysis import Kind, ThompsonAllocator, VariantSummary, analyse
from shipyard.serving.rollout.deployment import DeploymentSpec

__all__ = ["analyse_deployment", "bandit_weights", "metric_samples"]

_LOWER_IS_BETTER = ("absolute_error", "squared_error")


def _prediction_column(columns: list[str]) -> str | None:
    if "prediction" in columns:
        return "prediction"
    candidates = sorted(column for column in columns if column.startswith("prediction."))
    return candidates[0] if candidates else None


def _equal(predictions: Any, labels: Any, label_values: Any) -> Any:
    """Per row: the prediction equals the label (numerically when both are numbers, else as text)."""
    import pandas as pd

    numeric = pd.to_numeric(predictions, errors="coerce")
    as_numbers = label_values.notna() & numeric.notna()
    same_number = np.isclose(numeric.fillna(np.nan).to_numpy(dtype=float), label_values.to_numpy(dtype=float))
    same_text = predictions.astype(str).to_numpy() == labels.astype(str).to_numpy()
    return np.where(as_numbers.to_numpy(), same_number, same_text).astype(float)


def metric_samples(spec: DeploymentSpec, joined: Any) -> tuple[dict[str, np.ndarray], Kind, bool]:
    """Per variant, the metric's value for every labelled row; with the test kind and whether higher is better."""
    metric = spec.analysis.metric
    samples: dict[str, np.ndarray] = {route.name: np.empty(0) for route in spec.routes}
    if joined is None or len(joined) == 0 or "label" not in joined.columns:
        return samples, ("mean" if metric in _LOWER_IS_BETTER else "proportion"), metric not in _LOWER_IS_BETTER
    rows = joined[joined["label"].notna()]
    if "shadow" in rows.columns:
        rows = rows[~rows["shadow"].astype(bool)]
    column = _prediction_column(list(rows.columns))
    kind: Kind = "proportion"
    if metric == "accuracy":
        if column is None:
            return samples, kind, True
        values = _equal(rows[column], rows["label"], rows["label_value"])
    elif metric in _LOWER_IS_BETTER:
        kind = "mean"
        if column is None:
            return samples, kind, False
        import pandas as pd

        error = pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=float) - rows["label_value"].to_numpy(
            dtype=float
        )
        values = np.abs(error) if metric == "absolute_error" else error**2
    else:  # "label": the posted value itself (a conversion, revenue, a rating)
        values = rows["label_value"].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        kind = "proportion" if finite.size and np.isin(finite, (0.0, 1.0)).all() else "mean"
    variants = rows["variant"].astype(str).to_numpy()
    for name in samples:
        chosen = values[variants == name]
        samples[name] = chosen[np.isfinite(chosen)]
    return samples, kind, metric not in _LOWER_IS_BETTER


def _joined(spec: DeploymentSpec, uri: str) -> Any:
    from shipyard.predlog._writer import join_feedback, read_feedback, read_predictions

    predictions = read_predictions(uri, spec.name)
    if predictions.num_rows == 0:
        return None
    return join_feedback(predictions, read_feedback(uri, spec.name))


def _summaries(samples: dict[str, np.ndarray]) -> list[VariantSummary]:
    return [VariantSummary.from_values(name, values) for name, values in samples.items()]


def analyse_deployment(spec: DeploymentSpec, uri: str) -> dict[str, Any]:
    """The A/B analysis of the spec's routes from the log at ``uri`` (JSON-ready, with a plain verdict)."""
    metric = spec.analysis.metric
    if len(spec.routes) < 2:
        return {"metric": metric, "message": "One route only: there is nothing to compare.", "variants": []}
    samples, kind, higher_is_better = metric_samples(spec, _joined(spec, uri))
    result = analyse(
        _summaries(samples),
        control=spec.control,
        kind=kind,
        alpha=spec.analysis.alpha,
        power=spec.analysis.power,
        min_samples=spec.analysis.min_samples,
        higher_is_better=higher_is_better,
        metric=metric,
    )
    return result.to_dict()


def bandit_weights(spec: DeploymentSpec, uri: str, *, seed: int | None = None) -> dict[str, float] | None:
    """Thompson-sampling weights for the spec's routes, or None when there are no labelled rows yet."""
    samples, kind, higher_is_better = metric_samples(spec, _joined(spec, uri))
    if not any(values.size for values in samples.values()):
        return None
    allocator = ThompsonAllocator(min_weight=spec.bandit.min_weight, max_weight=spec.bandit.max_weight, seed=seed)
    return allocator.weights(_summaries(samples), kind, higher_is_better=higher_is_better)
