"""OpenAI chat-completions format: error bodies and request validation.

The gateway's internal request *is* the OpenAI chat-completions body as a dict, parsed once.
Validation checks the shape the rest of the pipeline relies on (classification walks every text
field, translation reads roles and tool calls) and fails with a message that names the field
path, in OpenAI's own error shape. It deliberately does not re-implement every provider limit:
unknown top-level fields pass through untouched for the upstream to judge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from bordergate.wire.errors import WireError

__all__ = [
    "DEFAULT_MAX_MESSAGES",
    "VALID_ROLES",
    "ChatRequest",
    "WireError",
    "error_body",
    "validate_chat_request",
]

DEFAULT_MAX_MESSAGES = 2048
VALID_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_USER_PARTS = frozenset({"text", "image_url", "input_audio", "file"})
_ASSISTANT_PARTS = frozenset({"text", "refusal"})
_TEXT_PARTS = frozenset({"text"})


def error_body(message: str, type: str, code: str | None = None, param: str | None = None) -> bytes:
    """Serialise an OpenAI error object, the shape every OpenAI SDK knows how to raise."""
    return orjson.dumps({"error": {"message": message, "type": type, "param": param, "code": code}})


@dataclass(slots=True)
class ChatRequest:
    """A validated chat request: the few facts the hot path needs, plus the body itself."""

    model: str
    stream: bool
    include_usage: bool
    body: dict[str, Any]
    # The client's own Anthropic Messages body when it came in that format (`body` is its
    # OpenAI-shaped translation): an Anthropic-format deployment is sent this one.
    original: dict[str, Any] | None = None


def _invalid(path: str, problem: str) -> WireError:
    return WireError(400, "invalid_request_error", f"{path}: {problem}", param=path)


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _require_str(obj: dict[str, Any], key: str, path: str, *, non_empty: bool = False) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise _invalid(f"{path}.{key}", f"expected a string, got {_type_name(value)}")
    if non_empty and not value:
        raise _invalid(f"{path}.{key}", "must not be empty")
    return value


def _check_parts(parts: list[Any], path: str, allowed: frozenset[str]) -> None:
    for j, part in enumerate(parts):
        ppath = f"{path}[{j}]"
        if not isinstance(part, dict):
            raise _invalid(ppath, f"expected a content part object, got {_type_name(part)}")
        kind = part.get("type")
        if kind not in allowed:
            raise _invalid(
                f"{ppath}.type",
                f"unsupported content part type {kind!r} here; expected one of "
                + ", ".join(sorted(allowed)),
            )
        if kind == "text":
            _require_str(part, "text", ppath)
        elif kind == "refusal":
            _require_str(part, "refusal", ppath)
        elif kind == "image_url":
            image = part.get("image_url")
            if not isinstance(image, dict):
                raise _invalid(f"{ppath}.image_url", "expected an object with a url")
            _require_str(image, "url", f"{ppath}.image_url", non_empty=True)
        elif kind == "input_audio":
            audio = part.get("input_audio")
            if not isinstance(audio, dict):
                raise _invalid(f"{ppath}.input_audio", "expected an object with data and format")
            _require_str(audio, "data", f"{ppath}.input_audio")
            _require_str(audio, "format", f"{ppath}.input_audio")
        elif kind == "file":
            file = part.get("file")
            if not isinstance(file, dict) or not (
                isinstance(file.get("file_data"), str) or isinstance(file.get("file_id"), str)
            ):
                raise _invalid(f"{ppath}.file", "expected an object with file_data or file_id")


def _check_content(content: object, path: str, allowed: frozenset[str], *, nullable: bool) -> None:
    if isinstance(content, str):
        return
    if content is None:
        if nullable:
            return
        raise _invalid(path, "must not be null")
    if not isinstance(content, list):
        raise _invalid(
            path, f"expected a string or an array of content parts, got {_type_name(content)}"
        )
    _check_parts(content, path, allowed)


def _check_tool_calls(calls: object, path: str) -> None:
    if not isinstance(calls, list):
        raise _invalid(path, f"expected an array, got {_type_name(calls)}")
    for j, call in enumerate(calls):
        cpath = f"{path}[{j}]"
        if not isinstance(call, dict):
            raise _invalid(cpath, f"expected an object, got {_type_name(call)}")
        _require_str(call, "id", cpath, non_empty=True)
        if call.get("type", "function") != "function":
            raise _invalid(f"{cpath}.type", "expected 'function'")
        function = call.get("function")
        if not isinstance(function, dict):
            raise _invalid(f"{cpath}.function", "expected an object with name and arguments")
        _require_str(function, "name", f"{cpath}.function", non_empty=True)
        _require_str(function, "arguments", f"{cpath}.function")


def _check_message(message: object, path: str) -> None:
    if not isinstance(message, dict):
        raise _invalid(path, f"expected a message object, got {_type_name(message)}")
    role = message.get("role")
    if role not in VALID_ROLES:
        raise _invalid(
            f"{path}.role",
            f"invalid role {role!r}; expected one of " + ", ".join(sorted(VALID_ROLES)),
        )
    cpath = f"{path}.content"
    if role in ("system", "developer"):
        _check_content(message.get("content"), cpath, _TEXT_PARTS, nullable=False)
    elif role == "user":
        _check_content(message.get("content"), cpath, _USER_PARTS, nullable=False)
    elif role == "assistant":
        has_calls = "tool_calls" in message and message["tool_calls"] is not None
        if has_calls:
            _check_tool_calls(message["tool_calls"], f"{path}.tool_calls")
        has_call = has_calls or isinstance(message.get("function_call"), dict)
        content = message.get("content")
        # An earlier answer given as audio, or as a refusal, has no content either.
        other = isinstance(message.get("audio"), dict) or isinstance(message.get("refusal"), str)
        if content is None and not has_call and not other:
            raise _invalid(
                cpath, "must not be null unless the message has tool_calls, audio or a refusal"
            )
        _check_content(content, cpath, _ASSISTANT_PARTS, nullable=True)
    elif role == "tool":
        _require_str(message, "tool_call_id", path, non_empty=True)
        _check_content(message.get("content"), cpath, _TEXT_PARTS, nullable=False)
    else:  # legacy "function" role
        _require_str(message, "name", path, non_empty=True)
        _check_content(message.get("content"), cpath, _TEXT_PARTS, nullable=True)


def _check_tools(tools: object) -> None:
    if not isinstance(tools, list):
        raise _invalid("tools", f"expected an array, got {_type_name(tools)}")
    for i, tool in enumerate(tools):
        path = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise _invalid(path, f"expected an object, got {_type_name(tool)}")
        kind = tool.get("type")
        if kind == "custom":
            custom = tool.get("custom")
            if not isinstance(custom, dict):
                raise _invalid(f"{path}.custom", "expected an object with a name")
            _require_str(custom, "name", f"{path}.custom", non_empty=True)
            continue
        if kind != "function":
            raise _invalid(f"{path}.type", f"unsupported tool type {kind!r}; expected 'function'")
        function = tool.get("function")
        if not isinstance(function, dict):
            raise _invalid(f"{path}.function", "expected an object with a name")
        _require_str(function, "name", f"{path}.function", non_empty=True)
        params = function.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise _invalid(f"{path}.function.parameters", "expected a JSON Schema object")


def _check_tool_choice(choice: object) -> None:
    if choice is None or choice in ("auto", "none", "required"):
        return
    if isinstance(choice, dict):
        kind = choice.get("type")
        function = choice.get("function")
        if kind == "function" and isinstance(function, dict):
            _require_str(function, "name", "tool_choice.function", non_empty=True)
            return
        if kind in ("allowed_tools", "custom"):
            return
    raise _invalid(
        "tool_choice", "expected 'auto', 'none', 'required' or {type: function, function: {name}}"
    )


def _check_numbers(body: dict[str, Any]) -> None:
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if value is not None and (not _is_int(value) or value < 1):
            raise _invalid(key, "expected a positive integer")
    n = body.get("n")
    if n is not None and (not _is_int(n) or not 1 <= n <= 128):
        raise _invalid("n", "expected an integer between 1 and 128")
    temperature = body.get("temperature")
    if temperature is not None and (not _is_number(temperature) or not 0 <= temperature <= 2):
        raise _invalid("temperature", "expected a number between 0 and 2")
    top_p = body.get("top_p")
    if top_p is not None and (not _is_number(top_p) or not 0 <= top_p <= 1):
        raise _invalid("top_p", "expected a number between 0 and 1")
    # How many stop sequences is the provider's call (OpenAI allows 4, Anthropic and vLLM more).
    stop = body.get("stop")
    if not (stop is None or isinstance(stop, str) or _strings(stop)):
        raise _invalid("stop", "expected a string or an array of strings")


#: Model names are short ids; a longer one is a mistake or an attempt to flood the audit log.
MAX_MODEL_NAME = 256


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(s, str) for s in value)


def validate_chat_request(body: object, *, max_messages: int = DEFAULT_MAX_MESSAGES) -> ChatRequest:
    """Check a parsed chat-completions body; return it with the facts the gateway needs.

    Raises :class:`WireError` (status 400, ``invalid_request_error``) naming the first
    offending field. ``max_messages`` bounds the work the classifier must do per request.
    """
    if not isinstance(body, dict):
        raise WireError(
            400, "invalid_request_error", "request body must be a JSON object", param=None
        )
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise _invalid("model", "expected a non-empty string naming the model")
    if len(model) > MAX_MODEL_NAME:  # it is echoed in errors and kept in the audit log
        raise _invalid("model", f"longer than {MAX_MODEL_NAME} characters")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise _invalid("messages", f"expected an array, got {_type_name(messages)}")
    if not messages:
        raise _invalid("messages", "must contain at least one message")
    if len(messages) > max_messages:
        raise _invalid("messages", f"too many messages ({len(messages)} > {max_messages})")
    for i, message in enumerate(messages):
        _check_message(message, f"messages[{i}]")

    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise _invalid("stream", f"expected a boolean, got {_type_name(stream)}")
    include_usage = False
    options = body.get("stream_options")
    if options is not None:
        if not isinstance(options, dict):
            raise _invalid("stream_options", f"expected an object, got {_type_name(options)}")
        flag = options.get("include_usage")
        if flag is not None and not isinstance(flag, bool):
            raise _invalid("stream_options.include_usage", "expected a boolean")
        include_usage = stream and flag is True
    _check_numbers(body)
    if body.get("tools") is not None:
        _check_tools(body["tools"])
    _check_tool_choice(body.get("tool_choice"))
    return ChatRequest(model=model, stream=stream, include_usage=include_usage, body=body)
