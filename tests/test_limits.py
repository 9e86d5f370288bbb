"""Limiter behaviour, identical on the memory and the Redis backend (injected clock)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from bordergate.identity.auth import Identity
from bordergate.identity.keys import KeyLimits
from bordergate.identity.principal import Principal
from bordergate.limits import LimitExceeded, LimitsConfig, build_limiter
from bordergate.limits.base import Limiter, period_bounds
from bordergate.limits.memory import MemoryLimiter
from bordergate.limits.redis_backend import RedisLimiter

REDIS_URL = "redis://127.0.0.1:6379/0"
# 2026-11-24 10:00:30 UTC: half-way through a minute window.
T0 = datetime(2026, 11, 24, 10, 0, 30, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


Factory = Callable[..., Limiter]


@pytest.fixture(params=["memory", "redis"])
def make(request: pytest.FixtureRequest) -> Iterator[Factory]:
    """Build a limiter of the parametrised backend from limits-config fields and a clock."""
    prefix = ""
    if request.param == "redis":
        prefix = request.getfixturevalue("redis_prefix")

    def factory(clock: Clock, **cfg: Any) -> Limiter:
        if request.param == "memory":
            return MemoryLimiter(LimitsConfig(**cfg), clock=clock)
        config = LimitsConfig(backend="redis", redis_url=REDIS_URL, prefix=prefix, **cfg)
        return RedisLimiter(config, clock=clock)

    yield factory
    if prefix:
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


def who(key_id: str = "key_a", team: str = "", **limits: Any) -> Identity:
    return Identity(Principal(id="u-" + key_id, team=team, key_id=key_id), KeyLimits(**limits))


async def admitted(limiter: Limiter, identity: Identity, n: int, tokens: int = 0) -> int:
    """How many of n concurrent checks get through."""
    results = await asyncio.gather(
        *(limiter.check(identity, tokens) for _ in range(n)), return_exceptions=True
    )
    for r in results:
        if isinstance(r, BaseException) and not isinstance(r, LimitExceeded):
            raise r
    return sum(1 for r in results if not isinstance(r, BaseException))


def test_rpm_is_exact_per_window(make: Factory) -> None:
    clock = Clock()

    async def go() -> None:
        limiter = make(clock)
        ident = who(rpm=7)
        assert await admitted(limiter, ident, 30) == 7
        with pytest.raises(LimitExceeded) as info:
            await limiter.check(ident, 0)
        exc = info.value
        assert (exc.kind, exc.scope, exc.period) == ("rpm", "key", "minute")
        assert exc.retry_after_s == pytest.approx(30) and exc.retry_after_header == "30"
        clock.now += 29.9
        assert await admitted(limiter, ident, 1) == 0
        clock.now += 0.1  # next window
        assert await admitted(limiter, ident, 30) == 7
        assert await admitted(limiter, who("key_b", rpm=7), 30) == 7  # keys are independent
        await limiter.close()

    asyncio.run(go())


def test_tpm_reserves_estimate_and_reconciles(make: Factory) -> None:
    clock = Clock()

    async def go() -> None:
        limiter = make(clock)
        ident = who(tpm=1000)
        first = await limiter.check(ident, 400)
        await limiter.check(ident, 400)
        with pytest.raises(LimitExceeded) as info:
            await limiter.check(ident, 400)
        assert info.value.kind == "tpm"
        await limiter.settle(first, 100, 0.0)  # used 100 of the 400 estimated
        await limiter.check(ident, 400)  # 100 + 400 + 400 = 900
        with pytest.raises(LimitExceeded):
            await limiter.check(ident, 101)
        last = await limiter.check(ident, 100)  # exactly at the limit
        await limiter.settle(last, 0, 0.0)  # a failed request releases its estimate
        last = await limiter.check(ident, 100)
        with pytest.raises(LimitExceeded):
            await limiter.check(ident, 0)  # window exhausted
        with pytest.raises(LimitExceeded, match="above the key limit"):
            await limiter.check(who("key_big", tpm=10), 11)
        await limiter.close()

    asyncio.run(go())


def test_team_limits_are_shared(make: Factory) -> None:
    clock = Clock()
    cfg = {"teams": {"ml": {"rpm": 5}}, "team_defaults": {"rpm": 2}}

    async def go() -> None:
        limiter = make(clock, **cfg)
        a, b = who("key_a", team="ml"), who("key_b", team="ml")
        assert await admitted(limiter, a, 3) == 3
        assert await admitted(limiter, b, 3) == 2
        with pytest.raises(LimitExceeded) as info:
            await limiter.check(a, 0)
        assert info.value.scope == "team" and "'ml'" in info.value.message
        other = who("key_c", team="web")  # unlisted team gets team_defaults
        assert await admitted(limiter, other, 5) == 2
        assert await admitted(limiter, who("key_d"), 5) == 5  # no team: no team limit
        await limiter.close()

    asyncio.run(go())


def test_defaults_apply_to_keyless_callers(make: Factory) -> None:
    clock = Clock()

    async def go() -> None:
        limiter = make(clock, defaults={"rpm": 3})
        jwt_user = Identity(Principal(id="alice"), KeyLimits())
        assert await admitted(limiter, jwt_user, 5) == 3
        own = who("key_own", rpm=4)  # a key's own limit wins over the default
        assert await admitted(limiter, own, 6) == 4
        await limiter.close()

    asyncio.run(go())


def test_budget_reserve_reconcile_and_reset_info(make: Factory) -> None:
    clock = Clock()

    async def go() -> None:
        limiter = make(clock, teams={"ml": {"budget_usd": 100.0}})
        ident = who(team="ml", budget_usd=1.0, budget_period="day")
        r1 = await limiter.check(ident, 10, 0.4)
        await limiter.check(ident, 10, 0.4)
        with pytest.raises(LimitExceeded) as info:
            await limiter.check(ident, 10, 0.4)  # 0.8 + 0.4 > 1.0
        exc = info.value
        midnight = datetime(2026, 11, 25, tzinfo=UTC).timestamp()
        assert (exc.kind, exc.scope, exc.period, exc.resets_at) == (
            "budget",
            "key",
            "day",
            midnight,
        )
        assert exc.retry_after_s == pytest.approx(midnight - T0)
        assert "$1.00 per day" in exc.message and "2026-11-25T00:00:00Z" in exc.message
        assert exc.as_dict()["resets_at"] == midnight and exc.as_dict()["kind"] == "budget"
        await limiter.settle(r1, 10, 0.1)  # reconciled: spent 0.5
        r3 = await limiter.check(ident, 10, 0.4)  # 0.9
        await limiter.settle(r3, 10, 0.5)  # actual above estimate: spent 1.0
        with pytest.raises(LimitExceeded):
            await limiter.check(ident, 10, 0.0)  # exhausted even for a zero estimate
        clock.now = midnight  # a new day
        await limiter.check(ident, 10, 0.9)
        await limiter.close()

    asyncio.run(go())


def test_team_budget_per_month(make: Factory) -> None:
    clock = Clock()

    async def go() -> None:
        limiter = make(clock, teams={"ml": {"budget_usd": 1.0, "budget_period": "month"}})
        for key in ("key_1", "key_2"):
            await limiter.check(who(key, team="ml"), 0, 0.5)
        with pytest.raises(LimitExceeded) as info:
            await limiter.check(who("key_3", team="ml"), 0, 0.01)
        exc = info.value
        assert (exc.scope, exc.period) == ("team", "month")
        assert exc.resets_at == datetime(2026, 12, 1, tzinfo=UTC).timestamp()
        await limiter.close()

    asyncio.run(go())


def test_late_settle_does_not_resurrect_a_window(make: Factory) -> None:
    clock = Clock()

    async def go() -> None:
        limiter = make(clock)
        ident = who(tpm=100)
        res = await limiter.check(ident, 50)
        (counter,) = res.counters
        assert isinstance(limiter, MemoryLimiter | RedisLimiter)
        assert await limiter.usage(counter.key) == 50
        clock.now += 600  # the window is over: memory entry expired ...
        if isinstance(limiter, RedisLimiter):  # ... and the Redis key's TTL ran out
            await limiter._redis.delete(counter.key)
        await limiter.settle(res, 80, 0.0)
        assert await limiter.usage(counter.key) == 0
        if isinstance(limiter, RedisLimiter):
            assert await limiter._redis.exists(counter.key) == 0
        assert await admitted(limiter, ident, 1, tokens=100) == 1
        await limiter.close()

    asyncio.run(go())


def test_period_bounds() -> None:
    dec = datetime(2026, 12, 31, 23, 59, tzinfo=UTC).timestamp()
    assert period_bounds("month", dec) == ("2026-12", datetime(2027, 1, 1, tzinfo=UTC).timestamp())
    feb = datetime(2028, 2, 10, tzinfo=UTC).timestamp()
    assert period_bounds("month", feb)[1] == datetime(2028, 3, 1, tzinfo=UTC).timestamp()
    assert period_bounds("day", dec) == ("2026-12-31", datetime(2027, 1, 1, tzinfo=UTC).timestamp())
    with pytest.raises(ValueError):
        period_bounds("year", dec)


def test_build_limiter_and_config() -> None:
    assert isinstance(build_limiter(LimitsConfig()), MemoryLimiter)
    with pytest.raises(ValueError, match="redis_url"):
        LimitsConfig(backend="redis")
    limiter = build_limiter(LimitsConfig(backend="redis", redis_url=REDIS_URL))
    assert isinstance(limiter, RedisLimiter)
    asyncio.run(limiter.close())


def test_limits_config_from_gateway_yaml(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from bordergate.identity.config import ConfigError
    from bordergate.limits.config import load_limits_config

    monkeypatch.setenv("BG_TEST_REDIS", REDIS_URL)
    path = tmp_path / "gateway.yaml"
    path.write_text(
        "server: {port: 8080}\n"
        "limits:\n"
        "  backend: redis\n"
        "  redis_url: ${BG_TEST_REDIS}\n"
        "  prefix: ${BG_TEST_PREFIX:-bg:}\n"
        "  defaults: {rpm: 60}\n"
        "  teams: {ml: {tpm: 100000, budget_usd: 500, budget_period: month}}\n"
    )
    cfg = load_limits_config(path)
    assert (cfg.redis_url, cfg.prefix, cfg.defaults.rpm) == (REDIS_URL, "bg:", 60)
    assert cfg.teams["ml"].budget_usd == 500
    path.write_text("limits:\n  backend: redis\n  teams: {ml: {rpm: -1}}\n")
    with pytest.raises(ConfigError, match="limits"):
        load_limits_config(path)
