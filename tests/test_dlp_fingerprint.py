"""Winnowing fingerprints: build, save/load, and detection of indexed code in prompts."""

from __future__ import annotations

import random
import re
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest

from bordergate.cli import main as cli_main
from bordergate.dlp.fingerprint import (
    FingerprintDetector,
    FingerprintIndex,
    build_index,
    kgram_hashes,
    token_ids,
    token_offsets,
    winnow,
)

ORG_CODE = textwrap.dedent(
    '''
    """Ledger reconciliation for the Kestrel settlement service."""

    from decimal import Decimal

    from kestrel.ledger import LedgerEntry, fetch_entries_between


    class ReconciliationError(Exception):
        """Raised when two ledgers disagree beyond the tolerance."""


    def reconcile_ledgers(primary, shadow, tolerance=Decimal("0.01")):
        # Compare both ledgers entry by entry, keyed by settlement reference.
        shadow_by_ref = {entry.settlement_ref: entry for entry in shadow}
        mismatches = []
        for entry in primary:
            twin = shadow_by_ref.pop(entry.settlement_ref, None)
            if twin is None:
                mismatches.append((entry.settlement_ref, "missing_in_shadow"))
                continue
            drift = abs(entry.amount_minor - twin.amount_minor)
            if drift > tolerance * 100:
                mismatches.append((entry.settlement_ref, f"drift={drift}"))
        for orphan_ref in shadow_by_ref:
            mismatches.append((orphan_ref, "missing_in_primary"))
        if len(mismatches) > MAX_REPORTED_MISMATCHES:
            raise ReconciliationError(f"{len(mismatches)} mismatches; first {mismatches[:3]}")
        return sorted(mismatches)


    def nightly_window(run_date, cutoff_hour=KESTREL_CUTOFF_HOUR):
        start = run_date.replace(hour=cutoff_hour) - SETTLEMENT_LOOKBACK
        end = run_date.replace(hour=cutoff_hour)
        return fetch_entries_between(start, end, include_reversals=True)
    '''
)

ORG_GO = textwrap.dedent(
    """
    package quota

    // Bucket is a token bucket keyed by tenant.
    type Bucket struct {
        tenantID   string
        capacity   int64
        refillRate int64
        tokens     int64
        lastRefill time.Time
    }

    func (b *Bucket) Take(now time.Time, cost int64) bool {
        elapsed := now.Sub(b.lastRefill).Seconds()
        b.tokens = min(b.capacity, b.tokens+int64(elapsed*float64(b.refillRate)))
        b.lastRefill = now
        if b.tokens < cost {
            return false
        }
        b.tokens -= cost
        return true
    }
    """
)

UNRELATED = textwrap.dedent(
    """
    import heapq

    def dijkstra(graph, source):
        dist = {node: float("inf") for node in graph}
        dist[source] = 0
        queue = [(0, source)]
        while queue:
            d, node = heapq.heappop(queue)
            if d > dist[node]:
                continue
            for neighbour, weight in graph[node].items():
                candidate = d + weight
                if candidate < dist[neighbour]:
                    dist[neighbour] = candidate
                    heapq.heappush(queue, (candidate, neighbour))
        return dist

    class LRU:
        def __init__(self, size):
            self.size = size
            self.items = {}

        def get(self, key):
            value = self.items.pop(key, None)
            if value is not None:
                self.items[key] = value
            return value
    """
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "kestrel").mkdir(parents=True)
    (root / "kestrel" / "reconcile.py").write_text(ORG_CODE)
    (root / "quota").mkdir()
    (root / "quota" / "bucket.go").write_text(ORG_GO)
    # Things a build must skip: VCS, vendored code, binaries, non-code files.
    (root / ".git").mkdir()
    (root / ".git" / "hooks.py").write_text(UNRELATED)
    (root / "vendor").mkdir()
    (root / "vendor" / "lib.py").write_text(UNRELATED)
    (root / "node_modules").mkdir()
    (root / "node_modules" / "x.js").write_text(UNRELATED)
    (root / "blob.py").write_bytes(b"\x00\x01binary" + UNRELATED.encode())
    (root / "notes.md").write_text(UNRELATED)
    return root


@pytest.fixture
def detector(repo: Path) -> FingerprintDetector:
    return FingerprintDetector(build_index([repo]), min_matches=4)


def prompt(code: str) -> str:
    return f"Can you find the bug here?\n\n```\n{code}\n```\nThanks, it fails on Mondays."


def test_build_skips_vcs_vendor_binaries_and_non_code(repo: Path) -> None:
    index = build_index([repo])
    assert index.files == 2
    assert index.stats.skipped == 1  # the binary .py
    vendored = FingerprintDetector(index, min_matches=1)
    assert vendored.matches(UNRELATED) == 0


def test_verbatim_copy_is_internal_code_with_its_region(detector: FingerprintDetector) -> None:
    snippet = ORG_CODE[ORG_CODE.index("def reconcile") : ORG_CODE.index("def nightly")]
    text = prompt(snippet)
    findings = detector.scan(text)
    assert findings, "indexed code not found"
    assert {(f.cls, f.rule) for f in findings} == {("internal_code", "fingerprint")}
    start = min(f.start for f in findings)
    end = max(f.end for f in findings)
    # The region lies within the pasted code and covers most of it, not the surrounding prose.
    code_start = text.index(snippet)
    assert code_start <= start and end <= code_start + len(snippet)
    assert end - start > 0.8 * len(snippet.strip())


def reformat(code: str) -> str:
    """Another formatter's output: 2-space indents, no comments, exploded calls, other quotes,
    trailing commas, extra spaces around operators, CRLF line ends."""
    out = []
    for line in code.splitlines():
        stripped = line.lstrip(" ")
        if stripped.startswith("#"):
            continue
        indent = (len(line) - len(stripped)) // 2
        line = " " * indent + stripped
        line = line.replace('"', "'").replace("(", "(\n    ").replace(", ", ",\n    ")
        line = line.replace(")", ",\n)").replace("=", " = ")
        out.append(line)
    return "\r\n".join(out)


def test_reformatted_copy_is_still_found(detector: FingerprintDetector) -> None:
    snippet = ORG_CODE[ORG_CODE.index("def reconcile") : ORG_CODE.index("def nightly")]
    changed = reformat(snippet)
    assert changed.split() != snippet.split()  # the layout really differs
    findings = detector.scan(prompt(changed))
    assert findings and findings[0].cls == "internal_code"


def test_comment_changes_do_not_hide_code(detector: FingerprintDetector) -> None:
    snippet = ORG_GO[ORG_GO.index("func (b") :]
    commented = snippet.replace("{\n", "{ // see QUOTA-113 for the refill maths\n", 2)
    commented = "/* copied from the quota service */\n" + commented
    assert detector.scan(prompt(commented))


def test_unrelated_code_and_prose_are_not_matched(detector: FingerprintDetector) -> None:
    assert detector.scan(prompt(UNRELATED)) == []
    prose = "Our ledgers disagree: the settlement reference drifted by a cent. " * 20
    assert detector.scan(prose) == []
    assert detector.scan("") == []


def test_a_few_shared_lines_stay_below_min_matches(repo: Path) -> None:
    index = build_index([repo])
    one_line = "        drift = abs(entry.amount_minor - twin.amount_minor)\n"
    strict = FingerprintDetector(index, min_matches=4)
    assert strict.scan(prompt(one_line)) == []
    snippet = ORG_CODE[ORG_CODE.index("def reconcile") : ORG_CODE.index("def nightly")]
    # min_matches is a real threshold: a stricter detector needs more indexed code.
    count = strict.matches(snippet)
    assert count >= 4
    assert FingerprintDetector(index, min_matches=count + 1).scan(snippet) == []
    assert FingerprintDetector(index, min_matches=count).scan(snippet) != []


def test_renamed_identifiers_break_only_nearby_kgrams(repo: Path) -> None:
    """Documented limit: renaming breaks the k-grams that contain the name; long unchanged
    runs between renamed names are still found."""
    index = build_index([repo])
    snippet = ORG_CODE[ORG_CODE.index("def reconcile") : ORG_CODE.index("def nightly")]
    renamed = re.sub(r"\bdrift\b", "delta", snippet)
    renamed = re.sub(r"\btwin\b", "other", renamed)
    det = FingerprintDetector(index, min_matches=1)
    assert 0 < det.matches(renamed) < det.matches(snippet)


def test_save_load_round_trip_and_no_source_text(repo: Path, tmp_path: Path) -> None:
    index = build_index([repo])
    out = tmp_path / "org.bgfp"
    index.save(out)
    loaded = FingerprintIndex.load(out)
    assert loaded.hashes == index.hashes and (loaded.k, loaded.w) == (index.k, index.w)
    assert len(loaded) > 0
    data = out.read_bytes()
    # Header + 8 bytes per fingerprint, nothing else.
    assert len(data) < 200 + 8 * len(index)
    for word in re.findall(r"[A-Za-z_]{5,}", ORG_CODE + ORG_GO):
        assert word.encode() not in data, word
    det = FingerprintDetector(loaded, min_matches=4)
    assert det.scan(prompt(ORG_GO))


def test_load_rejects_foreign_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"not an index")
    with pytest.raises(ValueError):
        FingerprintIndex.load(bad)


def test_index_is_stable_across_processes(repo: Path, tmp_path: Path) -> None:
    """str hashes are salted per process; the index must not depend on them."""
    out = tmp_path / "sub.bgfp"
    code = (
        "import sys; from pathlib import Path; from bordergate.dlp.fingerprint import build_index;"
        f"build_index([Path({str(repo)!r})]).save({str(out)!r})"
    )
    env = {"PYTHONHASHSEED": "12345", "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    assert FingerprintIndex.load(out).hashes == build_index([repo]).hashes


def test_offsets_align_with_fast_path_tokens() -> None:
    rng = random.Random(7)
    alphabet = "ab_9 \n\t#/*'\"(),;=é中"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        offsets = token_offsets(text)
        ids = token_ids(text)
        assert len(offsets) == len(ids)
        assert token_ids(" ".join(text[a:b] for a, b in offsets)) == ids


def test_winnow_keeps_window_minima() -> None:
    hashes = [5, 3, 8, 1, 9, 9, 2, 7]
    assert winnow(hashes, 3) == {3, 1, 2}
    assert winnow(hashes[:2], 3) == {3}
    assert winnow([], 3) == set()
    assert kgram_hashes([1, 2], 3) == []


def test_cli_build_and_info(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.bgfp"
    assert cli_main(["fingerprint", "build", str(repo), "--out", str(out)]) == 0
    summary = capsys.readouterr().out
    assert "indexed 2 files" in summary
    assert f"{len(FingerprintIndex.load(out))} fingerprints" in summary
    assert cli_main(["fingerprint", "info", str(out)]) == 0
    assert cli_main(["fingerprint", "build", str(tmp_path / "nope"), "--out", str(out)]) == 2


def test_prefilter_skips_prose_but_not_small_snippets() -> None:
    from bordergate.dlp.fingerprint import looks_like_code

    prose = "The quarterly report covers revenue, hiring and the roadmap. " * 80
    assert not looks_like_code(prose)
    assert looks_like_code(ORG_GO[ORG_GO.index("func (b") :])


@pytest.mark.parametrize("k", [1, 2, 3, 5, 7, 8, 10, 13, 16, 31])
def test_kgram_hashes_are_the_polynomial_of_each_run(k: int) -> None:
    # The reference: sum of ids[i + j] * M^(k-1-j) mod 2^64, one position at a time, as signed.
    rng = random.Random(k)
    ids = [rng.getrandbits(32) for _ in range(k + 40)]
    mult, mask = 0x9E3779B97F4A7C15, (1 << 64) - 1
    expected = []
    for i in range(len(ids) - k + 1):
        h = 0
        for token in ids[i : i + k]:
            h = (h * mult + token) & mask
        expected.append(h - (1 << 64) if h >= 1 << 63 else h)
    assert kgram_hashes(ids, k) == expected
    assert kgram_hashes(ids[:k], k) == expected[:1]


def test_the_token_memo_keeps_words_and_forgets_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Request numbers, ids and hashes must not grow the memo by one entry per request."""
    from bordergate.dlp import fingerprint as fp

    memo = fp._token_ids
    memo.clear()
    words = [b"order", b"123456789", b"deadbeef12345678", b"user_42", b"2026", b"sha256"]
    ids = fp.token_ids(" ".join(w.decode() for w in words))
    assert ids == [zlib.crc32(w) for w in words]  # the same ids, memoised or not
    assert set(memo) == {b"order", b"user_42", b"2026", b"sha256"}
    monkeypatch.setattr(fp, "_MEMO_LIMIT", 3)
    fp.token_ids("alpha beta gamma delta")
    assert len(memo) <= 3  # bounded: full means start again
