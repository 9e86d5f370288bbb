"""Exactness across replicas: two OS processes share one Redis limiter and hammer it at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

import bordergate

REDIS_URL = "redis://127.0.0.1:6379/0"
T0 = 1_795_000_030.0  # fixed mid-window instant shared by both processes

# One replica: waits at a Redis barrier so both start together, then runs `workers`
# concurrent loops of check -> (yield) -> settle until each has tried `attempts` times or
# hit a limit. Prints a JSON summary.
WORKER = r"""
import asyncio, json, sys
import redis.asyncio as aioredis
from bordergate.identity.types import Identity, KeyLimits
from bordergate.identity.principal import Principal
from bordergate.limits import LimitExceeded, LimitsConfig
from bordergate.limits.redis_backend import RedisLimiter

args = json.loads(sys.argv[1])

async def main():
    r = aioredis.Redis.from_url(args["url"])
    cfg = LimitsConfig(backend="redis", redis_url=args["url"], prefix=args["prefix"])
    limiter = RedisLimiter(cfg, clock=lambda: args["now"])
    ident = Identity(Principal(id="u", team="t", key_id="key_shared"), KeyLimits(**args["limits"]))
    await r.incr(args["prefix"] + "barrier")
    while int(await r.get(args["prefix"] + "barrier")) < 2:
        await asyncio.sleep(0.001)
    admitted = refused = 0

    async def worker():
        nonlocal admitted, refused
        for _ in range(args["attempts"]):
            try:
                res = await limiter.check(ident, 0, args["estimate"])
            except LimitExceeded:
                refused += 1
                if args["stop_on_refusal"]:
                    return
                continue
            admitted += 1
            await asyncio.sleep(0)
            await limiter.settle(res, 0, args["actual"])

    await asyncio.gather(*(worker() for _ in range(args["workers"])))
    print(json.dumps({"admitted": admitted, "refused": refused}))
    await limiter.close()
    await r.aclose()

asyncio.run(main())
"""


@pytest.fixture
def prefix(redis_prefix: str) -> Iterator[str]:
    yield redis_prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=redis_prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


def run_replicas(prefix: str, **args: object) -> list[dict[str, int]]:
    """Start two replica processes on the same Redis prefix; return their summaries."""
    src = str(Path(bordergate.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    payload = json.dumps({"url": REDIS_URL, "prefix": prefix, "now": T0, **args})
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, payload],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for _ in range(2)
    ]
    out = []
    try:
        for p in procs:
            stdout, stderr = p.communicate(timeout=60)
            assert p.returncode == 0, stderr
            out.append(json.loads(stdout))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return out


def test_rpm_exact_across_two_processes(prefix: str) -> None:
    results = run_replicas(
        prefix,
        limits={"rpm": 200},
        workers=20,
        attempts=8,
        estimate=0.0,
        actual=0.0,
        stop_on_refusal=False,
    )
    # 320 attempts from two processes (released together by a Redis barrier): exactly 200 in.
    assert sum(r["admitted"] for r in results) == 200
    assert sum(r["refused"] for r in results) == 2 * 20 * 8 - 200


def test_budget_exact_when_estimates_are_right(prefix: str) -> None:
    # $1.00 budget, $0.01 per request: exactly 100 requests fit, never 101.
    results = run_replicas(
        prefix,
        limits={"budget_usd": 1.0, "budget_period": "day"},
        workers=15,
        attempts=10,
        estimate=0.01,
        actual=0.01,
        stop_on_refusal=False,
    )
    assert sum(r["admitted"] for r in results) == 100
    spent = _spent(prefix)
    assert spent == 1_000_000  # micro-dollars


def test_budget_overrun_bounded_by_in_flight(prefix: str) -> None:
    # Requests cost 50% more than estimated; the overrun can only come from requests that
    # were admitted (in flight) when the budget ran out: at most one per concurrent worker.
    workers = 2 * 15
    results = run_replicas(
        prefix,
        limits={"budget_usd": 1.0, "budget_period": "day"},
        workers=15,
        attempts=20,
        estimate=0.01,
        actual=0.015,
        stop_on_refusal=True,
    )
    admitted = sum(r["admitted"] for r in results)
    spent = _spent(prefix)
    assert spent == admitted * 15_000  # every request settled at its actual cost
    assert spent > 1_000_000  # the underestimate did overrun ...
    assert spent <= 1_000_000 + workers * 15_000  # ... but only by in-flight requests


def _spent(prefix: str) -> int:
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=prefix + "budget:key:key_shared:*"))
    assert len(keys) == 1
    value = int(client.get(keys[0]) or 0)
    client.close()
    return value
