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
from bordergate.wire.anthropic import (
    OpenAIStreamToAnthropic,
    openai_error_to_anthropic,
    openai_response_to_anthropic,
)
from bordergate.wire.sse import OPENAI_DONE, SSEParser, encode_event

# An unescaped `"error"` only occurs as a JSON key or string value (inside content text the
# quotes are escaped), so normal chunks never contain it and error events always do. A provider
# ends a stream after its error event, so only the end of each read is searched: the whole of a
# 14 KB read would cost ~6 µs per stream (JSON is full of quotes, which defeats the search).
_ERROR_MARK = b'"error"'
_ERROR_WINDOW = 4096
_EVENT_ENDS = (b"\n\n", b"\r\n\r\n")


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


class StreamEgress:
    """Per-request stream processor: `feed(bytes) -> bytes`, then `close() -> bytes`.

    `close()` returns the stream's terminator (`data: [DONE]` or Anthropic's final events),
    which the caller sends only after the audit event is durable.
    """

    def __init__(self, vault: Mapping[str, str] | None, client: str, model: str) -> None:
        self.passthrough = not vault and client == "openai"
        self._at_boundary = True  # passthrough: the last piece ended between events
        self.client = client
        self.done = False
        self._parser = SSEParser()
        self._restorers = StreamRestorers(vault) if vault else None
        self._anthropic = OpenAIStreamToAnthropic(model) if client == "anthropic" else None
        self._failed = False
        self._channels: dict[int, list[tuple[Any, ...]]] = {}

    def feed(self, data: bytes) -> bytes:
        if self.passthrough:
            if data.find(_ERROR_MARK, max(0, len(data) - _ERROR_WINDOW)) >= 0:
                return self._leave_passthrough(data)
            self._at_boundary = data.endswith(_EVENT_ENDS)
            if data.endswith(OPENAI_DONE):
                self.done = True
                return data[: -len(OPENAI_DONE)]
            return data
        return self._parse(data)

    def _leave_passthrough(self, data: bytes) -> bytes:
        """Switch to parsing events at the first sign of an upstream error event.

        A provider's error text can echo the key the gateway presented. Parsed, an error
        event is scrubbed whole (`_error`), even when it arrives split across pieces; only
        the rest of an event whose start already went out raw is scrubbed as it stands.
        """
        head = b""
        if not self._at_boundary:
            cut = data.find(b"\n\n")
            if cut < 0:
                return scrub(data)  # still inside that raw event
            head, data = scrub(data[: cut + 2]), data[cut + 2 :]
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
