"""`bordergate report`: every grouping in every format, checked against the events themselves."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from bordergate.audit.event import AuditEvent, Finding
from bordergate.audit.report import BY_CHOICES, build_report, parse_bound
from bordergate.audit.store import AuditStore, PreparedEvent
from bordergate.cli import main

VENDORS = [
    ("acme", "US", "cloudy", "US"),
    ("beta", "CN", "cloudy", "DE"),
    ("acme", "US", "own", "FR"),
]


def events() -> list[AuditEvent]:
    out = []
    for i in range(24):
        vendor, vcountry, host, hcountry = VENDORS[i % 3]
        denied = i % 5 == 0
        out.append(
            AuditEvent(
                request_id=f"r{i}",
                endpoint="/v1/chat/completions",
                time=f"2026-11-{1 + i % 20:02d}T10:00:00Z",
                decision="deny" if denied else "allow",
                status=403 if denied else (502 if i % 7 == 0 else 200),
                error_kind=(
                    ("data_policy_denied" if i % 2 else "policy_denied")
                    if denied
                    else ("upstream_error" if i % 7 == 0 else "served")
                ),
                principal_id=f"user{i % 4}",
                team=["red", "blue", None][i % 3],
                vendor=None if denied else vendor,
                vendor_country=None if denied else vcountry,
                host=None if denied else host,
                host_country=None if denied else hcountry,
                policy_ids=(["no-cn", "secrets"] if i % 10 == 0 else ["no-cn"]) if denied else [],
                findings=[Finding("secret", "aws_key", 2), Finding("pii", "email", 1)]
                if i % 4 == 0
                else [],
                prompt_tokens=0 if denied else 10 * i,
                completion_tokens=0 if denied else i,
                cost_usd=Decimal("0") if denied else Decimal("0.000123456") * i,
            )
        )
    return out


def keys_of(event: AuditEvent, by: str) -> list[str]:
    if by == "policy":
        return list(event.policy_ids) or ["(none)"]
    if by == "data_class":
        return sorted({f.data_class for f in event.findings}) or ["(none)"]
    value = getattr(event, "principal_id" if by == "user" else by)
    return [value] if value else ["(none)"]


@pytest.fixture(params=["sqlite", "postgresql"])
def config(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    url = (
        f"sqlite:///{tmp_path}/audit.db"
        if request.param == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    store = AuditStore(url)
    store.append_batch([PreparedEvent.of(e) for e in events()])
    store.close()
    path = tmp_path / "gateway.yaml"
    path.write_text(f"server: {{port: 8080}}\naudit:\n  database: '{url}'\n")
    return path


@pytest.mark.parametrize("by", BY_CHOICES)
def test_report_json_groups_match_the_events(
    config: Path, by: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--config", str(config), "--by", by, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    expected_requests: Counter[str] = Counter()
    expected_tokens: Counter[str] = Counter()
    expected_cost: dict[str, Decimal] = {}
    for event in events():
        for key in keys_of(event, by):
            expected_requests[key] += 1
            expected_tokens[key] += event.prompt_tokens
            expected_cost[key] = expected_cost.get(key, Decimal(0)) + Decimal(str(event.cost_usd))
    usage = {row["key"]: row for row in data["usage"]}
    assert {k: r["requests"] for k, r in usage.items()} == dict(expected_requests)
    assert {k: r["prompt_tokens"] for k, r in usage.items()} == dict(expected_tokens)
    assert {k: Decimal(r["cost_usd"]) for k, r in usage.items()} == expected_cost
    assert data["totals"]["requests"] == len(events())
    for row in data["usage"]:
        assert row["served"] + row["blocked"] + row["errors"] == row["requests"]


def test_report_denials_and_findings(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--config", str(config), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    denied = [e for e in events() if e.decision == "deny"]
    expected = Counter((p, e.error_kind) for e in denied for p in e.policy_ids)
    got = {(d["policy"], d["reason"]): d["requests"] for d in data["denials"]}
    assert got == dict(expected)
    with_findings = [e for e in events() if e.findings]
    secret = next(f for f in data["findings"] if f["class"] == "secret")
    assert secret["requests"] == len(with_findings)
    assert secret["count"] == 2 * len(with_findings)
    assert secret["rules"] == ["aws_key"]
    assert data["totals"]["blocked"] == len(denied)


@pytest.mark.parametrize("by", BY_CHOICES)
def test_report_csv_and_table_for_every_grouping(
    config: Path, by: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--config", str(config), "--by", by, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    expected = Counter(k for e in events() for k in keys_of(e, by))
    assert {r[by]: int(r["requests"]) for r in rows} == dict(expected)
    assert main(["report", "--config", str(config), "--by", by, "--format", "table"]) == 0
    table = capsys.readouterr().out
    assert table.startswith(f"Usage by {by}")
    for key in expected:
        assert key in table
    assert "Blocked requests by policy and reason" in table
    assert "Data findings by class" in table


def test_report_window_is_since_inclusive_until_exclusive(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["report", "--config", str(config), "--format", "json", "--by", "team"]
    assert main([*argv, "--since", "2026-11-05", "--until", "2026-11-10"]) == 0
    data = json.loads(capsys.readouterr().out)
    expected = [e for e in events() if "2026-11-05" <= e.time < "2026-11-10"]
    assert data["totals"]["requests"] == len(expected) > 0


def test_parse_bound_accepts_relative_and_absolute() -> None:
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert parse_bound("7d", now) == "2026-11-17T12:00:00.000000Z"
    assert parse_bound("2026-11-01") == "2026-11-01T00:00:00.000000Z"
    assert parse_bound("2026-11-01T10:00:00+02:00") == "2026-11-01T08:00:00.000000Z"
    with pytest.raises(ValueError):
        parse_bound("last tuesday")


def test_unknown_grouping_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        build_report(AuditStore(f"sqlite:///{tmp_path}/a.db"), by="colour")
