"""Policy reload: a valid change swaps atomically, an invalid one keeps the old policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from bordergate.catalog.types import DeploymentFacts
from bordergate.identity.principal import Principal
from bordergate.policy.engine import PolicyError
from bordergate.policy.store import PolicyStore

ALLOW_ALL = '@id("base") permit (principal, action, resource);\n'
BAN_OPENAI = (
    ALLOW_ALL + '@id("no-openai") @reason("not today") forbid (principal, action, resource)'
    ' when { resource.vendor == "openai" };\n'
)
P = Principal(id="bob")
GPT = DeploymentFacts("gpt", "openai", "US", "openai/gpt-4o", False, "openai", "US", "", False)


def test_valid_reload_swaps(tmp_path: Path) -> None:
    path = tmp_path / "policy.cedar"
    path.write_text(ALLOW_ALL)
    store = PolicyStore([path])
    before = store.engine
    assert before.decide(P, GPT).allowed
    path.write_text(BAN_OPENAI)
    ok, message = store.reload()
    assert ok, message
    assert store.generation == 2
    assert store.engine.decide(P, GPT).policy_ids == ("no-openai",)
    # A request that took the old engine keeps deciding with it.
    assert before.decide(P, GPT).allowed


def test_invalid_reload_keeps_old_and_says_why(tmp_path: Path) -> None:
    path = tmp_path / "policy.cedar"
    path.write_text(BAN_OPENAI)
    store = PolicyStore([path])
    current = store.engine
    path.write_text(BAN_OPENAI.replace("resource.vendor", "resource.vendorr"))
    ok, message = store.reload()
    assert not ok
    assert "policy.cedar" in message and "vendorr" in message and "keeping" in message
    assert store.engine is current and store.generation == 1
    assert not store.engine.decide(P, GPT).allowed
    path.unlink()
    ok, message = store.reload()
    assert not ok and "cannot read" in message and store.engine is current


def test_store_refuses_to_start_on_invalid_policy(tmp_path: Path) -> None:
    path = tmp_path / "policy.cedar"
    path.write_text("permit (principal, action, resource);")
    with pytest.raises(PolicyError, match="@id"):
        PolicyStore([path])
