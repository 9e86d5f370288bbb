"""The UTF-8 bytes of a text, encoded once per scan, and the map back to character offsets.

Hyperscan passes (keywords, code lines, number candidates) run over bytes, while findings are
character offsets. Several detectors scan the same text in turn, so the bytes are encoded once
and shared: `utf8(text)` remembers the last text it saw (per thread, by identity). A byte offset
is mapped back by subtracting the UTF-8 continuation bytes before it, counted incrementally
over ascending offsets, which costs nothing for ASCII text.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

#: 1 for bytes that continue a UTF-8 sequence: a character offset is the byte offset minus these.
CONT = bytes(1 if 0x80 <= b <= 0xBF else 0 for b in range(256))


class Utf8:
    """A text with its UTF-8 bytes (lone surrogates pass through, 3 bytes each)."""

    __slots__ = ("_cont", "ascii", "data", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.data = text.encode("utf-8", "surrogatepass")
        self.ascii = len(self.data) == len(text)
        self._cont: bytes | None = None

    @property
    def cont(self) -> bytes:
        """`data` with continuation bytes as 1 and all others as 0 (computed once, on demand)."""
        if self._cont is None:
            self._cont = self.data.translate(CONT)
        return self._cont

    def char_offsets(self, offsets: Iterable[int]) -> list[int]:
        """Character offsets of ascending byte offsets that fall on character boundaries."""
        if self.ascii:
            return list(offsets)
        cont = self.cont
        out: list[int] = []
        prev = skipped = 0
        for b in offsets:
            skipped += cont.count(1, prev, b)
            prev = b
            out.append(b - skipped)
        return out


_local = threading.local()


def utf8(text: str) -> Utf8:
    """The UTF-8 view of `text`; the same object while the same text is asked for in a row.

    The last view is kept per thread (it holds a reference, so identity cannot be reused by
    another string while it is remembered) until `forget()` or the next text."""
    last: Utf8 | None = getattr(_local, "last", None)
    if last is not None and last.text is text:
        return last
    view = Utf8(text)
    _local.last = view
    return view


def forget() -> None:
    """Drop this thread's remembered view (the scanner calls it when a scan ends, so no
    request text is kept alive by it after the scan)."""
    _local.last = None
