"""A streamed answer put back together as the one object a non-streamed call would have returned.

The audit log stores an answer's body when configured to (`audit.store_bodies`). For a stream
that body is assembled from its events rather than kept as SSE: the text of a reply, of a tool
call's arguments, of a thinking block arrives cut into many deltas, and only the joined text
can be read by a person, or scanned for a value that must be masked before it is stored (a
credential streamed token by token is in no single event). Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

import orjson

from bordergate.wire.sse import SSEParser


def _events(data: bytes) -> list[tuple[str | None, Any]]:
    """(event name, parsed JSON data) for each event; non-JSON data (`[DONE]`) is skipped."""
    parser = SSEParser()
    out: list[tuple[str | None, Any]] = []
    for event in [*parser.feed(data), *parser.finish()]:
        try:
            out.append((event.event, orjson.loads(event.data)))
        except orjson.JSONDecodeError:
            continue
    return out


def assemble_openai(data: bytes) -> dict[str, Any]:
    """An OpenAI chat-completions stream as a `chat.completion` object (`"streamed": true`)."""
    result: dict[str, Any] = {"object": "chat.completion", "streamed": True}
    choices: dict[int, dict[str, Any]] = {}
    for _, chunk in _events(data):
        if not isinstance(chunk, dict):
            continue
        if "error" in chunk:
            result["error"] = chunk["error"]
            continue
        for key in ("id", "model", "created", "system_fingerprint"):
            if key in chunk and chunk[key] is not None:
                result[key] = chunk[key]
        if chunk.get("usage"):
            result["usage"] = chunk["usage"]
        for delta_choice in chunk.get("choices") or ():
            if isinstance(delta_choice, dict):
                _merge_choice(choices, delta_choice)
    result["choices"] = [choices[index] for index in sorted(choices)]
    return result


def _merge_choice(choices: dict[int, dict[str, Any]], delta_choice: dict[str, Any]) -> None:
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
        return
    for key, value in delta.items():
        if key == "tool_calls" and isinstance(value, list):
            _merge_tool_calls(message, value)
        elif isinstance(value, str) and key != "role":
            message[key] = message.get(key, "") + value
        elif value is not None:
            message[key] = value


def _merge_tool_calls(message: dict[str, Any], deltas: list[Any]) -> None:
    calls: list[dict[str, Any]] = message.setdefault("tool_calls", [])
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


_DELTA_FIELDS = {
    "text_delta": "text",
    "input_json_delta": "partial_json",
    "thinking_delta": "thinking",
    "citations_delta": None,
    "signature_delta": "signature",
}


def assemble_anthropic(data: bytes) -> dict[str, Any]:
    """An Anthropic Messages stream as the `message` object (`"streamed": true`).

    Tool-use input arrives as JSON text in pieces; it is parsed once whole, and kept as the
    joined text when it does not parse (a stream cut short)."""
    message: dict[str, Any] = {"type": "message", "content": [], "streamed": True}
    blocks: dict[int, dict[str, Any]] = {}
    for name, event in _events(data):
        if not isinstance(event, dict):
            continue
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
        elif kind == "message_delta":
            if isinstance(event.get("delta"), dict):
                message.update(event["delta"])
            if isinstance(event.get("usage"), dict):
                message["usage"] = {**message.get("usage", {}), **event["usage"]}
        elif kind == "error":
            message["error"] = event.get("error")
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
