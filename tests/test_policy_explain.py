"""explain(): the resolution, every candidate with its decision, and alternatives on denial."""

from __future__ import annotations

import json

import pytest

from bordergate.catalog.catalog import Catalog
from bordergate.identity.principal import Principal
from bordergate.policy.engine import PolicyEngine
from bordergate.policy.explain import allowed_names, explain, first_permitted

POLICY = """
@id("base") @reason("default allow") permit (principal, action, resource);
@id("ban-anthropic") @reason("no Anthropic") forbid (principal, action, resource)
when { resource.vendor == "anthropic" };
@id("secrets-home") @reason("secrets stay in the org's country")
forbid (principal, action, resource)
when { context.data_classes.contains("secret") && !resource.self_hosted };
"""
USER = Principal(id="dana", team="eng", country="DE", org_country="DE")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine.from_text(POLICY)


def _models(catalog: Catalog) -> dict[str, list]:  # type: ignore[type-arg]
    return {
        "smart": [
            catalog.deployment_facts(
                "claude-bedrock", "aws-bedrock", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
            ),
            catalog.deployment_facts("gpt-azure", "azure", "gpt-4o", "westeurope"),
        ],
        "claude": [catalog.deployment_facts("claude-direct", "anthropic", "claude-sonnet-4-5")],
        "local": [
            catalog.deployment_facts(
                "local-qwen", "self-hosted", "coder", self_hosted=True,
                base_model="alibaba/qwen3-coder-30b-a3b",
            )
        ],
    }  # fmt: skip


def test_first_permitted_skips_denied_candidates(catalog: Catalog, engine: PolicyEngine) -> None:
    chosen, decisions = first_permitted(engine, USER, _models(catalog)["smart"])
    assert chosen is not None and chosen.deployment == "gpt-azure"
    assert [d.allowed for d in decisions] == [False, True]


def test_allowed_names(catalog: Catalog, engine: PolicyEngine) -> None:
    assert allowed_names(engine, USER, _models(catalog)) == ["smart", "local"]


def test_explain_allow_via_fallback(catalog: Catalog, engine: PolicyEngine) -> None:
    models = _models(catalog)
    out = explain(engine, catalog, USER, "smart", models["smart"])
    assert out["decision"] == "allow"
    assert out["deployment"] == "gpt-azure"
    assert out["vendor"] == "openai"
    assert out["policies"] == ["base"]
    assert out["alternatives"] == []
    assert [c["decision"] for c in out["candidates"]] == ["deny", "allow"]
    assert out["candidates"][0]["policies"] == ["ban-anthropic"]
    assert out["candidates"][0]["vendor"] == "anthropic"
    json.dumps(out)  # JSON-ready


def test_explain_deny_lists_reasons_and_alternatives(
    catalog: Catalog, engine: PolicyEngine
) -> None:
    models = _models(catalog)
    alternatives = allowed_names(engine, USER, models)
    out = explain(engine, catalog, USER, "claude", models["claude"], alternatives=alternatives)
    assert out["decision"] == "deny"
    assert out["deployment"] is None
    assert out["vendor"] == "anthropic"
    assert out["policies"] == ["ban-anthropic"]
    assert out["reasons"] == ["no Anthropic"]
    assert out["alternatives"] == ["smart", "local"]
    assert out["resolution"]["vendor_country"] == "US"


def test_explain_with_data_classes(catalog: Catalog, engine: PolicyEngine) -> None:
    models = _models(catalog)
    out = explain(engine, catalog, USER, "smart", models["smart"], frozenset({"secret"}))
    assert out["decision"] == "deny"
    assert set(out["policies"]) == {"ban-anthropic", "secrets-home"}
    assert out["data_classes"] == ["secret"]
    local = explain(engine, catalog, USER, "local", models["local"], frozenset({"secret"}))
    assert local["decision"] == "allow" and local["vendor"] == "alibaba"


def test_explain_without_candidates(catalog: Catalog, engine: PolicyEngine) -> None:
    out = explain(engine, catalog, USER, "nothing-here", [])
    assert out["decision"] == "deny" and out["policies"] == ["no-candidate"]
    assert out["resolution"]["vendor"] == "unknown"
