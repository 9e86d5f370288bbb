"""A streamed answer put back together as the one object a non-streamed call would have returned.

The audit log stores an answer's body when configured to (`audit.store_bodies`). For a stream
that body is assembled from its events rather than kept as SSE: the text of a reply, of a tool
call's arguments, of a thinking block arrives cut into many deltas, and only the joined text
can be read by a person, or scanned for a value that must be masked before it is stored (a
credential streamed token by token is in no single event). `StreamAssembler` takes the stream
piece by piece, so what it holds grows with the answer's text, not with the SSE framing around
every delta, and it stops adding text once `max_chars` were collected. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

import orjson

from bordergate.wire.sse import SSEParser


class StreamAssembler:
    """Feed a stream's bytes in any pieces; `result()` is the answer they assemble to.

    `fmt` is "openai" (chat-completions chunks) or "anthropic" (Messages events). Once the
    text collected reaches `max_chars`, further text is dropped and `cut` is set; ids, stop
    reasons and usage are still taken.
    """

    def __init__(self, fmt: str, max_chars: int) -> None:
        if fmt not in ("openai", "anthropic"):
            raise ValueError(f"unknown stream format {fmt!r}")
        self.fmt = fmt
        self.cut = False
        self._room = max_chars
        self._parser = SSEParser()
        self._openai: dict[str, Any] = {"object": "chat.completion", "streamed": True}
        self._choices: dict[int, dict[str, Any]] = {}
        self._message: dict[str, Any] = {"type": "message", "content": [], "streamed": True}
        self._blocks: dict[int, dict[str, Any]] = {}

    def feed(self, data: bytes) -> None:
        for event in self._parser.feed(data):
            self._take(event.event, event.data)

    def result(self) -> dict[str, Any]:
        """The assembled answer (call once, after the stream ended or was cut)."""
        for event in self._parser.finish():
            self._take(event.event, event.data)
        if self.fmt == "openai":
            result = self._openai
            result["choices"] = [self._choices[index] for index in sorted(self._choices)]
            return result
        return _finish_anthropic(self._message, self._blocks)

    def _take(self, name: str | None, data: str) -> None:
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            return  # `[DONE]`
        if not isinstance(event, dict):
            return
        if self._room <= 0 and not self._without_text(name, event):
            return
        if self.fmt == "openai":
            self._room -= _take_openai(self._openai, self._choices, event)
        else:
            self._room -= _take_anthropic(self._message, self._blocks, name, event)

    def _without_text(self, name: str | None, event: dict[str, Any]) -> bool:
        """Past the cap: strip the event's text (noting the cut); False when nothing is left."""
        if self.fmt == "openai":
            for choice in event.get("choices") or ():
                if isinstance(choice, dict) and choice.pop("delta", None):
                    self.cut = True
            return True
        if event.get("type", name) in ("content_block_start", "content_block_delta"):
            self.cut = True
            return False
        return True


def _take_openai(
    result: dict[str, Any], choices: dict[int, dict[str, Any]], chunk: dict[str, Any]
) -> int:
    """Merge one chunk; return how many characters of text it added."""
    if "error" in chunk:
        result["error"] = chunk["error"]
        return 0
    for key in ("id", "model", "created", "system_fingerprint"):
        if key in chunk and chunk[key] is not None:
            result[key] = chunk[key]
    if chunk.get("usage"):
        result["usage"] = chunk["usage"]
    added = 0
    for delta_choice in chunk.get("choices") or ():
        if isinstance(delta_choice, dict):
            added += _merge_choice(choices, delta_choice)
    return added


def _merge_choice(choices: dict[int, dict[str, Any]], delta_choice: dict[str, Any]) -> int:
    index = delta_choice.get("index", 0)
    index = index if isinstance(index, int) else 0
    choice = choices.setdefault(
        index, {"index": index, "message": {"role": "assistant"}, "finish_reason": None}
    )
    message = choice["message"]
    if delta_choice.get("finish_reason") is not None:
        choice["finish_reason"] = delta_choice["finish_reason"]
    delta = delta_choice.get("delta")
    if not isinstance(delta, dict):
        return 0
    added = 0
    for key, value in delta.items():
        if key == "tool_calls" and isinstance(value, list):
            added += _merge_tool_calls(message, value)
        elif isinstance(value, str) and key != "role":
            message[key] = message.get(key, "") + value
            added += len(value)
        elif value is not None:
            message[key] = value
    return added


def _merge_tool_calls(message: dict[str, Any], deltas: list[Any]) -> int:
    calls: list[dict[str, Any]] = message.setdefault("tool_calls", [])
    added = 0
    for delta in deltas:
        if not isinstance(delta, dict):
            continue
        index = delta.get("index", len(calls))
        index = index if isinstance(index, int) and 0 <= index <= len(calls) else len(calls)
        if index == len(calls):
            calls.append({"type": "function", "function": {"name": "", "arguments": ""}})
        call = calls[index]
        for key in ("id", "type"):
            if delta.get(key):
                call[key] = delta[key]
        function = delta.get("function")
        if isinstance(function, dict):
            for key in ("name", "arguments"):
                if isinstance(function.get(key), str):
                    call["function"][key] += function[key]
                    added += len(function[key])
    return added


_DELTA_FIELDS = {
    "text_delta": "text",
    "input_json_delta": "partial_json",
    "thinking_delta": "thinking",
    "citations_delta": None,
    "signature_delta": "signature",
}


def _take_anthropic(
    message: dict[str, Any],
    blocks: dict[int, dict[str, Any]],
    name: str | None,
    event: dict[str, Any],
) -> int:
    """Merge one event; return how many characters of text it added."""
    kind = event.get("type", name)
    if kind == "message_start" and isinstance(event.get("message"), dict):
        message.update({k: v for k, v in event["message"].items() if k != "content"})
        message["streamed"] = True
    elif kind == "content_block_start" and isinstance(event.get("content_block"), dict):
        blocks[_index(event)] = dict(event["content_block"])
    elif kind == "content_block_delta" and isinstance(event.get("delta"), dict):
        delta = event["delta"]
        block = blocks.setdefault(_index(event), {"type": "text", "text": ""})
        field = _DELTA_FIELDS.get(str(delta.get("type")))
        if field is not None and isinstance(delta.get(field), str):
            block[field] = block.get(field, "") + delta[field]
            return len(delta[field])
    elif kind == "message_delta":
        if isinstance(event.get("delta"), dict):
            message.update(event["delta"])
        if isinstance(event.get("usage"), dict):
            message["usage"] = {**message.get("usage", {}), **event["usage"]}
    elif kind == "error":
        message["error"] = event.get("error")
    return 0


def _finish_anthropic(message: dict[str, Any], blocks: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Blocks in order; tool-use input, which arrives as JSON text in pieces, parsed once
    whole (kept as the joined text when it does not parse: a stream cut short)."""
    for index in sorted(blocks):
        block = blocks[index]
        if "partial_json" in block:
            text = block.pop("partial_json")
            try:
                block["input"] = orjson.loads(text) if text else {}
            except orjson.JSONDecodeError:
                block["input"] = text
        message["content"].append(block)
    return message


def _index(event: dict[str, Any]) -> int:
    index = event.get("index", 0)
    return index if isinstance(index, int) else 0
