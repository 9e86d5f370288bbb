"""End to end: official `anthropic` SDK -> `bordergate serve` (/v1/messages) -> emulator.

The gateway translates Anthropic requests to its internal OpenAI shape and back, for an
OpenAI-compatible upstream (gpt-4o-mini) and an Anthropic upstream (claude-sonnet-4-5). The
config is the shipped example without its policy (which bans Anthropic), DLP left on.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from bordergate.emulator.content import digest_of, estimate_tokens
from tests.support import (
    Forecast,
    audit_event,
    build_fingerprints,
    derive_config,
    emulator,
    established_connections,
    gateway,
)

DEMO_KEY = "bg-demo-key"
MODELS = ["gpt-4o-mini", "claude-sonnet-4-5"]
TOOLS: list[Any] = [
    {
        "name": "get_weather",
        "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
    {"name": "get_time", "input_schema": {"type": "object", "properties": {}}},
]
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32).decode()


@pytest.fixture(scope="module")
def emu() -> Iterator[str]:
    with emulator() as url:
        yield url


@pytest.fixture(scope="module")
def gw(emu: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("anthropic-gw")
    build_fingerprints(tmp / "bordergate-src.fpi")
    with gateway(derive_config(tmp, emu, drop=["policy"])) as url:
        yield url


@pytest.fixture
def client(gw: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw, api_key=DEMO_KEY, max_retries=0, timeout=20)


def upstream_requests(emu: str) -> list[dict[str, Any]]:
    return list(httpx.get(f"{emu}/_emulator/requests").json())


def text_of(message: anthropic.types.Message) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


@pytest.mark.parametrize("model", MODELS)
def test_plain_message_with_system_prompt(
    client: anthropic.Anthropic, emu: str, model: str
) -> None:
    raw = client.messages.with_raw_response.create(
        model=model,
        max_tokens=100,
        system="You are terse.",
        messages=[{"role": "user", "content": f"hello {model}"}],
    )
    msg = raw.parse()
    assert msg.type == "message" and msg.role == "assistant"
    assert digest_of(f"hello {model}") in text_of(msg)
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    assert msg.model.startswith(model)  # the upstream may name its dated snapshot
    assert raw.headers["x-bordergate-deployment"].split("/", 1)[1].startswith(model)
    up = upstream_requests(emu)[-1]
    if model == "claude-sonnet-4-5":
        assert up["path"] == "/v1/messages"
        assert up["body"]["system"] in (
            "You are terse.",
            [{"type": "text", "text": "You are terse."}],
        )
        assert up["body"]["max_tokens"] == 100
        # The provider sees the provider key, never the gateway key.
        assert up["auth"]["header"] == "x-api-key"
    else:
        assert up["path"] == "/v1/chat/completions"
        assert up["body"]["messages"][0] == {"role": "system", "content": "You are terse."}
        assert up["body"]["messages"][1]["content"] == f"hello {model}"
    assert DEMO_KEY not in str(up)


@pytest.mark.parametrize("model", MODELS)
def test_multi_turn_conversation(client: anthropic.Anthropic, emu: str, model: str) -> None:
    msg = client.messages.create(
        model=model,
        max_tokens=50,
        system=[{"type": "text", "text": "Be brief."}],
        messages=[
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": [{"type": "text", "text": "second question"}]},
        ],
    )
    assert digest_of("second question") in text_of(msg)
    body = upstream_requests(emu)[-1]["body"]
    roles = [m["role"] for m in body["messages"]]
    if model == "claude-sonnet-4-5":
        assert roles == ["user", "assistant", "user"]
    else:
        assert roles == ["system", "user", "assistant", "user"]


@pytest.mark.parametrize("model", MODELS)
def test_streaming_final_message(client: anthropic.Anthropic, model: str) -> None:
    with client.messages.stream(
        model=model,
        max_tokens=200,
        messages=[{"role": "user", "content": "stream me\n@emulator chunks=7"}],
    ) as stream:
        deltas = [t for t in stream.text_stream]
        final = stream.get_final_message()
    assert len([d for d in deltas if d]) >= 5
    assert "".join(deltas) == text_of(final)
    assert digest_of("stream me") in text_of(final)
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0
    assert final.model.startswith(model)


def test_stream_event_sequence(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model="gpt-4o-mini",
        max_tokens=50,
        messages=[{"role": "user", "content": "events\n@emulator chunks=3"}],
    ) as stream:
        kinds = [event.type for event in stream]
    assert kinds[0] == "message_start"
    assert "content_block_start" in kinds and "content_block_stop" in kinds
    assert kinds[-2:] == ["message_delta", "message_stop"] or kinds[-1] == "message_stop"
    assert kinds.index("content_block_start") < kinds.index("content_block_stop")


@pytest.mark.parametrize("model", MODELS)
def test_parallel_tool_use_and_tool_results(
    client: anthropic.Anthropic, emu: str, model: str
) -> None:
    question = "weather and time?"
    first = client.messages.create(
        model=model,
        max_tokens=200,
        tools=TOOLS,
        messages=[{"role": "user", "content": f"{question}\n@emulator tools=2"}],
    )
    assert first.stop_reason == "tool_use"
    uses = [b for b in first.content if b.type == "tool_use"]
    assert [u.name for u in uses] == ["get_weather", "get_time"]
    assert len({u.id for u in uses}) == 2
    assert all(isinstance(u.input, dict) for u in uses)
    follow = client.messages.create(
        model=model,
        max_tokens=200,
        tools=TOOLS,
        messages=[
            {"role": "user", "content": question},
            {"role": "assistant", "content": [u.model_dump() for u in first.content]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": u.id, "content": f"result {i}"}
                    for i, u in enumerate(uses)
                ],
            },
        ],
    )
    assert follow.stop_reason == "end_turn" and text_of(follow)
    body = upstream_requests(emu)[-1]["body"]
    if model == "claude-sonnet-4-5":
        results = [
            b
            for m in body["messages"]
            if isinstance(m["content"], list)
            for b in m["content"]
            if b.get("type") == "tool_result"
        ]
        assert [r["tool_use_id"] for r in results] == [u.id for u in uses]
    else:
        msgs = body["messages"]
        assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "tool"]
        assert [c["id"] for c in msgs[1]["tool_calls"]] == [u.id for u in uses]
        assert [m["tool_call_id"] for m in msgs[2:]] == [u.id for u in uses]
        assert [m["content"] for m in msgs[2:]] in (
            ["result 0", "result 1"],
            [[{"type": "text", "text": "result 0"}], [{"type": "text", "text": "result 1"}]],
        )
        assert body["tools"][0]["function"]["name"] == "get_weather"


@pytest.mark.parametrize("model", MODELS)
def test_tool_choice_reaches_the_upstream(
    client: anthropic.Anthropic, emu: str, model: str
) -> None:
    msg = client.messages.create(
        model=model,
        max_tokens=50,
        tools=TOOLS,
        tool_choice={"type": "tool", "name": "get_time"},
        metadata={"user_id": "user-42"},
        messages=[{"role": "user", "content": "now?\n@emulator tool=get_time"}],
    )
    assert [b.name for b in msg.content if b.type == "tool_use"] == ["get_time"]
    body = upstream_requests(emu)[-1]["body"]
    if model == "claude-sonnet-4-5":
        assert body["tool_choice"]["type"] == "tool" and body["tool_choice"]["name"] == "get_time"
    else:
        assert body["tool_choice"] == {"type": "function", "function": {"name": "get_time"}}


@pytest.mark.parametrize("model", MODELS)
def test_streamed_tool_use(client: anthropic.Anthropic, model: str) -> None:
    with client.messages.stream(
        model=model,
        max_tokens=200,
        tools=TOOLS,
        messages=[{"role": "user", "content": "go\n@emulator tool=get_weather"}],
    ) as stream:
        final = stream.get_final_message()
    uses = [b for b in final.content if b.type == "tool_use"]
    assert [u.name for u in uses] == ["get_weather"]
    assert isinstance(uses[0].input, dict) and uses[0].input
    assert final.stop_reason == "tool_use"


@pytest.mark.parametrize("model", MODELS)
def test_images_base64_and_url(client: anthropic.Anthropic, emu: str, model: str) -> None:
    msg = client.messages.create(
        model=model,
        max_tokens=50,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is in these?"},
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://example.com/cat.png"},
                    },
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                    },
                ],
            }
        ],
    )
    assert digest_of("what is in these?") in text_of(msg)
    content = upstream_requests(emu)[-1]["body"]["messages"][-1]["content"]
    if model == "claude-sonnet-4-5":
        sources = [b["source"] for b in content if b["type"] == "image"]
        assert sources == [
            {"type": "url", "url": "https://example.com/cat.png"},
            {"type": "base64", "media_type": "image/png", "data": PNG},
        ]
    else:
        urls = [p["image_url"]["url"] for p in content if p["type"] == "image_url"]
        assert urls == ["https://example.com/cat.png", f"data:image/png;base64,{PNG}"]


def test_deep_tool_schema_is_translated_or_refused(client: anthropic.Anthropic) -> None:
    """Nesting the gateway accepts survives translation to the Anthropic upstream; more is a 400."""

    def schema(depth: int) -> dict[str, Any]:
        deep: Any = "x"
        for _ in range(depth):
            deep = [deep]
        return {"type": "object", "properties": {"a": {"enum": deep}}}

    def ask(depth: int) -> anthropic.types.Message:
        return client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=20,
            tools=[{"name": "f", "input_schema": schema(depth)}],
            messages=[{"role": "user", "content": "deep"}],
        )

    assert digest_of("deep") in text_of(ask(100))
    with pytest.raises(anthropic.BadRequestError, match="nested too deeply"):
        ask(300)


@pytest.mark.parametrize("model", MODELS)
def test_sampling_parameters_reach_the_upstream(
    client: anthropic.Anthropic, emu: str, model: str
) -> None:
    client.messages.create(
        model=model,
        max_tokens=33,
        stop_sequences=["STOP"],
        extra_body={"temperature": 0.25, "top_p": 0.5},  # no longer named in this SDK version
        messages=[{"role": "user", "content": "params"}],
    )
    body = upstream_requests(emu)[-1]["body"]
    assert body["temperature"] == 0.25 and body["top_p"] == 0.5
    if model == "claude-sonnet-4-5":
        assert body["max_tokens"] == 33 and body["stop_sequences"] == ["STOP"]
    else:
        assert 33 in (body.get("max_tokens"), body.get("max_completion_tokens"))
        assert body["stop"] in (["STOP"], "STOP")


# ------------------------------------------------------------------------------------- errors
def assert_anthropic_error_body(exc: anthropic.APIStatusError, error_type: str) -> None:
    body = exc.response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == error_type
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


@pytest.mark.parametrize("model", MODELS)
def test_structured_output_keeps_its_schema_on_every_upstream(
    client: anthropic.Anthropic, emu: str, model: str
) -> None:
    message = client.messages.parse(
        model=model,
        max_tokens=100,
        messages=[{"role": "user", "content": "forecast"}],
        output_format=Forecast,
    )
    parsed = message.parsed_output
    assert parsed is not None and digest_of("forecast") in parsed.city and parsed.days == [0]
    body = upstream_requests(emu)[-1]["body"]
    if model == "gpt-4o-mini":  # translated to OpenAI's structured outputs, strict mode on
        spec = body["response_format"]["json_schema"]
        schema = spec["schema"]
        assert spec["strict"] is True and body["response_format"]["type"] == "json_schema"
    else:
        schema = body["output_config"]["format"]["schema"]
    assert set(schema["properties"]) == {"city", "days"}


NATIVE_EXTRAS: dict[str, Any] = {
    "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
    "tools": [{**TOOLS[0], "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
    "thinking": {"type": "enabled", "budget_tokens": 1024},
}
# Automatic prompt caching goes along; where inference runs and the service tier are the
# operator's choices, not a client's.
FIRST_PARTY = {"cache_control": {"type": "ephemeral"}}
OPERATORS = {"service_tier": "priority", "inference_geo": "global"}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_anthropic_upstream_gets_the_clients_own_body(
    client: anthropic.Anthropic, emu: str, stream: bool
) -> None:
    # Prompt caching, thinking and top_k have no OpenAI form; Claude gets the body as sent.
    messages = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "hello", "cache_control": {"type": "ephemeral"}}],
        }
    ]
    if stream:
        with client.messages.stream(
            model="claude-sonnet-4-5",
            max_tokens=2000,
            messages=messages,
            extra_body={"top_k": 5, **FIRST_PARTY, **OPERATORS},
            **NATIVE_EXTRAS,
        ) as events:
            kinds = [event.type for event in events]
            msg = events.get_final_message()
        assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    else:
        msg = client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=2000,
            messages=messages,
            extra_body={"top_k": 5, **FIRST_PARTY, **OPERATORS},
            **NATIVE_EXTRAS,
        )
    assert digest_of("hello") in text_of(msg) and msg.usage.output_tokens > 0
    sent = upstream_requests(emu)[-1]
    assert sent["path"] == "/v1/messages"
    expected = {
        "max_tokens": 2000,
        "messages": messages,
        "top_k": 5,
        **NATIVE_EXTRAS,
        **FIRST_PARTY,
    }
    if stream:
        expected["stream"] = True
    assert {k: v for k, v in sent["body"].items() if k != "model"} == expected
    assert sent["body"]["model"].startswith("claude-sonnet-4-5")


@pytest.mark.parametrize("model", MODELS)
def test_anthropic_beta_header_reaches_an_anthropic_provider_only(
    client: anthropic.Anthropic, emu: str, model: str
) -> None:
    beta = "context-1m-2025-08-07, interleaved-thinking-2025-05-14"
    client.messages.create(
        model=model,
        max_tokens=50,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"anthropic-beta": beta},
    )
    headers = upstream_requests(emu)[-1]["headers"]
    if model == "claude-sonnet-4-5":
        assert headers["anthropic-beta"] == beta
    else:
        assert "anthropic-beta" not in headers
    with pytest.raises(anthropic.BadRequestError, match="anthropic-beta"):
        client.messages.create(
            model=model,
            max_tokens=50,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"anthropic-beta": "x; evil=1"},
        )


def test_fields_the_gateway_does_not_scan_do_not_reach_claude(
    client: anthropic.Anthropic, emu: str
) -> None:
    extra = {"mcp_servers": [{"type": "url", "url": "https://mcp.example", "name": "x"}]}
    client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=50,
        messages=[{"role": "user", "content": "hi"}],
        extra_body={**extra, "top_k": 3},
    )
    body = upstream_requests(emu)[-1]["body"]
    assert "mcp_servers" not in body and body["top_k"] == 3


def test_an_openai_format_upstream_gets_the_translation(
    client: anthropic.Anthropic, emu: str
) -> None:
    msg = client.messages.create(
        model="gpt-4o-mini",
        max_tokens=100,
        messages=[{"role": "user", "content": "hello"}],
        system=NATIVE_EXTRAS["system"],
        extra_body={"top_k": 5},
    )
    assert digest_of("hello") in text_of(msg)
    body = upstream_requests(emu)[-1]["body"]
    assert body["messages"][0] == {"role": "system", "content": "You are terse."}
    assert "top_k" not in body and "cache_control" not in str(body)


@pytest.fixture(scope="module")
def redacting(emu: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The example with only its data-egress policy: personal data goes to Claude redacted."""
    tmp = tmp_path_factory.mktemp("anthropic-redact")
    build_fingerprints(tmp / "bordergate-src.fpi")
    policy = {"files": ["examples/policies/data-egress/policy.cedar"]}
    with gateway(derive_config(tmp, emu, policy=policy)) as url:
        yield url, tmp


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_redacted_request_to_claude_keeps_its_own_body_and_is_restored(
    redacting: tuple[str, Path], emu: str, stream: bool
) -> None:
    url, state = redacting
    ant = anthropic.Anthropic(base_url=url, api_key=DEMO_KEY, max_retries=0, timeout=20)
    text = "@emulator echo chunks=9\nmail alice@example.com today"
    block = {"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}
    args: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": [block]}],
        "extra_body": {"top_k": 4},
    }
    if stream:
        with ant.messages.stream(**args) as events:
            reply = text_of(events.get_final_message())
            request_id = events.response.headers["x-request-id"]
    else:
        raw = ant.messages.with_raw_response.create(**args)
        reply, request_id = text_of(raw.parse()), raw.headers["x-request-id"]
    # Redacted in the client's own format, which Claude still gets (prompt caching and all);
    # the answer is restored, also when a placeholder is split across stream deltas.
    assert "mail alice@example.com today" in reply
    sent = upstream_requests(emu)[-1]["body"]
    sent_block = sent["messages"][0]["content"][0]
    assert sent_block["cache_control"] == {"type": "ephemeral"} and sent["top_k"] == 4
    assert "alice@example.com" not in json.dumps(sent) and "[EMAIL_1]" in sent_block["text"]
    event = audit_event(state, request_id)
    assert event["decision"] == "redact"
    assert event["findings"] == [{"class": "personal_data", "rule": "email", "count": 1}]


def test_personal_data_in_signed_thinking_refuses_claude_but_not_an_openai_format_model(
    redacting: tuple[str, Path], emu: str
) -> None:
    """Signed thinking cannot be rewritten, so a redaction it needs is refused towards Claude,
    which gets it back. The translation for OpenAI-format models drops thinking: the address
    in it never leaves, and the conversation goes on, redacted where it does leave."""
    url, _ = redacting
    ant = anthropic.Anthropic(base_url=url, api_key=DEMO_KEY, max_retries=0, timeout=20)
    thinking = {"type": "thinking", "thinking": "mail john.doe@example.com", "signature": "S"}
    messages: list[Any] = [
        {"role": "user", "content": "Email john.doe@example.com about it"},
        {"role": "assistant", "content": [thinking, {"type": "text", "text": "ok"}]},
        {"role": "user", "content": "go on"},
    ]
    with pytest.raises(anthropic.PermissionDeniedError, match="signed thinking"):
        ant.messages.create(model="claude-sonnet-4-5", max_tokens=50, messages=messages)
    ant.messages.create(model="gpt-4o-mini", max_tokens=50, messages=messages)
    sent = json.dumps(upstream_requests(emu)[-1]["body"])
    assert "john.doe@example.com" not in sent and "[EMAIL_1]" in sent


def test_native_stream_is_audited_with_its_usage(redacting: tuple[str, Path]) -> None:
    url, state = redacting
    ant = anthropic.Anthropic(base_url=url, api_key=DEMO_KEY, max_retries=0, timeout=20)
    with ant.messages.stream(
        model="claude-sonnet-4-5",
        max_tokens=100,
        messages=[{"role": "user", "content": "count me\n@emulator chunks=4"}],
    ) as events:
        msg = events.get_final_message()
        request_id = events.response.headers["x-request-id"]
    event = audit_event(state, request_id)
    assert (event["status"], event["error_kind"], event["decision"]) == (200, "served", "allow")
    assert event["prompt_tokens"] == msg.usage.input_tokens > 0
    assert event["completion_tokens"] == msg.usage.output_tokens > 0
    assert event["vendor"] == "anthropic"


def test_count_tokens_asks_the_anthropic_deployment(client: anthropic.Anthropic, emu: str) -> None:
    counted = client.messages.count_tokens(
        model="claude-sonnet-4-5",
        system="You are terse.",
        messages=[{"role": "user", "content": "how many tokens is this?"}],
    )
    assert counted.input_tokens == estimate_tokens("You are terse.") + estimate_tokens(
        "how many tokens is this?"
    )
    sent = upstream_requests(emu)[-1]
    assert sent["path"] == "/v1/messages/count_tokens"
    assert (
        sent["body"]["model"].startswith("claude-sonnet-4-5") and "max_tokens" not in sent["body"]
    )


def test_count_tokens_for_an_openai_format_model_says_why_not(
    client: anthropic.Anthropic, gw: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.count_tokens(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    assert info.value.body["error"]["code"] == "count_tokens_unsupported"  # type: ignore[index]
    assert "no counting endpoint" in info.value.message
    r = httpx.get(f"{gw}/v1/messages/count_tokens", headers={"x-api-key": DEMO_KEY})
    assert r.status_code == 405 and r.json()["type"] == "error"


def test_count_tokens_passes_the_data_rules_and_is_audited(
    redacting: tuple[str, Path], emu: str
) -> None:
    url, state = redacting
    ant = anthropic.Anthropic(base_url=url, api_key=DEMO_KEY, max_retries=0, timeout=20)
    # Personal data is counted redacted: the provider sees the placeholder.
    raw = ant.messages.with_raw_response.count_tokens(
        model="claude-sonnet-4-5", messages=[{"role": "user", "content": "mail bob@example.com"}]
    )
    assert raw.parse().input_tokens > 0
    sent = json.dumps(upstream_requests(emu)[-1]["body"])
    assert "bob@example.com" not in sent and "[EMAIL_1]" in sent
    event = audit_event(state, raw.headers["x-request-id"])
    assert (event["endpoint"], event["decision"], event["status"]) == (
        "count_tokens",
        "redact",
        200,
    )
    # A secret is refused and nothing is sent.
    before = max(int(r["seq"]) for r in upstream_requests(emu))
    token = "ghp_" + "k3J9xQ2mVb7RtL5nWc8ZpF1sHd4YgA6eUo0i"
    with pytest.raises(anthropic.PermissionDeniedError) as info:
        ant.messages.count_tokens(
            model="claude-sonnet-4-5", messages=[{"role": "user", "content": f"token {token}"}]
        )
    assert token not in info.value.message
    assert all(int(r["seq"]) <= before for r in upstream_requests(emu))


def test_wrong_key_is_authentication_error(gw: str) -> None:
    bad = anthropic.Anthropic(base_url=gw, api_key="not-a-key", max_retries=0, timeout=20)
    with pytest.raises(anthropic.AuthenticationError) as err:
        bad.messages.create(
            model="gpt-4o-mini", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert err.value.status_code == 401
    assert_anthropic_error_body(err.value, "authentication_error")


def test_x_api_key_header_also_authenticates(gw: str) -> None:
    r = httpx.post(
        f"{gw}/v1/messages",
        json={
            "model": "gpt-4o-mini",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "x"}],
        },
        headers={"x-api-key": DEMO_KEY, "anthropic-version": "2023-06-01"},
        timeout=20,
    )
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "message"


def test_unknown_model_is_not_found(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError, match="not offered") as err:
        client.messages.create(
            model="claude-9", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert_anthropic_error_body(err.value, "not_found_error")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        ({"model": "gpt-4o-mini", "max_tokens": 5, "messages": "hi"}, "messages"),
        (
            {"model": "gpt-4o-mini", "max_tokens": 5, "messages": [{"role": "wizard"}]},
            "role",
        ),
        (
            {"model": "gpt-4o-mini", "max_tokens": 5, "messages": [{"role": "user", "content": 3}]},
            "content",
        ),
        ({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, "model"),
        (
            {
                "model": "gpt-4o-mini",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": [{"type": "hologram"}]}],
            },
            "hologram",
        ),
    ],
)
def test_bad_input_is_bad_request(
    client: anthropic.Anthropic, body: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as err:
        client.post("/v1/messages", body=body, cast_to=httpx.Response)
    assert fragment in err.value.message
    assert_anthropic_error_body(err.value, "invalid_request_error")


def test_invalid_json_is_bad_request(gw: str) -> None:
    r = httpx.post(
        f"{gw}/v1/messages",
        content=b"{not json",
        headers={"authorization": f"Bearer {DEMO_KEY}", "content-type": "application/json"},
        timeout=20,
    )
    assert r.status_code == 400
    assert r.json()["type"] == "error" and "JSON" in r.json()["error"]["message"]


def test_get_on_messages_is_405_in_anthropic_format(gw: str) -> None:
    r = httpx.get(f"{gw}/v1/messages", headers={"x-api-key": DEMO_KEY}, timeout=20)
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    assert r.json()["type"] == "error"


@pytest.mark.parametrize("model", MODELS)
def test_upstream_429_is_rate_limit_error_with_retry_after(
    client: anthropic.Anthropic, model: str
) -> None:
    with pytest.raises(anthropic.RateLimitError) as err:
        client.messages.create(
            model=model,
            max_tokens=5,
            messages=[{"role": "user", "content": "x\n@emulator status=429 retry_after=7"}],
        )
    assert err.value.response.headers["retry-after"] == "7"
    assert_anthropic_error_body(err.value, "rate_limit_error")


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("knob", ["status=503", "drop_after_chunks=1"])
def test_upstream_failure_is_502(client: anthropic.Anthropic, model: str, knob: str) -> None:
    with pytest.raises(anthropic.InternalServerError) as err:
        client.messages.create(
            model=model,
            max_tokens=5,
            messages=[{"role": "user", "content": f"x\n@emulator {knob}"}],
        )
    assert err.value.status_code == 502
    assert "provider" in err.value.message
    if knob == "status=503":
        assert "503" in err.value.message
    assert_anthropic_error_body(err.value, "api_error")
    assert err.value.response.json()["error"]["code"].startswith("upstream_")


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("knob", ["drop_after_chunks=2", "stream_error_after_chunks=2"])
def test_mid_stream_failure_raises(client: anthropic.Anthropic, model: str, knob: str) -> None:
    with (
        pytest.raises(anthropic.APIStatusError) as err,
        client.messages.stream(
            model=model,
            max_tokens=100,
            messages=[{"role": "user", "content": f"x\n@emulator chunks=6 {knob}"}],
        ) as stream,
    ):
        for _ in stream:
            pass
    # The SDK raises on the `error` event, which carries Anthropic's error shape.
    assert isinstance(err.value.body, dict) and err.value.body["type"] == "error"
    assert err.value.body["error"]["type"] in ("api_error", "overloaded_error")
    assert err.value.body["error"]["message"]


def test_streaming_error_before_first_byte_is_plain_error(client: anthropic.Anthropic) -> None:
    with (
        pytest.raises(anthropic.RateLimitError),
        client.messages.stream(
            model="claude-sonnet-4-5",
            max_tokens=10,
            messages=[{"role": "user", "content": "x\n@emulator status=429"}],
        ) as stream,
    ):
        stream.get_final_message()


def test_dlp_runs_on_anthropic_requests(client: anthropic.Anthropic, emu: str) -> None:
    """Without policy, DLP still classifies; the request goes through unchanged."""
    msg = client.messages.create(
        model="gpt-4o-mini",
        max_tokens=10,
        messages=[{"role": "user", "content": "about Project Nightjar"}],
    )
    assert digest_of("about Project Nightjar") in text_of(msg)


def test_models_endpoint_is_reachable_with_bearer(gw: str, tmp_path: Path) -> None:
    r = httpx.get(f"{gw}/v1/models", headers={"authorization": f"Bearer {DEMO_KEY}"}, timeout=20)
    assert {m["id"] for m in r.json()["data"]} >= set(MODELS)


def test_models_in_anthropic_shape(client: anthropic.Anthropic, gw: str) -> None:
    # The Anthropic SDK sends `anthropic-version`: the list and the lookup come in its shape.
    page = client.models.list()
    ids = [m.id for m in page.data]
    assert set(ids) >= set(MODELS) and not page.has_more
    assert (page.first_id, page.last_id) == (ids[0], ids[-1])
    assert all(m.type == "model" and m.display_name == m.id for m in page.data)
    model = client.models.retrieve("claude-sonnet-4-5")
    assert model.id == "claude-sonnet-4-5" and model.created_at.year == 1970
    with pytest.raises(anthropic.NotFoundError) as info:
        client.models.retrieve("no-such-model")
    assert info.value.body["error"]["code"] == "model_not_found"  # type: ignore[index]
    assert info.value.body["type"] == "error"  # type: ignore[index]


def test_client_disconnect_mid_stream_closes_upstream(tmp_path: Path) -> None:
    with emulator() as emu_url:
        port = int(emu_url.rsplit(":", 1)[1])
        config = derive_config(tmp_path, emu_url, drop=["policy"], dlp={"enabled": False})
        with gateway(config) as gw_url:
            c = anthropic.Anthropic(base_url=gw_url, api_key=DEMO_KEY, max_retries=0, timeout=20)
            # ~3 s of stream: long enough to cut it mid-way, short enough that the emulator
            # (which finishes writing a stream its client left) stops quickly afterwards.
            stream = c.messages.create(
                model="claude-sonnet-4-5",
                max_tokens=1000,
                messages=[{"role": "user", "content": "x\n@emulator chunks=120 chunk_delay_ms=25"}],
                stream=True,
            )
            events = iter(stream)
            kinds = [next(events).type for _ in range(4)]
            assert kinds[0] == "message_start" and "content_block_delta" in kinds
            assert established_connections(port) == 1
            stream.close()
            # Closing the response is a disconnect: the gateway must close its upstream call.
            deadline = time.monotonic() + 5
            while established_connections(port) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert established_connections(port) == 0
