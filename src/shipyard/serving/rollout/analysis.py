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

The result types are in `_analysis_entities` and the allocator in `_bandit`; both are re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from shipyard.errors import InvalidParameter, MissingExtra
from shipyard.serving.rollout._analysis_entities import (
    _KINDS,
    VERDICTS,
    Analysis,
    Comparison,
    Kind,
    VariantResult,
    VariantSummary,
    Verdict,
)
from shipyard.serving.rollout._bandit import ThompsonAllocator

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
