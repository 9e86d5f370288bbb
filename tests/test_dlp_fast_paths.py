"""The scanner's fast paths find exactly what the plain definitions find.

Code-shaped lines and number candidates are found by Hyperscan over UTF-8 bytes when it is
installed, else by character regexes; blocks are formed by a loop or by array operations.
Each is checked here against a plain, per-line / per-match statement of the rule, on edge
cases (text start and end, CRLF, CJK next to digits or in assignments, non-ASCII whitespace,
full-width digits) and on random texts built from such pieces.
"""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

from bordergate.dlp import prefilter
from bordergate.dlp.config import DlpConfig
from bordergate.dlp.pii import _INERT_DATE, _NUM_CANDIDATE, PiiDetector, _gated_candidates
from bordergate.dlp.rules_code import (
    _ARRAY_MIN_BYTES,
    _STARTS,
    _VECTOR_MIN,
    SourceCodeDetector,
    _blocks,
    _blocks_vector,
)
from bordergate.dlp.scanner import Scanner
from bordergate.dlp.types import Finding
from bordergate.dlp.utf8 import utf8

needs_hyperscan = pytest.mark.skipif(not prefilter.available(), reason="hyperscan not installed")

# --- the plain definition of a code block ----------------------------------------------------

_PLAIN_START = re.compile(
    r"[ \t]*(?:"
    + "|".join(re.escape(s) for s in _STARTS)
    + r"|[\w.\[\]\"']+[ \t]*(?:[+\-*/|&]?=|:=)[ \t]*[^\s=])"
)
_PLAIN_END = re.compile(r"[;{}),:\[(\\>][ \t]*$")


def plain_code_blocks(text: str, min_lines: int = 4, density: float = 0.6) -> list[Finding]:
    """Line by line: code-shaped if it starts or ends like code; then the blocks."""
    if text.count("\n") + 1 < min_lines:
        return []
    lines = text.split("\n")
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    hits = [
        i for i, line in enumerate(lines) if _PLAIN_START.match(line) or _PLAIN_END.search(line)
    ]
    out: list[Finding] = []
    block: list[int] = []
    for i in [*hits, None]:
        if block and (i is None or i - block[-1] > 3):
            if len(block) >= min_lines and len(block) / (block[-1] - block[0] + 1) >= density:
                last = block[-1]
                out.append(
                    Finding(
                        "source_code",
                        "source-code",
                        starts[block[0]],
                        starts[last] + len(lines[last]),
                    )
                )
            block = []
        if i is not None:
            block.append(i)
    return out


_LINE_PIECES = [
    "def f(x):", "  return x;", "x = 1", "变量 = 值", "名前=x", "a = é", "the cat sat.", "", " ",
    "\t}", "foo(", "é;", "a =\x1c", "a=\x85", "a =\u3000b", "中文", "if (x) {", "  y += 2 ",
    "# comment", ")", "x == y", "x :=  z", "'k' = v", "word", "1.5 = 3", "値，x = 1", "x=中",
    "电话13812345678", "async def g():", "   ", "ｘ＝１", "} else {", "@decorator",
    "f(x);   ", "g(y)\t \t", "x = 1;" + " " * 12, "prose " + "\t" * 11, "} ", "é) ", "a\x1c;",
    "h(z);" + " \t" * 6,
]  # fmt: skip


def _random_lines(rng: random.Random, n: int) -> str:
    lines = [
        rng.choice(_LINE_PIECES) + (rng.choice(_LINE_PIECES) if rng.random() < 0.3 else "")
        for _ in range(n)
    ]
    text = ("\r\n" if rng.random() < 0.15 else "\n").join(lines)
    return text + ("\n" if rng.random() < 0.3 else "")


def _detectors() -> list[SourceCodeDetector]:
    dets = [SourceCodeDetector(use_hyperscan=False)]
    if prefilter.available():
        dets.append(SourceCodeDetector(use_hyperscan=True))
    return dets


@pytest.mark.parametrize(
    "text",
    [
        "def f():\n    x = 1\n    y = 2\n    return x",  # block up to the text's end, no newline
        "x = 1\ny = 2\nz = 3\nw = 4\n\n\n\n\nprose here\n",  # block from the text's start
        "int a;\r\nint b;\r\nint c;\r\nint d;\r\n",  # CRLF: `;` is not last, `\r` is
        "a = 1\r\nb = 2\r\nc = 3\r\nd = 4",  # CRLF: assignments still start like code
        "变量 = 值\n名前 = 2\n값 = 3\nπ = 4\n",  # Unicode names: assignments
        "a =\x1c1\nb =\x1c2\nc =\x1c3\nd =\x1c4\n",  # \x1c is whitespace for the regex
        "a =\u3000b\nc =\u3000d\ne =\u3000f\ng =\u3000h\n",  # ideographic space after `=`
        "x = é\ny = ü\nz = 中\nw = ö\n",  # non-ASCII value after `=`
        "値，x = 1\n値，y = 2\n値，z = 3\n値，w = 4\n",  # CJK comma: not a name character
        "请看：\nfoo(\nbar(\nbaz(\nqux(\n结束",  # CJK lines around a block
        "\n\n\n\n",
        "",
    ],
)
@pytest.mark.usefixtures("line_paths")
def test_code_blocks_edge_cases(text: str) -> None:
    want = plain_code_blocks(text)
    for det in _detectors():
        assert det.scan(text) == want, (det, text)


@pytest.fixture(params=["bytes", "arrays"])
def line_paths(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with the default size switch, then with arrays for every text."""
    if request.param == "arrays":
        monkeypatch.setattr("bordergate.dlp.rules_code._ARRAY_MIN_BYTES", 0)
    return str(request.param)


@pytest.mark.usefixtures("line_paths")
def test_code_blocks_random_texts() -> None:
    rng = random.Random(5)
    dets = _detectors()
    found = 0
    for _ in range(1500):
        text = _random_lines(rng, rng.randint(0, 40))
        want = plain_code_blocks(text)
        found += bool(want)
        for det in dets:
            assert det.scan(text) == want, text
    assert found > 300  # the random texts do contain blocks


def test_code_blocks_many_lines_use_the_array_path() -> None:
    rng = random.Random(6)
    text = _random_lines(rng, 3 * _VECTOR_MIN) + "\n" + "x = 1\n" * (2 * _VECTOR_MIN)
    while len(text.encode()) < 2 * _ARRAY_MIN_BYTES:  # large enough for every array path
        text += _random_lines(rng, 200)
    want = plain_code_blocks(text)
    assert len(want) > 3
    for det in _detectors():
        assert det.scan(text) == want


def test_block_loop_and_array_operations_agree() -> None:
    rng = random.Random(7)
    for _ in range(500):
        lines = sorted(rng.sample(range(400), rng.randint(0, 200)))
        params = (rng.randint(1, 6), rng.choice([0.0, 0.5, 0.6, 2 / 3, 1.0]), rng.randint(0, 3))
        small = _blocks(lines, *params)
        if len(lines) >= params[0]:
            assert _blocks_vector(np.array(lines, dtype=np.int64), *params) == small


# --- number candidates ------------------------------------------------------------------------

_NUM_PIECES = [
    "1", "2", "9", "0", " ", "-", ".", "(", ")", "/", "a", "Z", "é", "中", "电话", "+", "\n", "T",
    "2026-11-24 04", "1999-01-31", "2026-13-01", "2026-11-24 1", "social security number ",
    "\r\n", "4111 1111 1111 1111", "123-45-6789", "ssn ", "13812345678", "DE89370400440532013000",
    "192.168.1.1", "１２３", "2026-11-24", "x", "ext", "@", ":", "\U0001f600", "\udc80",
]  # fmt: skip


def _expected_candidates(text: str) -> list[tuple[int, int]]:
    """The regex's candidates less the dates that cannot yield a finding (see `_inert`)."""
    out = []
    for m in _NUM_CANDIDATE.finditer(text):
        s = m.start()
        inert = _INERT_DATE.match(text.encode(), s) and (s == 0 or not text[s - 1].isalpha())
        if not (text.isascii() and inert):
            out.append(m.span())
    return out


@needs_hyperscan
@pytest.mark.parametrize(
    "text",
    [
        "13812345678",  # a candidate that is the whole text
        "电话13812345678确认",  # CJK on both sides
        "号码：138 1234 5678。",
        "1234567\r\n7654321\r\n",
        "12345 x 1234567",  # a short run, then a candidate
        "1      2",  # a run of 8 whose digits are 7 apart
        "1     2",  # too short: no candidate
        "-- (1) 23 456 --",
        "😀4111 1111 1111 1111😀",  # 4-byte characters before and after
        "2026-11-24T04:20:25Z INFO 2026-11-24 04:20:25",  # log dates: skipped
        "x2026-11-24 (2026-11-24) 2026-11-24 1 2026-11-24 123",  # letter before; 9 or 11 digits
        "",
    ],
)
def test_number_candidates_edge_cases(text: str) -> None:
    gate = PiiDetector(use_hyperscan=True)._gate
    assert gate is not None
    got = [m.span() for m in _gated_candidates(text, gate)]
    assert got == _expected_candidates(text)


@needs_hyperscan
def test_number_candidates_and_findings_random_texts() -> None:
    rng = random.Random(8)
    fast, plain = PiiDetector(use_hyperscan=True), PiiDetector(use_hyperscan=False)
    assert fast._gate is not None
    for _ in range(4000):
        text = "".join(rng.choice(_NUM_PIECES) for _ in range(rng.randint(0, 30)))
        if text.isascii():
            cands = [m.span() for m in _gated_candidates(text, fast._gate)]
            assert cands == _expected_candidates(text), text
        assert sorted(fast.scan(text), key=repr) == sorted(plain.scan(text), key=repr), text


@pytest.mark.parametrize(
    "text",
    [
        "social security number: 2026-11-24 123456789",  # SSN context reaches past a date
        "SSN 2026-11-24 1 123-45-6789",
        "IBAN DE2026-11-24",
        "电话2026-11-24 13812345678",
        "at 2026-11-24 04:20 call 415-555-0132",
    ],
)
def test_dates_skipped_early_change_no_finding(text: str) -> None:
    fast = PiiDetector()
    plain = PiiDetector(use_hyperscan=False)
    assert sorted(fast.scan(text), key=repr) == sorted(plain.scan(text), key=repr)


def test_fullwidth_digits_are_found_after_normalisation() -> None:
    scanner = Scanner.from_config(DlpConfig())
    for text, rule, value in [
        ("电话１３８１２３４５６７８确认", "phone-cn-mobile", "１３８１２３４５６７８"),
        (
            "卡号４５３９ １４８８ ０３４３ ６４６７。",
            "payment-card",
            "４５３９ １４８８ ０３４３ ６４６７",
        ),
        ("１３９１２３４５６７８", "phone-cn-mobile", "１３９１２３４５６７８"),
    ]:
        got = [(f.rule, text[f.start : f.end]) for f in scanner.scan(text)]
        assert got == [(rule, value)], text


# --- the shared UTF-8 bytes -------------------------------------------------------------------


def test_utf8_view_maps_byte_offsets_back_to_characters() -> None:
    text = "a中😀\udc80b\ncé"
    view = utf8(text)
    assert utf8(text) is view  # the same text in a row is encoded once
    bounds = [len(text[:i].encode("utf-8", "surrogatepass")) for i in range(len(text) + 1)]
    assert view.char_offsets(bounds) == list(range(len(text) + 1))
    assert utf8("ascii").char_offsets([0, 3, 5]) == [0, 3, 5]


@needs_hyperscan
def test_match_ends_reports_each_end_once_per_pattern_in_order() -> None:
    ends = prefilter.MatchEnds([rb"^a+$", rb"b"], multiline=True)
    assert ends.ends(b"aaa\nxb\nab\nbb") == [[3], [6, 9, 11, 12]]


# --- keywords that matter only when followed by an assignment --------------------------------


@needs_hyperscan
@pytest.mark.parametrize(
    "text",
    [
        "password=Xk29fJq8Lm!x",
        "passwordpassword=Xk29fJq8Lm!x",  # the same keyword twice before one operator
        # ... where only the second one is close enough to the operator for the rule:
        "password" + "a" * 5 + "password" + "a" * 8 + "=Xk29fJq8Lm!x",
        "db_password_password : 'Xk29fJq8Lm!x'",
        "my_secret_token=Zq8Lm29fJXk!x and TOKENTOKEN=Zq8Lm29fJXk!y",
        "credentials: Xk29fJq8Lm!x",
        'API_KEY := "Xk29fJq8Lm!x"',
        "token limits for the assistant; the password reset flow",
        "secret_a_very_long_name_of_twenty_plus_chars=Xk29fJq8Lm!x",
        "密码是 Xk29fJq8Lm!x",
        "令牌：Xk29fJq8Lm!x，口令为“Qz19fJq8Lm!y”",
        "密码重置流程，令牌限制",
        "密码密码=Xk29fJq8Lm!x",
        "SEC" + "0123456789abcdef" * 4,
        "secsec" + "0123456789abcdef" * 4,
        "sec" + "0123456789ABCDEF" * 4,
    ],
)
def test_followed_keywords_find_what_every_keyword_hit_finds(text: str) -> None:
    from bordergate.dlp.secrets import SecretDetector

    fast, plain = SecretDetector(use_hyperscan=True), SecretDetector(use_hyperscan=False)
    for variant in (text, f"前缀{text}后缀", f"{text}\n{text}"):
        assert fast.scan(variant) == plain.scan(variant), variant


@needs_hyperscan
def test_follow_regex_must_keep_non_ascii_out_of_classes() -> None:
    with pytest.raises(ValueError):
        prefilter.Prefilter([("密码", 1)], ["[:：]"])


def test_scanner_releases_the_shared_encoding_after_a_scan() -> None:
    from bordergate.dlp import utf8 as utf8_module

    scanner = Scanner.from_config(DlpConfig())
    scanner.scan("x = 1\ny = 2\nz = 3\nw = 4\ncall 13812345678 token=abc")
    assert getattr(utf8_module._local, "last", None) is None
