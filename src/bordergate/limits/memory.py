"""In-process limiter: the embedded default, exact within one process.

Check-and-reserve runs under a lock with no await inside, so concurrent requests on the loop
(or threads) cannot both take the last unit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from bordergate.identity.types import Identity
from bordergate.limits.base import (
    Reservation,
    admits,
    exceeded,
    plan,
    settle_deltas,
    to_micro,
)
from bordergate.limits.config import LimitsConfig

_SWEEP_EVERY = 1024


class MemoryLimiter:
    """Counters in a dict of key -> [value, expires_at]; expired windows are swept lazily."""

    def __init__(self, config: LimitsConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self._counters: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self._ops = 0

    def _current(self, key: str, now: float) -> int:
        entry = self._counters.get(key)
        if entry is None or entry[1] <= now:
            return 0
        return int(entry[0])

    def _sweep(self, now: float) -> None:
        dead = [k for k, (_, exp) in self._counters.items() if exp <= now]
        for k in dead:
            del self._counters[k]

    async def check(
        self, identity: Identity, estimated_tokens: int, estimated_cost_usd: float = 0.0
    ) -> Reservation:
        now = self._clock()
        micro = max(0, to_micro(estimated_cost_usd))
        counters = plan(identity, self.config, estimated_tokens, micro, now)
        if not counters:  # no limit applies to this caller: nothing to count
            return Reservation(counters, max(0, estimated_tokens), micro)
        with self._lock:
            for c in counters:
                if not admits(self._current(c.key, now), c):
                    raise exceeded(c, now)
            for c in counters:
                entry = self._counters.get(c.key)
                if entry is None or entry[1] <= now:
                    self._counters[c.key] = [float(c.amount), now + c.ttl_s]
                else:
                    entry[0] += c.amount
            self._ops += 1
            if self._ops % _SWEEP_EVERY == 0:
                self._sweep(now)
        return Reservation(counters, max(0, estimated_tokens), micro)

    async def settle(self, reservation: Reservation, actual_tokens: int, cost_usd: float) -> None:
        if not reservation.counters:
            return
        now = self._clock()
        with self._lock:
            for key, delta in settle_deltas(reservation, actual_tokens, cost_usd):
                entry = self._counters.get(key)
                if entry is not None and entry[1] > now:
                    entry[0] += delta

    async def usage(self, key: str) -> int:
        """Current value of one counter (for tests and the admin view)."""
        with self._lock:
            return self._current(key, self._clock())

    async def close(self) -> None:
        return None
