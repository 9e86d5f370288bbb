"""Deterministic reply content and token usage, shared by both wire formats.

Everything here is a pure function of the request so that a test can predict the exact reply
and usage numbers without talking to the emulator:

* reply text: ``emulated reply from <model>: sha256=<digest_of(last user text)>``
  (or the text itself with the ``echo`` knob);
* tokens: ``estimate_tokens(s) = ceil(len(s) / 4)`` per text string, plus ``IMAGE_TOKENS``
  per image anywhere in the conversation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from bordergate.emulator.knobs import Knobs

IMAGE_TOKENS = 85  # what one low-detail image costs on the OpenAI price list
_OPENAI_IMAGE_TYPES = frozenset({"image_url"})
_ANTHROPIC_IMAGE_TYPES = frozenset({"image"})


def digest_of(text: str) -> str:
    """First 16 hex digits of SHA-256 over the UTF-8 text: the fingerprint put into replies."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def auth_fingerprint(secret: str) -> str:
    """How a presented credential is recorded: never the value, only this hash prefix."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:16]


def estimate_tokens(text: str) -> int:
    """Token count of one text string: ceil(characters / 4), 0 for the empty string."""
    return (len(text) + 3) // 4


def reply_text(model: str, text: str, knobs: Knobs) -> str:
    """The text the emulator answers with for a (knob-free) model name and user text."""
    body = text if knobs.echo else f"emulated reply from {model}: sha256={digest_of(text)}"
    if knobs.words:
        body += "".join(f" w{i}" for i in range(1, knobs.words + 1))
    return body


@dataclass(frozen=True, slots=True)
class Prompt:
    """What the emulator needs from the request messages."""

    last_user_text: str
    input_tokens: int
    images: int
    # The turn being answered returns tool results: the reply is text, so agent loops end.
    answers_tool_result: bool = False


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call in the reply; ``arguments`` is the JSON text of the argument object."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Reply:
    """The planned answer: either text or tool calls, with its output token count."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    output_tokens: int


def _scan_openai_content(content: object, texts: list[str]) -> int:
    """Collect text parts of one OpenAI message content; return its image count."""
    if isinstance(content, str):
        texts.append(content)
        return 0
    images = 0
    if isinstance(content, list):
        for part in content:
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind in _OPENAI_IMAGE_TYPES:
                images += 1
    return images


def openai_prompt(messages: list[object]) -> Prompt:
    """Usage and the text being answered of an OpenAI ``messages`` list.

    That text is the last ``user`` message, or the final message when it is a ``tool`` result.
    """
    after_tool = False
    total_tokens = 0
    total_images = 0
    last_user = ""
    for message in messages:
        if not isinstance(message, dict):
            continue
        texts: list[str] = []
        total_images += _scan_openai_content(message.get("content"), texts)
        total_tokens += sum(estimate_tokens(t) for t in texts)
        if message.get("role") == "user":
            last_user = "\n".join(texts)
        elif message.get("role") == "tool" and message is messages[-1]:
            last_user = "\n".join(texts)
            after_tool = True
    return Prompt(last_user, total_tokens + IMAGE_TOKENS * total_images, total_images, after_tool)


def _scan_anthropic_content(content: object, texts: list[str]) -> int:
    """Collect text of one Anthropic content (string or blocks, incl. tool_result); count images."""
    if isinstance(content, str):
        texts.append(content)
        return 0
    images = 0
    if isinstance(content, list):
        for block in content:
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "text" and isinstance(block.get("text"), str):
                texts.append(block["text"])
            elif kind in _ANTHROPIC_IMAGE_TYPES:
                images += 1
            elif kind == "tool_result":
                images += _scan_anthropic_content(block.get("content"), texts)
    return images


def anthropic_prompt(system: object, messages: list[object]) -> Prompt:
    """Usage and last user text of an Anthropic request (``system`` counts towards input)."""
    after_tool = False
    system_texts: list[str] = []
    total_images = _scan_anthropic_content(system, system_texts)
    total_tokens = sum(estimate_tokens(t) for t in system_texts)
    last_user = ""
    for message in messages:
        if not isinstance(message, dict):
            continue
        texts: list[str] = []
        total_images += _scan_anthropic_content(message.get("content"), texts)
        total_tokens += sum(estimate_tokens(t) for t in texts)
        if message.get("role") == "user":
            last_user = "\n".join(texts)
            content = message.get("content")
            after_tool = isinstance(content, list) and any(
                isinstance(b, dict) and b.get("type") == "tool_result" for b in content
            )
    return Prompt(last_user, total_tokens + IMAGE_TOKENS * total_images, total_images, after_tool)


def tool_names(knobs: Knobs, declared: Iterable[str]) -> list[str]:
    """Names of the tool calls to make.

    ``tool=a,b`` names the calls; ``tools=N`` sets how many (names cycle). Without ``tool``, the
    names come from the tools the request declared, in order, else ``tool_1 .. tool_N``.
    """
    names = list(knobs.tool) or list(declared)
    count = max(knobs.tools, len(knobs.tool), 1)
    if not names:
        return [f"tool_{i}" for i in range(1, count + 1)]
    return [names[i % len(names)] for i in range(count)]


_MAX_ITEMS = 64  # a larger `minItems` is refused rather than answered with a huge reply


def instance_of(schema: Any, filler: str, depth: int = 0, root: Any = None) -> Any:
    """A small value that satisfies a JSON Schema (for structured-output replies).

    Strings carry `filler` (the reply text), so a test can still see what the provider got.
    Covers the common shapes: objects (every property), arrays (`minItems` items, at least
    one), scalars, enums and consts, and local references (`#/$defs/...`, as pydantic writes
    nested models); `anyOf` / `oneOf` / `allOf` take their first alternative, and a type list
    its first type other than `null`.
    """
    root = schema if root is None else root
    if depth > 32 or not isinstance(schema, dict):
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return instance_of(_resolve(root, ref), filler, depth + 1, root)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return instance_of(options[0], filler, depth + 1, root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties")
        if not isinstance(props, dict):
            return {}
        return {name: instance_of(sub, filler, depth + 1, root) for name, sub in props.items()}
    if kind == "array":
        least = schema.get("minItems")
        count = min(least, _MAX_ITEMS) if isinstance(least, int) and least > 0 else 1
        return [instance_of(schema.get("items"), filler, depth + 1, root) for _ in range(count)]
    return {"string": filler, "integer": 0, "number": 0, "boolean": False}.get(str(kind))


def _resolve(root: Any, ref: str) -> Any:
    """The schema a local JSON pointer (`#/$defs/Step`) names, or None."""
    if not ref.startswith("#"):
        return None
    node = root
    for part in ref[1:].split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def plan_reply(
    model: str,
    text: str,
    knobs: Knobs,
    declared_tools: Iterable[str],
    id_prefix: str,
    answers_tool_result: bool = False,
    schema: dict[str, Any] | None = None,
) -> Reply:
    """Decide the reply for a request: text, or tool calls with ``{"text", "index"}`` arguments.

    A turn that returns tool results always gets text, so a client's tool loop terminates.
    With a structured-output `schema`, the text is a JSON value that satisfies it.
    """
    if answers_tool_result or not knobs.wants_tools:
        body = reply_text(model, text, knobs)
        if schema is not None:
            body = orjson.dumps(instance_of(schema, body)).decode()
        return Reply(body, (), estimate_tokens(body))
    digest = digest_of(text)
    calls = []
    for index, name in enumerate(tool_names(knobs, declared_tools)):
        arguments = orjson.dumps({"text": text, "index": index}).decode()
        calls.append(ToolCall(f"{id_prefix}{digest}{index:02d}", name, arguments))
    tokens = sum(estimate_tokens(c.name) + estimate_tokens(c.arguments) for c in calls)
    return Reply("", tuple(calls), tokens)


def split_even(text: str, parts: int) -> list[str]:
    """Cut text into exactly ``parts`` consecutive pieces of near-equal length (some may be "")."""
    size = len(text)
    return [text[i * size // parts : (i + 1) * size // parts] for i in range(parts)]
