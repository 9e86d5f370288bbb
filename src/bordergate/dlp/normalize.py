"""Normalisation before matching, with a map back to the original offsets.

Attackers (and copy-paste from rich editors) hide secrets behind zero-width characters,
full-width digits and compatibility forms; detectors see the NFKC form with zero-width
characters removed, and every finding is mapped back so it points into the ORIGINAL text.

Cost matters on the hot path: ASCII and already-normal text is returned as is; otherwise the
changed characters are replaced with one `str.translate`, and an offset map is only built when
a replacement changes the length (zero-width removal, `㎏` -> `kg`), which is rare.
Normalisation is per character (compatibility mapping), which is what matching needs.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

#: Zero-width and invisible formatting characters that carry no visible text: zero-width
#: spaces and joiners, soft hyphen, invisible operators, the combining grapheme joiner,
#: direction marks and embeddings, variation selectors, and the tag block's cancel and
#: language tags (its other tags are mapped to the ASCII they spell: see `_replacement`).
_INVISIBLE_RANGES = (
    (0x200B, 0x200F),  # zero-width space, non-joiner, joiner; left-to-right / right-to-left marks
    (0x2060, 0x2064),  # word joiner, invisible operators
    (0xFEFF, 0xFEFF),  # zero-width no-break space
    (0x00AD, 0x00AD),  # soft hyphen
    (0x180E, 0x180E),  # Mongolian vowel separator
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x202A, 0x202E),  # direction embeddings and overrides
    (0x2066, 0x2069),  # direction isolates
    (0xFE00, 0xFE0F),  # variation selectors
    (0xE0001, 0xE0001),  # language tag
    (0xE007F, 0xE007F),  # cancel tag
    (0xE0100, 0xE01EF),  # variation selectors supplement
)
_ZERO_WIDTH = "".join(
    re.escape(chr(lo)) + ("-" + re.escape(chr(hi)) if hi > lo else "")
    for lo, hi in _INVISIBLE_RANGES
)
_ZW_SET = frozenset(chr(cp) for lo, hi in _INVISIBLE_RANGES for cp in range(lo, hi + 1))
#: Tag characters U+E0020-U+E007E spell ASCII invisibly ("ASCII smuggling"): read as ASCII.
_TAGS = "\U000e0020-\U000e007e"

#: The characters folded: full-width ASCII forms (minus the punctuation every Chinese sentence
#: uses, which no detector needs folded), NBSP and typographic spaces, super/subscripts,
#: number forms, circled and parenthesised alphanumerics, ligatures, mathematical
#: alphanumerics and enclosed letters. These are what disguise a key or a number; folding
#: only them keeps ordinary CJK prose on the no-copy fast path.
_FOLD_CLASS = (
    "\uff02-\uff07\uff0a\uff0b\uff0d-\uff19\uff1c-\uff1e\uff20-\uff5e"
    "\u00a0\u2000-\u200a\u202f\u205f\u00b2\u00b3\u00b9\u2070-\u209f\u2150-\u218f"
    "\u2460-\u24ff\u2776-\u2793\ufb00-\ufb06\U0001d400-\U0001d7ff\U0001f100-\U0001f1ff"
)
_FOLD_RE = re.compile(f"[{_ZERO_WIDTH}{_FOLD_CLASS}{_TAGS}]")


@lru_cache(maxsize=8192)
def _replacement(ch: str) -> str:
    if ch in _ZW_SET:
        return ""
    if "\U000e0020" <= ch <= "\U000e007e":
        return chr(ord(ch) - 0xE0000)
    return unicodedata.normalize("NFKC", ch)


def needs_folding(ch: str) -> bool:
    """Whether `normalize` changes this character (the prefilter's fold gate is built from it)."""
    return bool(_FOLD_RE.match(ch)) and _replacement(ch) != ch


@dataclass(frozen=True, slots=True)
class Normalized:
    """A normalised text plus what is needed to map its offsets back to the original.

    `breaks` holds (normalised offset, original offset, expanded) per segment, sorted; it is
    empty when offsets are unchanged. An `expanded` segment is the output of ONE original
    character that became several, so every offset inside it maps to that character.
    """

    text: str
    breaks: tuple[tuple[int, int, bool], ...] = ()

    def _orig(self, i: int) -> tuple[int, bool]:
        k = bisect_right(self.breaks, (i, 1 << 62, True)) - 1
        if k < 0:
            return i, False
        nstart, ostart, expanded = self.breaks[k]
        if expanded:
            return ostart, True
        return ostart + (i - nstart), False

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a normalised span `[start, end)` back to the original text."""
        if not self.breaks:
            return start, end
        ostart, _ = self._orig(start)
        if end <= start:
            return ostart, ostart
        olast, _ = self._orig(end - 1)
        return ostart, olast + 1


def normalize(text: str) -> Normalized:
    """Zero-width characters removed; full-width and other disguising forms NFKC-folded."""
    if text.isascii():
        return Normalized(text)
    if not _FOLD_RE.search(text):
        return Normalized(text)
    changing = {ch for ch in _FOLD_RE.findall(text) if _replacement(ch) != ch}
    if not changing:
        return Normalized(text)
    table = {ord(ch): _replacement(ch) for ch in changing}
    out = text.translate(table)
    if all(len(r) == 1 for r in table.values()):
        return Normalized(out)
    # Some replacement changes the length: record segments around those characters.
    odd = {ch for ch in changing if len(_replacement(ch)) != 1}
    breaks: list[tuple[int, int, bool]] = []
    shift = 0  # normalised offset minus original offset so far
    for m in re.finditer("[" + "".join(re.escape(c) for c in odd) + "]", text):
        i = m.start()
        repl = _replacement(text[i])
        if repl:
            breaks.append((i + shift, i, True))
        shift += len(repl) - 1
        breaks.append((i + 1 + shift, i + 1, False))
    return Normalized(out, tuple(breaks))
