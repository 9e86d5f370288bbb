"""Regressions from end-to-end testing, and the scan-result cache.

- values that are code (subscripts, calls, attribute access, type annotations) are not secrets;
- back-to-back e-mails and IBANs are each found whole, so no part of either leaks;
- numbers in a long log paste do not make the personal-data pass quadratic;
- a 256 KiB source file scans within the default budget (checked by the fail-closed deadline
  itself, not by timing the test);
- the scan cache returns the same findings and is bounded.
"""

from __future__ import annotations

import pytest

from bordergate.dlp import prefilter
from bordergate.dlp.config import DlpConfig
from bordergate.dlp.request import scan_request
from bordergate.dlp.scanner import ScanCache, Scanner
from bordergate.dlp.types import Finding

SCANNER = Scanner.from_config(DlpConfig())


def found(text: str, cls: str | None = None) -> list[tuple[str, str]]:
    return [
        (f.rule, text[f.start : f.end])
        for f in Scanner.from_config(DlpConfig()).scan(text)
        if cls is None or f.cls == cls
    ]


@pytest.mark.parametrize(
    "line",
    [
        "                username=auth_info[0], password=auth_info[2]\n",
        "password=self.auth_info[2]",
        "password = get_pw2(user)",
        'token = resp.json()["access_token"]',
        "private_key: Ed25519PrivateKey | Ed448PrivateKey",
        "secret: OAuth2Token | None = None",
        'password=kw.pop("password2")',
        "class _FixedToken:\n    tok_type: str\n    literal: str\n",  # pycparser/c_lexer.py
        "api_key:\n  from_env: OPENAI_KEY_2\n",
    ],
)
def test_code_expressions_are_not_secrets(line: str) -> None:
    assert found(line, "secret") == []


@pytest.mark.parametrize("value", ["Xk29fJq8Lm!", "Summer2024!x", "aB3xK9mQ7"])
def test_real_password_assignments_still_found(value: str) -> None:
    assert found(f"password={value}\n", "secret") == [("generic-secret-assignment", value)]


@pytest.mark.parametrize(
    ("text", "emails"),
    [
        ("alice@corp.iobob@corp.io", ["alice@corp.io", "bob@corp.io"]),
        ("to: anna@example.comcarol@example.org.", ["anna@example.com", "carol@example.org"]),
        ("a@x.com{b@y.de}", ["a@x.com", "b@y.de"]),
        ("{li@mail.cn}{wang@mail.cn}", ["li@mail.cn", "wang@mail.cn"]),
    ],
)
def test_back_to_back_emails_are_separate_and_complete(text: str, emails: list[str]) -> None:
    got = found(text)
    assert got == [("email", e) for e in emails]
    # Together the findings cover every '@' and every character of both addresses.
    covered = "".join(v for _, v in got)
    assert covered.count("@") == text.count("@")


IBAN_DE = "DE89370400440532013000"
IBAN_GB = "GB82WEST12345698765432"


@pytest.mark.parametrize(
    "text",
    [
        f"{IBAN_DE}{IBAN_GB}",
        f"IBANs: {IBAN_GB}{IBAN_DE}{IBAN_GB} ok",
        f"{{{IBAN_DE}}}{{{IBAN_GB}}}",
        f"{IBAN_DE} {IBAN_GB}",
    ],
)
def test_back_to_back_ibans_are_each_found(text: str) -> None:
    got = found(text)
    expected = [v for v in (IBAN_DE, IBAN_GB, IBAN_DE, IBAN_GB) if v in text]
    assert [r for r, _ in got] == ["iban"] * len(got)
    assert sum(len(v) for _, v in got) == sum(text.count(v) * len(v) for v in set(expected))


def test_glued_iban_with_bad_checksum_is_not_found() -> None:
    bad = IBAN_DE[:-1] + ("1" if IBAN_DE[-1] != "1" else "2")
    assert found(f"{bad}{bad}") == []


def test_many_numbers_are_all_found() -> None:
    lines = [f"client 10.0.{i // 250}.{i % 250 + 1} port 443\n" for i in range(3000)]
    text = "".join(lines)
    ips = [f for f in SCANNER.scan(text) if f.rule == "ipv4"]
    assert len(ips) == 3000


def _source_file(size: int) -> str:
    import bordergate.dlp.pii as pii
    import bordergate.dlp.rules_secrets as rules
    import bordergate.dlp.scanner as scanner

    parts = [open(m.__file__, encoding="utf-8").read() for m in (rules, pii, scanner)]  # noqa: SIM115
    text = "\n".join(parts)
    while len(text) < size:
        text += "\n" + text
    return text[:size]


def test_256_kib_source_file_scans_within_default_budget() -> None:
    text = _source_file(256 * 1024)
    # The default budget itself is the check: exceeding it raises ScanError (fail closed),
    # which is what turned such a paste into a 503. Scans take ~1/6 of it on a loaded core.
    scanner = Scanner.from_config(DlpConfig())
    scanner.cache = None
    assert any(f.cls == "source_code" for f in scanner.scan(text))


def test_cache_returns_same_findings_and_skips_rescans() -> None:
    scanner = Scanner.from_config(DlpConfig())
    assert scanner.cache is not None
    text = "mail anna.kim@example-corp.com and GITHUB_TOKEN=ghp_" + "a1B2" * 9
    first = scanner.scan(text)
    second = scanner.scan(str(text))  # an equal string, a different object
    assert first == second and first
    assert scanner.cache.hits == 1 and scanner.cache.misses == 1


def test_conversation_resent_each_turn_scans_only_new_text() -> None:
    scanner = Scanner.from_config(DlpConfig())
    assert scanner.cache is not None
    messages: list[dict[str, str]] = [{"role": "system", "content": "You are terse. " * 50}]
    for turn in range(20):
        messages.append({"role": "user", "content": f"turn {turn}: call 13812345678 " * 20})
        findings = scan_request({"messages": [dict(m) for m in messages]}, scanner)
        assert sum(1 for _, f in findings if f.rule == "phone-cn-mobile") == 20 * (turn + 1)
        messages.append({"role": "assistant", "content": f"answer {turn} " * 40})
    # Each text was scanned once: 1 system + 20 user + 19 assistant texts seen on later turns.
    assert scanner.cache.misses == 1 + 20 + 19


def test_cache_is_bounded_in_entries_and_characters() -> None:
    cache = ScanCache(max_entries=3, max_chars=100)
    f = (Finding("secret", "x", 0, 1),)
    for i in range(5):
        cache.put(f"text-{i}", f)
    assert len(cache) == 3
    assert cache.get("text-0") is None and cache.get("text-4") == f
    cache.put("y" * 24, f)  # 24 <= 100 // 4 fits; the character bound evicts old entries
    cache.put("z" * 24, f)
    cache.put("w" * 24, f)
    assert len(cache) <= 3 and sum(len(k) for k in cache._items) <= 100
    cache.put("v" * 26, f)  # over a quarter of the budget: not cached at all
    assert cache.get("v" * 26) is None


def _scanner(use_hyperscan: bool) -> Scanner:
    from bordergate.dlp.markings import MarkingDetector
    from bordergate.dlp.pii import PiiDetector
    from bordergate.dlp.rules_code import SourceCodeDetector
    from bordergate.dlp.secrets import SecretDetector

    terms = MarkingDetector(dictionaries={"names": ["Project Nightjar", "青龙计划"]}).terms
    secrets = SecretDetector(terms=terms, use_hyperscan=use_hyperscan)
    pii = PiiDetector()
    return Scanner([secrets, pii, SourceCodeDetector()], rescan_detectors=(secrets, pii))


@pytest.mark.skipif(not prefilter.available(), reason="hyperscan not installed")
def test_hyperscan_and_pure_python_paths_find_the_same() -> None:
    import base64
    import json
    from pathlib import Path

    corpus = Path(__file__).parent / "data" / "dlp-corpus" / "corpus.jsonl"
    texts = [json.loads(line)["text"] for line in corpus.read_text(encoding="utf-8").splitlines()]
    fast, pure = _scanner(True), _scanner(False)
    extra = [
        "ＰＡＳＳＷＯＲＤ=Xk29fJq8Lm!x 电话１３８１２３４５６７８",  # full-width: fold path
        "pass\u200bword=Xk29fJq8Lm!x and ﬁle CONFIDENTIAL 青龙计划 机密",
        "Ünïcödé PassWord: Xk29fJq8Lm!x token=" + "ab12" * 10,
        "cfg " + base64.b64encode(b"password=Xk29fJq8Lm!x and more text here").decode(),
        "中文" * 50 + " GITHUB_TOKEN=ghp_" + "a1B2" * 9 + " 𝐀𝐁 project nightjar",
    ]
    for text in [*texts, *extra]:
        assert fast.scan(text) == pure.scan(text), text[:80]


def test_windowed_base64_blobs_match_the_whole_text_regex() -> None:
    import base64
    import random

    from bordergate.dlp.scanner import _B64_BLOB, _b64_blobs

    rng = random.Random(1)
    pieces = ["中文", "-", "_", " ", "=", "é", "𝐀", "\udc80", "x" * 33, "abc+/=\n"]
    for _ in range(2000):
        parts: list[str] = []
        for _ in range(rng.randint(0, 6)):
            if rng.random() < 0.4:
                parts.append(base64.b64encode(rng.randbytes(rng.randint(10, 60))).decode())
            else:
                parts.append(rng.choice(pieces))
        text = "".join(parts)
        assert [m.span() for m in _b64_blobs(text)] == [m.span() for m in _B64_BLOB.finditer(text)]
