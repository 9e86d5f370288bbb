"""Confidential markings and organisation dictionaries (project codenames, customer names).

One Aho-Corasick automaton over the lower-cased text. Latin terms must stand alone (so
`CONFIDENTIAL` does not fire inside `confidentiality`); CJK terms have no word boundaries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import ahocorasick

from bordergate.dlp.types import Finding

CONFIDENTIAL = "confidential"

DEFAULT_MARKINGS: tuple[str, ...] = (
    "CONFIDENTIAL",
    "STRICTLY CONFIDENTIAL",
    "INTERNAL ONLY",
    "INTERNAL USE ONLY",
    "FOR INTERNAL USE ONLY",
    "DO NOT DISTRIBUTE",
    "DO NOT SHARE",
    "PROPRIETARY AND CONFIDENTIAL",
    "NOT FOR DISTRIBUTION",
    "TRADE SECRET",
    "内部资料",
    "内部文件",
    "机密",
    "绝密",
    "仅限内部",
    "内部使用",
    "严禁外传",
    "商业秘密",
    "不得外传",
)


def _is_word_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


class MarkingDetector:
    """Finds marking phrases (rule `confidential-marking`) and dictionary terms
    (rule `dictionary-<name>`)."""

    def __init__(
        self,
        markings: Iterable[str] = DEFAULT_MARKINGS,
        dictionaries: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        #: lower-cased term -> rule id; the scanner may fold these into the secrets automaton.
        self.terms: dict[str, str] = {}
        for term in markings:
            if term.strip():
                self.terms.setdefault(term.lower(), "confidential-marking")
        for name, words in (dictionaries or {}).items():
            for term in words:
                if term.strip():
                    self.terms.setdefault(term.lower(), f"dictionary-{name}")
        auto = ahocorasick.Automaton()
        for term, rule in self.terms.items():
            auto.add_word(term, (len(term), rule))
        self._auto = auto if self.terms else None
        if self.terms:
            auto.make_automaton()

    def scan(self, text: str) -> list[Finding]:
        """Every marking or dictionary term that stands alone in `text`."""
        if self._auto is None or not text:
            return []
        low = text.lower()
        if len(low) != len(text):
            low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
        return self.scan_lowered(text, low)

    def scan_lowered(self, text: str, low: str) -> list[Finding]:
        """`scan` with the lower-cased text supplied (the scanner lower-cases once)."""
        if self._auto is None or not text:
            return []
        out: list[Finding] = []
        for end, (length, rule) in self._auto.iter(low):
            finding = marking_hit(low, end - length + 1, end + 1, rule)
            if finding is not None:
                out.append(finding)
        return out


def marking_hit(low: str, start: int, end: int, rule: str) -> Finding | None:
    """A term hit counts only if Latin-script terms stand alone (not inside a longer word)."""
    if _is_word_char(low[start]) and start > 0 and _is_word_char(low[start - 1]):
        return None
    if _is_word_char(low[end - 1]) and end < len(low) and _is_word_char(low[end]):
        return None
    return Finding(CONFIDENTIAL, rule, start, end)
