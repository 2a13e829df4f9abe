"""A/B test entities: per-variant summaries that merge exactly, and the frozen results of an analysis.

Frozen, typed and free of I/O; the statistics are in `analysis` and the bandit in `_bandit`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Self

from shipyard.errors import InvalidParameter, MissingExtra

try:
    import numpy as np
    import numpy.typing as npt
except ModuleNotFoundError as exc:  # pragma: no cover - the serving extra is installed wherever serving runs
    raise MissingExtra("numpy", "serving") from exc

__all__ = ["VERDICTS", "Analysis", "Comparison", "Kind", "VariantResult", "VariantSummary", "Verdict"]

#: What is measured: a rate of successes (0/1 outcomes) or the mean of a continuous outcome.
Kind = Literal["proportion", "mean"]
#: The verdict of one comparison, or of the whole test.
Verdict = Literal["winner", "loser", "no_difference_yet", "insufficient_data"]
#: Every verdict code, in order of precedence for the overall verdict.
VERDICTS: tuple[Verdict, ...] = ("winner", "insufficient_data", "no_difference_yet", "loser")

_KINDS: tuple[Kind, ...] = ("proportion", "mean")


@dataclass(frozen=True)
class VariantSummary:
    """What the analysis needs of one variant's outcomes: their count, mean and sample variance.

    Summaries of the same variant merge exactly (:meth:`merge`), so they can be kept as running totals.

    Attributes:
        name: the variant's name, as in the deployment spec.
        n: how many outcomes were observed.
        mean: their mean (the success rate for 0/1 outcomes); 0.0 when ``n`` is 0.
        variance: their sample variance (``ddof=1``); 0.0 when ``n`` is below 2.

    Example:
        >>> VariantSummary.from_counts("challenger", successes=250, n=1000).mean
        0.25
    """

    name: str
    n: int
    mean: float
    variance: float

    def __post_init__(self) -> None:
        if not self.name:
            raise InvalidParameter("A variant summary needs a non-empty name.")
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 0:
            raise InvalidParameter(f"Variant '{self.name}' has n={self.n!r}; expected a whole number >= 0.")
        if not (math.isfinite(self.mean) and math.isfinite(self.variance)) or self.variance < 0:
            raise InvalidParameter(
                f"Variant '{self.name}' has mean={self.mean!r} and variance={self.variance!r}; "
                "expected finite numbers and a variance >= 0."
            )

    @classmethod
    def from_values(cls, name: str, values: npt.ArrayLike) -> Self:
        """Summarise raw outcomes; NaN values (outcomes not known yet) are dropped.

        Args:
            name: the variant's name.
            values: the outcomes, any shape; 0/1 outcomes make a proportion summary.

        Raises:
            InvalidParameter: a value is infinite or not a number.
        """
        try:
            array = np.asarray(values, dtype=np.float64).ravel()
        except (TypeError, ValueError) as exc:
            raise InvalidParameter(f"Outcomes of variant '{name}' must be numbers: {exc}") from exc
        array = array[~np.isnan(array)]
        if not np.all(np.isfinite(array)):
            raise InvalidParameter(f"Outcomes of variant '{name}' include an infinite value; expected finite numbers.")
        n = int(array.size)
        mean = float(array.mean()) if n else 0.0
        variance = float(array.var(ddof=1)) if n >= 2 else 0.0
        return cls(name, n, mean, variance)

    @classmethod
    def from_counts(cls, name: str, successes: int, n: int) -> Self:
        """Summarise ``successes`` out of ``n`` 0/1 outcomes (the same summary as :meth:`from_values` on them).

        Raises:
            InvalidParameter: the counts are negative or ``successes`` exceeds ``n``.
        """
        if n < 0 or not 0 <= successes <= n:
            raise InvalidParameter(
                f"Variant '{name}' has {successes} successes out of {n}; expected 0 <= successes <= n."
            )
        if n == 0:
            return cls(name, 0, 0.0, 0.0)
        p = successes / n
        variance = p * (1.0 - p) * n / (n - 1) if n >= 2 else 0.0
        return cls(name, int(n), p, variance)

    def merge(self, other: VariantSummary) -> VariantSummary:
        """The summary of both sets of outcomes together (Chan et al.'s parallel-variance formula).

        Raises:
            InvalidParameter: the summaries are of different variants.
        """
        if other.name != self.name:
            raise InvalidParameter(f"Cannot merge summaries of different variants: '{self.name}' and '{other.name}'.")
        return _combine(self, other, self.name)


def _combine(a: VariantSummary, b: VariantSummary, name: str) -> VariantSummary:
    n = a.n + b.n
    if a.n == 0 or b.n == 0:
        kept = a if b.n == 0 else b
        return VariantSummary(name, kept.n, kept.mean, kept.variance)
    delta = b.mean - a.mean
    mean = a.mean + delta * b.n / n
    m2 = a.variance * (a.n - 1) + b.variance * (b.n - 1) + delta * delta * a.n * b.n / n
    return VariantSummary(name, n, mean, max(m2, 0.0) / (n - 1))


@dataclass(frozen=True)
class VariantResult:
    """One variant's estimate: its mean and a ``1 - alpha`` confidence interval (None where undefined)."""

    name: str
    n: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "n": self.n,
            "mean": _finite(self.mean),
            "ci_low": _finite(self.ci_low),
            "ci_high": _finite(self.ci_high),
        }


@dataclass(frozen=True)
class Comparison:
    """One challenger against the control.

    Attributes:
        variant: the challenger.
        control: the control it is compared with.
        difference: challenger mean minus control mean.
        ci_low: lower end of the ``1 - alpha`` interval of the difference.
        ci_high: upper end of that interval.
        statistic: the z (proportions) or Welch t (means) statistic; None when infinite or undefined.
        df: Welch-Satterthwaite degrees of freedom (means only).
        p_value: the two-sided p-value of the test.
        p_value_adjusted: the Holm-Bonferroni adjusted p-value (equal to ``p_value`` with one challenger); the
            verdict uses this one.
        relative_lift: ``difference / |control mean|``; None when the control mean is 0.
        required_n_per_variant: samples per variant needed to detect the observed difference at the analysis'
            alpha and power; None when no difference is observed (or it cannot be estimated yet).
        more_samples_per_variant: how many more that is than the smaller arm has (0 when already reached).
        samples_below_minimum: how many more samples the smaller arm needs to reach the analysis' minimum.
        verdict: ``winner`` (a variant is significantly better), ``loser`` (the challenger is significantly
            worse), ``no_difference_yet`` or ``insufficient_data``.
        winner: the better variant when the difference is significant.
        message: the verdict as one plain English sentence.
    """

    variant: str
    control: str
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    statistic: float | None
    df: float | None
    p_value: float | None
    p_value_adjusted: float | None
    relative_lift: float | None
    required_n_per_variant: int | None
    more_samples_per_variant: int | None
    samples_below_minimum: int
    verdict: Verdict
    winner: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: every float finite or None."""
        return {
            "variant": self.variant,
            "control": self.control,
            "difference": _finite(self.difference),
            "ci_low": _finite(self.ci_low),
            "ci_high": _finite(self.ci_high),
            "statistic": _finite(self.statistic),
            "df": _finite(self.df),
            "p_value": _finite(self.p_value),
            "p_value_adjusted": _finite(self.p_value_adjusted),
            "relative_lift": _finite(self.relative_lift),
            "required_n_per_variant": self.required_n_per_variant,
            "more_samples_per_variant": self.more_samples_per_variant,
            "samples_below_minimum": self.samples_below_minimum,
            "verdict": self.verdict,
            "winner": self.winner,
            "message": self.message,
        }


@dataclass(frozen=True)
class Analysis:
    """The analysis of one A/B test: every variant, every challenger against the control, and a verdict.

    Attributes:
        kind: ``proportion`` or ``mean``.
        control: the control variant's name.
        metric: the metric's name used in messages.
        alpha: the significance level.
        power: the power used for sample sizes.
        min_samples: the fewest samples per variant before any verdict but ``insufficient_data``.
        higher_is_better: whether a larger metric is better.
        p_value_adjustment: ``holm-bonferroni`` when several challengers were tested, else None.
        variants: per-variant estimates, in the order given.
        comparisons: each challenger against the control, in the order given.
        verdict: the overall verdict.
        winner: the winning variant when the verdict is ``winner`` (or the control when every challenger lost).
        message: the overall verdict as one plain English sentence.
    """

    kind: Kind
    control: str
    metric: str
    alpha: float
    power: float
    min_samples: int
    higher_is_better: bool
    p_value_adjustment: Literal["holm-bonferroni"] | None
    variants: tuple[VariantResult, ...]
    comparisons: tuple[Comparison, ...]
    verdict: Verdict
    winner: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for the REST API and the UI): every float finite or None."""
        return {
            "kind": self.kind,
            "control": self.control,
            "metric": self.metric,
            "alpha": self.alpha,
            "power": self.power,
            "min_samples": self.min_samples,
            "higher_is_better": self.higher_is_better,
            "p_value_adjustment": self.p_value_adjustment,
            "verdict": self.verdict,
            "winner": self.winner,
            "message": self.message,
            "variants": [v.to_dict() for v in self.variants],
            "comparisons": [c.to_dict() for c in self.comparisons],
        }


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None
