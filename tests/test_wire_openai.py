"""OpenAI request validation: good bodies pass, bad ones name the offending field."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bordergate.wire.openai import WireError, error_body, validate_chat_request


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], **extra}


def rejects(payload: object, *, max_messages: int = 100) -> WireError:
    with pytest.raises(WireError) as info:
        validate_chat_request(payload, max_messages=max_messages)
    assert info.value.status == 400
    assert info.value.type == "invalid_request_error"
    return info.value


def test_minimal_request_is_accepted_and_body_kept() -> None:
    payload = body()
    req = validate_chat_request(payload)
    assert req.model == "gpt-4o"
    assert req.stream is False
    assert req.include_usage is False
    assert req.body is payload


def test_include_usage_needs_stream() -> None:
    opts = {"include_usage": True}
    assert validate_chat_request(body(stream=True, stream_options=opts)).include_usage is True
    assert validate_chat_request(body(stream=False, stream_options=opts)).include_usage is False
    assert validate_chat_request(body(stream=True)).include_usage is False


def test_rich_conversation_is_accepted() -> None:
    messages = [
        {"role": "developer", "content": [{"type": "text", "text": "be brief"}]},
        {"role": "system", "content": "sys"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}},
                {"type": "input_audio", "input_audio": {"data": "AAA=", "format": "wav"}},
                {"type": "file", "file": {"file_id": "file-1"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]},
        {"role": "assistant", "function_call": {"name": "g", "arguments": "{}"}},
        {"role": "function", "name": "g", "content": "ok"},
        # Earlier answers given as audio or as a refusal carry no content (model_dump() of
        # the SDK's message sends them back so).
        {"role": "assistant", "content": None, "audio": {"id": "audio_1"}},
        {"role": "assistant", "content": None, "refusal": "I can't help with that."},
    ]
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    req = validate_chat_request(
        body(
            messages=messages,
            tools=tools,
            tool_choice={"type": "function", "function": {"name": "f"}},
            n=1,
        )
    )
    assert len(req.body["messages"]) == 10


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({"model": "", "messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": 3, "messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": {"role": "user"}}, "messages"),
        ({"model": "m", "messages": ["hi"]}, "messages[0]"),
        ({"model": "m", "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"model": "m", "messages": [{"role": "user"}]}, "messages[0].content"),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "video"}]}]},
            "messages[0].content[0].type",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "text"}]}]},
            "messages[0].content[0].text",
        ),
        (
            {
                "model": "m",
                "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}],
            },
            "messages[0].content[0].image_url.url",
        ),
        (
            {"model": "m", "messages": [{"role": "system", "content": [{"type": "image_url"}]}]},
            "messages[0].content[0].type",
        ),
        (
            {"model": "m", "messages": [{"role": "assistant", "content": None}]},
            "messages[0].content",
        ),
        (
            {"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"id": "c"}]}]},
            "messages[0].tool_calls[0].function",
        ),
        (
            {"model": "m", "messages": [{"role": "tool", "content": "x"}]},
            "messages[0].tool_call_id",
        ),
        ({"model": "m", "messages": [{"role": "function", "content": "x"}]}, "messages[0].name"),
    ],
)
def test_bad_messages_name_the_field(payload: dict[str, Any], param: str) -> None:
    err = rejects(payload)
    assert err.param == param
    assert err.message.startswith(param + ":")


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"stream": "yes"}, "stream"),
        (
            {"stream": True, "stream_options": {"include_usage": "y"}},
            "stream_options.include_usage",
        ),
        ({"n": 0}, "n"),
        ({"n": True}, "n"),
        ({"max_tokens": -1}, "max_tokens"),
        ({"max_completion_tokens": 1.5}, "max_completion_tokens"),
        ({"temperature": 3}, "temperature"),
        ({"top_p": "1"}, "top_p"),
        ({"stop": ["a", 1]}, "stop"),
        ({"tools": {}}, "tools"),
        ({"tools": [{"type": "function", "function": {}}]}, "tools[0].function.name"),
        ({"tools": [{"type": "retrieval"}]}, "tools[0].type"),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]},
            "tools[0].function.parameters",
        ),
        ({"tool_choice": "always"}, "tool_choice"),
        ({"tool_choice": {"type": "function", "function": {}}}, "tool_choice.function.name"),
    ],
)
def test_bad_parameters_name_the_field(extra: dict[str, Any], param: str) -> None:
    assert rejects(body(**extra)).param == param


def test_how_many_stop_sequences_is_the_providers_call() -> None:
    """OpenAI allows four, Anthropic and vLLM more: the provider answers for its own limit."""
    assert validate_chat_request(body(stop=["a", "b", "c", "d", "e"])).body["stop"][4] == "e"


def test_body_must_be_an_object() -> None:
    err = rejects([1, 2])
    assert err.param is None
    assert "JSON object" in err.message


def test_message_limit() -> None:
    messages = [{"role": "user", "content": "x"}] * 5
    assert validate_chat_request(body(messages=messages), max_messages=5)
    err = rejects(body(messages=messages), max_messages=4)
    assert err.param == "messages"
    assert "5 > 4" in err.message


def test_error_body_shape() -> None:
    parsed = orjson.loads(error_body("nope", "invalid_request_error", param="model"))
    assert parsed == {
        "error": {
            "message": "nope",
            "type": "invalid_request_error",
            "param": "model",
            "code": None,
        }
    }


def test_wire_error_renders_in_both_formats() -> None:
    err = rejects(body(n=0))
    assert orjson.loads(err.openai_bytes())["error"]["param"] == "n"
    anthropic = orjson.loads(err.anthropic_bytes())
    assert anthropic["type"] == "error"
    assert anthropic["error"]["type"] == "invalid_request_error"
    assert anthropic["error"]["message"] == err.message
