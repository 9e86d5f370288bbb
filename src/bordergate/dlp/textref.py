"""The shape of a request's texts: where each one is, what kind of value holds it, and how it
is scanned. Shared by the walk that finds the texts (`request`) and the views that read them
in other ways (`views`), so that neither depends on the other. Pure: no I/O.
"""

from __future__ import annotations

import base64
import json
from typing import Any, NamedTuple, Protocol

import orjson

from bordergate.dlp.types import Finding

Path = tuple[str | int, ...]

# What the string at `path` is, which decides how a replacement is written back:
TEXT = "text"  # a plain string
JSON = "json"  # a string holding JSON text (OpenAI tool-call arguments)
OBJECT = "object"  # a JSON value (Anthropic tool_use input), scanned as its compact JSON text
SEALED = "sealed"  # a string the provider needs verbatim (a URL it fetches, signed thinking)


class Scanner(Protocol):
    """Anything that finds spans in a text (the detectors' combined scanner, or one detector)."""

    def scan(self, text: str) -> list[Finding]: ...


class TextRef(NamedTuple):
    """One text of a request: where it is (`path` of keys and indices), what kind of value it
    is, and the text the detectors scan (for `OBJECT`, the value serialised as JSON).

    A NamedTuple rather than a frozen dataclass: one is built per text of every request, and
    tuple construction is several times cheaper."""

    path: Path
    kind: str
    text: str


def dump_object(value: Any) -> str:
    """The compact JSON text of a JSON value, non-ASCII kept as is (what `OBJECT` refs scan)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # e.g. lone surrogates, which orjson refuses; the stdlib keeps them
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


#: Where tool definitions and output schemas live (the first path element of their refs).
#: Tool descriptions are API
#: documentation, often with usage examples in code, which the generic `source_code` detector
#: would report in every agent's request (and a "code stays in-house" policy would reroute it),
#: so that one class is not reported for them; secrets, personal data, markings and the
#: organisation's own (fingerprinted) code are.
TOOL_ROOTS = frozenset(
    {"tools", "functions", "response_format", "output_format", "output_config", "tool_choice"}
    | {"guided_json", "structured_outputs"}
)
TOOL_EXEMPT_CLASSES = frozenset({"source_code"})


def is_text_media(media_type: str) -> bool:
    """Whether a media type is text a person or model reads (`text/*`, JSON, XML, YAML)."""
    kind = media_type.split(";", 1)[0].split(",", 1)[0].strip().lower()
    return kind.startswith("text/") or kind.endswith(("/json", "+json", "/xml", "+xml", "/yaml"))


def decoded_base64(data: str) -> str | None:
    """Base64 text content, decoded (None if it is not base64 of UTF-8)."""
    try:
        return base64.b64decode(data, validate=False).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
