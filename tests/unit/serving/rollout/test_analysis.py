"""A/B analysis and Thompson sampling, checked against scipy, hand-worked formulas and published values."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from shipyard.errors import InvalidParameter
from shipyard.serving.rollout.analysis import (
    Analysis,
    ThompsonAllocator,
    VariantSummary,
    analyse,
)
from shipyard.serving.rollout.analysis import _holm as holm


def _counts(name: str, successes: int, n: int) -> VariantSummary:
    return VariantSummary.from_counts(name, successes, n)


def _two_props(control: tuple[int, int], challenger: tuple[int, int], **kwargs: object) -> Analysis:
    summaries = [_counts("champion", *control), _counts("challenger", *challenger)]
    return analyse(summaries, control="champion", kind="proportion", **kwargs)  # type: ignore[arg-type]


def _json(analysis: Analysis) -> str:
    return json.dumps(analysis.to_dict(), allow_nan=False)


# --- summaries ---------------------------------------------------------------------------------------------


def test_from_values_drops_nan() -> None:
    summary = VariantSummary.from_values("a", [1.0, float("nan"), 3.0])
    assert (2, 2.0, 2.0) == (summary.n, summary.mean, summary.variance)


def test_from_counts_equals_from_values_on_zero_one_outcomes() -> None:
    from_counts = VariantSummary.from_counts("a", 3, 10)
    from_values = VariantSummary.from_values("a", [1] * 3 + [0] * 7)
    assert (from_values.n, from_values.mean, from_values.variance) == pytest.approx(
        (from_counts.n, from_counts.mean, from_counts.variance)
    )


@pytest.mark.parametrize("split", [0, 1, 2, 17, 60])
def test_merge_equals_summary_of_concatenated_values(split: int) -> None:
    values = np.random.default_rng(3).normal(10.0, 2.0, size=60)
    merged = VariantSummary.from_values("a", values[:split]).merge(VariantSummary.from_values("a", values[split:]))
    whole = VariantSummary.from_values("a", values)
    assert (whole.n, whole.mean, whole.variance) == pytest.approx((merged.n, merged.mean, merged.variance), rel=1e-12)


def test_merge_refuses_different_variants() -> None:
    with pytest.raises(InvalidParameter, match="different variants"):
        VariantSummary.from_counts("a", 1, 2).merge(VariantSummary.from_counts("b", 1, 2))


def test_infinite_outcome_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="infinite"):
        VariantSummary.from_values("a", [1.0, math.inf])


# --- independent references --------------------------------------------------------------------------------


def test_welch_matches_scipy_ttest_ind() -> None:
    rng = np.random.default_rng(11)
    control, challenger = rng.normal(5.0, 1.0, size=40), rng.normal(5.6, 2.5, size=25)
    result = analyse(
        [VariantSummary.from_values("control", control), VariantSummary.from_values("challenger", challenger)],
        control="control",
        kind="mean",
        min_samples=10,
    )
    reference = stats.ttest_ind(challenger, control, equal_var=False)
    interval = reference.confidence_interval(0.95)
    c = result.comparisons[0]
    assert (reference.statistic, reference.pvalue, reference.df, interval.low, interval.high) == pytest.approx(
        (c.statistic, c.p_value, c.df, c.ci_low, c.ci_high), rel=1e-9
    )


def test_mean_interval_is_the_student_t_interval() -> None:
    values = np.random.default_rng(5).normal(3.0, 1.5, size=30)
    result = analyse([VariantSummary.from_values("a", values)], control="a", kind="mean")
    expected = stats.t.interval(0.95, df=29, loc=values.mean(), scale=stats.sem(values))
    assert expected == pytest.approx((result.variants[0].ci_low, result.variants[0].ci_high), rel=1e-12)
    assert "insufficient_data" == result.verdict  # ...but only the control, so nothing to compare


def test_two_proportion_z_test_matches_worked_example() -> None:
    # 200/1000 vs 250/1000: pooled p = 0.225, se = sqrt(0.225 * 0.775 * (1/1000 + 1/1000)) = 0.018675
    c = _two_props((200, 1000), (250, 1000)).comparisons[0]
    z = 0.05 / math.sqrt(0.225 * 0.775 * 2 / 1000)
    assert (z, 2 * stats.norm.sf(z)) == pytest.approx((c.statistic, c.p_value), rel=1e-12)
    assert (2.677, 0.00742) == pytest.approx((c.statistic, c.p_value), abs=5e-4)


def test_difference_interval_for_proportions_is_unpooled_normal() -> None:
    c = _two_props((200, 1000), (250, 1000)).comparisons[0]
    half = stats.norm.ppf(0.975) * math.sqrt(0.2 * 0.8 / 1000 + 0.25 * 0.75 / 1000)
    assert (0.05 - half, 0.05 + half) == pytest.approx((c.ci_low, c.ci_high), rel=1e-12)


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_interval_matches_newcombe_1998(successes: int, n: int, low: float, high: float) -> None:
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I, method 3
    result = analyse([_counts("a", successes, n)], control="a", kind="proportion")
    assert (low, high) == pytest.approx((result.variants[0].ci_low, result.variants[0].ci_high), abs=5e-5)


def test_sample_size_for_proportions_is_the_pooled_formula() -> None:
    # 0.10 vs 0.12, alpha 0.05, power 0.8: (1.95996 * sqrt(2 * .11 * .89) + 0.84162 * sqrt(.09 + .1056))² / .02²
    # = 3840.8, so 3,841 per variant (the unpooled formula would give 3,839)
    c = _two_props((100, 1000), (120, 1000), min_samples=10).comparisons[0]
    assert (3841, 2841) == (c.required_n_per_variant, c.more_samples_per_variant)


def test_sample_size_for_means_is_the_normal_approximation() -> None:
    # sd 1 in both arms, difference 0.2: (1.95996 + 0.84162)² * 2 / 0.04 = 392.4, so 393
    control = VariantSummary("control", 50, 0.0, 1.0)
    challenger = VariantSummary("challenger", 50, 0.2, 1.0)
    c = analyse([control, challenger], control="control", kind="mean", min_samples=10).comparisons[0]
    assert (393, 343) == (c.required_n_per_variant, c.more_samples_per_variant)


def test_holm_adjustment_matches_worked_example() -> None:
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1 = 0.03, 0.06, 0.04; step-down keeps the running maximum
    assert [0.03, 0.06, 0.06] == pytest.approx(holm([0.01, 0.04, 0.03]))


def test_several_challengers_are_holm_adjusted_and_say_so() -> None:
    summaries = [_counts("control", 200, 1000), _counts("b", 240, 1000), _counts("c", 260, 1000)]
    result = analyse(summaries, control="control", kind="proportion")
    raw = [c.p_value or 0.0 for c in result.comparisons]
    assert pytest.approx(holm(raw)) == [c.p_value_adjusted for c in result.comparisons]
    assert ("holm-bonferroni", True) == (result.p_value_adjustment, "Holm-adjusted" in result.message)


def test_every_challenger_losing_is_one_sentence_for_the_control() -> None:
    summaries = [_counts("control", 200, 1000), _counts("b", 150, 1000), _counts("c", 160, 1000)]
    result = analyse(summaries, control="control", kind="proportion")
    assert ("loser", "control") == (result.verdict, result.winner)
    assert (
        "control beats every challenger: b -25.0% (p = 0.007), c -20.0% (p = 0.020), Holm-adjusted." == result.message
    )


def test_message_shows_enough_decimals_to_tell_the_means_apart() -> None:
    summaries = [VariantSummary("a", 500, 1500.0, 1.0), VariantSummary("b", 500, 1500.3, 1.0)]
    message = analyse(summaries, control="a", kind="mean", metric="latency_ms", higher_is_better=False).message
    assert "b is worse than a: latency_ms 1,500.3 vs 1,500.0 (+0.02%, p < 0.001)." == message


# --- verdicts ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["proportion", "mean"])
def test_aa_tests_declare_a_difference_at_rate_alpha(kind: str) -> None:
    # 500 seeded A/A tests: significant verdicts (winner or loser) are Binomial(500, 0.05), sd = 0.0097; a
    # 3-sd band [0.021, 0.079] fails a correct test with probability 0.3%, and a mis-scaled test (say alpha/2
    # or 2 * alpha) lands outside it
    rng = np.random.default_rng(2024)
    significant = 0
    for _ in range(500):
        if kind == "proportion":
            a, b = rng.binomial(2000, 0.3, size=2)
            summaries = [_counts("a", int(a), 2000), _counts("b", int(b), 2000)]
        else:
            values = rng.normal(1.0, 2.0, size=(2, 200))
            summaries = [VariantSummary.from_values("a", values[0]), VariantSummary.from_values("b", values[1])]
        verdict = analyse(summaries, control="a", kind=kind).verdict  # type: ignore[arg-type]
        significant += verdict in {"winner", "loser"}
    assert abs(significant / 500 - 0.05) < 0.03


def test_clear_effect_names_the_winner() -> None:
    result = _two_props((871, 1000), (912, 1000), metric="accuracy")
    assert ("winner", "challenger") == (result.verdict, result.winner)
    assert "challenger beats champion: accuracy 0.912 vs 0.871 (+4.7%, p = 0.003)." == result.message


def test_best_of_several_winners_wins() -> None:
    summaries = [_counts("control", 200, 2000), _counts("good", 300, 2000), _counts("best", 400, 2000)]
    assert "best" == analyse(summaries, control="control", kind="proportion").winner


def test_lower_is_better_makes_a_lower_error_rate_win() -> None:
    result = _two_props((250, 1000), (200, 1000), higher_is_better=False)
    assert ("winner", "challenger") == (result.verdict, result.winner)


def test_worse_challenger_loses_to_the_control() -> None:
    result = _two_props((250, 1000), (200, 1000))
    assert ("loser", "champion") == (result.verdict, result.winner)
    assert result.message.startswith("challenger is worse than champion")


def test_no_difference_yet_says_how_many_more_samples() -> None:
    result = _two_props((100, 1000), (120, 1000))
    assert "no_difference_yet" == result.verdict
    assert "about 2,841 more samples per variant are needed" in result.message


def test_insufficient_data_says_how_many_more_samples() -> None:
    result = _two_props((20, 100), (10, 40))
    assert ("insufficient_data", None, 60) == (
        result.verdict,
        result.winner,
        result.comparisons[0].samples_below_minimum,
    )
    assert "challenger has 40 (60 more needed)" in result.message


# --- edge cases --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "control", "challenger", "verdict"),
    [
        ("mean", VariantSummary("a", 500, 3.0, 0.0), VariantSummary("b", 500, 3.0, 0.0), "no_difference_yet"),
        ("mean", VariantSummary("a", 500, 3.0, 0.0), VariantSummary("b", 500, 4.0, 0.0), "winner"),
        (
            "proportion",
            VariantSummary.from_counts("a", 500, 500),
            VariantSummary.from_counts("b", 500, 500),
            "no_difference_yet",
        ),
        (
            "proportion",
            VariantSummary.from_counts("a", 0, 500),
            VariantSummary.from_counts("b", 0, 500),
            "no_difference_yet",
        ),
        (
            "proportion",
            VariantSummary.from_counts("a", 0, 0),
            VariantSummary.from_counts("b", 0, 0),
            "insufficient_data",
        ),
        ("mean", VariantSummary("a", 0, 0.0, 0.0), VariantSummary("b", 1, 2.0, 0.0), "insufficient_data"),
        ("mean", VariantSummary("a", 1, 1.0, 0.0), VariantSummary("b", 1, 2.0, 0.0), "insufficient_data"),
    ],
    ids=["zero-variance-equal", "zero-variance-apart", "all-successes", "no-successes", "n0", "n0-n1", "n1"],
)
def test_degenerate_data_gives_a_verdict_and_finite_json(
    kind: str, control: VariantSummary, challenger: VariantSummary, verdict: str
) -> None:
    result = analyse([control, challenger], control="a", kind=kind, min_samples=0)  # type: ignore[arg-type]
    assert verdict == result.verdict
    _json(result)  # raises on NaN or infinity


def test_only_the_control_is_insufficient_data() -> None:
    result = analyse([_counts("a", 5, 10)], control="a", kind="proportion")
    assert ("insufficient_data", ()) == (result.verdict, result.comparisons)


def test_missing_control_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="control variant 'champion' is not among"):
        analyse([_counts("a", 1, 2)], control="champion", kind="proportion")


@pytest.mark.parametrize(("alpha", "power"), [(0.0, 0.8), (1.0, 0.8), (0.05, 0.0), (0.05, 1.5)])
def test_alpha_and_power_outside_zero_one_are_refused(alpha: float, power: float) -> None:
    with pytest.raises(InvalidParameter, match="strictly between 0 and 1"):
        _two_props((1, 2), (1, 2), alpha=alpha, power=power)


def test_a_mean_outside_zero_one_is_not_a_proportion() -> None:
    with pytest.raises(InvalidParameter, match="not a proportion"):
        analyse([VariantSummary("a", 10, 3.0, 1.0)], control="a", kind="proportion")


def test_to_dict_round_trips_through_json() -> None:
    data = json.loads(_json(_two_props((200, 1000), (250, 1000))))
    assert ("winner", "challenger", 2) == (data["verdict"], data["comparisons"][0]["winner"], len(data["variants"]))


# --- Thompson sampling -------------------------------------------------------------------------------------


def _arms() -> list[VariantSummary]:
    return [_counts("a", 100, 1000), _counts("b", 120, 1000), _counts("c", 95, 1000)]


def test_thompson_gives_the_better_arm_more_weight() -> None:
    weights = ThompsonAllocator(seed=1).weights(_arms(), "proportion")
    assert "b" == max(weights, key=weights.__getitem__)
    assert pytest.approx(1.0) == sum(weights.values())


def test_thompson_without_bounds_is_the_probability_of_being_best() -> None:
    # b vs a: difference 0.1 with se sqrt(2 * 0.09 / 1000) = 0.0134, so b is better with probability ~1
    weights = ThompsonAllocator(seed=1).weights([_counts("a", 100, 1000), _counts("b", 200, 1000)], "proportion")
    assert {"a": 0.0, "b": 1.0} == weights


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0.1, 1.0, {"a": 0.1, "b": pytest.approx(0.8), "c": 0.1}),  # a and c sit exactly on min_weight
        (0.0, 0.6, {"a": pytest.approx(0.2), "b": 0.6, "c": pytest.approx(0.2)}),  # b sits exactly on max_weight
    ],
)
def test_thompson_respects_bounds_exactly(low: float, high: float, expected: dict[str, object]) -> None:
    # b is better with probability ~1 (see above); the rest of the traffic is spread evenly by water-filling
    summaries = [_counts("a", 100, 1000), _counts("b", 200, 1000), _counts("c", 100, 1000)]
    weights = ThompsonAllocator(min_weight=low, max_weight=high, seed=1).weights(summaries, "proportion")
    assert expected == weights
    assert pytest.approx(1.0) == sum(weights.values())


def test_thompson_keeps_weights_already_inside_the_bounds() -> None:
    unbounded = ThompsonAllocator(seed=4).weights(_arms(), "proportion")
    bounded = ThompsonAllocator(min_weight=0.0, max_weight=0.99, seed=4).weights(_arms(), "proportion")
    assert pytest.approx(unbounded) == bounded


@pytest.mark.parametrize(("low", "high"), [(0.4, 1.0), (0.0, 0.3)])
def test_thompson_refuses_infeasible_bounds(low: float, high: float) -> None:
    with pytest.raises(InvalidParameter, match="cannot hold for 3 variants"):
        ThompsonAllocator(min_weight=low, max_weight=high).weights(_arms(), "proportion")


def test_thompson_refuses_inverted_bounds() -> None:
    with pytest.raises(InvalidParameter, match="min_weight <= max_weight"):
        ThompsonAllocator(min_weight=0.6, max_weight=0.4)


def test_thompson_is_deterministic_given_a_seed() -> None:
    summaries = [VariantSummary("a", 30, 1.0, 4.0), VariantSummary("b", 30, 1.5, 4.0)]
    allocator = ThompsonAllocator(seed=42)
    assert allocator.weights(summaries, "mean") == allocator.weights(summaries, "mean")


def test_thompson_for_means_prefers_the_higher_mean_unless_lower_is_better() -> None:
    summaries = [VariantSummary("a", 50, 1.0, 1.0), VariantSummary("b", 50, 2.0, 1.0)]
    allocator = ThompsonAllocator(seed=3)
    higher, lower = allocator.weights(summaries, "mean"), allocator.weights(summaries, "mean", higher_is_better=False)
    assert (True, True) == (higher["b"] > 0.99, lower["a"] > 0.99)


def test_thompson_explores_a_variant_without_data() -> None:
    summaries = [VariantSummary("a", 200, 1.0, 1.0), VariantSummary("new", 0, 0.0, 0.0)]
    weights = ThompsonAllocator(seed=9).weights(summaries, "mean")
    assert 0.2 < weights["new"] < 0.8


def test_thompson_splits_ties_evenly() -> None:
    summaries = [VariantSummary("a", 100, 2.0, 0.0), VariantSummary("b", 100, 2.0, 0.0)]
    assert {"a": 0.5, "b": 0.5} == ThompsonAllocator(seed=0).weights(summaries, "mean")
