"""Overlap and containment questions about many spans, each answered in O(log n).

Resolving findings asks, per finding, whether it overlaps or lies inside another kind's
findings. Asked with a scan over the others, that is quadratic, and a prompt can be made of
tens of thousands of findings (`http://u:p@` repeated): one request would hold the event loop
for minutes. Pure.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from itertools import accumulate


class SpanIndex:
    """Fixed spans, sorted by start, with the running maximum of their ends."""

    __slots__ = ("_reach", "_starts")

    def __init__(self, spans: Iterable[tuple[int, int]]) -> None:
        pairs = sorted(spans)
        self._starts = [start for start, _ in pairs]
        self._reach = list(accumulate((end for _, end in pairs), max))

    def overlaps(self, start: int, end: int) -> bool:
        """Whether some span shares a position with [start, end)."""
        i = bisect_left(self._starts, end)  # the spans that start before `end`
        return i > 0 and self._reach[i - 1] > start

    def contains(self, start: int, end: int) -> bool:
        """Whether some span holds the whole of [start, end)."""
        i = bisect_right(self._starts, start)  # the spans that start at or before `start`
        return i > 0 and self._reach[i - 1] >= end


class DisjointSpans:
    """Spans that never overlap, added one at a time (first come, first kept)."""

    __slots__ = ("_ends", "_starts")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def overlaps(self, start: int, end: int) -> bool:
        """Whether [start, end) shares a position with a kept span.

        Kept spans are disjoint, so sorted by start their ends are sorted too: only the last
        span starting before `end` can reach past `start`.
        """
        i = bisect_left(self._starts, end)
        return i > 0 and self._ends[i - 1] > start

    def add_if_free(self, start: int, end: int) -> bool:
        """Keep [start, end) unless it overlaps a kept span; say whether it was kept."""
        if self.overlaps(start, end):
            return False
        at = bisect_left(self._starts, start)
        self._starts.insert(at, start)
        self._ends.insert(at, end)
        return True


__all__ = ["DisjointSpans", "SpanIndex"]
