"""The DLP scanner: normalise once, run every detector, decode base64 once, merge findings.

This is the one entry point the server calls per text field. It is pure (no I/O) and
thread-safe after construction. It fails closed: a text over the size limit, or a scan over
its time budget, raises `ScanError` so the caller refuses the request instead of passing it
on unscanned.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence

from bordergate.dlp import deadline
from bordergate.dlp.config import DlpConfig
from bordergate.dlp.markings import MarkingDetector
from bordergate.dlp.normalize import Normalized, normalize
from bordergate.dlp.pii import PiiDetector
from bordergate.dlp.rules_code import SourceCodeDetector
from bordergate.dlp.secrets import SecretDetector, lower_same_length
from bordergate.dlp.spans import SpanIndex
from bordergate.dlp.types import Detector, Finding
from bordergate.dlp.utf8 import forget


class ScanError(Exception):
    """Scanning could not complete (too large, too slow): the caller must fail closed."""


_B64_BLOB = re.compile(r"(?<![A-Za-z0-9+/=_\-])[A-Za-z0-9+/]{32,}={0,2}(?![A-Za-z0-9+/=_\-])")
_MAX_BLOB = 1 << 20


def _decode_text(blob: str) -> str | None:
    """Decode a base64 blob if it holds mostly printable UTF-8 text (not an image)."""
    if len(blob) > _MAX_BLOB:
        return None
    try:
        raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
        text = raw.decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if not text:
        return None
    printable = sum(1 for c in text if c.isprintable() or c in "\n\r\t")
    return text if printable / len(text) >= 0.95 else None


_B64_BYTES = bytes(
    ord("a") if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "+/") else ord(" ")
    for b in range(256)
)
_B64_RUN = b"a" * 32


def _has_b64_run(text: str) -> bool:
    """Cheap gate before the base64 regex: a run of >= 32 base64 characters anywhere?

    Bytes translation plus a substring search run at memory speed, unlike a regex that
    restarts inside every word.
    """
    return _B64_RUN in text.encode("utf-8", "surrogatepass").translate(_B64_BYTES)


def _b64_blobs(text: str) -> list[re.Match[str]]:
    """The base64 blobs of `text`; the blob regex runs only around runs the bytes gate found
    (over a whole text it would cost a regex attempt at every word)."""
    data = text.encode("utf-8", "surrogatepass")
    gate = data.translate(_B64_BYTES)
    ascii_only = len(data) == len(text)
    out: list[re.Match[str]] = []
    pos = gate.find(_B64_RUN)
    char_at, byte_at = 0, 0  # a known (character, byte) offset pair, advanced incrementally
    while pos != -1:
        end = gate.find(b" ", pos)
        end = len(gate) if end == -1 else end
        if ascii_only:
            cs, ce = pos, end
        else:
            char_at += len(data[byte_at:pos].decode("utf-8", "surrogatepass"))
            cs = char_at
            ce = cs + (end - pos)  # a run of base64 characters is ASCII: bytes == characters
            char_at, byte_at = ce, end
        # A run is maximal, so a blob (if any) starts at the run's start and covers it all.
        m = _B64_BLOB.match(text, cs)
        if m is not None:
            out.append(m)
        pos = gate.find(_B64_RUN, end)
    return out


class ScanCache:
    """LRU of scan results keyed by the text itself, bounded in entries and total characters.

    Agents resend the same system prompt, tool definitions and history every turn; with this
    only the new text of a turn is scanned. Keys are the full strings (never a hash, so two
    texts cannot collide); findings are immutable, so one result is safely shared. A lock
    keeps the LRU consistent when requests are scanned from several threads.
    """

    def __init__(self, max_entries: int = 4096, max_chars: int = 8 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_chars = max_chars
        self._items: OrderedDict[str, tuple[Finding, ...]] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, text: str) -> tuple[Finding, ...] | None:
        """The cached findings of `text`, or None (and the entry becomes most recent)."""
        with self._lock:
            found = self._items.get(text)
            if found is None:
                self.misses += 1
                return None
            self._items.move_to_end(text)
            self.hits += 1
            return found

    def put(self, text: str, findings: tuple[Finding, ...]) -> None:
        """Remember a result; evicts least recently used entries to stay within bounds."""
        size = len(text)
        if size > self.max_chars // 4 or self.max_entries <= 0:
            return  # one huge paste must not flush everything else
        with self._lock:
            if text in self._items:
                return
            self._items[text] = findings
            self._chars += size
            while len(self._items) > self.max_entries or self._chars > self.max_chars:
                old, _ = self._items.popitem(last=False)
                self._chars -= len(old)

    def __len__(self) -> int:
        return len(self._items)


class Scanner:
    """Runs the configured detectors over a text; returns sorted, de-duplicated findings."""

    def __init__(
        self,
        detectors: Sequence[Detector],
        *,
        rescan_detectors: Sequence[Detector] = (),
        fingerprint_detector: Detector | None = None,
        max_scan_bytes: int = 4 * 1024 * 1024,
        scan_timeout_ms: int = 200,
        cache: ScanCache | None = None,
    ) -> None:
        self.detectors = tuple(detectors)
        self.cache = cache
        self.rescan_detectors = tuple(rescan_detectors)
        self.fingerprint_detector = fingerprint_detector
        self.max_scan_bytes = max_scan_bytes
        self.scan_timeout_s = scan_timeout_ms / 1000.0

    @classmethod
    def from_config(cls, cfg: DlpConfig, fingerprint_detector: Detector | None = None) -> Scanner:
        """Build the scanner the configuration describes."""
        disabled = frozenset(cfg.disabled_rules)
        markings = MarkingDetector(cfg.markings, cfg.dictionaries)
        # Marking terms ride in the secrets automaton: one keyword pass serves both.
        secrets = SecretDetector(disabled=disabled, terms=markings.terms)
        pii = PiiDetector(disabled=disabled)
        detectors: list[Detector] = [secrets, pii]
        if cfg.detect_source_code and "source-code" not in disabled:
            detectors.append(SourceCodeDetector())
        return cls(
            detectors,
            rescan_detectors=(secrets, pii) if cfg.decode_base64 else (),
            fingerprint_detector=fingerprint_detector,
            max_scan_bytes=cfg.max_scan_bytes,
            scan_timeout_ms=cfg.scan_timeout_ms,
            cache=ScanCache(),
        )

    def scan(self, text: str) -> list[Finding]:
        """Findings in `text`, offsets into `text` itself, sorted by position."""
        if not text:
            return []
        cache = self.cache
        if cache is None:
            return self._scan(text)
        hit = cache.get(text)
        if hit is not None:
            return list(hit)
        found = self._scan(text)
        cache.put(text, tuple(found))
        return found

    def _scan(self, text: str) -> list[Finding]:
        deadline.start(self.scan_timeout_s)
        try:
            return self._scan_all(text)
        except deadline.ScanTimeout:
            raise ScanError("scan exceeded scan_timeout_ms") from None
        finally:
            deadline.clear()
            forget()  # the detectors shared one UTF-8 encoding of the text; release it

    def _scan_all(self, text: str) -> list[Finding]:
        if len(text) > self.max_scan_bytes or (
            len(text) * 4 > self.max_scan_bytes
            and len(text.encode("utf-8", "surrogatepass")) > self.max_scan_bytes
        ):
            raise ScanError(f"text exceeds max_scan_bytes={self.max_scan_bytes}")
        deadline = time.perf_counter() + self.scan_timeout_s
        # With Hyperscan, one pass over the raw text yields the keyword hits and says whether
        # normalising would change anything (almost never): then the hits stand as they are.
        pre_det = next((d for d in self.detectors if isinstance(d, SecretDetector)), None)
        pre = pre_det.prefilter(text) if pre_det is not None else None
        if pre is not None and not pre.fold:
            norm = Normalized(text)
        else:
            norm = normalize(text)
            pre = None
        t = norm.text
        raw: list[Finding] = []
        low: str | None = None  # lower-cased once, and only if some detector needs it
        for det in self.detectors:
            lowered = getattr(det, "scan_lowered", None)
            if pre is not None and det is pre_det:
                raw.extend(pre_det.scan_hits(t, pre.hits))
            elif lowered is None:
                raw.extend(det.scan(t))
            elif not getattr(det, "needs_lower", True):
                raw.extend(lowered(t, t))
            else:
                if low is None:
                    low = lower_same_length(t)
                raw.extend(lowered(t, low))
            if time.perf_counter() > deadline:
                raise ScanError("scan exceeded scan_timeout_ms")
        if self.rescan_detectors and (pre.b64 if pre is not None else _has_b64_run(t)):
            raw.extend(self._rescan_base64(t, raw))
        if norm.breaks:
            raw = [Finding(f.cls, f.rule, *norm.to_original(f.start, f.end)) for f in raw]
        if self.fingerprint_detector is not None:
            raw.extend(self.fingerprint_detector.scan(text))
        if time.perf_counter() > deadline:
            raise ScanError("scan exceeded scan_timeout_ms")
        return resolve(raw)

    def _rescan_base64(self, t: str, found: list[Finding]) -> list[Finding]:
        out: list[Finding] = []
        secrets = SpanIndex((f.start, f.end) for f in found if f.cls == "secret")
        for m in _b64_blobs(t):
            s, e = m.span()
            if secrets.contains(s, e):
                continue
            decoded = _decode_text(m.group(0))
            if decoded is None:
                continue
            seen: set[tuple[str, str]] = set()
            for det in self.rescan_detectors:
                for f in det.scan(normalize(decoded).text):
                    if (f.cls, f.rule) not in seen:
                        seen.add((f.cls, f.rule))
                        out.append(Finding(f.cls, f.rule, s, e))
        return out


def resolve(findings: list[Finding]) -> list[Finding]:
    """Sort; within a class keep the earliest, longest of overlapping findings;
    `internal_code` supersedes overlapping `source_code`; personal data found inside a
    secret (the digits of a bot token) is part of the secret, not a separate finding."""
    internal = SpanIndex((f.start, f.end) for f in findings if f.cls == "internal_code")
    secrets = SpanIndex((f.start, f.end) for f in findings if f.cls == "secret")
    ordered = sorted(findings, key=lambda f: (f.cls, f.start, -(f.end - f.start), f.rule))
    kept: list[Finding] = []
    last_end: dict[str, int] = {}
    for f in ordered:
        if f.end <= f.start:
            continue
        if f.start < last_end.get(f.cls, -1):
            continue
        if f.cls == "source_code" and internal.overlaps(f.start, f.end):
            continue
        if f.cls == "personal_data" and secrets.contains(f.start, f.end):
            continue  # digits inside a token are not a phone number
        kept.append(f)
        last_end[f.cls] = f.end
    kept.sort(key=lambda f: (f.start, f.end, f.cls, f.rule))
    return kept
