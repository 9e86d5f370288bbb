"""The scanner: normalisation offsets, base64 rescan, markings, code, merging, fail-closed."""

from __future__ import annotations

import base64

import pytest

from bordergate.dlp.config import DlpConfig
from bordergate.dlp.markings import MarkingDetector
from bordergate.dlp.normalize import normalize
from bordergate.dlp.rules_code import SourceCodeDetector
from bordergate.dlp.scanner import ScanError, Scanner, resolve
from bordergate.dlp.types import Finding

TOKEN = "ghp_" + "k3J9xQ2mVb7RtL5nWc8ZpF1sHd4YgA6eUo0i"
SCANNER = Scanner.from_config(DlpConfig(dictionaries={"codenames": ["Project Nightjar"]}))


def classes(text: str) -> list[tuple[str, str, str]]:
    return [(f.cls, f.rule, text[f.start : f.end]) for f in SCANNER.scan(text)]


def test_normalize_maps_offsets_back() -> None:
    text = "a\u200bb １２３ x"
    n = normalize(text)
    assert n.text == "ab 123 x"
    s, e = n.to_original(3, 6)
    assert text[s:e] == "１２３"


def test_ascii_and_plain_cjk_take_the_fast_path() -> None:
    assert normalize("plain").text == "plain"
    assert normalize("中文，标点。").breaks == ()


def test_zero_width_split_token_found_with_original_span() -> None:
    hidden = "\u200b".join(TOKEN[:6]) + TOKEN[6:]
    text = f"key {hidden} end"
    got = classes(text)
    assert got == [("secret", "github-pat", hidden)]


@pytest.mark.parametrize(
    "mark",
    ["\ufe0f", "\u034f", "\u200e", "\u202d", "\u2067", "\U000e0101", "\U000e0001"],
)
def test_other_invisible_characters_inside_a_token_hide_nothing(mark: str) -> None:
    hidden = TOKEN[:8] + mark + TOKEN[8:20] + mark + TOKEN[20:]
    text = f"key {hidden} end"
    assert classes(text) == [("secret", "github-pat", hidden)]


def test_a_token_spelt_in_tag_characters_is_found() -> None:
    # "ASCII smuggling": U+E0020-U+E007E are invisible and spell ASCII.
    tags = "".join(chr(0xE0000 + ord(c)) for c in TOKEN)
    text = f"look: {tags}!"
    assert classes(text) == [("secret", "github-pat", tags)]


def test_fullwidth_digits_fold_to_a_phone() -> None:
    text = "电话：１３８１２３４５６７８。"
    assert classes(text) == [("personal_data", "phone-cn-mobile", "１３８１２３４５６７８")]


def test_base64_blob_rescanned_and_reported_as_blob() -> None:
    blob = base64.b64encode(f"GITHUB_TOKEN={TOKEN}\n".encode()).decode()
    text = f"data:\n  env: {blob}\n"
    assert classes(text) == [("secret", "github-pat", blob)]


def test_base64_image_is_not_rescanned_into_findings() -> None:
    blob = base64.b64encode(bytes(range(256)) * 3).decode()
    assert classes(f'<img src="data:image/png;base64,{blob}">') == []


def test_markings_and_dictionaries() -> None:
    assert classes("CONFIDENTIAL: Project Nightjar") == [
        ("confidential", "confidential-marking", "CONFIDENTIAL"),
        ("confidential", "dictionary-codenames", "Project Nightjar"),
    ]
    assert classes("【内部资料】请勿外传") == [("confidential", "confidential-marking", "内部资料")]
    assert classes("the confidentiality agreement") == []
    assert MarkingDetector([], {}).scan("CONFIDENTIAL") == []


def test_source_code_blocks_and_prose() -> None:
    code = "import os\n\ndef main():\n    x = os.getcwd()\n    return x\n"
    assert [f.rule for f in SourceCodeDetector().scan("Look:\n" + code)] == ["source-code"]
    prose = "We met today.\nThe plan (draft) is fine.\nNext steps follow.\nThanks all.\n"
    assert SourceCodeDetector().scan(prose) == []


def test_resolve_prefers_internal_code_and_drops_nested_pii() -> None:
    merged = resolve(
        [
            Finding("source_code", "source-code", 0, 50),
            Finding("internal_code", "fingerprint", 10, 40),
            Finding("secret", "telegram-bot-token", 60, 100),
            Finding("personal_data", "phone", 60, 70),
        ]
    )
    assert [f.cls for f in merged] == ["internal_code", "secret"]


class _FakeFingerprints:
    def scan(self, text: str) -> list[Finding]:
        return [Finding("internal_code", "fingerprint-match", 0, len(text))]


def test_fingerprint_detector_plugs_in() -> None:
    scanner = Scanner.from_config(DlpConfig(), fingerprint_detector=_FakeFingerprints())
    code = "import os\nimport sys\n\ndef f():\n    return 1\n"
    assert [f.cls for f in scanner.scan(code)] == ["internal_code"]


def test_size_limit_fails_closed() -> None:
    scanner = Scanner.from_config(DlpConfig(max_scan_bytes=10))
    with pytest.raises(ScanError):
        scanner.scan("x" * 11)


def test_disabled_rules_from_config() -> None:
    scanner = Scanner.from_config(DlpConfig(disabled_rules=["ipv4", "source-code"]))
    assert scanner.scan("host 10.1.2.3") == []


def test_odd_input_does_not_crash() -> None:
    scanner = Scanner.from_config(DlpConfig(max_scan_bytes=64))
    for text in ("\ud800 lone surrogate", "", " \n\t ", "é" * 20, "\x00" * 10):
        assert isinstance(scanner.scan(text), list)
