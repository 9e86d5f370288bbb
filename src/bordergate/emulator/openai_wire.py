"""OpenAI chat-completions response shapes: JSON body, SSE chunks and error bodies.

Shapes follow the public API reference: ``chat.completion`` objects, ``chat.completion.chunk``
events as ``data: {...}`` lines ending with ``data: [DONE]``, and with
``stream_options.include_usage`` a ``usage: null`` on every chunk plus one last chunk with empty
``choices`` carrying the usage. ``n`` choices (the request's ``n``) carry the same reply with
indices ``0..n-1``, interleaved in streams as the real API does; completion tokens count all.
"""

from __future__ import annotations

import orjson

from bordergate.emulator.content import Prompt, Reply, split_even

DONE = b"data: [DONE]\n\n"
FINGERPRINT = "fp_emulator"

# (bytes of one SSE event, whether it carries content — the unit the chunk knobs count)
Event = tuple[bytes, bool]


def usage(prompt: Prompt, reply: Reply, n: int = 1) -> dict[str, object]:
    """The usage object; details are present and zero as on the real API."""
    completion = reply.output_tokens * n
    return {
        "prompt_tokens": prompt.input_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt.input_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _finish_reason(reply: Reply) -> str:
    return "tool_calls" if reply.tool_calls else "stop"


def completion_body(
    cid: str, created: int, model: str, prompt: Prompt, reply: Reply, n: int = 1
) -> bytes:
    """The non-streaming ``chat.completion`` JSON body."""
    message: dict[str, object] = {
        "role": "assistant",
        "content": None if reply.tool_calls else reply.text,
        "refusal": None,
        "annotations": [],
    }
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in reply.tool_calls
        ]
    return orjson.dumps(
        {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": index,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": _finish_reason(reply),
                }
                for index in range(n)
            ],
            "usage": usage(prompt, reply, n),
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
        }
    )


def chunk_events(
    cid: str,
    created: int,
    model: str,
    prompt: Prompt,
    reply: Reply,
    chunks: int,
    include_usage: bool,
    n: int = 1,
) -> list[Event]:
    """Every SSE event of a streamed completion, in order, ``[DONE]`` included.

    Text replies: a role chunk, ``chunks`` content chunks, a finish chunk. Tool calls: per call
    one chunk with id and name (the first also with the role) and ``chunks`` argument fragments.
    With ``n`` choices, each step is sent once per choice index before the next step.
    """
    head = (
        orjson.dumps(
            {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "service_tier": "default",
                "system_fingerprint": FINGERPRINT,
            }
        )[:-1]
        + b',"choices":'
    )
    tail = b',"usage":null}\n\n' if include_usage else b"}\n\n"

    def choice(delta: dict[str, object], finish: str | None = None, index: int = 0) -> bytes:
        item = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return b"data: " + head + orjson.dumps([item]) + tail

    steps: list[tuple[dict[str, object], str | None, bool]] = []  # delta, finish, content?
    if reply.tool_calls:
        for index, call in enumerate(reply.tool_calls):
            start = {
                "index": index,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            # As on the real API, the first chunk carries the role together with the first call.
            opening: dict[str, object] = (
                {"role": "assistant", "content": None, "refusal": None} if index == 0 else {}
            )
            opening["tool_calls"] = [start]
            steps.append((opening, None, False))
            for piece in split_even(call.arguments, chunks):
                frag = {"index": index, "function": {"arguments": piece}}
                steps.append(({"tool_calls": [frag]}, None, True))
    else:
        steps.append(({"role": "assistant", "content": "", "refusal": None}, None, False))
        for piece in split_even(reply.text, chunks):
            steps.append(({"content": piece}, None, True))
    steps.append(({}, _finish_reason(reply), False))
    events: list[Event] = [
        (choice(delta, finish, i), content) for delta, finish, content in steps for i in range(n)
    ]
    if include_usage:
        last = head + b"[]" + b',"usage":' + orjson.dumps(usage(prompt, reply, n)) + b"}\n\n"
        events.append((b"data: " + last, False))
    events.append((DONE, False))
    return events


_TYPES = {401: "invalid_request_error", 429: "requests"}
_CODES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}


def error_body(status: int, message: str, code: str | None = None) -> bytes:
    """An error body in OpenAI's shape: ``{"error": {message, type, param, code}}``."""
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    error = {"message": message, "type": kind, "param": None, "code": code or _CODES.get(status)}
    return orjson.dumps({"error": error})


def stream_error_event() -> bytes:
    """The ``data: {"error": ...}`` object OpenAI sends when a stream fails after the 200."""
    error = {
        "message": "The server had an error while processing your request. Sorry about that!",
        "type": "server_error",
        "param": None,
        "code": None,
    }
    return b"data: " + orjson.dumps({"error": error}) + b"\n\n"
