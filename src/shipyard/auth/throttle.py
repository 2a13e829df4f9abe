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
    """Counts password checks per (client address, username) in a sliding window.

    Keyed by both, so an attacker elsewhere cannot lock a user out, and one address cannot try many passwords
    for one account. Tokens are 256 random bits and need no throttle. State is per process (each worker counts
    its own), bounded in size, and forgotten on restart.

    An attempt is *reserved* before the password is checked, in one step under a lock: it counts as a failure
    from that moment, and only a success takes it back. So concurrent guesses cannot all pass the check before
    the first failure is recorded: of any number sent at once, at most ``max_failures`` reach the password check.

    Attributes:
        max_failures: attempts allowed in the window; the next one is refused until the oldest expires.
        window_s: the window's length in seconds.

    Example:
        >>> throttle = SignInThrottle(max_failures=1)
        >>> throttle.reserve("10.0.0.1", "ada")
        0
        >>> throttle.reserve("10.0.0.1", "ada") > 0
        True
    """

    max_failures: int = 10
    window_s: float = 300.0
    max_keys: int = 100_000
    _failures: OrderedDict[tuple[str, str], list[float]] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reserve(self, address: str, username: str) -> int:
        """Take one attempt before checking a password: 0 if it may go ahead, else the seconds to wait.

        The attempt counts as failed until `succeeded` is called for the same address and username.
        """
        now = time.monotonic()
        key = (address, username)
        with self._lock:
            recent = self._recent(key, now)
            if len(recent) >= self.max_failures:
                return max(1, math.ceil(recent[0] + self.window_s - now))
            recent.append(now)
            self._failures.move_to_end(key)
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)
            return 0

    def retry_after_s(self, address: str, username: str) -> int:
        """Seconds until ``username`` may try again from ``address``; 0 when it may try now (reserves nothing)."""
        now = time.monotonic()
        with self._lock:
            recent = self._recent((address, username), now)
            if len(recent) < self.max_failures:
                return 0
            return max(1, math.ceil(recent[0] + self.window_s - now))

    def succeeded(self, address: str, username: str) -> None:
        """Forget the attempts of a user who signed in (the reserved one included)."""
        with self._lock:
            self._failures.pop((address, username), None)

    def _recent(self, key: tuple[str, str], now: float) -> list[float]:
        recent = [t for t in self._failures.get(key, ()) if now - t < self.window_s]
        self._failures[key] = recent
        return recent
