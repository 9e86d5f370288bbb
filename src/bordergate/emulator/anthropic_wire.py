"""Anthropic messages response shapes: JSON body, SSE event sequence and error bodies.

The stream follows the documented order: ``message_start``, per content block
``content_block_start`` / ``content_block_delta``\\* / ``content_block_stop`` (a ``ping`` after
the first block start), ``message_delta`` with ``stop_reason`` and usage, ``message_stop``.
Each event is an ``event:`` line plus a ``data:`` line. ``stream_payloads`` gives the same
events unframed, for hosts that frame them differently (Bedrock).
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from bordergate.emulator.content import Prompt, Reply, split_even

Event = tuple[bytes, bool]  # (bytes of one SSE event, carries content)


def _event(name: str, payload: Mapping[str, object]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def _usage(input_tokens: int, output_tokens: int) -> dict[str, object]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
    }


def _stop_reason(reply: Reply) -> str:
    return "tool_use" if reply.tool_calls else "end_turn"


def _message(
    mid: str, model: str, content: list[object], stop: str | None, usage: object
) -> dict[str, object]:
    return {
        "id": mid,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }


def message_body(mid: str, model: str, prompt: Prompt, reply: Reply) -> bytes:
    """The non-streaming ``message`` JSON body."""
    content: list[object]
    if reply.tool_calls:
        content = [
            {"type": "tool_use", "id": c.id, "name": c.name, "input": orjson.loads(c.arguments)}
            for c in reply.tool_calls
        ]
    else:
        content = [{"type": "text", "text": reply.text}]
    usage = _usage(prompt.input_tokens, reply.output_tokens)
    return orjson.dumps(_message(mid, model, content, _stop_reason(reply), usage))


Payload = tuple[str, dict[str, object], bool]  # (event name, event JSON object, carries content)


def stream_payloads(
    mid: str, model: str, prompt: Prompt, reply: Reply, chunks: int
) -> list[Payload]:
    """Every event of a streamed message, in order, before framing.

    One event list serves both framings: SSE for the first-party API (``stream_events``) and
    Bedrock's binary event stream (``bedrock_wire.stream_events``).
    """
    start = _message(mid, model, [], None, _usage(prompt.input_tokens, 1))
    events: list[Payload] = [("message_start", {"type": "message_start", "message": start}, False)]
    blocks: list[tuple[dict[str, object], str, str, list[str]]] = []
    if reply.tool_calls:
        for c in reply.tool_calls:
            block: dict[str, object] = {"type": "tool_use", "id": c.id, "name": c.name, "input": {}}
            blocks.append(
                (block, "input_json_delta", "partial_json", split_even(c.arguments, chunks))
            )
    else:
        blocks.append(
            ({"type": "text", "text": ""}, "text_delta", "text", split_even(reply.text, chunks))
        )
    for index, (block, delta_type, field, pieces) in enumerate(blocks):
        opening = {"type": "content_block_start", "index": index, "content_block": block}
        events.append(("content_block_start", opening, False))
        if index == 0:
            events.append(("ping", {"type": "ping"}, False))
        for piece in pieces:
            delta = {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": delta_type, field: piece},
            }
            events.append(("content_block_delta", delta, True))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}, False))
    closing: dict[str, object] = {
        "type": "message_delta",
        "delta": {"stop_reason": _stop_reason(reply), "stop_sequence": None},
        "usage": {"output_tokens": reply.output_tokens},
    }
    events.append(("message_delta", closing, False))
    events.append(("message_stop", {"type": "message_stop"}, False))
    return events


def stream_events(mid: str, model: str, prompt: Prompt, reply: Reply, chunks: int) -> list[Event]:
    """Every SSE event of a streamed message, in order."""
    return [
        (_event(name, payload), content)
        for name, payload, content in stream_payloads(mid, model, prompt, reply, chunks)
    ]


_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_type(status: int) -> str:
    """The documented error ``type`` for an HTTP status (other 4xx/5xx fall back by class)."""
    return _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_body(status: int, message: str, request_id: str) -> bytes:
    """``{"type": "error", "error": {type, message}, "request_id": ...}`` as the API returns."""
    error = {"type": error_type(status), "message": message}
    return orjson.dumps({"type": "error", "error": error, "request_id": request_id})


def stream_error_event() -> bytes:
    """The ``event: error`` the API sends when it is overloaded after the stream began."""
    return _event(
        "error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
