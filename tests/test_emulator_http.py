"""Wire-level checks of the emulator (exact SSE framing, routing, recorder bounds) over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from bordergate.cli import build_parser
from bordergate.emulator import digest_of
from bordergate.emulator.testing import emulator_thread

OPENAI_AUTH = {"authorization": "Bearer sk-wire"}
ANTHROPIC_AUTH = {"x-api-key": "sk-wire", "anthropic-version": "2023-06-01"}


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with emulator_thread(record=3) as url, httpx.Client(base_url=url) as client:
        yield client


def sse_events(text: str) -> list[tuple[str | None, str]]:
    """Split an SSE body into (event name, data) pairs, checking blank-line framing."""
    assert text.endswith("\n\n")
    events = []
    for block in text[:-2].split("\n\n"):
        name = None
        data = None
        for line in block.split("\n"):
            field, _, value = line.partition(": ")
            if field == "event":
                name = value
            else:
                assert field == "data", line
                data = value
        assert data is not None
        events.append((name, data))
    return events


def test_openai_sse_framing_ends_with_done(http: httpx.Client) -> None:
    body = {"model": "m@chunks=2", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    response = http.post("/v1/chat/completions", json=body, headers=OPENAI_AUTH)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert all(name is None for name, _ in events)
    assert events[-1][1] == "[DONE]"
    chunks = [json.loads(data) for _, data in events[:-1]]
    assert [c["object"] for c in chunks] == ["chat.completion.chunk"] * 4
    assert len({c["id"] for c in chunks}) == 1
    assert "usage" not in chunks[0]


def test_anthropic_sse_has_event_lines_and_ping(http: httpx.Client) -> None:
    body = {
        "model": "c@chunks=1@tool=t",
        "max_tokens": 9,
        "stream": True,
        "messages": [{"role": "user", "content": "y"}],
    }
    response = http.post("/v1/messages", json=body, headers=ANTHROPIC_AUTH)
    events = sse_events(response.text)
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    for name, data in events:
        assert json.loads(data)["type"] == name
    delta = json.loads(events[3][1])["delta"]
    assert delta["type"] == "input_json_delta"
    assert json.loads(delta["partial_json"]) == {"text": "y", "index": 0}


def test_anthropic_stream_error_is_an_error_event(http: httpx.Client) -> None:
    body = {
        "model": "c@chunks=2@stream_error_after_chunks=0",
        "max_tokens": 9,
        "stream": True,
        "messages": [{"role": "user", "content": "y"}],
    }
    events = sse_events(http.post("/v1/messages", json=body, headers=ANTHROPIC_AUTH).text)
    assert [name for name, _ in events][-2:] == ["ping", "error"]
    assert json.loads(events[-1][1])["error"]["type"] == "overloaded_error"


def test_vertex_style_model_name_is_kept(http: httpx.Client) -> None:
    body = {
        "model": "claude-3-5-sonnet@20240620@chunks=2",
        "max_tokens": 9,
        "messages": [{"role": "user", "content": "v"}],
    }
    message = http.post("/v1/messages", json=body, headers=ANTHROPIC_AUTH).json()
    assert message["model"] == "claude-3-5-sonnet@20240620"
    assert digest_of("v") in message["content"][0]["text"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": 1}', "model"),
        (b'{"model": "c", "messages": [{"role": "user", "content": "x"}]}', "max_tokens"),
        (b'{"model": "c", "messages": [], "max_tokens": 1}', "messages"),
    ],
)
def test_malformed_anthropic_requests_are_400(http: httpx.Client, body: bytes, needle: str) -> None:
    response = http.post("/v1/messages", content=body, headers=ANTHROPIC_AUTH)
    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert needle in error["error"]["message"]
    assert error["request_id"] == response.headers["request-id"]


def test_routing_errors(http: httpx.Client) -> None:
    assert http.get("/v1/chat/completions").status_code == 405
    assert http.post("/v2/nothing").status_code == 404
    assert http.get("/_emulator/health").json() == {"status": "ok"}
    assert http.get("/v1/models").status_code == 401


def test_recorder_keeps_only_the_last_n(http: httpx.Client) -> None:
    http.delete("/_emulator/requests")
    for index in range(5):
        body = {"model": f"m{index}", "messages": [{"role": "user", "content": "r"}]}
        http.post("/v1/chat/completions", json=body, headers=OPENAI_AUTH)
    recorded = http.get("/_emulator/requests").json()
    assert [r["body"]["model"] for r in recorded] == ["m2", "m3", "m4"]


def test_cli_registers_emulate() -> None:
    args = build_parser().parse_args(["emulate", "--port", "0", "--record", "5"])
    assert (args.host, args.port, args.record) == ("127.0.0.1", 0, 5)
    assert callable(args.func)


def test_openai_streamed_parallel_tool_calls_wire_shape(http: httpx.Client) -> None:
    body = {
        "model": "m@tool=a,b@chunks=3",
        "stream": True,
        "messages": [{"role": "user", "content": "t"}],
    }
    response = http.post("/chat/completions", json=body, headers=OPENAI_AUTH)
    chunks = [json.loads(data) for _, data in sse_events(response.text)[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0]["role"] == "assistant"
    starts = [
        d["tool_calls"][0] for d in deltas if "tool_calls" in d and "id" in d["tool_calls"][0]
    ]
    assert [(s["index"], s["function"]["name"]) for s in starts] == [(0, "a"), (1, "b")]
    fragments: dict[int, str] = {0: "", 1: ""}
    for delta in deltas:
        for call in delta.get("tool_calls", []):
            fragments[call["index"]] += call["function"]["arguments"]
    assert json.loads(fragments[1]) == {"text": "t", "index": 1}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_cut_beyond_last_chunk_comes_before_closing_events(http: httpx.Client) -> None:
    body = {
        "model": "m@chunks=2@stream_error_after_chunks=99@words=3",
        "stream": True,
        "messages": [{"role": "user", "content": "@emulator echo\nhi"}],
    }
    events = sse_events(http.post("/v1/chat/completions", json=body, headers=OPENAI_AUTH).text)
    payloads = [json.loads(data) for _, data in events]
    assert "error" in payloads[-1]
    text = "".join(p["choices"][0]["delta"].get("content", "") for p in payloads[:-1])
    assert text == "hi w1 w2 w3"
    assert all(p["choices"][0]["finish_reason"] is None for p in payloads[:-1])


def test_dropped_stream_is_a_payload_error_for_aiohttp(http: httpx.Client) -> None:
    """The gateway's upstream client (aiohttp) must see a cut stream as an error, not an end."""
    import asyncio

    import aiohttp

    body = {
        "model": "m@chunks=4@drop_after_chunks=2",
        "stream": True,
        "messages": [{"role": "user", "content": "d"}],
    }

    async def read() -> tuple[bytes, BaseException | None]:
        received = b""
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                str(http.base_url).rstrip("/") + "/v1/chat/completions",
                json=body,
                headers=OPENAI_AUTH,
            ) as response,
        ):
            try:
                async for piece in response.content.iter_any():
                    received += piece
            except aiohttp.ClientPayloadError as exc:
                return received, exc
        return received, None

    received, error = asyncio.run(read())
    assert isinstance(error, aiohttp.ClientPayloadError)
    assert received.count(b'"content":"') == 3  # the role chunk's empty content plus two pieces
    assert b"[DONE]" not in received
