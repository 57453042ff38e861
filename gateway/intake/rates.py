"""Faxes per sender per window (smtp.rate_limit per smtp.rate_window), counted from the shared store.

Every accepted submission stores its sender's rate key and fax count in the transaction that stores the
submission (`stored_fields`), so a count is durable exactly when the 250 is: every node sharing the store sees
every node's faxes, and a restart forgets nothing. To avoid a query per RCPT, a node reads a key's count from
the store at most once per `cache_s` (one indexed query, gateway.storage.rates.faxes_since) and adds the faxes
it accepted itself since that read.

Remaining overshoot: a node decides with the store's count from at most `cache_s` ago plus its own faxes since,
so it misses (a) faxes other nodes accepted for the sender after its last read and (b) mails between their
check and their commit (concurrent DATA for the same sender, on any node). A sender can therefore exceed the
limit by at most what the other nodes accepted for it within one `cache_s`, plus its mails in flight; with one
node, only by its mails in flight (as before). Each node on its own never accepts more than the limit from its
own count, so a window never holds more than nodes x limit (plus mails in flight). created_at is each node's
wall clock: clock skew between nodes moves the window's edge by the skew.

A read that starts after a commit but before the node notes it may count that fax twice, until the next read;
that errs towards a 450, which the client retries.

With no limit (0) nothing is queried and nothing more is stored, so intake costs what it did.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.storage import Database
from gateway.storage.rates import faxes_since

CACHE_S = 1.0
"""How long a node trusts the store's count for a key before reading it again."""
MAX_KEY_CHARS = 255
"""submissions.rate_key's width; longer keys (a very long sender address) are stored as their SHA-256."""
MAX_TALLIES = 4096
"""Keys held before stale ones are dropped (a dropped key is simply read from the store again)."""


@dataclass(slots=True)
class _Tally:
    """One key's view: the store's count at the last read, and this node's faxes since."""

    stored: int = 0
    read_at: float = float("-inf")
    """The clock when the last read started."""
    read_seq: int = -1
    """How many faxes this node had noted for the key when the last read started."""
    noted: int = 0
    """Faxes this node has noted for the key (a sequence number for `accepted`)."""
    accepted: deque[tuple[int, float, int]] = field(default_factory=deque)
    """(sequence number, clock, count) of this node's faxes not yet known to be in `stored`."""


def stored_key(key: str) -> str:
    """The key as submissions.rate_key holds it: itself, or its SHA-256 when too long for the column."""
    if len(key) <= MAX_KEY_CHARS:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class RateLimiter:
    """A sliding window of accepted faxes per sender key, shared by every node through the store."""

    def __init__(self, db: Database, limit: int, window_s: float, *, clock: Callable[[], float] = time.time,
                 cache_s: float = CACHE_S) -> None:
        self.db = db
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        """Wall-clock seconds, the time base of submissions.created_at."""
        self.cache_s = cache_s
        self._tallies: dict[str, _Tally] = {}

    async def allows(self, key: str, count: int = 1) -> bool:
        """True if `count` more faxes fit in the sender's window (always true, and no query, with no limit)."""
        if self.limit <= 0:
            return True
        tally = await self._fresh_tally(stored_key(key))
        return self._used(tally) + count <= self.limit

    def stored_fields(self, key: str, count: int) -> dict[str, Any]:
        """The rate_key and fax_count to store with the submission (none with no limit: nothing more to write)."""
        if self.limit <= 0:
            return {}
        return {"rate_key": stored_key(key), "fax_count": count}

    def record(self, key: str, count: int) -> None:
        """Note `count` faxes this node has just committed for `key`, until the next read of the store sees them."""
        if self.limit <= 0:
            return
        tally = self._tallies.setdefault(stored_key(key), _Tally())
        tally.accepted.append((tally.noted, self.clock(), count))
        tally.noted += 1

    def _used(self, tally: _Tally) -> int:
        horizon = self.clock() - self.window_s
        return tally.stored + sum(count for _, at, count in tally.accepted if at > horizon)

    async def _fresh_tally(self, key: str) -> _Tally:
        """The key's tally, read again from the store when the last read is older than cache_s."""
        tally = self._tallies.get(key)
        now = self.clock()
        if tally is not None and 0 <= now - tally.read_at < self.cache_s:
            return tally
        if tally is None:
            self._forget_stale(now)
            tally = self._tallies.setdefault(key, _Tally())
        await self._read(key, tally, now)
        return tally

    async def _read(self, key: str, tally: _Tally, now: float) -> None:
        """Take the store's count; faxes noted before the read began are in it, later ones stay noted."""
        seq = tally.noted
        async with self.db.transaction() as conn:
            stored = await faxes_since(conn, key, now - self.window_s)
        if seq < tally.read_seq:
            return  # a read that began later has already been applied
        tally.stored, tally.read_at, tally.read_seq = stored, now, seq
        while tally.accepted and tally.accepted[0][0] < seq:
            tally.accepted.popleft()

    def _forget_stale(self, now: float) -> None:
        """Bound memory: past MAX_TALLIES keys, drop those whose read is stale (their faxes are in the store)."""
        if len(self._tallies) >= MAX_TALLIES:
            stale = [key for key, tally in self._tallies.items() if not 0 <= now - tally.read_at < self.cache_s]
            for key in stale:
                del self._tallies[key]
