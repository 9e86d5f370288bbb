"""The emulator driven by the official OpenAI and Anthropic SDKs, as a real child process."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from bordergate.emulator import IMAGE_TOKENS, auth_fingerprint, digest_of, estimate_tokens
from bordergate.emulator.testing import emulator_process
from tests.support import Forecast

# A dropped connection surfaces from the SDK's HTTP transport: httpx, or httpx2 in newer SDKs.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (httpx.TransportError,)
try:
    import httpx2

    TRANSPORT_ERRORS += (httpx2.TransportError,)
except ImportError:  # pragma: no cover - depends on the SDK generation installed
    pass

PNG = (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with emulator_process(record=50) as url:
        yield url


@pytest.fixture
def oai(base_url: str) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(api_key="sk-test-openai", base_url=base_url + "/v1", max_retries=0)
    yield client
    client.close()


@pytest.fixture
def claude(base_url: str) -> Iterator[anthropic.Anthropic]:
    client = anthropic.Anthropic(api_key="sk-ant-test", base_url=base_url, max_retries=0)
    yield client
    client.close()


def expected(model: str, text: str) -> str:
    return f"emulated reply from {model}: sha256={digest_of(text)}"


def user(text: str) -> list[dict[str, object]]:
    return [{"role": "user", "content": text}]


# --- OpenAI -------------------------------------------------------------------------------------


def test_openai_plain_completion(oai: openai.OpenAI) -> None:
    messages = [{"role": "system", "content": "be terse"}, *user("hello there")]
    result = oai.chat.completions.create(model="gpt-4o-mini", messages=messages)
    choice = result.choices[0]
    assert choice.message.content == expected("gpt-4o-mini", "hello there")
    assert choice.finish_reason == "stop"
    assert result.object == "chat.completion"
    assert result.model == "gpt-4o-mini"
    assert result.usage is not None
    assert result.usage.prompt_tokens == estimate_tokens("be terse") + estimate_tokens(
        "hello there"
    )
    assert result.usage.completion_tokens == estimate_tokens(choice.message.content)
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens


def test_openai_stream_chunks_and_model_suffix(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="gpt-4o@chunks=3", messages=user("stream me"), stream=True
    )
    chunks = list(stream)
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(pieces) == 3
    assert "".join(pieces) == expected("gpt-4o", "stream me")
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert {c.model for c in chunks} == {"gpt-4o"}
    assert all(c.usage is None for c in chunks)


def test_openai_stream_include_usage(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="gpt-4o",
        messages=user("count me"),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.prompt_tokens == estimate_tokens("count me")
    assert last.usage.completion_tokens == estimate_tokens(expected("gpt-4o", "count me"))
    assert all(c.usage is None for c in chunks[:-1])


def test_openai_n_choices_json_and_stream(oai: openai.OpenAI) -> None:
    want = expected("gpt-4o", "twice")
    result = oai.chat.completions.create(model="gpt-4o", messages=user("twice"), n=2)
    assert [(c.index, c.message.content) for c in result.choices] == [(0, want), (1, want)]
    assert result.usage is not None
    assert result.usage.completion_tokens == 2 * estimate_tokens(want)  # every choice counts
    stream = oai.chat.completions.create(
        model="gpt-4o@chunks=3",
        messages=user("twice"),
        n=2,
        stream=True,
        stream_options={"include_usage": True},
    )
    texts = ["", ""]
    finished = set()
    usage = None
    for chunk in stream:
        usage = chunk.usage or usage
        for c in chunk.choices:
            texts[c.index] += c.delta.content or ""
            if c.finish_reason:
                finished.add((c.index, c.finish_reason))
    assert texts == [want, want]
    assert finished == {(0, "stop"), (1, "stop")}
    assert usage is not None and usage.completion_tokens == 2 * estimate_tokens(want)
    with pytest.raises(openai.BadRequestError, match="'n'"):
        oai.chat.completions.create(model="gpt-4o", messages=user("x"), n=0)


def test_openai_single_tool_call(oai: openai.OpenAI) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    result = oai.chat.completions.create(
        model="gpt-4o", messages=user("Weather in Oslo?\n@emulator tool=get_weather"), tools=tools
    )
    choice = result.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"text": "Weather in Oslo?", "index": 0}


def test_openai_parallel_tool_calls_streamed(oai: openai.OpenAI) -> None:
    tools = [
        {"type": "function", "function": {"name": name, "parameters": {}}}
        for name in ("search", "fetch")
    ]
    with oai.chat.completions.stream(
        model="gpt-4o@tools=2@chunks=4", messages=user("find it"), tools=tools
    ) as stream:
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["search", "fetch"]
    assert [json.loads(c.function.arguments)["index"] for c in calls] == [0, 1]
    assert all(json.loads(c.function.arguments)["text"] == "find it" for c in calls)
    assert len({c.id for c in calls}) == 2
    assert final.choices[0].finish_reason == "tool_calls"


def test_openai_tool_loop_ends_with_text(oai: openai.OpenAI) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    messages: list[dict[str, object]] = user("capital of France?")
    first = oai.chat.completions.create(model="gpt-4o@tool=lookup", messages=messages, tools=tools)
    call = first.choices[0].message.tool_calls[0]
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "Paris"},
    ]
    second = oai.chat.completions.create(model="gpt-4o@tool=lookup", messages=messages, tools=tools)
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == expected("gpt-4o", "Paris")


def test_openai_image_parts_use_text_and_count_images(oai: openai.OpenAI) -> None:
    content = [
        {"type": "text", "text": "describe"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]
    result = oai.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": content}]
    )
    assert result.choices[0].message.content == expected("gpt-4o", "describe")
    assert result.usage is not None
    assert result.usage.prompt_tokens == estimate_tokens("describe") + 2 * IMAGE_TOKENS


def test_openai_echo_removes_directive_line(oai: openai.OpenAI) -> None:
    result = oai.chat.completions.create(
        model="gpt-4o", messages=user("line one\n@emulator echo\nline two")
    )
    assert result.choices[0].message.content == "line one\nline two"


def test_openai_latency_and_chunk_delay_are_lower_bounds(oai: openai.OpenAI) -> None:
    started = time.monotonic()
    oai.chat.completions.create(model="gpt-4o@latency_ms=60", messages=user("slow"))
    assert time.monotonic() - started >= 0.055
    started = time.monotonic()
    stream = oai.chat.completions.create(
        model="gpt-4o@chunks=3@chunk_delay_ms=30", messages=user("paced"), stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == expected(
        "gpt-4o", "paced"
    )
    assert time.monotonic() - started >= 0.055  # two gaps between three chunks


def test_openai_rate_limit_error_with_retry_after(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        oai.chat.completions.create(model="gpt-4o@status=429", messages=user("x"))
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.code == "rate_limit_exceeded"
    with pytest.raises(openai.RateLimitError) as caught:
        oai.chat.completions.create(
            model="gpt-4o", messages=user("x\n@emulator status=429 retry_after=7")
        )
    assert caught.value.response.headers["retry-after"] == "7"


def test_openai_server_error_and_status_times(oai: openai.OpenAI) -> None:
    message = user(f"flaky {time.time_ns()}\n@emulator status=500 status_times=1")
    with pytest.raises(openai.APIStatusError) as caught:
        oai.chat.completions.create(model="gpt-4o", messages=message)
    assert isinstance(caught.value, openai.InternalServerError)
    assert caught.value.status_code == 500
    assert caught.value.type == "server_error"
    # The second identical request succeeds: the failure was for the first attempt only.
    second = oai.chat.completions.create(model="gpt-4o", messages=message)
    assert second.choices[0].message.content is not None


def test_openai_missing_key_is_authentication_error(base_url: str) -> None:
    client = openai.OpenAI(
        api_key="k", default_headers={"Authorization": ""}, base_url=base_url + "/v1", max_retries=0
    )
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=user("x"))
    assert caught.value.status_code == 401
    assert caught.value.body["message"].startswith("You didn't provide an API key")
    client.close()


def test_openai_bad_knob_is_bad_request(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="chunkz"):
        oai.chat.completions.create(model="gpt-4o", messages=user("@emulator chunkz=2"))


def test_openai_drop_after_chunks_breaks_the_stream(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="gpt-4o@chunks=4@drop_after_chunks=2", messages=user("cut"), stream=True
    )
    received: list[str] = []
    with pytest.raises((*TRANSPORT_ERRORS, openai.APIConnectionError)):
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert len(received) == 2
    assert expected("gpt-4o", "cut").startswith("".join(received))


def test_openai_drop_on_plain_request_is_connection_error(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.APIConnectionError):
        oai.chat.completions.create(model="gpt-4o@drop_after_chunks=0", messages=user("x"))


def test_openai_stream_error_after_chunks(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="gpt-4o@chunks=5@stream_error_after_chunks=1", messages=user("x"), stream=True
    )
    received = 0
    with pytest.raises(openai.APIError, match="server had an error"):
        for chunk in stream:
            received += bool(chunk.choices and chunk.choices[0].delta.content)
    assert received == 1


def test_openai_structured_output_parses(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.parse(
        model="gpt-4o-mini", messages=user("forecast"), response_format=Forecast
    )
    parsed = completion.choices[0].message.parsed
    assert parsed == Forecast(city=expected("gpt-4o-mini", "forecast"), days=[0])


def test_openai_models_list(oai: openai.OpenAI) -> None:
    ids = [m.id for m in oai.models.list()]
    assert "gpt-4o-mini" in ids
    assert "claude-sonnet-4-5" in ids


# --- Anthropic ----------------------------------------------------------------------------------


def test_anthropic_plain_message(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model="claude-emu-large",
        max_tokens=100,
        system="be terse",
        messages=user("bonjour"),
    )
    assert message.model == "claude-emu-large"
    assert message.stop_reason == "end_turn"
    assert message.content[0].type == "text"
    assert message.content[0].text == expected("claude-emu-large", "bonjour")
    assert message.usage.input_tokens == estimate_tokens("be terse") + estimate_tokens("bonjour")
    assert message.usage.output_tokens == estimate_tokens(message.content[0].text)


def test_anthropic_structured_output_parses(claude: anthropic.Anthropic) -> None:
    message = claude.messages.parse(
        model="claude-emu-large", max_tokens=100, messages=user("forecast"), output_format=Forecast
    )
    expect = expected("claude-emu-large", "forecast")
    assert message.parsed_output == Forecast(city=expect, days=[0])


def test_anthropic_stream_helper_and_final_message(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(
        model="claude-emu-small@chunks=4",
        max_tokens=100,
        messages=user("stream please"),
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    want = expected("claude-emu-small", "stream please")
    assert len(pieces) == 4
    assert "".join(pieces) == want
    assert final.content[0].type == "text"
    assert final.content[0].text == want
    assert final.stop_reason == "end_turn"
    assert final.model == "claude-emu-small"
    assert final.usage.output_tokens == estimate_tokens(want)
    assert final.usage.input_tokens == estimate_tokens("stream please")


def test_anthropic_raw_stream_event_sequence(claude: anthropic.Anthropic) -> None:
    stream = claude.messages.create(
        model="claude-emu-large@chunks=2",
        max_tokens=10,
        messages=user("events"),
        stream=True,
    )
    kinds = [event.type for event in stream]
    assert kinds == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


def test_anthropic_single_and_parallel_tool_use(claude: anthropic.Anthropic) -> None:
    tools = [{"name": "lookup", "input_schema": {"type": "object"}}]
    single = claude.messages.create(
        model="claude-emu-large",
        max_tokens=100,
        tools=tools,
        messages=user("who?\n@emulator tools=1"),
    )
    assert single.stop_reason == "tool_use"
    (block,) = single.content
    assert block.type == "tool_use"
    assert block.name == "lookup"
    assert block.input == {"text": "who?", "index": 0}

    with claude.messages.stream(
        model="claude-emu-large@tool=alpha,beta@chunks=3",
        max_tokens=100,
        messages=user("both"),
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [(b.type, getattr(b, "name", None)) for b in final.content] == [
        ("tool_use", "alpha"),
        ("tool_use", "beta"),
    ]
    assert [getattr(b, "input", None) for b in final.content] == [
        {"text": "both", "index": 0},
        {"text": "both", "index": 1},
    ]


def test_anthropic_tool_loop_ends_with_text(claude: anthropic.Anthropic) -> None:
    tools = [{"name": "lookup", "input_schema": {"type": "object"}}]
    messages: list[dict[str, object]] = user("capital of Italy?")
    first = claude.messages.create(
        model="c@tool=lookup", max_tokens=50, tools=tools, messages=messages
    )
    tool_use = first.content[0]
    assert tool_use.type == "tool_use"
    messages += [
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "Rome"}],
        },
    ]
    second = claude.messages.create(
        model="c@tool=lookup", max_tokens=50, tools=tools, messages=messages
    )
    assert second.stop_reason == "end_turn"
    assert second.content[0].text == expected("c", "Rome")


def test_anthropic_image_blocks(claude: anthropic.Anthropic) -> None:
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "text", "text": "what is shown?"},
    ]
    message = claude.messages.create(
        model="claude-emu-large",
        max_tokens=100,
        messages=[{"role": "user", "content": content}],
    )
    assert message.content[0].text == expected("claude-emu-large", "what is shown?")
    assert message.usage.input_tokens == estimate_tokens("what is shown?") + IMAGE_TOKENS


def test_anthropic_errors_surface_as_sdk_exceptions(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.RateLimitError) as limited:
        claude.messages.create(model="c@status=429", max_tokens=5, messages=user("x"))
    assert limited.value.response.headers["retry-after"] == "1"
    assert limited.value.body["error"]["type"] == "rate_limit_error"
    with pytest.raises(anthropic.APIStatusError) as overloaded:
        claude.messages.create(model="c@status=529", max_tokens=5, messages=user("x"))
    assert overloaded.value.status_code == 529
    assert overloaded.value.body["error"]["type"] == "overloaded_error"
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.create(model="c", max_tokens=5, messages=user("@emulator nope"))


def test_anthropic_without_credentials_is_authentication_error(base_url: str) -> None:
    # The SDK sends its key as a Bearer token; omitting that header leaves no credential.
    client = anthropic.Anthropic(
        api_key="k",
        default_headers={"Authorization": anthropic.Omit()},
        base_url=base_url,
        max_retries=0,
    )
    with pytest.raises(anthropic.AuthenticationError) as caught:
        client.messages.create(model="c", max_tokens=5, messages=user("x"))
    assert caught.value.body["error"]["type"] == "authentication_error"
    client.close()


def test_anthropic_accepts_x_api_key(base_url: str) -> None:
    client = anthropic.Anthropic(
        api_key="k",
        default_headers={"Authorization": anthropic.Omit(), "X-Api-Key": "sk-ant-header"},
        base_url=base_url,
        max_retries=0,
    )
    message = client.messages.create(model="c", max_tokens=5, messages=user("x"))
    assert message.content[0].text == expected("c", "x")
    client.close()


def test_anthropic_stream_error_event(claude: anthropic.Anthropic) -> None:
    pieces: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError, match="overloaded_error"),
        claude.messages.stream(
            model="c@chunks=3@stream_error_after_chunks=2",
            max_tokens=5,
            messages=user("x"),
        ) as stream,
    ):
        pieces.extend(stream.text_stream)
    assert len(pieces) == 2


def test_anthropic_drop_after_chunks(claude: anthropic.Anthropic) -> None:
    pieces: list[str] = []
    with (
        pytest.raises((*TRANSPORT_ERRORS, anthropic.APIConnectionError)),
        claude.messages.stream(
            model="c@chunks=3@drop_after_chunks=1",
            max_tokens=5,
            messages=user("x"),
        ) as stream,
    ):
        pieces.extend(stream.text_stream)
    assert len(pieces) == 1


def test_anthropic_count_tokens(claude: anthropic.Anthropic) -> None:
    counted = claude.messages.count_tokens(model="c", system="sys", messages=user("four"))
    assert counted.input_tokens == estimate_tokens("sys") + estimate_tokens("four")


# --- Recording ----------------------------------------------------------------------------------


def test_requests_are_recorded_without_secrets(
    base_url: str, oai: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    httpx.delete(base_url + "/_emulator/requests").raise_for_status()
    oai.chat.completions.create(model="gpt-4o@chunks=2", messages=user("one"))
    claude.messages.create(model="claude-x", max_tokens=7, messages=user("two"))
    response = httpx.get(base_url + "/_emulator/requests")
    assert "sk-test-openai" not in response.text
    assert "sk-ant-test" not in response.text
    first, second = response.json()
    assert first["path"] == "/v1/chat/completions"
    assert first["body"]["model"] == "gpt-4o@chunks=2"
    assert first["auth"] == {
        "header": "authorization",
        "sha256": auth_fingerprint("sk-test-openai"),
    }
    assert first["status"] == 200
    assert second["path"] == "/v1/messages"
    assert second["body"]["max_tokens"] == 7
    # Current Anthropic SDKs present the API key as a Bearer token.
    assert second["auth"] == {"header": "authorization", "sha256": auth_fingerprint("sk-ant-test")}
    assert "anthropic-version" in second["headers"]
    assert first["seq"] < second["seq"]
    cleared = httpx.delete(base_url + "/_emulator/requests").json()
    assert cleared == {"cleared": 2}
    assert httpx.get(base_url + "/_emulator/requests").json() == []


# --- Cloud hosts with a vendor's wire format ----------------------------------------------------


def test_azure_openai_deployment_route(base_url: str) -> None:
    client = openai.AzureOpenAI(
        api_key="azure-key", azure_endpoint=base_url, api_version="2024-10-21", max_retries=0
    )
    result = client.chat.completions.create(model="my-gpt4o@chunks=2", messages=user("azure?"))
    assert result.choices[0].message.content == expected("my-gpt4o", "azure?")
    stream = client.chat.completions.create(model="my-gpt4o", messages=user("s"), stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == expected("my-gpt4o", "s")
    client.close()
    recorded = httpx.get(base_url + "/_emulator/requests").json()[-1]
    assert recorded["path"] == "/openai/deployments/my-gpt4o/chat/completions"
    assert recorded["auth"] == {"header": "api-key", "sha256": auth_fingerprint("azure-key")}


def test_anthropic_on_vertex_route(base_url: str) -> None:
    client = anthropic.AnthropicVertex(
        region="europe-west1",
        project_id="proj",
        access_token="ya29.token",
        base_url=base_url + "/v1",
        max_retries=0,
    )
    message = client.messages.create(
        model="claude-emu@20250101", max_tokens=20, messages=user("vertex?")
    )
    assert message.model == "claude-emu@20250101"
    assert message.content[0].text == expected("claude-emu@20250101", "vertex?")
    with client.messages.stream(
        model="claude-emu@20250101@chunks=2", max_tokens=20, messages=user("v")
    ) as stream:
        assert "".join(stream.text_stream) == expected("claude-emu@20250101", "v")
    client.close()
    recorded = httpx.get(base_url + "/_emulator/requests").json()[-1]
    assert recorded["path"].endswith(
        "/publishers/anthropic/models/claude-emu@20250101@chunks=2:streamRawPredict"
    )
    assert "model" not in recorded["body"]
    assert "anthropic_version" in recorded["body"]
