"""Slowing password guessing: too many failed sign-ins for one account from one address are refused for a while."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

__all__ = ["SignInThrottle"]


@dataclass
class SignInThrottle:
    """Counts failed password checks per (client address, username) in a sliding window.

    Keyed by both, so an attacker elsewhere cannot lock a user out, and one address cannot try many passwords
    for one account. Tokens are 256 random bits and need no throttle. State is per process (each worker counts
    its own), bounded in size, and forgotten on restart.

    Attributes:
        max_failures: failures allowed in the window; the next attempt is refused until the oldest expires.
        window_s: the window's length in seconds.
    """

    max_failures: int = 10
    window_s: float = 300.0
    max_keys: int = 100_000
    _failures: OrderedDict[tuple[str, str], list[float]] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def retry_after_s(self, address: str, username: str) -> int:
        """Seconds until ``username`` may try again from ``address``; 0 when it may try now."""
        now = time.monotonic()
        with self._lock:
            recent = self._recent((address, username), now)
            if len(recent) < self.max_failures:
                return 0
            return max(1, math.ceil(recent[0] + self.window_s - now))

    def failed(self, address: str, username: str) -> None:
        """Record a wrong password."""
        now = time.monotonic()
        key = (address, username)
        with self._lock:
            self._recent(key, now).append(now)
            self._failures.move_to_end(key)
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)

    def succeeded(self, address: str, username: str) -> None:
        """Forget the failures of a user who signed in."""
        with self._lock:
            self._failures.pop((address, username), None)

    def _recent(self, key: tuple[str, str], now: float) -> list[float]:
        recent = [t for t in self._failures.get(key, ()) if now - t < self.window_s]
        self._failures[key] = recent
        return recent
