"""End to end: official openai SDK -> `bordergate serve` -> `bordergate emulate`, real processes."""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from bordergate.emulator.content import digest_of
from tests.support import (
    Forecast,
    derive_config,
    emulator,
    established_connections,
    free_port,
    gateway,
)

DEMO_KEY = "bg-demo-key"
MODELS = ["gpt-4o-mini", "qwen3-coder-plus", "deepseek-chat", "claude-sonnet-4-5"]


@pytest.fixture(scope="module")
def emu() -> Iterator[str]:
    with emulator() as url:
        yield url


def open_config(tmp: Path, emu: str) -> Path:
    """The shipped example without its policy and DLP, to exercise the plain proxy path."""
    return derive_config(tmp, emu, drop=["policy"], dlp={"enabled": False})


@pytest.fixture(scope="module")
def gw(emu: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with gateway(open_config(tmp_path_factory.mktemp("gw"), emu)) as url:
        yield url


@pytest.fixture
def client(gw: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw}/v1", api_key=DEMO_KEY, max_retries=0, timeout=20)


def last_upstream(emu: str) -> dict:
    return httpx.get(f"{emu}/_emulator/requests").json()[-1]


@pytest.mark.parametrize("model", MODELS)
def test_plain_completion_reaches_upstream_and_back(
    client: openai.OpenAI, emu: str, model: str
) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model=model,
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": f"hello {model}"},
        ],
    )
    completion = raw.parse()
    text = completion.choices[0].message.content or ""
    assert digest_of(f"hello {model}") in text
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert raw.headers["x-bordergate-deployment"].split("/", 1)[1].startswith(model)
    upstream = last_upstream(emu)
    if model == "claude-sonnet-4-5":
        assert upstream["path"] == "/v1/messages"
        assert upstream["body"]["system"] in (
            "You are terse.",
            [{"type": "text", "text": "You are terse."}],
        )
        assert upstream["auth"]["header"] == "x-api-key"
    else:
        assert upstream["path"] == "/v1/chat/completions"
        assert upstream["body"]["messages"][1]["content"] == f"hello {model}"
        assert upstream["auth"]["header"] == "authorization"


@pytest.mark.parametrize("model", MODELS)
def test_streaming_with_usage(client: openai.OpenAI, model: str) -> None:
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "stream me\n@emulator chunks=7"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, usage, finish = [], None, None
    for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert digest_of("stream me") in "".join(pieces)
    assert len([p for p in pieces if p]) >= 5
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens > 0


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-sonnet-4-5"])
def test_streaming_without_usage_has_no_usage_chunk(client: openai.OpenAI, model: str) -> None:
    chunks = list(
        client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "x"}], stream=True
        )
    )
    assert chunks and all(c.usage is None for c in chunks)


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    },
    {
        "type": "function",
        "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
    },
]


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-sonnet-4-5"])
def test_parallel_tool_calls_and_tool_results(client: openai.OpenAI, emu: str, model: str) -> None:
    first = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "weather and time?\n@emulator tools=2"}],
        tools=TOOLS,  # type: ignore[arg-type]
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]  # type: ignore[union-attr]
    # Send the results back: a multi-turn conversation with tool results.
    follow = client.chat.completions.create(
        model=model,
        messages=[
            {"role": "user", "content": "weather and time?"},
            choice.message.model_dump(exclude_none=True),  # type: ignore[list-item]
            *[
                {"role": "tool", "tool_call_id": c.id, "content": f"result {i}"}
                for i, c in enumerate(calls)
            ],
        ],
        tools=TOOLS,  # type: ignore[arg-type]
    )
    assert follow.choices[0].message.content
    body = last_upstream(emu)["body"]
    if model == "claude-sonnet-4-5":
        results = [
            b
            for m in body["messages"]
            for b in (m["content"] if isinstance(m["content"], list) else [])
            if b.get("type") == "tool_result"
        ]
        assert [r["tool_use_id"] for r in results] == [c.id for c in calls]
    else:
        assert [m["role"] for m in body["messages"]] == ["user", "assistant", "tool", "tool"]


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-sonnet-4-5"])
def test_streamed_tool_calls(client: openai.OpenAI, model: str) -> None:
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "go\n@emulator tool=get_weather"}],
        tools=TOOLS,  # type: ignore[arg-type]
        stream=True,
    )
    names, args, finish = {}, {}, None
    for chunk in stream:
        if not chunk.choices:
            continue
        for tc in chunk.choices[0].delta.tool_calls or []:
            if tc.function and tc.function.name:
                names[tc.index] = tc.function.name
            if tc.function and tc.function.arguments:
                args[tc.index] = args.get(tc.index, "") + tc.function.arguments
        finish = chunk.choices[0].finish_reason or finish
    assert names == {0: "get_weather"}
    assert '"go"' in args[0] or "go" in args[0]
    assert finish == "tool_calls"


PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32).decode()


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-sonnet-4-5"])
def test_images_by_url_and_base64(client: openai.OpenAI, emu: str, model: str) -> None:
    client.chat.completions.create(
        model=model,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is in these?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ],
            }
        ],
    )
    content = last_upstream(emu)["body"]["messages"][-1]["content"]
    if model == "claude-sonnet-4-5":
        sources = [b["source"] for b in content if b["type"] == "image"]
        assert sources[0] == {"type": "url", "url": "https://example.com/cat.png"}
        assert sources[1] == {"type": "base64", "media_type": "image/png", "data": PNG}
    else:
        urls = [p["image_url"]["url"] for p in content if p["type"] == "image_url"]
        assert urls == ["https://example.com/cat.png", f"data:image/png;base64,{PNG}"]


@pytest.mark.parametrize("model", MODELS)
def test_structured_output_keeps_its_schema_on_every_upstream(
    client: openai.OpenAI, emu: str, model: str
) -> None:
    completion = client.chat.completions.parse(
        model=model, messages=[{"role": "user", "content": "forecast"}], response_format=Forecast
    )
    parsed = completion.choices[0].message.parsed
    assert parsed is not None and digest_of("forecast") in parsed.city and parsed.days == [0]
    body = last_upstream(emu)["body"]
    if model == "claude-sonnet-4-5":  # translated to Anthropic's structured outputs
        schema = body["output_config"]["format"]["schema"]
        assert "response_format" not in body
    else:
        schema = body["response_format"]["json_schema"]["schema"]
    assert set(schema["properties"]) == {"city", "days"}
    assert schema["additionalProperties"] is False


def test_models_list_and_health(client: openai.OpenAI, gw: str) -> None:
    assert sorted(m.id for m in client.models.list()) == sorted([*MODELS, "inhouse-coder"])
    assert httpx.get(f"{gw}/healthz").status_code == 200
    assert httpx.get(f"{gw}/readyz").json() == {"status": "ready"}


def test_models_retrieve(client: openai.OpenAI, gw: str) -> None:
    model = client.models.retrieve("deepseek-chat")
    assert (model.id, model.object, model.owned_by) == ("deepseek-chat", "model", "deepseek")
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("no-such-model")
    assert info.value.body == {  # the OpenAI error shape the SDK reads
        "message": "model 'no-such-model' is not offered to you by this gateway; GET /v1/models "
        "lists the models you may use",
        "type": "not_found_error",
        "param": None,
        "code": "model_not_found",
    }
    r = httpx.delete(
        f"{gw}/v1/models/deepseek-chat", headers={"authorization": f"Bearer {DEMO_KEY}"}
    )
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"
    assert httpx.get(f"{gw}/v1/models/deepseek-chat").status_code == 401


def test_auth_required(gw: str) -> None:
    bad = openai.OpenAI(base_url=f"{gw}/v1", api_key="not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError, match="unknown key"):
        bad.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
    r = httpx.post(f"{gw}/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": []})
    assert r.status_code == 401 and "missing credential" in r.json()["error"]["message"]


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError, match="not offered"):
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b'["a list"]', "object"),
        (b'{"model": 5, "messages": []}', "model"),
        (b'{"model": "' + b"m" * 257 + b'", "messages": []}', "longer than 256"),
        (b'{"model": "gpt-4o-mini", "messages": "hi"}', "messages"),
        (b'{"model": "gpt-4o-mini", "messages": [{"role": "wizard", "content": "x"}]}', "role"),
        (b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": 3}]}', "content"),
        (
            b'{"model": "gpt-4o-mini", "stream": "yes", '
            b'"messages": [{"role": "user", "content": "x"}]}',
            "stream",
        ),
    ],
)
def test_bad_input_is_400_in_openai_format(gw: str, body: bytes, fragment: str) -> None:
    r = httpx.post(
        f"{gw}/v1/chat/completions",
        content=body,
        headers={"authorization": f"Bearer {DEMO_KEY}", "content-type": "application/json"},
    )
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error"
    assert fragment in err["message"]


def test_upstream_errors_map_to_client_errors(client: openai.OpenAI) -> None:
    def ask(directive: str, model: str = "gpt-4o-mini") -> None:
        client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": f"x\n@emulator {directive}"}]
        )

    with pytest.raises(openai.RateLimitError) as rate:
        ask("status=429 retry_after=7")
    assert rate.value.response.headers["retry-after"] == "7"
    for model in ("gpt-4o-mini", "claude-sonnet-4-5"):
        with pytest.raises(openai.InternalServerError) as err:
            ask("status=503", model)
        assert err.value.status_code == 502
        assert "provider" in err.value.message and "503" in err.value.message
    with pytest.raises(openai.InternalServerError) as busy:  # Anthropic's 529 "overloaded"
        ask("status=529", "claude-sonnet-4-5")
    assert busy.value.status_code == 503 and "is overloaded (HTTP 529)" in busy.value.message


def test_stream_dropped_mid_way_is_an_error_not_a_clean_end(client: openai.OpenAI) -> None:
    for model in ("gpt-4o-mini", "claude-sonnet-4-5"):
        with pytest.raises(openai.APIError, match=r"closed the stream early|without"):
            for _ in client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": "x\n@emulator chunks=6 drop_after_chunks=2"}],
                stream=True,
            ):
                pass


def test_anthropic_stream_error_event_surfaces_after_the_text_sent_before_it(
    client: openai.OpenAI,
) -> None:
    """The text the provider streamed before its error event reaches the client (even when
    the error arrives in the same network read), then the error, in OpenAI's types."""
    whole = client.chat.completions.create(
        model="claude-sonnet-4-5", messages=[{"role": "user", "content": "x\n@emulator chunks=4"}]
    )
    full = whole.choices[0].message.content or ""
    received = ""
    with pytest.raises(openai.APIError, match="provider anthropic") as err:
        for chunk in client.chat.completions.create(
            model="claude-sonnet-4-5",
            messages=[
                {"role": "user", "content": "x\n@emulator chunks=4 stream_error_after_chunks=2"}
            ],
            stream=True,
        ):
            received += chunk.choices[0].delta.content or "" if chunk.choices else ""
    assert received and full.startswith(received) and received != full
    assert err.value.body["type"] == "server_error"  # type: ignore[index]


def write_config(tmp_path: Path, emu: str, extra_provider: str = "", server: str = "") -> Path:
    path = tmp_path / "gw.yaml"
    path.write_text(
        f"""
server: {{max_body_bytes: 2048, max_messages: 3, body_timeout_s: 1 {server}}}
identity:
  database_url: "sqlite:///{tmp_path}/state.db"
  static_keys:
    - {{key: k1-0123456789abcdef, user: u1}}
    - {{key: k2-0123456789abcdef, user: u2, tpm: 2000}}
    - {{key: k3-0123456789abcdef, user: u3, rpm: 2}}
    - {{key: k4-0123456789abcdef, user: u4, rpm: 2}}
audit: {{database: "sqlite:///{tmp_path}/state.db"}}
providers:
  emu:
    {{preset: openai, base_url: "{emu}/v1", api_key: sk-x, timeout_s: 1, stream_idle_timeout_s: 1}}
  dead: {{preset: openai, base_url: "http://127.0.0.1:{free_port()}/v1", api_key: sk-x}}
  claude: {{preset: anthropic, base_url: "{emu}/v1", api_key: sk-ant-x}}
{extra_provider}
models:
  gpt-4o-mini: [{{provider: emu, model: gpt-4o-mini}}]
  claude: [{{provider: claude, model: claude-sonnet-4-5}}]
  claude-or-gpt:
    - {{provider: claude, model: claude-sonnet-4-5}}
    - {{provider: emu, model: gpt-4o-mini}}
  dead-model: [{{provider: dead, model: x}}]
  gone-probe: [{{provider: emu, model: gpt-4o-mini}}]
  fallback: [{{provider: dead, model: x}}, {{provider: emu, model: gpt-4o-mini}}]
"""
    )
    return path


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("small")


@pytest.fixture(scope="module")
def small_gw(emu: str, small_dir: Path) -> Iterator[str]:
    with gateway(write_config(small_dir, emu)) as url:
        yield url


def test_limits_timeouts_and_unreachable(small_gw: str, small_dir: Path) -> None:
    c = openai.OpenAI(
        base_url=f"{small_gw}/v1", api_key="k1-0123456789abcdef", max_retries=0, timeout=20
    )
    with pytest.raises(openai.APIStatusError) as big:
        c.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x" * 5000}]
        )
    assert big.value.status_code == 413
    with pytest.raises(openai.BadRequestError, match="messages"):
        c.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}] * 4
        )
    with pytest.raises(openai.APIStatusError) as slow:
        c.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "x\n@emulator latency_ms=3000"}],
        )
    assert slow.value.status_code == 504 and "did not answer within 1 s" in slow.value.message
    with pytest.raises(openai.APIStatusError) as slow_stream:  # no first byte in time
        c.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "x\n@emulator latency_ms=3000"}],
            stream=True,
        )
    assert slow_stream.value.status_code == 504
    assert "did not answer within 1 s" in slow_stream.value.message
    stalling = c.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "x\n@emulator chunks=3 chunk_delay_ms=2500"}],
        stream=True,
    )
    with pytest.raises(openai.APIError, match="stalled for more than 1 s") as stalled:
        for _ in stalling:
            pass
    assert stalled.value.body["type"] == "upstream_timeout"  # type: ignore[index]
    rid = stalling.response.headers["x-request-id"]
    deadline = time.monotonic() + 10
    while True:  # the audit says what the client was told
        with sqlite3.connect(small_dir / "state.db") as db:
            rows = [json.loads(t) for (t,) in db.execute("SELECT event FROM audit_events")]
        event = next((e for e in rows if e["request_id"] == rid), None)
        if event is not None or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert event is not None and (event["status"], event["error_kind"]) == (
        504,
        "upstream_timeout",
    )
    with pytest.raises(openai.InternalServerError) as cut:  # the answer broke off mid-body
        c.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "x\n@emulator drop_after_chunks=1"}],
        )
    assert cut.value.status_code == 502
    assert "provider emu broke off its answer" in cut.value.message
    with pytest.raises(openai.InternalServerError) as dead:
        c.chat.completions.create(model="dead-model", messages=[{"role": "user", "content": "x"}])
    assert dead.value.status_code == 502 and "cannot connect to provider dead" in dead.value.message
    ok = c.chat.completions.with_raw_response.create(
        model="fallback", messages=[{"role": "user", "content": "x"}]
    )
    assert ok.headers["x-bordergate-deployment"] == "emu/gpt-4o-mini"


def test_a_request_one_format_cannot_carry_is_400_or_goes_to_a_candidate_that_can(
    small_gw: str, small_dir: Path, emu: str
) -> None:
    """`n` > 1 has no Anthropic equivalent: a 400 naming it, with its audit event; an alias
    with an OpenAI-format candidate behind the Claude one is served by that candidate."""
    key = "k1-0123456789abcdef"
    c = openai.OpenAI(base_url=f"{small_gw}/v1", api_key=key, max_retries=0, timeout=20)
    before = len(httpx.get(f"{emu}/_emulator/requests").json())
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as bad:
            c.chat.completions.create(
                model="claude", n=2, stream=stream, messages=[{"role": "user", "content": "x"}]
            )
        assert bad.value.status_code == 400 and "n=1" in bad.value.message
        assert bad.value.body["param"] == "n"  # type: ignore[index]
    # Shapes the translation cannot read are 400s too (they passed the general validation).
    for odd in (
        {"tools": ["x"]},
        {"messages": [{"role": "user", "content": "x"}, {"role": "function", "content": "y"}]},
        {"response_format": {"type": "xml"}},
    ):
        r = httpx.post(
            f"{small_gw}/v1/chat/completions",
            headers={"authorization": f"Bearer {key}"},
            json={"model": "claude", "messages": [{"role": "user", "content": "x"}], **odd},
        )
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error", (
            odd,
            r.text,
        )
    assert len(httpx.get(f"{emu}/_emulator/requests").json()) == before  # nothing sent
    ok = c.chat.completions.with_raw_response.create(
        model="claude-or-gpt", n=2, messages=[{"role": "user", "content": "x"}]
    )
    assert ok.headers["x-bordergate-deployment"] == "emu/gpt-4o-mini"
    assert last_upstream(emu)["body"]["n"] == 2
    # The refusal was audited like any other, as a 400.
    r = httpx.post(
        f"{small_gw}/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "claude", "n": 3, "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.status_code == 400
    with sqlite3.connect(small_dir / "state.db") as db:
        rows = [json.loads(t) for (t,) in db.execute("SELECT event FROM audit_events")]
    event = next(e for e in rows if e["request_id"] == r.headers["x-request-id"])
    assert event["status"] == 400


def test_a_client_that_leaves_while_the_provider_works_is_charged_the_estimate(
    small_gw: str, small_dir: Path
) -> None:
    """The provider was asked and will bill: hanging up before the answer is not free."""
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{small_gw}/v1/chat/completions",
            headers={"authorization": "Bearer k1-0123456789abcdef"},
            json={
                "model": "gone-probe",
                "max_tokens": 100,
                "messages": [{"role": "user", "content": "x\n@emulator latency_ms=900"}],
            },
            timeout=0.3,
        )
    deadline = time.monotonic() + 10
    while True:
        with sqlite3.connect(small_dir / "state.db") as db:
            rows = [json.loads(t) for (t,) in db.execute("SELECT event FROM audit_events")]
        gone = [e for e in rows if e["model_requested"] == "gone-probe"]
        if gone or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [e["error_kind"] for e in gone] == ["client_gone"]
    assert float(gone[0]["cost_usd"]) > 0  # the estimate: the prompt and 100 tokens


def test_requests_for_unknown_models_count_against_the_rate_limit(small_gw: str) -> None:
    c = openai.OpenAI(
        base_url=f"{small_gw}/v1", api_key="k3-0123456789abcdef", max_retries=0, timeout=20
    )
    for _ in range(2):
        with pytest.raises(openai.NotFoundError):
            c.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.RateLimitError):
        c.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])


def test_token_counts_for_unknown_models_count_against_the_rate_limit(small_gw: str) -> None:
    import anthropic

    c = anthropic.Anthropic(base_url=small_gw, api_key="k4-0123456789abcdef", max_retries=0)
    for _ in range(2):
        with pytest.raises(anthropic.NotFoundError):
            c.messages.count_tokens(model="claude-9", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.RateLimitError):
        c.messages.count_tokens(model="claude-9", messages=[{"role": "user", "content": "x"}])


def test_n_answers_count_n_times_against_token_limits(small_gw: str) -> None:
    c = openai.OpenAI(
        base_url=f"{small_gw}/v1", api_key="k2-0123456789abcdef", max_retries=0, timeout=20
    )
    ask = {
        "model": "gpt-4o-mini",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "x"}],
    }
    c.chat.completions.create(**ask)  # type: ignore[call-overload]  # ~100 tokens: within 2000
    with pytest.raises(openai.RateLimitError):  # 64 answers of up to 100 tokens: not
        c.chat.completions.create(n=64, **ask)  # type: ignore[call-overload]


@pytest.mark.parametrize("part", [b'{"model": "gpt-4o-mini", ', b""], ids=["part", "none"])
def test_a_body_that_stops_arriving_is_a_408(small_gw: str, part: bytes) -> None:
    """A client that sends part of its body, or none of it, and then nothing cannot hold the
    request open."""
    import socket

    host, port = small_gw.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = (
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            "Authorization: Bearer k1-0123456789abcdef\r\n"
            "Content-Type: application/json\r\nContent-Length: 200\r\n\r\n"
        )
        sock.sendall(head.encode() + part)
        started = time.monotonic()
        answer = b""
        while b"}" not in answer and (piece := sock.recv(65536)):  # head and body may part
            answer += piece
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
    assert b"request_timeout" in answer and time.monotonic() - started < 8


def test_a_limits_backend_that_fails_is_a_503_with_its_audit_event(
    emu: str, tmp_path: Path
) -> None:
    """Redis down: the request is refused (never served past limits unchecked), answered in
    the client's format and audited, not a bare 500."""
    dead = f"redis://127.0.0.1:{free_port()}/0"
    config = write_config(tmp_path, emu)
    with config.open("a") as f:
        f.write(f"limits: {{backend: redis, redis_url: '{dead}', defaults: {{rpm: 100}}}}\n")
    with gateway(config) as url:
        r = httpx.post(
            f"{url}/v1/chat/completions",
            headers={"authorization": "Bearer k1-0123456789abcdef"},
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]},
            timeout=30,
        )
    assert r.status_code == 503 and r.json()["error"]["code"] == "limits_unavailable"
    with sqlite3.connect(tmp_path / "state.db") as db:
        events = [json.loads(t) for (t,) in db.execute("SELECT event FROM audit_events")]
    event = next(e for e in events if e["request_id"] == r.headers["x-request-id"])
    assert (event["status"], event["error_kind"]) == (503, "internal_error")


def test_body_limit_applies_to_chunked_uploads(small_gw: str) -> None:
    def gen() -> Iterator[bytes]:
        yield b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"x" * 500
        yield b'"}]}'

    r = httpx.post(
        f"{small_gw}/v1/chat/completions",
        content=gen(),
        headers={"authorization": "Bearer k1-0123456789abcdef"},
    )
    assert r.status_code == 413 and r.json()["error"]["type"] == "request_too_large"


def test_client_disconnect_closes_upstream_stream(tmp_path: Path) -> None:
    with emulator() as emu_url:
        port = int(emu_url.rsplit(":", 1)[1])
        with gateway(open_config(tmp_path, emu_url)) as gw_url:
            c = openai.OpenAI(base_url=f"{gw_url}/v1", api_key=DEMO_KEY, max_retries=0)
            stream = c.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "x\n@emulator chunks=400 chunk_delay_ms=25"}],
                stream=True,
            )
            it = iter(stream)
            next(it)
            next(it)
            assert established_connections(port) == 1
            stream.close()
            deadline = time.monotonic() + 5
            while established_connections(port) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert established_connections(port) == 0
