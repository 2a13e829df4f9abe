"""Thompson-sampling traffic weights: each variant's chance of being best, water-filled into traffic bounds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from shipyard.errors import InvalidParameter, MissingExtra
from shipyard.serving.rollout._analysis_entities import _KINDS, Kind, VariantSummary, _combine

try:
    import numpy as np
    import numpy.typing as npt
except ModuleNotFoundError as exc:  # pragma: no cover - the serving extra is installed wherever serving runs
    raise MissingExtra("numpy", "serving") from exc

__all__ = ["ThompsonAllocator"]


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
