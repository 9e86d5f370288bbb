"""Putting redacted values back into responses, whole or streamed.

The model answers with the placeholders it was given (`[EMAIL_1]`); the client must see the
values it sent. Only placeholders present in this request's vault are replaced: anything else
that merely looks like one (`[TODO_1]`, `[EMAIL_9]` never issued, `[x]`) passes through as is.

Where the text sits inside JSON strings, a restored value must be escaped once per level of
JSON string it is written into (`json_depth`): 0 for message content already decoded from the
response, 1 for tool-call arguments (a JSON document carried as a string), 2 for arguments
still inside the raw JSON of an SSE event. Placeholders themselves contain nothing JSON escapes,
so they are found the same way at every depth.

Streams: a placeholder may be split across chunks (`[EMA` + `IL_1]`). `StreamRestorer` holds
back only a tail that could still become a placeholder of this vault (from the last `[`, never
longer than the longest placeholder) and emits everything else at once; a chunk without `[` and
with nothing held back is returned untouched, without copying.
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable, Mapping
from typing import Any

PLACEHOLDER_RE = re.compile(r"\[[A-Z][A-Z0-9_]*_[0-9]+\]")


def _escape(value: str, depth: int) -> str:
    for _ in range(depth):
        value = json.dumps(value, ensure_ascii=False)[1:-1]
    return value


def restore_text(text: str, vault: Mapping[str, str], *, json_depth: int = 0) -> str:
    """`text` with each placeholder of `vault` replaced by its value, escaped `json_depth` times."""
    if not vault or "[" not in text:
        return text

    def sub(m: re.Match[str]) -> str:
        value = vault.get(m.group())
        return m.group() if value is None else _escape(value, json_depth)

    return PLACEHOLDER_RE.sub(sub, text)


class StreamRestorer:
    """Restores placeholders in one stream channel (the content, or one tool call's arguments).

    Feed fragments in order; concatenating every return value of `feed` and then `flush` gives
    exactly `restore_text` of the concatenated input."""

    __slots__ = ("_held", "_json_depth", "_prefixes", "_vault")

    def __init__(self, vault: Mapping[str, str], *, json_depth: int = 0) -> None:
        self._vault = vault
        self._json_depth = json_depth
        # Every proper prefix of every placeholder ("[", "[E", ... "[EMAIL_1"): what may be held.
        self._prefixes = frozenset(ph[:i] for ph in vault for i in range(1, len(ph)))
        self._held = ""

    def feed(self, fragment: str) -> str:
        """What can be emitted now that `fragment` has arrived."""
        if not self._held and ("[" not in fragment or not self._vault):
            return fragment
        text = self._held + fragment if self._held else fragment
        self._held = ""
        cut = text.rfind("[")
        if cut >= 0 and text[cut:] in self._prefixes:
            self._held = text[cut:]
            text = text[:cut]
        return restore_text(text, self._vault, json_depth=self._json_depth)

    def flush(self) -> str:
        """The held-back tail at the end of the stream: it never became a placeholder."""
        held, self._held = self._held, ""
        return held

    @property
    def pending(self) -> bool:
        """Whether a tail is held back (the caller must `flush` before ending the stream)."""
        return bool(self._held)


class StreamRestorers:
    """The restorers of one streamed response, one per channel, created on first use.

    A channel is any hashable key the caller chooses, e.g. `(choice, "content")` and
    `(choice, "tool", tool_index)` for OpenAI deltas, or the content block index for Anthropic
    (`text_delta` at depth 0, `input_json_delta.partial_json` at depth 1). Call `flush` for a
    channel when it ends (OpenAI `finish_reason`, Anthropic `content_block_stop`) and emit the
    returned tail before that event; `flush_all` at the end of the stream covers the rest."""

    __slots__ = ("_channels", "_vault")

    def __init__(self, vault: Mapping[str, str]) -> None:
        self._vault = vault
        self._channels: dict[Hashable, StreamRestorer] = {}

    def feed(self, channel: Hashable, fragment: str, *, json_depth: int = 0) -> str:
        """What channel `channel` can emit now that `fragment` arrived on it."""
        restorer = self._channels.get(channel)
        if restorer is None:
            if not self._vault:
                return fragment
            restorer = self._channels[channel] = StreamRestorer(self._vault, json_depth=json_depth)
        return restorer.feed(fragment)

    def flush(self, channel: Hashable) -> str:
        """The held tail of one channel (empty when nothing is held)."""
        restorer = self._channels.get(channel)
        return restorer.flush() if restorer is not None else ""

    def flush_all(self) -> dict[Hashable, str]:
        """The non-empty held tails of every channel, in first-use order."""
        tails = {key: r.flush() for key, r in self._channels.items()}
        return {key: tail for key, tail in tails.items() if tail}


def restore_response(body: dict[str, Any], vault: Mapping[str, str], fmt: str = "openai") -> Any:
    """A (non-streamed) response body with placeholders restored in message content, tool-call
    arguments (JSON-escaped) and, for Anthropic, text and tool_use input blocks. The body is
    not mutated; it is returned unchanged (same object) when there is nothing to restore."""
    if not vault:
        return body
    if fmt == "openai":
        return _restore_openai(body, vault)
    if fmt == "anthropic":
        return _restore_anthropic(body, vault)
    raise ValueError(f"unknown response format {fmt!r}")


def _restore_openai(body: dict[str, Any], vault: Mapping[str, str]) -> dict[str, Any]:
    choices = body.get("choices")
    if not isinstance(choices, list):
        return body
    new_choices = []
    for choice in choices:
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            new_choices.append(choice)
            continue
        msg = dict(message)
        if isinstance(msg.get("content"), str):
            msg["content"] = restore_text(msg["content"], vault)
        calls = msg.get("tool_calls")
        if isinstance(calls, list):
            msg["tool_calls"] = [_restore_call(c, vault) for c in calls]
        if isinstance(msg.get("function_call"), dict):
            msg["function_call"] = _restore_fn(msg["function_call"], vault)
        new_choices.append({**choice, "message": msg})
    return {**body, "choices": new_choices}


def _restore_fn(fn: dict[str, Any], vault: Mapping[str, str]) -> dict[str, Any]:
    args = fn.get("arguments")
    if not isinstance(args, str):
        return fn
    return {**fn, "arguments": restore_text(args, vault, json_depth=1)}


def _restore_call(call: Any, vault: Mapping[str, str]) -> Any:
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        return call
    return {**call, "function": _restore_fn(call["function"], vault)}


def _restore_anthropic(body: dict[str, Any], vault: Mapping[str, str]) -> dict[str, Any]:
    content = body.get("content")
    if not isinstance(content, list):
        return body
    blocks = []
    for block in content:
        if isinstance(block, dict) and isinstance(block.get("text"), str):
            block = {**block, "text": restore_text(block["text"], vault)}
        elif isinstance(block, dict) and block.get("type") == "tool_use" and "input" in block:
            block = {**block, "input": restore_value(block["input"], vault)}
        blocks.append(block)
    return {**body, "content": blocks}


def restore_value(value: Any, vault: Mapping[str, str]) -> Any:
    """A decoded JSON value with placeholders restored in every string (keys included)."""
    if isinstance(value, str):
        return restore_text(value, vault)
    if isinstance(value, dict):
        return {restore_text(k, vault): restore_value(v, vault) for k, v in value.items()}
    if isinstance(value, list):
        return [restore_value(v, vault) for v in value]
    return value
