"""Traffic split: picks the variant for each request by weight, at random or sticky by a request key."""

from __future__ import annotations

import bisect
import hashlib
import random
from collections.abc import Mapping

from shipyard.errors import InvalidParameter

__all__ = ["Router"]

_SCALE = float(1 << 64)


class Router:
    """Chooses a variant per request in proportion to the weights.

    Without a key each request draws at random; with a key the draw is a hash of the deployment's salt and the
    key, so the same key always lands on the same variant while the weights stay the same, and a weight change
    moves only the keys whose hash falls in the changed share.

    Example:
        >>> router = Router({"champion": 95, "canary": 5}, salt="churn")
        >>> router.choose("user-42") == router.choose("user-42")
        True
    """

    def __init__(self, weights: Mapping[str, float], *, salt: str, rng: random.Random | None = None) -> None:
        """Route in proportion to ``weights`` (relative, at least one above 0)."""
        total = sum(weights.values())
        if total <= 0 or any(weight < 0 for weight in weights.values()):
            raise InvalidParameter("Route weights must be >= 0 with at least one above 0.")
        self.weights = {name: weight / total for name, weight in weights.items()}
        self._names = [name for name, weight in weights.items() if weight > 0]
        self._bounds: list[float] = []
        running = 0.0
        for name in self._names:
            running += self.weights[name]
            self._bounds.append(running)
        self._bounds[-1] = 1.0  # rounding never leaves a gap at the top
        self._salt = salt.encode()
        self._random = (rng or random.Random()).random  # noqa: S311 - traffic splitting, not cryptography

    def choose(self, key: str | None = None) -> str:
        """The variant for a request, sticky when ``key`` is given."""
        if len(self._names) == 1:
            return self._names[0]
        draw = self._random() if key is None else self.position(key)
        return self._names[min(bisect.bisect_right(self._bounds, draw), len(self._names) - 1)]

    def position(self, key: str) -> float:
        """Where ``key`` falls in [0, 1): a stable hash, uniform over keys."""
        digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8, key=self._salt[:64]).digest()
        return int.from_bytes(digest, "big") / _SCALE
