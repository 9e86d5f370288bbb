"""End to end, the data-egress guard's guarantees around the edges.

- fail closed: a text the scanner cannot finish (too large, or over the time budget) is refused
  and nothing reaches the provider;
- redaction works towards an Anthropic upstream too (a config without the vendor-ban pack);
- no secret or redacted value reaches the provider, the gateway's own log output (at debug
  level) or the audit store, whose findings are class, rule and count only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
import yaml

from tests.support import (
    ROOT,
    build_fingerprints,
    derive_config,
    emulator,
    free_port,
    gateway,
    run_process,
)
from tests.test_e2e_dlp_support import (
    DEMO_KEY,
    PERSONAL,
    PERSONAL_PROSE,
    PLACEHOLDER,
    fold_stream,
    last_seq,
    only_since,
    openai_client,
    secret_cases,
    since,
    texts_of,
)


@pytest.fixture(scope="module")
def emu() -> Iterator[str]:
    with emulator() as url:
        yield url


def example_dlp(tmp: Path, **changes: object) -> dict[str, Any]:
    """The example's `dlp:` section (state under `tmp`) with some fields changed."""
    text = (ROOT / "examples" / "emulated.yaml").read_text()
    dlp: dict[str, Any] = yaml.safe_load(text.replace("${BORDERGATE_VAR:-var}", str(tmp)))["dlp"]
    return {**dlp, **changes}


# --------------------------------------------------------------------------- fail closed
@pytest.fixture(scope="module", params=["size", "timeout"])
def strict_gw(
    request: pytest.FixtureRequest, emu: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """A gateway whose scanner cannot finish a large text: by size, or by time budget."""
    tmp = tmp_path_factory.mktemp("strict")
    build_fingerprints(tmp / "bordergate-src.fpi")
    if request.param == "size":
        dlp = example_dlp(tmp, max_scan_bytes=4096)
        big = "The quarterly report covers revenue and churn. " * 200  # ~9.6 KB
    else:
        # 1 ms for ~1.5 MB of text: no scanner finishes that (>= 50 MB/s would need 30 ms).
        dlp = example_dlp(tmp, scan_timeout_ms=1)
        big = "The quarterly report covers revenue and churn in 2025. " * 28_000
    with gateway(derive_config(tmp, emu, dlp=dlp)) as url:
        yield url, big


@pytest.mark.parametrize("stream", [False, True])
def test_scan_failure_refuses_and_sends_nothing(
    strict_gw: tuple[str, str], emu: str, stream: bool
) -> None:
    gw, big = strict_gw
    client = openai_client(gw)
    seq = last_seq(emu)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": big}],
            stream=stream,
        )
    assert info.value.status_code == 503
    err = info.value.response.json()["error"]
    assert err["type"] == "data_scan_failed" and "not sent" in err["message"]
    assert since(emu, seq) == []


def test_scan_failure_hides_secret_in_unscannable_prompt(
    strict_gw: tuple[str, str], emu: str
) -> None:
    gw, big = strict_gw
    text, value, _ = secret_cases()[0]
    seq = last_seq(emu)
    with pytest.raises(openai.APIStatusError) as info:
        openai_client(gw).chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "system", "content": big}, {"role": "user", "content": text}],
        )
    assert info.value.status_code == 503
    assert value not in info.value.response.text
    assert since(emu, seq) == []


def test_small_prompt_still_served_by_strict_gateway(
    strict_gw: tuple[str, str], emu: str, request: pytest.FixtureRequest
) -> None:
    """The refusals above are about the scan failing, not about the gateway refusing all."""
    if request.node.callspec.params["strict_gw"] == "timeout":
        pytest.skip("a 1 ms budget is not meant to serve anything")
    gw, _ = strict_gw
    seq = last_seq(emu)
    done = openai_client(gw).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
    )
    assert done.choices[0].message.content
    assert len(since(emu, seq)) == 1


# --------------------------------------------------------------------------- Anthropic upstream
@pytest.fixture(scope="module")
def open_vendor_gw(emu: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The example without the vendor-ban pack, so Claude is permitted (data-egress stays)."""
    tmp = tmp_path_factory.mktemp("claude")
    build_fingerprints(tmp / "bordergate-src.fpi")
    policy = {"files": ["examples/policies/data-egress/policy.cedar"]}
    with gateway(derive_config(tmp, emu, policy=policy)) as url:
        yield url


def assert_redacted_body(entry: dict[str, Any]) -> None:
    sent = texts_of(entry["body"])
    for value in PERSONAL:
        assert value not in sent
    assert PLACEHOLDER.search(sent), sent


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_upstream_redacted_and_restored(
    open_vendor_gw: str, emu: str, stream: bool
) -> None:
    client = openai_client(open_vendor_gw)
    seq = last_seq(emu)
    prompt = PERSONAL_PROSE + "\n@emulator echo chunks=17"
    if stream:
        chunks = client.chat.completions.create(
            model="claude-sonnet-4-5", messages=[{"role": "user", "content": prompt}], stream=True
        )
        text = fold_stream(chunks)[0]
    else:
        done = client.chat.completions.create(
            model="claude-sonnet-4-5", messages=[{"role": "user", "content": prompt}]
        )
        text = done.choices[0].message.content or ""
    up = only_since(emu, seq)
    assert up["path"] == "/v1/messages"
    assert_redacted_body(up)
    assert text == PERSONAL_PROSE


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_upstream_tool_use_input_restored(
    open_vendor_gw: str, emu: str, stream: bool
) -> None:
    claude = anthropic.Anthropic(
        base_url=open_vendor_gw, api_key=DEMO_KEY, max_retries=0, timeout=30
    )
    seq = last_seq(emu)
    kwargs: dict[str, Any] = dict(
        model="claude-sonnet-4-5",
        max_tokens=512,
        tools=[
            {
                "name": "send_mail",
                "description": "Send an e-mail",
                "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}},
            }
        ],
        messages=[
            {"role": "user", "content": PERSONAL_PROSE + "\n@emulator tool=send_mail chunks=23"}
        ],
    )
    if stream:
        with claude.messages.stream(**kwargs) as s:
            msg = s.get_final_message()
    else:
        msg = claude.messages.create(**kwargs)
    assert_redacted_body(only_since(emu, seq))
    uses = [b for b in msg.content if b.type == "tool_use"]
    assert len(uses) == 1 and uses[0].name == "send_mail"
    assert uses[0].input == {"text": PERSONAL_PROSE, "index": 0}


# --------------------------------------------------------------------------- tool definitions
def _tools(fmt: str, description: str, field_note: str) -> list[dict[str, Any]]:
    """A realistic tool set: a big schema (JSON that is no code leak) plus the tool under test."""
    big = {
        "type": "object",
        "properties": {
            f"field_{i}": {"type": "string", "description": f"Filter on field {i}; e.g. {{a: [1]}}"}
            for i in range(40)
        },
        "required": ["field_0"],
    }
    note = {"type": "object", "properties": {"to": {"type": "string", "description": field_note}}}
    usage = (
        "Search the catalogue. Example:\n\n"
        "    from catalogue import search\n"
        "    hits = search(field_0='x', limit=10)\n"
        "    for hit in hits:\n"
        "        print(hit.id, hit.score)\n"
        "    return hits\n"
    )
    if fmt == "openai":
        return [
            {
                "type": "function",
                "function": {"name": "search", "description": usage, "parameters": big},
            },
            {
                "type": "function",
                "function": {"name": "notify", "description": description, "parameters": note},
            },
        ]
    return [
        {"name": "search", "description": usage, "input_schema": big},
        {"name": "notify", "description": description, "input_schema": note},
    ]


def _ask(gw: str, fmt: str, tools: list[dict[str, Any]]) -> str:
    """Send a plain question with `tools`; returns the deployment that served it."""
    if fmt == "openai":
        raw = openai_client(gw).chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}], tools=tools
        )
    else:
        claude = anthropic.Anthropic(base_url=gw, api_key=DEMO_KEY, max_retries=0, timeout=30)
        raw = claude.messages.with_raw_response.create(
            model="gpt-4o-mini",
            max_tokens=100,
            messages=[{"role": "user", "content": "hello"}],
            tools=tools,  # type: ignore[arg-type]
        )
    return str(raw.headers["x-bordergate-deployment"])


@pytest.mark.parametrize("fmt", ["openai", "anthropic"])
def test_tool_definitions_leave_only_after_the_same_scan(
    open_vendor_gw: str, emu: str, fmt: str
) -> None:
    # An agent's tool set (a big schema, a usage example in code) is served where it asked to go.
    seq = last_seq(emu)
    assert _ask(open_vendor_gw, fmt, _tools(fmt, "Notify a colleague", "Their name")) == (
        "openai/gpt-4o-mini"
    )
    assert only_since(emu, seq)["body"]["tools"]
    # Personal data in a tool's schema goes redacted, like anywhere else in the request.
    seq = last_seq(emu)
    _ask(open_vendor_gw, fmt, _tools(fmt, "Notify a colleague", f"Default: {PERSONAL[0]}"))
    assert_redacted_body(only_since(emu, seq))
    # A secret in a tool description is refused, and nothing reaches the provider.
    text, value, _ = secret_cases()[1]
    seq = last_seq(emu)
    error = openai.PermissionDeniedError if fmt == "openai" else anthropic.PermissionDeniedError
    with pytest.raises(error) as info:
        _ask(open_vendor_gw, fmt, _tools(fmt, text, "Their name"))
    assert value not in str(info.value)
    assert since(emu, seq) == []


# --------------------------------------------------------------------------- logs and audit
def _read_db_bytes(tmp: Path) -> bytes:
    """The raw bytes of every SQLite file the gateway wrote (database, WAL, journal)."""
    return b"".join(p.read_bytes() for p in sorted(tmp.glob("*.db*")) if p.is_file())


def test_no_value_reaches_provider_logs_or_audit(
    emu: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tmp = tmp_path_factory.mktemp("leaks")
    build_fingerprints(tmp / "bordergate-src.fpi")
    config = derive_config(tmp, emu)
    raw = yaml.safe_load(config.read_text())
    raw["server"]["log_level"] = "debug"  # the most the gateway would ever write
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    cases = secret_cases()
    seq = last_seq(emu)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with run_process(
        ["serve", "--config", str(config), "--port", str(port)], f"{url}/healthz"
    ) as proc:
        client = openai_client(url)
        for text, _, _ in cases:  # refused
            for stream in (False, True):
                with pytest.raises(openai.PermissionDeniedError):
                    client.chat.completions.create(
                        model="gpt-4o-mini",
                        messages=[{"role": "user", "content": text}],
                        stream=stream,
                    )
        for stream in (False, True):  # redacted, restored
            done = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": PERSONAL_PROSE + "\n@emulator echo"}],
                stream=stream,
            )
            if isinstance(done, openai.Stream):
                assert fold_stream(done)[0] == PERSONAL_PROSE
            else:
                assert done.choices[0].message.content == PERSONAL_PROSE
    output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    assert "policy loaded from" in output  # the capture holds the gateway's own log lines
    values = [v for _, v, _ in cases] + list(PERSONAL)

    upstream = texts_of([e["body"] for e in since(emu, seq)])
    assert len(since(emu, seq)) == 2  # only the two redacted requests left the gateway
    db = _read_db_bytes(tmp)
    assert db  # the audit store was written
    for value in values:
        assert value not in upstream
        assert value not in output
        assert value.encode() not in db

    export = subprocess.run(
        [sys.executable, "-m", "bordergate", "audit", "export", "--config", str(config)],
        cwd=ROOT,
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    events = [json.loads(line) for line in export.stdout.splitlines() if line.strip()]
    assert len(events) == 8
    for value in values:
        assert value not in export.stdout
    denied = [e for e in events if e["error_kind"] == "data_policy_denied"]
    redacted = [e for e in events if e["decision"] == "redact"]
    assert len(denied) == 6 and len(redacted) == 2
    for event in events:
        assert event["findings"], event
        for finding in event["findings"]:
            assert set(finding) == {"class", "rule", "count"}
            assert isinstance(finding["count"], int) and finding["count"] >= 1
    assert {(f["class"], f["rule"]) for e in denied for f in e["findings"]} >= {
        ("secret", rule) for _, _, rule in cases
    }
    by_rule = {f["rule"]: f for f in redacted[0]["findings"]}
    assert by_rule["email"] == {"class": "personal_data", "rule": "email", "count": 2}
    assert {"phone-cn-mobile", "prc-resident-id", "iban"} <= set(by_rule)
