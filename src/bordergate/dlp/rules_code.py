"""A cheap `source_code` heuristic: several nearby lines that only code would contain.

Fingerprints (`internal_code`) say whether code is the organisation's own; this detector only
says "this is code", from the density of code-shaped lines. A line is code-shaped when it
starts like code (`def `, `import `, `const `, an assignment, a closing brace...) or ends like
code (`;`, `{`, `}`, `)`, `:`, `,`); a block of at least `min_lines` such lines with few other
lines between them is one finding spanning the block.

Two ways to find the code-shaped lines, with identical results: with Hyperscan, one pass over
the UTF-8 bytes reports each code-shaped line once at its end (the byte patterns are exact for
ASCII; a line whose assignment involves a non-ASCII character is only a candidate, confirmed by
the character regex); without it, one character regex visits every line. Blocks are then
formed from the line numbers with array operations, so no Python code runs per line.
"""

from __future__ import annotations

import re
from itertools import accumulate, chain, repeat

import numpy as np
import numpy.typing as npt

from bordergate.dlp import prefilter
from bordergate.dlp.types import Finding
from bordergate.dlp.utf8 import Utf8, utf8

SOURCE_CODE = "source_code"

_STARTS = (
    "def ", "async def ", "class ", "import ", "from ", "#include", "#define", "package ",
    "using ", "function ", "export ", "const ", "let ", "var ", "public ", "private ",
    "protected ", "static ", "final ", "func ", "fn ", "impl ", "struct ", "return", "if (",
    "for (", "while (", "switch (", "catch (", "} else", "elif ", "else:", "try:", "except",
    "finally:", "with ", "@", "}", ")", "]", "self.", "this.", "#!/",
)  # fmt: skip
_END_CHARS = r";{}),:\[(\\>"
_OPERATOR = r"(?:[+\-*/|&]?=|:=)"


def _trie(words: list[str]) -> str:
    """An alternation of literals factored by common prefixes: the regex engine then tests
    one character per branch point instead of trying every literal in turn."""
    if "" in words:
        rest = [w for w in words if w]
        return "(?:" + _trie(rest) + ")?" if rest else ""
    groups: dict[str, list[str]] = {}
    for w in words:
        groups.setdefault(w[0], []).append(w[1:])
    alts = [re.escape(c) + _trie(tails) for c, tails in sorted(groups.items())]
    return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"


# A line starts like code: a listed start, or an assignment (`name = value`, `x += 1`). The
# quantifiers are possessive: each can only succeed one way, so backtracking would just retry
# the same failure (a long line of CJK text is one `\w` run).
_START_ALTS = (
    "(?:" + _trie(list(_STARTS)) + r"|[\w.\[\]\"']++[ \t]*+" + _OPERATOR + r"[ \t]*+[^\s=])"
)
# A line ends like code: its last character other than blanks is one of `_END_CHARS`. Written
# as "runs up to each end character, then only blanks" so that it never backtracks.
_END = "(?:[^\\n" + _END_CHARS + "]*+[" + _END_CHARS + r"])++[ \t]*+(?=\n|$)"
#: One match per code-shaped line, found from its leading newline: either the line starts like
#: code, or it ends like code. Only code lines cost Python work; prose lines are skipped inside
#: the regex engine.
_LINE_RE = re.compile(r"\n(?:[ \t]*+" + _START_ALTS + "|" + _END + ")")
_FIRST_RE = re.compile(r"(?:[ \t]*+" + _START_ALTS + "|" + _END + ")")
_START_RE = re.compile(r"[ \t]*+" + _START_ALTS)


def _byte_patterns(ends_by_array: bool = False) -> list[bytes]:
    """The Hyperscan form of the two line tests, over UTF-8 bytes, each ending at the line end.

    Pattern 0 is exact: a line starting like code with only ASCII in the assignment test, or
    ending like code (ASCII only). `\\w` and `\\s` of the character regex are Unicode, so an
    assignment that involves a non-ASCII character (any byte >= 0x80) matches pattern 1, a
    superset that the character regex confirms.

    With `ends_by_array`, lines that end like code are found with array operations instead,
    and pattern 0 reports only lines that start like code and (as far as the pattern can
    tell) do not also end like code: fewer matches, and each match costs a Python call.
    """
    lits = b"|".join(b"".join(b"\\x%02x" % b for b in s.encode()) for s in _STARTS)
    word = rb"""[A-Za-z0-9_.\[\]"']"""
    word_u = rb"""[A-Za-z0-9_.\[\]"'\x80-\xff]"""
    op = _OPERATOR.encode()
    # `[^\s=]` of the character regex: ASCII whitespace includes \x1c-\x1f there.
    value = rb"[^\t\n\x0b\x0c\r \x1c-\x1f=\x80-\xff]"
    value_u = rb"[^\t\n\x0b\x0c\r \x1c-\x1f=]"
    end = b"[" + _END_CHARS.encode() + b"]"
    not_end = b"[^\\n \\t" + _END_CHARS.encode() + b"]"
    starts = rb"[ \t]*(?:" + lits + b"|" + word + rb"+[ \t]*" + op + rb"[ \t]*" + value + b")"
    if ends_by_array:
        exact = b"^" + starts + rb"(?:[^\n]*" + not_end + rb")?[ \t]*$"
    else:
        exact = rb"^(?:" + starts + rb"[^\n]*|[^\n]*" + end + rb"[ \t]*)$"
    maybe = (
        rb"^[ \t]*(?:" + word_u + rb"*[\x80-\xff]" + word_u + rb"*[ \t]*" + op + rb"[ \t]*"
        + value_u + b"|" + word + rb"+[ \t]*" + op + rb"[ \t]*[\x80-\xff])[^\n]*$"
    )  # fmt: skip
    return [exact, maybe]


#: Bytes that end a line like code, as a lookup table (derived from the regex class).
_END_TABLE = np.array(
    [bool(re.fullmatch("[" + _END_CHARS + "]", chr(b))) for b in range(256)], dtype=bool
)


def _lines_ending_like_code(
    data: bytes, starts: npt.NDArray[np.intp], ends: npt.NDArray[np.intp]
) -> npt.NDArray[np.intp]:
    """Numbers of the lines (`data[starts[k]:ends[k]]`) whose last character other than
    blanks is an end character: `_END` with array operations."""
    arr = np.frombuffer(data, dtype=np.uint8)
    last = ends - 1  # the candidate last character of each line
    filled = last >= starts
    todo = np.flatnonzero(filled)
    c = arr[last[todo]]
    todo = todo[(c == 32) | (c == 9)]
    for _ in range(8):  # trailing blanks: a few steps back with arrays, for a few lines
        if not todo.size or todo.size > 4096:
            break
        last[todo] -= 1
        inside = last[todo] >= starts[todo]
        filled[todo[~inside]] = False
        todo = todo[inside]
        c = arr[last[todo]]
        todo = todo[(c == 32) | (c == 9)]
    if todo.size:  # longer runs of trailing blanks: from all non-blank positions at once
        nonblank = np.flatnonzero((arr != 32) & (arr != 9))  # a newline counts as non-blank
        k = np.searchsorted(nonblank, ends[todo]) - 1
        found = np.where(k >= 0, nonblank[np.maximum(k, 0)], -1)
        last[todo] = found
        filled[todo] = found >= starts[todo]
    return np.flatnonzero(filled & _END_TABLE[arr[np.where(filled, last, 0)]])


#: From this many code-shaped lines on, blocks are formed with array operations (their fixed
#: cost per call is larger than a short Python loop's).
_VECTOR_MIN = 256
#: From this many bytes on, lines that end like code are found with array operations too.
_ARRAY_MIN_BYTES = 64 * 1024


def _blocks(
    lines: list[int], min_lines: int, min_density: float, max_gap: int
) -> list[tuple[int, int]]:
    """Blocks of code-shaped lines (ascending line numbers) that qualify, as (index of the
    first, index of the last) into `lines`: consecutive lines at most `max_gap` other lines
    apart, at least `min_lines` of them, making up at least `min_density` of the block."""
    n = len(lines)
    if n < min_lines:
        return []
    if n >= _VECTOR_MIN:
        return _blocks_vector(np.array(lines, dtype=np.int64), min_lines, min_density, max_gap)
    lim = max_gap + 1
    cuts = [i for i in range(1, n) if lines[i] - lines[i - 1] > lim]
    out: list[tuple[int, int]] = []
    first = 0
    for end in [*cuts, n]:
        count = end - first
        if count >= min_lines and not count / (lines[end - 1] - lines[first] + 1) < min_density:
            out.append((first, end - 1))
        first = end
    return out


def _blocks_vector(
    lines: npt.NDArray[np.int64], min_lines: int, min_density: float, max_gap: int
) -> list[tuple[int, int]]:
    """`_blocks` with array operations: the same float division, so the same decisions."""
    n = len(lines)
    if n == 0:
        return []
    cuts = np.flatnonzero(np.diff(lines) > max_gap + 1) + 1
    firsts = np.concatenate(([0], cuts))
    lasts = np.concatenate((cuts, [n])) - 1
    counts = lasts - firsts + 1
    spans = lines[lasts] - lines[firsts] + 1
    keep = (counts >= min_lines) & ~(counts / spans < min_density)
    return list(zip(firsts[keep].tolist(), lasts[keep].tolist(), strict=True))


class SourceCodeDetector:
    """Marks blocks of code-like lines as `source_code` (rule `source-code`)."""

    def __init__(
        self,
        min_lines: int = 4,
        min_density: float = 0.6,
        max_gap: int = 2,
        use_hyperscan: bool | None = None,
    ) -> None:
        """`use_hyperscan`: None = when installed; False = always the character regex."""
        self.min_lines = min_lines
        self.min_density = min_density
        self.max_gap = max_gap
        if use_hyperscan is None:
            use_hyperscan = prefilter.available()
        self._lines: prefilter.MatchEnds | None = None
        self._starts: prefilter.MatchEnds | None = None
        if use_hyperscan:
            self._lines = prefilter.MatchEnds(_byte_patterns(), multiline=True)
            self._starts = prefilter.MatchEnds(_byte_patterns(ends_by_array=True), multiline=True)

    def scan(self, text: str) -> list[Finding]:
        """Code blocks in `text`; prose with an occasional `=` or `()` stays unflagged."""
        if text.count("\n") + 1 < self.min_lines:
            return []
        if self._lines is not None:
            return self._scan_bytes(text)
        hits: list[int] = []  # the line numbers of code-shaped lines
        starts: list[int] = []  # the first character of each of those lines
        if _FIRST_RE.match(text):
            hits.append(0)
            starts.append(0)
        count = text.count
        line_no = 0
        last = 0
        for m in _LINE_RE.finditer(text):
            nl = m.start()
            line_no += count("\n", last, nl + 1)
            last = nl + 1
            hits.append(line_no)
            starts.append(last)
        out: list[Finding] = []
        for first, last_hit in _blocks(hits, *self._params()):
            end = text.find("\n", starts[last_hit])
            out.append(Finding(SOURCE_CODE, "source-code", starts[first], _or_len(end, text)))
        return out

    def _params(self) -> tuple[int, float, int]:
        return self.min_lines, self.min_density, self.max_gap

    def _scan_bytes(self, text: str) -> list[Finding]:
        assert self._lines is not None
        view = utf8(text)
        data = view.data
        if len(data) >= _ARRAY_MIN_BYTES:
            return self._scan_arrays(view)
        exact, maybe = self._lines.ends(data)
        if len(exact) + len(maybe) < self.min_lines:
            return []
        # Every match ends at its line's end (the newline or the text's end), once per line.
        ends = exact
        if maybe:
            ends = sorted(set(exact).union(self._confirm(view, maybe, set(exact))))
        if len(ends) < self.min_lines:
            return []
        if len(ends) >= _VECTOR_MIN:
            newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
            line_nos = np.searchsorted(newlines, np.array(ends, dtype=np.int64))
            blocks = _blocks_vector(line_nos, *self._params())
        else:  # line number = newlines before each line's end, counted from the previous end
            gaps = map(data.count, repeat(b"\n"), chain((0,), ends), ends)
            blocks = _blocks(list(accumulate(gaps)), *self._params())
        spans: list[int] = []  # byte offsets: start and end of each block, ascending
        for first, last in blocks:
            spans.append(data.rfind(b"\n", 0, ends[first]) + 1)
            spans.append(ends[last])
        offs = view.char_offsets(spans)
        return [
            Finding(SOURCE_CODE, "source-code", offs[i], offs[i + 1])
            for i in range(0, len(offs), 2)
        ]

    def _scan_arrays(self, view: Utf8) -> list[Finding]:
        """`_scan_bytes` for large texts: Hyperscan reports the lines that start like code (and
        do not visibly end like code), arrays find the lines that end like code."""
        assert self._starts is not None
        data = view.data
        exact, maybe = self._starts.ends(data)
        newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
        line_ends = np.append(newlines, len(data))
        line_starts = np.concatenate(([0], newlines + 1))
        found = [_lines_ending_like_code(data, line_starts, line_ends)]
        found.append(np.searchsorted(newlines, np.array(exact, dtype=np.int64)))
        if maybe:
            confirmed = self._confirm(view, maybe, set(exact))
            found.append(np.searchsorted(newlines, np.array(confirmed, dtype=np.int64)))
        lines = np.sort(np.concatenate(found))
        if lines.size:  # sorted; now unique
            lines = lines[np.concatenate(([True], lines[1:] != lines[:-1]))]
        spans: list[int] = []  # byte offsets: start and end of each block, ascending
        for first, last in _blocks_vector(lines, *self._params()):
            spans.append(int(line_starts[lines[first]]))
            spans.append(int(line_ends[lines[last]]))
        offs = view.char_offsets(spans)
        return [
            Finding(SOURCE_CODE, "source-code", offs[i], offs[i + 1])
            for i in range(0, len(offs), 2)
        ]

    @staticmethod
    def _confirm(view: Utf8, maybe: list[int], exact: set[int]) -> list[int]:
        """The line ends of candidate lines (in `maybe`) that the character regex confirms
        start like code; lines already matched exactly need no check."""
        todo = [to for to in maybe if to not in exact]
        if not todo:
            return []
        data, text = view.data, view.text
        starts = view.char_offsets([data.rfind(b"\n", 0, to) + 1 for to in todo])
        return [to for to, s in zip(todo, starts, strict=True) if _START_RE.match(text, s)]


def _or_len(end: int, text: str) -> int:
    return len(text) if end == -1 else end
