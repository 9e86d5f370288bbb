"""End to end: rate limits and budgets of one `bordergate serve` process (memory backend).

Keys come from the admin API (and the CLI for a budget), requests from the official openai and
anthropic SDKs; refusals must be 429 in the client's own wire format with `Retry-After`, and
what was spent is read back from the gateway's audit log.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.support import derive_config, emulator, gateway
from tests.test_e2e_identity_support import (
    ADMIN_KEY,
    admin_create,
    audit_outcomes,
    audit_spend,
    burst,
    create_key,
    in_one_window,
    report,
)

TEAM_RPM = 4
TEAM_BUDGET = 0.0004  # USD a month for team "ledger": a handful of requests
PROMPT = "Summarise the following notes. " + "lorem ipsum dolor sit amet " * 72  # ~2 KB


class Single:
    def __init__(self, url: str, config: Path, audit_db: str) -> None:
        self.url = url
        self.config = config
        self.audit_db = audit_db


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Single]:
    tmp = tmp_path_factory.mktemp("limits-memory")
    with emulator() as emu:
        config = derive_config(
            tmp,
            emu,
            drop=["policy"],
            dlp={"enabled": False},
            identity={
                "database_url": f"sqlite:///{tmp}/keys.db",
                "server_secret_file": str(tmp / "server-secret"),
                "admin_key": ADMIN_KEY,
            },
            limits={
                "backend": "memory",
                "teams": {
                    "research": {"rpm": TEAM_RPM},
                    "ledger": {"budget_usd": TEAM_BUDGET, "budget_period": "month"},
                },
            },
            audit={"database": f"sqlite:///{tmp}/audit.db", "durability": "strict"},
        )
        with gateway(config) as url:
            yield Single(url, config, f"sqlite:///{tmp}/audit.db")


def oai(gw: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw}/v1", api_key=key, max_retries=0, timeout=30)


def complete(gw: str, key: str, **kw: Any) -> Any:
    return oai(gw, key).chat.completions.create(
        **{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **kw}
    )


def user() -> str:
    return f"u-{uuid.uuid4().hex[:10]}@e2e"


def seconds_left_in_minute() -> float:
    return 60 - time.time() % 60


# --------------------------------------------------------------------------- rpm
def test_rpm_per_key_is_429_with_retry_after_in_openai_format(single: Single) -> None:
    def attempt() -> tuple[int, openai.RateLimitError, float]:
        key = admin_create(single.url, user=user(), rpm=3)["key"]
        served = 0
        for _ in range(6):
            try:
                complete(single.url, key)
                served += 1
            except openai.RateLimitError as exc:
                return served, exc, seconds_left_in_minute()
        raise AssertionError("never rate limited")

    served, exc, left = in_one_window(attempt)
    assert served == 3
    assert exc.status_code == 429
    retry_after = int(exc.response.headers["retry-after"])
    assert 1 <= retry_after <= 60 and abs(retry_after - left) <= 3
    err = exc.body if isinstance(exc.body, dict) else {}
    assert err["type"] == "rate_limit_exceeded" and err["code"] == "rpm"
    assert err["message"] == "key limit of 3 requests per minute reached"


def test_rpm_per_key_is_exact_under_concurrency(single: Single) -> None:
    def attempt() -> Counter[int]:
        key = admin_create(single.url, user=user(), rpm=10)["key"]
        return Counter(r.status_code for r in burst([single.url], key, 30))

    statuses = in_one_window(attempt)
    report("memory backend, rpm 10, 30 concurrent requests", statuses=dict(statuses))
    assert statuses == {200: 10, 429: 20}


def test_rpm_in_anthropic_format_on_messages(single: Single) -> None:
    def attempt() -> tuple[int, anthropic.RateLimitError]:
        key = admin_create(single.url, user=user(), rpm=2)["key"]
        claude = anthropic.Anthropic(base_url=single.url, api_key=key, max_retries=0)
        served = 0
        for _ in range(5):
            try:
                msg = claude.messages.create(
                    model="claude-sonnet-4-5",
                    max_tokens=32,
                    messages=[{"role": "user", "content": "hi"}],
                )
                assert msg.content[0].type == "text"
                served += 1
            except anthropic.RateLimitError as exc:
                return served, exc
        raise AssertionError("never rate limited")

    served, exc = in_one_window(attempt)
    assert served == 2
    assert exc.status_code == 429
    assert 1 <= int(exc.response.headers["retry-after"]) <= 60
    body = exc.body if isinstance(exc.body, dict) else {}
    assert body["type"] == "error"
    assert body["error"]["type"] == "rate_limit_exceeded"
    assert body["error"]["message"] == "key limit of 2 requests per minute reached"


def test_budget_in_anthropic_format_on_messages(single: Single) -> None:
    key = admin_create(single.url, user=user(), budget_usd=0.01, budget_period="month")["key"]
    claude = anthropic.Anthropic(base_url=single.url, api_key=key, max_retries=0)
    served = 0
    with pytest.raises(anthropic.RateLimitError) as exc:
        for _ in range(12):  # claude-sonnet-4-5 at $3/$15 per M: ~$0.0017 per request here
            claude.messages.create(
                model="claude-sonnet-4-5",
                max_tokens=20,
                messages=[{"role": "user", "content": PROMPT}],
            )
            served += 1
    assert served >= 2
    body = exc.value.body if isinstance(exc.value.body, dict) else {}
    assert body["type"] == "error" and body["error"]["type"] == "budget_exceeded"
    now = datetime.now(UTC)
    first_of_next = (now.replace(day=28) + timedelta(days=4)).replace(day=1)
    assert body["error"]["message"] == (
        "key budget of $0.01 per month is exhausted; "
        f"resets at {first_of_next.strftime('%Y-%m-%dT00:00:00Z')}"
    )
    assert int(exc.value.response.headers["retry-after"]) > 0


# --------------------------------------------------------------------------- tpm
def test_tpm_per_key(single: Single) -> None:
    tpm = 500

    def attempt() -> tuple[list[int], openai.RateLimitError]:
        key = admin_create(single.url, user=user(), tpm=tpm)["key"]
        used: list[int] = []
        for _ in range(15):
            try:
                done = complete(
                    single.url,
                    key,
                    messages=[{"role": "user", "content": PROMPT[:400]}],
                    max_tokens=20,
                )
            except openai.RateLimitError as exc:
                return used, exc
            assert done.usage is not None
            used.append(done.usage.total_tokens)
        raise AssertionError("never rate limited")

    used, exc = in_one_window(attempt)
    report("tpm 500: tokens of the admitted requests", used=used)
    assert len(used) >= 2
    # Within the limit, and not refused while far below it.
    assert sum(used) <= tpm < sum(used) + 2 * max(used)
    body = exc.body if isinstance(exc.body, dict) else {}
    assert body["type"] == "rate_limit_exceeded" and body["code"] == "tpm"
    assert body["message"] == f"key limit of {tpm} tokens per minute reached"
    assert 1 <= int(exc.response.headers["retry-after"]) <= 60

    # A single request that could never fit says so.
    key = admin_create(single.url, user=user(), tpm=tpm)["key"]
    with pytest.raises(openai.RateLimitError) as huge:
        complete(single.url, key, max_tokens=4000)
    assert "above the key limit of 500 tokens per minute" in huge.value.message


# --------------------------------------------------------------------------- team
def test_team_rpm_is_shared_by_the_team_keys(single: Single) -> None:
    def attempt() -> tuple[list[int], openai.RateLimitError, int]:
        keys = [admin_create(single.url, user=user(), team="research")["key"] for _ in range(2)]
        outsider = admin_create(single.url, user=user(), team="support")["key"]
        statuses: list[int] = []
        for i in range(TEAM_RPM + 3):
            try:
                complete(single.url, keys[i % 2])
                statuses.append(200)
            except openai.RateLimitError as exc:
                complete(single.url, outsider)  # other teams are not affected
                return statuses, exc, i
        raise AssertionError("never rate limited")

    statuses, exc, at = in_one_window(attempt)
    assert statuses == [200] * TEAM_RPM and at == TEAM_RPM
    assert exc.message.endswith(f"team 'research' limit of {TEAM_RPM} requests per minute reached")
    assert 1 <= int(exc.response.headers["retry-after"]) <= 60


# --------------------------------------------------------------------------- budget
def _spend_request(gw: str, key: str, kind: str) -> None:
    """One priced request: plain, a stream with usage, or a stream without (the client's)."""
    body: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": 20,
    }
    client = oai(gw, key)
    if kind == "plain":
        assert client.chat.completions.create(**body).usage is not None
        return
    if kind == "stream+usage":
        body["stream_options"] = {"include_usage": True}
    chunks = list(client.chat.completions.create(**body, stream=True))
    assert any(c.choices and c.choices[0].delta.content for c in chunks)
    has_usage = any(c.usage is not None for c in chunks)
    assert has_usage == (kind == "stream+usage")


def test_team_budget_is_shared_by_the_team_keys_and_spares_other_teams(single: Single) -> None:
    members = [user(), user()]
    keys = [admin_create(single.url, user=who, team="ledger")["key"] for who in members]
    outsider = admin_create(single.url, user=user(), team="support")["key"]
    served = 0
    refusal: openai.RateLimitError | None = None
    for i in range(40):
        try:
            _spend_request(single.url, keys[i % 2], ["plain", "stream"][i % 2])
            served += 1
        except openai.RateLimitError as exc:
            refusal = exc
            break
    assert refusal is not None, "the team budget never ran out"
    assert served >= 2  # both members spent from the one allowance before it ran out
    assert "team 'ledger' budget of $0.0004 per month is exhausted; resets at" in refusal.message
    body = refusal.body if isinstance(refusal.body, dict) else {}
    assert body["type"] == "budget_exceeded" and body["code"] == "budget"
    with pytest.raises(openai.RateLimitError):  # the other member is out of budget too
        _spend_request(single.url, keys[(served + 1) % 2], "plain")
    _spend_request(single.url, outsider, "plain")  # another team is not affected
    spent = [audit_spend(single.audit_db, who)[2] for who in members]
    assert all(s > 0 for s in spent)
    assert sum(spent) <= TEAM_BUDGET < sum(spent) + 2 * sum(spent) / served


def test_budget_per_key_counts_streams_and_names_period_and_reset(single: Single) -> None:
    budget = 0.0005  # gpt-4o-mini at $0.15/$0.60 per M: ~$0.00008 per request here
    who = user()
    key = create_key(single.config, who, "--budget", str(budget), "--budget-period", "day")
    kinds = ["stream", "plain", "stream+usage", "stream", "plain", "stream"] * 3
    served: list[str] = []
    refusal: openai.RateLimitError | None = None
    for kind in kinds:
        try:
            _spend_request(single.url, key["key"], kind)
            served.append(kind)
        except openai.RateLimitError as exc:
            refusal = exc
            break
    assert refusal is not None, "budget never ran out"
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z")
    assert refusal.message.endswith(
        f"key budget of $0.0005 per day is exhausted; resets at {tomorrow}"
    )
    body = refusal.body if isinstance(refusal.body, dict) else {}
    assert body["type"] == "budget_exceeded" and body["code"] == "budget"
    midnight = datetime.fromisoformat(tomorrow.replace("Z", "+00:00")).timestamp()
    assert abs(int(refusal.response.headers["retry-after"]) - (midnight - time.time())) < 30

    events, priced, spend = audit_spend(single.audit_db, who)
    report("budget $0.0005/day, memory backend", served=served, spend_usd=spend)
    assert "stream" in served and len(served) >= 3
    assert events == len(served) + 1 and priced == len(served)  # streams without usage too
    assert audit_outcomes(single.audit_db, who) == {"served": len(served), "budget_exceeded": 1}
    per_request = spend / len(served)
    assert spend <= budget < spend + 2 * per_request  # never over, and not refused early


def test_streams_without_any_usage_are_charged_an_estimate(single: Single) -> None:
    """A stream that ends without usage (dropped upstream, or a client that hangs up early)
    used the provider all the same: it is charged its estimate, not nothing."""
    who = user()
    key = admin_create(single.url, user=who, budget_usd=1.0)["key"]
    body: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": PROMPT + "\n@emulator drop_after_chunks=2"}],
        "max_tokens": 20,
        "stream": True,
    }
    with pytest.raises(openai.APIError):
        list(oai(single.url, key).chat.completions.create(**body))
    # A client that reads the first chunk of a slow stream and hangs up.
    slow = {**body, "messages": [{"role": "user", "content": "x\n@emulator chunk_delay_ms=200"}]}
    with httpx.stream(
        "POST",
        f"{single.url}/v1/chat/completions",
        json=slow,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    ) as r:
        assert r.status_code == 200
        next(r.iter_raw())
    deadline = time.time() + 10
    while audit_spend(single.audit_db, who)[0] < 2 and time.time() < deadline:
        time.sleep(0.05)
    events, priced, spend = audit_spend(single.audit_db, who)
    report("streams without usage", events=events, priced=priced, spend_usd=spend)
    # One event each (the hang-up is not recorded twice), each charged.
    assert audit_outcomes(single.audit_db, who) == {"upstream_error": 1, "client_gone": 1}
    assert events == 2 and priced == 2
