"""A tiny OpenAI-shaped upstream for developing the harness before the real emulator exists.

Selected with ``python -m bench.run --upstream dev``. It answers ``POST /v1/chat/completions``
with a fixed completion, or, when ``"stream": true``, with an SSE stream of N content chunks
followed by ``data: [DONE]``. N comes from the model-name knob the emulator also understands
(``gpt-4o-mini@chunks=50``), default 8. Deliberately minimal: it must cost far less CPU per
request than anything it is used to measure.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_CHUNKS = re.compile(r"@(?:.*,)?chunks=(\d+)")
DEFAULT_CHUNKS = 8


def chunk_count(model: str) -> int:
    """Number of SSE content chunks requested through the ``@chunks=N`` model-name knob."""
    m = _CHUNKS.search(model)
    return int(m.group(1)) if m else DEFAULT_CHUNKS


def completion(model: str) -> bytes:
    """A non-streaming chat completion body."""
    return orjson.dumps(
        {
            "id": "chatcmpl-dev",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello from the dev upstream."},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 6, "total_tokens": 16},
        }
    )


def sse_events(model: str, n: int) -> list[bytes]:
    """The SSE frames of one stream: a role chunk, n content chunks, a stop chunk, [DONE]."""
    base: dict[str, Any] = {
        "id": "chatcmpl-dev",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }

    def frame(delta: dict[str, Any], finish: str | None = None) -> bytes:
        body = dict(base, choices=[{"index": 0, "delta": delta, "finish_reason": finish}])
        return b"data: " + orjson.dumps(body) + b"\n\n"

    frames = [frame({"role": "assistant", "content": ""})]
    frames += [frame({"content": f"tok{i} "}) for i in range(n)]
    frames.append(frame({}, "stop"))
    frames.append(b"data: [DONE]\n\n")
    return frames


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI application."""
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    more = True
    while more:
        msg = await receive()
        body += msg.get("body", b"")
        more = msg.get("more_body", False)
    if scope["method"] != "POST" or not scope["path"].endswith("/chat/completions"):
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})
        return
    req = orjson.loads(body or b"{}")
    model = str(req.get("model", "gpt-4o-mini"))
    if not req.get("stream"):
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": completion(model)})
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")],
        }
    )
    for frame in sse_events(model, chunk_count(model)):
        await send({"type": "http.response.body", "body": frame, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def main() -> None:
    """``python -m bench._devupstream --host H --port P``."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9000)
    a = p.parse_args()
    uvicorn.run(
        app,
        host=a.host,
        port=a.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
