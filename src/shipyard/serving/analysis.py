"""A/B test analysis (confidence intervals, significance tests, plain verdicts) and a Thompson-sampling allocator.

Pure numbers in, frozen results out: no I/O, so ``shipyard deployments status``, the UI and the router can all
call it. Each variant is reduced to a :class:`VariantSummary` (count, mean, sample variance) that merges exactly,
so status is computed incrementally from running summaries instead of raw outcomes.

Formulas, chosen once and documented here:

* Per variant, a ``1 - alpha`` interval: the Wilson score interval for proportions, the Student t interval for
  means.
* Challenger minus control: for proportions the two-proportion z-test with the pooled variance and an unpooled
  normal interval of the difference; for means Welch's t-test with Welch-Satterthwaite degrees of freedom (the
  same numbers as ``scipy.stats.ttest_ind(challenger, control, equal_var=False)``).
* Several challengers: p-values are adjusted with Holm-Bonferroni over the comparisons that have a test.
* Samples per variant needed to detect the observed difference (two-sided ``alpha``, given ``power``), normal
  approximation. Proportions use the pooled formula (Fleiss, without continuity correction)::

      n = (z(1 - alpha/2) * sqrt(2 p̄ (1 - p̄)) + z(power) * sqrt(p1 (1 - p1) + p2 (1 - p2)))² / (p2 - p1)²

  with ``p̄ = (p1 + p2) / 2`` (0.10 vs 0.12 at alpha 0.05 and power 0.8 gives 3,841); means use
  ``n = (z(1 - alpha/2) + z(power))² (var1 + var2) / (mean2 - mean1)²``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self

from shipyard.errors import InvalidParameter, MissingExtra

try:
    import numpy as np
    import numpy.typing as npt
except ModuleNotFoundError as exc:  # pragma: no cover - the serving extra is installed wherever serving runs
    raise MissingExtra("numpy", "serving") from exc
try:
    # scipy ships no type information; only four scalar functions are used, each wrapped in float()
    from scipy import special  # type: ignore[import-untyped]
except ModuleNotFoundError as exc:  # pragma: no cover - the serving extra is installed wherever serving runs
    raise MissingExtra("scipy", "serving") from exc

__all__ = [
    "VERDICTS",
    "Analysis",
    "Comparison",
    "Kind",
    "ThompsonAllocator",
    "VariantResult",
    "VariantSummary",
    "Verdict",
    "analyse",
]

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


def analyse(
    summaries: Sequence[VariantSummary],
    *,
    control: str,
    kind: Kind,
    alpha: float = 0.05,
    power: float = 0.8,
    min_samples: int = 100,
    higher_is_better: bool = True,
    metric: str | None = None,
) -> Analysis:
    """Analyse an A/B test: estimates, tests against the control, and a plain verdict.

    Args:
        summaries: one summary per variant, control included; names must be unique.
        control: the name of the control (champion) variant.
        kind: ``proportion`` for 0/1 outcomes (two-proportion z-test), ``mean`` for continuous ones (Welch).
        alpha: the two-sided significance level, in (0, 1).
        power: the power for the sample-size estimate, in (0, 1).
        min_samples: the fewest samples every compared arm needs before a verdict other than
            ``insufficient_data``.
        higher_is_better: whether a larger metric is better (False for error rates, latency).
        metric: the metric's name for messages; ``rate`` or ``mean`` when not given.

    Returns:
        The analysis; :meth:`Analysis.to_dict` is JSON-ready.

    Raises:
        InvalidParameter: ``control`` is not among the summaries, names repeat, ``alpha`` or ``power`` is outside
            (0, 1), ``kind`` is unknown, or a proportion's mean is outside [0, 1].

    Example:
        >>> champion = VariantSummary.from_counts("champion", successes=200, n=1000)
        >>> challenger = VariantSummary.from_counts("challenger", successes=250, n=1000)
        >>> result = analyse([champion, challenger], control="champion", kind="proportion", metric="conversion")
        >>> result.verdict, result.winner
        ('winner', 'challenger')
        >>> result.message
        'challenger beats champion: conversion 0.250 vs 0.200 (+25.0%, p = 0.007).'
    """
    _check_arguments(summaries, control=control, kind=kind, alpha=alpha, power=power, min_samples=min_samples)
    label = metric or ("rate" if kind == "proportion" else "mean")
    z_half = float(special.ndtri(1.0 - alpha / 2.0))
    by_name = {s.name: s for s in summaries}
    base = by_name[control]
    variants = tuple(_variant_result(s, kind, alpha, z_half) for s in summaries)
    tests = [_test(s, base, kind, alpha, z_half, float(special.ndtri(power))) for s in summaries if s.name != control]
    tested = [i for i, t in enumerate(tests) if t.p_value is not None]
    adjusted = _holm([tests[i].p_value or 0.0 for i in tested])
    adjusted_by_index = dict(zip(tested, adjusted, strict=True))
    several = len(tested) > 1
    comparisons = tuple(
        _judge(
            t,
            adjusted_by_index.get(i),
            several=several,
            alpha=alpha,
            power=power,
            minimum=max(min_samples, 1 if kind == "proportion" else 2),
            higher_is_better=higher_is_better,
            label=label,
        )
        for i, t in enumerate(tests)
    )
    verdict, winner, message = _overall(comparisons, control, higher_is_better)
    return Analysis(
        kind=kind,
        control=control,
        metric=label,
        alpha=alpha,
        power=power,
        min_samples=min_samples,
        higher_is_better=higher_is_better,
        p_value_adjustment="holm-bonferroni" if several else None,
        variants=variants,
        comparisons=comparisons,
        verdict=verdict,
        winner=winner,
        message=message,
    )


def _check_arguments(
    summaries: Sequence[VariantSummary], *, control: str, kind: str, alpha: float, power: float, min_samples: int
) -> None:
    if kind not in _KINDS:
        raise InvalidParameter(f"Unknown A/B metric kind {kind!r}; expected 'proportion' or 'mean'.")
    for name, value in (("alpha", alpha), ("power", power)):
        if not (isinstance(value, int | float) and 0.0 < value < 1.0):
            raise InvalidParameter(f"{name} must be strictly between 0 and 1, got {value!r}.")
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 0:
        raise InvalidParameter(f"min_samples must be a whole number >= 0, got {min_samples!r}.")
    names = [s.name for s in summaries]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InvalidParameter(f"Each variant may appear once; repeated: {', '.join(repeated)}. Merge them first.")
    if control not in names:
        known = ", ".join(f"'{n}'" for n in names) or "none"
        raise InvalidParameter(f"The control variant '{control}' is not among the variants analysed ({known}).")
    if kind == "proportion":
        for s in summaries:
            if not 0.0 <= s.mean <= 1.0:
                raise InvalidParameter(
                    f"Variant '{s.name}' has mean {s.mean!r}, which is not a proportion; "
                    "use kind='mean' or summarise 0/1 outcomes."
                )


def _variant_result(s: VariantSummary, kind: Kind, alpha: float, z_half: float) -> VariantResult:
    if s.n == 0:
        return VariantResult(s.name, 0, None, None, None)
    if kind == "proportion":
        low, high = _wilson(s.mean, s.n, z_half)
        return VariantResult(s.name, s.n, s.mean, low, high)
    if s.n < 2:
        return VariantResult(s.name, s.n, s.mean, None, None)
    half = float(special.stdtrit(s.n - 1, 1.0 - alpha / 2.0)) * math.sqrt(s.variance / s.n)
    return VariantResult(s.name, s.n, s.mean, s.mean - half, s.mean + half)


def _wilson(p: float, n: int, z: float) -> tuple[float, float]:
    z2 = z * z
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class _Test:
    variant: VariantSummary
    control: VariantSummary
    difference: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    statistic: float | None = None
    df: float | None = None
    p_value: float | None = None
    required_n: int | None = None


def _test(b: VariantSummary, a: VariantSummary, kind: Kind, alpha: float, z_half: float, z_power: float) -> _Test:
    """Challenger ``b`` against control ``a``; fields stay None where the data cannot define them."""
    if kind == "proportion":
        return _two_proportions(b, a, z_half, z_power)
    return _welch(b, a, alpha, z_half, z_power)


def _two_proportions(b: VariantSummary, a: VariantSummary, z_half: float, z_power: float) -> _Test:
    if a.n == 0 or b.n == 0:
        return _Test(b, a)
    pa, pb = a.mean, b.mean
    difference = pb - pa
    half = z_half * math.sqrt(pa * (1.0 - pa) / a.n + pb * (1.0 - pb) / b.n)
    pooled = (pa * a.n + pb * b.n) / (a.n + b.n)
    se_pooled = math.sqrt(pooled * (1.0 - pooled) * (1.0 / a.n + 1.0 / b.n))
    if se_pooled > 0.0:
        statistic: float | None = difference / se_pooled
        p_value = 2.0 * float(special.ndtr(-abs(difference / se_pooled)))
    else:  # both arms all successes or all failures: identical, nothing to test
        statistic, p_value = 0.0, 1.0
    required = None
    if difference != 0.0:
        mid = (pa + pb) / 2.0
        root = z_half * math.sqrt(2.0 * mid * (1.0 - mid)) + z_power * math.sqrt(pa * (1 - pa) + pb * (1 - pb))
        required = _ceil(root * root / (difference * difference))
    return _Test(b, a, difference, difference - half, difference + half, statistic, None, p_value, required)


def _welch(b: VariantSummary, a: VariantSummary, alpha: float, z_half: float, z_power: float) -> _Test:
    if a.n < 2 or b.n < 2:
        return _Test(b, a, b.mean - a.mean if a.n and b.n else None)
    difference = b.mean - a.mean
    va, vb = a.variance / a.n, b.variance / b.n
    se2 = va + vb
    required = None
    if difference != 0.0:
        required = _ceil((z_half + z_power) ** 2 * (a.variance + b.variance) / (difference * difference))
    if se2 == 0.0:  # both arms constant: the difference is exact
        p_value = 1.0 if difference == 0.0 else 0.0
        statistic = 0.0 if difference == 0.0 else None
        return _Test(b, a, difference, difference, difference, statistic, None, p_value, required)
    se = math.sqrt(se2)
    df = se2 * se2 / (va * va / (a.n - 1) + vb * vb / (b.n - 1))
    statistic = difference / se
    p_value = 2.0 * float(special.stdtr(df, -abs(statistic)))
    half = float(special.stdtrit(df, 1.0 - alpha / 2.0)) * se
    return _Test(b, a, difference, difference - half, difference + half, statistic, df, p_value, required)


def _ceil(x: float) -> int:
    # 1e-9 keeps a float error in a formula that lands on a whole number from adding one
    return max(1, math.ceil(x - 1e-9))


def _holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni step-down adjusted p-values, in the order given."""
    m = len(p_values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda j: p_values[j])):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def _judge(
    t: _Test,
    p_adjusted: float | None,
    *,
    several: bool,
    alpha: float,
    power: float,
    minimum: int,
    higher_is_better: bool,
    label: str,
) -> Comparison:
    a, b = t.control, t.variant
    short = max(0, minimum - min(a.n, b.n))
    lift = t.difference / abs(a.mean) if t.difference is not None and a.mean != 0.0 else None
    more = max(0, t.required_n - min(a.n, b.n)) if t.required_n is not None else None
    winner: str | None = None
    if short or t.p_value is None or p_adjusted is None or t.difference is None:
        verdict: Verdict = "insufficient_data"
        needs = " and ".join(f"{s.name} has {s.n:,} ({minimum - s.n:,} more needed)" for s in (b, a) if s.n < minimum)
        message = (
            f"Not enough data yet to compare {b.name} with {a.name}: {needs}; "
            f"each variant needs at least {minimum:,} samples."
        )
    else:
        detail = _detail(label, b.mean, a.mean, t.difference, lift, p_adjusted, adjusted=several)
        if p_adjusted < alpha:
            better = (t.difference > 0) == higher_is_better
            verdict, winner = ("winner", b.name) if better else ("loser", a.name)
            message = f"{b.name} beats {a.name}: {detail}." if better else f"{b.name} is worse than {a.name}: {detail}."
        else:
            verdict = "no_difference_yet"
            if more is None:
                tail = "no difference is observed, so no sample size can be estimated to detect one"
            elif more == 0:
                tail = (
                    f"the samples so far should detect a difference this size with {power:.0%} power, "
                    "so it may be chance"
                )
            else:
                tail = f"about {more:,} more samples per variant are needed to detect a difference this size"
            message = f"No significant difference yet between {b.name} and {a.name}: {detail}; {tail}."
    return Comparison(
        variant=b.name,
        control=a.name,
        difference=t.difference,
        ci_low=t.ci_low,
        ci_high=t.ci_high,
        statistic=t.statistic,
        df=t.df,
        p_value=t.p_value,
        p_value_adjusted=p_adjusted,
        relative_lift=lift,
        required_n_per_variant=t.required_n,
        more_samples_per_variant=more,
        samples_below_minimum=short,
        verdict=verdict,
        winner=winner,
        message=message,
    )


def _overall(
    comparisons: Sequence[Comparison], control: str, higher_is_better: bool
) -> tuple[Verdict, str | None, str]:
    if not comparisons:
        return "insufficient_data", None, f"Only the control '{control}' is present; there is no challenger to compare."
    winners = [c for c in comparisons if c.verdict == "winner"]
    if winners:
        sign = 1.0 if higher_is_better else -1.0
        best = max(winners, key=lambda c: sign * (c.difference or 0.0))
        return "winner", best.variant, best.message
    for verdict in ("insufficient_data", "no_difference_yet"):
        pending = [c for c in comparisons if c.verdict == verdict]
        if pending:
            # the comparison furthest from a verdict says how long the test still has to run
            slowest = max(pending, key=lambda c: (c.samples_below_minimum, _unknown_last(c.more_samples_per_variant)))
            return slowest.verdict, None, slowest.message
    if len(comparisons) == 1:
        return "loser", control, comparisons[0].message
    # every challenger was tested, so with several of them the p-values are Holm-adjusted
    changes = ", ".join(
        f"{c.variant} {_change(c.difference or 0.0, c.relative_lift)} ({_p_text(c.p_value_adjusted or 0.0)})"
        for c in comparisons
    )
    return "loser", control, f"{control} beats every challenger: {changes}, Holm-adjusted."


def _unknown_last(more: int | None) -> float:
    return math.inf if more is None else float(more)


def _detail(
    label: str, mean: float, control_mean: float, difference: float, lift: float | None, p: float, *, adjusted: bool
) -> str:
    """``accuracy 0.912 vs 0.871 (+4.7%, p = 0.003)``: the numbers behind a verdict."""
    p_text = _p_text(p) + (", Holm-adjusted" if adjusted else "")
    shown, shown_control = _numbers(mean, control_mean)
    return f"{label} {shown} vs {shown_control} ({_change(difference, lift)}, {p_text})"


def _numbers(x: float, y: float) -> tuple[str, str]:
    """Both numbers with three significant digits of the larger, plus as many decimals as it takes to differ."""
    largest = max(abs(x), abs(y))
    decimals = max(0, 2 - math.floor(math.log10(largest))) if largest > 0 else 3
    if math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12):  # equal but for float noise: no extra digits
        return f"{x:,.{decimals}f}", f"{y:,.{decimals}f}"
    for extra in range(5):
        shown = f"{x:,.{decimals + extra}f}", f"{y:,.{decimals + extra}f}"
        if x == y or shown[0] != shown[1]:
            break
    return shown


def _change(difference: float, lift: float | None) -> str:
    if lift is None:
        return f"{difference:+#.3g}"
    percent = 100.0 * lift
    if abs(percent) < 1e-6:  # float noise, not a change
        return "+0.0%"
    return f"{percent:+.1f}%" if abs(percent) >= 0.1 else f"{percent:+.2g}%"


def _p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


@dataclass(frozen=True)
class ThompsonAllocator:
    """Traffic weights from Thompson sampling: each variant's posterior probability of being the best.

    Proportions use a Beta(1 + successes, 1 + failures) posterior. Means use the Student t posterior of the
    mean (``mean + sqrt(variance / n) * t(n - 1)``, the flat-prior result); a variant with fewer than 2
    samples gets a wide normal prior centred on the mean of all outcomes, one outcome's standard deviation
    wide, so new variants are explored. The probabilities are then water-filled into
    ``[min_weight, max_weight]``: ``w = clip(p + level, min_weight, max_weight)`` with the one level that makes
    the weights sum to 1, so bounds hold exactly and weights already inside them are kept.

    Attributes:
        min_weight: the least traffic share any variant keeps.
        max_weight: the most traffic share any variant may take.
        draws: posterior draws per call (one ``draws x variants`` matrix).
        seed: seeds a fresh generator on every call, so equal inputs give equal weights; None for fresh entropy.

    Example:
        >>> allocator = ThompsonAllocator(min_weight=0.1, max_weight=0.9, seed=7)
        >>> weights = allocator.weights(
        ...     [VariantSummary.from_counts("a", 20, 100), VariantSummary.from_counts("b", 40, 100)], "proportion"
        ... )
        >>> weights["b"] > weights["a"]
        True
    """

    min_weight: float = 0.0
    max_weight: float = 1.0
    draws: int = 10_000
    seed: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_weight <= self.max_weight <= 1.0:
            raise InvalidParameter(
                f"Traffic bounds must satisfy 0 <= min_weight <= max_weight <= 1, "
                f"got min_weight={self.min_weight!r} and max_weight={self.max_weight!r}."
            )
        if isinstance(self.draws, bool) or not isinstance(self.draws, int) or self.draws < 1:
            raise InvalidParameter(f"draws must be a whole number >= 1, got {self.draws!r}.")

    def weights(
        self, summaries: Sequence[VariantSummary], kind: Kind, *, higher_is_better: bool = True
    ) -> dict[str, float]:
        """Each variant's traffic share: its probability of being best, bounded and summing to 1.

        Args:
            summaries: one summary per variant; names must be unique.
            kind: ``proportion`` or ``mean``.
            higher_is_better: whether a larger metric is better.

        Raises:
            InvalidParameter: no variants, repeated names, an unknown kind, or bounds no weights can meet
                (``k * min_weight > 1`` or ``k * max_weight < 1`` for ``k`` variants).
        """
        k = len(summaries)
        if k == 0:
            raise InvalidParameter("Thompson sampling needs at least one variant.")
        if kind not in _KINDS:
            raise InvalidParameter(f"Unknown A/B metric kind {kind!r}; expected 'proportion' or 'mean'.")
        names = [s.name for s in summaries]
        if len(set(names)) != k:
            raise InvalidParameter(f"Each variant may appear once; got {', '.join(names)}.")
        if k * self.min_weight > 1.0 + 1e-12 or k * self.max_weight < 1.0 - 1e-12:
            raise InvalidParameter(
                f"Traffic bounds [{self.min_weight}, {self.max_weight}] cannot hold for {k} variants: "
                f"weights summing to 1 need min_weight <= {1 / k:.4g} <= max_weight."
            )
        rng = np.random.default_rng(self.seed)
        samples = _posterior_draws(summaries, kind, self.draws, rng)
        if not higher_is_better:
            samples = -samples
        is_best = samples == samples.max(axis=1, keepdims=True)
        # a tie splits the win, so identical arms share evenly instead of favouring the first column
        probabilities = (is_best / is_best.sum(axis=1, keepdims=True)).mean(axis=0)
        bounded = _water_fill(probabilities, self.min_weight, self.max_weight)
        return {name: float(w) for name, w in zip(names, bounded, strict=True)}


def _posterior_draws(
    summaries: Sequence[VariantSummary], kind: Kind, draws: int, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    n = np.array([s.n for s in summaries], dtype=np.float64)
    mean = np.array([s.mean for s in summaries], dtype=np.float64)
    shape = (draws, len(summaries))
    if kind == "proportion":
        successes = np.clip(mean * n, 0.0, n)
        return rng.beta(1.0 + successes, 1.0 + n - successes, size=shape)
    everything = VariantSummary("all", 0, 0.0, 0.0)
    for s in summaries:
        everything = _combine(everything, s, "all")
    wide = math.sqrt(everything.variance) if everything.variance > 0.0 else max(1.0, abs(everything.mean))
    variance = np.array([s.variance for s in summaries], dtype=np.float64)
    known = n >= 2
    loc = np.where(known, mean, everything.mean)
    scale = np.where(known, np.sqrt(variance / np.maximum(n, 1.0)), wide)
    noise = np.where(known, rng.standard_t(np.maximum(n - 1.0, 1.0), size=shape), rng.standard_normal(size=shape))
    drawn: npt.NDArray[np.float64] = loc + scale * noise
    return drawn


def _water_fill(p: npt.NDArray[np.float64], low: float, high: float) -> npt.NDArray[np.float64]:
    """``clip(p + level, low, high)`` with the level at which it sums to 1 (the bounds are known feasible)."""
    # the sum is piecewise linear and nondecreasing in the level, with kinks where an arm meets a bound
    kinks = np.sort(np.concatenate([low - p, high - p]))
    totals = np.clip(p[None, :] + kinks[:, None], low, high).sum(axis=1)
    j = int(np.searchsorted(totals, 1.0))
    if j == 0:
        level = float(kinks[0])
    elif j == len(kinks):
        level = float(kinks[-1])
    else:
        lo, hi = float(kinks[j - 1]), float(kinks[j])
        t0, t1 = float(totals[j - 1]), float(totals[j])
        level = hi if t1 == t0 else lo + (1.0 - t0) * (hi - lo) / (t1 - t0)
    bounded: npt.NDArray[np.float64] = np.clip(p + level, low, high)
    return bounded
