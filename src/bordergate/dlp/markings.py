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
        auto = ahocorasick.Automaton()
        count = 0
        for term in markings:
            if term.strip():
                auto.add_word(term.lower(), (len(term), "confidential-marking"))
                count += 1
        for name, terms in (dictionaries or {}).items():
            for term in terms:
                if term.strip() and term.lower() not in auto:
                    auto.add_word(term.lower(), (len(term), f"dictionary-{name}"))
                    count += 1
        self._auto = auto if count else None
        if count:
            auto.make_automaton()

    def scan(self, text: str) -> list[Finding]:
        """Every marking or dictionary term that stands alone in `text`."""
        if self._auto is None or not text:
            return []
        low = text.lower()
        if len(low) != len(text):
            low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
        out: list[Finding] = []
        for end, (length, rule) in self._auto.iter(low):
            start = end - length + 1
            first, last = low[start], low[end]
            if _is_word_char(first) and start > 0 and _is_word_char(low[start - 1]):
                continue
            if _is_word_char(last) and end + 1 < len(low) and _is_word_char(low[end + 1]):
                continue
            out.append(Finding(CONFIDENTIAL, rule, start, end + 1))
        return out
