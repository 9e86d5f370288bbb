"""Decision timing: what `make bench` reports for the policy path (cached vs uncached)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from bordergate.catalog.types import DeploymentFacts
from bordergate.identity.principal import Principal
from bordergate.policy.engine import PolicyEngine


def measure(
    engine: PolicyEngine,
    principal: Principal,
    facts: DeploymentFacts,
    data_classes: frozenset[str] = frozenset(),
    rounds: int = 2000,
) -> dict[str, float]:
    """Median and p99 microseconds of `decide` from the cache and of a full Cedar evaluation."""

    def sample(fn: Callable[[], object], n: int) -> list[float]:
        out: list[float] = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t0) * 1e6)
        return sorted(out)

    engine.decide(principal, facts, data_classes)  # warm the cache entry
    cached = sample(lambda: engine.decide(principal, facts, data_classes), rounds)
    uncached = sample(
        lambda: engine.decide_uncached(principal, facts, data_classes), max(rounds // 10, 20)
    )
    return {
        "cached_p50_us": round(statistics.median(cached), 2),
        "cached_p99_us": round(cached[int(len(cached) * 0.99) - 1], 2),
        "uncached_p50_us": round(statistics.median(uncached), 1),
        "uncached_p99_us": round(uncached[int(len(uncached) * 0.99) - 1], 1),
    }
