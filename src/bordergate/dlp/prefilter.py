"""One Hyperscan pass over a text: every keyword hit, plus the scanner's cheap gates.

Optional: used when the `hyperscan` package is installed (the detectors fall back to
pyahocorasick and regex gates otherwise, with identical findings). The pass runs over the UTF-8
bytes of the ORIGINAL text, so no lower-cased copy is made (keywords match ASCII-caselessly),
and in the same pass it answers the two questions the scanner asks of every text:

- `fold`: does the text hold a character normalisation would change (zero-width, full-width,
  look-alike forms)? Almost never; then the normalised text is the text itself and the
  keyword hits stand.
- `b64`: is there a run of >= 32 base64 characters worth decoding?

Gate patterns report once (single-match), so a long blob costs no callbacks. Keyword hits are
few, and are mapped from byte to character offsets by counting UTF-8 continuation bytes.
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar

from bordergate.dlp.normalize import needs_folding
from bordergate.dlp.utf8 import utf8

try:
    _hs: Any = importlib.import_module("hyperscan")
except ImportError:  # pragma: no cover - depends on the environment
    _hs = None

P = TypeVar("P")

_B64_GATE = rb"[A-Za-z0-9+/]{32}"
_NON_ASCII_IN_CLASS = re.compile(r"\[(?:\\.|[^\]\\])*[^\x00-\x7f]")


def available() -> bool:
    """Whether the optional `hyperscan` package is importable here."""
    return _hs is not None


def caseless_safe(word: str) -> bool:
    """Hyperscan folds case for ASCII only: usable when no non-ASCII character has case."""
    return all(c.isascii() or (c.lower() == c and c.upper() == c) for c in word)


def _literal(raw: bytes) -> bytes:
    return b"".join(b"\\x%02x" % b for b in raw)


@lru_cache(maxsize=1)
def _fold_patterns() -> tuple[bytes, ...]:
    """Byte patterns of every character normalisation changes (derived from `normalize`, so
    they never drift): UTF-8 encodings grouped by their leading bytes into one class each."""
    groups: dict[bytes, set[int]] = {}
    for cp in [*range(0x80, 0x20000), *range(0xE0000, 0xE0200)]:  # with the tag block
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        if needs_folding(ch):
            raw = ch.encode("utf-8")
            groups.setdefault(raw[:-1], set()).add(raw[-1])
    return tuple(
        _literal(head) + b"[" + b"".join(b"\\x%02x" % b for b in sorted(tails)) + b"]"
        for head, tails in sorted(groups.items())
    )


@dataclass(frozen=True, slots=True)
class Prefiltered(Generic[P]):
    """What one pass found: keyword hits as (end character index, payload), text order."""

    hits: list[tuple[int, P]]
    fold: bool
    b64: bool


class Prefilter(Generic[P]):
    """A compiled Hyperscan database of keywords (caseless literals) plus the gates."""

    def __init__(
        self, words: Sequence[tuple[str, P]], follows: Sequence[str | None] | None = None
    ) -> None:
        """`follows[i]`, when given, is a regex the text right after keyword `i` must match
        for the keyword to matter (`SecretRule.follow`): the keyword is then only reported
        where it does, which spares a callback and a rule match per keyword in plain prose.
        It may hold non-ASCII characters only outside character classes (it runs on bytes),
        and should end in one place for a given keyword position (each further end repeats
        the keyword hit: harmless for anchored rules, whose repeated findings merge, but work).
        """
        if _hs is None:
            raise RuntimeError("hyperscan is not installed")
        self._payloads = [p for _, p in words]
        n = len(words)
        follows = list(follows) if follows is not None else [None] * n
        self._fold_id, self._b64_id = n, n + 1
        fold = _fold_patterns()
        exprs: list[bytes] = []
        flags: list[int] = []
        #: keyword id -> (lower-cased keyword bytes, the follow regex over bytes)
        self._follow: dict[int, tuple[bytes, re.Pattern[bytes]]] = {}
        for i, ((word, _), follow) in enumerate(zip(words, follows, strict=True)):
            raw = word.encode("utf-8")
            if follow is None:
                exprs.append(_literal(raw))
                flags.append(_hs.HS_FLAG_CASELESS)
                continue
            if _NON_ASCII_IN_CLASS.search(follow):
                raise ValueError(f"follow regex {follow!r}: non-ASCII inside a character class")
            pattern = follow.encode("utf-8")
            exprs.append(_literal(raw) + b"(?:" + pattern + b")")
            flags.append(_hs.HS_FLAG_CASELESS | _hs.HS_FLAG_SOM_LEFTMOST)
            self._follow[i] = (raw.lower(), re.compile(pattern, re.IGNORECASE))
        exprs += [*fold, _B64_GATE]
        ids = list(range(n)) + [self._fold_id] * len(fold) + [self._b64_id]
        flags += [_hs.HS_FLAG_SINGLEMATCH] * (len(fold) + 1)
        self._db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
        self._db.compile(expressions=exprs, ids=ids, flags=flags)
        self._local = threading.local()

    def run(self, text: str) -> Prefiltered[P]:
        """Keyword hits in `text` (overlapping, like an Aho-Corasick pass) and both gates."""
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:  # Hyperscan scratch space must not be shared between threads
            scratch = self._local.scratch = _hs.Scratch(self._db)
        view = utf8(text)
        data = view.data
        raw: list[tuple[int, int]] = []
        add = raw.append
        som: list[tuple[int, int, int]] = []  # (start, end, id) of keyword-plus-follow matches
        add_som = som.append
        follow_ids = self._follow.keys()

        def on_match(i: int, frm: int, to: int, _flags: int, _ctx: object) -> None:
            if i in follow_ids:
                add_som((frm, to, i))
            else:
                add((to, i))

        self._db.scan(data, match_event_handler=on_match, scratch=scratch)
        if som:
            raw += self._keyword_ends(data, som)
        fold = b64 = False
        hits: list[tuple[int, P]] = []
        if not raw:
            return Prefiltered(hits, fold, b64)
        raw.sort()
        payloads, nwords = self._payloads, len(self._payloads)
        ascii_only = view.ascii
        cont = b"" if ascii_only else view.cont
        prev = skipped = 0
        for to, i in raw:
            if i >= nwords:
                fold = fold or i == self._fold_id
                b64 = b64 or i == self._b64_id
                continue
            if not ascii_only:
                skipped += cont.count(1, prev, to)
                prev = to
            hits.append((to - skipped - 1, payloads[i]))
        return Prefiltered(hits, fold, b64)

    def _keyword_ends(self, data: bytes, som: list[tuple[int, int, int]]) -> list[tuple[int, int]]:
        """Keyword end offsets from keyword-plus-follow matches (start, end, id).

        Hyperscan reports each end once, with the leftmost start: another occurrence of the
        same keyword inside that match (`passwordpassword=`) that reaches the same end is
        recovered here, so every keyword position whose follow matches is reported."""
        out: list[tuple[int, int]] = []
        for frm, to, i in som:
            word, follow = self._follow[i]
            k = len(word)
            out.append((frm + k, i))
            inner = data[frm + 1 : to].lower()
            p = inner.find(word)
            while p != -1:
                s = frm + 1 + p
                if follow.fullmatch(data, s + k, to):
                    out.append((s + k, i))
                p = inner.find(word, p + 1)
        return out


class MatchEnds:
    """A compiled Hyperscan database of byte regexes that reports where each pattern's matches
    end, one ascending list per pattern (the line and number gates of the detectors).

    A pattern reports each end offset once however many ways it matches there, so a pattern
    written to end at a line's end (`...$`, multi-line) reports each matching line once.
    Callbacks are the cost (a Python call per match): patterns should match rarely or once per
    unit of interest.
    """

    def __init__(self, patterns: Sequence[bytes], multiline: bool = False) -> None:
        if _hs is None:
            raise RuntimeError("hyperscan is not installed")
        self._n = len(patterns)
        flag = _hs.HS_FLAG_MULTILINE if multiline else 0
        self._db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
        self._db.compile(
            expressions=list(patterns), ids=list(range(self._n)), flags=[flag] * self._n
        )
        self._local = threading.local()

    def ends(self, data: bytes) -> list[list[int]]:
        """Per pattern, the ascending end offsets of its matches in `data`."""
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:  # Hyperscan scratch space must not be shared between threads
            scratch = self._local.scratch = _hs.Scratch(self._db)
        out: list[list[int]] = [[] for _ in range(self._n)]
        adds = [o.append for o in out]

        def on_match(i: int, _from: int, to: int, _flags: int, _ctx: object) -> None:
            adds[i](to)

        self._db.scan(data, match_event_handler=on_match, scratch=scratch)
        for o in out:
            o.sort()  # already in order, in practice: a linear check
        return out
