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


def test_a_file_emptied_mid_write_keeps_the_old_rules(tmp_path: Path) -> None:
    """An editor truncates before it writes: an empty file parses, but its rules must not
    vanish for the moment in between."""
    bans, base = tmp_path / "bans.cedar", tmp_path / "base.cedar"
    base.write_text(ALLOW_ALL)
    bans.write_text(BAN_OPENAI.replace(ALLOW_ALL, ""))
    store = PolicyStore([base, bans])
    for emptied in ("", "  \n// rules come here\n"):
        bans.write_text(emptied)
        ok, message = store.reload()
        assert not ok and "bans.cedar now holds no policies" in message, message
        assert store.generation == 1 and not store.engine.decide(P, GPT).allowed
    bans.write_text(BAN_OPENAI.replace(ALLOW_ALL, "").replace("not today", "not now"))
    assert store.reload()[0] and store.generation == 2


def test_store_refuses_to_start_on_invalid_policy(tmp_path: Path) -> None:
    path = tmp_path / "policy.cedar"
    path.write_text("permit (principal, action, resource);")
    with pytest.raises(PolicyError, match="@id"):
        PolicyStore([path])
