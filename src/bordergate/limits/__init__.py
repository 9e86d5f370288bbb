"""Rate limits and spend budgets behind one interface (memory or Redis backend)."""

from __future__ import annotations

import time
from collections.abc import Callable

from bordergate.limits.base import Limiter, LimitExceeded, Reservation
from bordergate.limits.config import LimitRule, LimitsConfig

__all__ = [
    "LimitExceeded",
    "LimitRule",
    "Limiter",
    "LimitsConfig",
    "Reservation",
    "build_limiter",
]


def build_limiter(config: LimitsConfig, *, clock: Callable[[], float] = time.time) -> Limiter:
    """The configured backend (call on the event loop that will use it)."""
    if config.backend == "redis":
        from bordergate.limits.redis_backend import RedisLimiter

        return RedisLimiter(config, clock=clock)
    from bordergate.limits.memory import MemoryLimiter

    return MemoryLimiter(config, clock=clock)
