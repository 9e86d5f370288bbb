"""The canonical event and the chain arithmetic, checked against values computed by hand."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

import pytest

from bordergate.audit.chain import GENESIS, chain_hash, chain_of, leaf_hash
from bordergate.audit.event import (
    AuditEvent,
    Finding,
    canonical_json,
)


def test_canonical_json_is_sorted_compact_utf8_and_has_every_field() -> None:
    event = AuditEvent(
        request_id="r-1",
        endpoint="/v1/chat/completions",
        decision="allow",
        status=200,
        time="2026-11-24T05:00:00+01:00",
        principal_id="zoë",
        policy_ids=["p2", "p1"],
        findings=[Finding("secret", "aws_key", 2)],
        cost_usd=0.00015,
        latency_ms=1.23456,
    )
    raw = event.canonical()
    text = raw.decode("utf-8")
    assert " " not in text.replace("/v1/chat/completions", "")
    assert "zoë" in text  # literal UTF-8, not \u escapes
    data = json.loads(raw)
    assert list(data) == sorted(data)
    assert data["time"] == "2026-11-24T04:00:00.000000Z"
    assert data["cost_usd"] == "0.000150000"
    assert data["latency_ms"] == "1.235"
    assert data["findings"] == [{"class": "secret", "count": 2, "rule": "aws_key"}]
    assert data["policy_ids"] == ["p2", "p1"]  # order kept: it is the deciding order
    assert data["deployment"] is None
    # Round trip through the stored JSON reproduces the same bytes.
    assert AuditEvent.from_json(data).canonical() == raw


def test_canonical_json_rejects_floats() -> None:
    with pytest.raises(ValueError):
        canonical_json({"a": 1.5})


def test_cost_is_exact_in_nano_dollars() -> None:
    event = AuditEvent("r", "/e", "allow", 200, cost_usd=Decimal("0.1") + Decimal("0.2"))
    assert event.cost_usd == "0.300000000"
    assert event.cost_nanousd == 300_000_000


def test_chain_vector_matches_hand_computation() -> None:
    e1, e2 = b'{"a":1}', b'{"b":2}'
    leaf1 = hashlib.sha256(b"\x00" + e1).digest()
    leaf2 = hashlib.sha256(b"\x00" + e2).digest()
    c1 = hashlib.sha256(b"\x01" + bytes(32) + leaf1).digest()
    c2 = hashlib.sha256(b"\x01" + c1 + leaf2).digest()
    assert leaf_hash(e1) == leaf1
    assert chain_hash(GENESIS, leaf1) == c1
    assert chain_of([e1, e2]) == [c1, c2]
    # The domain separation matters: a leaf is not the plain SHA-256 of the event.
    assert leaf1 != hashlib.sha256(e1).digest()


def test_chain_rejects_wrong_sizes() -> None:
    with pytest.raises(ValueError):
        chain_hash(b"short", bytes(32))
