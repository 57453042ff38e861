"""Password guessing over SMTP AUTH, bounded: failures per client address and per user name within a window lock
both out for a while, and a locked address or user is refused without its password being checked.

Each attempt is charged as a failure before the password is checked and refunded if it succeeds, so parallel
connections cannot run more guesses than the limit while earlier ones are still being checked. The state is per
process (one node's view); it forgets the oldest keys past MAX_KEYS.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_KEYS = 65536
"""Client addresses and user names remembered at most; the least recently failing are forgotten first."""


@dataclass(slots=True)
class _Failures:
    """One key's recent failure times and the end of its lockout."""

    times: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


class AuthThrottle:
    """Counts failed logins per client address and per user; says when one of them is locked out."""

    def __init__(self, max_failures: int, window_s: float, lockout_s: float, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self.clock = clock
        self._keys: OrderedDict[str, _Failures] = OrderedDict()

    def locked(self, client: str, user: str) -> str:
        """"address" or "user" when that one is locked out now, else ""."""
        now = self.clock()
        for kind, key in (("address", f"client {client}"), ("user", f"user {user}")):
            entry = self._keys.get(key)
            if entry is not None and entry.locked_until > now:
                return kind
        return ""

    def charge(self, client: str, user: str) -> float:
        """Count an attempt as failed until `refund` says otherwise; returns its stamp for the refund."""
        now = self.clock()
        for key in (f"client {client}", f"user {user}"):
            entry = self._keys.pop(key, None) or _Failures()
            self._keys[key] = entry  # most recently failing last
            while entry.times and entry.times[0] <= now - self.window_s:
                entry.times.popleft()
            entry.times.append(now)
            if len(entry.times) >= self.max_failures:
                entry.locked_until = now + self.lockout_s
        while len(self._keys) > MAX_KEYS:
            self._keys.popitem(last=False)
        return now

    def refund(self, client: str, user: str, stamp: float) -> None:
        """The attempt charged at `stamp` succeeded: it is not a failure (a lockout it caused is lifted)."""
        for key in (f"client {client}", f"user {user}"):
            entry = self._keys.get(key)
            if entry is None:
                continue
            if stamp in entry.times:
                entry.times.remove(stamp)
            if len(entry.times) < self.max_failures and entry.locked_until == stamp + self.lockout_s:
                entry.locked_until = 0.0
