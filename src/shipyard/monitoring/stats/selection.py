"""Which drift test a column gets, with which threshold: Evidently's defaults and the caller's overrides.

One table (``METHODS``) lists every test with the column kinds it accepts, its default threshold and its
comparison: p-values drift below the threshold (``ks`` at or below it), distances at or above it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from shipyard.errors import InvalidParameter
from shipyard.monitoring.entities import ColumnKind

__all__ = [
    "METHODS",
    "Method",
    "Overrides",
    "default_method",
    "is_drifted",
    "override_method",
    "override_threshold",
    "resolve",
]

Comparison = Literal["le", "lt", "ge"]


@dataclass(frozen=True)
class Method:
    """A drift test: its name, the column kinds it accepts, its default threshold and its drift comparison.

    Attributes:
        name: the test's name, as Evidently spells it.
        kinds: the column kinds it may be asked for explicitly.
        threshold: its default threshold.
        comparison: ``le`` (drift if score <= threshold), ``lt`` (score < threshold) or ``ge`` (score >= threshold).
    """

    name: str
    kinds: frozenset[ColumnKind]
    threshold: float
    comparison: Comparison

    @property
    def score_is_p_value(self) -> bool:
        """True when a smaller score means more drift."""
        return self.comparison != "ge"


_NUM: frozenset[ColumnKind] = frozenset({"numerical"})
_CAT: frozenset[ColumnKind] = frozenset({"categorical"})
_BOTH: frozenset[ColumnKind] = frozenset({"numerical", "categorical"})

METHODS: Mapping[str, Method] = {
    method.name: method
    for method in (
        Method("ks", _NUM, 0.05, "le"),
        Method("wasserstein", _NUM, 0.1, "ge"),
        Method("anderson", _NUM, 0.1, "lt"),
        Method("cramer_von_mises", _NUM, 0.1, "le"),
        Method("chisquare", _CAT, 0.05, "lt"),
        Method("z", _CAT, 0.05, "lt"),
        Method("psi", _BOTH, 0.1, "ge"),
        Method("jensenshannon", _BOTH, 0.1, "ge"),
        Method("kl_div", _BOTH, 0.1, "ge"),
    )
}
"""Every test ``data_drift`` runs, by name (Evidently's names and default thresholds)."""


def is_drifted(score: float, threshold: float, comparison: Comparison) -> bool:
    """The drift decision; a NaN score never drifts (every comparison with NaN is false)."""
    if math.isnan(score):
        return False
    if comparison == "le":
        return score <= threshold
    if comparison == "lt":
        return score < threshold
    return score >= threshold


def default_method(kind: ColumnKind, reference_rows: int, distinct: int) -> str:
    """Evidently's automatic choice.

    Args:
        kind: the column's kind.
        reference_rows: non-missing reference values.
        distinct: distinct non-missing values of reference and current together.

    Example:
        >>> default_method("numerical", 5000, 100)
        'wasserstein'
    """
    if reference_rows > 1000:
        return "wasserstein" if kind == "numerical" and distinct > 5 else "jensenshannon"
    if kind == "numerical" and distinct > 5:
        return "ks"
    return "chisquare" if distinct > 2 else "z"


@dataclass(frozen=True)
class Overrides:
    """The caller's choice of tests and thresholds; per column wins over per kind wins over all columns."""

    method: str | None = None
    num_method: str | None = None
    cat_method: str | None = None
    per_column_method: Mapping[str, str] | None = None
    threshold: float | None = None
    num_threshold: float | None = None
    cat_threshold: float | None = None
    per_column_threshold: Mapping[str, float] | None = None

    def validate(self) -> None:
        """Raise ``InvalidParameter`` for an unknown test name or a test asked for a kind it cannot test."""
        checks: list[tuple[str | None, frozenset[ColumnKind] | None, str]] = [
            (self.method, None, "method"),
            (self.num_method, _NUM, "num_method"),
            (self.cat_method, _CAT, "cat_method"),
        ]
        checks += [(name, None, f"per_column_method[{column!r}]") for column, name in self.per_column_method_items()]
        for name, kinds, argument in checks:
            if name is None:
                continue
            method = METHODS.get(name)
            if method is None:
                raise InvalidParameter(f"{argument}={name!r} is not a drift test; expected one of {sorted(METHODS)}.")
            if kinds is not None and not kinds <= method.kinds:
                raise InvalidParameter(
                    f"{argument}={name!r} cannot test {next(iter(kinds))} columns; "
                    f"expected one of {sorted(m.name for m in METHODS.values() if kinds <= m.kinds)}."
                )

    def per_column_method_items(self) -> list[tuple[str, str]]:
        return list((self.per_column_method or {}).items())


def resolve(
    column: str, kind: ColumnKind, reference_rows: int, distinct: int, overrides: Overrides
) -> tuple[Method, float, bool]:
    """The column's test and threshold, and whether the test was chosen automatically.

    Raises:
        InvalidParameter: the chosen test cannot test this column's kind (``chisquare`` on a numerical column...).
    """
    name = override_method(column, kind, overrides)
    automatic = name is None
    if name is None:
        name = default_method(kind, reference_rows, distinct)
    method = METHODS[name]
    if not automatic and kind not in method.kinds:
        raise InvalidParameter(
            f"Column {column!r} is {kind} and {name!r} cannot test {kind} columns; "
            f"expected one of {sorted(m.name for m in METHODS.values() if kind in m.kinds)}."
        )
    threshold = override_threshold(column, kind, overrides)
    return method, method.threshold if threshold is None else threshold, automatic


def override_method(column: str, kind: ColumnKind, overrides: Overrides) -> str | None:
    """The caller's test for this column (per column, else per kind, else for all), or None."""
    per_column = (overrides.per_column_method or {}).get(column)
    per_kind = overrides.num_method if kind == "numerical" else overrides.cat_method
    return per_column or per_kind or overrides.method


def override_threshold(column: str, kind: ColumnKind, overrides: Overrides) -> float | None:
    """The caller's threshold for this column (per column, else per kind, else for all), or None."""
    threshold = (overrides.per_column_threshold or {}).get(column)
    if threshold is None:
        threshold = overrides.num_threshold if kind == "numerical" else overrides.cat_threshold
    if threshold is None:
        threshold = overrides.threshold
    return None if threshold is None else float(threshold)
