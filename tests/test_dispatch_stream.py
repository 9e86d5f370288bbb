"""The usage chunk the gateway asked for (but the client did not) is cut out of a stream."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest

from bordergate.upstream.dispatch import Stream, Usage, request_bytes


def _stream() -> Stream:
    st = Stream.__new__(Stream)
    st.usage = Usage()
    return st


@pytest.mark.parametrize(
    ("kept", "usage_event", "tail", "tokens"),
    [
        (
            b'data: {"choices":[{"delta":{"content":"a"}}],"usage":null}\n\n',
            b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}\n\n',
            b"data: [DONE]\n\n",
            (3, 4),
        ),
        (  # a provider that writes a space after each colon
            b'data: {"choices": [{"delta": {"content": "a"}}], "usage": null}\n\n',
            b'data: {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 6}}\n\n',
            b"",
            (5, 6),
        ),
    ],
    ids=["compact", "spaced"],
)
def test_usage_only_event_is_removed_and_counted(
    kept: bytes, usage_event: bytes, tail: bytes, tokens: tuple[int, int]
) -> None:
    st = _stream()
    assert st._drop_usage_chunks(kept + usage_event + tail) == kept + tail
    assert (st.usage.prompt_tokens, st.usage.completion_tokens) == tokens


def test_usage_inside_a_chunk_with_choices_is_kept() -> None:
    st = _stream()
    data = b'data: {"choices":[{"delta":{}}],"usage": {"prompt_tokens":1}}\n\n'
    assert st._drop_usage_chunks(data) == data


def test_piece_not_aligned_to_events_is_left_alone() -> None:
    st = _stream()
    data = b'"choices":[],"usage":{"prompt_tokens":1}}\n\n'
    assert st._drop_usage_chunks(data) == data


def test_pieces_without_a_usage_object_pass_untouched() -> None:
    st = _stream()
    data = b'data: {"choices":[{"delta":{"content":"\\"usage\\":{"}}],"usage":null}\n\n'
    assert st._drop_usage_chunks(data) == data
    assert st.usage.prompt_tokens is None


def _dep(model: str = "m") -> Any:
    provider = SimpleNamespace(kind="openai")
    return SimpleNamespace(provider=provider, upstream_model=model)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}',
        b'  \n{ "model" : "m", "stream": true, "messages": [] , "x": {"stream_options": 1}}',
        b'\xef\xbb\xbf{"model":"m","stream":true}',  # not spliced: falls back
    ],
)
def test_streams_ask_for_usage_with_the_body_otherwise_unchanged(raw: bytes) -> None:
    text = raw.decode("utf-8-sig")
    body = json.loads(text)
    out = request_bytes(_dep(), body, raw)
    assert json.loads(out) == {**body, "stream_options": {"include_usage": True}}


def test_existing_stream_options_are_kept_and_completed() -> None:
    raw = b'{"model":"m","stream":true,"stream_options":{"other":1},"messages":[]}'
    out = request_bytes(_dep(), json.loads(raw), raw)
    assert json.loads(out)["stream_options"] == {"other": 1, "include_usage": True}


def test_unchanged_requests_are_forwarded_byte_for_byte() -> None:
    raw = b'{"model":"m","stream":true,"stream_options":{"include_usage":true}}'
    assert request_bytes(_dep(), json.loads(raw), raw) is raw
    plain = b'{"model": "m", "messages": []}'
    assert request_bytes(_dep(), json.loads(plain), plain) is plain
    assert json.loads(request_bytes(_dep("other"), json.loads(plain), plain))["model"] == "other"


# --- an Anthropic provider's own events, relayed to an Anthropic client -----------------------


class _Content:
    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = pieces

    async def iter_any(self) -> Any:
        for piece in self._pieces:
            yield piece


def _native(pieces: list[bytes]) -> Stream:
    response = SimpleNamespace(content=_Content(pieces), release=lambda: None, close=lambda: None)
    provider = SimpleNamespace(name="anthropic", kind="anthropic", stream_idle_timeout_s=30.0)
    dep = SimpleNamespace(provider=provider)
    return Stream(dep, response, True, native=True)  # type: ignore[arg-type]


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


START = _event(
    "message_start", {"type": "message_start", "message": {"usage": {"input_tokens": 7}}}
)
DELTA = _event(
    "content_block_delta", {"type": "content_block_delta", "delta": {"text": "hi"}, "index": 0}
)
END = _event("message_delta", {"type": "message_delta", "usage": {"output_tokens": 3}})
STOP = _event("message_stop", {"type": "message_stop"})


def _relay(stream: Stream) -> bytes:
    async def collect() -> bytes:
        return b"".join([piece async for piece in stream.chunks()])

    return asyncio.run(collect())


def test_native_events_pass_counted_with_message_stop_held_back() -> None:
    whole = START + DELTA + END + STOP
    stream = _native([whole[:30], whole[30:101], whole[101:]])  # cut anywhere
    out = _relay(stream)
    assert out == START + DELTA + END  # message_stop waits for the audit event
    assert stream.completed and not stream.failed and stream.final == STOP
    assert (stream.usage.prompt_tokens, stream.usage.completion_tokens) == (7, 3)


def test_native_error_event_ends_the_stream() -> None:
    error = _event(
        "error", {"type": "error", "error": {"type": "overloaded_error", "message": "x"}}
    )
    stream = _native([START + DELTA, error + DELTA + STOP])
    out = _relay(stream)
    assert out == START + DELTA + error  # nothing after the error, and no message_stop
    assert stream.failed and not stream.completed


def test_native_stream_cut_short_ends_with_an_anthropic_error_event() -> None:
    stream = _native([START + DELTA])
    out = _relay(stream)
    assert out.startswith(START + DELTA)
    tail = out[len(START + DELTA) :]
    assert tail.startswith(b"event: error\ndata: ")
    body = json.loads(tail.split(b"data: ", 1)[1])
    assert body["type"] == "error" and "closed the stream early" in body["error"]["message"]
    assert stream.failed


def test_a_body_the_translation_cannot_read_is_the_clients_400(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Should a shape pass validation that the Anthropic translation trips over, the client
    gets a 400 naming the provider's format, not a 500 with its reservation left open."""
    from bordergate.upstream import dispatch
    from bordergate.wire.errors import WireError

    def trips(body: Any, model: str) -> Any:
        raise TypeError("'int' object is not iterable")

    monkeypatch.setattr(dispatch.anthropic_wire, "openai_request_to_anthropic", trips)
    dep = SimpleNamespace(
        provider=SimpleNamespace(kind="anthropic", name="claude"), upstream_model="c"
    )
    with pytest.raises(WireError) as info:
        request_bytes(dep, {"model": "m", "messages": []}, None)  # type: ignore[arg-type]
    assert info.value.status == 400 and "claude's format" in info.value.message


def test_raw_bytes_go_upstream_only_with_one_model_key() -> None:
    """Without the scanner the client's bytes are forwarded as they came, unless `model`
    could be a duplicate key: the policy judged the last one; a provider might read the
    first. Then the parsed body is encoded again."""
    from bordergate.server.chat import forwardable

    gw: Any = SimpleNamespace(scanner=None)
    one = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
    two = b'{"model":"gpt-4o","model":"gpt-4o-mini","messages":[]}'
    assert forwardable(gw, one, "openai") is one
    assert forwardable(gw, two, "openai") is None
    escaped = b'{"model":"gpt-4o","\\u006dodel":"gpt-4o-mini","messages":[]}'
    assert forwardable(gw, escaped, "openai") is None  # the same key, spelt with an escape
    assert forwardable(gw, one, "anthropic") is None
    assert forwardable(SimpleNamespace(scanner=object()), one, "openai") is None  # type: ignore[arg-type]


def test_fields_that_would_pick_another_model_or_host_never_leave() -> None:
    """OpenRouter falls back to `models` and routes by `provider`: the caller would choose what
    serves, past the policy that judged this deployment. The raw bytes are not used then."""
    raw = (
        b'{"model":"m","models":["anthropic/claude-sonnet-4.5"],"provider":{"only":["x"]},'
        b'"route":"fallback","preset":"@p","service_tier":"flex","messages":[],"top_p":1}'
    )
    sent = json.loads(request_bytes(_dep(), json.loads(raw), raw))
    assert sent == {"model": "m", "messages": [], "top_p": 1}
    plain = b'{"model":"m","messages":[]}'
    assert request_bytes(_dep(), json.loads(plain), plain) is plain
