"""Small helpers shared by the benchmark modules (timing, percentiles, progress)."""

from __future__ import annotations

import contextlib
import io
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Figure:
    """How to show and compare one number a benchmark returns."""

    label: str
    unit: str
    higher_is_better: bool
    digits: int = 1  # decimals shown in the table


def percentile(samples: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of a non-empty sample."""
    return float(np.percentile(np.asarray(samples, dtype=float), q))


class Stopwatch:
    """Wall time of each timed call, plus the CPU time this (client) process spent in them.

    The client CPU time is the mlflow client's own share of a call (building and parsing
    protobuf/JSON, HTTP plumbing): the same code on both sides, so it bounds the ratio a
    faster server can reach.
    """

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.cpu_s = 0.0

    @contextlib.contextmanager
    def call(self) -> Iterator[None]:
        c0, t0 = time.process_time(), time.perf_counter()
        try:
            yield
        finally:
            self.samples.append(time.perf_counter() - t0)
            self.cpu_s += time.process_time() - c0

    @property
    def total_s(self) -> float:
        return sum(self.samples)

    def summary(self, prefix: str = "") -> dict[str, float]:
        """p50 / p95 / mean / min wall latency and mean client CPU per call, in milliseconds."""
        return {**latency_summary(self.samples, prefix), f"{prefix}client_cpu_ms": self.cpu_s / len(self.samples) * 1e3}


def time_calls(fn: Callable[[int], object], n: int) -> Stopwatch:
    """Call fn(i) for i in range(n), timing each call."""
    sw = Stopwatch()
    for i in range(n):
        with sw.call():
            fn(i)
    return sw


def latency_summary(samples: Sequence[float], prefix: str = "") -> dict[str, float]:
    """p50 / p95 / mean / min of samples, in milliseconds."""
    return {
        f"{prefix}p50_ms": percentile(samples, 50) * 1e3,
        f"{prefix}p95_ms": percentile(samples, 95) * 1e3,
        f"{prefix}mean_ms": float(np.mean(samples)) * 1e3,
        f"{prefix}min_ms": float(np.min(samples)) * 1e3,
    }


def now_ms() -> int:
    return int(time.time() * 1000)


def progress(msg: str) -> None:
    """Progress lines go to stderr so stdout stays the report."""
    print(f"  .. {msg}", file=sys.stderr, flush=True)


class Throttled:
    """Call `progress` at most every `every_s` seconds (plus on demand)."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.every_s = every_s
        self._last = 0.0

    def __call__(self, msg: str, force: bool = False) -> None:
        t = time.monotonic()
        if force or t - self._last >= self.every_s:
            self._last = t
            progress(msg)


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Swallow what the mlflow client prints to stdout.

    In mlflow 3.x `MlflowClient.set_terminated` fetches the run again (GET runs/get) and prints
    "View run ... at: <url>" lines; the fetch is part of the workload, the lines are just noise.
    """
    with contextlib.redirect_stdout(io.StringIO()):
        yield
