"""Slowing password guessing: too many failed sign-ins for one account from one address are refused for a while."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shipyard.errors import TooManyAttempts

if TYPE_CHECKING:
    from shipyard.auth.entities import User
    from shipyard.auth.service import AuthService

__all__ = ["REAUTH_ADDRESS", "SignInThrottle"]

# The pseudo-address under which checks of a signed-in user's *current* password are counted (the account page
# and ``PATCH /api/v1/auth/users/{name}`` share it): only someone already holding one of this user's credentials
# reaches that check, so one key per account locks out nobody else, and a session and a token share one budget.
REAUTH_ADDRESS = "reauth"
# Keys are bounded, so junk usernames (a Basic header can carry kilobytes) cannot make the table huge.
_MAX_KEY_CHARS = 128


@dataclass
class SignInThrottle:
    """Counts password checks per (client address, username) in a sliding window.

    Keyed by both, so an attacker elsewhere cannot lock a user out, and one address cannot try many passwords
    for one account. Tokens are 256 random bits and need no throttle. State is per process (each worker counts
    its own), bounded in size, and forgotten on restart.

    An attempt is *reserved* before the password is checked, in one step under a lock: it counts as a failure
    from that moment, and only a success takes it back. So concurrent guesses cannot all pass the check before
    the first failure is recorded: of any number sent at once, at most ``max_failures`` reach the password check.

    Every sign-in path goes through `check_password`, which also lets a request whose exact credentials were
    verified a moment ago (the mlflow client sends them on every call) through without taking an attempt, as
    long as the key is not locked: a locked key refuses even the right password, so it cannot be probed.

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
        key = _key(address, username)
        with self._lock:
            recent = self._recent(key, now)
            if len(recent) >= self.max_failures:
                return max(1, math.ceil(recent[0] + self.window_s - now))
            recent.append(now)
            self._failures[key] = recent
            self._failures.move_to_end(key)
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)
            return 0

    def retry_after_s(self, address: str, username: str) -> int:
        """Seconds until ``username`` may try again from ``address``; 0 when it may try now (reserves nothing)."""
        now = time.monotonic()
        with self._lock:
            recent = self._recent(_key(address, username), now)
            if len(recent) < self.max_failures:
                return 0
            return max(1, math.ceil(recent[0] + self.window_s - now))

    def succeeded(self, address: str, username: str) -> None:
        """Forget the attempts of a user who signed in (the reserved one included)."""
        with self._lock:
            self._failures.pop(_key(address, username), None)

    def check_password(self, accounts: AuthService, address: str, username: str, password: str) -> User | None:
        """Check a password sent from ``address``, counted against the limit: the user, or None when wrong.

        Credentials verified a moment ago pass without an attempt (they are right, and cost no hashing); any
        other check reserves an attempt first, atomically, and only a right password gives it back.

        Raises:
            TooManyAttempts: the limit is reached; ``retry_after_s`` says for how long.
        """
        wait_s = self.retry_after_s(address, username)
        if not wait_s:
            user = accounts.cached_user(username, password)
            if user is not None:
                return user
            wait_s = self.reserve(address, username)
        if wait_s:
            raise TooManyAttempts(
                f"Too many failed sign-ins for '{username[:64]}' from this address; try again in {wait_s} s.", wait_s
            )
        user = accounts.check_password(username, password)
        if user is not None:
            self.succeeded(address, username)
        return user

    def _recent(self, key: tuple[str, str], now: float) -> list[float]:
        """The key's attempts still in the window; a key with none is forgotten (looking never adds one)."""
        recent = [t for t in self._failures.get(key, ()) if now - t < self.window_s]
        if recent:
            self._failures[key] = recent
        else:
            self._failures.pop(key, None)
        return recent


def _key(address: str, username: str) -> tuple[str, str]:
    return address[:_MAX_KEY_CHARS], username[:_MAX_KEY_CHARS]
