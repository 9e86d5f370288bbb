"""Reversible redaction: each distinct sensitive value becomes a placeholder for one request.

`Redactor` lives for one request. It replaces every span of a redacted class by a placeholder
such as `[EMAIL_1]`: the same value always gets the same placeholder (so the model can still
tell two addresses apart and refer back to them), and the mapping placeholder -> value (the
vault) stays on the object, in memory, for the life of the request. `restore.py` puts the values
back into the response.

The body is never mutated: `redact_request` returns a new body in which only the containers on
the path to a changed value are copied; everything else is shared with the original.

Values inside JSON (OpenAI tool-call arguments, Anthropic tool_use input) are replaced inside
their JSON string literals, so the arguments stay valid JSON, and the vault keeps the *decoded*
value: the same e-mail is one placeholder whether it came from prose or from escaped JSON.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from bordergate.dlp.request import (
    JSON,
    OBJECT,
    SEALED,
    TEXT,
    RequestFindings,
    TextRef,
    dump_object,
)
from bordergate.dlp.types import CLASSES, Finding

Labeler = Callable[[Finding], str]

# What a placeholder looks like (any label): `[EMAIL_1]`, `[ID_NUMBER_12]`.
_PLACEHOLDER_SHAPE = re.compile(r"\[[A-Z0-9_]{1,64}_[0-9]+\]")

# Rule-id keywords -> placeholder label, checked in order within the finding's class (rule ids
# belong to the detectors: `prc-resident-id`, `payment-card`, `phone-cn-mobile`, ...).
_RULE_LABELS: dict[str, tuple[tuple[str, str], ...]] = {
    "personal_data": (
        ("email", "EMAIL"),
        ("phone", "PHONE"),
        ("mobile", "PHONE"),
        ("iban", "IBAN"),
        ("card", "CARD"),
        ("luhn", "CARD"),
        ("ssn", "SSN"),
        ("resident", "ID_NUMBER"),
        ("id_card", "ID_NUMBER"),
        ("prc_id", "ID_NUMBER"),
        ("national_id", "ID_NUMBER"),
        ("ipv4", "IP"),
        ("ipv6", "IP"),
        ("ip_address", "IP"),
    ),
    "secret": (
        ("private_key", "PRIVATE_KEY"),
        ("jwt", "TOKEN"),
        ("password", "PASSWORD"),
    ),
}
_CLASS_LABELS = {
    "secret": "SECRET",
    "personal_data": "PII",
    "confidential": "CONFIDENTIAL",
    "internal_code": "CODE",
    "source_code": "CODE",
}
_LABEL_CLEAN = re.compile(r"[^A-Z0-9]+")
# A JSON string literal (keys included); outside strings JSON has no quote characters.
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_JSON_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{4}|.)", re.S)
# Known values shorter than this are not swept across the other texts (too likely to occur by
# chance inside unrelated words).
SWEEP_MIN_LEN = 4
_PLACEHOLDER = r"\[[A-Z][A-Z0-9_]*_[0-9]+\]"
_JSON_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


class RedactionError(Exception):
    """A value could not be redacted without breaking its JSON: refuse rather than leak."""


def default_label(finding: Finding) -> str:
    """Placeholder label for a finding: from its rule id when it names a kind of personal data
    or secret the model benefits from knowing (EMAIL, PHONE, ...), else from its class."""
    rule = finding.rule.lower().replace("-", "_")
    if finding.cls == "personal_data" and rule in ("ip", "ip_v4", "ip_v6"):
        return "IP"
    for key, label in _RULE_LABELS.get(finding.cls, ()):
        if key in rule:
            return label
    return _CLASS_LABELS.get(finding.cls, "REDACTED")


def _clean_label(label: str) -> str:
    cleaned = _LABEL_CLEAN.sub("_", label.upper()).strip("_")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = "R_" + cleaned if cleaned else "REDACTED"
    return cleaned


class Redactor:
    """The per-request vault and the rewriting of a request body; create one per request."""

    def __init__(self, labeler: Labeler = default_label) -> None:
        self._labeler = labeler
        self._vault: dict[str, str] = {}  # placeholder -> original value
        self._by_value: dict[str, str] = {}  # original value -> placeholder
        self._counters: dict[str, int] = {}
        # Placeholder-shaped strings the request already carries: never allocated, or restoring
        # the answer would turn the client's own literal "[EMAIL_1]" into someone's address.
        self._reserved: set[str] = set()

    def reserve(self, texts: Iterable[str]) -> None:
        """Keep every placeholder-shaped string in `texts` from being allocated."""
        for text in texts:
            if "[" in text:
                self._reserved.update(_PLACEHOLDER_SHAPE.findall(text))

    @property
    def vault(self) -> Mapping[str, str]:
        """Placeholder -> original value, read-only; what the restorers need."""
        return MappingProxyType(self._vault)

    def placeholder(self, value: str, label: str) -> str:
        """The placeholder of `value`, allocating `[LABEL_n]` the first time it is seen."""
        found = self._by_value.get(value)
        if found is not None:
            return found
        label = _clean_label(label)
        n = self._counters.get(label, 0) + 1
        while f"[{label}_{n}]" in self._reserved:
            n += 1
        self._counters[label] = n
        ph = f"[{label}_{n}]"
        self._vault[ph] = value
        self._by_value[value] = ph
        return ph

    def redact_text(self, text: str, findings: Iterable[Finding]) -> str:
        """`text` with every finding's span replaced by its placeholder."""
        spans = merge_spans(findings)
        if not spans:
            return text
        self.reserve((text,))
        return self._rewrite_plain(text, spans)

    def redact_request(
        self,
        body: dict[str, Any],
        findings: Iterable[tuple[TextRef, Finding]],
        classes_to_redact: set[str] | frozenset[str],
    ) -> dict[str, Any]:
        """A new body with every finding of `classes_to_redact` replaced by its placeholder.

        `findings` is a `RequestFindings` (or its items) from `scan_request` on this `body`.
        With a `RequestFindings`, every value redacted is then also replaced wherever else it
        occurs in the request's texts, even where no rule fired (a password found in a
        `password=` assignment and repeated later in prose), so a value judged sensitive once
        never leaves in clear. Raises `RedactionError` when a JSON value would not stay valid
        after rewriting: the caller must refuse the request rather than send it."""
        per_ref: dict[TextRef, list[Finding]] = {}
        for ref, finding in findings:
            if finding.cls in classes_to_redact:
                per_ref.setdefault(ref, []).append(finding)
        if not per_ref:
            return body
        all_texts = findings.texts if isinstance(findings, RequestFindings) else list(per_ref)
        self.reserve(ref.text for ref in all_texts)
        changes: dict[tuple[str | int, ...], Any] = {}
        # Texts in request order, so placeholder numbers follow the conversation.
        for ref, found in per_ref.items():
            spans = merge_spans(found)
            if ref.kind == SEALED:
                raise RedactionError(f"{_sealed_what(ref)} at {_where(ref)} cannot be rewritten")
            if ref.kind == TEXT:
                changes[ref.path] = self._rewrite_plain(ref.text, spans)
            else:
                changes[ref.path] = self._rewrite_json(ref, spans)
        if isinstance(findings, RequestFindings):
            self._sweep(findings.texts, changes)
        return _apply(body, _trie(changes))

    def mask_request(self, body: dict[str, Any], findings: RequestFindings) -> dict[str, Any]:
        """A copy of `body` to keep (stored audit bodies): every finding, of every class,
        replaced by its placeholder, and every value found replaced wherever else it occurs.

        Unlike `redact_request`, nothing is sent from this copy, so a text the provider needs
        verbatim (`SEALED`: a URL it fetches, signed thinking) is not a reason to give up: one
        that holds a finding or repeats a found value is replaced whole. Raises
        `RedactionError` only when a JSON value would not stay valid."""
        sealed = [(ref, finding) for ref, finding in findings if ref.kind == SEALED]
        rewritable = RequestFindings(
            [(ref, finding) for ref, finding in findings if ref.kind != SEALED],
            [ref for ref in findings.texts if ref.kind != SEALED],
        )
        masked = self.redact_request(body, rewritable, set(CLASSES))
        changes: dict[tuple[str | int, ...], Any] = {}
        for ref, finding in sealed:
            if ref.path not in changes:
                changes[ref.path] = self.placeholder(ref.text, self._labeler(finding))
        known = [value for value in self._vault.values() if len(value) >= SWEEP_MIN_LEN]
        for ref in findings.texts:
            sealed_repeat = ref.kind == SEALED and ref.path not in changes
            if sealed_repeat and any(value in ref.text for value in known):
                changes[ref.path] = self.placeholder(ref.text, "REDACTED")
        # A whole container replaced makes changes inside it moot (and unappliable).
        changes = {
            path: value
            for path, value in changes.items()
            if not any(path[:n] in changes for n in range(1, len(path)))
        }
        return _apply(masked, _trie(changes)) if changes else masked

    def _sweep(self, texts: list[TextRef], changes: dict[tuple[str | int, ...], Any]) -> None:
        """Replace remaining occurrences of vault values in every text, in place in `changes`."""
        plain: dict[str, str] = {}
        escaped: dict[str, str] = {}
        for ph, value in self._vault.items():
            if len(value) >= SWEEP_MIN_LEN:
                plain[value] = ph
                escaped[json.dumps(value, ensure_ascii=False)[1:-1]] = ph
                escaped[json.dumps(value)[1:-1]] = ph
        if not plain:
            return
        plain_re, escaped_re = _alternation(plain), _alternation(escaped)
        for ref in texts:
            if ref.kind == SEALED:
                if any(v in ref.text for v in plain):  # a redacted value would leave in clear
                    raise RedactionError(
                        f"{_sealed_what(ref)} at {_where(ref)} repeats a redacted value"
                    )
                continue
            changed = ref.path in changes
            if ref.kind == TEXT:
                current = changes[ref.path] if changed else ref.text
                new = _replace_known(plain_re, plain, current)
                if new is not current:
                    changes[ref.path] = new
                continue
            if ref.kind == OBJECT:
                current = dump_object(changes[ref.path]) if changed else ref.text
            else:
                current = changes[ref.path] if changed else ref.text
            if not any(v in current for v in escaped):
                continue
            if ref.kind == JSON and not _is_json(current):  # broken arguments: plain text
                changes[ref.path] = _replace_known(plain_re, plain, current)
                continue
            new = _replace_known(escaped_re, escaped, current)
            try:
                parsed = json.loads(new)
            except ValueError:
                raise RedactionError(f"redaction broke the JSON at {ref.path}") from None
            changes[ref.path] = parsed if ref.kind == OBJECT else new

    # -- rewriting ----------------------------------------------------------------------------

    def _rewrite_plain(self, text: str, spans: list[tuple[int, int, Finding]]) -> str:
        out: list[str] = []
        pos = 0
        for start, end, finding in spans:
            out.append(text[pos:start])
            out.append(self.placeholder(text[start:end], self._labeler(finding)))
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def _rewrite_json(self, ref: TextRef, spans: list[tuple[int, int, Finding]]) -> Any:
        text = ref.text
        if not _is_json(text):
            if ref.kind == OBJECT:  # cannot happen: we serialised it ourselves
                raise RedactionError(f"unparseable JSON at {ref.path}")
            # Not JSON (a client sent broken arguments): no structure to protect.
            return self._rewrite_plain(text, spans)
        pieces = _json_pieces(text, spans)
        out: list[str] = []
        pos = 0
        for start, end, finding, quoted in pieces:
            out.append(text[pos:start])
            raw = text[start:end]
            if quoted:
                value = json.loads(f'"{raw}"')
                out.append(self.placeholder(value, self._labeler(finding)))
            else:  # a bare JSON number becomes a string holding the placeholder
                out.append('"' + self.placeholder(raw, self._labeler(finding)) + '"')
            pos = end
        out.append(text[pos:])
        new = "".join(out)
        try:
            parsed = json.loads(new)
        except ValueError:
            raise RedactionError(f"redaction broke the JSON at {ref.path}") from None
        return parsed if ref.kind == OBJECT else new


def _sealed_what(ref: TextRef) -> str:
    """What a sealed text is, for the refusal message (never its value)."""
    last = ref.path[-1]
    if last == "thinking":
        return "a signed thinking block"
    if last == "url":
        return "a URL the provider fetches"
    if last == "name":
        return "a name that calls must match"
    if last == "content":
        return "a value split across a message's parts"
    if last in ("arguments", "input"):
        return "a value written with JSON escapes"
    return "a value that is sent as written"


def _where(ref: TextRef) -> str:
    return ".".join(str(p) for p in ref.path)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _alternation(values: dict[str, str]) -> re.Pattern[str]:
    """Placeholders first (kept as they are), then the values, longest first."""
    ordered = sorted(values, key=len, reverse=True)
    return re.compile("|".join([_PLACEHOLDER, *map(re.escape, ordered)]))


def _replace_known(pattern: re.Pattern[str], values: dict[str, str], text: str) -> str:
    """`text` with known values replaced by their placeholders; `text` itself if none occurs."""
    if not any(v in text for v in values):
        return text
    return pattern.sub(lambda m: values.get(m.group(), m.group()), text)


def merge_spans(findings: Iterable[Finding]) -> list[tuple[int, int, Finding]]:
    """Spans sorted and overlaps united; the earliest (then longest) finding names the union."""
    ordered = sorted((f for f in findings if f.end > f.start), key=lambda f: (f.start, -f.end))
    merged: list[tuple[int, int, Finding]] = []
    for f in ordered:
        if merged and f.start < merged[-1][1]:
            start, end, first = merged[-1]
            merged[-1] = (start, max(end, f.end), first)
        else:
            merged.append((f.start, f.end, f))
    return merged


def _json_pieces(
    text: str, spans: list[tuple[int, int, Finding]]
) -> list[tuple[int, int, Finding, bool]]:
    """Map spans over JSON text to replaceable pieces: (start, end, finding, inside_string).

    A span is clipped to the string literals it touches (keys included: redacting more is the
    safe side) and widened so it never cuts an escape sequence; a span over a bare number
    widens to the whole number. Structure (braces, colons, true/false/null) is never touched."""
    strings = [(m.start() + 1, m.end() - 1) for m in _JSON_STRING.finditer(text)]
    starts = [a for a, _ in strings]
    numbers = [
        m.span() for m in _JSON_NUMBER.finditer(text) if not _inside(m.start(), starts, strings)
    ]
    pieces: list[tuple[int, int, Finding, bool]] = []
    for start, end, finding in spans:
        for a, b in strings:
            if b <= start:
                continue
            if a >= end:
                break
            s, e = max(start, a), min(end, b)
            for m in _JSON_ESCAPE.finditer(text, a, b):
                if m.start() < s < m.end():
                    s = m.start()
                if m.start() < e < m.end():
                    e = m.end()
                if m.start() >= e:
                    break
            if e > s:
                pieces.append((s, e, finding, True))
        for a, b in numbers:
            if a < end and b > start:
                pieces.append((a, b, finding, False))
    pieces.sort(key=lambda p: p[0])
    out: list[tuple[int, int, Finding, bool]] = []
    for piece in pieces:  # two spans may have widened onto the same piece
        if out and piece[0] < out[-1][1]:
            prev = out[-1]
            out[-1] = (prev[0], max(prev[1], piece[1]), prev[2], prev[3])
        else:
            out.append(piece)
    return out


def _inside(pos: int, starts: list[int], ranges: list[tuple[int, int]]) -> bool:
    """Whether `pos` lies in one of the sorted, disjoint (start, end) `ranges`."""
    i = bisect_right(starts, pos) - 1
    return i >= 0 and pos < ranges[i][1]


class _Leaf:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _trie(changes: dict[tuple[str | int, ...], Any]) -> dict[str | int, Any]:
    root: dict[str | int, Any] = {}
    for path, value in changes.items():
        node = root
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = _Leaf(value)
    return root


def _apply(node: Any, trie: dict[str | int, Any]) -> Any:
    """Copy `node` and, recursively, only the children named in `trie`."""
    copy: Any = dict(node) if isinstance(node, dict) else list(node)
    for key, sub in trie.items():
        copy[key] = sub.value if isinstance(sub, _Leaf) else _apply(node[key], sub)
    return copy
