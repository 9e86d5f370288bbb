"""Exactness across replicas: two `bordergate serve` processes share Redis limits.

Both replicas use one Redis (limits.backend redis, a prefix unique to this run) and one
PostgreSQL (keys and audit). Bursts of concurrent requests, split over both, must be admitted
exactly up to the configured rate, and a budget must never be overrun: the audit log and the
Redis counters are read back to check what was spent.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from bordergate.limits.base import MICRO, period_bounds
from tests.conftest import REDIS_URL
from tests.support import derive_config, emulator, gateway
from tests.test_e2e_identity_support import (
    ADMIN_KEY,
    admin_create,
    audit_outcomes,
    audit_spend,
    burst,
    in_one_window,
    pg_schema,
    report,
)

TEAM_RPM = 15
PROMPT = "Summarise the following notes. " + "lorem ipsum dolor sit amet " * 72  # ~2 KB


class Pair:
    def __init__(self, urls: list[str], pg: str, prefix: str) -> None:
        self.urls = urls
        self.pg = pg
        self.prefix = prefix


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("limits-redis")
    prefix = f"bgtest:{uuid.uuid4().hex[:12]}:"
    with emulator() as emu, pg_schema() as pg:
        config = derive_config(
            tmp,
            emu,
            drop=["policy"],
            dlp={"enabled": False},
            identity={
                "database_url": pg,
                "server_secret_file": str(tmp / "server-secret"),
                "admin_key": ADMIN_KEY,
            },
            limits={
                "backend": "redis",
                "redis_url": REDIS_URL,
                "prefix": prefix,
                "teams": {"burst": {"rpm": TEAM_RPM}},
            },
            audit={"database": pg, "durability": "strict"},
        )
        with gateway(config) as a, gateway(config) as b:
            yield Pair([a, b], pg, prefix)
    r = redis.Redis.from_url(REDIS_URL)
    keys = list(r.scan_iter(match=f"{prefix}*"))
    if keys:
        r.delete(*keys)
    r.close()


def user() -> str:
    return f"u-{uuid.uuid4().hex[:10]}@e2e"


def test_key_rpm_is_exact_across_two_replicas(pair: Pair) -> None:
    rpm, sent = 25, 80

    def attempt() -> tuple[str, Counter[int], list[Any]]:
        who = user()
        key = admin_create(pair.urls[0], user=who, rpm=rpm)["key"]
        answers = burst(pair.urls, key, sent)
        return who, Counter(r.status_code for r in answers), answers

    who, statuses, answers = in_one_window(attempt, margin_s=15)
    per_replica = Counter((str(r.request.url).split("/v1")[0], r.status_code) for r in answers)
    report(
        f"two replicas, key rpm {rpm}, {sent} concurrent requests",
        statuses=dict(statuses),
        per_replica=dict(per_replica),
    )
    assert statuses == {200: rpm, 429: sent - rpm}
    refused = [r.json()["error"] for r in answers if r.status_code == 429]
    assert {e["type"] for e in refused} == {"rate_limit_exceeded"}
    assert all(1 <= int(r.headers["retry-after"]) <= 60 for r in answers if r.status_code == 429)
    assert {u for u, _ in per_replica} == set(pair.urls)  # both replicas took part
    assert audit_outcomes(pair.pg, who) == {"served": rpm, "rate_limited": sent - rpm}


def test_team_rpm_is_exact_across_two_replicas(pair: Pair) -> None:
    sent = 45

    def attempt() -> Counter[int]:
        # Three members with generous own limits: only the shared team limit can bind.
        keys = [
            admin_create(pair.urls[i % 2], user=user(), team="burst", rpm=1000)["key"]
            for i in range(3)
        ]
        statuses: Counter[int] = Counter()
        answers = burst(pair.urls, keys[0], sent // 3) + burst(pair.urls, keys[1], sent // 3)
        for r in answers + burst(pair.urls, keys[2], sent // 3):
            statuses[r.status_code] += 1
            if r.status_code == 429:
                assert r.json()["error"]["message"].startswith("team 'burst' limit of")
        return statuses

    statuses = in_one_window(attempt, margin_s=15)
    report(f"two replicas, team rpm {TEAM_RPM}, {sent} requests", statuses=dict(statuses))
    assert statuses == {200: TEAM_RPM, 429: sent - TEAM_RPM}


def test_budget_is_never_overrun_across_two_replicas(pair: Pair) -> None:
    budget, sent = 0.001, 40  # ~$0.00008 per request: about a dozen fit
    who = user()
    made = admin_create(pair.urls[1], user=who, budget_usd=budget, budget_period="day")
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": 20,
    }
    # Half of them streams whose client did not ask for usage: they must be charged too.
    label, _ = period_bounds("day", time.time())
    answers = burst(pair.urls, made["key"], sent, [body, {**body, "stream": True}])
    statuses = Counter(r.status_code for r in answers)
    refused = [r.json()["error"] for r in answers if r.status_code == 429]
    assert statuses[200] >= 2 and refused
    assert {e["type"] for e in refused} == {"budget_exceeded"}
    assert all("key budget of $0.001 per day is exhausted" in e["message"] for e in refused)
    streams_served = sum(1 for r in answers if r.status_code == 200 and r.text.startswith("data:"))
    assert streams_served >= 1

    events, priced, spend = audit_spend(pair.pg, who)
    r = redis.Redis.from_url(REDIS_URL)
    counter = int(r.get(f"{pair.prefix}budget:key:{made['id']}:{label}") or 0)
    r.close()
    report(
        f"two replicas, budget ${budget}/day, {sent} concurrent requests",
        statuses=dict(statuses),
        streams_served=streams_served,
        audit_spend_usd=spend,
        redis_counter_usd=counter / MICRO,
    )
    assert events == sent and priced == statuses[200]
    # Every request reserves its estimated cost before it goes upstream (and here the
    # estimate is never below the actual cost), so the requests in flight when the budget ran
    # out were already paid for: spend never exceeds the budget.
    assert spend <= budget
    # The shared counter holds exactly what was spent, settled from the upstream's usage
    # (each request's cost is rounded to a micro-dollar there).
    assert abs(counter - spend * MICRO) <= statuses[200]
