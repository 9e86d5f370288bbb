"""AWS event-stream framing (``application/vnd.amazon.eventstream``) and Bedrock's use of it.

Amazon Bedrock streams ``InvokeModelWithResponseStream`` answers not as SSE but as binary
messages, each self-delimiting and checksummed::

    [total_length u32][headers_length u32][prelude_crc u32]  prelude: CRC32 of its first 8 bytes
    [headers: name_len u8, name, type u8, value]*
    [payload]
    [message_crc u32]                                         CRC32 of everything before it

All integers are big-endian. For an Anthropic model every ``chunk`` event carries one Anthropic
stream event, base64-encoded inside a small JSON object; errors arrive as ``exception`` (or
``error``) messages. :class:`BedrockAnthropicParser` turns that back into the same
:class:`~bordergate.wire.sse.SSEEvent` values the first-party Anthropic SSE stream yields, so
everything downstream of the parser (egress, restorer, usage counting) is host-agnostic.

The network splits bytes wherever it likes, so :class:`EventStreamDecoder` buffers partial
messages. The upstream is not trusted: the prelude is verified the moment its 12 bytes arrive,
before the announced length is believed, and lengths above :data:`MAX_MESSAGE_BYTES` are
refused, so a hostile or broken upstream cannot make the gateway buffer without bound.

No I/O happens here.
"""

from __future__ import annotations

import base64
import binascii
import struct
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from bordergate.wire.sse import SSEEvent

__all__ = [
    "MAX_HEADERS_BYTES",
    "MAX_MESSAGE_BYTES",
    "MIN_MESSAGE_BYTES",
    "BedrockAnthropicParser",
    "EventMessage",
    "EventStreamDecoder",
    "EventStreamError",
    "anthropic_error_type",
    "bedrock_chunk",
    "bedrock_exception",
    "encode_message",
]

#: Prelude (12 bytes) plus message CRC (4 bytes): a message with no headers and no payload.
MIN_MESSAGE_BYTES = 16
#: The largest message accepted. Bedrock chunks are a few hundred bytes; 16 MiB leaves room for
#: any legitimate event while bounding what one announced length can make us buffer.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
#: The event-stream specification's own limit on the header block.
MAX_HEADERS_BYTES = 128 * 1024

_PRELUDE_BYTES = 12
_LENGTHS = struct.Struct(">II")
_PRELUDE = struct.Struct(">III")
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
_FIXED = {  # header value type -> (struct of the value, its size)
    2: (struct.Struct(">b"), 1),
    3: (struct.Struct(">h"), 2),
    4: (struct.Struct(">i"), 4),
    5: (struct.Struct(">q"), 8),
    8: (struct.Struct(">q"), 8),  # timestamp: milliseconds since the epoch
}
_STRING = 7


class EventStreamError(ValueError):
    """Malformed framing: bad CRC, impossible length, truncated header.

    Also raised for a Bedrock ``chunk`` whose payload is not the documented
    ``{"bytes": <base64 JSON>}``: either way the stream cannot be trusted any further.
    """


@dataclass(frozen=True, slots=True)
class EventMessage:
    """One decoded message: header values (str, bool, int or bytes) and the raw payload."""

    headers: dict[str, object]
    payload: bytes


# --- Encoding -----------------------------------------------------------------------------------


def _encode_headers(headers: Mapping[str, str]) -> bytes:
    parts: list[bytes] = []
    for name, value in headers.items():
        raw_name = name.encode()
        raw_value = value.encode()
        if not 0 < len(raw_name) <= 255:
            raise ValueError(f"event-stream header name must be 1-255 bytes: {name!r}")
        if len(raw_value) > 0xFFFF:
            raise ValueError(f"event-stream header {name!r}: value longer than 65535 bytes")
        parts.append(
            bytes((len(raw_name),)) + raw_name + bytes((_STRING,)) + _U16.pack(len(raw_value))
        )
        parts.append(raw_value)
    return b"".join(parts)


def _frame(head: bytes, payload: bytes) -> bytes:
    """One message around an already-encoded header block."""
    total = MIN_MESSAGE_BYTES + len(head) + len(payload)
    if total > MAX_MESSAGE_BYTES or len(head) > MAX_HEADERS_BYTES:
        raise ValueError(f"event-stream message of {total} bytes exceeds the decoder's limits")
    lengths = _LENGTHS.pack(total, len(head))
    prelude_crc = zlib.crc32(lengths)
    # CRC32 is incremental: the message CRC continues from the prelude's, so the prelude bytes
    # are checksummed once rather than twice.
    body = _U32.pack(prelude_crc) + head + payload
    return lengths + body + _U32.pack(zlib.crc32(body, prelude_crc))


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """Frame one message. Only string headers are needed by anything that sends events here."""
    return _frame(_encode_headers(headers), payload)


# Bedrock's headers are the same on every chunk; encode them once.
_CHUNK_HEAD = _encode_headers(
    {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
)
_PAD = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def bedrock_chunk(event_json: bytes) -> bytes:
    """One Bedrock ``chunk`` event carrying one Anthropic stream event's JSON.

    The payload is ``{"bytes": base64(event_json), "p": padding}``. Bedrock adds the ``p`` field
    so that message sizes do not reveal token lengths; here it deterministically rounds the
    base64 text up to a multiple of 16 characters (1-16 padding characters, as clients must
    tolerate and ignore it).
    """
    encoded = base64.b64encode(event_json)
    pad = _PAD[: 16 - len(encoded) % 16]
    return _frame(_CHUNK_HEAD, b'{"bytes":"' + encoded + b'","p":"' + pad + b'"}')


def bedrock_exception(exception_type: str, message: str) -> bytes:
    """A Bedrock ``exception`` message (e.g. ``modelStreamErrorException``) ending a stream."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_message(headers, orjson.dumps({"message": message}))


# --- Decoding -----------------------------------------------------------------------------------


def _decode_headers(raw: bytes) -> dict[str, object]:
    headers: dict[str, object] = {}
    pos = 0
    end = len(raw)
    while pos < end:
        name_len = raw[pos]
        pos += 1
        if name_len == 0:
            raise EventStreamError("event-stream header with an empty name")
        if pos + name_len + 1 > end:
            raise EventStreamError("truncated event-stream header name")
        try:
            name = raw[pos : pos + name_len].decode()
        except UnicodeDecodeError as exc:
            raise EventStreamError("event-stream header name is not UTF-8") from exc
        pos += name_len
        kind = raw[pos]
        pos += 1
        value: object
        if kind == 0 or kind == 1:
            value = kind == 0
        elif kind in _FIXED:
            fmt, size = _FIXED[kind]
            if pos + size > end:
                raise EventStreamError(f"truncated value of event-stream header {name!r}")
            value = fmt.unpack_from(raw, pos)[0]
            pos += size
        elif kind == 6 or kind == _STRING:
            if pos + 2 > end:
                raise EventStreamError(f"truncated length of event-stream header {name!r}")
            size = _U16.unpack_from(raw, pos)[0]
            pos += 2
            if pos + size > end:
                raise EventStreamError(f"truncated value of event-stream header {name!r}")
            data = raw[pos : pos + size]
            pos += size
            if kind == 6:
                value = data
            else:
                try:
                    value = data.decode()
                except UnicodeDecodeError as exc:
                    raise EventStreamError(f"event-stream header {name!r} is not UTF-8") from exc
        elif kind == 9:
            if pos + 16 > end:
                raise EventStreamError(f"truncated value of event-stream header {name!r}")
            value = str(uuid.UUID(bytes=raw[pos : pos + 16]))
            pos += 16
        else:
            raise EventStreamError(f"unknown type {kind} of event-stream header {name!r}")
        if name in headers:
            raise EventStreamError(f"duplicate event-stream header {name!r}")
        headers[name] = value
    return headers


class EventStreamDecoder:
    """Turns a byte stream, fed in arbitrary pieces, into complete :class:`EventMessage` values.

    Framing errors are fatal: once :meth:`feed` has raised, the stream's remaining bytes have no
    trustworthy boundaries, so every later call raises the same error.
    """

    __slots__ = ("_buf", "_error")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._error: EventStreamError | None = None

    @property
    def pending(self) -> int:
        """Bytes buffered but not yet a whole message (non-zero at stream end: truncated)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[EventMessage]:
        """Consume the next bytes; return every message they complete (often none)."""
        if self._error is not None:
            raise self._error
        buf = self._buf
        buf += data
        messages: list[EventMessage] = []
        pos = 0
        size = len(buf)
        try:
            while size - pos >= _PRELUDE_BYTES:
                total, head_len, prelude_crc = _PRELUDE.unpack_from(buf, pos)
                # Check the prelude before believing its lengths: a corrupt or hostile length
                # must fail now, not after we have buffered megabytes waiting for it.
                if zlib.crc32(buf[pos : pos + 8]) != prelude_crc:
                    raise EventStreamError("event-stream prelude CRC mismatch")
                if not MIN_MESSAGE_BYTES <= total <= MAX_MESSAGE_BYTES:
                    raise EventStreamError(f"impossible event-stream message length {total}")
                if head_len > total - MIN_MESSAGE_BYTES or head_len > MAX_HEADERS_BYTES:
                    raise EventStreamError(f"impossible event-stream headers length {head_len}")
                if size - pos < total:
                    break
                end = pos + total - 4
                if zlib.crc32(buf[pos + 8 : end], prelude_crc) != _U32.unpack_from(buf, end)[0]:
                    raise EventStreamError("event-stream message CRC mismatch")
                head_end = pos + _PRELUDE_BYTES + head_len
                headers = _decode_headers(bytes(buf[pos + _PRELUDE_BYTES : head_end]))
                messages.append(EventMessage(headers, bytes(buf[head_end:end])))
                pos += total
        except EventStreamError as exc:
            self._error = exc
            raise
        if pos:
            del buf[:pos]
        return messages


# --- Bedrock's Anthropic stream -----------------------------------------------------------------

# Bedrock's stream exception types (lower-camel member names of its ResponseStream union; the
# HTTP error types are the same names upper-camel) -> the Anthropic error type of the same
# meaning, so clients of the gateway see one vocabulary whatever host served them.
_ANTHROPIC_TYPES = {
    "throttlingexception": "rate_limit_error",
    "servicequotaexceededexception": "rate_limit_error",
    "validationexception": "invalid_request_error",
    "accessdeniedexception": "permission_error",
    "resourcenotfoundexception": "not_found_error",
    "serviceunavailableexception": "overloaded_error",
    "modeltimeoutexception": "timeout_error",
    "internalserverexception": "api_error",
    "modelstreamerrorexception": "api_error",
}


def anthropic_error_type(bedrock_type: str) -> str:
    """The Anthropic error ``type`` for a Bedrock exception or error code (``api_error``
    when unknown). Accepts either spelling: ``throttlingException``, ``ThrottlingException``.
    """
    return _ANTHROPIC_TYPES.get(bedrock_type.lower(), "api_error")


def _error_event(bedrock_type: str, message: str) -> SSEEvent:
    error = {
        "type": anthropic_error_type(bedrock_type),
        "message": message or bedrock_type,
        "bedrock_type": bedrock_type,
    }
    return SSEEvent("error", orjson.dumps({"type": "error", "error": error}).decode())


#: What Bedrock adds to the last event of a stream.
BEDROCK_METRICS = "amazon-bedrock-invocationMetrics"


def _chunk_event(payload: bytes) -> SSEEvent:
    try:
        outer = orjson.loads(payload)
        inner = base64.b64decode(outer["bytes"], validate=True)
        text = inner.decode()
        event = orjson.loads(inner)
    except (orjson.JSONDecodeError, KeyError, TypeError, binascii.Error, UnicodeDecodeError) as e:
        raise EventStreamError(f"Bedrock chunk payload is not base64 JSON: {e}") from e
    name = event.get("type") if isinstance(event, dict) else None
    if name == "message_stop" and BEDROCK_METRICS in event:
        # Bedrock's own accounting (token counts, latencies), which Anthropic's API does not
        # send: dropped, so a client sees the same stream whichever host served it.
        del event[BEDROCK_METRICS]
        text = orjson.dumps(event).decode()
    return SSEEvent(name if isinstance(name, str) else None, text)


def _exception_message(payload: bytes) -> str:
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return payload.decode("utf-8", "replace")
    if isinstance(body, dict):
        message = body.get("message", body.get("Message"))
        if isinstance(message, str):
            return message
    return ""


class BedrockAnthropicParser:
    """Like :class:`bordergate.wire.sse.SSEParser`, for Bedrock's invoke-with-response-stream.

    ``chunk`` events become ``SSEEvent(<the event JSON's "type">, <the event JSON text>)``, byte
    for byte what Bedrock wrapped, except that ``message_stop`` loses the
    ``amazon-bedrock-invocationMetrics`` Bedrock adds to it. ``exception`` and ``error``
    messages become the ``error`` event the first-party API would send,
    ``{"type": "error", "error": {"type", "message", "bedrock_type"}}``, with the Anthropic
    error type of the same meaning and the original Bedrock type kept in ``bedrock_type``. Any
    other message (e.g. an ``initial-response``) is not part of the Anthropic stream and is
    skipped.
    """

    __slots__ = ("_decoder",)

    def __init__(self) -> None:
        self._decoder = EventStreamDecoder()

    @property
    def pending(self) -> int:
        """Bytes buffered but not yet a whole message (non-zero at stream end: truncated)."""
        return self._decoder.pending

    def feed(self, data: bytes) -> list[SSEEvent]:
        """Consume the next bytes; return every event they complete (often none)."""
        events: list[SSEEvent] = []
        for message in self._decoder.feed(data):
            headers = message.headers
            kind = headers.get(":message-type")
            if kind == "event":
                if headers.get(":event-type") == "chunk":
                    events.append(_chunk_event(message.payload))
            elif kind == "exception":
                exc_type = headers.get(":exception-type")
                exc_name = exc_type if isinstance(exc_type, str) else "unknownException"
                events.append(_error_event(exc_name, _exception_message(message.payload)))
            elif kind == "error":
                code = headers.get(":error-code")
                text = headers.get(":error-message")
                events.append(
                    _error_event(
                        code if isinstance(code, str) else "unknownError",
                        text if isinstance(text, str) else "",
                    )
                )
        return events
