"""OpenAI chat-completions <-> Anthropic Messages, for requests sent *to* an Anthropic upstream.

The gateway speaks OpenAI internally. When the chosen deployment is an Anthropic model (on
Anthropic's API, or Bedrock/Vertex in Messages format), the request is rewritten here, and the
response — whole or streamed — is rewritten back so that the client never sees the difference.
Everything is a pure function of its input, so the translation can be tested exhaustively
without a network.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from bordergate.wire.errors import WireError
from bordergate.wire.sse import SSEEvent

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "AnthropicStreamToOpenAI",
    "StreamError",
    "anthropic_error_to_openai",
    "anthropic_response_to_openai",
    "anthropic_usage_to_openai",
    "openai_request_to_anthropic",
]

#: Anthropic requires ``max_tokens``; OpenAI clients often omit it.
DEFAULT_MAX_TOKENS = 4096

FINISH_REASONS: dict[str | None, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    # A server-side tool loop paused; the turn is over for this response, so "stop" tells
    # the client it may continue the conversation.
    "pause_turn": "stop",
    None: "stop",
}

_DEFAULT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


def _bad(path: str, problem: str) -> WireError:
    return WireError(400, "invalid_request_error", f"{path}: {problem}", param=path)


# --------------------------------------------------------------------------- request


def _data_url(url: str, path: str) -> tuple[str, str]:
    """Split ``data:<media>;base64,<payload>`` into (media type, payload)."""
    header, sep, payload = url.partition(",")
    if not sep or not header.endswith(";base64"):
        raise _bad(path, "data URLs must be base64 encoded (data:<type>;base64,<data>)")
    media = header[5:-7] or "application/octet-stream"
    return media, payload


def _image_block(part: dict[str, Any], path: str) -> dict[str, Any]:
    url = part["image_url"]["url"] if isinstance(part.get("image_url"), dict) else None
    if not isinstance(url, str) or not url:
        raise _bad(f"{path}.image_url.url", "expected a URL")
    if url.startswith("data:"):
        media, data = _data_url(url, f"{path}.image_url.url")
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise _bad(f"{path}.image_url.url", "expected an https:// or data: URL")


def _file_block(part: dict[str, Any], path: str) -> dict[str, Any]:
    file = part.get("file") or {}
    data = file.get("file_data")
    if not isinstance(data, str):
        raise _bad(f"{path}.file", "only inline file_data is supported for this model")
    if data.startswith("data:"):
        media, payload = _data_url(data, f"{path}.file.file_data")
    else:  # bare base64, as some SDKs send it; PDF is the only binary type Anthropic reads
        media, payload = "application/pdf", data
    if media != "application/pdf":
        raise _bad(f"{path}.file", f"file type {media} is not supported for this model")
    block: dict[str, Any] = {
        "type": "document",
        "source": {"type": "base64", "media_type": media, "data": payload},
    }
    if isinstance(file.get("filename"), str):
        block["title"] = file["filename"]
    return block


def _text_block(text: str, part: dict[str, Any] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": text}
    if part is not None and isinstance(part.get("cache_control"), dict):
        # Not OpenAI, but widely sent by clients that target Anthropic through gateways.
        block["cache_control"] = part["cache_control"]
    return block


def _content_blocks(content: Any, path: str) -> list[dict[str, Any]]:
    """Translate OpenAI content (string, parts or null) into Anthropic content blocks."""
    if content is None:
        return []
    if isinstance(content, str):
        return [_text_block(content)] if content else []
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        ppath = f"{path}[{j}]"
        kind = part.get("type")
        if kind == "text":
            if part.get("text"):
                blocks.append(_text_block(part["text"], part))
        elif kind == "refusal":
            if part.get("refusal"):
                blocks.append(_text_block(part["refusal"]))
        elif kind == "image_url":
            blocks.append(_image_block(part, ppath))
        elif kind == "file":
            blocks.append(_file_block(part, ppath))
        elif kind == "input_audio":
            raise _bad(ppath, "audio input is not supported for this model")
        else:
            raise _bad(f"{ppath}.type", f"unsupported content part type {kind!r}")
    return blocks


def _tool_input(arguments: Any, path: str) -> dict[str, Any]:
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    if isinstance(arguments, dict):
        return arguments
    try:
        value = orjson.loads(arguments)
    except (orjson.JSONDecodeError, TypeError):
        raise _bad(path, "tool call arguments must be a JSON object") from None
    if not isinstance(value, dict):
        raise _bad(path, "tool call arguments must be a JSON object")
    return value


def _tool_result_content(content: Any, path: str) -> str | list[dict[str, Any]]:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return _content_blocks(content, path)


def _system_text(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [_text_block(content)] if content else []
    return [_text_block(p["text"], p) for p in content or [] if p.get("text")]


def _convert_messages(
    messages: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[tuple[str, list[dict[str, Any]]]]]:
    system: list[dict[str, Any]] = []
    turns: list[tuple[str, list[dict[str, Any]]]] = []
    legacy_ids: dict[str, list[str]] = {}  # function name -> unanswered synthetic call ids
    legacy_count = 0
    for i, msg in enumerate(messages):
        role = msg.get("role")
        path = f"messages[{i}]"
        if role in ("system", "developer"):
            system.extend(_system_text(msg.get("content")))
        elif role == "user":
            turns.append(("user", _content_blocks(msg.get("content"), f"{path}.content")))
        elif role == "assistant":
            blocks = _content_blocks(msg.get("content"), f"{path}.content")
            if not blocks and isinstance(msg.get("refusal"), str) and msg["refusal"]:
                blocks.append(_text_block(msg["refusal"]))  # an earlier refusal, as said
            for j, call in enumerate(msg.get("tool_calls") or []):
                fn = call.get("function") or {}
                cpath = f"{path}.tool_calls[{j}].function.arguments"
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call.get("id"),
                        "name": fn.get("name"),
                        "input": _tool_input(fn.get("arguments"), cpath),
                    }
                )
            legacy = msg.get("function_call")
            if isinstance(legacy, dict) and legacy.get("name"):
                legacy_count += 1
                call_id = f"call_legacy_{legacy_count}"
                legacy_ids.setdefault(legacy["name"], []).append(call_id)
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call_id,
                        "name": legacy["name"],
                        "input": _tool_input(legacy.get("arguments"), f"{path}.function_call"),
                    }
                )
            turns.append(("assistant", blocks))
        elif role == "tool":
            result = {
                "type": "tool_result",
                "tool_use_id": msg.get("tool_call_id"),
                "content": _tool_result_content(msg.get("content"), f"{path}.content"),
            }
            turns.append(("user", [result]))
        elif role == "function":
            pending = legacy_ids.get(msg.get("name", ""), [])
            if not pending:
                raise _bad(f"{path}.name", "no earlier function_call with this name")
            result = {
                "type": "tool_result",
                "tool_use_id": pending.pop(0),
                "content": _tool_result_content(msg.get("content"), f"{path}.content"),
            }
            turns.append(("user", [result]))
        else:
            raise _bad(f"{path}.role", f"invalid role {role!r}")
    return system, turns


def _merge_turns(turns: list[tuple[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """Merge consecutive same-role turns: Anthropic requires user/assistant alternation.

    Parallel tool results (several OpenAI ``tool`` messages in a row) thereby become one user
    turn holding every ``tool_result`` block, which is exactly what Anthropic expects; a user
    message that follows them joins the same turn, after the results.
    """
    merged: list[dict[str, Any]] = []
    for role, blocks in turns:
        if not blocks:
            continue  # empty content is rejected upstream and carries nothing
        if merged and merged[-1]["role"] == role:
            merged[-1]["content"].extend(blocks)
        else:
            merged.append({"role": role, "content": list(blocks)})
    if merged and merged[-1]["role"] == "assistant":
        # A final assistant turn is a prefill, and Anthropic rejects trailing whitespace there.
        last = merged[-1]["content"][-1]
        if last["type"] == "text":
            last["text"] = last["text"].rstrip()
            if not last["text"]:
                merged[-1]["content"].pop()
                if not merged[-1]["content"]:
                    merged.pop()
    for message in merged:
        content = message["content"]
        if len(content) == 1 and content[0]["type"] == "text" and len(content[0]) == 2:
            message["content"] = content[0]["text"]
    return merged


def _convert_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        if tool.get("type", "function") != "function":
            raise _bad(f"tools[{i}].type", f"tool type {tool.get('type')!r} is not supported")
        fn = tool.get("function") or {}
        converted: dict[str, Any] = {
            "name": fn.get("name"),
            "input_schema": fn.get("parameters") or _DEFAULT_SCHEMA,
        }
        if fn.get("description"):
            converted["description"] = fn["description"]
        out.append(converted)
    return out


def _convert_tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    result: dict[str, Any] | None
    if choice is None or choice == "auto":
        result = {"type": "auto"}
    elif choice == "none":
        return {"type": "none"}
    elif choice == "required":
        result = {"type": "any"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        result = {"type": "tool", "name": choice["function"].get("name")}
    elif isinstance(choice, dict) and "name" in choice:  # legacy function_call={"name": ...}
        result = {"type": "tool", "name": choice["name"]}
    else:
        raise _bad("tool_choice", f"unsupported tool_choice {choice!r} for this model")
    if parallel is False:
        result["disable_parallel_tool_use"] = True
    elif choice is None:
        return None  # nothing to say beyond Anthropic's default
    return result


def _output_format(response_format: Any) -> dict[str, Any] | None:
    """OpenAI `response_format` -> Anthropic `output_config.format`, or None for plain text.

    A JSON schema carries over (Anthropic constrains the answer to it, as OpenAI's strict mode
    does). `json_object` has no Anthropic counterpart without a schema; OpenAI requires the
    prompt to ask for JSON in that mode anyway, so the request goes on as plain text.
    """
    if response_format is None:
        return None
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind in ("text", "json_object"):
        return None
    if kind != "json_schema":
        raise _bad("response_format.type", f"unsupported response_format type {kind!r}")
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if not isinstance(schema, dict):
        raise _bad("response_format.json_schema.schema", "expected a JSON Schema object")
    return {"type": "json_schema", "schema": schema}


def openai_request_to_anthropic(
    body: dict[str, Any], upstream_model: str, *, default_max_tokens: int = DEFAULT_MAX_TOKENS
) -> dict[str, Any]:
    """Rewrite a (validated) OpenAI chat body as an Anthropic Messages body.

    Fields without an Anthropic equivalent are dropped on purpose (listed in docs/wire.md);
    fields whose meaning cannot be preserved (``n > 1``, audio input, custom tools) raise
    :class:`WireError` rather than silently returning something the client did not ask for.
    A JSON-schema ``response_format`` becomes Anthropic's ``output_config.format``.
    """
    n = body.get("n")
    if n is not None and n != 1:
        raise _bad("n", "only n=1 is supported for this model")
    modalities = body.get("modalities")
    if isinstance(modalities, list) and "audio" in modalities:
        raise _bad("modalities", "audio output is not supported for this model")
    if body.get("web_search_options") is not None:
        raise _bad("web_search_options", "web search is not supported for this model")
    system, turns = _convert_messages(body["messages"])
    out: dict[str, Any] = {
        "model": upstream_model,
        "messages": _merge_turns(turns),
        "max_tokens": body.get("max_completion_tokens")
        or body.get("max_tokens")
        or default_max_tokens,
    }
    if system:
        plain = all(len(block) == 2 for block in system)
        out["system"] = "\n\n".join(b["text"] for b in system) if plain else system
    temperature = body.get("temperature")
    if temperature is not None:
        out["temperature"] = min(float(temperature), 1.0)  # OpenAI allows up to 2
    if body.get("top_p") is not None and temperature is None:
        # Current Claude models refuse both at once ("temperature and top_p cannot both be
        # specified"), and OpenAI clients often send both: temperature, the common knob, wins.
        out["top_p"] = body["top_p"]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("stream"):
        out["stream"] = True
    user = body.get("safety_identifier") or body.get("user")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    output_format = _output_format(body.get("response_format"))
    if output_format is not None:
        out["output_config"] = {"format": output_format}
    tools = body.get("tools")
    if tools is None and body.get("functions"):
        tools = [{"type": "function", "function": f} for f in body["functions"]]
    if tools:
        out["tools"] = _convert_tools(tools)
        choice = body.get("tool_choice", body.get("function_call"))
        converted = _convert_tool_choice(choice, body.get("parallel_tool_calls"))
        if converted is not None:
            out["tool_choice"] = converted
    return out


# --------------------------------------------------------------------------- response


def anthropic_usage_to_openai(usage: dict[str, Any] | None) -> dict[str, Any]:
    """Anthropic usage -> OpenAI usage.

    Anthropic counts cache reads and cache writes apart from ``input_tokens``; OpenAI's
    ``prompt_tokens`` includes cached tokens, so all three are summed and the cache read
    count is reported as ``prompt_tokens_details.cached_tokens``.
    """
    usage = usage or {}
    fresh = usage.get("input_tokens") or 0
    read = usage.get("cache_read_input_tokens") or 0
    written = usage.get("cache_creation_input_tokens") or 0
    completion = usage.get("output_tokens") or 0
    prompt = fresh + read + written
    details: dict[str, Any] = {"cached_tokens": read}
    if written:
        details["cache_write_tokens"] = written
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": details,
    }


def _tool_call(block: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": block.get("id"),
        "type": "function",
        "function": {
            "name": block.get("name"),
            "arguments": orjson.dumps(block.get("input") or {}).decode(),
        },
    }


def anthropic_response_to_openai(
    resp: dict[str, Any], model: str, *, created: int | None = None
) -> dict[str, Any]:
    """Rewrite an Anthropic Message as an OpenAI ``chat.completion``.

    ``model`` is the name the client asked for, so the client sees its own alias back. Text
    blocks are concatenated; thinking and server-tool blocks are not representable in OpenAI
    chat and are dropped.
    """
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in resp.get("content") or []:
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "tool_use":
            calls.append(_tool_call(block))
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
        "refusal": None,
    }
    if calls:
        message["tool_calls"] = calls
    return {
        "id": resp.get("id") or "chatcmpl-anthropic",
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": FINISH_REASONS.get(resp.get("stop_reason"), "stop"),
            }
        ],
        "usage": anthropic_usage_to_openai(resp.get("usage")),
        "system_fingerprint": None,
    }


# --------------------------------------------------------------------------- errors

# Anthropic error type -> (OpenAI error type, OpenAI error code)
_ERROR_TYPES: dict[str, tuple[str, str | None]] = {
    "invalid_request_error": ("invalid_request_error", None),
    "authentication_error": ("authentication_error", "invalid_api_key"),
    "permission_error": ("permission_error", None),
    "not_found_error": ("not_found_error", None),
    "request_too_large": ("invalid_request_error", "request_too_large"),
    "rate_limit_error": ("rate_limit_error", "rate_limit_exceeded"),
    "billing_error": ("insufficient_quota", "insufficient_quota"),
    "api_error": ("server_error", None),
    "overloaded_error": ("server_error", "overloaded"),
    "timeout_error": ("server_error", "timeout"),
}

_STATUS_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def _status_type(status: int) -> str:
    return _STATUS_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def anthropic_error_to_openai(status: int, body: bytes | dict[str, Any]) -> dict[str, Any]:
    """Rewrite an Anthropic error response as an OpenAI error object.

    Bodies that are not Anthropic JSON (an HTML page from a proxy, an empty body) still yield a
    well-formed error, typed from the HTTP status.
    """
    parsed: Any = body
    if isinstance(body, bytes | bytearray):
        try:
            parsed = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            text = body[:500].decode("utf-8", "replace").strip()
            parsed = {"error": {"message": text}}
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        error = {}
    raw_type = error.get("type")
    kind: str = raw_type if isinstance(raw_type, str) else _status_type(status)
    raw_message = error.get("message")
    message = raw_message if isinstance(raw_message, str) else ""
    openai_type, code = _ERROR_TYPES.get(kind, ("server_error" if status >= 500 else kind, None))
    return {
        "error": {
            "message": message or f"upstream error (HTTP {status}, {kind})",
            "type": openai_type,
            "param": None,
            "code": code,
        }
    }


# --------------------------------------------------------------------------- streaming


def fold_stream_usage(payload: dict[str, Any], usage: dict[str, Any]) -> bool:
    """Fold the usage a parsed Anthropic stream event carries into `usage` (Anthropic's keys).

    `message_start` carries the input side (in `message.usage`); `message_delta` the output
    count and, from some providers, final input counts, where a zero means "not reported".
    Returns whether the event was one of these two.
    """
    kind = payload.get("type")
    if kind == "message_start":
        message = payload.get("message")
        found = message.get("usage") if isinstance(message, dict) else None
        if isinstance(found, dict):
            usage.update(found)
        return True
    if kind == "message_delta":
        found = payload.get("usage")
        if isinstance(found, dict):
            usage.update({k: v for k, v in found.items() if v})
        return True
    return False


class StreamError(Exception):
    """An ``error`` event inside an Anthropic stream (e.g. ``overloaded_error`` mid-response).

    The HTTP status is already 200 when this arrives, so the caller ends the client's stream
    with :meth:`openai_dict` as a final ``data:`` frame rather than an HTTP error.
    """

    def __init__(self, type: str, message: str) -> None:
        super().__init__(f"{type}: {message}")
        self.type = type
        self.message = message

    def openai_dict(self) -> dict[str, Any]:
        """The OpenAI error object for this stream error."""
        openai_type, code = _ERROR_TYPES.get(self.type, ("server_error", None))
        return {
            "error": {"message": self.message, "type": openai_type, "param": None, "code": code}
        }


class AnthropicStreamToOpenAI:
    """Turns Anthropic stream events into OpenAI ``chat.completion.chunk`` objects.

    One instance per response. Anthropic numbers content blocks across text and tool use
    (text at 0, tools at 1, 2, ...); OpenAI numbers tool calls among themselves, so tool
    blocks are renumbered 0..n-1 in order of appearance.
    """

    __slots__ = (
        "_blocks",
        "_created",
        "_empty",
        "_finish",
        "_id",
        "_include_usage",
        "_model",
        "_next_tool",
        "_usage",
        "done",
    )

    def __init__(self, model: str, include_usage: bool, *, created: int | None = None) -> None:
        self._model = model
        self._include_usage = include_usage
        self._created = int(time.time()) if created is None else created
        self._id = "chatcmpl-anthropic"
        self._usage: dict[str, Any] = {}
        self._blocks: dict[int, int | None] = {}  # block index -> tool index (None: text)
        self._empty: set[int] = set()  # tool blocks that have had no argument fragment yet
        self._next_tool = 0
        self._finish: str | None = None
        self.done = False  # message_stop seen: the response is complete

    @property
    def usage(self) -> dict[str, Any]:
        """Usage so far, in OpenAI shape (final once :attr:`done`)."""
        return anthropic_usage_to_openai(self._usage)

    @property
    def finish_reason(self) -> str | None:
        """The OpenAI finish reason, once ``message_delta`` has carried the stop reason."""
        return self._finish

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if self._include_usage:
            chunk["usage"] = None
        return chunk

    def feed(self, event: SSEEvent) -> list[dict[str, Any]]:
        """Translate one SSE event; return zero or more chunks. Raises :class:`StreamError`."""
        try:
            payload = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            raise StreamError("api_error", "upstream sent a malformed stream event") from None
        if not isinstance(payload, dict):
            raise StreamError("api_error", "upstream sent a malformed stream event")
        return self.feed_json(payload)

    def feed_json(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        """Translate one already-parsed Anthropic stream event."""
        kind = payload.get("type")
        if kind == "content_block_delta":  # by far the most frequent: test it first
            return self._delta(payload)
        if kind == "message_start":
            message = payload.get("message") or {}
            self._id = message.get("id") or self._id
            fold_stream_usage(payload, self._usage)
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            return self._block_start(payload)
        if kind == "message_delta":
            delta = payload.get("delta") or {}
            fold_stream_usage(payload, self._usage)
            self._finish = FINISH_REASONS.get(delta.get("stop_reason"), "stop")
            return [self._chunk({}, self._finish)]
        if kind == "message_stop":
            self.done = True
            if not self._include_usage:
                return []
            chunk = self._chunk({})
            chunk["choices"] = []
            chunk["usage"] = self.usage
            return [chunk]
        if kind == "content_block_stop":
            return self._block_stop(payload)
        if kind == "error":
            error = payload.get("error") or {}
            raise StreamError(
                str(error.get("type") or "api_error"), str(error.get("message") or "")
            )
        return []  # ping, and event types added after this was written

    def _block_stop(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        """A tool call that ended without arguments (Anthropic sends `{}` input as no fragment,
        or one empty one) gets `"{}"`, as OpenAI sends: `""` is not JSON, and agents parse it."""
        index = payload.get("index", 0)
        if index not in self._empty:
            return []
        self._empty.discard(index)
        call = {"index": self._blocks[index], "function": {"arguments": "{}"}}
        return [self._chunk({"tool_calls": [call]})]

    def _block_start(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        block = payload.get("content_block") or {}
        index = payload.get("index", 0)
        kind = block.get("type")
        if kind == "text":
            self._blocks[index] = None
            text = block.get("text")
            return [self._chunk({"content": text})] if text else []
        if kind == "tool_use":
            tool = self._next_tool
            self._next_tool += 1
            self._blocks[index] = tool
            self._empty.add(index)
            call = {
                "index": tool,
                "id": block.get("id"),
                "type": "function",
                "function": {"name": block.get("name"), "arguments": ""},
            }
            return [self._chunk({"tool_calls": [call]})]
        return []  # thinking, server tools: not representable, their deltas are skipped too

    def _delta(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        index = payload.get("index", 0)
        if index not in self._blocks:
            return []
        delta = payload.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            return [self._chunk({"content": text})] if text else []
        if kind == "input_json_delta":
            fragment = delta.get("partial_json")
            tool = self._blocks[index]
            if not fragment or tool is None:
                return []
            self._empty.discard(index)
            call = {"index": tool, "function": {"arguments": fragment}}
            return [self._chunk({"tool_calls": [call]})]
        return []
