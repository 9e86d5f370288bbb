"""Anthropic Messages <-> OpenAI chat-completions, for Anthropic-format *clients*.

A client using the Anthropic SDK (or a coding agent that speaks Messages) sends its request in
Anthropic format; the gateway turns it into its internal OpenAI body, routes it to any
deployment, and renders the answer — whole or streamed — back as a real Anthropic response.
All functions are pure.
"""

from __future__ import annotations

from typing import Any

import orjson

from bordergate.wire.errors import WireError

__all__ = [
    "OpenAIStreamToAnthropic",
    "anthropic_request_to_openai",
    "openai_error_to_anthropic",
    "openai_response_to_anthropic",
    "openai_usage_to_anthropic",
]

STOP_REASONS: dict[str | None, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
    None: "end_turn",
}


def _bad(path: str, problem: str) -> WireError:
    return WireError(400, "invalid_request_error", f"{path}: {problem}", param=path)


# --------------------------------------------------------------------------- request


def _source(block: dict[str, Any], path: str) -> dict[str, Any]:
    source = block.get("source")
    if not isinstance(source, dict):
        raise _bad(f"{path}.source", "expected a source object")
    return source


def _image_part(block: dict[str, Any], path: str) -> dict[str, Any]:
    source = _source(block, path)
    url: Any
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type')};base64,{source.get('data')}"
    elif source.get("type") == "url":
        url = source.get("url")
    else:
        raise _bad(f"{path}.source", "only base64 and url image sources are supported")
    return {"type": "image_url", "image_url": {"url": url}}


def _document_part(block: dict[str, Any], path: str) -> dict[str, Any]:
    source = _source(block, path)
    title = block.get("title")
    if source.get("type") == "text":
        text = source.get("data", "")
        if not isinstance(text, str):
            raise _bad(f"{path}.source.data", "expected a string")
        # The title names the document for the model; keep it, on a line of its own.
        return {"type": "text", "text": f"{title}\n{text}" if isinstance(title, str) else text}
    if source.get("type") == "base64":
        media = source.get("media_type", "application/pdf")
        file = {
            "filename": title or "document.pdf",
            "file_data": f"data:{media};base64,{source.get('data')}",
        }
        return {"type": "file", "file": file}
    raise _bad(f"{path}.source", "only base64 and text document sources are supported")


def _text(block: dict[str, Any], path: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise _bad(f"{path}.text", "expected a string")
    return text


def _blocks(content: Any, path: str) -> list[Any]:
    if not isinstance(content, list):
        raise _bad(path, "expected a string or an array of content blocks")
    return content


def _system_text(system: Any) -> str:
    """The system prompt as one text: blocks on lines of their own, as the model reads them."""
    if isinstance(system, str):
        return system
    texts = []
    for j, block in enumerate(_blocks(system, "system")):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise _bad(f"system[{j}].type", "system blocks must be text blocks")
        texts.append(_text(block, f"system[{j}]"))
    return "\n".join(texts)


def _tool_result(block: dict[str, Any], path: str, media: list[dict[str, Any]]) -> dict[str, Any]:
    """An Anthropic `tool_result` as an OpenAI `tool` message.

    OpenAI tool messages hold text only: the result's images and documents are appended to
    `media`, to travel in the user message that follows the tool messages, so the model still
    sees them. `is_error` becomes an `Error:` prefix, or a failed call would read as a success.
    """
    content = block.get("content")
    texts: list[str] = []
    moved: list[dict[str, Any]] = []
    if isinstance(content, str):
        texts.append(content)
    elif content is not None:
        for j, part in enumerate(_blocks(content, f"{path}.content")):
            ppath = f"{path}.content[{j}]"
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                texts.append(_text(part, ppath))
            elif kind == "search_result":
                texts.append(_search_result_text(part))
            elif kind in ("image", "document"):
                carried = _media_or_none(part, ppath)
                if carried is not None and carried["type"] == "text":
                    texts.append(carried["text"])
                elif carried is not None:
                    moved.append(carried)
            # Other blocks (`tool_reference`, server-side kinds) have nothing an OpenAI-format
            # model can take; an Anthropic-format deployment gets the client's own body.
    call_id = block.get("tool_use_id")
    if moved:
        noun = "attachment follows" if len(moved) == 1 else "attachments follow"
        texts.append(f"[{len(moved)} {noun} in the next message]")
        label = f"Attachments of tool result {call_id}:"
        media.extend([{"type": "text", "text": label}, *moved])
    text = "\n".join(texts)
    if block.get("is_error") is True:
        text = f"Error: {text}" if text else "Error"
    return {"role": "tool", "tool_call_id": call_id, "content": text}


def _media_or_none(part: dict[str, Any], path: str) -> dict[str, Any] | None:
    """An image or document of a tool result as an OpenAI part, or None for a source OpenAI
    cannot carry (a `file` id, a document by URL): such a request stays valid, as Claude
    takes it, and towards an OpenAI-format model that block is left out."""
    try:
        if part.get("type") == "image":
            return _image_part(part, path)
        return _document_part(part, path)
    except WireError:
        return None


def _search_result_text(part: dict[str, Any]) -> str:
    """A search result as text: its title and source on a line, then its text blocks."""
    head = " ".join(str(part[k]) for k in ("title", "source") if isinstance(part.get(k), str))
    body = [
        b["text"]
        for b in part.get("content") or []
        if isinstance(b, dict) and isinstance(b.get("text"), str)
    ]
    return "\n".join([head, *body] if head else body)


def _user_messages(content: Any, path: str) -> list[dict[str, Any]]:
    """One Anthropic user turn -> OpenAI ``tool`` messages first, then one user message."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    tools: list[dict[str, Any]] = []
    media: list[dict[str, Any]] = []  # tool results' images and documents
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(_blocks(content, path)):
        bpath = f"{path}[{j}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            parts.append({"type": "text", "text": _text(block, bpath)})
        elif kind == "image":
            parts.append(_image_part(block, bpath))
        elif kind == "document":
            parts.append(_document_part(block, bpath))
        elif kind == "tool_result":
            tools.append(_tool_result(block, bpath, media))
        elif kind in ("thinking", "redacted_thinking"):
            continue
        else:
            raise _bad(f"{bpath}.type", f"unsupported content block type {kind!r}")
    messages = tools
    parts = media + parts
    if parts:
        if all(p["type"] == "text" for p in parts):
            # Separate blocks stay separate lines: glued, "Hello" + "World" would read as one word.
            messages.append({"role": "user", "content": "\n".join(p["text"] for p in parts)})
        else:
            messages.append({"role": "user", "content": parts})
    return messages


def _assistant_message(content: Any, path: str) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(_blocks(content, path)):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(_text(block, f"{path}[{j}]"))
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {"name": block.get("name"), "arguments": arguments},
                }
            )
        elif kind in ("thinking", "redacted_thinking"):
            continue
        else:
            raise _bad(f"{path}[{j}].type", f"unsupported content block type {kind!r}")
    message: dict[str, Any] = {"role": "assistant", "content": "\n".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    elif message["content"] is None:
        message["content"] = ""
    return message


def _tool_choice(choice: dict[str, Any], out: dict[str, Any]) -> None:
    kind = choice.get("type")
    if kind == "auto":
        out["tool_choice"] = "auto"
    elif kind == "any":
        out["tool_choice"] = "required"
    elif kind == "none":
        out["tool_choice"] = "none"
    elif kind == "tool":
        out["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    else:
        raise _bad("tool_choice.type", f"unsupported tool_choice type {kind!r}")
    if choice.get("disable_parallel_tool_use") and kind != "none":
        out["parallel_tool_calls"] = False


def anthropic_request_to_openai(body: dict[str, Any]) -> dict[str, Any]:
    """Rewrite an Anthropic Messages request as the gateway's internal OpenAI chat body.

    Raises :class:`WireError` for shapes that cannot be represented. Streaming requests ask
    for ``include_usage`` so that the final Anthropic ``message_delta`` can carry real counts.
    """
    if not isinstance(body, dict):
        raise WireError(400, "invalid_request_error", "request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("model", "expected a non-empty string naming the model")
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise _bad("messages", "expected a non-empty array")
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if system is not None:
        text = _system_text(system)
        if text:
            messages.append({"role": "system", "content": text})
    for i, msg in enumerate(raw):
        path = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise _bad(path, "expected a message object")
        role = msg.get("role")
        if role == "user":
            messages.extend(_user_messages(msg.get("content"), f"{path}.content"))
        elif role == "assistant":
            messages.append(_assistant_message(msg.get("content"), f"{path}.content"))
        else:
            raise _bad(f"{path}.role", f"invalid role {role!r}; expected user or assistant")
    out: dict[str, Any] = {"model": model, "messages": messages}
    if body.get("max_tokens") is not None:
        out["max_completion_tokens"] = body["max_tokens"]
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            out[key] = body[key]
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(x, str) for x in stops):
            raise _bad("stop_sequences", "expected an array of strings")
        if stops:
            out["stop"] = list(stops)
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise _bad("metadata", "expected an object")
    if metadata and isinstance(metadata.get("user_id"), str):
        out["user"] = metadata["user_id"]
    response_format = _response_format(body)
    if response_format is not None:
        out["response_format"] = response_format
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise _bad("tools", "expected an array of tools")
    choice = body.get("tool_choice")
    if choice is not None and not isinstance(choice, dict):
        raise _bad("tool_choice", 'expected an object such as {"type": "auto"}')
    if tools:
        converted = []
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict) or "input_schema" not in tool:
                raise _bad(f"tools[{i}]", "only custom tools with an input_schema are supported")
            fn: dict[str, Any] = {"name": tool.get("name"), "parameters": tool["input_schema"]}
            if tool.get("description"):
                fn["description"] = tool["description"]
            converted.append({"type": "function", "function": fn})
        out["tools"] = converted
        if choice is not None:
            _tool_choice(choice, out)
    return out


def _response_format(body: dict[str, Any]) -> dict[str, Any] | None:
    """Anthropic `output_config.format` (or the beta `output_format`) -> OpenAI `response_format`.

    OpenAI's strict mode guarantees the schema as Anthropic does, but only accepts schemas
    whose every object lists all its properties as required and forbids others; a schema that
    does not is sent with `strict: false`, which the provider follows without the guarantee.
    """
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    where = "output_config.format"
    if fmt is None and body.get("output_format") is not None:
        fmt, where = body["output_format"], "output_format"
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        raise _bad(f"{where}.type", "expected json_schema")
    schema = fmt.get("schema")
    if not isinstance(schema, dict):
        raise _bad(f"{where}.schema", "expected a JSON Schema object")
    spec = {"name": "output", "schema": schema, "strict": _strict_compatible(schema)}
    return {"type": "json_schema", "json_schema": spec}


def _strict_compatible(schema: Any, depth: int = 0) -> bool:
    """Whether OpenAI's strict structured outputs accept `schema` (see `_response_format`)."""
    if depth > 64:
        return False
    if isinstance(schema, list):
        return all(_strict_compatible(item, depth + 1) for item in schema)
    if not isinstance(schema, dict):
        return True
    if schema.get("type") == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        if schema.get("additionalProperties") is not False:
            return False
        if not isinstance(props, dict) or set(schema.get("required") or ()) != set(props):
            return False
    return all(_strict_compatible(value, depth + 1) for value in schema.values())


# --------------------------------------------------------------------------- response


def openai_usage_to_anthropic(usage: dict[str, Any] | None) -> dict[str, Any]:
    """OpenAI usage -> Anthropic usage; cached prompt tokens move out of ``input_tokens``."""
    usage = usage or {}
    details = usage.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") or 0
    written = details.get("cache_write_tokens") or 0
    return {
        "input_tokens": max((usage.get("prompt_tokens") or 0) - cached - written, 0),
        "output_tokens": usage.get("completion_tokens") or 0,
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": written,
    }


def _message_id(raw: Any) -> str:
    if isinstance(raw, str) and raw.startswith("msg_"):
        return raw
    return f"msg_{raw}" if raw else "msg_gateway"


def openai_response_to_anthropic(
    resp: dict[str, Any], *, model: str | None = None
) -> dict[str, Any]:
    """Rewrite an OpenAI ``chat.completion`` as an Anthropic Message.

    ``model`` overrides the reported model, so the client sees the name it asked for.
    """
    choices = resp.get("choices") or [{}]
    choice = choices[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    text = message.get("content")
    if isinstance(text, list):
        text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
    if text:
        content.append({"type": "text", "text": text})
    if message.get("refusal"):
        content.append({"type": "text", "text": message["refusal"]})
    calls = list(message.get("tool_calls") or [])
    if isinstance(message.get("function_call"), dict):
        calls.append({"id": "call_legacy", "function": message["function_call"]})
    for call in calls:
        fn = call.get("function") or {}
        try:
            arguments = orjson.loads(fn.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            arguments = None
        if not isinstance(arguments, dict):
            # A model produced invalid JSON; keep the raw text rather than lose it.
            arguments = {"_raw_arguments": fn.get("arguments")}
        content.append(
            {"type": "tool_use", "id": call.get("id"), "name": fn.get("name"), "input": arguments}
        )
    finish = choice.get("finish_reason")
    return {
        "id": _message_id(resp.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model or resp.get("model") or "",
        "content": content,
        "stop_reason": "refusal"
        if message.get("refusal") and finish == "stop"
        else STOP_REASONS.get(finish, "end_turn"),
        "stop_sequence": None,
        "usage": openai_usage_to_anthropic(resp.get("usage")),
    }


# --------------------------------------------------------------------------- errors

_STATUS_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def anthropic_error_type(status: int) -> str:
    """Anthropic's error `type` for an HTTP status (other 4xx/5xx fall back by class)."""
    return _STATUS_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def openai_error_to_anthropic(status: int, body: bytes | dict[str, Any]) -> dict[str, Any]:
    """Rewrite an OpenAI-format error as Anthropic's ``{"type": "error", "error": {...}}``.

    OpenAI-compatible servers disagree on error ``type`` strings, so the Anthropic type is
    chosen from the HTTP status, which they all get right.
    """
    parsed: Any = body
    if isinstance(body, bytes | bytearray):
        try:
            parsed = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            parsed = {"error": {"message": body[:500].decode("utf-8", "replace").strip()}}
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, str):
        error = {"message": error}
    if not isinstance(error, dict):
        error = {}
    kind = anthropic_error_type(status)
    message = error.get("message") if isinstance(error.get("message"), str) else ""
    return {
        "type": "error",
        "error": {"type": kind, "message": message or f"upstream error (HTTP {status})"},
    }


# --------------------------------------------------------------------------- streaming


class OpenAIStreamToAnthropic:
    """Turns OpenAI ``chat.completion.chunk`` objects into the Anthropic event sequence.

    Produces ``message_start``, then for each text run or tool call a ``content_block_start``,
    its deltas and a ``content_block_stop``, and at :meth:`finish` a ``message_delta`` with the
    stop reason and usage followed by ``message_stop`` — the order Anthropic clients expect.
    The caller frames each ``(event, data)`` pair with ``encode_event``.

    OpenAI streams tool calls one after another; if a provider interleaves argument fragments
    of parallel calls, fragments for an already closed block are still emitted with that
    block's index, which the Anthropic SDK's accumulator handles.
    """

    def __init__(self, model: str) -> None:
        self._model = model
        self._started = False
        self._finished = False
        self._next_block = 0
        self._open: int | None = None  # index of the open content block
        self._open_kind: str | None = None
        self._tool_blocks: dict[int, int] = {}  # OpenAI tool index -> block index
        self._finish: str | None = None
        self._usage: dict[str, Any] | None = None
        self._refusal = False
        self._id = "msg_gateway"

    def _start(self, chunk: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        self._started = True
        self._id = _message_id(chunk.get("id"))
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return [("message_start", {"type": "message_start", "message": message})]

    def _close(self) -> list[tuple[str, dict[str, Any]]]:
        if self._open is None:
            return []
        index, self._open, self._open_kind = self._open, None, None
        return [("content_block_stop", {"type": "content_block_stop", "index": index})]

    def _open_block(self, kind: str, block: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        events = self._close()
        self._open, self._open_kind = self._next_block, kind
        self._next_block += 1
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": self._open, "content_block": block},
            )
        )
        return events

    def _text(self, text: str) -> list[tuple[str, dict[str, Any]]]:
        events = []
        if self._open_kind != "text":
            events = self._open_block("text", {"type": "text", "text": ""})
        delta = {"type": "text_delta", "text": text}
        events.append(
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": self._open, "delta": delta},
            )
        )
        return events

    def _tool(self, call: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        events: list[tuple[str, dict[str, Any]]] = []
        tool_index = call.get("index", 0)
        fn = call.get("function") or {}
        if tool_index not in self._tool_blocks:
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": call.get("id"),
                "name": fn.get("name"),
                "input": {},
            }
            events = self._open_block("tool_use", block)
            assert self._open is not None
            self._tool_blocks[tool_index] = self._open
        fragment = fn.get("arguments")
        if fragment:
            delta = {"type": "input_json_delta", "partial_json": fragment}
            index = self._tool_blocks[tool_index]
            events.append(
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            )
        return events

    def feed(self, chunk: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """Translate one OpenAI chunk into zero or more ``(event name, data)`` pairs."""
        events = [] if self._started else self._start(chunk)
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue  # n > 1 has no Anthropic form; only the first choice is relayed
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if text:
                events.extend(self._text(text))
            if delta.get("refusal"):
                self._refusal = True
                events.extend(self._text(delta["refusal"]))
            for call in delta.get("tool_calls") or []:
                events.extend(self._tool(call))
            if isinstance(delta.get("function_call"), dict):
                legacy = {"index": 0, "id": "call_legacy", "function": delta["function_call"]}
                events.extend(self._tool(legacy))
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        return events

    def finish(self) -> list[tuple[str, dict[str, Any]]]:
        """End of the upstream stream: close the open block, report stop reason and usage."""
        if self._finished:
            return []
        self._finished = True
        events = [] if self._started else self._start({})
        events.extend(self._close())
        usage = openai_usage_to_anthropic(self._usage)
        stop = STOP_REASONS.get(self._finish, "end_turn")
        if self._refusal and stop == "end_turn":
            stop = "refusal"
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": usage,
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
        return events
