"""Redis limiter: one shared set of counters for every replica.

Check-and-reserve is a single Lua script, so Redis runs it atomically: no replica can read a
counter between another's read and increment. Window and period are chosen by the caller's
clock and baked into the key names, so replicas agree as long as their clocks do (NTP).
All counters of one request live in one Redis; use a single node (or hash tags in `prefix`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from bordergate.identity.types import Identity
from bordergate.limits.base import Reservation, exceeded, plan, settle_deltas, to_micro
from bordergate.limits.config import LimitsConfig

# KEYS: counters; ARGV: limit, amount, ttl per counter. Returns 0 when admitted (all
# counters incremented) or the 1-based index of the first counter that refused.
CHECK_LUA = """
for i = 1, #KEYS do
  local cur = tonumber(redis.call('GET', KEYS[i]) or '0')
  local lim = tonumber(ARGV[3 * i - 2])
  local amt = tonumber(ARGV[3 * i - 1])
  if cur >= lim or cur + amt > lim then
    return i
  end
end
for i = 1, #KEYS do
  redis.call('INCRBY', KEYS[i], tonumber(ARGV[3 * i - 1]))
  if redis.call('TTL', KEYS[i]) < 0 then
    redis.call('EXPIRE', KEYS[i], tonumber(ARGV[3 * i]))
  end
end
return 0
"""

# KEYS: counters; ARGV: delta per counter. Only existing (unexpired) windows are adjusted,
# so a late settle never resurrects an old window without a TTL.
SETTLE_LUA = """
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('INCRBY', KEYS[i], tonumber(ARGV[i]))
  end
end
return 0
"""


class RedisLimiter:
    """Counters in Redis, shared by every replica configured with the same prefix."""

    def __init__(
        self,
        config: LimitsConfig,
        *,
        client: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if client is None:
            if not config.redis_url:
                raise ValueError("RedisLimiter needs limits.redis_url")
            client = aioredis.Redis.from_url(config.redis_url)
        self.config = config
        self._redis = client
        self._clock = clock
        self._check = client.register_script(CHECK_LUA)
        self._settle = client.register_script(SETTLE_LUA)

    async def check(
        self, identity: Identity, estimated_tokens: int, estimated_cost_usd: float = 0.0
    ) -> Reservation:
        now = self._clock()
        micro = max(0, to_micro(estimated_cost_usd))
        counters = plan(identity, self.config, estimated_tokens, micro, now)
        if counters:
            args: list[int] = []
            for c in counters:
                args += [c.limit, c.amount, c.ttl_s]
            refused = int(await self._check(keys=[c.key for c in counters], args=args))
            if refused:
                raise exceeded(counters[refused - 1], now)
        return Reservation(counters, max(0, estimated_tokens), micro)

    async def settle(self, reservation: Reservation, actual_tokens: int, cost_usd: float) -> None:
        deltas = settle_deltas(reservation, actual_tokens, cost_usd)
        if deltas:
            await self._settle(keys=[k for k, _ in deltas], args=[d for _, d in deltas])

    async def usage(self, key: str) -> int:
        """Current value of one counter (for tests and the admin view)."""
        value = await self._redis.get(key)
        return int(value or 0)

    async def close(self) -> None:
        await self._redis.aclose()
