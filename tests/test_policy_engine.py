"""Policy engine: validation at load, decisions that name their policies, the decision cache."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from bordergate.catalog.types import DeploymentFacts
from bordergate.identity.principal import Principal
from bordergate.policy.engine import DEFAULT_DENY, PolicyEngine, PolicyError, validate_policies

BAN = """
@id("baseline") @reason("allowed by default")
permit (principal, action == Action::"invoke", resource);

@id("no-anthropic") @reason("Anthropic is banned")
forbid (principal, action, resource) when { resource.vendor == "anthropic" };

@id("no-secrets-abroad") @reason("secrets stay home")
forbid (principal, action, resource)
when { context.data_classes.contains("secret") && resource.host_country != principal.org_country };
"""

ALICE = Principal(id="alice", team="eng", groups=("dev",), country="US", org_country="US")
CLAUDE = DeploymentFacts(
    "claude",
    "anthropic",
    "US",
    "anthropic/claude-sonnet-4-5",
    False,
    "aws-bedrock",
    "US",
    "",
    False,
)
GPT = DeploymentFacts("gpt", "openai", "US", "openai/gpt-4o", False, "openai", "US", "", False)
MISTRAL = DeploymentFacts(
    "mistral", "mistral", "FR", "mistral/mistral-large", True, "mistral", "FR", "", False
)


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine.from_text(BAN)


def test_forbid_overrides_permit_and_names_policy(engine: PolicyEngine) -> None:
    d = engine.decide(ALICE, CLAUDE)
    assert not d.allowed and d.decision == "deny"
    assert d.policy_ids == ("no-anthropic",)
    assert d.reasons == ("Anthropic is banned",)


def test_allow_names_the_permit(engine: PolicyEngine) -> None:
    d = engine.decide(ALICE, GPT)
    assert d.allowed and d.policy_ids == ("baseline",)


def test_data_classes_in_context(engine: PolicyEngine) -> None:
    assert engine.decide(ALICE, MISTRAL).allowed
    d = engine.decide(ALICE, MISTRAL, frozenset({"secret"}))
    assert not d.allowed and d.policy_ids == ("no-secrets-abroad",)
    both = engine.decide(ALICE, CLAUDE, frozenset({"secret"}))
    assert set(both.policy_ids) == {"no-anthropic"}  # host is US, so only the ban applies
    abroad = dataclasses.replace(CLAUDE, host_country="IE")
    both = engine.decide(ALICE, abroad, frozenset({"secret"}))
    assert set(both.policy_ids) == {"no-anthropic", "no-secrets-abroad"}
    assert len(both.reasons) == 2


def test_default_deny_when_nothing_permits() -> None:
    engine = PolicyEngine.from_text(
        '@id("eng-only") permit (principal, action, resource) when { principal.team == "eng" };'
    )
    assert engine.decide(ALICE, GPT).allowed
    d = engine.decide(dataclasses.replace(ALICE, team="sales"), GPT)
    assert not d.allowed and d.policy_ids == (DEFAULT_DENY,) and d.reasons[0]


def test_groups_are_a_set() -> None:
    engine = PolicyEngine.from_text(
        '@id("admins") permit (principal, action, resource)'
        ' when { principal.groups.contains("admins") };'
    )
    assert engine.decide(dataclasses.replace(ALICE, groups=("x", "admins")), GPT).allowed
    assert not engine.decide(ALICE, GPT).allowed


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('@id("x") forbid (principal, action, resource) when { resource.vendr == "a" };', "vendr"),
        (
            '@id("x") forbid (principal, action, resource) when { resource.self_hosted == "yes" };',
            "x",
        ),
        ('@id("x") permit (principal, action == Action::"invok", resource);', "invok"),
        ("permit (principal, action, resource);", "@id"),
        ('@id("x") permit (principal, action, resource) when {', "syntax"),
    ],
)
def test_invalid_policies_are_rejected_with_reason(text: str, fragment: str) -> None:
    with pytest.raises(PolicyError) as err:
        validate_policies(text, "team.cedar")
    assert "team.cedar" in str(err.value)
    assert fragment in str(err.value)


def test_from_files_names_the_bad_file_and_duplicates(tmp_path: Path) -> None:
    good = tmp_path / "good.cedar"
    good.write_text('@id("a") permit (principal, action, resource);')
    bad = tmp_path / "bad.cedar"
    bad.write_text('@id("b") forbid (principal, action, resource) when { resource.nope };')
    with pytest.raises(PolicyError, match=r"bad\.cedar"):
        PolicyEngine.from_files([good, bad])
    dup = tmp_path / "dup.cedar"
    dup.write_text('@id("a") forbid (principal, action, resource);')
    with pytest.raises(PolicyError, match="duplicate"):
        PolicyEngine.from_files([good, dup])
    with pytest.raises(PolicyError, match="cannot read"):
        PolicyEngine.from_files([tmp_path / "missing.cedar"])


def test_policy_ids_follow_file_order(tmp_path: Path) -> None:
    a = tmp_path / "a.cedar"
    a.write_text('@id("base") permit (principal, action, resource);')
    b = tmp_path / "b.cedar"
    b.write_text(
        '@id("one") @reason("r1") forbid (principal, action, resource)'
        ' when { resource.vendor == "openai" };\n'
        '@id("two") @reason("r2") forbid (principal, action, resource)'
        ' when { resource.vendor == "mistral" };'
    )
    engine = PolicyEngine.from_files([a, b])
    assert engine.decide(ALICE, GPT).policy_ids == ("one",)
    assert engine.decide(ALICE, MISTRAL).reasons == ("r2",)


def test_forbid_that_fails_to_evaluate_denies() -> None:
    engine = PolicyEngine.from_text(
        '@id("base") permit (principal, action, resource);\n'
        '@id("big") @reason("too big") forbid (principal, action, resource)'
        " when { context.estimated_tokens + 9223372036854775807 > 0 };"
    )
    assert engine.uses_tokens
    d = engine.decide(ALICE, GPT, estimated_tokens=10)
    assert not d.allowed and d.policy_ids == ("big",) and "failing closed" in d.reasons[0]


def test_cache_equals_uncached_and_hits(engine: PolicyEngine) -> None:
    fresh = PolicyEngine.from_text(BAN)
    combos = [
        (p, f, c)
        for p in (ALICE, dataclasses.replace(ALICE, org_country="CN"))
        for f in (CLAUDE, GPT, MISTRAL)
        for c in (frozenset(), frozenset({"secret"}))
    ]
    for p, f, c in combos:
        assert fresh.decide(p, f, c) == fresh.decide_uncached(p, f, c)
    before = fresh.cache_info()
    for p, f, c in combos:
        assert fresh.decide(p, f, c) == fresh.decide_uncached(p, f, c)
    after = fresh.cache_info()
    assert after.hits - before.hits == len(combos)
    assert after.misses == before.misses


def test_tokens_only_in_key_when_referenced() -> None:
    plain = PolicyEngine.from_text(BAN)
    assert not plain.uses_tokens
    plain.decide(ALICE, GPT, estimated_tokens=1)
    plain.decide(ALICE, GPT, estimated_tokens=2)
    assert plain.cache_info().misses == 1
    limited = PolicyEngine.from_text(
        '@id("base") permit (principal, action, resource);\n'
        '@id("huge") @reason("prompt too large") forbid (principal, action, resource)'
        " when { context.estimated_tokens > 100000 };"
    )
    assert limited.decide(ALICE, GPT, estimated_tokens=10).allowed
    assert limited.decide(ALICE, GPT, estimated_tokens=200_000).policy_ids == ("huge",)


def test_cached_decision_is_fast(engine: PolicyEngine) -> None:
    # Reported, not asserted on timing: the numbers land in the test output with -s / -rA.
    engine.decide(ALICE, CLAUDE)
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        engine.decide(ALICE, CLAUDE)
    cached = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    for _ in range(200):
        engine.decide_uncached(ALICE, CLAUDE)
    uncached = (time.perf_counter() - t0) / 200
    print(f"decide cached {cached * 1e6:.2f} us, uncached {uncached * 1e6:.1f} us")
    assert engine.decide(ALICE, CLAUDE) == engine.decide_uncached(ALICE, CLAUDE)
