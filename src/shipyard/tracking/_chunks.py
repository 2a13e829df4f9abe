"""Packing metric history into chunks (little-endian int64/float64 arrays) and merging them back."""

from __future__ import annotations

import hashlib
import math
import sys
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Chunk", "merge_points", "pack"]

_SWAP = sys.byteorder != "little"


@dataclass(frozen=True, slots=True)
class Chunk:
    """One stored batch of a metric's points."""

    digest: str
    n_points: int
    min_timestamp: int
    max_timestamp: int
    steps: bytes
    timestamps: bytes
    vals: bytes


def _to_bytes(values: array) -> bytes:  # type: ignore[type-arg]
    if _SWAP:
        values.byteswap()
    return values.tobytes()


def pack(steps: Sequence[int], timestamps: Sequence[int], values: Sequence[float]) -> Chunk:
    """Pack one key's points (parallel sequences) into a chunk."""
    ts = array("q", timestamps)
    raw_steps = _to_bytes(array("q", steps))
    raw_ts = _to_bytes(ts)
    raw_vals = _to_bytes(array("d", values))
    digest = hashlib.sha1(raw_steps + raw_ts + raw_vals, usedforsecurity=False).hexdigest()
    return Chunk(digest, len(ts), min(ts), max(ts), raw_steps, raw_ts, raw_vals)


def _from_bytes(code: str, raw: bytes) -> array:  # type: ignore[type-arg]
    values = array(code)
    values.frombytes(raw)
    if _SWAP:
        values.byteswap()
    return values


def merge_points(chunks: Iterable[tuple[bytes, bytes, bytes]]) -> list[tuple[int, int, float]]:
    """All points of the chunks as (timestamp, step, value), identical points once, in MLflow's order.

    MLflow orders a history by (timestamp, step, value) and stores an identical point once; NaN values
    compare equal to each other here so a repeated NaN point is also kept once.
    """
    points: list[tuple[int, int, float]] = []
    has_nan = False
    for steps, timestamps, vals in chunks:
        values = _from_bytes("d", vals)
        has_nan = has_nan or any(map(math.isnan, values))
        points.extend(zip(_from_bytes("q", timestamps), _from_bytes("q", steps), values, strict=True))
    if has_nan:  # tuples holding NaN do not compare consistently: sort and dedupe with a NaN-aware key
        seen = {(t, s, v if v == v else "nan"): (t, s, v) for t, s, v in points}
        return sorted(seen.values(), key=_order)
    points.sort()  # plain tuple order is MLflow's order; nearly sorted input makes this linear
    return [p for i, p in enumerate(points) if i == 0 or p != points[i - 1]]


def _order(point: tuple[int, int, float]) -> tuple[int, int, bool, float]:
    value = point[2]
    nan = value != value
    return point[0], point[1], nan, 0.0 if nan else value
