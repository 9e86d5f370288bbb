"""Ways of reading a request beyond its texts one by one, where a value could otherwise hide.

- `uncovered`: every other string (and unfamiliar key) anywhere in the body, for whatever the
  walk in `request` does not know still reaches the provider;
- `scan_text`: a text also read with `\\n`, `\\t`, `\\r` written out taken as the breaks they
  stand for (a token right after `\\n` in quoted JSON starts a line);
- `spanning_findings`: a message's parts joined, as a translation joins them and a model reads
  them;
- `escaped_findings`: the decoded strings of JSON texts with escapes (`\\u0040`).

What only a view shows is reported on a `SEALED` ref: it cannot be rewritten in place. Pure.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import unquote

from bordergate.dlp.textref import (
    SEALED,
    TEXT,
    TOOL_EXEMPT_CLASSES,
    TOOL_ROOTS,
    Path,
    Scanner,
    TextRef,
    is_text_media,
)
from bordergate.dlp.types import Finding

ID_KEYS = frozenset({"id", "tool_call_id", "tool_use_id"})
# `\\n`, `\\t`, `\\r` written as two characters (JSON or code quoted in a message), not as an
# escaped backslash followed by a letter.
_LINE_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\[nrt]")


def scan_text(scanner: Scanner, text: str) -> list[Finding]:
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


def block_of(ref: TextRef) -> Path | None:
    """The list a text part belongs to (its message's content, a system prompt, a tool result's
    content), when the text is one of several blocks a translation may join."""
    if ref.kind != TEXT or len(ref.path) < 2:
        return None
    for n in range(len(ref.path) - 1, 0, -1):
        if type(ref.path[n]) is int:
            return ref.path[:n] if ref.path[n - 1] in ("content", "system") else None
    return None


def spanning_findings(
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


def uncovered(body: dict[str, Any], covered: set[Path]) -> list[TextRef]:
    """Every string the walk did not yield (and every key name), as sealed texts.

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
                if _may_hold_a_value((), key):  # a key's name can carry a value too
                    out.append(TextRef((*path, key), SEALED, key))
                if _opaque(path, node, key):
                    continue
                stack.append(((*path, key), value))
        elif kind is list:
            stack.extend(((*path, i), item) for i, item in enumerate(node))
        elif kind is str:
            if _may_hold_a_value(path, node):
                out.append(TextRef(path, SEALED, node))
            elif node[:5] == "data:":
                # A binary inline file, but its header is the client's free text
                # (`data:<anything>;name=<anything>;base64,<a real image>`), media type too.
                header = node[5:].partition(",")[0]
                if header:
                    out.append(TextRef(path, SEALED, unquote(header)))
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
        if is_text_media(header):
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


def escaped_findings(
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
