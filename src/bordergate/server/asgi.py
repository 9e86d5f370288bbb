"""Minimal ASGI plumbing: read a bounded body, look up headers.

Bare ASGI (no framework middleware) keeps the per-request overhead to what the request needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class BodyTooLarge(Exception):
    """The request body exceeds the configured limit."""


class ClientGone(Exception):
    """The client disconnected before its request body arrived."""


class BodyTimeout(Exception):
    """The request body did not arrive in time."""


def header(scope: Scope, name: bytes) -> bytes | None:
    """First value of a (lower-case) request header."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def read_body(
    scope: Scope, receive: Receive, limit: int, timeout_s: float | None = None
) -> bytes:
    """Read the whole body, refusing early (by Content-Length) or as soon as it passes `limit`.

    With `timeout_s`, the rest of a body that came in parts must arrive within that time of
    the first part (`BodyTimeout`). A body in one part, as almost all are, arms no timer.
    """
    declared = header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    until: float | None = None
    while True:
        if until is None:
            message = await receive()
        else:
            remaining = until - asyncio.get_running_loop().time()
            try:
                message = await asyncio.wait_for(receive(), max(remaining, 0.0))
            except TimeoutError:
                raise BodyTimeout from None
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
        if until is None and timeout_s is not None:
            until = asyncio.get_running_loop().time() + timeout_s
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
