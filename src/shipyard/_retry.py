"""The one retry policy: exponential back-off, capped, with optional jitter, for every retry loop in Shipyard.

The HTTP transport (``client/_transport.py``), the SDK's background queue and journal replay
(``client/batching.py``) and the webhook dispatcher (``events/_dispatcher.py``) all wait as a `RetryPolicy` says.
Loops that must wake early (a queue being closed, a caller waiting) take only `RetryPolicy.delay_s` and sleep their
own way; loops that may block use `RetryPolicy.call`.

Example:
    >>> policy = RetryPolicy(first_s=0.2, max_s=10.0)
    >>> [policy.delay_s(n) for n in (1, 2, 3)]
    [0.2, 0.4, 0.8]
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

__all__ = ["TRANSIENT_HTTP_STATUSES", "RetryPolicy"]

T = TypeVar("T")

#: Answers worth retrying: throttled, or the server (or a proxy before it) failed or is busy.
TRANSIENT_HTTP_STATUSES = frozenset({429, 500, 502, 503, 504})
_MAX_EXPONENT = 60  # 2**60 times any first wait is past every cap: no float overflow however long the outage


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait after each failure, and how many times to try again.

    Attributes:
        first_s: the wait after the first failure; it doubles with each further failure.
        max_s: the longest wait.
        jitter: each wait is shortened by a random fraction up to this (0: none), so many clients spread out.
        retries: how many times `call` tries again after the first attempt (None: until the error is not worth it).
    """

    first_s: float = 0.2
    max_s: float = 10.0
    jitter: float = 0.0
    retries: int | None = 5

    def delay_s(self, failures: int) -> float:
        """The wait after the ``failures``-th failure in a row: ``first_s * 2^(failures-1)``, capped, less jitter."""
        delay = min(self.max_s, self.first_s * 2.0 ** min(max(failures - 1, 0), _MAX_EXPONENT))
        if self.jitter:
            delay *= 1 - self.jitter * random.random()  # noqa: S311  # spreading retries, not cryptography
        return delay

    def with_retries(self, retries: int | None) -> RetryPolicy:
        """The same back-off with another number of retries (0: one attempt only)."""
        return replace(self, retries=retries)

    def call(
        self,
        attempt: Callable[[], T],
        *,
        retry_on: Callable[[BaseException], bool],
        sleep: Callable[[float], object] = time.sleep,
    ) -> T:
        """Run ``attempt`` until it returns, retrying the errors ``retry_on`` accepts with back-off.

        Args:
            attempt: one try; raises to fail.
            retry_on: whether an error is worth another try (transient); any other error is raised at once.
            sleep: how to wait (tests and interruptible loops pass their own).

        Raises:
            BaseException: the last error, once ``retries`` are spent or an error is not worth retrying.
        """
        failures = 0
        while True:
            try:
                return attempt()
            except Exception as exc:
                failures += 1
                if not retry_on(exc) or (self.retries is not None and failures > self.retries):
                    raise
            sleep(self.delay_s(failures))
