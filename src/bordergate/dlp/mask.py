"""Masking for stored answers: every sensitive value replaced by a placeholder.

With `audit.store_bodies`, the audit log keeps each request's prompt and answer, encrypted.
Encryption protects them at rest; masking keeps out of them what must never be kept at all:
a credential, a personal datum, a piece of internal code the scanner found. A leaked
encryption key or a copy of the log then still does not hand over the values the gateway
exists to keep in. A placeholder names the class (`[SECRET]`) or is the prompt's own
(`[EMAIL_1]`), never the value, and unlike redaction for a provider nothing is ever restored
from it.

This masks answers; prompts are masked with the scan's own findings by
`Redactor.mask_request`. Two sources of values: what the request's scan already found
(replaced wherever the answer repeats it, by the prompt's placeholder) and a fresh scan of each
text of the answer. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from bordergate.dlp.redact import merge_spans
from bordergate.dlp.types import Detector
from bordergate.dlp.views import unescape_json_text


def placeholder(cls: str) -> str:
    """What a masked value of data class `cls` becomes: `[SECRET]`, `[PERSONAL_DATA]`, …"""
    return f"[{cls.upper()}]"


class Masker:
    """Masks texts, and every string inside a JSON value, with known values and a detector.

    `known`: value -> placeholder, replaced wherever it occurs (longest first, so a value
    that contains another is replaced whole), and also where a text ends with the beginning
    of one (a stream cut off inside the value). `detector`: scanned afterwards over each
    text; its findings are replaced by their class's placeholder. Either may be empty or None.
    A string that holds JSON (tool-call arguments) is masked value by value and then as a
    whole, so escaping (`\n`, `\"`) hides nothing.
    """

    def __init__(self, known: Mapping[str, str], detector: Detector | None = None) -> None:
        self._known = {v: ph for v, ph in known.items() if v}
        self._pattern = (
            re.compile("|".join(re.escape(v) for v in sorted(self._known, key=len, reverse=True)))
            if self._known
            else None
        )
        self._detector = detector

    def text(self, text: str) -> str:
        """`text` with every known value and every detected finding replaced."""
        if self._pattern is not None:
            text = self._pattern.sub(lambda match: self._known[match.group(0)], text)
            text = self._cut_tail(text)
        if self._detector is not None and text:
            for start, end, finding in reversed(merge_spans(self._detector.scan(text))):
                text = text[:start] + placeholder(finding.cls) + text[end:]
        return text

    def json(self, value: Any) -> Any:
        """A copy of a parsed JSON value with every string, object key and long number masked
        (a number that holds a finding, a card number say, becomes the placeholder string)."""
        if isinstance(value, str):
            inner = _embedded_json(value)
            if inner is not None:
                return self.text(orjson.dumps(self.json(inner)).decode())
            if value.lstrip()[:1] in ("{", "[") and "\\" in value:
                # JSON cut short (a stream that stopped inside tool-call arguments): its
                # escapes are undone so that what they spell is seen.
                return self.text(unescape_json_text(value))
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(key): self.json(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.json(item) for item in value]
        if type(value) is int and abs(value) >= 10**7:
            text = str(value)
            masked = self.text(text)
            return value if masked == text else masked
        return value

    def _cut_tail(self, text: str) -> str:
        """Mask the beginning of a known value left at the very end of `text`."""
        for value, ph in self._known.items():
            if len(value) <= MIN_TAIL:
                continue
            tail = text[-(len(value) - 1) :]
            start = tail.find(value[:MIN_TAIL])
            while start >= 0:  # each place the value could begin; the earliest wins
                if value.startswith(tail[start:]):
                    return text[: len(text) - len(tail) + start] + ph
                start = tail.find(value[:MIN_TAIL], start + 1)
        return text


# The shortest beginning of a known value masked at a text's end: shorter ones end ordinary
# words too often ("Dear an" is not an address).
MIN_TAIL = 5


def _embedded_json(text: str) -> Any:
    """The JSON object or array a string holds, or None (most strings: one cheap check)."""
    head = text.lstrip()[:1]
    if head not in ("{", "["):
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict | list) else None
