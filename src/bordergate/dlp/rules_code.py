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

_STARTS = (
    "def ", "async def ", "class ", "import ", "from ", "#include", "#define", "package ",
    "using ", "function ", "export ", "const ", "let ", "var ", "public ", "private ",
    "protected ", "static ", "final ", "func ", "fn ", "impl ", "struct ", "return", "if (",
    "for (", "while (", "switch (", "catch (", "} else", "elif ", "else:", "try:", "except",
    "finally:", "with ", "@", "}", ")", "]", "self.", "this.", "#!/",
)  # fmt: skip
_ENDS = (";", "{", "}", "):", ":", ")", "(", "[", ",", "=>", "\\")
_ASSIGN = re.compile(r"^[\w.\[\]\"']+\s*(?:[+\-*/|&]?=|:=)\s*\S")


_BLOCK = 64
_MARKS = ("\n    ", "\n\t", ";\n", "{\n", "}\n", ")\n", ":\n", ",\n", "\ndef ", "\nimport ")


def _is_code_line(line: str) -> bool:
    s = line.strip()
    if not s:
        return False
    return s.startswith(_STARTS) or s.endswith(_ENDS) or _ASSIGN.match(s) is not None


class SourceCodeDetector:
    """Marks blocks of code-like lines as `source_code` (rule `source-code`)."""

    def __init__(self, min_lines: int = 4, min_density: float = 0.6, max_gap: int = 2) -> None:
        self.min_lines = min_lines
        self.min_density = min_density
        self.max_gap = max_gap

    def scan(self, text: str) -> list[Finding]:
        """Code blocks in `text`; prose with an occasional `=` or `()` stays unflagged."""
        lines = text.split("\n")
        if len(lines) < self.min_lines:
            return []
        hits: list[tuple[int, int, int]] = []  # (line number, start, end)
        pos = 0
        for first in range(0, len(lines), _BLOCK):
            group = lines[first : first + _BLOCK]
            chunk = "\n".join(group)
            # C-speed counts of code-only shapes (indented lines; lines ending in ; { } ) : ,)
            # decide whether this group's lines are worth classifying one by one.
            if sum(chunk.count(m) for m in _MARKS) >= len(group) * 0.25:
                p = pos
                for i, line in enumerate(group):
                    if _is_code_line(line):
                        hits.append((first + i, p, p + len(line)))
                    p += len(line) + 1
            pos += len(chunk) + 1
        out: list[Finding] = []
        block: list[tuple[int, int, int]] = []
        for hit in hits:
            if block and hit[0] - block[-1][0] > self.max_gap + 1:
                self._emit(block, out)
                block = []
            block.append(hit)
        self._emit(block, out)
        return out

    def _emit(self, block: list[tuple[int, int, int]], out: list[Finding]) -> None:
        if len(block) < self.min_lines:
            return
        span_lines = block[-1][0] - block[0][0] + 1
        if len(block) / span_lines >= self.min_density and block[-1][2] > block[0][1]:
            out.append(Finding(SOURCE_CODE, "source-code", block[0][1], block[-1][2]))
