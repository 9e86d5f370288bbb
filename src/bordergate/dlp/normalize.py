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

#: Zero-width and invisible formatting characters that carry no visible text.
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u2061\u2062\u2063\u2064"
_ZW_RE = re.compile(f"[{_ZERO_WIDTH}]")
_ZW_SET = frozenset(_ZERO_WIDTH)

#: Code point blocks scanned for characters that NFKC changes (BMP plus the mathematical
#: alphanumerics and enclosed forms used to disguise text).
_BLOCKS = ((0x80, 0x10000), (0x1D400, 0x1D800), (0x1F100, 0x1F200))


@lru_cache(maxsize=1)
def _changing_re() -> re.Pattern[str]:
    """One character class of every character that normalisation changes (built once)."""
    ranges: list[tuple[int, int]] = []
    for lo, hi in _BLOCKS:
        for cp in range(lo, hi):
            if 0xD800 <= cp < 0xE000:
                continue
            ch = chr(cp)
            if ch in _ZW_SET or unicodedata.normalize("NFKC", ch) != ch:
                if ranges and ranges[-1][1] == cp - 1:
                    ranges[-1] = (ranges[-1][0], cp)
                else:
                    ranges.append((cp, cp))
    parts = [
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    ]
    return re.compile("[" + "".join(parts) + "]")


@lru_cache(maxsize=8192)
def _replacement(ch: str) -> str:
    return "" if ch in _ZW_SET else unicodedata.normalize("NFKC", ch)


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
    """NFKC per character, zero-width characters removed, full-width forms folded."""
    if text.isascii():
        return Normalized(text)
    if unicodedata.is_normalized("NFKC", text) and not _ZW_RE.search(text):
        return Normalized(text)
    changing = set(_changing_re().findall(text))
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
