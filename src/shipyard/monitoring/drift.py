"""Data drift between a reference and a current data frame: Evidently's DataDriftPreset, or the robust preset."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING

from shipyard.errors import InvalidParameter
from shipyard.monitoring.entities import ColumnDrift, ColumnKind, DriftReport, Preset
from shipyard.monitoring.stats.columns import TEXT_REASON, ColumnSkipped, infer_kind, test_column
from shipyard.monitoring.stats.selection import Overrides

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["data_drift"]


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
    if preset not in {"default", "robust"}:
        raise InvalidParameter(f"preset={preset!r} is not a drift preset; expected 'default' or 'robust'.")
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
    overrides.validate()
    kinds, skipped = _column_kinds(reference, current, columns, numerical_columns, categorical_columns)

    results: dict[str, ColumnDrift] = {}
    failures: dict[str, str] = {}
    pool_size = max(1, min(workers or os.cpu_count() or 1, len(kinds)))
    with ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="drift") as pool:
        futures: dict[Future[ColumnDrift], str] = {
            pool.submit(test_column, name, kind, reference[name], current[name], preset, overrides): name
            for name, kind in kinds.items()
        }
        for done, future in enumerate(as_completed(futures), start=1):
            name = futures[future]
            try:
                results[name] = future.result()
            except ColumnSkipped as exc:
                failures[name] = str(exc)
            if progress is not None:
                progress(done=done, total=len(futures), column=name)

    skipped.update(failures)
    return DriftReport(
        columns=tuple(results[name] for name in kinds if name in results),
        preset=preset,
        drift_share=drift_share,
        skipped={name: skipped[name] for name in _ordered(current, reference, skipped)},
        reference_rows=len(reference),
        current_rows=len(current),
    )


def _column_kinds(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: Sequence[str] | None,
    numerical_columns: Iterable[str] | None,
    categorical_columns: Iterable[str] | None,
) -> tuple[dict[str, ColumnKind], dict[str, str]]:
    """Each column to test with its kind, in the current data's order, and the columns skipped with why."""
    explicit: dict[str, ColumnKind] = dict.fromkeys(numerical_columns or (), "numerical")
    for name in categorical_columns or ():
        if explicit.get(name) == "numerical":
            raise InvalidParameter(f"Column {name!r} is listed as both numerical and categorical; expected one.")
        explicit[name] = "categorical"
    wanted = list(columns) if columns is not None else list(current.columns)
    for name in [*wanted, *explicit]:
        for frame, side in ((current, "current"), (reference, "reference")):
            if name not in frame.columns and (columns is not None or name in explicit or side == "current"):
                raise InvalidParameter(f"Column {name!r} is not in the {side} data; expected one of its columns.")
    kinds: dict[str, ColumnKind] = {}
    skipped: dict[str, str] = {}
    for name in wanted:
        if name not in reference.columns:
            skipped[name] = "not in the reference data"
            continue
        if name in explicit:
            kinds[name] = explicit[name]
            continue
        kind, reason = infer_kind(current[name])
        if kind == "text":
            skipped[name] = TEXT_REASON
        elif kind is None:
            skipped[name] = reason
        else:
            kinds[name] = kind
    return kinds, skipped


def _ordered(current: pd.DataFrame, reference: pd.DataFrame, names: Mapping[str, str]) -> list[str]:
    order = {name: i for i, name in enumerate([*current.columns, *reference.columns])}
    return sorted(names, key=lambda name: order.get(name, len(order)))
