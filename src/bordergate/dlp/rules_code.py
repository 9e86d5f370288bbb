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
_END_CLASS = r"[;{}),:\[(\\>][ \t]*+(?=\n|$)"
#: One match per code-shaped line, found from its leading newline: either the line starts like
#: code, or it ends like code (greedy to the line's end, then back to the last non-blank).
#: Only code lines cost Python work; prose lines are skipped inside the regex engine.
_LINE_RE = re.compile(r"\n(?:[ \t]*+" + _START_ALTS + r"|[^\n]*" + _END_CLASS + ")")
_FIRST_RE = re.compile(r"(?:[ \t]*+" + _START_ALTS + r"|[^\n]*" + _END_CLASS + ")")


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
        hits: list[tuple[int, int]] = []  # (line number, first character of that line)
        if _FIRST_RE.match(text):
            hits.append((0, 0))
        count = text.count
        line_no = 0
        last = 0
        for m in _LINE_RE.finditer(text):
            nl = m.start()
            line_no += count("\n", last, nl + 1)
            last = nl + 1
            hits.append((line_no, last))
        if len(hits) < self.min_lines:
            return []
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
