"""What monitoring computes: per-column drift results, a data set's drift report, and their JSON shape.

Frozen, typed and free of I/O; every result says which test, which threshold and which binning produced it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Binning", "ColumnDrift", "ColumnKind", "DriftReport", "Preset"]

ColumnKind = Literal["numerical", "categorical"]
"""How a column is tested (Evidently's text columns are out of scope: they are skipped and listed)."""

Preset = Literal["default", "robust"]
"""``default``: Evidently's data drift preset, test for test and score for score. ``robust``: effect sizes and
explicit handling of new and rare categories instead of p-values that flag negligible shifts on large samples."""

Binning = Literal["pooled_sturges", "per_value", "reference_bins", "none"]
"""How a binned test's histogram was made: ``pooled_sturges`` (Evidently: equal-width Sturges bins over the pooled
range of both data sets), ``per_value`` (one bin per distinct value), ``reference_bins`` (bins fixed by a stored
reference profile: what profile-based monitoring uses), ``none`` (the test needs no bins: KS, Wasserstein, z...)."""


@dataclass(frozen=True)
class ColumnDrift:
    """One column's drift test.

    Attributes:
        column: the column's name.
        kind: numerical or categorical.
        test: the test's name (``ks``, ``wasserstein``, ``psi``, ``jensenshannon``, ``kl_div``, ``chisquare``,
            ``z``, ``anderson``, ``cramer_von_mises``, or a robust preset test).
        score: the test's score (a p-value or a distance; NaN when undefined).
        threshold: the threshold it is compared with.
        drifted: the decision.
        score_is_p_value: True when a smaller score means more drift (p-values), False for distances.
        binning: how its histogram was made.
        reference_rows: non-missing reference values tested.
        current_rows: non-missing current values tested.
        details: anything else worth showing (new categories, the effect size next to a p-value...).
    """

    column: str
    kind: ColumnKind
    test: str
    score: float
    threshold: float
    drifted: bool
    score_is_p_value: bool
    binning: Binning = "none"
    reference_rows: int = 0
    current_rows: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN scores become None)."""
        score = self.score if self.score == self.score else None  # NaN != NaN
        return {
            "column": self.column,
            "kind": self.kind,
            "test": self.test,
            "score": score,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "score_is_p_value": self.score_is_p_value,
            "binning": self.binning,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "details": self.details,
        }


@dataclass(frozen=True)
class DriftReport:
    """A data set's drift: every tested column, and the share of drifted columns.

    Attributes:
        columns: one result per tested column, in the data's column order.
        preset: the preset that chose the tests.
        drift_share: the share of drifted columns at which the data set counts as drifted (0.5 as Evidently).
        skipped: columns not tested, with the reason (``{"id": "text column"}``).
        reference_rows: rows in the reference data.
        current_rows: rows in the current data.
    """

    columns: tuple[ColumnDrift, ...]
    preset: Preset = "default"
    drift_share: float = 0.5
    skipped: dict[str, str] = field(default_factory=dict)
    reference_rows: int = 0
    current_rows: int = 0

    @property
    def drifted_count(self) -> int:
        return sum(1 for column in self.columns if column.drifted)

    @property
    def drifted_share(self) -> float:
        return self.drifted_count / len(self.columns) if self.columns else 0.0

    @property
    def dataset_drift(self) -> bool:
        """Evidently's rule: drifted when the share of drifted columns is at least ``drift_share``."""
        return bool(self.columns) and self.drifted_share >= self.drift_share

    def column(self, name: str) -> ColumnDrift:
        for result in self.columns:
            if result.column == name:
                return result
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "preset": self.preset,
            "drift_share": self.drift_share,
            "drifted_count": self.drifted_count,
            "drifted_share": self.drifted_share,
            "dataset_drift": self.dataset_drift,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "columns": [column.to_dict() for column in self.columns],
            "skipped": dict(self.skipped),
        }
