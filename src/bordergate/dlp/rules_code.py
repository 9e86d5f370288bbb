"""A cheap `source_code` heuristic: several nearby lines that only code would contain.

Fingerprints (`internal_code`) say whether code is the organisation's own; this detector only
says "this is code", from the density of code-shaped lines. One multi-line regex marks
code-like lines; a block of at least `min_lines` such lines with few prose lines between them
is one finding spanning the block.
"""

from __future__ import annotations

import re

from bordergate.dlp.types import Finding

SOURCE_CODE = "source_code"

_CODE_LINE = re.compile(
    r"(?m)^[ \t]*(?:"
    r"(?:async\s+)?def\s+\w+\s*\(|class\s+\w+[\s(:{<]|import\s+[\w.{*]|from\s+[\w.]+\s+import\s|"
    r"#include\s*[<\"]|#define\s|package\s+[\w.]+;?\s*$|using\s+[\w.]+;|"
    r"(?:export\s+)?(?:async\s+)?function\b|(?:const|let|var)\s+\w+\s*=|"
    r"(?:public|private|protected|static|final)\s+[\w<>\[\], ]+[\s(]|"
    r"func\s+[\w(]|fn\s+\w+|impl\b|struct\s+\w+|return\b|"
    r"(?:if|for|while|switch|catch)\s*\(|(?:elif|else|try|except|finally)\b.*:\s*$|"
    r"(?:if|for|while|with)\s.*:\s*$|"
    r"@\w+(?:\(.*\))?\s*$|[})\]]+[;,)]*\s*$|"
    r"[\w.\[\]\"']+\s*(?:[+\-*/]?=|:=)\s*[^=].*$|"
    r".*[;{]\s*$|\w+(?:\.\w+)*\(.*\)\s*;?\s*$"
    r")"
)
_HINT = re.compile(r"[{};=()]|def |import |class |function ")


class SourceCodeDetector:
    """Marks blocks of code-like lines as `source_code` (rule `source-code`)."""

    def __init__(self, min_lines: int = 4, min_density: float = 0.6, max_gap: int = 2) -> None:
        self.min_lines = min_lines
        self.min_density = min_density
        self.max_gap = max_gap

    def scan(self, text: str) -> list[Finding]:
        """Code blocks in `text`; prose with an occasional `=` or `()` stays unflagged."""
        if text.count("\n") + 1 < self.min_lines or not _HINT.search(text):
            return []
        # Line starts, so a match position maps to a line number.
        hits: list[tuple[int, int, int]] = []  # (line number, start, end)
        line_no = 0
        last = 0
        for m in _CODE_LINE.finditer(text):
            s = m.start()
            line_no += text.count("\n", last, s)
            last = s
            e = text.find("\n", s)
            hits.append((line_no, s, len(text) if e == -1 else e))
        out: list[Finding] = []
        block: list[tuple[int, int, int]] = []
        for hit in hits:
            if block and hit[0] - block[-1][0] > self.max_gap + 1:
                self._emit(block, out)
                block = []
            if not block or hit[0] != block[-1][0]:
                block.append(hit)
        self._emit(block, out)
        return out

    def _emit(self, block: list[tuple[int, int, int]], out: list[Finding]) -> None:
        if len(block) < self.min_lines:
            return
        span_lines = block[-1][0] - block[0][0] + 1
        if len(block) / span_lines >= self.min_density:
            out.append(Finding(SOURCE_CODE, "source-code", block[0][1], block[-1][2]))
