"""Micro-benchmarks of audit commits on SQLite: strict (await the commit) vs batched.

``audit_strict``: one request at a time awaiting its own commit (the unloaded cost a strict
request pays), and 32 in flight (group commit shares one transaction and fsync among them).
``audit_batched``: events/s accepted when ``append`` does not wait for the commit.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.loadgen import percentile
from bench.micro import Unavailable, register


def _imports() -> tuple[Any, Any, Any]:
    try:
        from bordergate.audit.config import AuditConfig
        from bordergate.audit.event import AuditEvent
        from bordergate.audit.service import AuditLog
    except ImportError as exc:
        raise Unavailable(f"audit log not importable: {exc}") from exc
    return AuditConfig, AuditEvent, AuditLog


def _event(cls: Any) -> Any:
    return cls(
        request_id=uuid.uuid4().hex,
        endpoint="chat",
        decision="allow",
        status=200,
        principal_id="bench",
        team="platform",
        model_requested="gpt-4o-mini",
        deployment="openai/gpt-4o-mini",
        policy_ids=["baseline"],
        prompt_tokens=1000,
        completion_tokens=50,
        latency_ms=12.5,
    )


async def _strict(budget_s: float, db: Path) -> dict[str, float]:
    config_cls, event_cls, log_cls = _imports()
    log = log_cls.open(config_cls(database=f"sqlite:///{db}", durability="strict"))
    try:
        lat: list[float] = []
        end = time.perf_counter() + budget_s / 2
        while time.perf_counter() < end or len(lat) < 10:
            t0 = time.perf_counter()
            await log.append(_event(event_cls))
            lat.append((time.perf_counter() - t0) * 1e6)
        lat.sort()
        n = 0
        start = time.perf_counter()
        end = start + budget_s / 2
        while time.perf_counter() < end or n < 64:
            await asyncio.gather(*(log.append(_event(event_cls)) for _ in range(32)))
            n += 32
        c32 = n / (time.perf_counter() - start)
    finally:
        await log.close()
    return {"p50_us": percentile(lat, 50), "p99_us": percentile(lat, 99), "c32_events_per_s": c32}


async def _batched(budget_s: float, db: Path) -> dict[str, float]:
    config_cls, event_cls, log_cls = _imports()
    log = log_cls.open(config_cls(database=f"sqlite:///{db}", durability="batched"))
    n = 0
    start = time.perf_counter()
    try:
        end = start + budget_s
        while time.perf_counter() < end or n < 64:
            await log.append(_event(event_cls))
            n += 1
            if n % 256 == 0:
                await asyncio.sleep(0)
    finally:
        await log.close()  # includes flushing what is queued: the rate is of committed events
    return {"events_per_s": n / (time.perf_counter() - start)}


@register("audit_strict")
def audit_strict(budget_s: float) -> dict[str, float]:
    """Strict durability: per-event commit latency, and throughput with 32 in flight."""
    _imports()
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        return asyncio.run(_strict(budget_s, Path(tmp) / "audit.db"))


@register("audit_batched")
def audit_batched(budget_s: float) -> dict[str, float]:
    """Batched durability: events per second including the final flush."""
    _imports()
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        return asyncio.run(_batched(budget_s, Path(tmp) / "audit.db"))
