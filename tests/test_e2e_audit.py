"""End to end: the audit log as written by a running `bordergate serve`, read by the CLI.

One module-scoped gateway (derived from examples/emulated.yaml, audit in a temporary SQLite,
signed checkpoints in a directory) receives a fixed mix of traffic through the official openai
SDK: served (JSON and streamed), denied by policy, refused for a secret, redacted, rate-limited,
upstream failure and timeout, bad request, bad key, provider error mid-stream, client gone
mid-stream. What the client saw
(status, x-request-id, usage) is the expectation every event, report and export is held to.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from tests.support import ROOT, derive_config, emulator, gateway

DEMO_KEY = "bg-demo-key"
ALICE_KEY = "bg-e2e-alice-0123456789"
BOB_KEY = "bg-e2e-bob-0123456789ab"
SECRET = "ghp_R7x2Kq9LmN4pV8sT1wY6zB3cD5fG0hJ2aE4u"
EMAIL = "anna.schmidt@firma-nord.de"
# Who each key is (the static keys added to the example config below).
PEOPLE = {
    DEMO_KEY: ("demo", "platform"),
    ALICE_KEY: ("alice", "research"),
    BOB_KEY: ("bob", "sandbox"),
}
# Catalog facts of the deployments the traffic is served by (what the audit must name).
FACTS = {
    "openai/gpt-4o-mini": ("openai", "US", "openai", "US"),
    "dashscope/qwen3-coder-plus": ("alibaba", "CN", "dashscope", "CN"),
    "deepseek/deepseek-chat": ("deepseek", "CN", "deepseek", "CN"),
    "inhouse/qwen3-coder-30b": ("alibaba", "CN", "self-hosted", "DE"),
    "openai_slow/gpt-4o-mini": ("openai", "US", "openai", "US"),
}
BLOCKED = {"policy_denied", "data_policy_denied", "rate_limited", "budget_exceeded", "auth_failed"}


def bordergate(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would, from the project root."""
    return subprocess.run(
        [sys.executable, "-m", "bordergate", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def audit_config(tmp: Path, emu: str, audit: dict[str, Any]) -> Path:
    """The shipped example plus two more people, a tiny rate limit and a 1 s provider."""
    path = derive_config(tmp, emu)
    data = yaml.safe_load(path.read_text())
    data["identity"]["static_keys"] += [
        {"key": ALICE_KEY, "user": "alice", "team": "research", "country": "DE"},
        {"key": BOB_KEY, "user": "bob", "team": "sandbox", "country": "DE"},
    ]
    data["limits"] = {"teams": {"sandbox": {"rpm": 1}}}
    data["dlp"].pop("fingerprint_index", None)
    data["providers"]["openai_slow"] = {**data["providers"]["openai"], "timeout_s": 1}
    data["models"]["gpt-4o-mini-slow"] = [{"provider": "openai_slow", "model": "gpt-4o-mini"}]
    data["audit"] = audit
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@dataclass
class Sent:
    """One request as the client experienced it."""

    request_id: str
    key: str
    model: str | None
    status: int
    error_kind: str
    deployment: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    decision: str = "allow"
    policy_ids: tuple[str, ...] | None = None  # None: not checked exactly
    findings: list[dict[str, Any]] = field(default_factory=list)
    endpoint: str = "chat"
    # A stream that delivered chunks and then ended badly (client gone, provider error) is
    # charged the estimate reserved before sending: reading half a stream must not be free.
    charged_estimate: bool = False


@dataclass
class Env:
    url: str
    config: Path
    db: Path
    checkpoints: Path
    public_key: Path
    sent: list[Sent]


def client(url: str, key: str = DEMO_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=20)


def ask(url: str, key: str, model: str, text: str) -> Sent:
    """A JSON completion; errors are observed, not raised."""
    try:
        raw = client(url, key).chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": text}]
        )
    except openai.APIStatusError as exc:
        rid = exc.response.headers["x-request-id"]
        kind = exc.body.get("type") if isinstance(exc.body, dict) else None
        return Sent(rid, key, model, exc.status_code, str(kind))
    completion = raw.parse()
    usage = completion.usage
    assert usage is not None
    return Sent(
        raw.headers["x-request-id"],
        key,
        model,
        200,
        "served",
        raw.headers["x-bordergate-deployment"],
        usage.prompt_tokens,
        usage.completion_tokens,
    )


def ask_stream(url: str, key: str, model: str, text: str) -> Sent:
    """A streamed completion read to its end (the SDK stops at [DONE])."""
    stream = client(url, key).chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": text}],
        stream=True,
        stream_options={"include_usage": True},
    )
    usage = None
    for chunk in stream:
        usage = chunk.usage or usage
    assert usage is not None
    headers = stream.response.headers
    return Sent(
        headers["x-request-id"],
        key,
        model,
        200,
        "served",
        headers["x-bordergate-deployment"],
        usage.prompt_tokens,
        usage.completion_tokens,
    )


def read_events(db: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT seq, event FROM audit_events ORDER BY seq").fetchall()
    return [{**json.loads(event), "_seq": seq} for seq, event in rows]


def wait_for_events(db: Path, request_ids: set[str], timeout: float = 15.0) -> list[dict]:
    """Events are durable before a served response completes, but refusals after a disconnect
    are written asynchronously: poll with a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        events = read_events(db)
        if request_ids <= {e["request_id"] for e in events} or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


def generate_traffic(url: str) -> list[Sent]:
    """The fixed mix of outcomes; returns what the clients saw."""
    sent = [
        ask(url, DEMO_KEY, "gpt-4o-mini", "hello"),
        ask(url, ALICE_KEY, "qwen3-coder-plus", "write a sort"),
        ask(url, ALICE_KEY, "deepseek-chat", "explain"),
        ask(url, DEMO_KEY, "inhouse-coder", "local please"),
        ask_stream(url, DEMO_KEY, "gpt-4o-mini", "stream\n@emulator chunks=5"),
        ask_stream(url, ALICE_KEY, "deepseek-chat", "stream\n@emulator chunks=3"),
    ]
    denied = ask(url, DEMO_KEY, "claude-sonnet-4-5", "hi claude")
    assert (denied.status, denied.error_kind) == (403, "policy_denied")
    denied.decision, denied.policy_ids = "deny", ("ban-anthropic",)
    secret = ask(url, ALICE_KEY, "gpt-4o-mini", f"my token is {SECRET} keep it safe")
    assert (secret.status, secret.error_kind) == (403, "data_policy_denied")
    secret.decision, secret.policy_ids = "deny", ("no-secrets-out",)
    secret.findings = [{"class": "secret", "rule": "github-pat", "count": 1}]
    redacted = ask(url, DEMO_KEY, "gpt-4o-mini", f"mail {EMAIL} and cc {EMAIL} today")
    assert redacted.status == 200 and redacted.deployment == "openai/gpt-4o-mini"
    redacted.decision = "redact"
    redacted.findings = [{"class": "personal_data", "rule": "email", "count": 2}]
    sent += [denied, secret, redacted]
    # Bob's team may send one request a minute: of three in a row at least one is refused.
    bobs = [ask(url, BOB_KEY, "deepseek-chat", f"bob {i}") for i in range(3)]
    assert any(s.status == 429 for s in bobs)
    for s in bobs:
        if s.status == 429:
            s.error_kind = "rate_limited"
    sent += bobs
    failed = ask(url, DEMO_KEY, "inhouse-coder", "x\n@emulator status=500")
    assert failed.status == 502
    failed.error_kind = "upstream_error"
    failed.deployment = "inhouse/qwen3-coder-30b"  # the event names the provider that failed
    slow = ask(url, DEMO_KEY, "gpt-4o-mini-slow", "x\n@emulator latency_ms=2500")
    assert slow.status == 504
    slow.error_kind = "upstream_timeout"
    slow.deployment = "openai_slow/gpt-4o-mini"
    bad = httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": "not a list"},
        headers={"authorization": f"Bearer {DEMO_KEY}"},
    )
    assert bad.status_code == 400
    bad_sent = Sent(bad.headers["x-request-id"], DEMO_KEY, None, 400, "bad_request")
    denied_key = httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]},
        headers={"authorization": "Bearer bg-wrong-key"},
    )
    assert denied_key.status_code == 401
    auth = Sent(denied_key.headers["x-request-id"], "", None, 401, "auth_failed", decision="deny")
    sent += [failed, slow, bad_sent, auth]
    # The provider fails mid-stream (an OpenAI `data: {"error": ...}` event after the 200):
    # the client sees the error, and the event says the request failed upstream.
    broken = client(url).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "x\n@emulator chunks=4 stream_error_after_chunks=1"}],
        stream=True,
    )
    with pytest.raises(openai.APIError, match="server had an error"):
        for _ in broken:
            pass
    headers = broken.response.headers
    sent.append(
        Sent(
            headers["x-request-id"],
            DEMO_KEY,
            "gpt-4o-mini",
            502,
            "upstream_error",
            headers["x-bordergate-deployment"],
            charged_estimate=True,
        )
    )
    # Client gone mid-stream: read two chunks of a long stream and hang up.
    stream = client(url).chat.completions.create(
        model="deepseek-chat",
        messages=[{"role": "user", "content": "x\n@emulator chunks=400 chunk_delay_ms=20"}],
        stream=True,
    )
    it = iter(stream)
    next(it)
    next(it)
    gone_id = stream.response.headers["x-request-id"]
    gone_dep = stream.response.headers["x-bordergate-deployment"]
    stream.close()
    sent.append(
        Sent(
            gone_id, DEMO_KEY, "deepseek-chat", 499, "client_gone", gone_dep, charged_estimate=True
        )
    )
    for s in sent:
        if s.status >= 400 and s.decision == "allow":
            s.decision = "deny" if s.error_kind in BLOCKED else "error"
    return sent


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("audit-e2e")
    keygen = bordergate("audit", "keygen", "--out-dir", str(tmp / "keys"))
    assert keygen.returncode == 0, keygen.stderr
    audit = {
        "database": f"sqlite:///{tmp}/audit.db",
        "durability": "strict",
        "signing_key": str(tmp / "keys" / "audit-signing.key"),
        "public_key": str(tmp / "keys" / "audit-signing.pub"),
        "checkpoint_dir": str(tmp / "checkpoints"),
        "checkpoint_every_events": 4,
        "checkpoint_every_seconds": 1,
    }
    with emulator() as emu:
        config = audit_config(tmp, emu, audit)
        with gateway(config) as url:
            sent = generate_traffic(url)
            wait_for_events(tmp / "audit.db", {s.request_id for s in sent})
            yield Env(
                url,
                config,
                tmp / "audit.db",
                tmp / "checkpoints",
                tmp / "keys" / "audit-signing.pub",
                sent,
            )


def test_exactly_one_event_per_request_with_its_outcome(env: Env) -> None:
    events = read_events(env.db)
    per_id = Counter(e["request_id"] for e in events)
    assert all(per_id[s.request_id] == 1 for s in env.sent), per_id
    by_id = {e["request_id"]: e for e in events}
    for s in env.sent:
        e = by_id[s.request_id]
        what = f"{s.model} -> {s.status} {s.error_kind}: {e}"
        assert (e["status"], e["error_kind"], e["decision"]) == (
            s.status,
            s.error_kind,
            s.decision,
        ), what
        assert e["endpoint"] == s.endpoint and e["model_requested"] == s.model, what
        user, team = PEOPLE.get(s.key, (None, None))
        assert (e["principal_id"], e["team"]) == (user, team), what
        assert e["findings"] == s.findings, what
        if s.policy_ids is not None:
            assert tuple(e["policy_ids"]) == s.policy_ids, what
        assert Decimal(e["latency_ms"]) > 0 and e["time"].endswith("Z"), what
        if s.deployment is not None:
            vendor, vendor_country, host, host_country = FACTS[s.deployment]
            assert e["deployment"] == s.deployment, what
            assert (e["vendor"], e["vendor_country"], e["host"], e["host_country"]) == (
                vendor,
                vendor_country,
                host,
                host_country,
            ), what
        else:
            assert e["deployment"] is None and e["vendor"] is None, what
        if s.status == 200:
            assert e["policy_ids"], what  # the permitting policies are named
            assert (e["prompt_tokens"], e["completion_tokens"]) == (
                s.prompt_tokens,
                s.completion_tokens,
            ), what
            if s.deployment and not s.deployment.startswith("inhouse/"):
                assert Decimal(e["cost_usd"]) > 0, what  # priced cloud models cost money
        elif s.charged_estimate:
            assert e["completion_tokens"] == 0 and Decimal(e["cost_usd"]) > 0, what
        else:
            assert e["completion_tokens"] == 0 and Decimal(e["cost_usd"]) == 0, what
    assert env.sent[-1].error_kind == "client_gone"
    region = by_id[env.sent[3].request_id]["region"]
    assert env.sent[3].deployment == "inhouse/qwen3-coder-30b" and region == "eu-central"


def test_values_never_reach_the_log_or_its_export(env: Env) -> None:
    stored = b"".join(p.read_bytes() for p in env.db.parent.glob("audit.db*"))
    exported = bordergate("audit", "export", "--config", str(env.config), "--format", "jsonl")
    assert exported.returncode == 0, exported.stderr
    assert b"github-pat" in stored and "personal_data" in exported.stdout  # findings are there
    for value in (SECRET, EMAIL, SECRET[4:20], EMAIL.split("@")[0]):
        assert value.encode() not in stored and value not in exported.stdout


def test_export_recomputes_the_chain(env: Env) -> None:
    result = bordergate("audit", "export", "--config", str(env.config), "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["seq"] for e in lines] == list(range(1, len(lines) + 1))
    assert {s.request_id for s in env.sent} <= {e["request_id"] for e in lines}
    chain = bytes(32)
    for line in lines:
        seq, stated = line.pop("seq"), line.pop("chain_hash")
        canonical = json.dumps(line, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        leaf = hashlib.sha256(b"\x00" + canonical.encode()).digest()
        chain = hashlib.sha256(b"\x01" + chain + leaf).digest()
        assert chain.hex() == stated, f"seq {seq}"


def test_checkpoints_are_files_and_verify_passes(env: Env) -> None:
    deadline = time.monotonic() + 10
    while not list(env.checkpoints.glob("checkpoint-*.json")) and time.monotonic() < deadline:
        time.sleep(0.1)
    files = sorted(env.checkpoints.glob("checkpoint-*.json"))
    assert files
    body = json.loads(files[-1].read_text())["body"]
    assert body["size"] >= 4 and len(body["head"]) == 64
    result = bordergate(
        "audit", "verify", "--config", str(env.config), "--checkpoint", str(env.checkpoints)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK:")


def test_tampering_with_a_copy_is_named_by_seq(env: Env, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    with sqlite3.connect(env.db) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    data = yaml.safe_load(env.config.read_text())
    data["audit"]["database"] = f"sqlite:///{copy}"
    data["audit"]["checkpoint_dir"] = str(tmp_path / "no-checkpoints")
    config = tmp_path / "copy.yaml"
    config.write_text(yaml.safe_dump(data))
    ok = bordergate("audit", "verify", "--config", str(config))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    conn = sqlite3.connect(copy)
    with pytest.raises(sqlite3.DatabaseError):
        conn.execute("UPDATE audit_events SET event = event WHERE seq = 3")
    conn.rollback()
    triggers = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")]
    for name in triggers:
        conn.execute(f"DROP TRIGGER {name}")
    target = 3
    (event,) = conn.execute("SELECT event FROM audit_events WHERE seq = ?", (target,)).fetchone()
    changed = json.loads(event)
    changed["principal_id"] = "somebody-else"
    canonical = json.dumps(changed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    conn.execute("UPDATE audit_events SET event = ? WHERE seq = ?", (canonical, target))
    conn.commit()
    conn.close()
    bad = bordergate(
        "audit", "verify", "--config", str(config), "--checkpoint", str(env.checkpoints)
    )
    assert bad.returncode != 0
    assert f"first bad seq {target}" in bad.stdout, bad.stdout


def expected_groups(env: Env, by: str) -> dict[str, Counter[str]]:
    """What `report --by` must say, computed from what the clients saw."""
    groups: dict[str, Counter[str]] = {}
    for s in env.sent:
        user, team = PEOPLE.get(s.key, (None, None))
        facts = FACTS.get(s.deployment or "", (None, None, None, None))
        if by in ("vendor", "vendor_country", "host", "host_country"):
            index = ("vendor", "vendor_country", "host", "host_country").index(by)
            keys = [facts[index] or "(none)"]
        elif by == "team":
            keys = [team or "(none)"]
        elif by == "user":
            keys = [user or "(none)"]
        elif by == "data_class":
            keys = sorted({f["class"] for f in s.findings}) or ["(none)"]
        else:
            keys = list(s.policy_ids or ()) or []
        for key in keys:
            row = groups.setdefault(key, Counter())
            row["requests"] += 1
            if s.error_kind == "served":
                row["served"] += 1
            elif s.error_kind in BLOCKED:
                row["blocked"] += 1
            else:
                row["errors"] += 1
            row["prompt_tokens"] += s.prompt_tokens
            row["completion_tokens"] += s.completion_tokens
            row["findings"] += sum(f["count"] for f in s.findings)
    return groups


@pytest.mark.parametrize(
    "by",
    ["vendor", "vendor_country", "host", "host_country", "team", "user", "policy", "data_class"],
)
def test_report_matches_the_traffic(env: Env, by: str) -> None:
    # Only this module's gateway writes to this database, so the whole log is our traffic;
    # the window starts at the first request so nothing older could count.
    since = read_events(env.db)[0]["time"]
    result = bordergate(
        "report", "--config", str(env.config), "--by", by, "--format", "json", "--since", since
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    rows = {row["key"]: row for row in report["usage"]}
    expected = expected_groups(env, by)
    for key, want in expected.items():
        got = rows.get(key)
        assert got is not None, (key, sorted(rows))
        for column, value in want.items():
            if by == "policy" and column != "requests":
                continue  # allowed requests are also counted under their permitting policies
            assert got[column] >= value if by == "policy" else got[column] == value, (
                key,
                column,
                got,
            )
    if by != "policy":
        assert set(rows) == set(expected)
    assert report["totals"]["requests"] == len(env.sent)
    assert report["totals"]["served"] == sum(s.error_kind == "served" for s in env.sent)
    assert Decimal(report["totals"]["cost_usd"]) > 0
    denials = Counter({(d["policy"], d["reason"]): d["requests"] for d in report["denials"]})
    assert denials[("ban-anthropic", "policy_denied")] == 1
    assert denials[("no-secrets-out", "data_policy_denied")] == 1
    classes = {f["class"]: f for f in report["findings"]}
    assert classes["personal_data"]["count"] == 2 and classes["secret"]["rules"] == ["github-pat"]


def test_report_table_prints_plain_decimals(env: Env) -> None:
    result = bordergate("report", "--config", str(env.config), "--by", "team")
    assert result.returncode == 0, result.stderr
    assert "E-" not in result.stdout and "0.000000000" in result.stdout
