"""`POST /v1/chat/completions`: the hot path, visible in one place.

ingress (bounded body, parse once) -> identity -> candidates -> dispatch with fallback before
the first byte -> egress (JSON relayed, or SSE streamed with backpressure). A client that goes
away cancels the upstream call.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from bordergate.server.asgi import (
    BodyTooLarge,
    ClientGone,
    Receive,
    Scope,
    Send,
    read_body,
    send_response,
)
from bordergate.server.errors import GatewayError, bad_request, not_found
from bordergate.server.gateway import Gateway
from bordergate.upstream.deployments import Deployment
from bordergate.upstream.dispatch import Completion, Stream
from bordergate.upstream.errors import UpstreamFailure
from bordergate.wire.openai import ChatRequest, WireError, validate_chat_request

log = logging.getLogger("bordergate.chat")

_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def new_request_id() -> str:
    return "req_" + os.urandom(12).hex()


def parse_chat(raw: bytes, max_messages: int) -> ChatRequest:
    """Parse and validate an OpenAI chat body once; 400 with the offending field otherwise."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"request body is not valid JSON: {exc}") from None
    try:
        return validate_chat_request(body, max_messages=max_messages)
    except WireError as exc:
        raise GatewayError(exc.status, exc.type, exc.message, param=exc.param) from None


def candidates_for(gw: Gateway, model: str) -> list[Deployment]:
    """Ordered candidate deployments for a client-facing name (404 when there are none)."""
    deps = gw.deployments.get(model)
    if deps:
        return deps
    if model in gw.unavailable:
        raise GatewayError(
            503,
            "model_unavailable",
            f"model {model!r} is configured but none of its providers is available "
            f"({gw.unavailable[model]})",
            code="model_unavailable",
        )
    raise not_found(
        f"model {model!r} is not offered by this gateway; GET /v1/models lists the models "
        "you may use"
    )


def failure_error(failure: UpstreamFailure) -> GatewayError:
    headers = {"retry-after": failure.retry_after} if failure.retry_after else {}
    return GatewayError(
        failure.status, failure.kind, failure.message, code=failure.kind, headers=headers
    )


async def dispatch(
    gw: Gateway, req: ChatRequest, raw: bytes | None, candidates: list[Deployment]
) -> tuple[Deployment, Completion | Stream]:
    """Try candidates in order until one answers; fall back only before the first byte."""
    assert gw.dispatcher is not None
    failure: UpstreamFailure | None = None
    for dep in candidates:
        try:
            if req.stream:
                return dep, await gw.dispatcher.open_stream(dep, req.body, raw, req.include_usage)
            return dep, await gw.dispatcher.complete(dep, req.body, raw)
        except UpstreamFailure as exc:
            log.info("deployment %s failed: %s (%s)", dep.id, exc.kind, exc.message)
            failure = exc
            if not exc.retryable:
                break
    assert failure is not None
    raise failure_error(failure)


async def _watch_disconnect(receive: Receive, on_gone: Callable[[], None]) -> None:
    """Wait for the client to go away (ASGI `http.disconnect`), then cancel the work."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            on_gone()
            return


async def with_disconnect_guard(receive: Receive, work: Awaitable[None]) -> bool:
    """Run `work`; cancel it if the client disconnects. Returns True if the client went away."""
    task = asyncio.ensure_future(work)
    gone = False

    def cancel() -> None:
        nonlocal gone
        if not task.done():
            gone = True
            task.cancel()

    watcher = asyncio.ensure_future(_watch_disconnect(receive, cancel))
    try:
        await task
    except asyncio.CancelledError:
        if not gone:
            raise
    finally:
        watcher.cancel()
    return gone


async def handle_chat(gw: Gateway, scope: Scope, receive: Receive, send: Send) -> None:
    """The OpenAI chat-completions endpoint."""
    request_id = new_request_id()
    common = [(b"x-request-id", request_id.encode())]
    headers: dict[bytes, bytes] = dict(scope["headers"])
    try:
        await gw.auth.authenticate(headers)
        try:
            raw = await read_body(scope, receive, gw.config.server.max_body_bytes)
        except BodyTooLarge:
            raise GatewayError(
                413,
                "request_too_large",
                f"request body exceeds the limit of {gw.config.server.max_body_bytes} bytes",
                code="request_too_large",
            ) from None
        req = parse_chat(raw, gw.config.server.max_messages)
        candidates = candidates_for(gw, req.model)
    except ClientGone:
        return
    except GatewayError as exc:
        await send_error(send, exc, common)
        return

    async def work() -> None:
        try:
            dep, result = await dispatch(gw, req, raw, candidates)
        except GatewayError as exc:
            await send_error(send, exc, common)
            return
        out_headers = [*common, (b"x-bordergate-deployment", dep.id.encode())]
        if isinstance(result, Completion):
            await send_response(send, 200, result.body, out_headers)
            return
        await relay_stream(send, result, out_headers)

    gone = await with_disconnect_guard(receive, work())
    if gone:
        log.info("request %s: client disconnected; upstream call cancelled", request_id)


async def relay_stream(send: Send, stream: Stream, headers: list[tuple[bytes, bytes]]) -> None:
    """Relay SSE to the client; each `send` waits while the client's socket is full."""
    await send({"type": "http.response.start", "status": 200, "headers": [*_SSE_HEADERS, *headers]})
    async for chunk in stream.chunks():
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def send_error(send: Send, exc: GatewayError, headers: list[tuple[bytes, bytes]]) -> None:
    extra = [(k.encode(), v.encode()) for k, v in exc.headers.items()]
    await send_response(send, exc.status, exc.openai_body(), [*headers, *extra])


def model_list(gw: Gateway) -> dict[str, Any]:
    """`GET /v1/models` in OpenAI's list shape."""
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": deps[0].provider.host}
            for name, deps in gw.deployments.items()
        ],
    }
