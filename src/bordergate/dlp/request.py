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
`scan_request` scans what the walk yields plus what the views of `views` add (every other
string of the body, a message's parts joined, decoded JSON, written-out line breaks).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import unquote

# The text shapes are defined in `textref` (shared with `views`) and re-exported here, where
# callers have always found them.
from bordergate.dlp.textref import (
    JSON,
    OBJECT,
    SEALED,
    TEXT,
    TOOL_EXEMPT_CLASSES,
    TOOL_ROOTS,
    Path,
    Scanner,
    TextRef,
    decoded_base64,
    dump_object,
    is_text_media,
)
from bordergate.dlp.types import Finding
from bordergate.dlp.views import (
    ID_KEYS,
    block_of,
    escaped_findings,
    scan_text,
    spanning_findings,
    uncovered,
    unescape_json_text,
)

__all__ = [
    "FORMATS",
    "JSON",
    "OBJECT",
    "SEALED",
    "TEXT",
    "TOOL_EXEMPT_CLASSES",
    "TOOL_ROOTS",
    "URL_CREDENTIAL_PARAMS",
    "URL_SHARING_RULES",
    "Path",
    "RequestFindings",
    "Scanner",
    "TextRef",
    "dump_object",
    "iter_texts",
    "scan_request",
    "unescape_json_text",
]

FORMATS = ("openai", "anthropic")


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


def _function(base: Path, fn: Any, schema_key: str) -> Iterator[TextRef]:
    """One tool's name, description and parameter schema (`parameters` or `input_schema`)."""
    if isinstance(fn, dict):
        yield from _text((*base, "name"), fn.get("name"), SEALED)
        yield from _text((*base, "description"), fn.get("description"))
        yield from _object((*base, schema_key), fn.get(schema_key))  # its JSON text


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
    if isinstance(data, str) and is_text_media(data[5:] if data[:5] == "data:" else ""):
        header, _, payload = data[5:].partition(",")
        yield from _text((*path, "file_data"), unquote(header), SEALED)  # `;name=...` too
        yield from _text((*path, "file_data"), decoded_base64(payload), SEALED)


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
                elif source.get("type") == "base64" and is_text_media(
                    str(source.get("media_type", ""))
                ):
                    data = decoded_base64(str(source.get("data", "")))
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

    @property
    def rule_names(self) -> list[str]:
        """`class:rule` of every rule that fired, sorted: what a refusal names."""
        return sorted({f"{cls}:{rule}" for cls, rule in self.rules})

    def outside_thinking(self) -> RequestFindings:
        """The findings and texts outside Anthropic thinking blocks
        (`messages[i].content[j].thinking`): what a translation to the OpenAI form sends on,
        as it drops thinking."""

        def kept(ref: TextRef) -> bool:
            path = ref.path
            return not (len(path) >= 5 and path[0] == "messages" and path[-1] == "thinking")

        return RequestFindings(
            [(ref, f) for ref, f in self.items if kept(ref)],
            [ref for ref in self.texts if kept(ref)],
        )


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
    ids = {ref.path for ref in texts if ref.path[-1] in ID_KEYS}
    texts += uncovered(body, {ref.path for ref in texts})
    parts: dict[Path, list[tuple[TextRef, list[Finding]]]] = {}
    for ref in texts:
        url = ref.kind == SEALED and ref.path[-1] == "url"
        found = scan_text(scanner, _without_credential_ids(ref.text) if url else ref.text)
        if found:
            if url:
                found = [f for f in found if f.rule not in URL_SHARING_RULES]
            elif ref.path[0] in TOOL_ROOTS:
                found = [f for f in found if f.cls not in TOOL_EXEMPT_CLASSES]
            if ref.path in ids:
                found = [f for f in found if f.cls == "secret"]
            items.extend((ref, f) for f in found)
        block = block_of(ref)
        if block is not None:
            parts.setdefault(block, []).append((ref, found))
        if ref.kind != TEXT and "\\" in ref.text and ref.text.lstrip()[:1] in ("{", "[", '"'):
            items.extend(escaped_findings(ref, scanner, found))
    for parent, group in parts.items():
        if len(group) > 1:
            items.extend(spanning_findings(parent, group, scanner))
    return RequestFindings(items, texts)
