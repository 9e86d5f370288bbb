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


class BodyWatch:
    """Requests still waiting for their body, swept every `tick_s` by `run()`.

    One dict entry per request rather than a timer each: arming and cancelling a timer costs
    more than the rest of reading a small body, and nearly every body is there at once. A
    request still waiting when its time is up is cancelled, and `read_body` turns that into
    `BodyTimeout`. Without `run()` going (a harness with no lifespan), nothing times out.
    """

    def __init__(self, timeout_s: float, tick_s: float | None = None) -> None:
        self.timeout_s = timeout_s
        self.tick_s = tick_s if tick_s is not None else min(1.0, timeout_s / 4)
        self._waiting: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.tick_s)
            now = loop.time()
            for task in [t for t, until in self._waiting.items() if until <= now]:
                del self._waiting[task]
                self._expired.add(task)
                task.cancel()

    def enter(self, task: asyncio.Task[Any], now: float) -> None:
        self._waiting[task] = now + self.timeout_s

    def leave(self, task: asyncio.Task[Any]) -> bool:
        """Stop watching `task`; True if its time had run out (it was cancelled for that)."""
        self._waiting.pop(task, None)
        if task in self._expired:
            self._expired.discard(task)
            return True
        return False


async def read_body(
    scope: Scope, receive: Receive, limit: int, watch: BodyWatch | None = None
) -> bytes:
    """Read the whole body, refusing early (by Content-Length) or as soon as it passes `limit`.

    With `watch`, a body that has not fully arrived within its timeout is a `BodyTimeout`,
    whether none of it came or only a part.
    """
    declared = header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    task = None
    if watch is not None:
        task = asyncio.current_task()
        if task is not None:
            watch.enter(task, asyncio.get_running_loop().time())
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
    except asyncio.CancelledError:
        if watch is not None and task is not None and watch.leave(task):
            task.uncancel()
            raise BodyTimeout from None
        raise
    finally:
        if watch is not None and task is not None:
            watch.leave(task)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
