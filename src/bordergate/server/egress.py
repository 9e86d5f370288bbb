"""Egress: turn the upstream's OpenAI-format answer into what the client gets.

Two jobs, both only when needed: restore redacted values (placeholders may be split across
SSE chunks and sit inside tool-call arguments), and translate to the Anthropic format for
Anthropic clients. When neither applies, stream bytes pass through untouched, except that the
final `[DONE]` is held back until the request's audit event is durable, and that a stream
whose read ends with an error event is parsed from there on, so provider keys echoed in it are
cut out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from bordergate.dlp.restore import StreamRestorers, restore_response
from bordergate.server.errors import scrub_bytes as scrub
from bordergate.upstream.dispatch import Stream
from bordergate.wire.anthropic import (
    OpenAIStreamToAnthropic,
    openai_error_to_anthropic,
    openai_response_to_anthropic,
)
from bordergate.wire.sse import OPENAI_DONE, SSEParser, encode_event

# An unescaped `"error"` only occurs as a JSON key or as a whole string value (inside content
# text the quotes are escaped): error events always contain it, and normal chunks only when a
# delta is exactly the word (`"content":"error"`), which the parse then tells apart. A provider
# ends a stream after its error event (at most a `[DONE]` follows), so each read is searched
# from the start of its second-to-last event: that covers an error event of any size, and costs
# well under a microsecond, where the whole of a 14 KB read costs ~5 µs (JSON is full of
# quotes, which defeats the search). A mark cut in two by a read boundary is caught by carrying
# the previous read's last bytes while it ends inside an event.
_ERROR_MARK = b'"error"'
_MARK_CARRY = len(_ERROR_MARK) - 1
_EVENT_ENDS = (b"\n\n", b"\r\n\r\n")
_HOLD_MAX = 64 * 1024  # an error event is far smaller; past this, scrub what there is


def _error_key_in(data: bytes) -> bool:
    """Whether `data` holds `"error"` as a key (followed by a colon), not only as a value."""
    at = data.find(_ERROR_MARK)
    while at >= 0:
        end = at + len(_ERROR_MARK)
        if data[end : end + 16].lstrip(b" \t\r\n")[:1] == b":":  # not a copy of the rest
            return True
        at = data.find(_ERROR_MARK, at + 1)
    return False


def _last_events_start(data: bytes) -> int:
    """Where the second-to-last event in `data` begins (0 when there are fewer than two).

    Streams framed with CRLF have no `\\n\\n` boundary, so they are searched whole.
    """
    last = data.rfind(b"\n\n", 0, len(data) - 2)
    if last < 0:
        return 0
    before = data.rfind(b"\n\n", 0, last)
    return before + 2 if before >= 0 else 0


def egress_json(body: bytes, vault: Mapping[str, str] | None, client: str) -> bytes:
    """A whole response for the client: the upstream bytes untouched when nothing changes."""
    if not vault and client == "openai":
        return body
    parsed: Any = orjson.loads(body)
    if vault:
        parsed = restore_response(parsed, vault, "openai")
    if client == "anthropic":
        parsed = openai_response_to_anthropic(parsed)
    return orjson.dumps(parsed)


def egress_native_json(body: bytes, vault: Mapping[str, str] | None) -> bytes:
    """An Anthropic provider's whole answer for an Anthropic client: as sent, unless redacted
    values are to be restored (in text and tool input; thinking stays as signed)."""
    if not vault:
        return body
    return orjson.dumps(restore_response(orjson.loads(body), vault, "anthropic"))


class NativeStreamEgress:
    """An Anthropic provider's own events for an Anthropic client (`Stream.native`).

    They pass as they come, except that an error event is scrubbed of any key the provider
    echoes, the closing `message_stop` (held by the stream) goes out only from `close()`,
    once the audit event is durable and never after an error, and, when the request was
    redacted, placeholders are restored in `text_delta` and `input_json_delta` events, also
    when split across deltas: a block's held tail goes out as one more delta before its
    `content_block_stop`. Thinking deltas keep their placeholders: thinking is signed, and the
    client sends it back as it was.
    """

    def __init__(self, stream: Stream, vault: Mapping[str, str] | None = None) -> None:
        self._stream = stream
        self._restorers = StreamRestorers(vault) if vault else None
        self._parser = SSEParser() if vault else None
        self._json_blocks: set[Any] = set()  # indices of tool_use blocks (JSON input deltas)

    def feed(self, data: bytes) -> bytes:
        if self._restorers is not None and self._parser is not None:
            data = self._restore(data, self._parser, self._restorers)
        # The stream marks itself failed before it yields the piece ending in an error event.
        return scrub(data) if self._stream.failed else data

    def _restore(self, data: bytes, parser: SSEParser, restorers: StreamRestorers) -> bytes:
        out = bytearray()
        for event in parser.feed(data):
            name = event.event
            raw = event.data.encode()
            if name in ("content_block_start", "content_block_delta", "content_block_stop"):
                try:
                    payload = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    payload = None
                if isinstance(payload, dict):
                    out += self._block_event(name, payload, restorers)
                    continue
            out += encode_event(raw, name)
        return bytes(out)

    def _block_event(self, name: str, payload: dict[str, Any], restorers: StreamRestorers) -> bytes:
        index = payload.get("index")
        if name == "content_block_start":
            block = payload.get("content_block")
            if isinstance(block, dict) and block.get("type") == "tool_use":
                self._json_blocks.add(index)
        elif name == "content_block_delta":
            delta = payload.get("delta")
            if isinstance(delta, dict):
                text, part = delta.get("text"), delta.get("partial_json")
                if delta.get("type") == "text_delta" and isinstance(text, str):
                    delta["text"] = restorers.feed(index, text)
                elif delta.get("type") == "input_json_delta" and isinstance(part, str):
                    delta["partial_json"] = restorers.feed(index, part, json_depth=1)
        else:
            tail = restorers.flush(index)
            if tail:
                kind = "input_json_delta" if index in self._json_blocks else "text_delta"
                field = "partial_json" if kind == "input_json_delta" else "text"
                held = {"type": "content_block_delta", "index": index}
                held["delta"] = {"type": kind, field: tail}
                return encode_event(orjson.dumps(held), "content_block_delta") + encode_event(
                    orjson.dumps(payload), name
                )
        return encode_event(orjson.dumps(payload), name)

    @property
    def failed(self) -> bool:
        return self._stream.failed

    def close(self) -> bytes:
        stream = self._stream
        return stream.final if stream.completed and not stream.failed else b""


class StreamEgress:
    """Per-request stream processor: `feed(bytes) -> bytes`, then `close() -> bytes`.

    `close()` returns the stream's terminator (`data: [DONE]` or Anthropic's final events),
    which the caller sends only after the audit event is durable.
    """

    def __init__(self, vault: Mapping[str, str] | None, client: str, model: str) -> None:
        self.passthrough = not vault and client == "openai"
        self._at_boundary = True  # passthrough: the last piece ended between events
        self._carry = b""  # passthrough: the last piece's end while it stopped inside an event
        self._held = b""  # the rest of a raw error event, held back until the event ends
        self.client = client
        self.done = False
        self._parser = SSEParser()
        self._restorers = StreamRestorers(vault) if vault else None
        self._anthropic = OpenAIStreamToAnthropic(model) if client == "anthropic" else None
        self._failed = False
        self._channels: dict[int, list[tuple[Any, ...]]] = {}

    def feed(self, data: bytes) -> bytes:
        if self.passthrough:
            if self._held or self._error_in(data):
                return self._leave_passthrough(data)
            self._at_boundary = data.endswith(_EVENT_ENDS)
            self._carry = b"" if self._at_boundary else data[-_MARK_CARRY:]
            if data.endswith(OPENAI_DONE):
                self.done = True
                return data[: -len(OPENAI_DONE)]
            return data
        return self._parse(data)

    def _error_in(self, data: bytes) -> bool:
        """Whether this read (with the end of the previous one) shows an error event."""
        carry = self._carry
        if carry and (carry + data[:_MARK_CARRY]).find(_ERROR_MARK) >= 0:
            return True
        return data.find(_ERROR_MARK, _last_events_start(data)) >= 0

    def _leave_passthrough(self, data: bytes) -> bytes:
        """Switch to parsing events at the first sign of an upstream error event.

        A provider's error text can echo the key the gateway presented. Parsed, an error
        event is scrubbed whole (`_error`), even when it arrives split across pieces. When the
        event in progress already began raw (the mark was cut in two by a read boundary, or
        sits in that event's continuation), the rest of it is held until it ends, then
        scrubbed whole and counted as an error; only the part that had already gone out (up
        to the mark, before the message that could echo a key) is past reach.
        """
        head = b""
        if not self._at_boundary:
            rest = self._held + data
            cut = rest.find(b"\n\n")
            if cut < 0 and len(rest) < _HOLD_MAX:
                self._held = rest
                return b""
            end = len(rest) if cut < 0 else cut + 2
            if _error_key_in(self._carry + rest[:end]):
                self._failed = True
            head, data, self._held = scrub(rest[:end]), rest[end:], b""
            if cut < 0:
                self._carry = b""
                return head  # an oversized event: scrubbed in pieces as it stands
            self._at_boundary = True
        self.passthrough = False
        return head + self._parse(data)

    def _parse(self, data: bytes) -> bytes:
        out = bytearray()
        for event in self._parser.feed(data):
            if event.data == "[DONE]":
                self.done = True
                continue
            try:
                chunk = orjson.loads(event.data)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(chunk, dict):
                continue
            if "error" in chunk:
                out += self._error(chunk)
                continue
            for piece in self._restore(chunk):
                out += self._emit(piece)
        return bytes(out)

    @property
    def failed(self) -> bool:
        """True once the stream carried an error event (so it did not end as a success)."""
        return self._failed

    def close(self) -> bytes:
        """The terminator, once the stream ended cleanly (empty after an error)."""
        if self._failed or not self.done:
            return b""
        if self._anthropic is not None:
            return b"".join(
                encode_event(orjson.dumps(data), name) for name, data in self._anthropic.finish()
            )
        return OPENAI_DONE

    def _emit(self, chunk: dict[str, Any]) -> bytes:
        if self._anthropic is None:
            return b"data: " + orjson.dumps(chunk) + b"\n\n"
        return b"".join(
            encode_event(orjson.dumps(data), name) for name, data in self._anthropic.feed(chunk)
        )

    def _error(self, chunk: dict[str, Any]) -> bytes:
        self._failed = True
        if self._anthropic is None:
            return scrub(b"data: " + orjson.dumps(chunk) + b"\n\n")
        body = openai_error_to_anthropic(502, chunk)
        return scrub(encode_event(orjson.dumps(body), "error"))

    def _restore(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        """Restore placeholders per channel; flush a choice's channels before its finish."""
        restorers = self._restorers
        if restorers is None:
            return [chunk]
        out: list[dict[str, Any]] = []
        for choice in chunk.get("choices") or []:
            idx = choice.get("index", 0)
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if isinstance(content, str) and content:
                delta["content"] = restorers.feed(self._channel(idx, "content"), content)
            for call in delta.get("tool_calls") or []:
                fn = call.get("function") or {}
                args = fn.get("arguments")
                if isinstance(args, str) and args:
                    fn["arguments"] = restorers.feed(
                        self._channel(idx, "tool", call.get("index", 0)), args, json_depth=1
                    )
            if choice.get("finish_reason"):
                tail = self._flush_choice(idx)
                if tail is not None:
                    out.append({**chunk, "choices": [tail], "usage": None})
        out.append(chunk)
        return out

    def _channel(self, *key: Any) -> tuple[Any, ...]:
        channels = self._channels.setdefault(key[0], [])
        if key not in channels:
            channels.append(key)
        return key

    def _flush_choice(self, idx: int) -> dict[str, Any] | None:
        assert self._restorers is not None
        flushed = {}
        for ch in self._channels.pop(idx, []):
            text = self._restorers.flush(ch)
            if text:
                flushed[ch] = text
        if not flushed:
            return None
        delta: dict[str, Any] = {}
        calls = []
        for ch, text in flushed.items():
            if ch[1] == "content":
                delta["content"] = text
            else:
                calls.append({"index": ch[2], "function": {"arguments": text}})
        if calls:
            delta["tool_calls"] = calls
        return {"index": idx, "delta": delta, "finish_reason": None}
