"""The traffic split: shares hold, sticky keys stay put, and a weight change moves only the keys it must."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from shipyard.errors import InvalidParameter
from shipyard.serving.runtime._router import Router


def test_a_5_percent_canary_gets_5_percent_plus_or_minus_1_over_10000_random_requests() -> None:
    router = Router({"champion": 95, "canary": 5}, salt="churn", rng=random.Random(11))
    counts = Counter(router.choose() for _ in range(10_000))

    assert 0.04 <= counts["canary"] / 10_000 <= 0.06


def test_a_5_percent_canary_gets_5_percent_plus_or_minus_1_over_10000_sticky_keys() -> None:
    router = Router({"champion": 95, "canary": 5}, salt="churn")
    counts = Counter(router.choose(f"user-{i}") for i in range(10_000))

    assert 0.04 <= counts["canary"] / 10_000 <= 0.06


def test_a_key_always_gets_the_same_variant() -> None:
    router = Router({"a": 1, "b": 1, "c": 1}, salt="churn", rng=random.Random(1))

    assert all(len({router.choose(f"u{i}") for _ in range(20)}) == 1 for i in range(200))


def test_raising_the_canary_moves_only_keys_into_it() -> None:
    before = Router({"champion": 95, "canary": 5}, salt="churn")
    after = Router({"champion": 80, "canary": 20}, salt="churn")
    keys = [f"user-{i}" for i in range(5_000)]

    moved = [(before.choose(k), after.choose(k)) for k in keys if before.choose(k) != after.choose(k)]

    assert {("champion", "canary")} == set(moved)


def test_a_zero_weight_route_gets_nothing() -> None:
    router = Router({"a": 1, "b": 0}, salt="x", rng=random.Random(2))

    assert {"a"} == {router.choose() for _ in range(1000)} | {router.choose(str(i)) for i in range(1000)}


@pytest.mark.parametrize("weights", [{"a": 0}, {"a": -1, "b": 2}, {}])
def test_weights_that_cannot_split_are_refused(weights: dict[str, float]) -> None:
    with pytest.raises(InvalidParameter):
        Router(weights, salt="x")


def test_different_deployments_split_the_same_keys_differently() -> None:
    first = Router({"a": 1, "b": 1}, salt="churn")
    second = Router({"a": 1, "b": 1}, salt="fraud")

    assert [first.choose(str(i)) for i in range(200)] != [second.choose(str(i)) for i in range(200)]
