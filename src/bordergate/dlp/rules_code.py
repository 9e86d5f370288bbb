"""A cheap `source_code` heuristic: several nearby lines that only code would contain.

Fingerprints (`internal_code`) say whether code is the organisation's own; this detector only
says "this is code", from the density of code-shaped lines. A line is code-shaped when it
starts like code (`def `, `import `, `const `, an assignment, a closing brace...) or ends like
code (`;`, `{`, `}`, `)`, `:`, `,`); a block of at least `min_lines` such lines with few other
lines between them is one finding spanning the block.
"""

from __future__ import annotations

import re

from bordergate.dlp.types import Finding

SOURCE_CODE = "source_code"

_STARTS = (
    "def ", "async def ", "class ", "import ", "from ", "#include", "#define", "package ",
    "using ", "function ", "export ", "const ", "let ", "var ", "public ", "private ",
    "protected ", "static ", "final ", "func ", "fn ", "impl ", "struct ", "return", "if (",
    "for (", "while (", "switch (", "catch (", "} else", "elif ", "else:", "try:", "except",
    "finally:", "with ", "@", "}", ")", "]", "self.", "this.", "#!/",
)  # fmt: skip
# Both patterns begin with a literal or a character class, so the regex engine skips ahead
# at C speed; Python only handles the (few) matches.
_START_ALTS = (
    "(?:"
    + "|".join(re.escape(x) for x in _STARTS)
    + r"|[\w.\[\]\"']+[ \t]*(?:[+\-*/|&]?=|:=)[ \t]*[^\s=])"
)
_STARTS_RE = re.compile(r"\n[ \t]*" + _START_ALTS)
_FIRST_RE = re.compile(r"[ \t]*" + _START_ALTS)
_ENDS_RE = re.compile(r"[;{}),:\[(\\>][ \t]*(?=\n|$)")


class SourceCodeDetector:
    """Marks blocks of code-like lines as `source_code` (rule `source-code`)."""

    def __init__(self, min_lines: int = 4, min_density: float = 0.6, max_gap: int = 2) -> None:
        self.min_lines = min_lines
        self.min_density = min_density
        self.max_gap = max_gap

    def scan(self, text: str) -> list[Finding]:
        """Code blocks in `text`; prose with an occasional `=` or `()` stays unflagged."""
        if text.count("\n") + 1 < self.min_lines:
            return []
        positions = [m.end() - 1 for m in _STARTS_RE.finditer(text)]
        positions += [m.start() for m in _ENDS_RE.finditer(text)]
        if _FIRST_RE.match(text):
            positions.append(0)
        positions.sort()
        if len(positions) < self.min_lines:
            return []
        hits: list[tuple[int, int]] = []  # (line number, a position on that line)
        line_no = 0
        last = 0
        for pos in positions:
            line_no += text.count("\n", last, pos)
            last = pos
            if not hits or hits[-1][0] != line_no:
                hits.append((line_no, pos))
        out: list[Finding] = []
        block: list[tuple[int, int]] = []
        for hit in hits:
            if block and hit[0] - block[-1][0] > self.max_gap + 1:
                self._emit(text, block, out)
                block = []
            block.append(hit)
        self._emit(text, block, out)
        return out

    def _emit(self, text: str, block: list[tuple[int, int]], out: list[Finding]) -> None:
        if len(block) < self.min_lines:
            return
        span_lines = block[-1][0] - block[0][0] + 1
        if len(block) / span_lines < self.min_density:
            return
        start = text.rfind("\n", 0, block[0][1]) + 1
        end = text.find("\n", block[-1][1])
        out.append(Finding(SOURCE_CODE, "source-code", start, len(text) if end == -1 else end))
