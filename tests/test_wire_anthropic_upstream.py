"""OpenAI chat -> Anthropic Messages requests, and Anthropic responses/streams -> OpenAI.

Outputs in OpenAI shape are checked with the official ``openai`` SDK types (and its stream
accumulator), so "valid" means what a real OpenAI client accepts.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from bordergate.wire.anthropic import (
    AnthropicStreamToOpenAI,
    StreamError,
    WireError,
    anthropic_error_to_openai,
    anthropic_response_to_openai,
    openai_request_to_anthropic,
)
from bordergate.wire.sse import SSEEvent, SSEParser


def convert(messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return openai_request_to_anthropic(
        {"model": "claude", "messages": messages, **extra}, "claude-sonnet-4-5"
    )


# --------------------------------------------------------------------------- requests


def test_simple_request_gets_model_and_required_max_tokens() -> None:
    out = convert([{"role": "user", "content": "hi"}])
    assert out == {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 4096,
    }


def test_max_tokens_prefers_max_completion_tokens_and_default_is_configurable() -> None:
    msgs = [{"role": "user", "content": "hi"}]
    assert convert(msgs, max_tokens=10)["max_tokens"] == 10
    assert convert(msgs, max_tokens=10, max_completion_tokens=20)["max_tokens"] == 20
    body = {"model": "m", "messages": msgs}
    assert openai_request_to_anthropic(body, "u", default_max_tokens=77)["max_tokens"] == 77


def test_system_and_developer_messages_are_hoisted_in_order() -> None:
    out = convert(
        [
            {"role": "system", "content": "one"},
            {"role": "user", "content": "hi"},
            {"role": "developer", "content": [{"type": "text", "text": "two"}]},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "again"},
        ]
    )
    assert out["system"] == "one\n\ntwo"
    assert [m["role"] for m in out["messages"]] == ["user", "assistant", "user"]


def test_system_with_cache_control_keeps_blocks() -> None:
    part = {"type": "text", "text": "big", "cache_control": {"type": "ephemeral"}}
    out = convert([{"role": "system", "content": [part]}, {"role": "user", "content": "q"}])
    assert out["system"] == [part]


def test_consecutive_same_role_messages_merge_for_alternation() -> None:
    out = convert(
        [
            {"role": "user", "content": "a"},
            {"role": "user", "content": [{"type": "text", "text": "b"}]},
            {"role": "assistant", "content": "c"},
            {"role": "assistant", "content": "d"},
            {"role": "user", "content": "e"},
        ]
    )
    assert out["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "c"}, {"type": "text", "text": "d"}],
        },
        {"role": "user", "content": "e"},
    ]


def test_parallel_tool_calls_and_grouped_results() -> None:
    out = convert(
        [
            {"role": "user", "content": "weather in Paris and Oslo?"},
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "4C"}]},
            {"role": "user", "content": "thanks"},
        ]
    )
    assistant, results = out["messages"][1], out["messages"][2]
    assert assistant == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_2", "name": "weather", "input": {"city": "Oslo"}},
        ],
    }
    assert results["role"] == "user"
    assert results["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
        {
            "type": "tool_result",
            "tool_use_id": "call_2",
            "content": [{"type": "text", "text": "4C"}],
        },
        {"type": "text", "text": "thanks"},
    ]
    assert len(out["messages"]) == 3


def test_assistant_with_null_content_and_empty_arguments() -> None:
    out = convert(
        [
            {"role": "user", "content": "x"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "now", "arguments": ""}}
                ],
            },
            {"role": "tool", "tool_call_id": "c", "content": "noon"},
        ]
    )
    assert out["messages"][1]["content"] == [
        {"type": "tool_use", "id": "c", "name": "now", "input": {}}
    ]


def test_earlier_refusal_and_audio_answers_in_history() -> None:
    out = convert(
        [
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": None, "refusal": "I can't help with that."},
            {"role": "user", "content": "y"},
            {"role": "assistant", "content": None, "audio": {"id": "audio_1"}},
            {"role": "user", "content": "z"},
        ]
    )
    # The refusal is what the assistant said; an audio answer has no text to carry, so its
    # turn is dropped and the user turns around it merge (Anthropic needs alternation).
    assert [(m["role"], m["content"]) for m in out["messages"]] == [
        ("user", "x"),
        ("assistant", "I can't help with that."),
        ("user", [{"type": "text", "text": "y"}, {"type": "text", "text": "z"}]),
    ]


def test_invalid_tool_arguments_name_the_field() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}
    with pytest.raises(WireError) as info:
        convert([{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [call]}])
    assert info.value.param == "messages[1].tool_calls[0].function.arguments"


def test_legacy_function_call_and_function_role() -> None:
    out = convert(
        [
            {"role": "user", "content": "x"},
            {
                "role": "assistant",
                "content": None,
                "function_call": {"name": "f", "arguments": "{}"},
            },
            {"role": "function", "name": "f", "content": "done"},
        ],
        functions=[{"name": "f", "parameters": {"type": "object"}}],
        function_call={"name": "f"},
    )
    use = out["messages"][1]["content"][0]
    result = out["messages"][2]["content"][0]
    assert use["type"] == "tool_use"
    assert result == {"type": "tool_result", "tool_use_id": use["id"], "content": "done"}
    assert out["tools"] == [{"name": "f", "input_schema": {"type": "object"}}]
    assert out["tool_choice"] == {"type": "tool", "name": "f"}


def test_images_by_url_and_data_url() -> None:
    out = convert(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "compare"},
                    {"type": "image_url", "image_url": {"url": "https://e.com/a.png"}},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/jpeg;base64,/9j/AAA=", "detail": "high"},
                    },
                ],
            }
        ]
    )
    assert out["messages"][0]["content"][1:] == [
        {"type": "image", "source": {"type": "url", "url": "https://e.com/a.png"}},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/AAA="},
        },
    ]


def test_pdf_file_becomes_document_and_audio_is_refused() -> None:
    file = {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}
    out = convert([{"role": "user", "content": [{"type": "file", "file": file}]}])
    assert out["messages"][0]["content"] == [
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
            "title": "a.pdf",
        }
    ]
    audio = {"type": "input_audio", "input_audio": {"data": "AA==", "format": "wav"}}
    with pytest.raises(WireError) as info:
        convert([{"role": "user", "content": [audio]}])
    assert info.value.param == "messages[0].content[0]"


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        (None, None, None),
        ("none", None, {"type": "none"}),
        ("required", None, {"type": "any"}),
        ({"type": "function", "function": {"name": "f"}}, None, {"type": "tool", "name": "f"}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
    ],
)
def test_tools_and_tool_choice(choice: Any, parallel: Any, expected: Any) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "f",
                "description": "does f",
                "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}},
                "strict": True,
            },
        },
        {"type": "function", "function": {"name": "g"}},
    ]
    extra: dict[str, Any] = {"tools": tools}
    if choice is not None:
        extra["tool_choice"] = choice
    if parallel is not None:
        extra["parallel_tool_calls"] = parallel
    out = convert([{"role": "user", "content": "x"}], **extra)
    assert out["tools"] == [
        {
            "name": "f",
            "input_schema": {"type": "object", "properties": {"x": {"type": "integer"}}},
            "description": "does f",
        },
        {"name": "g", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert out.get("tool_choice") == expected


def test_sampling_stop_stream_and_user() -> None:
    out = convert(
        [{"role": "user", "content": "x"}],
        temperature=1.7,
        top_p=0.9,
        stop="END",
        stream=True,
        stream_options={"include_usage": True},
        user="alice",
        seed=1,
        presence_penalty=0.5,
        response_format={"type": "json_object"},
    )
    assert out["temperature"] == 1.0
    assert "top_p" not in out  # current Claude models refuse both: temperature wins
    assert convert([{"role": "user", "content": "x"}], top_p=0.9)["top_p"] == 0.9
    assert out["stop_sequences"] == ["END"]
    assert out["stream"] is True
    assert out["metadata"] == {"user_id": "alice"}
    for dropped in ("seed", "presence_penalty", "response_format", "stream_options", "user"):
        assert dropped not in out
    assert convert([{"role": "user", "content": "x"}], stop=["a", "b"])["stop_sequences"] == [
        "a",
        "b",
    ]


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"n": 2}, "n"),
        ({"modalities": ["text", "audio"], "audio": {"voice": "alloy"}}, "modalities"),
        ({"web_search_options": {}}, "web_search_options"),
    ],
)
def test_what_claude_cannot_answer_is_refused(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(WireError) as info:
        convert([{"role": "user", "content": "x"}], **fields)
    assert info.value.param == param
    assert "modalities" not in convert([{"role": "user", "content": "x"}], modalities=["text"])


def test_final_assistant_prefill_loses_trailing_whitespace() -> None:
    out = convert(
        [{"role": "user", "content": "x"}, {"role": "assistant", "content": "The answer: "}]
    )
    assert out["messages"][-1] == {"role": "assistant", "content": "The answer:"}


def test_empty_messages_are_dropped_and_neighbours_merged() -> None:
    out = convert(
        [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": ""},
            {"role": "user", "content": "b"},
        ]
    )
    assert out["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    ]


# --------------------------------------------------------------------------- responses

USAGE = {
    "input_tokens": 100,
    "output_tokens": 20,
    "cache_read_input_tokens": 50,
    "cache_creation_input_tokens": 10,
}


def anthropic_message(content: list[dict[str, Any]], stop_reason: str) -> dict[str, Any]:
    return {
        "id": "msg_01ABC",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": USAGE,
    }


def test_text_response_with_usage() -> None:
    resp = anthropic_message(
        [{"type": "text", "text": "Hello"}, {"type": "text", "text": ", world"}], "end_turn"
    )
    out = anthropic_response_to_openai(resp, "my-alias", created=123)
    completion = ChatCompletion.model_validate(out)
    assert completion.id == "msg_01ABC"
    assert completion.created == 123
    assert completion.model == "my-alias"
    assert completion.choices[0].message.content == "Hello, world"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 160
    assert completion.usage.completion_tokens == 20
    assert completion.usage.total_tokens == 180
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 50


def test_tool_use_response() -> None:
    resp = anthropic_message(
        [
            {"type": "thinking", "thinking": "hmm", "signature": "s"},
            {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo"}},
            {"type": "tool_use", "id": "toolu_2", "name": "time", "input": {}},
        ],
        "tool_use",
    )
    completion = ChatCompletion.model_validate(anthropic_response_to_openai(resp, "m"))
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls or []
    assert [c.id for c in calls] == ["toolu_1", "toolu_2"]
    assert json.loads(calls[0].function.arguments) == {"city": "Oslo"}  # type: ignore[union-attr]
    assert calls[1].function.arguments == "{}"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
        ("model_context_window_exceeded", "length"),
    ],
)
def test_stop_reason_mapping(stop_reason: str, finish: str) -> None:
    resp = anthropic_message([{"type": "text", "text": "x"}], stop_reason)
    out = anthropic_response_to_openai(resp, "m")
    assert ChatCompletion.model_validate(out).choices[0].finish_reason == finish


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "anthropic_type", "openai_type"),
    [
        (400, "invalid_request_error", "invalid_request_error"),
        (401, "authentication_error", "authentication_error"),
        (403, "permission_error", "permission_error"),
        (404, "not_found_error", "not_found_error"),
        (413, "request_too_large", "invalid_request_error"),
        (429, "rate_limit_error", "rate_limit_error"),
        (500, "api_error", "server_error"),
        (529, "overloaded_error", "server_error"),
    ],
)
def test_error_mapping(status: int, anthropic_type: str, openai_type: str) -> None:
    body = {"type": "error", "error": {"type": anthropic_type, "message": "boom"}}
    for raw in (body, orjson.dumps(body)):
        out = anthropic_error_to_openai(status, raw)
        assert out["error"]["type"] == openai_type
        assert out["error"]["message"] == "boom"
        assert set(out["error"]) == {"message", "type", "param", "code"}


def test_error_from_non_json_body_uses_status() -> None:
    out = anthropic_error_to_openai(502, b"<html>Bad Gateway</html>")
    assert out["error"]["type"] == "server_error"
    assert "Bad Gateway" in out["error"]["message"]
    out = anthropic_error_to_openai(429, b"")
    assert out["error"]["type"] == "rate_limit_error"
    assert "429" in out["error"]["message"]


# --------------------------------------------------------------------------- streaming


def _block_delta(index: int, delta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}


def _tool_start(index: int, tool_id: str, name: str) -> tuple[str, dict[str, Any]]:
    block = {"type": "tool_use", "id": tool_id, "name": name, "input": {}}
    return "content_block_start", {
        "type": "content_block_start",
        "index": index,
        "content_block": block,
    }


# The event sequence of a real Messages stream (shapes as documented by Anthropic), with a
# text block followed by two parallel tool calls.
RECORDED_EVENTS: list[tuple[str, dict[str, Any]]] = [
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_014p7gG3wDgGV9EUtLvnow3U",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5-20250929",
                "stop_sequence": None,
                "usage": {"input_tokens": 472, "output_tokens": 2, "cache_read_input_tokens": 100},
                "content": [],
                "stop_reason": None,
            },
        },
    ),
    (
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ),
    ("ping", {"type": "ping"}),
    _block_delta(0, {"type": "text_delta", "text": "Okay, let's check — "}),
    _block_delta(0, {"type": "text_delta", "text": "the weather 🌦."}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    _tool_start(1, "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather"),
    _block_delta(1, {"type": "input_json_delta", "partial_json": ""}),
    _block_delta(1, {"type": "input_json_delta", "partial_json": '{"location":'}),
    _block_delta(1, {"type": "input_json_delta", "partial_json": ' "San Francisco, CA"}'}),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    _tool_start(2, "toolu_02", "get_time"),
    _block_delta(2, {"type": "input_json_delta", "partial_json": '{"tz": "PST"}'}),
    ("content_block_stop", {"type": "content_block_stop", "index": 2}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 89},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
]

# Serialised by hand (not with the code under test), as Anthropic sends it.
RECORDED_STREAM = b"".join(
    f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()
    for name, data in RECORDED_EVENTS
)


def translate(payload: bytes, include_usage: bool, step: int) -> list[dict[str, Any]]:
    parser = SSEParser()
    translator = AnthropicStreamToOpenAI("my-alias", include_usage, created=1700000000)
    chunks: list[dict[str, Any]] = []
    for start in range(0, len(payload), step):
        for event in parser.feed(payload[start : start + step]):
            chunks.extend(translator.feed(event))
    assert translator.done
    return chunks


@pytest.mark.parametrize("step", [7, 64, 100_000])
def test_recorded_stream_becomes_valid_openai_chunks(step: int) -> None:
    chunks = translate(RECORDED_STREAM, include_usage=True, step=step)
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for chunk in chunks:
        # Round-trip through JSON: what the client receives is serialised bytes.
        state.handle_chunk(ChatCompletionChunk.model_validate(orjson.loads(orjson.dumps(chunk))))
    final = state.get_final_completion()
    assert final.id == "msg_014p7gG3wDgGV9EUtLvnow3U"
    assert final.model == "my-alias"
    choice = final.choices[0]
    assert choice.message.content == "Okay, let's check — the weather 🌦."
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [(c.id, c.function.name) for c in calls] == [  # type: ignore[union-attr]
        ("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather"),
        ("toolu_02", "get_time"),
    ]
    assert json.loads(calls[0].function.arguments) == {"location": "San Francisco, CA"}  # type: ignore[union-attr]
    assert json.loads(calls[1].function.arguments) == {"tz": "PST"}  # type: ignore[union-attr]
    assert final.usage is not None
    assert final.usage.prompt_tokens == 572
    assert final.usage.completion_tokens == 89
    assert final.usage.total_tokens == 661


def test_tool_call_indices_are_openai_style() -> None:
    chunks = translate(RECORDED_STREAM, include_usage=False, step=100_000)
    indices = [
        call["index"] for c in chunks for call in c["choices"][0]["delta"].get("tool_calls", [])
    ]
    # Anthropic blocks 1 and 2 are tool calls 0 and 1; empty fragments are skipped.
    assert indices == [0, 0, 0, 1, 1]
    first = next(c for c in chunks if c["choices"][0]["delta"].get("tool_calls"))
    assert first["choices"][0]["delta"]["tool_calls"][0] == {
        "index": 0,
        "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }


def test_a_tool_call_without_arguments_gets_an_empty_object() -> None:
    """Anthropic streams `{}` input as no fragment (or an empty one); OpenAI clients get `"{}"`,
    as from OpenAI, not `""`, which `json.loads` refuses."""
    events = [
        RECORDED_EVENTS[0],
        _tool_start(0, "toolu_a", "list_files"),
        _block_delta(0, {"type": "input_json_delta", "partial_json": ""}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _tool_start(1, "toolu_b", "now"),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        *RECORDED_EVENTS[-2:],
    ]
    payload = b"".join(
        f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events
    )
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for chunk in translate(payload, include_usage=False, step=100_000):
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    calls = state.get_final_completion().choices[0].message.tool_calls or []
    assert [(c.id, c.function.arguments) for c in calls] == [  # type: ignore[union-attr]
        ("toolu_a", "{}"),
        ("toolu_b", "{}"),
    ]


def test_usage_chunk_only_when_asked() -> None:
    with_usage = translate(RECORDED_STREAM, include_usage=True, step=100_000)
    without = translate(RECORDED_STREAM, include_usage=False, step=100_000)
    assert len(with_usage) == len(without) + 1
    last = with_usage[-1]
    assert last["choices"] == []
    assert last["usage"]["prompt_tokens_details"] == {"cached_tokens": 100}
    assert all(c["usage"] is None for c in with_usage[:-1])
    assert all("usage" not in c for c in without)
    assert without[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert without[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}


def test_stream_error_event_raises_with_type_and_message() -> None:
    translator = AnthropicStreamToOpenAI("m", False)
    translator.feed(SSEEvent("message_start", '{"type":"message_start","message":{"id":"x"}}'))
    event = SSEEvent(
        "error", '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    )
    with pytest.raises(StreamError) as info:
        translator.feed(event)
    assert info.value.type == "overloaded_error"
    assert info.value.message == "Overloaded"
    assert info.value.openai_dict()["error"]["type"] == "server_error"
    assert not translator.done


def test_malformed_event_data_is_a_stream_error() -> None:
    with pytest.raises(StreamError):
        AnthropicStreamToOpenAI("m", False).feed(SSEEvent(None, "{not json"))


def test_thinking_blocks_and_unknown_events_are_skipped() -> None:
    translator = AnthropicStreamToOpenAI("m", False)
    events = [
        {"type": "message_start", "message": {"id": "x", "usage": {"input_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "some_future_event"},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "A"}},
    ]
    chunks = [c for e in events for c in translator.feed_json(e)]
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": ""},
        {"content": "A"},
    ]
