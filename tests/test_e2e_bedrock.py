"""End to end: official SDKs -> `bordergate serve` -> Claude on Amazon Bedrock (emulated).

The emulator answers Bedrock's InvokeModel routes in their wire format (JSON, and AWS's binary
event stream for streams). The gateway signs with SigV4, which is checked here against
botocore's own signer for the exact request that arrived, or sends a Bedrock API key.
"""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import quote

import anthropic
import httpx
import openai
import orjson
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bordergate.emulator.content import auth_fingerprint, digest_of
from tests.support import audit_event, build_fingerprints, derive_config, emulator, gateway

DEMO_KEY = "bg-demo-key"
ACCESS_KEY_ID = "AKIAEMULATOREXAMPLE"
SECRET = "emulator/secret+access/key"
BEDROCK_API_KEY = "ABSKemulatorbedrockapikey"
SIGNED_MODEL = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
KEYED_MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
REGION = "eu-central-1"
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]

PROVIDERS = {
    "bedrock": {
        "preset": "bedrock",
        "region": REGION,
        "aws_access_key_id": ACCESS_KEY_ID,
        "aws_secret_access_key": "${TEST_BEDROCK_SECRET}",
    },
    "bedrock-key": {"preset": "bedrock", "region": "us-east-1", "api_key": "${TEST_BEDROCK_KEY}"},
    "openai": {"preset": "openai", "api_key": "sk-emulator-openai"},
}
MODELS = {
    "claude-bedrock": [{"provider": "bedrock", "model": SIGNED_MODEL}],
    "haiku-bedrock": [{"provider": "bedrock-key", "model": KEYED_MODEL}],
    "gpt-4o-mini": [{"provider": "openai", "model": "gpt-4o-mini"}],
}


def _config(tmp: Path, emu: str, policy: bool) -> Path:
    providers = {
        name: {**entry, "base_url": emu + ("/v1" if name == "openai" else "")}
        for name, entry in PROVIDERS.items()
    }
    sections: dict[str, Any] = {"providers": providers, "models": MODELS}
    build_fingerprints(tmp / "bordergate-src.fpi")
    return derive_config(tmp, emu, drop=[] if policy else ["policy"], **sections)


ENV = {"TEST_BEDROCK_SECRET": SECRET, "TEST_BEDROCK_KEY": BEDROCK_API_KEY}


@pytest.fixture(scope="module")
def emu() -> Iterator[str]:
    with emulator() as url:
        yield url


@pytest.fixture(scope="module")
def served(emu: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("bedrock-gw")
    with gateway(_config(tmp, emu, policy=False), env=ENV) as url:
        yield url, tmp


@pytest.fixture
def oai(served: tuple[str, Path]) -> openai.OpenAI:
    return openai.OpenAI(base_url=served[0] + "/v1", api_key=DEMO_KEY, max_retries=0, timeout=20)


@pytest.fixture
def ant(served: tuple[str, Path]) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=served[0], api_key=DEMO_KEY, max_retries=0, timeout=20)


def last_request(emu: str) -> dict[str, Any]:
    requests: list[dict[str, Any]] = httpx.get(f"{emu}/_emulator/requests").json()
    return requests[-1]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_openai_client_gets_claude_on_bedrock(
    oai: openai.OpenAI, emu: str, served: tuple[str, Path], stream: bool
) -> None:
    messages: list[Any] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello bedrock\n@emulator chunks=5"},
    ]
    if stream:
        chunks = list(
            oai.chat.completions.create(
                model="claude-bedrock",
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        usage = chunks[-1].usage
        finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
    else:
        raw = oai.chat.completions.with_raw_response.create(
            model="claude-bedrock", messages=messages
        )
        reply = raw.parse()
        text, usage = reply.choices[0].message.content or "", reply.usage
        finish = reply.choices[0].finish_reason
        assert raw.headers["x-bordergate-deployment"] == f"bedrock/{SIGNED_MODEL}"
        event = audit_event(served[1], raw.headers["x-request-id"])
        assert (event["vendor"], event["host"], event["region"]) == (
            "anthropic",
            "aws-bedrock",
            REGION,
        )
        assert event["prompt_tokens"] == reply.usage.prompt_tokens  # type: ignore[union-attr]
    assert digest_of("hello bedrock") in text and finish == "stop"
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    sent = last_request(emu)
    verb = "invoke-with-response-stream" if stream else "invoke"
    assert sent["path"] == f"/model/{SIGNED_MODEL}/{verb}"
    body = sent["body"]
    # Bedrock's body: the model is in the path, the endpoint decides streaming.
    assert "model" not in body and "stream" not in body
    assert body["anthropic_version"] == "bedrock-2023-05-31"
    assert body["system"] == "Be brief." and body["messages"][0]["role"] == "user"


def test_requests_are_signed_exactly_as_aws_signs_them(oai: openai.OpenAI, emu: str) -> None:
    oai.chat.completions.create(
        model="claude-bedrock", messages=[{"role": "user", "content": "sign me"}]
    )
    sent = last_request(emu)
    assert sent["auth"]["header"] == "authorization"
    amz_date = sent["headers"]["x-amz-date"]
    # botocore signs the same request (same URL bytes, body, time) as the independent oracle.
    port = emu.rsplit(":", 1)[1]
    url = f"http://127.0.0.1:{port}/model/{quote(SIGNED_MODEL, safe='')}/invoke"
    request = AWSRequest(
        method="POST",
        url=url,
        data=orjson.dumps(sent["body"]),
        headers={"content-type": "application/json"},
    )
    when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")  # naive UTC, as botocore's
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET), "bedrock", REGION).add_auth(request)
    assert request.headers["X-Amz-Date"] == amz_date
    expected = request.headers["Authorization"]
    assert f"Credential={ACCESS_KEY_ID}/{amz_date[:8]}/{REGION}/bedrock/aws4_request" in expected
    assert sent["auth"]["sha256"] == auth_fingerprint(expected)
    assert SECRET not in json.dumps(sent)


def test_a_bedrock_api_key_goes_as_bearer(oai: openai.OpenAI, emu: str) -> None:
    reply = oai.chat.completions.create(
        model="haiku-bedrock", messages=[{"role": "user", "content": "keyed"}]
    )
    assert digest_of("keyed") in (reply.choices[0].message.content or "")
    sent = last_request(emu)
    assert sent["path"] == f"/model/{KEYED_MODEL}/invoke"
    assert sent["auth"] == {"header": "authorization", "sha256": auth_fingerprint(BEDROCK_API_KEY)}
    assert "x-amz-date" not in sent["headers"]


def test_streamed_tool_call_from_bedrock(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="claude-bedrock",
        messages=[{"role": "user", "content": "weather in Paris\n@emulator tool=get_weather"}],
        tools=TOOLS,
        stream=True,
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for call in choice.delta.tool_calls or []:
                slot = calls.setdefault(call.index, {"name": "", "arguments": ""})
                if call.function and call.function.name:
                    slot["name"] += call.function.name
                if call.function and call.function.arguments:
                    slot["arguments"] += call.function.arguments
    assert finish == "tool_calls"
    assert [c["name"] for c in calls.values()] == ["get_weather"]
    assert isinstance(json.loads(calls[0]["arguments"]), dict)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_anthropic_client_body_goes_to_bedrock_as_written(
    ant: anthropic.Anthropic, emu: str, stream: bool
) -> None:
    messages: list[Any] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "cache me", "cache_control": {"type": "ephemeral"}}
            ],
        }
    ]
    args: dict[str, Any] = {
        "model": "claude-bedrock",
        "max_tokens": 300,
        "messages": messages,
        # Anthropic-API-only fields are left out: Bedrock refuses keys it does not know.
        "extra_body": {"top_k": 7, "cache_control": {"type": "ephemeral"}},
        "extra_headers": {"anthropic-beta": "context-1m-2025-08-07, token-efficient-tools"},
    }
    if stream:
        with ant.messages.stream(**args) as events:
            seen = list(events)
            message = events.get_final_message()
        kinds = [event.type for event in seen]
        assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    else:
        message = ant.messages.create(**args)
    assert digest_of("cache me") in "".join(b.text for b in message.content if b.type == "text")
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    sent = last_request(emu)
    assert sent["body"] == {
        "max_tokens": 300,
        "messages": messages,
        "top_k": 7,
        "anthropic_version": "bedrock-2023-05-31",
        "anthropic_beta": ["context-1m-2025-08-07", "token-efficient-tools"],
    }
    assert "anthropic-beta" not in sent["headers"]


def test_upstream_errors_reach_each_client_in_its_format(
    oai: openai.OpenAI, ant: anthropic.Anthropic
) -> None:
    with pytest.raises(openai.RateLimitError) as limited:
        oai.chat.completions.create(
            model="claude-bedrock",
            messages=[{"role": "user", "content": "slow down\n@emulator status=429"}],
        )
    assert "bedrock" in limited.value.message and limited.value.response.headers["retry-after"]
    with pytest.raises(anthropic.InternalServerError) as failed:
        ant.messages.create(
            model="claude-bedrock",
            max_tokens=50,
            messages=[{"role": "user", "content": "boom\n@emulator status=503"}],
        )
    assert failed.value.status_code == 502 and "bedrock" in failed.value.message


def test_an_exception_mid_stream_ends_the_stream_with_an_error(
    oai: openai.OpenAI, ant: anthropic.Anthropic
) -> None:
    text = "long answer\n@emulator chunks=6 stream_error_after_chunks=2"
    with pytest.raises(openai.APIError, match="bedrock"):
        for _ in oai.chat.completions.create(
            model="claude-bedrock", messages=[{"role": "user", "content": text}], stream=True
        ):
            pass
    with (
        pytest.raises(anthropic.APIStatusError),
        ant.messages.stream(
            model="claude-bedrock", max_tokens=100, messages=[{"role": "user", "content": text}]
        ) as events,
    ):
        for _ in events:
            pass
    dropped = "cut\n@emulator chunks=6 drop_after_chunks=2"
    with pytest.raises(openai.APIError, match="closed the stream early"):
        for _ in oai.chat.completions.create(
            model="claude-bedrock", messages=[{"role": "user", "content": dropped}], stream=True
        ):
            pass


def test_count_tokens_asks_bedrocks_count_tokens(ant: anthropic.Anthropic, emu: str) -> None:
    counted = ant.messages.count_tokens(
        model="claude-bedrock",
        system="Be brief.",
        messages=[{"role": "user", "content": "how many tokens is this"}],
        extra_headers={"anthropic-beta": "token-counting-2024-11-01"},
    )
    assert counted.input_tokens > 0
    sent = last_request(emu)
    assert sent["path"] == f"/model/{SIGNED_MODEL}/count-tokens"
    invoke = json.loads(base64.b64decode(sent["body"]["input"]["invokeModel"]["body"]))
    assert invoke == {
        "messages": [{"role": "user", "content": "how many tokens is this"}],
        "system": "Be brief.",
        "max_tokens": 1,
        "anthropic_version": "bedrock-2023-05-31",
        "anthropic_beta": ["token-counting-2024-11-01"],
    }


def test_a_vendor_ban_holds_on_bedrock_too(emu: str, tmp_path: Path) -> None:
    # The shipped example policy bans Anthropic models on any host: Bedrock is no way around it.
    with gateway(_config(tmp_path, emu, policy=True), env=ENV) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key=DEMO_KEY, max_retries=0)
        seen = httpx.get(f"{emu}/_emulator/requests").json()
        before = seen[-1]["seq"] if seen else 0
        with pytest.raises(openai.PermissionDeniedError, match=r"(?i)anthropic"):
            client.chat.completions.create(
                model="claude-bedrock", messages=[{"role": "user", "content": "hi"}]
            )
        after = httpx.get(f"{emu}/_emulator/requests").json()
        assert (after[-1]["seq"] if after else 0) == before  # nothing reached the provider


def test_anthropic_clients_get_the_stream_anthropic_would_send(
    ant: anthropic.Anthropic, emu: str
) -> None:
    """Bedrock's own invocation metrics on the last event are not passed on."""
    with ant.messages.with_streaming_response.create(
        model="claude-bedrock",
        max_tokens=50,
        messages=[{"role": "user", "content": "metrics?"}],
        stream=True,
    ) as response:
        text = "".join(response.iter_text())
    last = [line for line in text.splitlines() if line.startswith("data: ")][-1]
    assert json.loads(last.removeprefix("data: ")) == {"type": "message_stop"}
    assert "invocationMetrics" not in text
