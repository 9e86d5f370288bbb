"""Every text a chat request carries, located so that it can be scanned and rewritten.

Detectors see plain strings; this module knows where strings live in an OpenAI chat body or an
Anthropic messages body: system and developer prompts, every message's content (a string or
content parts / blocks), assistant tool-call arguments, tool results, document blocks, the
tool definitions (descriptions and parameter schemas, which leave with every request), and the
request's other free-form fields that go to the provider (`user`, `metadata`, stop sequences,
a structured-output schema, a predicted output). Each is
yielded as a `TextRef` whose `path` leads from the body's root to the value, which is what lets
`Redactor` replace exactly that value later. Image and document URLs (the provider fetches
them; a query string can carry a token or an e-mail address) and Anthropic `thinking` blocks
(the provider checks their signature) are scanned too, but must reach the provider unchanged:
they are `SEALED`, and a request that would need them rewritten cannot be redacted. So are
tool names and message `name`s, which calls must match and providers check the shape of.

Walking allocates nothing but the refs themselves: the no-findings path never copies the body.
"""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple, Protocol
from urllib.parse import unquote

import orjson

from bordergate.dlp.types import Finding

Path = tuple[str | int, ...]

# What the string at `path` is, which decides how a replacement is written back:
TEXT = "text"  # a plain string
JSON = "json"  # a string holding JSON text (OpenAI tool-call arguments)
OBJECT = "object"  # a JSON value (Anthropic tool_use input), scanned as its compact JSON text
SEALED = "sealed"  # a string the provider needs verbatim (a URL it fetches, signed thinking)

FORMATS = ("openai", "anthropic")


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


def iter_texts(body: dict[str, Any], fmt: str = "openai") -> Iterator[TextRef]:
    """Yield every non-empty text in a request body of format `fmt` ("openai" or "anthropic")."""
    if fmt == "openai":
        return _openai(body)
    if fmt == "anthropic":
        return _anthropic(body)
    raise ValueError(f"unknown request format {fmt!r}; expected one of {FORMATS}")


def _text(path: Path, value: Any, kind: str = TEXT) -> Iterator[TextRef]:
    if isinstance(value, str) and value:
        yield TextRef(path, kind, value)


def _url(path: Path, value: Any) -> Iterator[TextRef]:
    """A URL the provider will fetch; `data:` URLs are inline files, not text, and skipped.

    Its text is percent-decoded (`%40` hides the `@` of an e-mail address in a query string);
    the value itself is never rewritten, so the offsets need not map back.
    """
    if isinstance(value, str) and value[:4].lower() == "http":
        yield TextRef(path, SEALED, unquote(value) if "%" in value else value)


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


def _schema(path: Path, value: Any) -> Iterator[TextRef]:
    """A tool's parameter schema (descriptions, enums, defaults), scanned as its compact JSON."""
    if isinstance(value, dict) and value:
        yield TextRef(path, OBJECT, dump_object(value))


def _function(base: Path, fn: Any, schema_key: str) -> Iterator[TextRef]:
    """One tool's name, description and parameter schema (`parameters` or `input_schema`)."""
    if isinstance(fn, dict):
        yield from _text((*base, "name"), fn.get("name"), SEALED)
        yield from _text((*base, "description"), fn.get("description"))
        yield from _schema((*base, schema_key), fn.get(schema_key))


def _openai_tools(body: dict[str, Any]) -> Iterator[TextRef]:
    tools = body.get("tools")
    if isinstance(tools, list):
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict):
                continue
            yield from _function(("tools", i, "function"), tool.get("function"), "parameters")
            # A free-form tool: a name and a grammar (whatever `type` claims, both are read).
            yield from _function(("tools", i, "custom"), tool.get("custom"), "format")
    legacy = body.get("functions")
    if isinstance(legacy, list):
        for i, fn in enumerate(legacy):
            yield from _function(("functions", i), fn, "parameters")


def _anthropic_tools(body: dict[str, Any]) -> Iterator[TextRef]:
    tools = body.get("tools")
    if isinstance(tools, list):
        for i, tool in enumerate(tools):
            yield from _function(("tools", i), tool, "input_schema")


# Top-level fields besides messages and tools that carry free text to the provider.
_OPENAI_EXTRAS = frozenset(
    {
        "user",
        "safety_identifier",
        "prompt_cache_key",
        "metadata",
        "stop",
        "response_format",
        "prediction",  # a predicted output (OpenAI's speculative decoding)
        "guided_json",  # vLLM's structured outputs: schemas, like `response_format`
        "structured_outputs",
    }
)
# A message with only these keys has no text besides its string content.
_PLAIN_MESSAGE = frozenset({"role", "content"})
_ANTHROPIC_EXTRAS = frozenset({"metadata", "stop_sequences", "output_format", "output_config"})


def _object(path: Path, value: Any) -> Iterator[TextRef]:
    """A JSON object or array scanned (and, if need be, rewritten) as its compact JSON text."""
    if isinstance(value, dict | list) and value:
        yield TextRef(path, OBJECT, dump_object(value))


def _texts(path: Path, value: Any) -> Iterator[TextRef]:
    """A string, or each string of a list (stop sequences)."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _text((*path, i), item)
    else:
        yield from _text(path, value)


def _openai_extras(body: dict[str, Any]) -> Iterator[TextRef]:
    for key in ("user", "safety_identifier", "prompt_cache_key"):
        yield from _text((key,), body.get(key))
    yield from _texts(("stop",), body.get("stop"))
    yield from _object(("metadata",), body.get("metadata"))
    yield from _object(("response_format",), body.get("response_format"))
    for key in ("guided_json", "structured_outputs"):
        yield from _object((key,), body.get(key))
    prediction = body.get("prediction")
    if isinstance(prediction, dict):
        content = prediction.get("content")
        if isinstance(content, list):
            for j, part in enumerate(content):
                if isinstance(part, dict):
                    yield from _text(("prediction", "content", j, "text"), part.get("text"))
        else:
            yield from _text(("prediction", "content"), content)


def _anthropic_extras(body: dict[str, Any]) -> Iterator[TextRef]:
    yield from _texts(("stop_sequences",), body.get("stop_sequences"))
    yield from _object(("metadata",), body.get("metadata"))
    yield from _object(("output_format",), body.get("output_format"))
    yield from _object(("output_config",), body.get("output_config"))


def _file(path: Path, file: dict[str, Any]) -> Iterator[TextRef]:
    """An OpenAI file part: its name, and its content when it is text."""
    yield from _text((*path, "filename"), file.get("filename"), SEALED)
    data = file.get("file_data")
    if isinstance(data, str) and _is_text_media(data[5:] if data[:5] == "data:" else ""):
        yield from _text((*path, "file_data"), _decoded_base64(data.partition(",")[2]), SEALED)


def _is_text_media(media_type: str) -> bool:
    """Whether a media type is text a person or model reads (`text/*`, JSON, XML, YAML)."""
    kind = media_type.split(";", 1)[0].split(",", 1)[0].strip().lower()
    return kind.startswith("text/") or kind.endswith(("/json", "+json", "/xml", "+xml", "/yaml"))


def _decoded_base64(data: str) -> str | None:
    """Base64 text content, decoded (None if it is not base64 of UTF-8)."""
    try:
        return base64.b64decode(data, validate=False).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


def _openai(body: dict[str, Any]) -> Iterator[TextRef]:
    if "tools" in body or "functions" in body:
        yield from _openai_tools(body)
    if not _OPENAI_EXTRAS.isdisjoint(body):
        yield from _openai_extras(body)
    messages = body.get("messages")
    if not isinstance(messages, list):
        return
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            continue
        content = msg.get("content")
        if isinstance(content, str):  # the common case, kept free of helper generators
            if content:
                yield TextRef(("messages", i, "content"), TEXT, content)
            if _PLAIN_MESSAGE.issuperset(msg):  # nothing but role and text: the common case
                continue
        base: Path = ("messages", i)
        if isinstance(content, list):
            for j, part in enumerate(content):
                if isinstance(part, dict):
                    yield from _text((*base, "content", j, "text"), part.get("text"))
                    yield from _text((*base, "content", j, "refusal"), part.get("refusal"))
                    image = part.get("image_url")
                    if isinstance(image, dict):
                        yield from _url((*base, "content", j, "image_url", "url"), image.get("url"))
                    file = part.get("file")
                    if isinstance(file, dict):
                        yield from _file((*base, "content", j, "file"), file)
        yield from _text((*base, "refusal"), msg.get("refusal"))
        yield from _text((*base, "tool_call_id"), msg.get("tool_call_id"), SEALED)
        # DeepSeek's and Qwen's reasoning, which some clients send back with the history.
        yield from _text((*base, "reasoning_content"), msg.get("reasoning_content"))
        yield from _text((*base, "reasoning"), msg.get("reasoning"))  # OpenRouter's name
        yield from _text((*base, "name"), msg.get("name"), SEALED)
        calls = msg.get("tool_calls")
        if isinstance(calls, list):
            for j, call in enumerate(calls):
                fn = call.get("function") if isinstance(call, dict) else None
                if isinstance(call, dict):
                    yield from _text((*base, "tool_calls", j, "id"), call.get("id"), SEALED)
                if isinstance(fn, dict):
                    yield from _text(
                        (*base, "tool_calls", j, "function", "name"), fn.get("name"), SEALED
                    )
                    path = (*base, "tool_calls", j, "function", "arguments")
                    yield from _text(path, fn.get("arguments"), JSON)
        legacy = msg.get("function_call")
        if isinstance(legacy, dict):
            yield from _text((*base, "function_call", "name"), legacy.get("name"), SEALED)
            yield from _text((*base, "function_call", "arguments"), legacy.get("arguments"), JSON)


def _anthropic(body: dict[str, Any]) -> Iterator[TextRef]:
    if "tools" in body:
        yield from _anthropic_tools(body)
    if not _ANTHROPIC_EXTRAS.isdisjoint(body):
        yield from _anthropic_extras(body)
    system = body.get("system")
    if isinstance(system, str):
        yield from _text(("system",), system)
    elif isinstance(system, list):
        yield from _blocks(("system",), system)
    messages = body.get("messages")
    if not isinstance(messages, list):
        return
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            continue
        content = msg.get("content")
        if isinstance(content, str):
            if content:
                yield TextRef(("messages", i, "content"), TEXT, content)
        elif isinstance(content, list):
            yield from _blocks(("messages", i, "content"), content)


def _blocks(base: Path, blocks: list[Any]) -> Iterator[TextRef]:
    for j, block in enumerate(blocks):
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "tool_use":
            yield from _text((*base, j, "id"), block.get("id"), SEALED)
            yield from _text((*base, j, "name"), block.get("name"), SEALED)
            value = block.get("input")
            if isinstance(value, str):
                yield from _text((*base, j, "input"), value, JSON)
            elif value is not None:
                text = dump_object(value)
                if text not in ("{}", "[]", "null"):
                    yield TextRef((*base, j, "input"), OBJECT, text)
        elif kind == "tool_result":
            yield from _text((*base, j, "tool_use_id"), block.get("tool_use_id"), SEALED)
            content = block.get("content")
            if isinstance(content, str):
                yield from _text((*base, j, "content"), content)
            elif isinstance(content, list):
                yield from _blocks((*base, j, "content"), content)
        elif kind in ("document", "image"):
            source = block.get("source")
            if isinstance(source, dict):
                if source.get("type") == "text":
                    yield from _text((*base, j, "source", "data"), source.get("data"))
                elif source.get("type") == "url":
                    yield from _url((*base, j, "source", "url"), source.get("url"))
                elif source.get("type") == "base64" and _is_text_media(
                    str(source.get("media_type", ""))
                ):
                    data = _decoded_base64(str(source.get("data", "")))
                    yield from _text((*base, j, "source", "data"), data, SEALED)
            yield from _text((*base, j, "context"), block.get("context"))
            yield from _text((*base, j, "title"), block.get("title"))
        elif kind == "thinking":
            yield from _text((*base, j, "thinking"), block.get("thinking"), SEALED)
        else:
            yield from _text((*base, j, "text"), block.get("text"))
            citations = block.get("citations")
            if isinstance(citations, list):  # quotes of earlier documents, sent back
                for k, cite in enumerate(citations):
                    if isinstance(cite, dict):
                        path = (*base, j, "citations", k)
                        yield from _text((*path, "cited_text"), cite.get("cited_text"))
                        yield from _text((*path, "document_title"), cite.get("document_title"))


class RequestFindings:
    """Findings over a whole request, each with the text it was found in, plus every text that
    was scanned (`texts`), so redaction can also replace a known value where no rule fired."""

    __slots__ = ("items", "texts")

    def __init__(
        self,
        items: list[tuple[TextRef, Finding]] | None = None,
        texts: list[TextRef] | None = None,
    ) -> None:
        self.items: list[tuple[TextRef, Finding]] = items if items is not None else []
        self.texts: list[TextRef] = texts if texts is not None else [r for r, _ in self.items]

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[tuple[TextRef, Finding]]:
        return iter(self.items)

    @property
    def classes(self) -> frozenset[str]:
        """The data classes found: the policy's context."""
        return frozenset(f.cls for _, f in self.items)

    @property
    def rules(self) -> dict[tuple[str, str], int]:
        """(class, rule id) -> count: what the audit event and a refusal may name (never values)."""
        return dict(Counter((f.cls, f.rule) for _, f in self.items))

    def only(self, classes: Iterable[str]) -> RequestFindings:
        """The findings of the given classes."""
        keep = frozenset(classes)
        return RequestFindings([(r, f) for r, f in self.items if f.cls in keep], self.texts)


# A signed storage URL is how an image is meant to be shared with a provider, so what signs it
# is no leak there: an Azure SAS signature, and the id (never the secret) of the key that
# signed an S3 (SigV4 `X-Amz-Credential`, SigV2 `AWSAccessKeyId`) or GCS (`X-Goog-Credential`,
# `GoogleAccessId`) URL. A parameter is exempt only when its whole value has the shape of such
# an id (and, for V4, its credential scope): otherwise any token could ride out under that name.
URL_SHARING_RULES = frozenset({"azure-sas-token"})
_AWS_ID = r"(?:AKIA|ASIA)[A-Z2-7]{16}"
_GCS_ID = (
    r"(?:GOOG[0-9A-Z]{10,100}|[a-z0-9][a-z0-9-]{0,62}@[a-z0-9.-]{1,200}\.gserviceaccount\.com)"
)
_SCOPE = r"/\d{8}/[a-z0-9-]{1,40}/[a-z0-9-]{1,40}/"
URL_CREDENTIAL_PARAMS: dict[str, re.Pattern[str]] = {
    "x-amz-credential": re.compile(_AWS_ID + _SCOPE + "aws4_request"),
    "awsaccesskeyid": re.compile(_AWS_ID),
    "x-goog-credential": re.compile(_GCS_ID + _SCOPE + "goog4_request"),
    "googleaccessid": re.compile(_GCS_ID),
}


def _without_credential_ids(url: str) -> str:
    """`url` with the values of its signing-credential parameters blanked out.

    Blanked rather than filtered afterwards: a broad rule (a `credential=` assignment) would
    otherwise report a span running from the id over the rest of the query, and dropping that
    finding could drop a real token it swallowed. Same length, so offsets still hold.
    """
    query = url.find("?")
    if query < 0:
        return url
    pieces: list[str] = []
    done = query + 1
    pos = done
    while pos < len(url):
        amp = url.find("&", pos)
        stop = len(url) if amp < 0 else amp
        eq = url.find("=", pos, stop)
        shape = URL_CREDENTIAL_PARAMS.get(url[pos:eq].lower()) if eq > 0 else None
        if shape is not None and shape.fullmatch(url, eq + 1, stop):
            pieces += (url[done : eq + 1], " " * (stop - eq - 1))
            done = stop
        pos = stop + 1
    if not pieces:
        return url
    return url[: query + 1] + "".join(pieces) + url[done:]


def scan_request(body: dict[str, Any], scanner: Scanner, fmt: str = "openai") -> RequestFindings:
    """Scan every text of the request; findings keep offsets into their own `TextRef.text`.

    Besides the texts the walk knows, three views are scanned where a value could hide from
    them one by one: every other string (and unfamiliar key) anywhere in the body, sealed; the
    text parts of one message joined (a translator joins them, and a model reads them as one);
    and the decoded strings of JSON texts that contain escapes (`\\u0040`, or `\\n` right
    before a token). What only a view shows is reported on a sealed ref (it cannot be rewritten
    in place).
    """
    items: list[tuple[TextRef, Finding]] = []
    texts = list(iter_texts(body, fmt))
    # Tool-call ids the walk located: random, so their digit runs look like phone numbers.
    ids = {ref.path for ref in texts if ref.path[-1] in _ID_KEYS}
    texts += _uncovered(body, {ref.path for ref in texts})
    parts: dict[Path, list[tuple[TextRef, list[Finding]]]] = {}
    for ref in texts:
        url = ref.kind == SEALED and ref.path[-1] == "url"
        found = _scan(scanner, _without_credential_ids(ref.text) if url else ref.text)
        if found:
            if url:
                found = [f for f in found if f.rule not in URL_SHARING_RULES]
            elif ref.path[0] in TOOL_ROOTS:
                found = [f for f in found if f.cls not in TOOL_EXEMPT_CLASSES]
            if ref.path in ids:
                found = [f for f in found if f.cls == "secret"]
            items.extend((ref, f) for f in found)
        block = _block_of(ref)
        if block is not None:
            parts.setdefault(block, []).append((ref, found))
        if ref.kind != TEXT and "\\" in ref.text and ref.text.lstrip()[:1] in ("{", "[", '"'):
            items.extend(_escaped_findings(ref, scanner, found))
    for parent, group in parts.items():
        if len(group) > 1:
            items.extend(_spanning_findings(parent, group, scanner))
    return RequestFindings(items, texts)


_ID_KEYS = frozenset({"id", "tool_call_id", "tool_use_id"})
# `\\n`, `\\t`, `\\r` written as two characters (JSON or code quoted in a message), not as an
# escaped backslash followed by a letter.
_LINE_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\[nrt]")


def _scan(scanner: Scanner, text: str) -> list[Finding]:
    """`scanner.scan`, also reading `\\n`, `\\t` and `\\r` written out as the breaks they stand
    for: a token after `\\n` in quoted JSON starts a line, though the letter `n` sits before it.

    The escapes become two spaces (the same length, so offsets still point into `text`), and
    a finding of that view wins over an overlapping one of the text as written, which would
    have swallowed the `n`."""
    found = scanner.scan(text)
    if "\\" not in text or not _LINE_ESCAPE.search(text):
        return found
    broken = scanner.scan(_LINE_ESCAPE.sub(lambda m: m.group(1) + "  ", text))
    kept = [
        f
        for f in found
        if not any(b.cls == f.cls and b.start < f.end and f.start < b.end for b in broken)
    ]
    return sorted([*broken, *kept], key=lambda f: (f.start, f.end))


def _block_of(ref: TextRef) -> Path | None:
    """The list a text part belongs to (its message's content, a system prompt, a tool result's
    content), when the text is one of several blocks a translation may join."""
    if ref.kind != TEXT or len(ref.path) < 2:
        return None
    for n in range(len(ref.path) - 1, 0, -1):
        if type(ref.path[n]) is int:
            return ref.path[:n] if ref.path[n - 1] in ("content", "system") else None
    return None


def _spanning_findings(
    parent: Path, group: list[tuple[TextRef, list[Finding]]], scanner: Scanner
) -> list[tuple[TextRef, Finding]]:
    """Findings of a message's text parts joined that no single part explains.

    A joined finding that overlaps one found in a part (an e-mail at a part's end, read on into
    the next part's first word) is that part's finding, already reported and redactable."""
    ends: list[int] = []
    known: list[tuple[int, int, str]] = []
    size = 0
    for ref, found in group:
        known += [(size + f.start, size + f.end, f.cls) for f in found]
        size += len(ref.text)
        ends.append(size)
    text = "".join(ref.text for ref, _ in group)
    joined = TextRef(parent, SEALED, text)
    out: list[tuple[TextRef, Finding]] = []
    for f in scanner.scan(text):
        if not any(f.start < end < f.end for end in ends[:-1]):
            continue  # inside one part: found there
        if any(cls == f.cls and start < f.end and f.start < end for start, end, cls in known):
            continue
        if parent[0] in TOOL_ROOTS and f.cls in TOOL_EXEMPT_CLASSES:
            continue
        out.append((joined, f))
    return out


# Keys every chat request uses, whose names carry nothing; any other key name is scanned.
_PLAIN_KEYS = frozenset(
    [
        "role",
        "content",
        "type",
        "text",
        "name",
        "id",
        "tool_calls",
        "function",
        "arguments",
        "tool_call_id",
        "image_url",
        "url",
        "detail",
        "source",
        "media_type",
        "data",
        "tool_use_id",
        "input",
        "cache_control",
        "is_error",
        "signature",
        "thinking",
        "file",
        "file_data",
        "filename",
        "file_id",
        "input_audio",
        "format",
        "parameters",
        "properties",
        "description",
        "required",
        "items",
        "enum",
        "default",
        "title",
        "strict",
        "schema",
        "json_schema",
        "additionalProperties",
        "anyOf",
        "allOf",
        "oneOf",
        "const",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "examples",
        "$ref",
        "$defs",
        "definitions",
        "nullable",
        "model",
        "messages",
        "tools",
        "system",
        "max_tokens",
        "stream",
        "stream_options",
        "include_usage",
        "temperature",
        "top_p",
        "top_k",
        "n",
        "stop",
        "seed",
        "user",
        "metadata",
        "ttl",
        "citations",
    ]
)


def _uncovered(body: dict[str, Any], covered: set[Path]) -> list[TextRef]:
    """Every string the walk did not yield (and every unfamiliar key), as sealed texts.

    Whatever the walk does not know still reaches the provider: a key added to a content part,
    a string where a number belongs. Inline files are skipped (`data:` URLs of non-text media,
    base64 `data`), and so are strings that cannot hold a value worth finding: under six
    characters, or one lower-case word (the roles and types of every message)."""
    out: list[TextRef] = []
    stack: list[tuple[Path, Any]] = [((), body)]
    while stack:
        path, node = stack.pop()
        if path in covered:
            continue
        kind = type(node)
        if kind is dict:
            for key, value in node.items():
                if key not in _PLAIN_KEYS and len(key) >= 6:
                    out.append(TextRef((*path, key), SEALED, key))
                if _opaque(path, node, key):
                    continue
                stack.append(((*path, key), value))
        elif kind is list:
            stack.extend(((*path, i), item) for i, item in enumerate(node))
        elif kind is str and _may_hold_a_value(path, node):
            out.append(TextRef(path, SEALED, node))
    out.reverse()  # body order, so joined and swept texts read as the request does
    return out


# One lower-case word: a role, a type, an enum value ("assistant", "image_url", "auto").
_WORD = re.compile(r"[a-z][a-z_]{0,31}")


def _opaque(path: Path, node: dict[str, Any], key: str) -> bool:
    """Values that are not the client's text: a thinking block's signature (the provider's
    own), and an MCP server's token (a credential meant for the provider, which calls it)."""
    if key == "signature":
        return node.get("type") == "thinking"
    return key == "authorization_token" and len(path) == 2 and path[0] == "mcp_servers"


def _may_hold_a_value(path: Path, text: str) -> bool:
    """False for short strings, single words, and base64 of images or other binary files."""
    if len(text) < 6 or _WORD.fullmatch(text):
        return False
    if text[:5] == "data:":
        header, _, payload = text[5:].partition(",")
        if _is_text_media(header):
            return True
        return not (header.endswith(";base64") and _binary_base64(payload))
    if path and path[-1] in ("data", "file_data"):
        return not _binary_base64(text)
    return True


def _binary_base64(text: str) -> bool:
    """Whether `text` is base64 whose start decodes to binary (an image, audio, a PDF), not
    to text, nor something that is not base64 at all (which is then text to scan)."""
    head = text[:4096]
    head = head[: len(head) - len(head) % 4]
    try:
        raw = base64.b64decode(head, validate=True)
    except ValueError:
        return False
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return bool(raw)
    return "\x00" in decoded


# A complete escape, or (at the very end) one a cut left unfinished, which is dropped.
_JSON_ESCAPE = re.compile(r'\\(u[0-9a-fA-F]{4}|["\\/bfnrt]|u[0-9a-fA-F]{0,3}$|$)')
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r"}
_SIMPLE_ESCAPES["t"] = "\t"


def unescape_json_text(text: str) -> str:
    """JSON string escapes undone wherever they occur (the text need not be valid JSON)."""

    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if len(code) == 5:
            return chr(int(code[1:], 16))
        return _SIMPLE_ESCAPES.get(code, "")

    decoded = _JSON_ESCAPE.sub(one, text)
    if "\\ud" in text.lower() and any("\ud800" <= c <= "\udfff" for c in decoded):
        # `\ud83d\ude00`: a pair of escapes that spells one character outside the BMP.
        decoded = decoded.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return decoded


def _escaped_findings(
    ref: TextRef, scanner: Scanner, raw: list[Finding]
) -> list[tuple[TextRef, Finding]]:
    """Findings in the decoded strings (and keys) of a JSON text that its raw form hides.

    `raw` are the findings on the JSON text itself: a decoded finding that one of them already
    covers (the same class, one value inside the other once unescaped) is not new: the raw
    one is redacted in place, escapes and all."""
    try:
        value = json.loads(ref.text)
    except ValueError:
        return []
    seen = [(f.cls, unescape_json_text(ref.text[f.start : f.end])) for f in raw]
    out: list[tuple[TextRef, Finding]] = []
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str) and node:
            decoded = TextRef(ref.path, SEALED, node)
            found = scanner.scan(node)
            if ref.path[0] in TOOL_ROOTS:
                found = [f for f in found if f.cls not in TOOL_EXEMPT_CLASSES]
            for f in found:
                found_value = node[f.start : f.end]
                if any(
                    cls == f.cls and (found_value in old or old in found_value) for cls, old in seen
                ):
                    continue  # the raw scan found it: redacted in place, escapes and all
                out.append((decoded, f))
    return out
