"""Internal-code detection by winnowing fingerprints (Schleimer, Wilkerson, Aiken, SIGMOD 2003).

The organisation indexes its own repositories once (`bordergate fingerprint build`); the index
holds only 64-bit hashes of token k-grams, never source text. At request time a prompt is
tokenised the same way and every one of its k-gram hashes is looked up in the index: a prompt
that contains at least `min_matches` distinct indexed fingerprints carries internal code.

Normalisation (identical on both sides, so formatting changes do not hide copied code):
- code is compared as its stream of words (identifiers, keywords, numbers, words in strings):
  whitespace, line breaks, indentation, punctuation, operators, brackets, trailing commas,
  semicolons and quote styles are all ignored, so any reformatting (black, prettier,
  gofmt, clang-format, hand edits of layout) leaves the stream unchanged;
- comments are dropped (`#...` and `//...` to end of line, `/* ... */` blocks), so adding,
  removing or rewording comments does not matter either;
- words are ASCII `[A-Za-z0-9_]+`; other characters separate words.
Identifiers are compared exactly: renamed variables break the k-grams that contain them, so a
renamed copy is still found only where runs of at least `k + w - 1` unchanged words remain.
Punctuation is not compared because it is what formatters change most, and dropping it halves
the tokens to hash; word k-grams of identifiers are already specific to one code base.

Winnowing keeps the minimum hash of every window of `w` consecutive k-gram hashes. The index
side winnows; the query side checks *all* its k-grams, which finds every indexed fingerprint
the prompt contains and keeps the guarantee: any shared run of `w + k - 1` tokens is detected.

Why a vectorised polynomial hash: hashing every k-gram of a prompt is the detector's hot loop
(it runs on each request with code in it), so it runs in numpy: k multiply-adds over the whole
token array, wrapping modulo 2^64. It is the same on every platform and interpreter. Tokens
become ints through CRC-32, which is stable everywhere. The index file records the scheme and a
probe value of the hash, and refuses to load when either differs, rather than silently
matching nothing.
"""

from __future__ import annotations

import functools
import json
import os
import re
import struct
import sys
import zlib
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bordergate.dlp.types import Finding

DEFAULT_K = 10
DEFAULT_W = 10
DEFAULT_MIN_MATCHES = 6
SCHEME = "words-poly64-v2"

_MAGIC = b"BGFPIDX1"
_PROBE = list(range(1, 11))
_MULT = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit multiplier (2^64 / golden ratio)

_COMMENT_RE = re.compile(r"#[^\n]*|//[^\n]*|/\*.*?(?:\*/|\Z)", re.S)
_WORD_RE = re.compile(r"\w+", re.A)

# Directories that hold third-party, generated or VCS content rather than the org's own code.
SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "vendor",
        "third_party",
        "third-party",
        "external",
        ".venv",
        "venv",
        "env",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".tox",
        "dist",
        "build",
        "target",
        "out",
        ".gradle",
        ".idea",
        ".next",
        "site-packages",
        "bower_components",
        "Pods",
    }
)

# Source files worth indexing; data, docs and lock files would only add noise and size.
# fmt: off
CODE_SUFFIXES = frozenset((
    ".py", ".pyi", ".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".vue", ".svelte", ".go", ".java",
    ".kt", ".kts", ".scala", ".groovy", ".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".m",
    ".mm", ".cs", ".fs", ".rb", ".php", ".rs", ".swift", ".dart", ".lua", ".pl", ".pm", ".r",
    ".jl", ".ex", ".exs", ".erl", ".hs", ".ml", ".clj", ".sh", ".bash", ".zsh", ".ps1", ".sql",
    ".proto", ".graphql", ".tf", ".hcl", ".gradle", ".cmake", ".sol", ".zig", ".nim", ".v", ".sv",
    ".vhd",
))
# fmt: on

MAX_FILE_BYTES = 1_000_000


_DIGITS = b"0123456789"
#: Entries kept at most (about 6 MB); then the memo starts again from empty.
_MEMO_LIMIT = 65_536
#: Tokens with more digits than this are numbers, ids and hashes: hardly ever seen twice.
_MEMO_MAX_DIGITS = 4


class _TokenIds(dict[bytes, int]):
    """Token -> CRC-32, computed once per distinct word; lookups of known tokens stay in C.

    Only tokens likely to recur are kept. Numbers, ids, hex hashes and timestamps are an
    endless vocabulary: memoising them made the memo grow by one entry per request under
    traffic that carries a request number (about 14 MB over 120,000 requests), for nothing.
    """

    def __missing__(self, token: bytes) -> int:
        value = zlib.crc32(token)
        if len(token) - len(token.translate(None, _DIGITS)) <= _MEMO_MAX_DIGITS:
            if len(self) >= _MEMO_LIMIT:  # bound memory under adversarial vocabularies
                self.clear()
            self[token] = value
        return value


# Every byte that is not an ASCII word character (`\w` with re.ASCII) becomes a space, so
# `bytes.split()` yields exactly the tokens `_WORD_RE` finds, several times faster (UTF-8
# continuation bytes are >= 0x80, so non-ASCII characters separate tokens as they do there).
_NON_WORD_TO_SPACE = bytes(
    c if (chr(c).isascii() and (chr(c).isalnum() or c == 0x5F)) else 0x20 for c in range(256)
)


_token_ids = _TokenIds()


def token_ids(text: str) -> list[int]:
    """The normalised token stream of `text` as stable ints (the fast path; no offsets)."""
    if "#" in text or "//" in text or "/*" in text:  # most prose has none: skip the pass
        text = _COMMENT_RE.sub(" ", text)
    words = text.encode("utf-8", "surrogatepass").translate(_NON_WORD_TO_SPACE).split()
    return list(map(_token_ids.__getitem__, words))


def token_offsets(text: str) -> list[tuple[int, int]]:
    """(start, end) in the original text of each token `token_ids` yields, in the same order.

    Comments are blanked with as many spaces as they are long, so offsets stay those of the
    original text, and the words found are exactly those `token_ids` finds."""
    blanked = _COMMENT_RE.sub(lambda m: " " * len(m.group()), text)
    return [m.span() for m in _WORD_RE.finditer(blanked)]


def kgram_hashes(ids: list[int], k: int) -> list[int]:
    """Hash of every run of k consecutive token ids, position i covering tokens i..i+k-1.

    A polynomial in the token ids modulo 2^64, sum of ids[i+j] * M^(k-1-j), computed for all
    positions at once; returned as signed 64-bit ints (what the index file stores). Runs are
    built by doubling (1, 2, 4, 8 tokens ...) and joined by the binary digits of k, since
    H(a+b)[i] = H(a)[i] * M^b + H(b)[i+a]: ~2 log2(k) array operations instead of 2k, the same
    values as the plain Horner loop.
    """
    n = len(ids)
    if n < k:
        return []
    block: np.ndarray[Any, np.dtype[np.uint64]] = np.asarray(ids, dtype=np.uint64)
    size = 1  # tokens each entry of `block` covers
    run: np.ndarray[Any, np.dtype[np.uint64]] | None = None
    covered = 0  # tokens each entry of `run` covers
    remaining = k
    while True:
        if remaining & 1:
            if run is None:
                run, covered = block, size
            else:
                length = n - covered - size + 1
                joined = run[:length] * _power(size)
                joined += block[covered : covered + length]
                run, covered = joined, covered + size
        remaining >>= 1
        if not remaining:
            break
        length = n - 2 * size + 1
        doubled = block[:length] * _power(size)
        doubled += block[size : size + length]
        block, size = doubled, 2 * size
    assert run is not None and covered == k
    result: list[int] = run.view(np.int64).tolist()
    return result


@functools.cache
def _power(exponent: int) -> np.uint64:
    """M^exponent modulo 2^64 (computed on Python ints, so no overflow warning)."""
    return np.uint64(pow(int(_MULT), exponent, 1 << 64))


def winnow(hashes: list[int], w: int) -> set[int]:
    """The minimum of every window of w consecutive hashes (the document's fingerprints)."""
    if not hashes:
        return set()
    if len(hashes) <= w:
        return {min(hashes)}
    return {min(hashes[i : i + w]) for i in range(len(hashes) - w + 1)}


def _probe_hash() -> int:
    return kgram_hashes(_PROBE, len(_PROBE))[0]


@dataclass
class BuildStats:
    """What a build indexed: files read, files skipped, and fingerprints kept/dropped."""

    files: int = 0
    skipped: int = 0
    fingerprints: int = 0
    dropped_common: int = 0


@dataclass
class FingerprintIndex:
    """A set of 64-bit fingerprints plus the parameters they were made with."""

    hashes: frozenset[int]
    k: int = DEFAULT_K
    w: int = DEFAULT_W
    files: int = 0
    stats: BuildStats = field(default_factory=BuildStats, compare=False)

    def __len__(self) -> int:
        return len(self.hashes)

    def save(self, path: Path | str) -> None:
        """Write the index: a small JSON header, then the sorted hashes as little-endian int64.

        Only hashes are written; no file name, identifier or line of source leaves the build."""
        header = json.dumps(
            {
                "scheme": SCHEME,
                "k": self.k,
                "w": self.w,
                "files": self.files,
                "count": len(self.hashes),
                "probe": _probe_hash(),
            },
            sort_keys=True,
        ).encode()
        body = array("q", sorted(self.hashes))
        if sys.byteorder != "little":
            body.byteswap()
        tmp = Path(str(path) + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(_MAGIC)
            fh.write(struct.pack("<I", len(header)))
            fh.write(header)
            fh.write(body.tobytes())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path | str) -> FingerprintIndex:
        """Read an index written by `save`; refuse files from another scheme or hash function."""
        data = Path(path).read_bytes()
        if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + 4:
            raise ValueError(f"{path}: not a bordergate fingerprint index")
        (hlen,) = struct.unpack_from("<I", data, len(_MAGIC))
        start = len(_MAGIC) + 4
        header = json.loads(data[start : start + hlen])
        if header.get("scheme") != SCHEME:
            raise ValueError(f"{path}: index scheme {header.get('scheme')!r}, expected {SCHEME}")
        if header.get("probe") != _probe_hash():
            raise ValueError(
                f"{path}: built with a different k-gram hash; rebuild it with this version"
            )
        body = array("q")
        body.frombytes(data[start + hlen :])
        if sys.byteorder != "little":
            body.byteswap()
        if len(body) != header["count"]:
            raise ValueError(f"{path}: truncated ({len(body)} of {header['count']} hashes)")
        return cls(
            hashes=frozenset(body), k=int(header["k"]), w=int(header["w"]), files=header["files"]
        )


def iter_source_files(
    roots: Iterable[Path], suffixes: frozenset[str] = CODE_SUFFIXES
) -> Iterator[Path]:
    """Source files under each root (a root may itself be a file), vendor/VCS dirs pruned."""
    for root in roots:
        if root.is_file():
            yield root
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            for name in sorted(filenames):
                p = Path(dirpath, name)
                if p.suffix.lower() in suffixes and not name.endswith((".min.js", ".min.css")):
                    yield p


def _read_text(path: Path, max_bytes: int) -> str | None:
    """The file as text, or None for binaries, oversized (usually generated) or unreadable files."""
    try:
        if path.stat().st_size > max_bytes:
            return None
        raw = path.read_bytes()
    except OSError:
        return None
    if b"\x00" in raw[:8192]:
        return None
    return raw.decode("utf-8", errors="replace")


def build_index(
    paths: list[Path],
    *,
    k: int = DEFAULT_K,
    w: int = DEFAULT_W,
    max_file_bytes: int = MAX_FILE_BYTES,
    common_share: float = 0.1,
    common_min_files: int = 10,
) -> FingerprintIndex:
    """Fingerprint every source file under `paths`.

    Fingerprints found in more than max(`common_min_files`, `common_share` x files) files are
    boilerplate (licence headers, import blocks) and dropped: they say nothing about whether a
    prompt carries *this* organisation's code, and they match public code too."""
    if k < 2 or w < 1:
        raise ValueError("k must be >= 2 and w >= 1")
    stats = BuildStats()
    file_counts: Counter[int] = Counter()
    for path in iter_source_files(paths):
        text = _read_text(path, max_file_bytes)
        if text is None:
            stats.skipped += 1
            continue
        stats.files += 1
        file_counts.update(winnow(kgram_hashes(token_ids(text), k), w))
    limit = max(common_min_files, int(common_share * stats.files))
    kept = frozenset(h for h, n in file_counts.items() if n <= limit)
    stats.fingerprints = len(kept)
    stats.dropped_common = len(file_counts) - len(kept)
    return FingerprintIndex(hashes=kept, k=k, w=w, files=stats.files, stats=stats)


# Code punctuation that prose rarely has in numbers. Tokenising and hashing cost ~40 µs per KB
# in Python; prose without this much punctuation cannot hold a "meaningful amount" of code, so
# it is not fingerprinted at all (the prefilter the design asks of every detector).
_CODE_CHARS = "(){}[];="
CODE_CHAR_THRESHOLD = 12


def looks_like_code(text: str) -> bool:
    """Cheap prefilter: enough code punctuation to possibly hold indexed code."""
    count = 0
    for ch in _CODE_CHARS:
        count += text.count(ch)
        if count >= CODE_CHAR_THRESHOLD:
            return True
    return False


class FingerprintDetector:
    """Finds indexed code in a text; a `Detector` for the scanner.

    The no-match path (almost every prompt) is tokenise, hash, one set-disjointness test, all in
    C loops; offsets are computed only when the index matches."""

    def __init__(self, index: FingerprintIndex, min_matches: int = DEFAULT_MIN_MATCHES) -> None:
        if min_matches < 1:
            raise ValueError("min_matches must be >= 1")
        self.index = index
        self.min_matches = min_matches
        self._hashes = index.hashes
        self._k = index.k
        self._gap = index.w  # k-gram runs closer than one window belong to the same region

    def matches(self, text: str) -> int:
        """How many distinct indexed fingerprints the text contains."""
        return len(self._hashes.intersection(kgram_hashes(token_ids(text), self._k)))

    def scan(self, text: str) -> list[Finding]:
        """One `internal_code` finding per region of indexed code, if there is enough of it."""
        if not looks_like_code(text):
            return []
        hashes = kgram_hashes(token_ids(text), self._k)
        if not hashes or self._hashes.isdisjoint(hashes):
            return []
        if len(self._hashes.intersection(hashes)) < self.min_matches:
            return []
        return self._regions(text, hashes)

    def _regions(self, text: str, hashes: list[int]) -> list[Finding]:
        """Merge matched k-grams into regions; `hashes` is this text's k-gram list, in order."""
        spans = token_offsets(text)
        k, index = self._k, self._hashes
        regions: list[list[int]] = []  # [first token, last token]
        for i in [i for i, h in enumerate(hashes) if h in index]:
            if regions and i <= regions[-1][1] + self._gap:
                regions[-1][1] = i + k - 1
            else:
                regions.append([i, i + k - 1])
        return [
            Finding("internal_code", "fingerprint", spans[a][0], spans[b][1]) for a, b in regions
        ]
