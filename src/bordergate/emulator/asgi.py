"""The few ASGI helpers every emulator surface shares: types, headers, bodies, whole answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from bordergate.emulator.recorder import Record

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON = (b"content-type", b"application/json")
TEXT = (b"content-type", b"text/plain")
XML = (b"content-type", b"text/xml")
NO_STORE = (b"cache-control", b"no-store")


async def read_body(receive: Receive) -> bytes:
    """The whole request body, however many messages it came in."""
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        return body
    parts = [body]
    while message.get("more_body"):
        message = await receive()
        parts.append(message.get("body", b""))
    return b"".join(parts)


def header(headers: Headers, name: bytes) -> bytes | None:
    """The first value of header `name` (lower case, as ASGI gives names), or None."""
    for key, value in headers:
        if key == name:
            return value
    return None


def bearer(value: bytes | None) -> str:
    """The token of an `Authorization: Bearer <token>` value, or ""."""
    if not value:
        return ""
    text = value.decode("latin-1").strip()
    return text[7:].strip() if text[:7].lower() == "bearer " else ""


async def plain(send: Send, status: int, body: bytes) -> None:
    """A JSON answer that is not recorded (the emulator's own endpoints, unknown paths)."""
    await answer(send, None, status, body, [JSON])


async def answer(
    send: Send, entry: Record | None, status: int, body: bytes, headers: Headers
) -> None:
    """A whole answer with `headers` (content type first), its status noted in `entry`."""
    if entry is not None:
        entry.status = status
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
