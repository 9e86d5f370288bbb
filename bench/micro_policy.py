"""Micro-benchmarks of the policy decision: from the decision cache, and a full Cedar call.

Uses the example policy pack (``examples/policies/*/policy.cedar``) and the shipped catalog's
facts for ``gpt-4o-mini`` on OpenAI, i.e. what the bench's Bordergate target decides per request.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from bench.micro import Unavailable, register, timed

POLICY_DIR = Path(__file__).resolve().parent.parent / "examples" / "policies"


@functools.cache
def _setup() -> tuple[Any, Any, Any]:
    try:
        from bordergate.catalog.catalog import Catalog
        from bordergate.identity.principal import Principal
        from bordergate.policy.engine import PolicyEngine
    except ImportError as exc:
        raise Unavailable(f"policy engine not importable: {exc}") from exc
    files = sorted(POLICY_DIR.glob("*/policy.cedar"))
    if not files:
        raise Unavailable(f"no example policy pack under {POLICY_DIR}")
    engine = PolicyEngine.from_files(files)
    facts = Catalog.load().deployment_facts("bench", "openai", "gpt-4o-mini")
    principal = Principal(id="bench", team="platform", country="DE", org="acme", org_country="DE")
    return engine, principal, facts


@register("policy_cached")
def policy_cached(budget_s: float) -> dict[str, float]:
    """``PolicyEngine.decide`` with the entry already cached: the hot path's usual cost."""
    engine, principal, facts = _setup()
    engine.decide(principal, facts)
    return timed(lambda: engine.decide(principal, facts), budget_s)


@register("policy_uncached")
def policy_uncached(budget_s: float) -> dict[str, float]:
    """``PolicyEngine.decide_uncached``: a full Cedar evaluation (a cache miss)."""
    engine, principal, facts = _setup()
    return timed(lambda: engine.decide_uncached(principal, facts), budget_s)
