"""The request path builds its audit event directly (`prepare_event`, `Outcome.prepared`);
it must be byte for byte the event that `AuditEvent` would have produced."""

from __future__ import annotations

import json
import random
import time

import pytest

from bordergate.audit.event import AuditEvent, Finding, now_time
from bordergate.audit.event import to_nanousd as nanousd
from bordergate.audit.store import PreparedEvent, prepare_event
from bordergate.catalog.types import DeploymentFacts
from bordergate.identity.principal import Principal
from bordergate.server.chat import Outcome
from bordergate.upstream.dispatch import Usage

_TEXTS = [None, "", "alice", "zoë", "内部", 'quote " and \\ and \n', "team-α"]


def _random_fields(rng: random.Random) -> dict[str, object]:
    def text() -> str | None:
        value = rng.choice(_TEXTS)
        return None if value == "" else value  # the request path never sends ""

    return {
        "request_id": f"req_{rng.getrandbits(48):012x}",
        "endpoint": rng.choice(["chat", "messages"]),
        "decision": rng.choice(["allow", "redact", "deny", "error"]),
        "status": rng.choice([200, 403, 429, 499, 502, 504]),
        "error_kind": rng.choice(["served", "policy_denied", "upstream_error"]),
        "time": now_time(),
        "principal_id": text(),
        "team": text(),
        "model_requested": text(),
        "deployment": text(),
        "vendor": text(),
        "vendor_country": rng.choice([None, "US", "CN", "DE"]),
        "host": text(),
        "host_country": rng.choice([None, "US", "CN", "DE"]),
        "region": text(),
        "policy_ids": rng.sample(["a", "b.c", "vendor-ban", "中"], rng.randint(0, 3)),
        "findings": [
            Finding(rng.choice(["secret", "pii"]), f"rule-{i}", rng.randint(1, 9))
            for i in range(rng.randint(0, 3))
        ],
        "prompt_tokens": rng.randint(0, 10**7),
        "completion_tokens": rng.randint(0, 10**6),
        # Sealed bodies (`audit.store_bodies`): base64 text, or absent.
        "prompt_enc": rng.choice([None, "bm9uY2UrY2lwaGVydGV4dA=="]),
        "response_enc": rng.choice([None, "cmVzcG9uc2U="]),
    }


@pytest.mark.parametrize("seed", range(300))
def test_prepare_event_equals_the_audit_event_path(seed: int) -> None:
    rng = random.Random(seed)
    fields = _random_fields(rng)
    cost_nanousd = rng.choice([0, 1, 999_999_999, 1_000_000_000, rng.randint(0, 10**13)])
    latency_us = rng.choice([0, 999, 1000, rng.randint(0, 10**9)])
    fast = prepare_event(**fields, cost_nanousd=cost_nanousd, latency_us=latency_us)  # type: ignore[arg-type]
    reference = PreparedEvent.of(
        AuditEvent(
            **fields,  # type: ignore[arg-type]
            cost_usd=f"{cost_nanousd / 10**9:.9f}" if cost_nanousd < 2**52 else "0.000000000",
            latency_ms=f"{latency_us // 1000}.{latency_us % 1000:03d}",
        )
    )
    if cost_nanousd >= 2**52:  # beyond a float's exact integers: compare via the string form
        reference = PreparedEvent.of(
            AuditEvent(
                **fields,  # type: ignore[arg-type]
                cost_usd=f"{cost_nanousd // 10**9}.{cost_nanousd % 10**9:09d}",
                latency_ms=f"{latency_us // 1000}.{latency_us % 1000:03d}",
            )
        )
    assert fast == reference


def test_prepare_event_refuses_negative_amounts() -> None:
    fields = _random_fields(random.Random(1))
    with pytest.raises(ValueError):
        prepare_event(**fields, cost_nanousd=-1, latency_us=0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cost", "nanos"),
    [
        (0.0, 0),
        (0.000162, 162_000),
        (1.5, 1_500_000_000),
        (2.5e-9, 2),  # half to even, on the shortest spelling of the float
        (3.5e-9, 4),
        (1e-10, 0),
    ],
)
def test_nanousd_rounds_like_the_event_spelling(cost: float, nanos: int) -> None:
    assert nanousd(cost) == nanos
    assert AuditEvent("r", "chat", "allow", 200, cost_usd=cost).cost_nanousd == nanos


@pytest.mark.parametrize("cost", [-0.5, float("nan"), float("inf")])
def test_nanousd_of_an_impossible_cost_is_zero(cost: float) -> None:
    assert nanousd(cost) == 0


def test_outcome_prepared_carries_who_what_and_where() -> None:
    out = Outcome("req_1", "chat")
    out.principal = Principal(id="alice", team="")
    out.model_requested = "claude-sonnet-4-5"
    out.facts = DeploymentFacts(
        deployment="bedrock-eu/claude",
        vendor="anthropic",
        vendor_country="US",
        model="claude",
        open_weights=False,
        host="aws-bedrock",
        host_country="DE",
        region="",
        self_hosted=False,
    )
    out.usage = Usage(120, 30)
    out.cost_usd = 0.00081
    out.findings = [Finding("pii", "email", 2)]
    out.policy_ids = ("permit-eu",)
    out.started = time.perf_counter() - 0.0125
    prepared = out.prepared()
    event = AuditEvent.from_json(json.loads(prepared.canonical))
    assert (event.principal_id, event.team) == ("alice", None)  # "" becomes null
    assert (event.vendor, event.host_country, event.region) == ("anthropic", "DE", None)
    assert (event.prompt_tokens, event.completion_tokens) == (120, 30)
    assert event.cost_usd == "0.000810000" and event.cost_nanousd == 810_000
    assert 12.5 <= float(str(event.latency_ms)) < 1000
    assert event.findings == [Finding("pii", "email", 2)] and event.policy_ids == ["permit-eu"]
    assert event.time == out.arrived
    assert PreparedEvent.of(event) == prepared  # re-canonicalising changes nothing


def test_outcome_without_principal_or_deployment_has_nulls() -> None:
    event = AuditEvent.from_json(json.loads(Outcome("req_2", "messages").prepared().canonical))
    assert event.principal_id is None and event.deployment is None and event.vendor is None
