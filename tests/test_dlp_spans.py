"""Span questions answered by bisection agree with asking every span; a scan stops inside a
detector once its deadline has passed (a prompt of many findings cannot hold the loop)."""

from __future__ import annotations

import random

import pytest

from bordergate.dlp import deadline
from bordergate.dlp.config import DlpConfig
from bordergate.dlp.pii import PiiDetector
from bordergate.dlp.scanner import ScanError, Scanner, resolve
from bordergate.dlp.secrets import SecretDetector
from bordergate.dlp.spans import DisjointSpans, SpanIndex
from bordergate.dlp.types import Finding


def random_spans(rng: random.Random, count: int) -> list[tuple[int, int]]:
    out = []
    for _ in range(count):
        start = rng.randrange(0, 200)
        out.append((start, start + rng.randrange(1, 30)))
    return out


def test_span_index_agrees_with_asking_every_span() -> None:
    rng = random.Random(7)
    for _ in range(300):
        spans = random_spans(rng, rng.randrange(0, 12))
        index = SpanIndex(spans)
        for start, end in random_spans(rng, 20):
            assert index.overlaps(start, end) == any(s < end and start < e for s, e in spans)
            assert index.contains(start, end) == any(s <= start and end <= e for s, e in spans)


def test_disjoint_spans_keep_the_first_of_overlapping_ones() -> None:
    rng = random.Random(11)
    for _ in range(300):
        taken = DisjointSpans()
        kept: list[tuple[int, int]] = []
        for start, end in random_spans(rng, 25):
            free = not any(s < end and start < e for s, e in kept)
            assert taken.add_if_free(start, end) == free
            if free:
                kept.append((start, end))


def test_resolve_still_drops_digits_inside_a_secret_and_code_inside_internal_code() -> None:
    found = [
        Finding("secret", "bot-token", 10, 60),
        Finding("personal_data", "phone", 12, 22),  # inside the token
        Finding("personal_data", "phone", 55, 70),  # runs past it: its own finding
        Finding("internal_code", "fingerprint", 100, 200),
        Finding("source_code", "python", 150, 260),
    ]
    assert [(f.rule, f.start) for f in resolve(found)] == [
        ("bot-token", 10),
        ("phone", 55),
        ("fingerprint", 100),
    ]


def test_a_scan_stops_inside_a_detector_at_its_deadline() -> None:
    """Before, the deadline was looked at only between detectors: one detector could run on
    for seconds over text built of keyword hits (`password=` repeated)."""
    secrets = SecretDetector()
    pii = PiiDetector()
    deadline.start(-1.0)  # already past
    try:
        with pytest.raises(deadline.ScanTimeout):
            secrets.scan("password=" * 2000)
        with pytest.raises(deadline.ScanTimeout):
            pii.scan("a@b.co " * 2000)
    finally:
        deadline.clear()
    assert secrets.scan("password=hunter2hunter2") is not None  # no deadline, no stop
    scanner = Scanner.from_config(DlpConfig(enabled=True, scan_timeout_ms=1))
    with pytest.raises(ScanError, match="scan_timeout_ms"):
        scanner.scan("http://u:p@" * 40_000)
